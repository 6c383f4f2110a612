"""Pure rules of the live room: limits, text cleaning, blocked-word matching, rate windows,
slow mode, reaction aggregation and presence status. No I/O, no Django models.

Instants are aware ``datetime`` objects; ``now`` is always passed in (tests move it freely).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "CLIENT_ID_MAX_CHARS",
    "CONNECTION_STALE_AFTER",
    "HEARTBEAT_SECONDS",
    "MESSAGE_MAX_CHARS",
    "MESSAGE_RATE",
    "MODERATOR_MESSAGE_RATE",
    "PARTICIPANT_LIST_INTERVAL",
    "QUESTION_MAX_CHARS",
    "QUESTION_RATE",
    "REACTION_BATCH_INTERVAL",
    "REACTION_EMOJI",
    "REACTION_RATE",
    "RECONNECT_GRACE",
    "RESUME_LIMIT",
    "ROOM_FRAME_MAX_BYTES",
    "SLOW_MODE_MAX_SECONDS",
    "SNAPSHOT_HISTORY",
    "TIMEOUT_MAX_SECONDS",
    "TIMEOUT_MIN_SECONDS",
    "TYPING_INTERVAL",
    "TYPING_SESSION_RATE",
    "MemberRole",
    "PresenceStatus",
    "Rate",
    "RuleViolation",
    "clean_text",
    "find_blocked",
    "normalise_for_matching",
    "participant_status",
    "rate_window",
    "reaction_deltas",
    "slow_mode_wait",
]

# -- limits -------------------------------------------------------------------------------------

MESSAGE_MAX_CHARS = 500
QUESTION_MAX_CHARS = 300
CLIENT_ID_MAX_CHARS = 64
BAN_REASON_MAX_CHARS = 300
# One room frame (client -> server), UTF-8 bytes; the largest legal chat.send is ~2.1 KB.
ROOM_FRAME_MAX_BYTES = 4096
SLOW_MODE_MAX_SECONDS = 300
TIMEOUT_MIN_SECONDS = 10
TIMEOUT_MAX_SECONDS = 3600
# room.join after_seq=0 gets the last SNAPSHOT_HISTORY messages; a resume gets everything it
# missed up to RESUME_LIMIT messages, beyond which it starts over like a first load.
SNAPSHOT_HISTORY = 200
RESUME_LIMIT = 5000
SNAPSHOT_QUESTIONS = 500
SNAPSHOT_DELETED_IDS = 500

REACTION_EMOJI: tuple[str, ...] = ("👍", "❤️", "😊", "🎉", "👏")
# At most one reaction.batch per this interval per session, whichever process sends it.
REACTION_BATCH_INTERVAL = timedelta(milliseconds=240)
PARTICIPANT_LIST_INTERVAL = timedelta(seconds=1)
# Typing: one indicator per person per 3 s, and at most 5 per second for the whole room.
TYPING_INTERVAL = timedelta(seconds=3)

# Presence: sockets refresh their row every HEARTBEAT_SECONDS; a row not refreshed for
# CONNECTION_STALE_AFTER belongs to a dead process. Someone whose last socket went away less than
# RECONNECT_GRACE ago is "reconnecting" (the client retries for about that long), then "left".
HEARTBEAT_SECONDS = 15
CONNECTION_STALE_AFTER = timedelta(seconds=45)
RECONNECT_GRACE = timedelta(seconds=60)


@dataclass(frozen=True)
class Rate:
    """At most ``limit`` hits per fixed window of ``window_seconds``."""

    limit: int
    window_seconds: int


MESSAGE_RATE = Rate(limit=5, window_seconds=10)
MODERATOR_MESSAGE_RATE = Rate(limit=20, window_seconds=10)
REACTION_RATE = Rate(limit=20, window_seconds=5)
QUESTION_RATE = Rate(limit=3, window_seconds=60)
TYPING_SESSION_RATE = Rate(limit=5, window_seconds=1)


class MemberRole(StrEnum):
    GUIDE = "guide"
    VIEWER = "viewer"
    STAFF = "staff"

    @property
    def moderates(self) -> bool:
        return self is not MemberRole.VIEWER


class PresenceStatus(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LEFT = "left"


class RuleViolation(Exception):
    """A request the room refuses: ``code`` is the wire error code, ``message`` is for people.

    Codes: too_long, empty, rate_limited, slow_mode, timed_out, not_allowed, not_found,
    bad_field, ended (see docs/events.md, "Live room").
    """

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


# -- text -----------------------------------------------------------------------------------------

# Control characters except newline; format characters (zero-width joiners, bidi overrides) are
# removed too: they can hide words from the blocked list and reorder text on screen.
_NEWLINES = re.compile(r"\n{3,}")


def _keep(char: str) -> bool:
    if char == "\n":
        return True
    category = unicodedata.category(char)
    return category not in ("Cc", "Cf", "Cs", "Co", "Cn") or char == "\u200d"


def clean_text(text: str, *, max_chars: int) -> str:
    """The text as stored: trimmed, without control/format characters, at most two blank lines.

    RuleViolation ``empty`` (nothing left) or ``too_long`` (more than ``max_chars`` characters
    after trimming; counted in Unicode code points).
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    if any(not _keep(char) for char in text):
        text = "".join(char for char in text if _keep(char))
    text = _NEWLINES.sub("\n\n", text).strip()
    if not text:
        raise RuleViolation("empty", "Write something first.")
    if len(text) > max_chars:
        raise RuleViolation("too_long", f"At most {max_chars} characters.")
    return text


