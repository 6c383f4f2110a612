"""The booking calendar in Chromium: times in the viewer's zone with the Italian time beside them,
FullCalendar's three views under the strict CSP, slot states, filters and the zone switcher.

The live server runs in another process and cannot be time-travelled: slots are created relative
to now, and the times expected are worked out with zoneinfo. Any CSP violation or console error
fails a test (tests/e2e/fixtures.py).
"""

import re
import uuid
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from bookings.models import Booking, Slot
from tests.factories import SlotFactory, TourFactory, UserFactory

pytestmark = pytest.mark.browser

ROME = ZoneInfo("Europe/Rome")
NEW_YORK = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")
TOKYO = ZoneInfo("Asia/Tokyo")
PHONE = {"width": 390, "height": 844}


def _rome_slot(day: date, *, hour=10, capacity=10, booked=0, **tour_fields):
    start = datetime(day.year, day.month, day.day, hour, 0, tzinfo=ROME)
    tour = TourFactory(timezone="Europe/Rome", **tour_fields)
    return SlotFactory(
        tour=tour, start=start, end=start + timedelta(minutes=90), capacity=capacity, booked_seats=booked
    )


def _rome_day(days_ahead: int) -> date:
    return (timezone.now().astimezone(ROME) + timedelta(days=days_ahead)).date()


def _clock(slot, zone):
    return slot.start.astimezone(zone).strftime("%H:%M")


def _calendar_url(first: date, last: date | None = None, **filters) -> str:
    query = "&".join(f"{name}={value}" for name, value in {**filters, "start": first, "end": last or first}.items())
    return f"/calendar/?{query}"


def _event(page, slot):
    return page.locator(f".fc [data-slot-id='{slot.pk}']")


