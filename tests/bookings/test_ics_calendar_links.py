"""'Add to calendar' links: checked by parsing the URL back, never by comparing strings."""

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bookings.calendar_links import google_calendar_url, outlook_calendar_url

START = datetime(2026, 3, 10, 13, tzinfo=UTC)
END = datetime(2026, 3, 10, 15, tzinfo=UTC)
TITLE = "Caffè & gladiators: C++ fans welcome? 100% #Roma"
DETAILS = "Line one\nLine two = more/less; see https://italyfromcouch.test/bookings/42/?a=1&b=2"
LOCATION = "https://italyfromcouch.test/bookings/42/"


def query(url: str) -> dict[str, str]:
    parsed = parse_qs(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in parsed.values())
    return {key: values[0] for key, values in parsed.items()}


def base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def test_google_link_has_the_template_fields_with_utc_dates():
    url = google_calendar_url(title=TITLE, start_utc=START, end_utc=END, details=DETAILS, location=LOCATION)
    assert base(url) == "https://calendar.google.com/calendar/render"
    assert query(url) == {
        "action": "TEMPLATE",
        "text": TITLE,
        "dates": "20260310T130000Z/20260310T150000Z",
        "details": DETAILS,
        "location": LOCATION,
    }


def test_outlook_link_has_the_compose_fields_with_iso_utc_times():
    url = outlook_calendar_url(title=TITLE, start_utc=START, end_utc=END, body=DETAILS, location=LOCATION)
    assert base(url) == "https://outlook.live.com/calendar/0/deeplink/compose"
    assert query(url) == {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": TITLE,
        "startdt": "2026-03-10T13:00:00Z",
        "enddt": "2026-03-10T15:00:00Z",
        "body": DETAILS,
        "location": LOCATION,
    }


def test_outlook_work_accounts_use_office_com():
    url = outlook_calendar_url(
        title=TITLE, start_utc=START, end_utc=END, body=DETAILS, location=LOCATION, account="work"
    )
    assert base(url) == "https://outlook.office.com/calendar/0/deeplink/compose"


def test_spaces_are_percent_encoded_so_a_plus_sign_stays_a_plus_sign():
    url = google_calendar_url(title="C++ tour", start_utc=START, end_utc=END, details="", location="")
    assert "text=C%2B%2B%20tour" in url
    assert query(url)["text"] == "C++ tour"


def test_times_in_any_zone_are_written_in_utc():
    rome = ZoneInfo("Europe/Rome")
    start, end = datetime(2026, 7, 1, 10, tzinfo=rome), datetime(2026, 7, 1, 12, tzinfo=rome)
    google = google_calendar_url(title="t", start_utc=start, end_utc=end, details="", location="")
    outlook = outlook_calendar_url(title="t", start_utc=start, end_utc=end, body="", location="")
    assert query(google)["dates"] == "20260701T080000Z/20260701T100000Z"
    assert (query(outlook)["startdt"], query(outlook)["enddt"]) == ("2026-07-01T08:00:00Z", "2026-07-01T10:00:00Z")


@pytest.mark.parametrize("build", [google_calendar_url, outlook_calendar_url])
def test_naive_or_inverted_times_are_refused(build):
    text = {"details": ""} if build is google_calendar_url else {"body": ""}
    with pytest.raises(ValueError, match="timezone-aware"):
        build(title="t", start_utc=datetime(2026, 3, 10, 13), end_utc=END, location="", **text)
    with pytest.raises(ValueError, match="after start_utc"):
        build(title="t", start_utc=END, end_utc=START, location="", **text)


@settings(max_examples=200, deadline=None, database=None)
@given(st.text(), st.text(), st.text())
def test_any_text_survives_the_round_trip_through_the_url(title, details, location):
    google = query(google_calendar_url(title=title, start_utc=START, end_utc=END, details=details, location=location))
    outlook = query(outlook_calendar_url(title=title, start_utc=START, end_utc=END, body=details, location=location))
    expected = [title, details, location]  # st.text() gives no lone surrogates: all of it is valid UTF-8
    assert [google["text"], google["details"], google["location"]] == expected
    assert [outlook["subject"], outlook["body"], outlook["location"]] == expected
