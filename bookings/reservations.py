"""Booking state changes: book a seat, cancel, reschedule, and a guide cancelling a slot.

Every change that touches seats runs in one transaction holding the slot row lock
(``select_for_update``), so two requests for the last seat can never both pass. When two slots are
involved (reschedule) they are locked in primary-key order so two opposite reschedules cannot
deadlock. Messages to people (e-mail with ICS, in-app notices) are queued after commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from bookings import messaging, rules, scheduling
from bookings.models import Booking, Reminder, Slot, Tour, default_refund_policy
from payments import services as payments


class BookingError(Exception):
    """A booking request that cannot be honoured; ``code`` is stable, ``message`` is for people."""

    status_code = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SlotUnavailableError(BookingError):
    status_code = 409


class SoldOutError(BookingError):
    status_code = 409


@dataclass(frozen=True)
class BookingOutcome:
    booking: Booking
    created: bool


@dataclass(frozen=True)
class CancellationOutcome:
    booking: Booking
    refund_minor: int
    refund_percent: int


def refund_policy_for(tour: Tour) -> rules.RefundPolicy:
    tiers = scheduling.scheduling_for(tour).refund_policy
    # An empty list is a real policy ("no refunds"); only a missing one means the default.
    return rules.RefundPolicy.from_pairs(default_refund_policy() if tiers is None else tiers)


def _lock_slot(slot_id: int) -> Slot:
    try:
        return Slot.objects.select_for_update().select_related("tour", "guide").get(pk=slot_id)
    except Slot.DoesNotExist:
        raise SlotUnavailableError("slot_not_found", "This date does not exist.") from None


def check_slot_open(slot: Slot, *, now: datetime) -> None:
    """Raise SlotUnavailableError when the slot cannot be booked at ``now`` (seats aside)."""
    if slot.tour.status != Tour.Status.PUBLISHED:
        raise SlotUnavailableError("tour_unavailable", "This tour is not open for booking.")
    if slot.status != Slot.Status.SCHEDULED:
        raise SlotUnavailableError("slot_cancelled", "This date has been cancelled.")
    tour_scheduling = scheduling.scheduling_for(slot.tour)
    try:
        rules.check_bookable(
            start_utc=slot.start,
            now=now,
            min_notice=timedelta(minutes=tour_scheduling.min_notice_minutes),
            horizon=timedelta(days=tour_scheduling.horizon_days),
        )
    except rules.NotBookable as error:
        raise SlotUnavailableError(error.reason_code, error.message) from None


def _plan_reminders(booking: Booking, *, now: datetime) -> None:
    Reminder.objects.filter(booking=booking, status=Reminder.Status.PENDING).update(status=Reminder.Status.CANCELLED)
    for kind, due_at in rules.reminder_times(booking.slot.start, now=now):
        reminder, created = Reminder.objects.get_or_create(booking=booking, kind=kind, due_at=due_at)
        # Moved away and back again: the row of the first plan was cancelled above (or by the
        # earlier move) and must be pending again, or that date would get no reminder at all.
        # A cancelled row was never sent, so its idempotency key has never been used.
        if not created and reminder.status == Reminder.Status.CANCELLED:
            reminder.status = Reminder.Status.PENDING
            reminder.save(update_fields=["status"])


def book_seat(
    *, user: User, slot_id: int, seats: int, idempotency_key: str, now: datetime | None = None
) -> BookingOutcome:
    """Book ``seats`` on a slot for ``user``; the same key or the same user and slot give one booking."""
    now = now or timezone.now()
    if seats < 1:
        raise BookingError("invalid_seats", "Choose at least one seat.")
    idempotency_key = (idempotency_key or uuid.uuid4().hex)[:64]
    previous = Booking.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if previous is not None:
        if previous.slot_id != slot_id:
            # A key names one booking attempt; reused for another date it is a tampered form.
            raise BookingError("key_reused", "This booking form was already used for another date; reload the page.")
        return BookingOutcome(previous, created=False)
    try:
        with transaction.atomic():
            # FOR UPDATE: two requests for the last seat must not both pass.
            slot = _lock_slot(slot_id)
            # Checked again under the lock: a second tab may have booked while we waited.
            duplicate = (
                Booking.objects.filter(user=user, slot=slot, status__in=Booking.ACTIVE_STATUSES).first()
                or Booking.objects.filter(user=user, idempotency_key=idempotency_key).first()
            )
            if duplicate is not None:
                return BookingOutcome(duplicate, created=False)
            check_slot_open(slot, now=now)
            if slot.seats_left == 0:
                raise SoldOutError("sold_out", "Sold out: every seat on this date is taken.")
            if seats > slot.seats_left:
                raise SoldOutError(
                    "not_enough_seats",
                    f"Only {slot.seats_left} seat(s) left on this date; you asked for {seats}.",
                )
            amount_minor = rules.minor_units(slot.tour.price) * seats
            booking = Booking.objects.create(
                user=user,
                slot=slot,
                seats=seats,
                status=Booking.Status.CONFIRMED,
                idempotency_key=idempotency_key,
                amount_minor=amount_minor,
                currency=slot.tour.currency,
            )
            Slot.objects.filter(pk=slot.pk).update(booked_seats=F("booked_seats") + seats)
            if amount_minor:
                try:
                    payments.charge_for_booking(
                        booking=booking,
                        payer=user,
                        amount_minor=amount_minor,
                        currency=slot.tour.currency,
                        key=f"booking:{booking.pk}:charge",
                    )
                except payments.PaymentFailedError as error:
                    raise BookingError("payment_failed", error.message) from None
            _plan_reminders(booking, now=now)
            messaging.queue_booking_confirmed(booking)
    except IntegrityError:
        # The partial unique index caught a concurrent duplicate that slipped past the check.
        existing = Booking.objects.filter(user=user, slot_id=slot_id, status__in=Booking.ACTIVE_STATUSES).first()
        if existing is None:
            raise
        return BookingOutcome(existing, created=False)
    return BookingOutcome(booking, created=True)


def access_booking(*, user: User, booking_id: int) -> Booking:
    """Fetch a booking its owner (or staff) may act on; anyone else gets PermissionDenied."""
    booking = Booking.objects.select_related("slot", "slot__tour", "slot__guide", "user").filter(pk=booking_id).first()
    if booking is None:
        raise BookingError("not_found", "No such booking.")
    if booking.user_id != user.pk and not user.is_staff:
        raise PermissionDenied("This booking belongs to someone else.")
    return booking


def quote_cancellation(*, booking: Booking, now: datetime | None = None) -> rules.RefundQuote:
    return rules.refund_for(
        refund_policy_for(booking.slot.tour),
        amount_paid=booking.amount_minor - booking.refunded_minor,
        start_utc=booking.slot.start,
        now=now or timezone.now(),
    )


def _cancel_locked(
    booking: Booking, slot: Slot, *, by: User, reason: str, refund_minor: int, refund_percent: int, now: datetime
) -> CancellationOutcome:
    booking.status = Booking.Status.CANCELLED
    booking.cancelled_at = now
    booking.cancelled_by = by
    booking.cancel_reason = reason[:300]
    booking.ics_sequence += 1
    booking.save(
        update_fields=["status", "cancelled_at", "cancelled_by", "cancel_reason", "ics_sequence", "updated_at"]
    )
    Slot.objects.filter(pk=slot.pk).update(booked_seats=F("booked_seats") - booking.seats)
    Reminder.objects.filter(booking=booking, status=Reminder.Status.PENDING).update(status=Reminder.Status.CANCELLED)
    refunded = 0
    if refund_minor > 0:
        for payment in booking.payments.filter(kind="booking"):
            refund = payments.refund_payment(
                payment=payment, amount_minor=refund_minor - refunded, reason=reason, key=f"booking:{booking.pk}:refund"
            )
            if refund is not None and refund.status == refund.Status.SUCCEEDED:
                refunded += refund.amount_minor
        if refunded:
            Booking.objects.filter(pk=booking.pk).update(refunded_minor=F("refunded_minor") + refunded)
            booking.refunded_minor += refunded
    return CancellationOutcome(booking, refund_minor=refunded, refund_percent=refund_percent)


def cancel_booking(
    *, user: User, booking_id: int, reason: str = "", now: datetime | None = None
) -> CancellationOutcome:
    """The customer (or staff) cancels; the policy decides the refund at this instant."""
    now = now or timezone.now()
    booking = access_booking(user=user, booking_id=booking_id)
    with transaction.atomic():
        slot = _lock_slot(booking.slot_id)
        booking = Booking.objects.select_for_update().get(pk=booking.pk)
        if not booking.is_active:
            raise BookingError("already_cancelled", "This booking is already cancelled.")
        if slot.start <= now:
            raise BookingError("already_started", "This tour has already started and can no longer be cancelled.")
        booking.slot = slot
        quote = quote_cancellation(booking=booking, now=now)
        outcome = _cancel_locked(
            booking,
            slot,
            by=user,
            reason=reason or "Cancelled by the customer",
            refund_minor=quote.amount,
            refund_percent=quote.percent,
            now=now,
        )
        messaging.queue_booking_cancelled(outcome.booking, by_guide=False, refund_minor=outcome.refund_minor)
    return outcome


def reschedule_booking(*, user: User, booking_id: int, new_slot_id: int, now: datetime | None = None) -> Booking:
    """Move a booking to another date of the same tour, atomically, keeping its calendar UID."""
    now = now or timezone.now()
    booking = access_booking(user=user, booking_id=booking_id)
    if booking.slot_id == new_slot_id:
        raise BookingError("same_slot", "That is already the date of this booking.")
    with transaction.atomic():
        # Both rows locked in a fixed order: two opposite reschedules cannot deadlock.
        locked = {slot_id: _lock_slot(slot_id) for slot_id in sorted((booking.slot_id, new_slot_id))}
        old_slot, new_slot = locked[booking.slot_id], locked[new_slot_id]
        booking = Booking.objects.select_for_update().get(pk=booking.pk)
        if not booking.is_active:
            raise BookingError("already_cancelled", "A cancelled booking cannot be moved.")
        if new_slot.tour_id != old_slot.tour_id:
            raise BookingError("other_tour", "A booking can only move to another date of the same tour.")
        if old_slot.start <= now:
            raise BookingError("already_started", "This tour has already started and can no longer be moved.")
        check_slot_open(new_slot, now=now)
        if booking.seats > new_slot.seats_left:
            raise SoldOutError(
                "not_enough_seats",
                f"Only {new_slot.seats_left} seat(s) left on that date; this booking has {booking.seats}.",
            )
        if Booking.objects.filter(user=booking.user, slot=new_slot, status__in=Booking.ACTIVE_STATUSES).exists():
            raise BookingError("already_booked", "You already have a booking on that date.")
        Slot.objects.filter(pk=old_slot.pk).update(booked_seats=F("booked_seats") - booking.seats)
        Slot.objects.filter(pk=new_slot.pk).update(booked_seats=F("booked_seats") + booking.seats)
        previous_start = old_slot.start
        booking.slot = new_slot
        booking.ics_sequence += 1
        booking.save(update_fields=["slot", "ics_sequence", "updated_at"])
        _plan_reminders(booking, now=now)
        messaging.queue_booking_rescheduled(booking, previous_start=previous_start)
    return booking


def cancel_slot(*, user: User, slot_id: int, reason: str, now: datetime | None = None) -> list[CancellationOutcome]:
    """The guide (or staff) cancels a date: every booking on it is cancelled with a full refund."""
    now = now or timezone.now()
    outcomes: list[CancellationOutcome] = []
    with transaction.atomic():
        slot = _lock_slot(slot_id)
        if slot.guide.user_id != user.pk and not user.is_staff:
            raise PermissionDenied("Only the tour's guide can cancel this date.")
        if slot.status == Slot.Status.CANCELLED:
            raise BookingError("already_cancelled", "This date is already cancelled.")
        if slot.end <= now:
            raise BookingError("already_ended", "This date is over.")
        slot.status = Slot.Status.CANCELLED
        slot.cancelled_reason = reason[:300]
        slot.save(update_fields=["status", "cancelled_reason"])
        bookings = Booking.objects.select_for_update().filter(slot=slot, status__in=Booking.ACTIVE_STATUSES)
        for booking in bookings:
            booking.slot = slot
            outcome = _cancel_locked(
                booking,
                slot,
                by=user,
                reason=reason or "Cancelled by the guide",
                refund_minor=booking.amount_minor - booking.refunded_minor,
                refund_percent=100,
                now=now,
            )
            messaging.queue_booking_cancelled(outcome.booking, by_guide=True, refund_minor=outcome.refund_minor)
            outcomes.append(outcome)
    return outcomes