def _sundays(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    first_sunday = first + timedelta(days=(6 - first.weekday()) % 7)
    return [day for day in (first_sunday + timedelta(weeks=n) for n in range(5)) if day.month == month]


def test_new_york_viewer_sees_new_york_time_with_rome_time_beside_it_in_every_view(new_page):
    slot = _rome_slot(_rome_day(10), title="Colosseum at dawn")
    new_york_day = slot.start.astimezone(NEW_YORK).date()
    expected = _clock(slot, NEW_YORK)  # 10:00 in Rome: 04:00 (or 05:00 in March's odd weeks)
    assert expected != "10:00"
    page = new_page(timezone_id="America/New_York")

    page.goto(_calendar_url(new_york_day))

    event = _event(page, slot)
    expect(event.locator(".slot-event__time")).to_have_text(expected)
    expect(event.locator(".slot-event__tour-time")).to_have_text("10:00 Rome")
    expect(event).to_contain_text("Colosseum at dawn")
    assert event.get_attribute("href") == f"/slots/{slot.pk}/book/"
    assert page.locator(".fc-dayGridMonth-view").count() == 1

    page.get_by_role("button", name="Week").click()
    expect(page.locator(".fc-timeGridWeek-view")).to_be_visible()
    expect(_event(page, slot).locator(".slot-event__time")).to_have_text(expected)
    expect(_event(page, slot).locator(".slot-event__tour-time")).to_have_text("10:00 Rome")

    page.get_by_role("button", name="List").click()
    row = _event(page, slot)
    expect(row.locator(".fc-list-event-time")).to_contain_text(expected)
    expect(row.locator(".slot-event__tour-time")).to_have_text("10:00 Rome")
    expect(row.get_by_role("link")).to_have_attribute("href", f"/slots/{slot.pk}/book/")


def test_fullcalendar_styles_apply_without_a_style_element_under_the_csp(new_page):
    slot = _rome_slot(_rome_day(4))
    page = new_page(timezone_id="Europe/Rome")

    response = page.goto(_calendar_url(_rome_day(4)))

    assert "style-src 'self'" in response.headers["content-security-policy"]
    event = _event(page, slot)
    expect(event).to_be_visible()
    styles = page.evaluate(
        """(selector) => ({
            styleElements: [...document.querySelectorAll('style')].filter((el) => el instanceof HTMLStyleElement)
                .length,
            layers: [...document.adoptedStyleSheets].map((sheet) => sheet.cssRules[0].name),
            calendar: getComputedStyle(document.querySelector('.fc')).display,
            toolbar: getComputedStyle(document.querySelector('.fc-toolbar')).justifyContent,
            event: getComputedStyle(document.querySelector(selector)).backgroundColor,
            fonts: [...document.fonts].map((font) => font.family),
        })""",
        f"[data-slot-id='{slot.pk}']",
    )
    assert styles["styleElements"] == 0
    assert styles["layers"] == ["fullcalendar"]
    assert styles["calendar"] == "flex"  # FullCalendar's own rule: .fc{display:flex}
    assert styles["toolbar"] == "space-between"
    assert styles["event"] == "rgb(78, 95, 35)"  # calendar.css: available = olive
    assert "fcicons" not in " ".join(styles["fonts"])  # its data: font would break font-src 'self'
    # A viewer in Italy sees the time once, not "10:00 · 10:00 Rome".
    expect(event.locator(".slot-event__time")).to_have_text("10:00")
    expect(event.locator(".slot-event__tour-time")).to_have_count(0)


def test_kathmandu_viewer_on_a_phone_gets_the_list_with_quarter_to_times(new_page):
    slot = _rome_slot(_rome_day(6), title="Uffizi highlights")
    expected = _clock(slot, KATHMANDU)  # 14:45 in winter, 13:45 in summer
    assert expected.endswith(":45")
    page = new_page(timezone_id="Asia/Kathmandu", viewport=PHONE)

    page.goto(_calendar_url(slot.start.astimezone(KATHMANDU).date()))

    expect(page.locator(".fc-listMonth-view")).to_be_visible()
    row = _event(page, slot)
    expect(row.locator(".fc-list-event-time")).to_contain_text(expected)
    expect(row.locator(".slot-event__tour-time")).to_have_text("10:00 Rome")
    expect(row).to_contain_text("Uffizi highlights")
    # Nothing wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_weeks_when_new_york_and_rome_are_five_hours_apart_show_in_new_york_time(new_page):
    today = timezone.now().astimezone(ROME).date()
    year = today.year if today < date(today.year, 3, 1) else today.year + 1
    new_york_change = _sundays(year, 3)[1]  # clocks go forward on the second Sunday of March
    rome_change = _sundays(year, 3)[-1]  # and on the last Sunday in Europe
    before = _rome_slot(new_york_change - timedelta(days=3))
    between = _rome_slot(new_york_change + timedelta(days=3))
    after = _rome_slot(rome_change + timedelta(days=2))
    page = new_page(timezone_id="America/New_York")

    page.goto(_calendar_url(before.start.date(), after.start.date()))

    expected = {before: "04:00", between: "05:00", after: "04:00"}
    for slot, new_york_time in expected.items():
        assert _clock(slot, NEW_YORK) == new_york_time  # the test's own arithmetic
        expect(_event(page, slot).locator(".slot-event__time")).to_have_text(new_york_time)
        expect(_event(page, slot).locator(".slot-event__tour-time")).to_have_text("10:00 Rome")


def test_zone_switcher_changes_the_times_and_is_remembered_on_this_device(new_page):
    slot = _rome_slot(_rome_day(8))
    page = new_page(timezone_id="America/New_York")
    page.goto(_calendar_url(slot.start.astimezone(NEW_YORK).date(), slot.start.astimezone(TOKYO).date()))
    expect(_event(page, slot).locator(".slot-event__time")).to_have_text(_clock(slot, NEW_YORK))
    switcher = page.get_by_label("Show times in")
    expect(switcher).to_have_value("")
    expect(switcher.locator("option").first).to_have_text("Your browser\u2019s time zone (America/New_York)")

    switcher.select_option("Asia/Tokyo")

    expect(_event(page, slot).locator(".slot-event__time")).to_have_text(_clock(slot, TOKYO))
    page.reload()
    expect(page.get_by_label("Show times in")).to_have_value("Asia/Tokyo")
    expect(_event(page, slot).locator(".slot-event__time")).to_have_text(_clock(slot, TOKYO))

    page.get_by_label("Show times in").select_option("")

    expect(_event(page, slot).locator(".slot-event__time")).to_have_text(_clock(slot, NEW_YORK))
    assert page.evaluate("localStorage.getItem('italycouch:calendar-zone')") is None


def test_slot_states_are_told_by_colour_and_words_and_full_slots_are_not_links(new_page):
    customer = UserFactory()
    day = _rome_day(5)
    available = _rome_slot(day, hour=9, capacity=10, booked=2)
    few_left = _rome_slot(day, hour=11, capacity=10, booked=8)
    full = _rome_slot(day, hour=13, capacity=4, booked=4)
    mine = _rome_slot(day, hour=15, capacity=10, booked=1)
    Booking.objects.create(user=customer, slot=mine, seats=1, idempotency_key=uuid.uuid4().hex)
    page = new_page(user=customer, timezone_id="Europe/Rome")

    page.goto(_calendar_url(day))

    for slot, state, words in [
        (available, "available", "Available"),
        (few_left, "few_left", "Few seats left"),
        (full, "full", "Full"),
        (mine, "booked", "Booked by you"),
    ]:
        event = _event(page, slot)
        expect(event).to_have_class(re.compile(rf"\bslot-event--{state}\b"))
        expect(event.locator(".slot-event__state")).to_have_text(words)
        expect(event.locator(f".slot-mark--{state}")).to_have_count(1)
    # "Available" is read out but not printed; the others are printed.
    expect(_event(page, available).locator(".slot-event__state")).to_have_class("slot-event__state visually-hidden")
    expect(_event(page, full).locator(".slot-event__state")).to_be_visible()
    assert _event(page, full).get_attribute("href") is None
    assert _event(page, mine).get_attribute("href") == f"/slots/{mine.pk}/book/"
    assert "Seats left: 2" in (_event(page, few_left).get_attribute("title") or "")


def test_filters_narrow_the_calendar_in_place_and_the_address_keeps_them(new_page):
    day = _rome_day(7)
    art = _rome_slot(day, hour=9, category="art", title="Caravaggio in Rome")
    food = _rome_slot(day, hour=12, category="food", title="Carbonara class")
    page = new_page(timezone_id="Europe/Rome")
    page.goto(_calendar_url(day))
    expect(_event(page, food)).to_be_visible()
    page.evaluate("window.__samePage = true")

    page.get_by_label("Tour type").select_option("art")

    expect(_event(page, food)).to_have_count(0)
    expect(_event(page, art)).to_be_visible()
    assert page.evaluate("window.__samePage") is True  # no reload
    assert "category=art" in page.url
    page.reload()
    expect(page.get_by_label("Tour type")).to_have_value("art")
    expect(_event(page, art)).to_be_visible()
    expect(_event(page, food)).to_have_count(0)


def test_a_tour_filtered_calendar_shows_only_that_tour(new_page):
    day = _rome_day(9)
    wanted = _rome_slot(day, hour=9)
    other = _rome_slot(day, hour=12)
    page = new_page(timezone_id="Europe/Rome")

    page.goto(_calendar_url(day, tour=wanted.tour.slug))

    expect(_event(page, wanted)).to_be_visible()
    expect(_event(page, other)).to_have_count(0)
    expect(page.locator("[data-calendar-status]")).to_have_text("Dates loaded.")


def test_an_empty_period_says_so_in_the_status_line(new_page):
    page = new_page(timezone_id="Europe/Rome")

    page.goto(_calendar_url(_rome_day(3)))

    expect(page.locator("[data-calendar-status]")).to_have_text("No dates in this period.")


def test_toolbar_buttons_have_names_and_move_between_months(new_page):
    page = new_page(timezone_id="Europe/Rome")
    page.goto("/calendar/")
    title = page.locator(".fc-toolbar-title")
    this_month = title.inner_text()

    page.get_by_role("button", name="Next").click()

    expect(title).not_to_have_text(this_month)
    page.get_by_role("button", name="Previous").click()
    expect(title).to_have_text(this_month)
    expect(page.get_by_role("button", name="Today")).to_be_disabled()  # today is in view


def test_italian_pages_get_the_calendar_in_italian_with_monday_first(new_page):
    page = new_page(timezone_id="Europe/Rome", locale="it-IT")

    page.goto("/calendar/")

    assert page.get_attribute("html", "lang") == "it"
    expect(page.locator(".fc-col-header-cell").first).to_have_text(re.compile(r"^lun", re.IGNORECASE))
    month = timezone.now().astimezone(ROME).month
    italian_months = "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre dicembre"
    expect(page.locator(".fc-toolbar-title")).to_contain_text(italian_months.split()[month - 1])


def test_coming_back_after_booking_shows_the_slot_as_yours_despite_the_feeds_cache(new_page):
    customer = UserFactory()
    slot = _rome_slot(_rome_day(6), capacity=10, booked=0)
    page = new_page(user=customer, timezone_id="Europe/Rome")
    url = _calendar_url(_rome_day(6))
    page.goto(url)
    expect(_event(page, slot)).to_have_class(re.compile(r"\bslot-event--available\b"))

    # Booked elsewhere (another tab, the booking page) within the feed's 30 s max-age.
    Booking.objects.create(user=customer, slot=slot, seats=1, idempotency_key=uuid.uuid4().hex)
    Slot.objects.filter(pk=slot.pk).update(booked_seats=1)
    page.goto("/")
    page.goto(url)

    expect(_event(page, slot)).to_have_class(re.compile(r"\bslot-event--booked\b"))
    expect(_event(page, slot).locator(".slot-event__state")).to_have_text("Booked by you")


def test_show_dates_applies_a_new_type_and_new_days_together(new_page):
    art_day, food_day = _rome_day(5), _rome_day(6)
    art = _rome_slot(art_day, hour=9, category="art")
    food = _rome_slot(food_day, hour=9, category="food")
    other_food = _rome_slot(art_day, hour=15, category="food")
    art_on_food_day = _rome_slot(food_day, hour=12, category="art")
    page = new_page(timezone_id="Europe/Rome")
    page.goto(_calendar_url(art_day, food_day))
    expect(_event(page, art)).to_be_visible()
    expect(_event(page, food)).to_be_visible()
    expect(_event(page, art_on_food_day)).to_be_visible()

    # Values set without "change" events (as autofill may), then the button.
    page.evaluate(
        """([day]) => {
            const form = document.querySelector('form[data-calendar-filters]');
            form.elements.category.value = 'food';
            form.elements.start.value = day;
            form.elements.end.value = day;
        }""",
        [str(food_day)],
    )
    page.get_by_role("button", name="Show dates").click()

    expect(_event(page, food)).to_be_visible()
    expect(_event(page, art)).to_have_count(0)
    expect(_event(page, art_on_food_day)).to_have_count(0)  # already loaded, but not food
    expect(_event(page, other_food)).to_have_count(0)  # the day before the range now
    assert f"start={food_day}" in page.url
    assert "category=food" in page.url
