"""Stripe's webhooks at POST /payments/webhooks/stripe/: signed as Stripe signs them, recorded once,
processed by the Celery task, with exactly one effect whatever the order or number of deliveries.

Transactional: the event's task starts after the recording commits, as in production (Celery runs
eagerly here; one test uses a real worker on Redis).
"""

from __future__ import annotations

import json
import random
import time

import pytest
from django.utils import timezone

from bookings import reservations
from bookings.models import Booking, Slot
from notifications.models import OutboundEmail
from payments.models import GuidePaymentAccount, Payment, Refund, WebhookEvent
from tests.payments.conftest import connect_at_stripe, paid_slot, post_webhook

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]


@pytest.fixture
def held(stripe_mode, guide, customer):
    """A customer holding 2 seats of a 50 EUR date at the local Stripe: (booking, payment, slot)."""
    connect_at_stripe(stripe_mode, guide)
    slot = paid_slot(guide, capacity=4)
    outcome = reservations.book_seat(user=customer, slot_id=slot.pk, seats=2, idempotency_key="hold-1")
    assert outcome.payment is not None
    return outcome.booking, outcome.payment, slot


def confirmations(booking: Booking) -> int:
    return OutboundEmail.objects.filter(idempotency_key=f"booking:{booking.pk}:confirmed").count()


def test_a_paid_booking_is_held_until_the_payment_succeeded_webhook_confirms_it(client, stripe_mode, held):
    booking, payment, slot = held
    assert booking.status == Booking.Status.PENDING_PAYMENT
    assert Slot.objects.get(pk=slot.pk).booked_seats == 2
    assert confirmations(booking) == 0
    (create,) = stripe_mode.calls("POST", "/v1/payment_intents")
    account = GuidePaymentAccount.objects.get(guide=slot.tour.guide)
    assert create.params["transfer_data"] == {"destination": account.account_id}
    assert create.params["application_fee_amount"] == "1500"  # 15 % of 100.00 EUR
    assert create.params["metadata"] == {
        "booking_id": str(booking.pk),
        "slot_id": str(slot.pk),
        "payment_id": str(payment.pk),
        "kind": "booking",
    }
    assert create.idempotency_key == f"booking:{booking.pk}:charge"

    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, signature, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)
    response = post_webhook(client, payload, signature)

    assert response.status_code == 200
    assert json.loads(response.content)["duplicate"] is False
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert (booking.status, booking.hold_expires_at) == (Booking.Status.CONFIRMED, None)
    assert payment.status == Payment.Status.SUCCEEDED
    assert confirmations(booking) == 1
    assert Slot.objects.get(pk=slot.pk).booked_seats == 2


def test_each_event_delivered_three_times_in_shuffled_order_has_exactly_one_effect(client, stripe_mode, held):
    booking, payment, slot = held
    account = GuidePaymentAccount.objects.get(guide=slot.tour.guide)
    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    later = stripe_mode.set_account(account.account_id, payouts_enabled=False)  # Stripe paused payouts
    deliveries = [
        stripe_mode.signed_event("payment_intent.succeeded", intent),
        stripe_mode.signed_event("account.updated", later),
    ] * 3
    # Each event keeps its id across deliveries, as Stripe's retries do; the signature is redone each time.
    events = {event["id"]: (payload, event) for payload, _sig, event in deliveries}
    assert len(events) == 2
    random.Random(6).shuffle(deliveries)

    answers = [post_webhook(client, payload, stripe_mode.sign(payload)) for payload, _sig, _event in deliveries]

    assert [answer.status_code for answer in answers] == [200] * 6
    assert sorted(json.loads(answer.content)["duplicate"] for answer in answers) == [False, False] + [True] * 4
    assert WebhookEvent.objects.count() == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED}
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert confirmations(booking) == 1
    assert Slot.objects.get(pk=slot.pk).booked_seats == 2
    account.refresh_from_db()
    assert (account.charges_enabled, account.payouts_enabled) == (True, False)


