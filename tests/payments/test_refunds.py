"""Cancellations refund what the policy says, by themselves, through Stripe; a refused refund is retried.

Destination charges: every refund reverses the transfer from the guide's account and gives back
the platform's commission in proportion (docs/adr/0012). Default policy: full refund up to 48 h
before the start, half up to 24 h, nothing after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import pytest
from django.urls import reverse

from accounts.models import User
from bookings import reservations
from bookings.models import Booking, Slot
from payments import tasks
from payments.models import Payment, Refund
from tests.factories import UserFactory
from tests.payments.conftest import connect_at_stripe, paid_slot, post_webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]


def book_and_pay_at_stripe(client, server, slot, user, *, seats=2):
    """Hold, pay in Stripe (the local server), and let the signed webhook confirm it."""
    outcome = reservations.book_seat(user=user, slot_id=slot.pk, seats=seats, idempotency_key=f"k-{user.pk}")
    assert outcome.payment is not None
    intent = server.set_intent_status(outcome.payment.provider_reference, "succeeded")
    payload, signature, _event = server.signed_event("payment_intent.succeeded", intent)
    assert post_webhook(client, payload, signature).status_code == 200
    outcome.booking.refresh_from_db()
    assert outcome.booking.status == Booking.Status.CONFIRMED
    return outcome.booking, Payment.objects.get(pk=outcome.payment.pk)


@pytest.fixture
def slot(stripe_mode, guide):
    connect_at_stripe(stripe_mode, guide)
    return paid_slot(guide, price="50.00", capacity=6, days_ahead=5)


@pytest.mark.parametrize(
    ("before_start", "refund", "fee_back"),
    [
        (timedelta(hours=72), 10000, 1500),
        (timedelta(hours=30), 5000, 750),
        (timedelta(hours=12), 0, 0),
    ],
    ids=["full-refund-window", "half-refund-window", "no-refund-window"],
)
def test_a_customer_cancelling_is_refunded_by_the_policy_through_stripe(
    client, stripe_mode, slot, customer, time_machine, before_start, refund, fee_back
):
    booking, payment = book_and_pay_at_stripe(client, stripe_mode, slot, customer)
    time_machine.move_to(slot.start - before_start)

    outcome = reservations.cancel_booking(user=customer, booking_id=booking.pk)

    assert outcome.refund_minor == refund
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert (booking.status, booking.refunded_minor) == (Booking.Status.CANCELLED, refund)
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
    calls = stripe_mode.calls("POST", "/v1/refunds")
    if not refund:
        assert calls == []
        assert not Refund.objects.exists()
        assert payment.status == Payment.Status.SUCCEEDED
        return
    (call,) = calls
    stored = Refund.objects.get()
    assert call.params["payment_intent"] == payment.provider_reference
    assert call.params["amount"] == str(refund)
    assert (call.params["reverse_transfer"], call.params["refund_application_fee"]) == ("true", "true")
    assert call.params["metadata"]["refund_id"] == str(stored.pk)
    assert call.idempotency_key == stored.idempotency_key == f"booking:{booking.pk}:refund:{payment.pk}"
    assert (stored.status, stored.amount_minor, stored.fee_refunded_minor) == (
        Refund.Status.SUCCEEDED,
        refund,
        fee_back,
    )
    assert stored.provider_reference.startswith("re_")
    assert (payment.refunded_minor, payment.fee_refunded_minor) == (refund, fee_back)
    assert payment.status == (Payment.Status.REFUNDED if refund == 10000 else Payment.Status.PARTIALLY_REFUNDED)


def test_the_guide_cancelling_a_date_refunds_every_paid_booking_in_full_and_drops_the_holds(
    client, stripe_mode, slot, customer
):
    paid_booking, paid = book_and_pay_at_stripe(client, stripe_mode, slot, customer, seats=2)
    holder = cast(User, UserFactory())
    hold = reservations.book_seat(user=holder, slot_id=slot.pk, seats=1, idempotency_key="hold")

    outcomes = reservations.cancel_slot(user=slot.tour.guide.user, slot_id=slot.pk, reason="Storm over Rome")

    assert sorted((item.booking.pk, item.refund_minor) for item in outcomes) == sorted(
        [(paid_booking.pk, 10000), (hold.booking.pk, 0)]
    )
    (refund_call,) = stripe_mode.calls("POST", "/v1/refunds")
    assert refund_call.params["payment_intent"] == paid.provider_reference
    assert (refund_call.params["amount"], refund_call.params["reverse_transfer"]) == ("10000", "true")
    paid.refresh_from_db()
    assert (paid.status, paid.fee_refunded_minor) == (Payment.Status.REFUNDED, 1500)
    # The hold was not paid: its intent is cancelled at Stripe instead of refunded.
    assert hold.payment is not None
    hold_payment = Payment.objects.get(pk=hold.payment.pk)
    assert hold_payment.status == Payment.Status.CANCELLED
    assert stripe_mode.objects[hold_payment.provider_reference]["status"] == "canceled"
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0


def test_a_refund_stripe_refuses_stays_pending_and_the_retry_task_sends_it(
    client, stripe_mode, slot, customer, time_machine
):
    booking, _payment = book_and_pay_at_stripe(client, stripe_mode, slot, customer)
    stripe_mode.fail_next("POST", "/v1/refunds", status=500, times=3)  # the SDK's retries too

    reservations.cancel_booking(user=customer, booking_id=booking.pk)

    refund = Refund.objects.get()
    assert refund.status == Refund.Status.PENDING
    assert refund.attempts == 1
    assert "connection to Stripe" in refund.last_error
    assert Booking.objects.get(pk=booking.pk).refunded_minor == 0
    assert tasks.retry_due_refunds() == 0  # it waits its pause out
    response = client.get(reverse("bookings:booking_detail", kwargs={"pk": booking.pk}))  # anonymous: a redirect
    assert response.status_code == 302

    assert refund.next_attempt_at is not None
    time_machine.move_to(refund.next_attempt_at + timedelta(seconds=1))
    assert tasks.retry_due_refunds() == 1

    refund.refresh_from_db()
    assert (refund.status, refund.attempts) == (Refund.Status.SUCCEEDED, 2)
    calls = stripe_mode.calls("POST", "/v1/refunds")
    assert len(calls) == 4
    assert {call.idempotency_key for call in calls} == {refund.idempotency_key}  # one refund, however many tries
    assert len([obj for obj in stripe_mode.objects.values() if obj["object"] == "refund"]) == 1
    assert Booking.objects.get(pk=booking.pk).refunded_minor == 10000


def test_a_refund_pending_at_stripe_is_finished_by_its_refund_updated_webhook(client, stripe_mode, slot, customer):
    booking, payment = book_and_pay_at_stripe(client, stripe_mode, slot, customer)
    stripe_mode.refund_status = "pending"

    reservations.cancel_booking(user=customer, booking_id=booking.pk)

    refund = Refund.objects.get()
    assert refund.status == Refund.Status.PENDING
    assert refund.provider_reference.startswith("re_")
    assert tasks.retry_due_refunds() == 0  # accepted by Stripe: nothing to send again
    page = _booking_page(client, customer, booking)
    assert "100.00 EUR: Refund in progress" in page

    refund_object = {**stripe_mode.objects[refund.provider_reference], "status": "succeeded"}
    payload, _signature, _event = stripe_mode.signed_event("refund.updated", refund_object)
    for _ in range(3):
        post_webhook(client, payload, stripe_mode.sign(payload))

    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == Refund.Status.SUCCEEDED
    assert (payment.refunded_minor, payment.status) == (10000, Payment.Status.REFUNDED)
    assert Booking.objects.get(pk=booking.pk).refunded_minor == 10000
    assert "100.00 EUR: Refunded" in _booking_page(client, customer, booking)


def _booking_page(client, user, booking) -> str:
    import html
    import re

    client.force_login(user)
    response = client.get(reverse("bookings:booking_detail", kwargs={"pk": booking.pk}))
    assert response.status_code == 200
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", response.content.decode())).split())
