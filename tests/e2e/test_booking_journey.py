"""A customer in New York finds a Rome tour on the calendar, books two seats, gets the invitation, cancels.

Through the live site (uvicorn) and Chromium: the page shows both clocks, the booking lands on the
confirmation with calendar links, the invitation e-mail is a row the server wrote, and cancelling
gives the seats back.
"""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bookings.models import Booking, Slot
from notifications.models import OutboundEmail
from tests.factories import GuidePaymentAccountFactory, SlotFactory, TourFactory, VerifiedUserFactory

pytestmark = pytest.mark.browser

NEW_YORK = ZoneInfo("America/New_York")
ROME = ZoneInfo("Europe/Rome")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def wall_time(instant: datetime, zone: ZoneInfo) -> str:
    """What the pages print (Django's "D j M Y, H:i" in English), independent of this process's locale."""
    local = instant.astimezone(zone)
    return f"{DAYS[local.weekday()]} {local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


def test_new_york_customer_books_two_seats_on_a_rome_tour_and_cancels(new_page):
    customer = VerifiedUserFactory(email="ny.customer@example.com", timezone="America/New_York")
    tour = TourFactory(title="Trastevere Food Crawl", city="Rome", timezone="Europe/Rome", price=Decimal("25.00"))
    GuidePaymentAccountFactory(guide=tour.guide)  # the guide takes payments (test mode)
    start = (timezone.now() + timedelta(days=4)).replace(minute=0, second=0, microsecond=0)
    slot = SlotFactory(tour=tour, start=start, capacity=6)
    page = new_page(user=customer, timezone_id="America/New_York")

    # From the calendar, as a customer would: the slot shows New York time with Rome's beside it.
    new_york_day = start.astimezone(NEW_YORK).date()
    page.goto(f"/calendar/?tour={tour.slug}&start={new_york_day}&end={new_york_day}")
    event = page.locator(f".fc [data-slot-id='{slot.pk}']")
    expect(event.locator(".slot-event__time")).to_have_text(f"{start.astimezone(NEW_YORK):%H:%M}")
    expect(event.locator(".slot-event__tour-time")).to_have_text(f"{start.astimezone(ROME):%H:%M} Rome")
    event.click()
    expect(page).to_have_url(re.compile(rf"/slots/{slot.pk}/book/$"))

    when = page.locator("[data-slot-time]")
    expect(when).to_contain_text(f"{wall_time(start, NEW_YORK)} (America/New_York)")
    expect(when).to_contain_text(f"Italian time: {wall_time(start, ROME)} (Europe/Rome)")
    expect(page.locator("[data-test-mode-notice]")).to_be_visible()
    page.get_by_label("Seats").select_option("2")
    page.get_by_role("button", name="Confirm booking").click()
    # A paid tour: the seats are held while the customer pays on the TEST MODE page.
    expect(page).to_have_url(re.compile(r"/payments/\d+/pay/$"))
    page.get_by_role("button", name="Pay 50.00 EUR (test)").click()

    expect(page).to_have_url(re.compile(r"/bookings/\d+/$"))
    booking = Booking.objects.get(user=customer)
    assert page.url.endswith(f"/bookings/{booking.pk}/")
    expect(page.get_by_text("Booked!")).to_be_visible()
    expect(page.locator("[data-slot-time]")).to_contain_text(f"{wall_time(start, NEW_YORK)} (America/New_York)")
    expect(page.locator("[data-seats]")).to_have_text("2")
    expect(page.locator("[data-paid]")).to_have_text("50.00 EUR")
    end = start + timedelta(minutes=tour.duration_minutes)
    start_iso, end_iso = (quote(f"{instant:%Y-%m-%dT%H:%M:%SZ}", safe="") for instant in (start, end))
    expect(page.get_by_role("link", name="Add to Google Calendar")).to_have_attribute(
        "href",
        re.compile(
            r"^https://calendar\.google\.com/calendar/render\?action=TEMPLATE&text=Trastevere%20Food%20Crawl"
            rf".*&dates={start:%Y%m%dT%H%M%SZ}%2F{end:%Y%m%dT%H%M%SZ}&"
        ),
    )
    expect(page.get_by_role("link", name="Add to Outlook")).to_have_attribute(
        "href",
        re.compile(
            r"^https://outlook\.live\.com/calendar/0/deeplink/compose\?.*"
            rf"&startdt={start_iso}&enddt={end_iso}&"
        ),
    )
    assert Slot.objects.get(pk=slot.pk).booked_seats == 2

    # The live server wrote the invitation e-mail into the shared test database.
    email = OutboundEmail.objects.get(user=customer)
    (attachment,) = email.attachments
    assert attachment["mimetype"] == "text/calendar; method=REQUEST"
    calendar = icalendar.Calendar.from_ical(base64.b64decode(attachment["content"]))
    assert calendar["METHOD"] == "REQUEST"
    assert str(calendar.walk("VEVENT")[0]["UID"]) == f"booking-{booking.pk}@italyfromcouch"

    page.get_by_role("link", name="Cancel this booking").click()
    expect(page.locator("[data-refund-quote]")).to_contain_text("If you cancel now you get 50.00 EUR back.")
    page.get_by_role("button", name="Cancel this booking").click()

    expect(page.get_by_text("Cancelled; refund 50.00 EUR")).to_be_visible()
    expect(page.locator("[data-cancelled-notice]")).to_contain_text("This booking is cancelled.")
    expect(page.locator("[data-booking-status]").first).to_have_text("Cancelled")
    assert Slot.objects.get(pk=slot.pk).booked_seats == 0
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CANCELLED
