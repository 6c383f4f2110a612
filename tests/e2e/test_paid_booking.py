"""A customer books and pays a paid tour in TEST MODE, cancels inside the full-refund window, sees the refund.

Through the live site (uvicorn) and Chromium against the test-mode provider: the pay page says TEST
MODE, "Pay" makes the test provider emit payment_intent.succeeded, which the server records and
processes like Stripe's webhook (confirming the booking), and the cancellation's refund is sent
and shown on the booking page.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bookings.models import Booking, Slot
from payments.models import Payment, Refund, WebhookEvent
from tests.factories import GuidePaymentAccountFactory, SlotFactory, TourFactory, VerifiedUserFactory

pytestmark = pytest.mark.browser


def test_book_and_pay_in_test_mode_then_cancel_inside_the_full_refund_window_and_see_the_refund(new_page):
    customer = VerifiedUserFactory(email="paying.customer@example.com", timezone="Europe/Rome")
    tour = TourFactory(title="Vatican Museums at Dawn", city="Rome", price=Decimal("35.00"))
    GuidePaymentAccountFactory(guide=tour.guide)
    start = (timezone.now() + timedelta(days=6)).replace(minute=0, second=0, microsecond=0)
    slot = SlotFactory(tour=tour, start=start, capacity=4)
    page = new_page(user=customer, timezone_id="Europe/Rome")

    page.goto(f"/slots/{slot.pk}/book/")
    page.get_by_label("Seats").select_option("2")
    page.get_by_role("button", name="Confirm booking").click()

    # The seats are held; the payment page says plainly that no money moves.
    expect(page).to_have_url(re.compile(r"/payments/\d+/pay/$"))
    expect(page.locator("[data-pay-page] [data-test-mode-notice]")).to_contain_text("TEST MODE — no money moves.")
    expect(page.locator("[data-pay-page] h1")).to_have_text("Pay to confirm")
    expect(page.locator("[data-amount]")).to_have_text("70.00 EUR")
    expect(page.get_by_text("Your seats are held for 10 minutes: pay now to confirm the booking.")).to_be_visible()
    booking = Booking.objects.get(user=customer)
    assert booking.status == Booking.Status.PENDING_PAYMENT
    assert Slot.objects.get(pk=slot.pk).booked_seats == 2

    page.get_by_role("button", name="Pay 70.00 EUR (test)").click()

    expect(page).to_have_url(re.compile(rf"/bookings/{booking.pk}/$"))
    expect(page.get_by_text("Paid (test mode). Booked!")).to_be_visible()
    expect(page.locator("[data-booking-status]").first).to_have_text("Confirmed")
    expect(page.locator("[data-paid]")).to_have_text("70.00 EUR")
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CONFIRMED
    assert WebhookEvent.objects.get().type == "payment_intent.succeeded"
    assert Payment.objects.get(booking=booking).status == Payment.Status.SUCCEEDED

    # Six days ahead: inside the full-refund window (48 h or more before the start).
    page.get_by_role("link", name="Cancel this booking").click()
    expect(page.locator("[data-refund-quote]")).to_contain_text("If you cancel now you get 70.00 EUR back.")
    page.get_by_role("button", name="Cancel this booking").click()

    expect(page.get_by_text("Cancelled; refund 70.00 EUR")).to_be_visible()
    expect(page.locator("[data-cancelled-notice]")).to_contain_text("This booking is cancelled. 70.00 EUR refunded.")
    expect(page.locator("[data-refunded]")).to_have_text("70.00 EUR")
    expect(page.locator("[data-refunds] [data-refund-status='succeeded']")).to_have_text("70.00 EUR: Refunded")
    refund = Refund.objects.get()
    assert (refund.status, refund.amount_minor, refund.fee_refunded_minor) == (Refund.Status.SUCCEEDED, 7000, 1050)
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
