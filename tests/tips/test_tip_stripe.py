"""A tip through the real Stripe SDK against the local Stripe-like server: a destination charge to
the guide's connected account with the platform's fee and the tip's idempotency key; Stripe's
signed webhook, delivered three times, marks it paid and tells the guide once."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import GuideProfile, User
from notifications.models import Notification, OutboundEmail
from payments.models import GuidePaymentAccount, Payment
from payments.tips.models import Tip
from streaming.models import LiveSession
from tests.factories import (
    BookingFactory,
    GuideProfileFactory,
    LiveSessionFactory,
    SlotFactory,
    TourFactory,
    UserFactory,
)
from tests.payments.conftest import connect_at_stripe, post_webhook
from tests.support.stripe_server import StripeServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]


def test_a_tip_is_a_destination_charge_and_its_webhook_has_one_effect(stripe_mode: StripeServer) -> None:
    guide = cast(GuideProfile, GuideProfileFactory(display_name="Giulia Romano"))
    account = connect_at_stripe(stripe_mode, guide)
    tour = TourFactory(guide=guide, price=Decimal("30.00"))
    start = timezone.now() - timedelta(minutes=10)
    slot = SlotFactory(tour=tour, start=start, end=start + timedelta(minutes=90))
    LiveSessionFactory(slot=slot)
    LiveSession.objects.filter(slot=slot).update(status="live", started_at=start)
    guest = cast(User, UserFactory(name="Ada"))
    BookingFactory(user=guest, slot=slot)
    client = Client()
    client.force_login(guest)

    response = client.post(
        reverse("tips:tip", kwargs={"slot_id": slot.pk}), {"amount": "custom", "custom_amount": "12", "key": "s-1"}
    )

    tip = Tip.objects.get()
    payment = Payment.objects.get()
    assert response["Location"] == reverse("payments:pay", kwargs={"payment_id": payment.pk})
    (create,) = stripe_mode.calls("POST", "/v1/payment_intents")
    assert create.params["amount"] == "1200"
    assert create.params["currency"] == "eur"
    assert create.params["transfer_data"] == {"destination": GuidePaymentAccount.objects.get(pk=account.pk).account_id}
    assert create.params["application_fee_amount"] == "180"  # 15 % of 12.00
    assert create.params["metadata"]["kind"] == "tip"
    assert create.params["metadata"]["tip_id"] == str(tip.pk)
    assert create.idempotency_key == f"tip:{tip.pk}"

    intent = stripe_mode.set_intent_status(payment.provider_reference, "succeeded")
    payload, _signature, event = stripe_mode.signed_event("payment_intent.succeeded", intent)
    deliveries: list[Any] = [payload] * 3
    random.Random(4).shuffle(deliveries)
    answers = [post_webhook(client, body, stripe_mode.sign(body)) for body in deliveries]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert sorted(json.loads(answer.content)["duplicate"] for answer in answers) == [False, True, True]
    assert event["type"] == "payment_intent.succeeded"
    tip.refresh_from_db()
    assert tip.status == Tip.Status.PAID
    assert Notification.objects.filter(user=guide.user, kind="tip_received").count() == 1
    assert OutboundEmail.objects.filter(idempotency_key=f"tip:{tip.pk}:receipt").count() == 1
