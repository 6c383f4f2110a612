"""The calendar page (bookings:calendar) and the schedule partial a tour's page includes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, UserFactory
from tests.frontend.html import parse
from tests.frontend.test_security import inline_code

pytestmark = pytest.mark.django_db

CALENDAR = reverse("bookings:calendar")


def _slot(*, start, tour=None, capacity=10, booked=0):
    tour = tour or TourFactory()
    return SlotFactory(tour=tour, start=start, end=start + timedelta(hours=1), capacity=capacity, booked_seats=booked)


def _get(client, params=None):
    response = client.get(CALENDAR, params or {})
    assert response.status_code == 200
    return parse(response.content)


def _noscript_rows(document):
    noscript = document.find("noscript")
    return [row for row in noscript.find_all("tr") if row.find_all("td")]


def test_page_mounts_the_calendar_on_the_feed_with_its_own_script_and_stylesheet(client):
    document = _get(client)

    widget = document.find("div", data_slot_calendar="")
    assert widget.attrs["data-feed-url"] == reverse("bookings:slot_feed")
    assert widget.attrs["data-tour"] == ""
    assert document.find("script", src="/static/build/calendar.js").attrs["type"] == "module"
    assert document.find("link", href="/static/css/calendar.css").attrs["rel"] == "stylesheet"
    assert inline_code(document) == []


def test_legend_names_each_state_in_words_not_only_colours(client):
    legend = _get(client).find("ul", class_="slot-legend")

    items = legend.find_all("li")
    assert [item.text for item in items] == ["Available", "Few seats left", "Full", "Booked by you"]
    marks = [item.find("span").attrs["class"] for item in items]
    assert marks == [f"slot-mark slot-mark--{state}" for state in ("available", "few_left", "full", "booked")]


def test_filters_offer_tour_types_guides_and_a_date_range_with_the_feeds_parameter_names(client):
    guide = GuideProfileFactory(display_name="Anna Verdi")
    TourFactory(guide=guide)
    GuideProfileFactory(display_name="Without Tours")

    form = _get(client).find("form", data_calendar_filters="")

    assert form.attrs["method"] == "get"
    category = form.find("select", name="category")
    assert [option.attrs["value"] for option in category.find_all("option")][:3] == ["", "museum", "food"]
    guides = form.find("select", name="guide")
    assert [(option.attrs["value"], option.text) for option in guides.find_all("option")] == [
        ("", "Any guide"),
        (guide.slug, "Anna Verdi"),
    ]
    assert form.find("input", name="start").attrs["type"] == "date"
    assert form.find("input", name="end").attrs["type"] == "date"
    assert form.find("input", name="tour").attrs["type"] == "hidden"


def test_without_javascript_the_page_lists_the_dates_in_the_visitors_zone_with_italian_time(client):
    visitor = UserFactory(timezone="America/New_York")
    client.force_login(visitor)
    start = datetime(2099, 12, 2, 9, 0, tzinfo=UTC)  # 10:00 in Rome, 04:00 in New York
    slot = _slot(start=start, tour=TourFactory(title="Vatican gardens"))

    rows = _noscript_rows(_get(client, {"start": "2099-12-01", "end": "2099-12-03"}))

    assert len(rows) == 1
    cells = rows[0].find_all("td")
    assert cells[0].find("time").attrs["datetime"] == "2099-12-02T09:00:00+00:00"
    assert cells[0].text == "Wed 2 Dec 2099, 04:00"
    assert cells[1].text == "10:00 Europe/Rome"
    assert cells[2].text == "Vatican gardens"
    assert cells[5].find("a").attrs["href"] == f"/slots/{slot.pk}/book/"


def test_noscript_list_follows_the_filters_and_the_visitors_days(client):
    visitor = UserFactory(timezone="America/New_York")
    client.force_login(visitor)
    art = TourFactory(category="art")
    # 03:00 UTC on the 3rd is still the 2nd in New York.
    evening_of_the_second = _slot(start=datetime(2099, 12, 3, 3, 0, tzinfo=UTC), tour=art)
    _slot(start=datetime(2099, 12, 3, 6, 0, tzinfo=UTC), tour=art)  # the 3rd in New York
    _slot(start=datetime(2099, 12, 2, 12, 0, tzinfo=UTC), tour=TourFactory(category="food"))

    rows = _noscript_rows(_get(client, {"category": "art", "start": "2099-12-02", "end": "2099-12-02"}))

    assert [row.find("time").attrs["datetime"] for row in rows] == [
        evening_of_the_second.start.isoformat(),
    ]


def test_full_slot_is_listed_as_full_without_a_booking_link(client):
    _slot(start=datetime(2099, 5, 5, 8, 0, tzinfo=UTC), capacity=4, booked=4)

    (row,) = _noscript_rows(_get(client, {"start": "2099-05-05", "end": "2099-05-05"}))

    cells = row.find_all("td")
    assert cells[4].text == "Full"
    assert cells[5].find_all("a") == []


def test_a_tour_filter_names_the_tour_and_keeps_it_in_the_form(client):
    tour = TourFactory(title="Boboli gardens")

    document = _get(client, {"tour": tour.slug})

    assert document.find("h1").text == "Dates for Boboli gardens"
    assert document.find("input", name="tour").attrs["value"] == tour.slug


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"start": "2099-03-10", "end": "2099-03-01"}, "The last day must not be before the first."),
        ({"start": "2099-01-01", "end": "2099-04-11"}, "Choose at most 100 days."),
        ({"start": "someday"}, "Enter a valid date."),
        ({"category": "opera"}, "Select a valid choice."),
        ({"start": "9999-12-30", "end": "9999-12-31"}, "Choose an earlier date."),
        ({"end": "9999-12-31"}, "Choose an earlier date."),
    ],
)
def test_bad_filters_show_a_form_error_and_an_empty_list_not_a_crash(client, params, error):
    _slot(start=datetime(2099, 3, 5, 8, 0, tzinfo=UTC))

    document = _get(client, params)

    assert error in document.find("form", data_calendar_filters="").text
    assert _noscript_rows(document) == []


def test_exactly_100_days_is_a_valid_range(client):
    slot = _slot(start=datetime(2099, 4, 10, 12, 0, tzinfo=UTC))

    document = _get(client, {"start": "2099-01-01", "end": "2099-04-10"})

    assert "Choose at most" not in document.find("form", data_calendar_filters="").text
    assert [row.find("time").attrs["datetime"] for row in _noscript_rows(document)] == [slot.start.isoformat()]


def test_schedule_partial_on_a_tour_page_reads_the_feed_for_that_tour_only():
    tour = TourFactory(title="Trastevere food walk")
    request = RequestFactory().get(tour.get_absolute_url())

    document = parse(render_to_string("bookings/_schedule.html", {"tour": tour}, request=request))

    widget = document.find("div", data_slot_calendar="")
    assert widget.attrs["data-feed-url"] == "/api/slots/"
    assert widget.attrs["data-tour"] == tour.slug
    assert document.find("noscript").find("a").attrs["href"] == f"/calendar/?tour={tour.slug}"
    assert document.find("script", src="/static/build/calendar.js").attrs["type"] == "module"
    assert inline_code(document) == []
