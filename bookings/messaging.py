"""What bookings tell people: confirmation, change, cancellation and reminder messages.

Each message is written as rows (e-mail, in-app notice) inside the booking's own transaction, so a
committed booking always has its messages and a rolled-back one has none; delivery starts only after
commit (notifications.services.queue_email). Each is rendered in the recipient's language and time
zone and carries an idempotency key, so a retry never sends it twice. E-mails about a booking carry
an ICS invitation whose UID never changes and whose SEQUENCE rises with each change, so calendar
apps update the one entry.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from bookings import ics, rules
from bookings.models import Booking, Reminder
from notifications import services as notifications

logger = logging.getLogger(__name__)


def invitation_ics(booking: Booking, *, method: str) -> bytes:
    """The booking's calendar invitation: the e-mails and the .ics download share UID and SEQUENCE."""
    slot = booking.slot
    tour = slot.tour
    location = f"{settings.SITE_URL}{booking.get_absolute_url()}"
    return ics.build_invitation(
        uid=booking.ics_uid,
        sequence=booking.ics_sequence,
        method=method,
        start_utc=slot.start,
        end_utc=slot.end,
        summary=f"{tour.title} (Italy From Couch)",
        description=f"Live virtual tour with {tour.guide.display_name}. {location}",
        location_url=location,
        organizer_email=settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">").strip(),
        organizer_name="Italy From Couch",
        attendee_email=booking.user.email,
        attendee_name=booking.user.get_full_name(),
        status="CANCELLED" if method == "CANCEL" else "CONFIRMED",
        dtstamp=timezone.now(),
    )


def _zone_of(user: User) -> zoneinfo.ZoneInfo:
    try:
        return rules.get_zone(user.timezone or "UTC")
    except rules.InvalidTimeZone:
        # Only forms validate the field; a zone written by other means (or dropped from tzdata)
        # must not stop every message to this person, nor turn a committed booking into a 500.
        logger.warning("user %s has an unknown time zone %r; writing times in UTC", user.pk, user.timezone)
        return zoneinfo.ZoneInfo("UTC")


def _send(booking: Booking, *, kind: str, key: str, method: str | None, extra: dict[str, object]) -> None:
    user = booking.user
    zone = _zone_of(user)
    with translation.override(user.language or settings.LANGUAGE_CODE), timezone.override(zone):
        context = {
            "booking": booking,
            "slot": booking.slot,
            "tour": booking.slot.tour,
            "user": user,
            "user_timezone": zone.key,
            "tour_timezone": booking.slot.tour.timezone,
            "booking_url": f"{settings.SITE_URL}{booking.get_absolute_url()}",
            "my_bookings_url": f"{settings.SITE_URL}{reverse('bookings:my_bookings')}",
            "tour_url": f"{settings.SITE_URL}{booking.slot.tour.get_absolute_url()}",
            **extra,
        }
        subject = render_to_string(f"bookings/email/{kind}_subject.txt", context).strip()
        body = render_to_string(f"bookings/email/{kind}.txt", context)
        attachments = []
        if method is not None:
            attachments.append(
                ("invite.ics", invitation_ics(booking, method=method), f"text/calendar; method={method}")
            )
        notifications.queue_email(
            to=[user.email],
            subject=subject,
            body_text=body,
            attachments=attachments,
            idempotency_key=key,
            user=user,
        )
        notifications.notify(
            user=user,
            kind=kind,
            title=subject,
            body=body.strip().split("\n\n")[0][:300] if body.strip() else subject,
            url=booking.get_absolute_url(),
            idempotency_key=key,
        )


def queue_booking_confirmed(booking: Booking) -> None:
    _send(booking, kind="booking_confirmed", key=f"booking:{booking.pk}:confirmed", method="REQUEST", extra={})


def queue_booking_rescheduled(booking: Booking, *, previous_start: datetime) -> None:
    key = f"booking:{booking.pk}:rescheduled:{booking.ics_sequence}"
    _send(booking, kind="booking_rescheduled", key=key, method="REQUEST", extra={"previous_start": previous_start})


def queue_booking_cancelled(booking: Booking, *, by_guide: bool, refund_minor: int) -> None:
    key = f"booking:{booking.pk}:cancelled"
    extra = {
        "by_guide": by_guide,
        "refund": rules.major_units(refund_minor),
        "currency": booking.currency,
        "reason": booking.cancel_reason if by_guide else "",
    }
    _send(booking, kind="booking_cancelled", key=key, method="CANCEL", extra=extra)


def queue_late_payment_refunded(booking: Booking, *, amount_minor: int) -> None:
    """A payment that came after its booking was cancelled or its seats released: refunded in full."""
    key = f"booking:{booking.pk}:late-payment-refunded"
    extra = {"refund": rules.major_units(amount_minor), "currency": booking.currency}
    _send(booking, kind="late_payment_refunded", key=key, method=None, extra=extra)


def send_reminder(reminder: Reminder) -> None:
    """Called by the dispatcher with the reminder row locked; the key makes a retry a no-op."""
    _send(reminder.booking, kind=f"reminder_{reminder.kind}", key=reminder.idempotency_key, method=None, extra={})
