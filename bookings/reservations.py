"""Booking state changes: book a seat, cancel, reschedule, and a guide cancelling a slot.

Every change that touches seats runs in one transaction holding the slot row lock
(``select_for_update``), so two requests for the last seat can never both pass. When two slots are
involved (reschedule) they are locked in primary-key order so two opposite reschedules cannot
deadlock. Messages to people (e-mail with ICS, in-app notices) are queued after commit.

Paid tours: ``book_seat`` holds the seats (a PENDING_PAYMENT booking with ``hold_expires_at``, the
seats counted as taken) and opens the payment outside the slot lock; the booking is confirmed only
by the payment's success event (``confirm_paid_booking``, registered with payments.hooks), and a
failed, cancelled or expired payment gives the seats back (``release_unpaid_booking``). Refunds
are requested from payments and sent after commit by its tasks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from bookings import messaging, rules, scheduling
from bookings.models import Booking, Reminder, Slot, Tour, default_refund_policy
from payments import services as payments
from payments.models import Payment, Refund


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
    # A paid booking's pending payment: the customer is sent to pay it.
    payment: Payment | None = None


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
    """Book ``seats`` on a slot for ``user``; the same key or the same user and slot give one booking.

    A free tour is confirmed at once. A paid one is held (PENDING_PAYMENT) and its payment opened
    after the slot lock is released; if the provider cannot open it the hold is released again
    and BookingError("payment_unavailable") says so: no half-written booking stays behind.
    """
    now = now or timezone.now()
    if seats < 1:
        raise BookingError("invalid_seats", "Choose at least one seat.")
    idempotency_key = (idempotency_key or uuid.uuid4().hex)[:64]
    previous = Booking.objects.filter(user=user, idempotency_key=idempotency_key).first()
    if previous is not None:
        if previous.slot_id != slot_id:
            # A key names one booking attempt; reused for another date it is a tampered form.
            raise BookingError("key_reused", "This booking form was already used for another date; reload the page.")
        return _existing(previous)
    payment: Payment | None = None
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
                return _existing(duplicate)
            check_slot_open(slot, now=now)
            if slot.seats_left == 0:
                raise SoldOutError("sold_out", "Sold out: every seat on this date is taken.")
            if seats > slot.seats_left:
                raise SoldOutError(
                    "not_enough_seats",
                    f"Only {slot.seats_left} seat(s) left on this date; you asked for {seats}.",
                )
            amount_minor = rules.minor_units(slot.tour.price) * seats
            if amount_minor:
                check_guide_takes_payments(slot.tour)
            hold_expires_at = now + timedelta(minutes=settings.BOOKING_HOLD_MINUTES) if amount_minor else None
            booking = Booking.objects.create(
                user=user,
                slot=slot,
                seats=seats,
                status=Booking.Status.PENDING_PAYMENT if amount_minor else Booking.Status.CONFIRMED,
                idempotency_key=idempotency_key,
                amount_minor=amount_minor,
                currency=slot.tour.currency,
                hold_expires_at=hold_expires_at,
            )
            # A hold takes its seats like a confirmed booking: the race guarantee covers both.
            Slot.objects.filter(pk=slot.pk).update(booked_seats=F("booked_seats") + seats)
            if amount_minor:
                payment = payments.create_pending_payment(
                    kind=Payment.Kind.BOOKING,
                    booking=booking,
                    payer=user,
                    guide=slot.tour.guide,
                    amount_minor=amount_minor,
                    currency=slot.tour.currency,
                    metadata={"booking_id": str(booking.pk), "slot_id": str(slot.pk)},
                    key=f"booking:{booking.pk}:charge",
                    expires_at=hold_expires_at,
                )
            else:
                _plan_reminders(booking, now=now)
                messaging.queue_booking_confirmed(booking)
    except IntegrityError:
        # The partial unique index caught a concurrent duplicate that slipped past the check.
        existing = Booking.objects.filter(user=user, slot_id=slot_id, status__in=Booking.ACTIVE_STATUSES).first()
        if existing is None:
            raise
        return _existing(existing)
    if payment is not None:
        # Outside the slot lock: a slow provider holds up nobody else's booking.
        try:
            payment = payments.open_payment(
                payment=payment, description=f"{slot.tour.title}, {slot.start:%Y-%m-%d %H:%M} UTC, {seats} seat(s)"
            )
        except payments.PaymentError as error:
            raise BookingError("payment_unavailable", error.message) from None
        booking.refresh_from_db()
    return BookingOutcome(booking, created=True, payment=payment)


def _existing(booking: Booking) -> BookingOutcome:
    payment = None
    if booking.status == Booking.Status.PENDING_PAYMENT:
        payment = booking.payments.filter(kind=Payment.Kind.BOOKING).order_by("-pk").first()
    return BookingOutcome(booking, created=False, payment=payment)


def check_guide_takes_payments(tour: Tour) -> None:
    """Raise GuideNotReadyBookingError when a paid tour's guide cannot receive payments."""
    try:
        payments.check_guide_can_be_paid(guide=tour.guide)
    except payments.GuideNotReadyError as error:
        raise SlotUnavailableError("guide_not_ready", error.message) from None


def access_booking(*, user: User, booking_id: int) -> Booking:
    """Fetch a booking its owner (or staff) may act on; anyone else gets PermissionDenied."""
    booking = Booking.objects.select_related("slot", "slot__tour", "slot__guide", "user").filter(pk=booking_id).first()
    if booking is None:
        raise BookingError("not_found", "No such booking.")
    if booking.user_id != user.pk and not user.is_staff:
        raise PermissionDenied("This booking belongs to someone else.")
    return booking


