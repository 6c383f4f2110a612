"""ICS invitations: parsed back with icalendar and checked field by field, plus the raw RFC 5545 text."""

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bookings.ics import PRODID, build_invitation

START = datetime(2026, 3, 10, 13, tzinfo=UTC)
END = datetime(2026, 3, 10, 15, tzinfo=UTC)
DTSTAMP = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def invitation(**changes) -> bytes:
    arguments: dict[str, Any] = {
        "uid": "booking-42@italyfromcouch",
        "sequence": 0,
        "method": "REQUEST",
        "start_utc": START,
        "end_utc": END,
        "summary": "The Colosseum at dawn (Italy From Couch)",
        "description": "Live virtual tour with Giulia. https://italyfromcouch.test/bookings/42/",
        "location_url": "https://italyfromcouch.test/bookings/42/",
        "organizer_email": "tours@italyfromcouch.test",
        "organizer_name": "Italy From Couch",
        "attendee_email": "ann@example.com",
        "attendee_name": "Ann Lee",
        "status": "CONFIRMED",
        "dtstamp": DTSTAMP,
    }
    return build_invitation(**(arguments | changes))


def parse(raw: bytes):
    calendar = Calendar.from_ical(raw)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_a_request_carries_every_field_a_calendar_app_needs():
    calendar, event = parse(invitation())
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["PRODID"]) == PRODID
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(event["UID"]) == "booking-42@italyfromcouch"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTAMP") == DTSTAMP
    assert event.decoded("DTSTART") == START
    assert event.decoded("DTEND") == END
    assert str(event["SUMMARY"]) == "The Colosseum at dawn (Italy From Couch)"
    assert str(event["DESCRIPTION"]) == "Live virtual tour with Giulia. https://italyfromcouch.test/bookings/42/"
    assert str(event["LOCATION"]) == "https://italyfromcouch.test/bookings/42/"
    assert str(event["URL"]) == "https://italyfromcouch.test/bookings/42/"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "OPAQUE"
    assert event.walk("VALARM") == []


def test_organizer_and_attendee_are_mailto_addresses_and_the_seat_is_already_accepted():
    _calendar, event = parse(invitation())
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:tours@italyfromcouch.test"
    assert dict(organizer.params) == {"CN": "Italy From Couch"}
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:ann@example.com"
    assert dict(attendee.params) == {
        "CN": "Ann Lee",
        "CUTYPE": "INDIVIDUAL",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "ACCEPTED",
        "RSVP": "FALSE",
    }


def test_times_are_written_in_utc_with_z_whatever_zone_they_come_in():
    rome = ZoneInfo("Europe/Rome")
    raw = invitation(
        start_utc=datetime(2026, 3, 10, 14, tzinfo=rome),
        end_utc=datetime(2026, 3, 10, 16, tzinfo=rome),
        dtstamp=datetime(2026, 3, 1, 9, 30, tzinfo=rome),
    )
    lines = raw.decode().split("\r\n")
    assert "DTSTART:20260310T130000Z" in lines
    assert "DTEND:20260310T150000Z" in lines
    assert "DTSTAMP:20260301T083000Z" in lines
    assert b"TZID" not in raw
    assert b"VTIMEZONE" not in raw


def test_an_update_keeps_the_uid_and_raises_the_sequence():
    _calendar, first = parse(invitation(sequence=0))
    _calendar, moved = parse(
        invitation(sequence=1, start_utc=START + timedelta(days=1), end_utc=END + timedelta(days=1))
    )
    assert str(moved["UID"]) == str(first["UID"])
    assert int(moved["SEQUENCE"]) == int(first["SEQUENCE"]) + 1
    assert moved.decoded("DTSTART") == START + timedelta(days=1)


def test_a_cancellation_is_method_cancel_with_status_cancelled_and_no_alarm():
    calendar, event = parse(
        invitation(method="CANCEL", status="CANCELLED", sequence=2, alarm_before=timedelta(minutes=30))
    )
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["UID"]) == "booking-42@italyfromcouch"
    assert int(event["SEQUENCE"]) == 2
    assert str(event["ATTENDEE"]) == "mailto:ann@example.com"
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert event.walk("VALARM") == []


