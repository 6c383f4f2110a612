"""Pure live-session rules: the join window, the end deadline, the countdown, presence time.

No I/O, no Django models, no database: services fetch the slot's instants and call these.
Instants are aware ``datetime`` objects (any zone; compared as instants); a naive one raises
``ValueError``. Window edges: the opening instant is included, the closing instant is not — at
``start - JOIN_EARLY`` a viewer may enter, at ``end + grace`` nobody may.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "DEFAULT_GRACE",
    "GO_LIVE_EARLY",
    "JOIN_EARLY",
    "MAX_GRACE",
    "MAX_PRESENCE_GAP",
    "WARNING_BEFORE_END",
    "Countdown",
    "OutsideWindow",
    "Phase",
    "Role",
    "WindowRefusal",
    "check_join_window",
    "countdown",
    "end_deadline",
    "join_opens_at",
    "presence_increment",
]

# Viewers wait in the room a little before the start; the guide needs longer to set up the camera.
JOIN_EARLY = timedelta(minutes=10)
GO_LIVE_EARLY = timedelta(minutes=15)
# A tour may run over its slot by at most this much before the session is ended automatically.
MAX_GRACE = timedelta(minutes=5)
DEFAULT_GRACE = MAX_GRACE
WARNING_BEFORE_END = timedelta(minutes=5)
# A heartbeat gap longer than this is a disconnection: the time in between is not counted.
MAX_PRESENCE_GAP = timedelta(seconds=90)


class Role(StrEnum):
    PUBLISHER = "publisher"
    VIEWER = "viewer"


class Phase(StrEnum):
    BEFORE = "before"  # the slot has not started (the room may already be open)
    LIVE = "live"  # between the slot's start and end
    GRACE = "grace"  # past the slot's end, before the hard deadline
    OVER = "over"  # past the deadline: the session is (or is about to be) ended


class WindowRefusal(StrEnum):
    TOO_EARLY = "too_early"
    ENDED = "ended"


class OutsideWindow(Exception):
    """``now`` is outside the join window; ``reason`` is stable, ``message`` is for people."""

    def __init__(self, reason: WindowRefusal, message: str, *, opens_at: datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.opens_at = opens_at


@dataclass(frozen=True)
class Countdown:
    """What the room shows: seconds to the next boundary of ``phase`` (0 once over)."""

    remaining_seconds: int
    warning: bool
    phase: Phase


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def _check_grace(grace: timedelta) -> None:
    if not timedelta(0) <= grace <= MAX_GRACE:
        raise ValueError(f"grace must be between 0 and {MAX_GRACE}, got {grace}")


def end_deadline(slot_end: datetime, grace: timedelta) -> datetime:
    """The instant the session ends at the latest: the slot's end plus ``grace`` (0 to 5 minutes)."""
    _require_aware(slot_end, "slot_end")
    _check_grace(grace)
    return slot_end + grace


def join_opens_at(slot_start: datetime, role: Role) -> datetime:
    _require_aware(slot_start, "slot_start")
    return slot_start - (GO_LIVE_EARLY if role == Role.PUBLISHER else JOIN_EARLY)


def _minutes_text(span: timedelta) -> str:
    minutes = max(1, math.ceil(span.total_seconds() / 60))
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def check_join_window(now: datetime, *, role: Role, slot_start: datetime, slot_end: datetime, grace: timedelta) -> None:
    """Raise :class:`OutsideWindow` unless ``role`` may enter at ``now``.

    Viewers from ``JOIN_EARLY`` before the start, the guide from ``GO_LIVE_EARLY`` before; both
    until :func:`end_deadline`. ``ended`` is checked first (a slot cannot be both).
    """
    _require_aware(now, "now")
    deadline = end_deadline(slot_end, grace)
    if now >= deadline:
        raise OutsideWindow(WindowRefusal.ENDED, "This live tour is over.")
    opens_at = join_opens_at(slot_start, role)
    if now < opens_at:
        early = GO_LIVE_EARLY if role == Role.PUBLISHER else JOIN_EARLY
        raise OutsideWindow(
            WindowRefusal.TOO_EARLY,
            f"The live room opens {_minutes_text(early)} before the start, in {_minutes_text(opens_at - now)}.",
            opens_at=opens_at,
        )


def countdown(now: datetime, slot_start: datetime, slot_end: datetime, grace: timedelta) -> Countdown:
    """Seconds to the start (before), to the end (live), to the deadline (grace), or 0 (over).

    Seconds are rounded up, so a room still open never shows 0. ``warning`` is set when the
    session closes in under ``WARNING_BEFORE_END`` (always during grace, which is ≤ 5 minutes).
    """
    _require_aware(now, "now")
    _require_aware(slot_start, "slot_start")
    if slot_end <= slot_start:
        raise ValueError("slot_end must be after slot_start")
    deadline = end_deadline(slot_end, grace)
    if now < slot_start:
        return Countdown(_ceil_seconds(slot_start - now), warning=False, phase=Phase.BEFORE)
    if now < slot_end:
        remaining = slot_end - now
        return Countdown(_ceil_seconds(remaining), warning=remaining < WARNING_BEFORE_END, phase=Phase.LIVE)
    if now < deadline:
        return Countdown(_ceil_seconds(deadline - now), warning=True, phase=Phase.GRACE)
    return Countdown(0, warning=True, phase=Phase.OVER)


def _ceil_seconds(span: timedelta) -> int:
    return math.ceil(span.total_seconds())


def presence_increment(last_seen: datetime | None, now: datetime, *, max_gap: timedelta = MAX_PRESENCE_GAP) -> int:
    """Whole seconds to add to a viewer's watched time for a heartbeat at ``now``.

    The first heartbeat adds nothing; a gap longer than ``max_gap`` (the viewer was gone) adds
    nothing either, and a clock going backwards never subtracts.
    """
    _require_aware(now, "now")
    if last_seen is None:
        return 0
    _require_aware(last_seen, "last_seen")
    gap = now - last_seen
    if gap <= timedelta(0) or gap > max_gap:
        return 0
    return int(gap.total_seconds())
