"""Payments tests: a guide, a customer and paid dates, against the test-mode provider or the local
Stripe-like server (``stripe_mode``, tests/support/stripe_server.py) with the real Stripe SDK."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import GuideProfile
from bookings.models import Slot
from payments import services
from payments.models import GuidePaymentAccount
from tests.factories import GuidePaymentAccountFactory, GuideProfileFactory, SlotFactory, TourFactory, UserFactory
from tests.support.stripe_server import StripeServer


def connect_at_stripe(server: StripeServer, guide: GuideProfile, *, ready: bool = True) -> GuidePaymentAccount:
    """Onboard ``guide`` through the service (the account is created at the local Stripe) and,
    when ``ready``, let Stripe enable it as it does once the guide finished its forms."""
    services.start_onboarding(guide=guide, refresh_url="http://testserver/r/", return_url="http://testserver/x/")
    account = GuidePaymentAccount.objects.get(guide=guide)
    if ready:
        server.set_account(account.account_id, charges_enabled=True, payouts_enabled=True, details_submitted=True)
        account = services.refresh_account(account=account)
    return account


def paid_slot(guide: GuideProfile, *, price: str = "50.00", capacity: int = 4, days_ahead: int = 5) -> Slot:
    tour = TourFactory(guide=guide, title="Colosseum at night", price=Decimal(price), max_group_size=capacity)
    start = (timezone.now() + timedelta(days=days_ahead)).replace(minute=0, second=0, microsecond=0)
    return cast(Slot, SlotFactory(tour=tour, start=start, capacity=capacity))


def post_webhook(client: Client, payload: bytes, signature: str) -> Any:
    return client.post(
        reverse("payments:stripe_webhook"),
        data=payload,
        content_type="application/json",
        headers={"Stripe-Signature": signature},
    )


def event_ids(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.content)
    return body


@pytest.fixture
def guide() -> GuideProfile:
    return cast(GuideProfile, GuideProfileFactory(display_name="Giulia Romano"))


@pytest.fixture
def customer():
    return UserFactory(email="ada@example.com", timezone="Europe/Rome")


@pytest.fixture
def test_mode_guide(guide: GuideProfile) -> GuideProfile:
    """A guide with a ready TEST MODE payout account."""
    GuidePaymentAccountFactory(guide=guide)
    return guide