def test_publish_leaves_the_attendee_out_as_rfc_5546_requires():
    calendar, event = parse(invitation(method="PUBLISH", attendee_email=None, attendee_name=None))
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert "ATTENDEE" not in event
    assert str(event["ORGANIZER"]) == "mailto:tours@italyfromcouch.test"
    _calendar, with_attendee_given = parse(invitation(method="PUBLISH"))
    assert "ATTENDEE" not in with_attendee_given


def test_an_optional_alarm_goes_off_before_the_start():
    _calendar, event = parse(invitation(alarm_before=timedelta(minutes=30)))
    [alarm] = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    assert alarm.decoded("TRIGGER") == -timedelta(minutes=30)
    assert b"TRIGGER:-PT30M\r\n" in invitation(alarm_before=timedelta(minutes=30))


def test_an_attendee_without_a_name_gets_no_cn():
    _calendar, event = parse(invitation(attendee_name=""))
    assert "CN" not in event["ATTENDEE"].params


def test_the_text_is_crlf_terminated_and_folded_at_75_octets():
    description = "Un giro tra le rovine, con caffè e storie di gladiatori. " * 6
    raw = invitation(description=description)
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n")
    assert raw.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")
    physical_lines = raw.split(b"\r\n")[:-1]
    assert all(len(line) <= 75 for line in physical_lines)
    assert any(line.startswith(b" ") for line in physical_lines)  # the description was folded
    assert all(line.decode("utf-8") for line in physical_lines)  # never split inside a character
    unfolded = raw.replace(b"\r\n ", b"").decode("utf-8")
    assert f"DESCRIPTION:{description.replace(',', chr(92) + ',')}\r\n" in unfolded
    _calendar, event = parse(raw)
    assert str(event["DESCRIPTION"]) == description


def test_special_characters_are_escaped_and_cannot_inject_properties():
    summary = 'Tour; with, "quotes"\nand a line\r\nATTENDEE:mailto:intruder@example.com'
    raw = invitation(summary=summary, attendee_name='O\'Brien, "Ann"', organizer_name="Guida; Roma")
    _calendar, event = parse(raw)
    assert str(event["SUMMARY"]) == summary.replace("\r\n", "\n")  # TEXT has one line break: \n
    assert not isinstance(event["ATTENDEE"], list)  # still exactly one attendee
    assert event["ATTENDEE"].params["CN"] == 'O\'Brien, "Ann"'
    assert event["ORGANIZER"].params["CN"] == "Guida; Roma"
    assert b"\r\nATTENDEE:mailto:intruder" not in raw


def test_a_name_with_a_line_break_becomes_one_line():
    _calendar, event = parse(invitation(attendee_name="Ann\r\nLee"))
    assert event["ATTENDEE"].params["CN"] == "Ann Lee"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"method": "REPLY"}, "method must be one of"),
        ({"status": "TENTATIVE"}, "status must be one of"),
        ({"method": "CANCEL"}, "METHOD:CANCEL goes with STATUS:CANCELLED"),
        ({"status": "CANCELLED"}, "METHOD:CANCEL goes with STATUS:CANCELLED"),
        ({"uid": "booking 42"}, "uid must be"),
        ({"uid": ""}, "uid must be"),
        ({"sequence": -1}, "sequence"),
        ({"sequence": True}, "sequence"),
        ({"start_utc": datetime(2026, 3, 10, 13)}, "timezone-aware"),
        ({"dtstamp": datetime(2026, 3, 1)}, "timezone-aware"),
        ({"end_utc": START}, "after start_utc"),
        ({"attendee_email": None}, "needs the attendee"),
        ({"attendee_email": "ann@example.com\r\nX-EVIL:1"}, "not an e-mail address"),
        ({"organizer_email": 'tours"@italyfromcouch.test'}, "not an e-mail address"),
        ({"organizer_email": "not-an-address"}, "not an e-mail address"),
        ({"alarm_before": timedelta(0)}, "alarm_before must be positive"),
    ],
)
def test_inconsistent_invitations_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        invitation(**changes)
