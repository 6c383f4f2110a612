"""Pure review rules: what a valid review is, when requests are due, what staff are warned about.

No I/O and no models: services and selectors fetch, then call these.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

__all__ = [
    "DEFAULT_BLOCKED_WORDS",
    "MAX_RATING",
    "MIN_RATING",
    "REMINDER_AFTER_REQUEST",
    "REPLY_MAX_LENGTH",
    "REQUEST_AFTER_END",
    "REQUEST_WINDOW",
    "TEXT_MAX_LENGTH",
    "TEXT_MIN_LENGTH",
    "ModerationHints",
    "RatingSummary",
    "ReviewSort",
    "blocked_words_in",
    "contains_link",
    "moderation_hints",
    "public_name",
    "rating_summary",
    "reminder_due_at",
    "request_due_at",
    "text_problem",
]

MIN_RATING = 1
MAX_RATING = 5
# A review text is optional; when given it says something (20+) and stays readable (2,000).
TEXT_MIN_LENGTH = 20
TEXT_MAX_LENGTH = 2000
REPLY_MIN_LENGTH = 2
REPLY_MAX_LENGTH = 2000

# The review request goes out this long after the tour ends; one reminder this long after it.
REQUEST_AFTER_END = timedelta(hours=2)
REMINDER_AFTER_REQUEST = timedelta(days=3)
# Past this, a due request or reminder is dropped rather than sent late: a dispatcher that was
# down for a week (or a first deploy over old tours) must not mail people about tours long gone.
REQUEST_WINDOW = timedelta(days=7)

# A small starter list, used while staff have not filled in the shared list (chat.BlockedWord,
# "Blocked words" in the admin). Words are matched whole, case- and accent-insensitively.
DEFAULT_BLOCKED_WORDS: tuple[str, ...] = (
    "idiot",
    "stupid",
    "scam",
    "fraud",
    "shit",
    "fuck",
    "bastard",
    "cazzo",
    "stronzo",
    "vaffanculo",
    "truffa",
    "merda",
)

_LINK = re.compile(
    r"(?:https?://|www\.)\S+"  # an address written out
    r"|\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|it|io|info|biz|ly|me|co|eu|uk|de|fr|es)\b(?:/\S*)?"  # a bare domain
    r"|\b[\w.+-]+@[\w-]+\.[\w.-]+\b",  # an e-mail address
    re.IGNORECASE,
)


class ReviewSort(StrEnum):
    RECENT = "recent"
    HIGHEST = "highest"
    LOWEST = "lowest"


@dataclass(frozen=True)
class ModerationHints:
    """What staff should look at twice before approving a review."""

    has_link: bool
    blocked_words: tuple[str, ...]

    @property
    def any(self) -> bool:
        return self.has_link or bool(self.blocked_words)


@dataclass(frozen=True)
class RatingSummary:
    """Published reviews of a tour or guide: how many, their average, how many per star."""

    count: int
    average: float | None  # None when there is no review yet
    distribution: tuple[tuple[int, int, int], ...]  # (stars, count, percent of all), 5 stars first


def text_problem(text: str) -> str | None:
    """None when ``text`` (already stripped) is an acceptable review text, else a stable code.

    Empty is acceptable: a rating alone is a review. Codes: ``too_short``, ``too_long``.
    """
    if not text:
        return None
    if len(text) < TEXT_MIN_LENGTH:
        return "too_short"
    if len(text) > TEXT_MAX_LENGTH:
        return "too_long"
    return None


def _fold(text: str) -> str:
    # "Truffà" and "TRUFFA" are the same word to a reader; strip accents and case.
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def blocked_words_in(text: str, blocked_words: Iterable[str]) -> tuple[str, ...]:
    """The blocked words that occur in ``text`` as whole words, in the list's order, each once."""
    folded = _fold(text)
    found = []
    for word in blocked_words:
        needle = _fold(word.strip())
        if needle and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", folded):
            found.append(word.strip())
    return tuple(dict.fromkeys(found))


def contains_link(text: str) -> bool:
    """Whether ``text`` holds a web address, a bare domain or an e-mail address."""
    return bool(_LINK.search(text))


def moderation_hints(text: str, blocked_words: Iterable[str] = DEFAULT_BLOCKED_WORDS) -> ModerationHints:
    return ModerationHints(has_link=contains_link(text), blocked_words=blocked_words_in(text, blocked_words))


def rating_summary(counts: Mapping[int, int]) -> RatingSummary:
    """Aggregate per-star counts (missing stars count 0) into the summary the pages show.

    Percentages are rounded to whole numbers and are shares of all reviews (they need not add up
    to exactly 100); the average is exact, for the page to round.
    """
    per_star = {stars: max(0, int(counts.get(stars, 0))) for stars in range(MIN_RATING, MAX_RATING + 1)}
    total = sum(per_star.values())
    average = sum(stars * count for stars, count in per_star.items()) / total if total else None
    distribution = tuple(
        (stars, per_star[stars], round(100 * per_star[stars] / total) if total else 0)
        for stars in range(MAX_RATING, MIN_RATING - 1, -1)
    )
    return RatingSummary(count=total, average=average, distribution=distribution)


def request_due_at(session_ended_at: datetime) -> datetime:
    return session_ended_at + REQUEST_AFTER_END


def reminder_due_at(request_sent_at: datetime) -> datetime:
    return request_sent_at + REMINDER_AFTER_REQUEST


def public_name(full_name: str) -> str:
    """How a reviewer is shown: first name and the initial of the last ("Ada L."), or "" if unnamed.

    The full name and the e-mail address are personal data the author never chose to publish.
    """
    parts = full_name.split()
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return f"{parts[0]} {parts[-1][0].upper()}."
