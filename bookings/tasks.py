"""Periodic booking jobs. Due work is rows with a due time; these tasks pick them up.

Celery's eager mode ignores eta/countdown and a Redis broker may re-deliver long-delayed jobs, so
nothing here is scheduled for the future: beat (production) or the embedded timer calls the
dispatcher every few seconds, and each reminder is locked, sent with its idempotency key and marked
sent in one transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from bookings import messaging, scheduling
from bookings.models import Booking, Reminder, Slot

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def dispatch_due_reminders(limit: int = 500) -> int:
    """Send every reminder that is due; returns how many were sent."""
    now = timezone.now()
    due_ids = list(
        Reminder.objects.filter(status=Reminder.Status.PENDING, due_at__lte=now)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for reminder_id in due_ids:
        try:
            sent += _dispatch_one(reminder_id, now=now)
        except Exception:
            # One reminder that cannot be sent (a template error, a lost database connection) must
            # not hold back every reminder behind it in this and every later batch: its
            # transaction rolled back, so it is still pending and is tried again on the next run.
            logger.exception("reminder %s could not be sent; it stays pending", reminder_id)
    return sent


def _dispatch_one(reminder_id: int, *, now: datetime) -> int:
    """Send, drop or skip one due reminder in its own transaction; 1 if it was sent."""
    with transaction.atomic():
        # SKIP LOCKED: two dispatchers (a re-delivered job) never take the same reminder.
        reminder = (
            Reminder.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("booking__slot__tour__guide", "booking__user")
            .filter(pk=reminder_id, status=Reminder.Status.PENDING)
            .first()
        )
        if reminder is None:
            return 0
        booking = reminder.booking
        if booking.status != Booking.Status.CONFIRMED or booking.slot.status != Slot.Status.SCHEDULED:
            reminder.status = Reminder.Status.CANCELLED
        elif booking.slot.start <= now:
            # A reminder for a tour that has started would only confuse; record why it was dropped.
            logger.warning("reminder %s for booking %s is past the start; not sent", reminder.pk, booking.pk)
            reminder.status = Reminder.Status.CANCELLED
        elif Reminder.objects.filter(
            booking=booking, status=Reminder.Status.PENDING, due_at__gt=reminder.due_at, due_at__lte=now
        ).exists():
            # The dispatcher was down long enough for a later reminder to be due too (the tour
            # starts within the hour): "starts in 24 hours" would be wrong, the later one is sent.
            logger.warning("reminder %s for booking %s is superseded by a later one; not sent", reminder.pk, booking.pk)
            reminder.status = Reminder.Status.CANCELLED
        else:
            messaging.send_reminder(reminder)
            reminder.status = Reminder.Status.SENT
            reminder.sent_at = now
        reminder.save(update_fields=["status", "sent_at"])
        return 1 if reminder.status == Reminder.Status.SENT else 0


@shared_task(acks_late=True)
def materialize_upcoming_slots() -> int:
    """Turn availability rules into bookable slots up to each tour's horizon."""
    return scheduling.materialize_all_tours()