def normalise_for_matching(text: str) -> str:
    """NFKC, then case folding, without format characters: how blocked words are compared."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(char for char in folded if unicodedata.category(char) != "Cf")


@functools.lru_cache(maxsize=32)
def _blocked_pattern(words: tuple[str, ...]) -> re.Pattern[str] | None:
    cleaned = sorted({normalise_for_matching(word).strip() for word in words} - {""}, key=len, reverse=True)
    if not cleaned:
        return None
    # Whole words: no letter, digit or underscore on either side (\w is Unicode-aware).
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in word.split()) for word in cleaned)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def find_blocked(text: str, words: Iterable[str]) -> str | None:
    """The first blocked word or phrase in ``text`` (normalised), or None."""
    pattern = _blocked_pattern(tuple(sorted(words)))
    if pattern is None:
        return None
    match = pattern.search(normalise_for_matching(text))
    return match.group(0) if match else None


# -- time-based limits ----------------------------------------------------------------------------


def rate_window(now: datetime, rate: Rate) -> tuple[int, int]:
    """The fixed window ``now`` falls in (its index) and the whole seconds until it ends (>= 1)."""
    timestamp = now.timestamp()
    index = int(timestamp // rate.window_seconds)
    remaining = (index + 1) * rate.window_seconds - timestamp
    return index, max(1, int(-(-remaining // 1)))


def slow_mode_wait(*, last_sent_at: datetime | None, now: datetime, seconds: int) -> int:
    """Whole seconds the person must still wait before the next message (0: may send now)."""
    if seconds <= 0 or last_sent_at is None:
        return 0
    remaining = (last_sent_at + timedelta(seconds=seconds) - now).total_seconds()
    return max(0, int(-(-remaining // 1)))


# -- reactions and presence ---------------------------------------------------------------------------


def reaction_deltas(totals: Mapping[str, int], sent: Mapping[str, int]) -> dict[str, int]:
    """What changed since the last batch: per emoji, ``totals - sent`` where it is not zero.

    Totals only grow, so a delta is positive unless the store was reset (then it is the new
    total, which is what the room saw since).
    """
    deltas: dict[str, int] = {}
    for emoji, total in totals.items():
        delta = total - sent.get(emoji, 0)
        if delta < 0:
            delta = total
        if delta:
            deltas[emoji] = delta
    return deltas


def participant_status(*, connected: bool, last_seen_at: datetime, now: datetime) -> PresenceStatus:
    if connected:
        return PresenceStatus.CONNECTED
    if now - last_seen_at < RECONNECT_GRACE:
        return PresenceStatus.RECONNECTING
    return PresenceStatus.LEFT