def test_a_late_payment_failed_event_never_undoes_a_success(client, stripe_mode, held):
    booking, payment, _slot = held
    declined = stripe_mode.set_intent_status(
        payment.provider_reference, "requires_payment_method", failure_message="Declined"
    )
    failed_payload, _sig, _event = stripe_mode.signed_event("payment_intent.payment_failed", declined)
    succeeded = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    paid_payload, _sig, _event = stripe_mode.signed_event("payment_intent.succeeded", succeeded)

    post_webhook(client, paid_payload, stripe_mode.sign(paid_payload))
    post_webhook(client, failed_payload, stripe_mode.sign(failed_payload))

    booking.refresh_from_db()
    payment.refresh_from_db()
    assert (booking.status, payment.status) == (Booking.Status.CONFIRMED, Payment.Status.SUCCEEDED)
    assert not stripe_mode.calls("POST", r"/v1/payment_intents/pi_\w+/cancel")


def test_a_failed_payment_releases_the_seats_and_cancels_the_intent(client, stripe_mode, held):
    booking, payment, slot = held
    declined = stripe_mode.set_intent_status(
        payment.provider_reference, "requires_payment_method", failure_message="Your card was declined."
    )
    payload, signature, _event = stripe_mode.signed_event("payment_intent.payment_failed", declined)

    response = post_webhook(client, payload, signature)

    assert response.status_code == 200
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert booking.status == Booking.Status.EXPIRED
    assert (payment.status, payment.failure_message) == (Payment.Status.FAILED, "Your card was declined.")
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
    # Stripe would let the customer retry the intent; with the seats released nobody may.
    (cancel,) = stripe_mode.calls("POST", f"/v1/payment_intents/{payment.provider_reference}/cancel")
    assert cancel.idempotency_key == f"payment:{payment.pk}:cancel"
    assert stripe_mode.objects[payment.provider_reference]["status"] == "canceled"
    assert confirmations(booking) == 0


def test_a_payment_for_a_released_hold_rebooks_when_the_seats_are_still_free(client, stripe_mode, held):
    booking, payment, slot = held
    reservations.release_unpaid_booking(payment)  # as the expiry does; the intent stays payable here
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.CANCELLED)
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0

    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, signature, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)
    post_webhook(client, payload, signature)

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert Slot.objects.get(pk=slot.pk).booked_seats == 2
    assert confirmations(booking) == 1
    assert not Refund.objects.exists()


def test_a_payment_for_a_released_hold_whose_seats_are_gone_is_refunded_in_full(client, stripe_mode, held):
    booking, payment, slot = held
    reservations.release_unpaid_booking(payment)
    Payment.objects.filter(pk=payment.pk).update(status=Payment.Status.CANCELLED)
    Slot.objects.filter(pk=slot.pk).update(booked_seats=slot.capacity)  # someone else took every seat

    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, signature, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)
    post_webhook(client, payload, signature)

    booking.refresh_from_db()
    payment.refresh_from_db()
    assert booking.status == Booking.Status.EXPIRED
    assert Slot.objects.get(pk=slot.pk).booked_seats == slot.capacity
    assert (payment.status, payment.refunded_minor, payment.fee_refunded_minor) == (
        Payment.Status.REFUNDED,
        10000,
        1500,
    )
    (refund_call,) = stripe_mode.calls("POST", "/v1/refunds")
    assert refund_call.params["amount"] == "10000"
    assert (refund_call.params["reverse_transfer"], refund_call.params["refund_application_fee"]) == ("true", "true")
    assert booking.refunded_minor == 10000
    assert OutboundEmail.objects.filter(idempotency_key=f"booking:{booking.pk}:late-payment-refunded").count() == 1
    assert confirmations(booking) == 0


def test_a_refund_made_at_stripe_before_the_success_arrives_releases_instead_of_confirming(client, stripe_mode, held):
    booking, payment, slot = held
    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    # Staff refunded in Stripe's dashboard; the charge.refunded event overtakes payment_intent.succeeded.
    refund = {
        "id": "re_dashboard1",
        "object": "refund",
        "amount": 10000,
        "payment_intent": payment.provider_reference,
        "status": "succeeded",
        "metadata": {},
    }
    charge = {
        "id": intent["latest_charge"],
        "object": "charge",
        "amount": 10000,
        "amount_refunded": 10000,
        "payment_intent": payment.provider_reference,
        "refunded": True,
        "refunds": {"object": "list", "data": [refund], "has_more": False},
    }
    refunded_payload, _sig, _event = stripe_mode.signed_event("charge.refunded", charge)
    paid_payload, _sig, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)

    post_webhook(client, refunded_payload, stripe_mode.sign(refunded_payload))
    post_webhook(client, paid_payload, stripe_mode.sign(paid_payload))

    booking.refresh_from_db()
    payment.refresh_from_db()
    assert (payment.status, payment.refunded_minor) == (Payment.Status.REFUNDED, 10000)
    assert booking.status == Booking.Status.EXPIRED
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
    assert confirmations(booking) == 0
    assert Refund.objects.get().provider_reference == "re_dashboard1"


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        ("t=1,v1=deadbeef", "Invalid webhook"),
        ("", "Invalid webhook"),
    ],
    ids=["bad-signature", "missing-signature"],
)
def test_a_bad_or_missing_signature_is_refused_with_400(client, stripe_mode, held, signature, message):
    _booking, payment, _slot = held
    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, _good, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)

    response = post_webhook(client, payload, signature)

    assert response.status_code == 400
    assert message in json.loads(response.content)["error"]
    assert not WebhookEvent.objects.exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING


