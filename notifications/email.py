"""The e-mail edge: Django's EMAIL_BACKEND stores, a transport delivers.

``settings.EMAIL_BACKEND`` is ``QueuedEmailBackend``: ``send_mail``, allauth and the admin's error
mails all end up as ``OutboundEmail`` rows and are delivered by ``notifications.tasks.deliver_email``
through ``settings.EMAIL_TRANSPORT_BACKENDS[settings.EMAIL_TRANSPORT]`` (the local outbox, SMTP,
SendGrid or Resend). Nothing else in the project talks to a mail server.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from notifications import services
from notifications.models import OutboundEmail

outbox_logger = logging.getLogger("notifications.outbox")
logger = logging.getLogger(__name__)


class TransportRejectedError(Exception):
    """The transport returned without raising but did not take the message."""


class QueuedEmailBackend(BaseEmailBackend):
    """Stores each message as a row; delivery is scheduled for after the transaction commits."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        stored = 0
        for message in email_messages:
            if not message.recipients():
                continue
            try:
                # A savepoint, so that with fail_silently a failed insert does not poison the
                # caller's transaction.
                with transaction.atomic():
                    services.store_email_message(message=message)
            except Exception:
                if not self.fail_silently:
                    raise
                logger.exception("Could not queue e-mail %r", message.subject)
                continue
            stored += 1
        return stored


class OutboxTransport(BaseEmailBackend):
    """The embedded default's "delivery": the log line here plus the row on /dev/outbox/."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            outbox_logger.info(
                "Outbox: %r to %s (Message-ID %s)",
                str(message.subject),
                ", ".join(message.recipients()),
                message.extra_headers.get("Message-ID", ""),
            )
        return len(email_messages)


def build_message(outbound_email: OutboundEmail) -> EmailMultiAlternatives:
    """The message exactly as stored; the Message-ID is the row's, the same on every attempt."""
    message = EmailMultiAlternatives(
        subject=outbound_email.subject,
        body=outbound_email.body_text,
        from_email=outbound_email.from_email,
        to=list(outbound_email.to),
        cc=list(outbound_email.cc),
        bcc=list(outbound_email.bcc),
        reply_to=list(outbound_email.reply_to),
        headers={**outbound_email.headers, "Message-ID": outbound_email.message_id},
    )
    if outbound_email.body_html:
        message.attach_alternative(outbound_email.body_html, "text/html")
    for attachment in outbound_email.stored_attachments():
        message.attach(attachment.filename or None, attachment.content, attachment.mimetype)
    return message


def send_through_transport(outbound_email: OutboundEmail) -> None:
    """One delivery attempt; raises whatever the transport raises (SMTP, network, ESP API)."""
    connection = get_connection(settings.EMAIL_TRANSPORT_BACKENDS[settings.EMAIL_TRANSPORT], fail_silently=False)
    if connection.send_messages([build_message(outbound_email)]) != 1:
        raise TransportRejectedError(f"{settings.EMAIL_TRANSPORT} transport did not accept the message")
