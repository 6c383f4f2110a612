"""Reads of outbound e-mail for the developer outbox, the admin and per-user listings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from notifications.models import Notification, OutboundEmail

if TYPE_CHECKING:
    from accounts.models import User

# The list pages never need the bodies or the (base64) attachments.
_LIST_FIELDS = ("id", "to", "subject", "status", "created_at", "sent_at", "attempts")


def outbox_emails() -> QuerySet[OutboundEmail]:
    """Every stored e-mail, newest first."""
    return OutboundEmail.objects.only(*_LIST_FIELDS).order_by("-created_at", "-id")


def outbox_email(*, outbound_email_id: int) -> OutboundEmail | None:
    return OutboundEmail.objects.filter(pk=outbound_email_id).first()


def emails_for_user(*, user: User) -> QuerySet[OutboundEmail]:
    """E-mails sent to one person (rows stored with that user), newest first."""
    return outbox_emails().filter(user=user)


def feed_for(*, user: User, limit: int = 50) -> list[Notification]:
    return list(Notification.objects.filter(user=user)[:limit])


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).count()
