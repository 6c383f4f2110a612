"""'Add to calendar' links for Google Calendar and Outlook. Pure: builds URLs, no I/O.

Both take UTC instants, so the calendar shows the event in the person's own zone without any zone
parameter. Values are percent-encoded with ``quote`` (spaces as %20, not "+": Outlook's compose page
shows a "+" literally).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlencode

__all__ = ["GOOGLE_BASE", "OUTLOOK_BASES", "google_calendar_url", "outlook_calendar_url"]

GOOGLE_BASE = "https://calendar.google.com/calendar/render"
OUTLOOK_BASES = {
    "personal": "https://outlook.live.com/calendar/0/deeplink/compose",
    "work": "https://outlook.office.com/calendar/0/deeplink/compose",
}


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _span(start_utc: datetime, end_utc: datetime) -> tuple[datetime, datetime]:
    start, end = _utc(start_utc, "start_utc"), _utc(end_utc, "end_utc")
    if end <= start:
        raise ValueError("end_utc must be after start_utc")
    return start, end


def google_calendar_url(*, title: str, start_utc: datetime, end_utc: datetime, details: str, location: str) -> str:
    """``https://calendar.google.com/calendar/render?action=TEMPLATE&text=...&dates=S/E&...``.

    ``dates`` is ``YYYYMMDDTHHMMSSZ/YYYYMMDDTHHMMSSZ`` in UTC (seconds dropped to whole seconds).
    """
    start, end = _span(start_utc, end_utc)
    query = {
        "action": "TEMPLATE",
        "text": title,
        "dates": f"{start:%Y%m%dT%H%M%SZ}/{end:%Y%m%dT%H%M%SZ}",
        "details": details,
        "location": location,
    }
    return f"{GOOGLE_BASE}?{urlencode(query, quote_via=quote)}"


def outlook_calendar_url(
    *,
    title: str,
    start_utc: datetime,
    end_utc: datetime,
    body: str,
    location: str,
    account: Literal["personal", "work"] = "personal",
) -> str:
    """Outlook's compose deeplink; ``account="work"`` targets Microsoft 365 (outlook.office.com).

    ``startdt``/``enddt`` are ISO 8601 in UTC with a ``Z`` (``2026-03-10T13:00:00Z``).
    """
    start, end = _span(start_utc, end_utc)
    query = {
        "path": "/calendar/action/compose",
        "rru": "addevent",
        "subject": title,
        "startdt": f"{start:%Y-%m-%dT%H:%M:%SZ}",
        "enddt": f"{end:%Y-%m-%dT%H:%M:%SZ}",
        "body": body,
        "location": location,
    }
    return f"{OUTLOOK_BASES[account]}?{urlencode(query, quote_via=quote)}"
