"""State changes of outbound e-mail: store a row first, then deliver it from a task.

The life of a row: ``queued`` -> (a task claims it) ``sending`` -> ``sent``; a failed attempt puts
it back to ``queued`` until ``MAX_ATTEMPTS``, then ``failed`` (staff re-send it from the admin).
Delivery is at-least-once towards the transport (a worker can die after the SMTP server accepted
the message and before the row says so); every attempt carries the same Message-ID so receivers
can drop such a duplicate, and nothing here ever sends a row that is already ``sent``.
"""

from __future__ import annotations

import logging
import mimetypes
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from email.message import Message
from email.mime.base import MIMEBase
from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.html import strip_tags

from notifications.models import Notification, OutboundEmail, StoredAttachment

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

# Longer than any single delivery attempt can take (EMAIL_TIMEOUT is 15 s per SMTP operation) and
# than Celery's longest retry back-off (600 s), so the dispatcher only picks up work that is lost.
REDELIVER_AFTER = timedelta(minutes=15)
# One first attempt plus the task's 8 retries; later re-sends are a staff decision (admin action).
MAX_ATTEMPTS = 9
DEFAULT_MESSAGE_ID_DOMAIN = "italyfromcouch.example"
DISPATCH_BATCH_SIZE = 500

# (filename, content, mimetype), the shape of Django's EmailAttachment.
AttachmentInput = tuple[str | None, bytes | str, str | None]


def queue_email(
    *,
    to: Sequence[str],
    subject: str,
    body_text: str,
    body_html: str | None = None,
    attachments: Iterable[AttachmentInput] = (),
    idempotency_key: str,
    user: User | None = None,
    headers: Mapping[str, str] | None = None,
    from_email: str | None = None,
    reply_to: Sequence[str] = (),
) -> OutboundEmail:
    """Store an e-mail and deliver it once the current transaction commits.

    The same ``idempotency_key`` twice returns the first row untouched and sends nothing new, so a
    retried job or a double click cannot mail a person twice (e.g. "reminder:booking:42:24h").
    """
    if not to:
        raise ValueError("queue_email needs at least one recipient")
    extra_headers = dict(headers or {})
    message_id = _pop_message_id(extra_headers)
    sender = from_email or settings.DEFAULT_FROM_EMAIL
    # get_or_create inserts inside a savepoint and re-reads on IntegrityError: two concurrent
    # callers with one key end with one row, and only the caller that created it schedules it.
    email, created = OutboundEmail.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "user": user,
            "to": list(to),
            "reply_to": list(reply_to),
            "from_email": sender,
            "subject": subject,
            "body_text": body_text,
            "body_html": body_html or "",
            "attachments": [_stored_attachment(item).to_json() for item in attachments],
            "headers": extra_headers,
            "message_id": message_id or _new_message_id(sender),
            "redeliver_after": timezone.now() + REDELIVER_AFTER,
        },
    )
    if created:
        _deliver_on_commit(email.pk)
    return email


def store_email_message(*, message: EmailMessage) -> OutboundEmail:
    """Turn a Django EmailMessage (what ``send_mail`` and allauth build) into a queued row."""
    body_text = str(message.body or "")
    body_html = ""
    if message.content_subtype == "html":
        # The body itself is HTML: keep it as such and give text-only readers its text.
        body_html, body_text = body_text, strip_tags(body_text)
    if isinstance(message, EmailMultiAlternatives):
        for content, mimetype in message.alternatives:
            if mimetype == "text/html" and not body_html:
                body_html = _as_text(content)
            else:
                logger.warning("Dropping an alternative of type %s: only text/html is kept", mimetype)
    extra_headers = {str(name): str(value) for name, value in message.extra_headers.items()}
    message_id = _pop_message_id(extra_headers)
    sender = message.from_email or settings.DEFAULT_FROM_EMAIL
    email = OutboundEmail.objects.create(
        user=_user_for(message.to) if not message.cc and not message.bcc else None,
        to=list(message.to),
        cc=list(message.cc),
        bcc=list(message.bcc),
        reply_to=list(message.reply_to),
        from_email=sender,
        subject=str(message.subject),
        body_text=body_text,
        body_html=body_html,
        attachments=[_stored_attachment(item).to_json() for item in message.attachments],
        headers=extra_headers,
        # Django messages have no idempotency of their own; each send is a distinct e-mail.
        idempotency_key=f"message:{uuid.uuid4()}",
        message_id=message_id or _new_message_id(sender),
        redeliver_after=timezone.now() + REDELIVER_AFTER,
    )
    _deliver_on_commit(email.pk)
    return email


def claim_delivery(*, outbound_email_id: int, now: datetime) -> OutboundEmail | None:
    """Mark a row as being sent by the caller, or return None if it must not be sent now.

    None when it is already sent or failed, or another worker holds a live claim on it: this is
    what makes a re-delivered or duplicated task harmless.
    """
    with transaction.atomic():
        # FOR UPDATE: two workers given the same row must not both see it as queued.
        email = OutboundEmail.objects.select_for_update().filter(pk=outbound_email_id).first()
        if email is None:
            return None
        claim_expired = email.status == OutboundEmail.Status.SENDING and email.redeliver_after <= now
        if email.status != OutboundEmail.Status.QUEUED and not claim_expired:
            return None
        email.status = OutboundEmail.Status.SENDING
        email.attempts += 1
        email.last_attempt_at = now
        email.redeliver_after = now + REDELIVER_AFTER
        email.save(update_fields=["status", "attempts", "last_attempt_at", "redeliver_after"])
    return email


