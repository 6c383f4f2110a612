"""Periodic booking jobs. Due work is rows with a due time; these tasks pick them up.

Celery's eager mode ignores eta/countdown and a Redis broker may re-deliver long-delayed jobs, so
nothing here is scheduled for the future: beat (production) or the embedded timer calls the
dispatcher every few seconds, and each reminder is locked, sent with its idempotency key and marked
sent in one transaction.
"""

from __future__ import annotations

import logging

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
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for reminder_id in due_ids:
        with transaction.atomic():
            # SKIP LOCKED: two dispatchers (a re-delivered job) never take the same reminder.
            reminder = (
                Reminder.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("booking__slot__tour__guide", "booking__user")
                .filter(pk=reminder_id, status=Reminder.Status.PENDING)
                .first()
            )
            if reminder is None:
                continue
            booking = reminder.booking
            if booking.status != Booking.Status.CONFIRMED or booking.slot.status != Slot.Status.SCHEDULED:
                reminder.status = Reminder.Status.CANCELLED
            elif booking.slot.start <= now:
                # A reminder for a tour that has started would only confuse; record why it was dropped.
                logger.warning("reminder %s for booking %s is past the start; not sent", reminder.pk, booking.pk)
                reminder.status = Reminder.Status.CANCELLED
            else:
                messaging.send_reminder(reminder)
                reminder.status = Reminder.Status.SENT
                reminder.sent_at = now
                sent += 1
            reminder.save(update_fields=["status", "sent_at"])
    return sent


@shared_task(acks_late=True)
def materialize_upcoming_slots() -> int:
    """Turn availability rules into bookable slots up to each tour's horizon."""
    return scheduling.materialize_all_tours()
