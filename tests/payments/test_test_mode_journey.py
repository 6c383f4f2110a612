"""The embedded default's whole paid journey with the TEST MODE provider, page by page.

Book a paid date -> the payment page, labelled TEST MODE -> Pay -> the test provider emits
``payment_intent.succeeded`` -> the same recording and Celery task as Stripe's webhook confirm the
booking (and send the confirmation) -> cancel inside the full-refund window -> the refund is sent
and shown. Transactional, so everything after commit happens as in production.
"""

from __future__ import annotations

import html
import re

import pytest
from django.urls import reverse

from bookings.models import Booking, Slot
from notifications.models import OutboundEmail
from payments.models import Payment, Refund, WebhookEvent
from payments.models import TestModeObject as StoredTestObject  # not a test class for pytest
from tests.factories import UserFactory
from tests.payments.conftest import paid_slot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]


def text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", response.content.decode())).split())


@pytest.fixture
def slot(test_mode_guide):
    return paid_slot(test_mode_guide, price="40.00", capacity=5, days_ahead=6)


def book(client, slot, *, seats=2, key="j" * 32):
    return client.post(
        reverse("bookings:book_slot", kwargs={"slot_id": slot.pk}), {"seats": seats, "idempotency_key": key}
    )


def test_book_pay_confirm_cancel_and_see_the_refund(client, customer, slot):
    client.force_login(customer)

    held = book(client, slot)
    booking = Booking.objects.get()
    payment = Payment.objects.get()
    assert held["Location"] == reverse("payments:pay", kwargs={"payment_id": payment.pk})
    pay_page = client.get(held["Location"])
    assert pay_page.status_code == 200
    assert "TEST MODE — no money moves." in text(pay_page)
    assert "Pay 80.00 EUR (test)" in text(pay_page)
    assert "js.stripe.com" not in pay_page["Content-Security-Policy"]
    assert booking.status == Booking.Status.PENDING_PAYMENT
    assert not OutboundEmail.objects.filter(idempotency_key=f"booking:{booking.pk}:confirmed").exists()

    paid = client.post(reverse("payments:test_pay", kwargs={"payment_id": payment.pk}), {"outcome": "pay"}, follow=True)

    assert paid.redirect_chain == [(booking.get_absolute_url(), 302)]
    assert "Paid (test mode). Booked!" in text(paid)
    booking.refresh_from_db()
    payment.refresh_from_db()
    assert (booking.status, payment.status) == (Booking.Status.CONFIRMED, Payment.Status.SUCCEEDED)
    event = WebhookEvent.objects.get()
    assert (event.type, event.provider, event.status) == ("payment_intent.succeeded", "test", "processed")
    assert event.payload["data"]["object"]["id"] == payment.provider_reference
    intent = StoredTestObject.objects.get(pk=payment.provider_reference).data
    assert intent["transfer_data"]["destination"] == slot.tour.guide.payment_account.account_id
    assert intent["application_fee_amount"] == 1200  # 15 % of 80.00 EUR
    assert OutboundEmail.objects.filter(idempotency_key=f"booking:{booking.pk}:confirmed").count() == 1
    assert "Paid 80.00 EUR" in text(paid)

    cancelled = client.post(reverse("bookings:cancel_booking", kwargs={"pk": booking.pk}), follow=True)

    page = text(cancelled)
    assert "Cancelled; refund 80.00 EUR" in page
    assert "This booking is cancelled. 80.00 EUR refunded." in page
    assert "Refunds 80.00 EUR: Refunded" in page
    refund = Refund.objects.get()
    assert (refund.status, refund.amount_minor, refund.fee_refunded_minor) == (Refund.Status.SUCCEEDED, 8000, 1200)
    assert StoredTestObject.objects.get(pk=refund.provider_reference).data["reverse_transfer"] is True
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0


def test_a_declined_test_card_releases_the_seats_and_the_customer_can_book_again(client, customer, slot):
    client.force_login(customer)
    book(client, slot)
    payment = Payment.objects.get()

    declined = client.post(
        reverse("payments:test_pay", kwargs={"payment_id": payment.pk}), {"outcome": "decline"}, follow=True
    )

    assert "The payment was declined (test mode); nothing was charged." in text(declined)
    assert "was not paid in time (or the payment failed), so its seats went back on sale" in text(declined)
    assert Booking.objects.get().status == Booking.Status.EXPIRED
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
    assert StoredTestObject.objects.get(pk=payment.provider_reference).data["status"] == "canceled"
    # Paying the released booking afterwards is refused; a fresh form books again.
    again = client.post(reverse("payments:test_pay", kwargs={"payment_id": payment.pk}), {"outcome": "pay"})
    assert again.status_code == 302
    assert Payment.objects.get(pk=payment.pk).status == Payment.Status.FAILED
    book(client, slot, key="k" * 32)
    assert Booking.objects.filter(status=Booking.Status.PENDING_PAYMENT).count() == 1


def test_cancelling_an_unpaid_hold_charges_nothing_and_refunds_nothing(client, customer, slot):
    client.force_login(customer)
    book(client, slot)
    booking = Booking.objects.get()

    page = client.get(reverse("bookings:booking_detail", kwargs={"pk": booking.pk}))
    cancelled = client.post(reverse("bookings:cancel_booking", kwargs={"pk": booking.pk}), follow=True)

    assert "Your seats are held until" in text(page)
    assert "Pay now" in text(page)
    assert "Cancelled; nothing was charged." in text(cancelled)
    assert Payment.objects.get().status == Payment.Status.CANCELLED
    assert not Refund.objects.exists()
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0


def test_nobody_else_can_see_or_pay_someone_elses_payment(client, customer, slot):
    client.force_login(customer)
    book(client, slot)
    payment = Payment.objects.get()
    client.force_login(UserFactory())

    assert client.get(reverse("payments:pay", kwargs={"payment_id": payment.pk})).status_code == 404
    assert client.post(reverse("payments:test_pay", kwargs={"payment_id": payment.pk})).status_code == 404
    assert Payment.objects.get().status == Payment.Status.PENDING


def test_the_stripe_pay_page_loads_the_payment_element_and_allows_stripe_in_its_csp_only(
    client, customer, stripe_mode, guide
):
    from tests.payments.conftest import connect_at_stripe

    connect_at_stripe(stripe_mode, guide)
    stripe_slot = paid_slot(guide)
    client.force_login(customer)
    held = book(client, stripe_slot, seats=1)
    payment = Payment.objects.get()

    page = client.get(held["Location"])

    body = page.content.decode()
    assert "TEST MODE — no money moves." not in text(page)
    assert f'data-client-secret="{payment.client_secret}"' in body
    assert 'data-publishable-key="pk_test_local_server"' in body
    assert '<script src="https://js.stripe.com/v3/"></script>' in body
    csp = page["Content-Security-Policy"]
    assert "script-src 'self' https://js.stripe.com" in csp
    assert "frame-src https://js.stripe.com https://hooks.stripe.com" in csp
    assert "js.stripe.com" not in client.get(reverse("bookings:my_bookings"))["Content-Security-Policy"]
    # No test-mode shortcut with the real provider.
    assert client.post(reverse("payments:test_pay", kwargs={"payment_id": payment.pk})).status_code == 404