def test_a_tampered_payload_is_refused(client, stripe_mode, held):
    _booking, payment, _slot = held
    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, signature, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)

    response = post_webhook(client, payload.replace(b'"amount": 10000', b'"amount": 10001'), signature)

    assert response.status_code == 400
    assert "No signatures found matching the expected signature for payload" in json.loads(response.content)["error"]
    assert not WebhookEvent.objects.exists()


def test_a_stale_webhook_older_than_five_minutes_is_refused(client, stripe_mode, held):
    _booking, payment, _slot = held
    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    stale = int(time.time()) - 301
    payload, signature, _event = stripe_mode.signed_event("payment_intent.succeeded", intent, timestamp=stale)

    response = post_webhook(client, payload, signature)

    assert response.status_code == 400
    assert "Timestamp outside the tolerance zone" in json.loads(response.content)["error"]
    assert not WebhookEvent.objects.exists()


def test_an_unknown_event_type_is_acknowledged_and_ignored(client, stripe_mode):
    payload, signature, _event = stripe_mode.signed_event("plan.created", {"id": "price_1", "object": "plan"})

    response = post_webhook(client, payload, signature)

    assert response.status_code == 200
    assert json.loads(response.content) == {"received": True, "ignored": True}
    assert not WebhookEvent.objects.exists()


def test_the_webhook_needs_no_csrf_token_but_only_accepts_post(stripe_mode, held):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    _booking, payment, _slot = held
    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, signature, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)

    assert post_webhook(strict, payload, signature).status_code == 200
    assert strict.get("/payments/webhooks/stripe/").status_code == 405


def test_account_updated_makes_a_guide_ready_and_an_older_snapshot_changes_nothing(client, stripe_mode, guide):
    account = connect_at_stripe(stripe_mode, guide, ready=False)
    assert account.is_ready is False
    now = int(time.time())
    ready = stripe_mode.set_account(
        account.account_id, charges_enabled=True, payouts_enabled=True, details_submitted=True
    )
    older = {**ready, "charges_enabled": False, "details_submitted": False}
    new_payload, _sig, _event = stripe_mode.signed_event("account.updated", ready, timestamp=now)
    old_payload, _sig, _event = stripe_mode.signed_event("account.updated", older, timestamp=now - 60)

    post_webhook(client, new_payload, stripe_mode.sign(new_payload, timestamp=now))
    post_webhook(client, old_payload, stripe_mode.sign(old_payload, timestamp=now - 60))

    account.refresh_from_db()
    assert account.is_ready is True
    assert account.status_as_of is not None
    assert account.status_as_of <= timezone.now()


def test_a_real_celery_worker_processes_a_triple_delivery_once(client, stripe_mode, held, celery_worker_on_redis):
    booking, payment, _slot = held
    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, _sig, _event = stripe_mode.signed_event("payment_intent.succeeded", intent)

    answers = [post_webhook(client, payload, stripe_mode.sign(payload)).status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    (run,) = celery_worker_on_redis.wait_for_tasks(1, name="payments.tasks.process_webhook_event", state="SUCCESS")
    assert run.retval == "paid"
    # The confirmation e-mail queued by that run is delivered by the worker too; by then any task a
    # repeated delivery had queued would have run before it (one solo worker, FIFO).
    celery_worker_on_redis.wait_for_tasks(1, name="notifications.tasks.deliver_email", state="SUCCESS")
    runs = [item for item in celery_worker_on_redis.finished if item.name == "payments.tasks.process_webhook_event"]
    assert len(runs) == 1
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert confirmations(booking) == 1
