"""Delivery tasks: thin callers of notifications.services and the transport in notifications.email."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.utils import timezone

from notifications import services
from notifications.email import send_through_transport

logger = logging.getLogger(__name__)


class DeliveryFailedError(Exception):
    """Raised (only on a real worker) to make Celery retry a failed attempt with back-off."""


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(DeliveryFailedError,),
    max_retries=services.MAX_ATTEMPTS - 1,
    # 0-2 s, 0-4 s, ... capped at 10 minutes, with full jitter so a recovered SMTP server is not
    # hit by every queued message at the same instant.
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
)
def deliver_email(self: Task[[int], str], outbound_email_id: int) -> str:
    """Send one stored e-mail, at most once per row; returns "sent", "skipped" or "failed"."""
    outbound_email = services.claim_delivery(outbound_email_id=outbound_email_id, now=timezone.now())
    if outbound_email is None:
        return "skipped"
    try:
        send_through_transport(outbound_email)
    except Exception as error:
        # Any exception from a transport (smtplib, socket, anymail) is a failed attempt to record;
        # the row then waits for a retry instead of being lost with the task.
        will_retry = services.record_failure(
            outbound_email=outbound_email, error=f"{type(error).__name__}: {error}", now=timezone.now()
        )
        logger.warning("Delivery of outbound e-mail %s failed: %s", outbound_email_id, error)
        # In eager mode (no broker) a retry would run at once, recursively, inside the web request:
        # the row stays queued and the periodic dispatcher tries again later instead.
        if will_retry and not (self.request.is_eager or self.request.called_directly):
            raise DeliveryFailedError(str(error)) from error
        return "failed"
    services.mark_sent(outbound_email=outbound_email, now=timezone.now())
    return "sent"


@shared_task(acks_late=True)
def dispatch_queued_emails() -> int:
    """Periodic: enqueue rows whose delivery task was lost. Returns how many were enqueued."""
    return services.redeliver_stale_emails(now=timezone.now())
