from typing import Any

from django.conf import settings
from django.http import HttpRequest


def site(request: HttpRequest) -> dict[str, Any]:
    return {
        "SHOW_DEV_OUTBOX": settings.SHOW_DEV_OUTBOX,
        "PAYMENTS_TEST_MODE": settings.PAYMENTS_PROVIDER == "test",
    }