def mark_sent(*, outbound_email: OutboundEmail, now: datetime) -> None:
    outbound_email.status = OutboundEmail.Status.SENT
    outbound_email.sent_at = now
    outbound_email.save(update_fields=["status", "sent_at"])


def record_failure(*, outbound_email: OutboundEmail, error: str, now: datetime) -> bool:
    """Record a failed attempt; True if the row stays queued for another attempt."""
    will_retry = outbound_email.attempts < MAX_ATTEMPTS
    outbound_email.status = OutboundEmail.Status.QUEUED if will_retry else OutboundEmail.Status.FAILED
    outbound_email.last_error = error[:4000]
    outbound_email.redeliver_after = now + REDELIVER_AFTER
    outbound_email.save(update_fields=["status", "last_error", "redeliver_after"])
    return will_retry


def redeliver_stale_emails(*, now: datetime) -> int:
    """Enqueue rows whose delivery task was lost (crash, broker outage, eager-mode failure).

    Returns how many rows were enqueued. A row is enqueued at most once per REDELIVER_AFTER, so a
    dispatcher running while the workers are down does not pile up tasks.
    """
    with transaction.atomic():
        due = list(
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=[OutboundEmail.Status.QUEUED, OutboundEmail.Status.SENDING],
                redeliver_after__lte=now,
            )
            .order_by("redeliver_after")
            .values_list("pk", flat=True)[:DISPATCH_BATCH_SIZE]
        )
        # An expired "sending" claim means its worker died: the row is queued again.
        OutboundEmail.objects.filter(pk__in=due).update(
            status=OutboundEmail.Status.QUEUED, redeliver_after=now + REDELIVER_AFTER
        )
        for outbound_email_id in due:
            _deliver_on_commit(outbound_email_id)
    if due:
        logger.info("Re-enqueued %d outbound e-mail(s) whose delivery was lost", len(due))
    return len(due)


def resend_failed(*, outbound_emails: QuerySet[OutboundEmail], now: datetime) -> int:
    """Give failed rows a fresh set of attempts (staff decision, e.g. after fixing SMTP settings)."""
    with transaction.atomic():
        ids = list(
            outbound_emails.select_for_update().filter(status=OutboundEmail.Status.FAILED).values_list("pk", flat=True)
        )
        OutboundEmail.objects.filter(pk__in=ids).update(
            status=OutboundEmail.Status.QUEUED, attempts=0, redeliver_after=now + REDELIVER_AFTER
        )
        for outbound_email_id in ids:
            _deliver_on_commit(outbound_email_id)
    return len(ids)


def _deliver_on_commit(outbound_email_id: int) -> None:
    # Imported here: tasks.py calls into this module.
    from notifications.tasks import deliver_email

    # After commit, so a rolled-back transaction sends nothing. robust: if the broker is down the
    # request still succeeds; the row stays queued and the dispatcher enqueues it later.
    transaction.on_commit(lambda: deliver_email.delay(outbound_email_id), robust=True)


def _new_message_id(from_email: str) -> str:
    domain = parseaddr(from_email)[1].rpartition("@")[2] or DEFAULT_MESSAGE_ID_DOMAIN
    return make_msgid(domain=domain)


def _pop_message_id(headers: dict[str, str]) -> str:
    """Take a caller-supplied Message-ID out of the extra headers (it lives in its own column)."""
    for name in list(headers):
        if name.lower() == "message-id":
            return headers.pop(name)
    return ""


def _user_for(recipients: Sequence[str]) -> User | None:
    # Only a message to exactly one person is listed as theirs.
    if len(recipients) != 1:
        return None
    address = parseaddr(recipients[0])[1]
    if not address:
        return None
    return get_user_model().objects.filter(email__iexact=address).first()


def _stored_attachment(item: MIMEBase | AttachmentInput) -> StoredAttachment:
    if isinstance(item, MIMEBase):
        payload = item.get_payload(decode=True)
        if not isinstance(payload, bytes):
            raise ValueError(f"Cannot store a {item.get_content_type()} MIME part as an attachment")
        params = [
            f"{key}={value}" for key, value in (item.get_params() or [])[1:] if key.lower() not in {"charset", "name"}
        ]
        return StoredAttachment(
            filename=item.get_filename() or "",
            content=payload,
            mimetype="; ".join([item.get_content_type(), *params]),
        )
    filename, content, mimetype = item
    return StoredAttachment(
        filename=filename or "",
        content=_as_bytes(content),
        mimetype=mimetype or mimetypes.guess_type(filename or "")[0] or "application/octet-stream",
    )


def _as_bytes(content: object) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, EmailMessage):  # a message/rfc822 attachment given as a Django message
        return content.message().as_bytes()
    if isinstance(content, Message):
        return content.as_bytes()
    raise TypeError(f"Unsupported attachment content: {type(content).__name__}")


def _as_text(content: object) -> str:
    return content.decode("utf-8") if isinstance(content, bytes) else str(content)


def notify(*, user: User, kind: str, title: str, body: str = "", url: str = "", idempotency_key: str) -> Notification:
    """Add a notice to a person's in-app feed, once per idempotency key."""
    notification, _created = Notification.objects.get_or_create(
        user=user,
        idempotency_key=idempotency_key[:150],
        defaults={"kind": kind[:40], "title": title[:200], "body": body, "url": url[:300]},
    )
    return notification


def mark_notifications_read(*, user: User, now: datetime) -> int:
    return Notification.objects.filter(user=user, read_at__isnull=True).update(read_at=now)