def quote_cancellation(*, booking: Booking, now: datetime | None = None) -> rules.RefundQuote:
    # A booking still awaiting payment has paid nothing, so cancelling it refunds nothing.
    paid = 0 if booking.status == Booking.Status.PENDING_PAYMENT else booking.amount_minor - booking.refunded_minor
    return rules.refund_for(
        refund_policy_for(booking.slot.tour),
        amount_paid=paid,
        start_utc=booking.slot.start,
        now=now or timezone.now(),
    )


def _cancel_locked(
    booking: Booking, slot: Slot, *, by: User, reason: str, refund_minor: int, refund_percent: int, now: datetime
) -> CancellationOutcome:
    was_pending = booking.status == Booking.Status.PENDING_PAYMENT
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
    requested = 0
    for payment in booking.payments.filter(kind=Payment.Kind.BOOKING).order_by("pk"):
        if payment.status == Payment.Status.PENDING:
            # Not paid yet: nothing to give back, and nobody may pay it any more.
            payments.cancel_payment(payment=payment, reason=reason)
            continue
        if was_pending or refund_minor - requested <= 0:
            continue
        # The refund is written now and sent after commit (and retried) by payments' tasks;
        # booking.refunded_minor rises when the provider confirms it (record_booking_refund).
        refund = payments.request_refund(
            payment=payment,
            amount_minor=refund_minor - requested,
            reason=reason,
            key=f"booking:{booking.pk}:refund:{payment.pk}",
        )
        if refund is not None:
            requested += refund.amount_minor
    return CancellationOutcome(booking, refund_minor=requested, refund_percent=refund_percent)


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
        was_pending = booking.status == Booking.Status.PENDING_PAYMENT
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
        if not was_pending:
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
        if booking.status == Booking.Status.PENDING_PAYMENT:
            raise BookingError("awaiting_payment", "Pay for this booking first; then it can be moved.")
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
            was_pending = booking.status == Booking.Status.PENDING_PAYMENT
            outcome = _cancel_locked(
                booking,
                slot,
                by=user,
                reason=reason or "Cancelled by the guide",
                refund_minor=0 if was_pending else booking.amount_minor - booking.refunded_minor,
                refund_percent=100,
                now=now,
            )
            messaging.queue_booking_cancelled(outcome.booking, by_guide=True, refund_minor=outcome.refund_minor)
            outcomes.append(outcome)
    return outcomes


# --- Payment outcomes (registered with payments.hooks in BookingsConfig.ready) ---------------------


def lock_booking_for_payment(payment: Payment) -> None:
    """Lock the booking's slot, then the booking: the order every booking service uses."""
    if payment.booking_id is None:
        return
    while True:
        slot_id = Booking.objects.values_list("slot_id", flat=True).get(pk=payment.booking_id)
        _lock_slot(slot_id)
        booking = Booking.objects.select_for_update().get(pk=payment.booking_id)
        if booking.slot_id == slot_id:
            return  # (a reschedule between the two reads moved it: lock the new slot too)


def confirm_paid_booking(payment: Payment) -> None:
    """The payment succeeded: the held seats become a confirmed booking (confirmation e-mail now).

    If the hold was already released (paid after it expired, or the payment failed first and the
    customer paid again), the booking is confirmed again when its seats are still free and the date
    still ahead; otherwise, as when the customer or the guide cancelled meanwhile, the whole
    payment is refunded automatically.
    """
    if payment.booking_id is None:
        return
    now = timezone.now()
    booking_id: int = payment.booking_id
    booking = Booking.objects.select_related("slot", "slot__tour", "slot__tour__guide", "user").get(pk=booking_id)
    slot = booking.slot
    if booking.status == Booking.Status.CONFIRMED:
        return
    if booking.status == Booking.Status.EXPIRED:
        free = slot.status == Slot.Status.SCHEDULED and slot.start > now and slot.seats_left >= booking.seats
        other = Booking.objects.filter(user=booking.user, slot=slot, status__in=Booking.ACTIVE_STATUSES).exists()
        if free and not other:
            Slot.objects.filter(pk=slot.pk).update(booked_seats=F("booked_seats") + booking.seats)
            booking.status = Booking.Status.PENDING_PAYMENT
    if booking.status == Booking.Status.PENDING_PAYMENT:
        booking.status = Booking.Status.CONFIRMED
        booking.hold_expires_at = None
        booking.save(update_fields=["status", "hold_expires_at", "updated_at"])
        _plan_reminders(booking, now=now)
        messaging.queue_booking_confirmed(booking)
        return
    # Cancelled, or expired with its seats gone: the money goes back, all of it.
    reason = (
        "Paid after the booking was cancelled"
        if booking.status == Booking.Status.CANCELLED
        else "Paid after the seats were released and taken"
    )
    payments.request_refund(
        payment=payment,
        amount_minor=payment.amount_minor,
        reason=reason,
        key=f"booking:{booking.pk}:late-refund:{payment.pk}",
    )
    messaging.queue_late_payment_refunded(booking, amount_minor=payment.amount_minor)


def release_unpaid_booking(payment: Payment) -> None:
    """The payment failed, was cancelled or not made in time: the held seats go back on sale."""
    if payment.booking_id is None:
        return
    booking_id: int = payment.booking_id
    booking = Booking.objects.get(pk=booking_id)
    if booking.status != Booking.Status.PENDING_PAYMENT:
        return
    booking.status = Booking.Status.EXPIRED
    booking.save(update_fields=["status", "updated_at"])
    Slot.objects.filter(pk=booking.slot_id).update(booked_seats=F("booked_seats") - booking.seats)


def record_booking_refund(payment: Payment, refund: Refund) -> None:
    """A refund reached the customer: the booking shows what came back."""
    if payment.booking_id is None:
        return
    Booking.objects.filter(pk=payment.booking_id).update(refunded_minor=F("refunded_minor") + refund.amount_minor)
