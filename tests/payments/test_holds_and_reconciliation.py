"""Holds run out by themselves, and a missed webhook is caught by asking Stripe.

The periodic tasks are called as beat (or the embedded scheduler) calls them, with the clock
moved past the hold; the provider is the local Stripe-like server.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
from django.utils import timezone

from accounts.models import User
from bookings import reservations
from bookings.models import Booking, Slot
from notifications.models import OutboundEmail
from payments import tasks
from payments.models import Payment
from tests.factories import UserFactory
from tests.payments.conftest import connect_at_stripe, paid_slot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def last_seat(stripe_mode, guide, customer):
    """A 1-seat date whose only seat ``customer`` holds: (booking, payment, slot)."""
    connect_at_stripe(stripe_mode, guide)
    slot = paid_slot(guide, capacity=1)
    outcome = reservations.book_seat(user=customer, slot_id=slot.pk, seats=1, idempotency_key="last")
    assert outcome.payment is not None
    return outcome.booking, outcome.payment, slot


def test_the_held_seat_counts_as_taken(last_seat):
    _booking, _payment, slot = last_seat

    with pytest.raises(reservations.SoldOutError) as refused:
        reservations.book_seat(user=cast(User, UserFactory()), slot_id=slot.pk, seats=1, idempotency_key="late")

    assert refused.value.code == "sold_out"


def test_a_hold_not_paid_in_time_is_released_its_intent_cancelled_and_the_seat_bookable(
    last_seat, stripe_mode, time_machine
):
    booking, payment, slot = last_seat
    assert tasks.expire_payment_holds() == 0  # not due yet: nothing happens
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.PENDING_PAYMENT

    time_machine.move_to(booking.hold_expires_at + timedelta(seconds=1))
    released = tasks.expire_payment_holds()

    assert released == 1
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert booking.status == Booking.Status.EXPIRED
    assert payment.status == Payment.Status.CANCELLED
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
    (cancel,) = stripe_mode.calls("POST", f"/v1/payment_intents/{payment.provider_reference}/cancel")
    assert cancel.idempotency_key == f"payment:{payment.pk}:cancel"
    assert stripe_mode.objects[payment.provider_reference]["status"] == "canceled"
    assert not OutboundEmail.objects.filter(idempotency_key=f"booking:{booking.pk}:confirmed").exists()
    # The seat is on sale again.
    other = reservations.book_seat(user=cast(User, UserFactory()), slot_id=slot.pk, seats=1, idempotency_key="next")
    assert other.booking.status == Booking.Status.PENDING_PAYMENT
    assert tasks.expire_payment_holds() == 0  # running again changes nothing


def test_a_hold_paid_at_the_last_second_is_confirmed_not_released(last_seat, stripe_mode, time_machine):
    booking, payment, slot = last_seat
    stripe_mode.set_intent_status(payment.provider_reference, "succeeded")  # its webhook is still on the way
    time_machine.move_to(booking.hold_expires_at + timedelta(seconds=1))

    assert tasks.expire_payment_holds() == 0

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert Slot.objects.get(pk=slot.pk).booked_seats == 1
    assert not stripe_mode.calls("POST", r"/v1/payment_intents/pi_\w+/cancel")


def test_expiry_waits_when_stripe_cannot_be_reached(last_seat, stripe_mode, time_machine):
    booking, _payment, slot = last_seat
    time_machine.move_to(booking.hold_expires_at + timedelta(seconds=1))
    stripe_mode.fail_next("GET", "/v1/payment_intents/", status=503, times=6)

    assert tasks.expire_payment_holds() == 0

    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING_PAYMENT  # not released blind: it may have been paid
    assert tasks.expire_payment_holds() == 1  # Stripe answers again: released on the next run
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0


def test_reconciliation_applies_a_success_whose_webhook_never_came(last_seat, stripe_mode):
    booking, payment, _slot = last_seat
    stripe_mode.set_intent_status(payment.provider_reference, "succeeded")  # and the webhook is lost

    applied = tasks.reconcile_payments()

    assert applied == 1
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert (booking.status, payment.status) == (Booking.Status.CONFIRMED, Payment.Status.SUCCEEDED)
    assert OutboundEmail.objects.filter(idempotency_key=f"booking:{booking.pk}:confirmed").count() == 1
    (listing,) = stripe_mode.calls("GET", "/v1/payment_intents")
    assert int(listing.query["created"]["gte"]) <= int((timezone.now() - timedelta(days=2)).timestamp()) + 1
    assert tasks.reconcile_payments() == 0  # nothing missed any more


def test_reconciliation_applies_a_cancellation_made_at_stripe(last_seat, stripe_mode):
    booking, payment, slot = last_seat
    stripe_mode.objects[payment.provider_reference]["status"] = "canceled"

    assert tasks.reconcile_payments() == 1

    booking.refresh_from_db()
    assert booking.status == Booking.Status.EXPIRED
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0


def test_a_paid_booking_refused_by_stripe_releases_the_hold_and_says_so(stripe_mode, guide, customer):
    connect_at_stripe(stripe_mode, guide)
    slot = paid_slot(guide, capacity=3)
    stripe_mode.fail_next("POST", "/v1/payment_intents", status=500, times=3)

    with pytest.raises(reservations.BookingError) as refused:
        reservations.book_seat(user=customer, slot_id=slot.pk, seats=2, idempotency_key="k")

    assert refused.value.code == "payment_unavailable"
    assert "nothing was charged and nothing is held" in refused.value.message
    booking = Booking.objects.get()
    assert booking.status == Booking.Status.EXPIRED
    assert Payment.objects.get().status == Payment.Status.FAILED
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
    # A fresh attempt (the page gives a new form key) books again.
    again = reservations.book_seat(user=customer, slot_id=slot.pk, seats=2, idempotency_key="k2")
    assert again.booking.status == Booking.Status.PENDING_PAYMENT
