from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    unread = 0
    if user is not None and user.is_authenticated:
        from notifications.selectors import unread_count

        unread = unread_count(user=user)
    return {
        "UNREAD_NOTIFICATIONS": unread,
        "SHOW_DEV_OUTBOX": settings.SHOW_DEV_OUTBOX,
        "PAYMENTS_TEST_MODE": settings.PAYMENTS_PROVIDER == "test",
    }
