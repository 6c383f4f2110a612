"""Guides connect a Stripe Express account from their dashboard; paid tours wait until it is ready.

Stripe mode against the local server: the dashboard's button creates the account once (idempotency
key), sends the guide to Stripe's account link, the return page reads the account back, and
``account.updated`` keeps the status. A guide without a ready account runs free tours only, and
both the customer and the guide are told why.
"""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from bookings import reservations
from bookings.models import Booking
from payments.models import GuidePaymentAccount, Payment, WebhookEvent
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory
from tests.payments.conftest import paid_slot

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", response.content.decode())).split())


def test_the_dashboard_offers_to_connect_payouts_and_says_why_paid_tours_wait(client, guide):
    paid_slot(guide)
    client.force_login(guide.user)

    response = client.get(reverse("bookings:dashboard"))

    assert response.status_code == 200
    page = text(response)
    assert "Payouts TEST MODE — no money moves. You have no payout account yet." in page
    assert "Your 1 paid tour cannot be booked until it is ready; free tours can." in page
    assert 'data-payout-status="missing"' in response.content.decode()
    assert reverse("payments:onboarding_start") in response.content.decode()


def test_connecting_creates_one_express_account_and_sends_the_guide_to_stripe(client, stripe_mode, guide):
    client.force_login(guide.user)

    first = client.post(reverse("payments:onboarding_start"))
    second = client.post(reverse("payments:onboarding_start"))  # e.g. the guide came back and pressed it again

    account = GuidePaymentAccount.objects.get(guide=guide)
    assert (account.provider, account.is_ready) == ("stripe", False)
    assert first.status_code == second.status_code == 302
    assert first["Location"].startswith(f"{stripe_mode.url}/setup/e/{account.account_id}/")
    (created,) = stripe_mode.calls("POST", "/v1/accounts")
    assert created.params["type"] == "express"
    assert created.params["email"] == guide.user.email
    assert created.idempotency_key == f"guide:{guide.pk}:account:stripe"
    links = stripe_mode.calls("POST", "/v1/account_links")
    assert len(links) == 2
    assert links[0].params["return_url"] == "http://testserver/payments/onboarding/return/"
    assert links[0].params["refresh_url"] == "http://testserver/payments/onboarding/refresh/"
    assert links[0].idempotency_key != links[1].idempotency_key  # a link is single-use: a new one each time


def test_the_return_page_reads_the_account_back_from_stripe(client, stripe_mode, guide):
    client.force_login(guide.user)
    client.post(reverse("payments:onboarding_start"))
    account = GuidePaymentAccount.objects.get(guide=guide)
    stripe_mode.set_account(account.account_id, charges_enabled=True, payouts_enabled=False, details_submitted=True)

    response = client.get(reverse("payments:onboarding_return"), follow=True)

    assert "Your payout account is ready: paid bookings are open." in text(response)
    account.refresh_from_db()
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (True, False, True)
    assert "Payouts are paused until the payment service has checked your details." in text(response)


def test_an_expired_onboarding_link_is_replaced_by_a_new_one(client, stripe_mode, guide):
    client.force_login(guide.user)
    client.post(reverse("payments:onboarding_start"))

    response = client.get(reverse("payments:onboarding_refresh"))

    account = GuidePaymentAccount.objects.get(guide=guide)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{stripe_mode.url}/setup/e/{account.account_id}/")
    assert len(stripe_mode.calls("POST", "/v1/accounts")) == 1


def test_only_guides_can_connect_a_payout_account(client, customer):
    client.force_login(customer)

    assert client.post(reverse("payments:onboarding_start")).status_code == 403
    assert not GuidePaymentAccount.objects.exists()


def test_a_paid_tour_of_a_guide_without_a_ready_account_cannot_be_booked_but_a_free_one_can(client, guide, customer):
    paid = paid_slot(guide)
    free = SlotFactory(tour=TourFactory(guide=guide, price=0))
    client.force_login(customer)

    page = client.get(reverse("bookings:book_slot", kwargs={"slot_id": paid.pk}))
    refused = client.post(
        reverse("bookings:book_slot", kwargs={"slot_id": paid.pk}), {"seats": 1, "idempotency_key": "p" * 32}
    )
    booked = client.post(
        reverse("bookings:book_slot", kwargs={"slot_id": free.pk}), {"seats": 1, "idempotency_key": "f" * 32}
    )

    message = "Giulia Romano cannot receive payments yet, so paid bookings and tips are closed for now."
    assert page.status_code == 409
    assert message in text(page)
    assert '<form class="form booking-form"' not in page.content.decode()
    assert refused.status_code == 409
    assert message in text(refused)
    assert not Booking.objects.filter(slot=paid).exists()
    assert not Payment.objects.exists()
    assert booked.status_code == 302
    assert Booking.objects.get(slot=free).status == Booking.Status.CONFIRMED


def test_the_service_refuses_too_not_only_the_page(guide, customer):
    slot = paid_slot(guide)
    GuidePaymentAccount.objects.create(guide=guide, provider="test", account_id="acct_test_half", charges_enabled=False)

    with pytest.raises(reservations.SlotUnavailableError) as refused:
        reservations.book_seat(user=customer, slot_id=slot.pk, seats=1, idempotency_key="x")

    assert refused.value.code == "guide_not_ready"
    assert slot.booked_seats == 0


def test_test_mode_onboarding_is_a_labelled_page_that_enables_the_account_through_its_event(
    client, guide, django_capture_on_commit_callbacks
):
    client.force_login(guide.user)

    start = client.post(reverse("payments:onboarding_start"))
    account = GuidePaymentAccount.objects.get(guide=guide)
    page = client.get(start["Location"])
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(start["Location"])

    assert start["Location"] == reverse("payments:test_onboarding", kwargs={"account_id": account.account_id})
    assert "TEST MODE — no money moves." in text(page)
    assert done["Location"] == reverse("payments:onboarding_return")
    account.refresh_from_db()
    assert account.is_ready
    assert WebhookEvent.objects.get().type == "account.updated"
    dashboard = client.get(reverse("bookings:dashboard"))
    assert 'data-payout-status="ready"' in dashboard.content.decode()


def test_another_guide_cannot_complete_someone_elses_test_onboarding(client, guide):
    client.force_login(guide.user)
    start = client.post(reverse("payments:onboarding_start"))
    intruder = GuideProfileFactory()
    client.force_login(intruder.user)

    assert client.post(start["Location"]).status_code == 404
    assert not GuidePaymentAccount.objects.get(guide=guide).is_ready
