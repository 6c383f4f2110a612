"""Tip rules as plain functions (no I/O): who may tip when, which amounts, what a message may hold.

Amounts are integers in minor units; tours' currencies have two decimals (as bookings assume).
The limits come from settings (TIP_MIN_MINOR, TIP_MAX_MINOR) and are passed in by the callers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

# The buttons on the tip form, in major units of the tour's currency (5, 10, 20 EUR).
SUGGESTED_MAJOR = (5, 10, 20)
MESSAGE_MAX_CHARS = 300
THANK_YOU_MAX_CHARS = 1000
# Tips stay open this long after the live session ended (the booking and summary pages offer them).
TIP_WINDOW_AFTER_END = timedelta(days=30)
# An unpaid tip's payment is cancelled after this (the payments app's expiry task); the tip shows "not paid".
PAYMENT_EXPIRES_AFTER = timedelta(hours=24)
# New tips per person: a form resubmitted with its key does not count again.
RATE_LIMIT_TIPS = 10
RATE_LIMIT_WINDOW_SECONDS = 3600


class TipRefused(Exception):
    """A tip that may not be given; ``code`` is stable, ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TipFacts:
    """What decides whether a person may tip for a slot, read by the selector beforehand."""

    is_slot_guide: bool
    booking_statuses: frozenset[str]
    slot_cancelled: bool
    session_status: str | None  # None: no live session was ever opened for the slot
    session_ended_reason: str
    session_ended_at: datetime | None
    banned: bool


def check_may_tip(facts: TipFacts, *, now: datetime) -> None:
    """Raise TipRefused unless a confirmed guest may tip now: while the tour is live or after it ended.

    Order: the reason that matters most to the person first (their own tour, no booking, the date
    cancelled, removed from the room, then the time).
    """
    if facts.is_slot_guide:
        raise TipRefused("own_tour", "Guides cannot tip themselves.")
    if "confirmed" not in facts.booking_statuses:
        if "pending_payment" in facts.booking_statuses:
            raise TipRefused("not_booked", "Your booking for this tour is waiting for payment.")
        raise TipRefused("not_booked", "Only guests with a booking for this tour can tip its guide.")
    if facts.slot_cancelled or facts.session_ended_reason == "cancelled":
        raise TipRefused("cancelled", "This tour date was cancelled, so there is nobody to tip.")
    if facts.banned:
        raise TipRefused("banned", "You were removed from this live tour.")
    if facts.session_status not in ("live", "ended"):
        raise TipRefused("not_started", "Tips open when the live tour starts.")
    ended_at = facts.session_ended_at
    if facts.session_status == "ended" and ended_at is not None and now > ended_at + TIP_WINDOW_AFTER_END:
        raise TipRefused("closed", "Tips for this tour closed 30 days after it ended.")


def suggested_amounts_minor(*, minimum: int, maximum: int) -> list[int]:
    """The suggested amounts that fall inside the limits, in minor units."""
    return [major * 100 for major in SUGGESTED_MAJOR if minimum <= major * 100 <= maximum]


def check_amount(amount_minor: int, *, minimum: int, maximum: int) -> None:
    if amount_minor < minimum:
        raise TipRefused("amount_too_small", f"The smallest tip is {format_minor(minimum)}.")
    if amount_minor > maximum:
        raise TipRefused("amount_too_large", f"The largest tip is {format_minor(maximum)}.")


_AMOUNT = re.compile(r"^[0-9]{1,7}([.,][0-9]{1,2})?$")


def parse_major_amount(text: str) -> int:
    """``"12"``, ``"12.5"``, ``"12,50"`` -> minor units; TipRefused for anything else."""
    value = text.strip()
    if not _AMOUNT.match(value):
        raise TipRefused("bad_amount", "Enter an amount such as 7 or 12.50.")
    try:
        amount = Decimal(value.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise TipRefused("bad_amount", "Enter an amount such as 7 or 12.50.") from None
    return int(amount * 100)


def format_minor(amount_minor: int) -> str:
    """``1250`` -> ``"12.50"`` (the currency is written beside it by the caller)."""
    return f"{Decimal(amount_minor) / 100:.2f}"


_CONTROL = re.compile(r"[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text: str, *, max_chars: int, field: str = "message") -> str:
    """People's text as stored: NFC, no control or direction-override characters, at most two
    blank lines in a row, trimmed; TipRefused("too_long") past ``max_chars``. Escaped on output."""
    value = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    value = _BLANK_LINES.sub("\n\n", _CONTROL.sub("", value)).strip()
    if len(value) > max_chars:
        raise TipRefused("too_long", f"The {field} can be at most {max_chars} characters long.")
    return value
