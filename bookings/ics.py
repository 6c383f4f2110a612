"""iCalendar invitations for bookings (RFC 5545 objects, iTIP methods from RFC 5546). Pure: no I/O.

Calendar apps keep one entry per UID and replace it when a message with a higher SEQUENCE arrives,
so a booking's UID never changes and its SEQUENCE rises on every change (reschedule, cancel).
All times are written in UTC ("Z"), so no VTIMEZONE is needed and no client has to guess a zone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

__all__ = ["METHODS", "PRODID", "STATUSES", "build_invitation"]

PRODID = "-//Italy From Couch//Bookings//EN"
METHODS = frozenset({"REQUEST", "CANCEL", "PUBLISH"})
STATUSES = frozenset({"CONFIRMED", "CANCELLED"})
# Deliberately narrow: an address goes into a content line after "mailto:", so no spaces,
# quotes, colons or line breaks that could end the line or start a parameter.
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_UID = re.compile(r"[\x21-\x7e]{1,255}")


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _address(email: str, name: str | None, **params: str) -> vCalAddress:
    if not _EMAIL.fullmatch(email):
        raise ValueError(f"{email!r} is not an e-mail address usable in an invitation")
    address = vCalAddress(f"mailto:{email}")
    if name:
        # icalendar quotes the value and escapes quotes by RFC 6868; a line break has no place here.
        address.params["CN"] = vText(" ".join(name.split()))
    for key, value in params.items():
        address.params[key] = value
    return address


def build_invitation(
    *,
    uid: str,
    sequence: int,
    method: str,
    start_utc: datetime,
    end_utc: datetime,
    summary: str,
    description: str,
    location_url: str,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str | None,
    attendee_name: str | None,
    status: str,
    dtstamp: datetime,
    alarm_before: timedelta | None = None,
) -> bytes:
    """One VCALENDAR with one VEVENT, as bytes ready to attach (``text/calendar; method=...``).

    * ``uid``: stable per booking, e.g. ``"booking-42@italyfromcouch"``; ``sequence``: 0 for the
      first invitation, raised by the caller on every update or cancellation.
    * ``method``: ``"REQUEST"`` (new or changed booking), ``"CANCEL"`` (needs ``status="CANCELLED"``)
      or ``"PUBLISH"`` (a plain calendar download; RFC 5546 allows no ATTENDEE there, so the
      attendee is left out). REQUEST and CANCEL need ``attendee_email``.
    * ``status``: ``"CONFIRMED"`` or ``"CANCELLED"``; CANCELLED only with CANCEL, and CANCEL only
      with CANCELLED.
    * Times may be in any zone; they are written in UTC. ``dtstamp`` is when the message is made.
    * The attendee is written ``RSVP=FALSE;PARTSTAT=ACCEPTED``: the seat is booked, nothing to answer.
    * ``location_url`` goes into LOCATION and URL (the tour happens on the site).
    * ``alarm_before``: optionally a DISPLAY alarm that long before the start (not on CANCEL).

    Raises ``ValueError`` for inconsistent arguments. Text is escaped and lines are folded at 75
    octets with CRLF by icalendar.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {sorted(METHODS)}, got {method!r}")
    if status not in STATUSES:
        raise ValueError(f"status must be one of {sorted(STATUSES)}, got {status!r}")
    if (method == "CANCEL") != (status == "CANCELLED"):
        raise ValueError("METHOD:CANCEL goes with STATUS:CANCELLED, and only with it")
    if not _UID.fullmatch(uid):
        raise ValueError("uid must be 1-255 printable ASCII characters without spaces")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise ValueError("sequence is a whole number >= 0")
    start = _utc(start_utc, "start_utc")
    end = _utc(end_utc, "end_utc")
    if end <= start:
        raise ValueError("end_utc must be after start_utc")
    if method != "PUBLISH" and not attendee_email:
        raise ValueError(f"METHOD:{method} needs the attendee")
    if alarm_before is not None and alarm_before <= timedelta(0):
        raise ValueError("alarm_before must be positive")

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)

    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", _utc(dtstamp, "dtstamp"))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", summary)
    event.add("description", description)
    event.add("location", location_url)
    event.add("url", location_url)
    event.add("status", status)
    event.add("transp", "TRANSPARENT" if status == "CANCELLED" else "OPAQUE")
    event.add("organizer", _address(organizer_email, organizer_name))
    if method != "PUBLISH" and attendee_email:
        event.add(
            "attendee",
            _address(
                attendee_email,
                attendee_name,
                CUTYPE="INDIVIDUAL",
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="ACCEPTED",
                RSVP="FALSE",
            ),
        )
    if alarm_before is not None and method != "CANCEL":
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", summary)
        alarm.add("trigger", -alarm_before)
        event.add_component(alarm)
    calendar.add_component(event)
    return bytes(calendar.to_ical())
