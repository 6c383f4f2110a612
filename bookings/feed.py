"""The slot feed: which upcoming slots a calendar shows, read and serialised for JSON.

``parse_feed_query`` checks the query string (a bad one raises :class:`FeedQueryError`, which the
view turns into a 400), ``upcoming_slots`` and ``booked_slot_ids`` read, ``slot_feed`` builds the
document that docs/api.md ("Slot feed") describes. Instants leave here in UTC with a ``Z``; the
zone a slot belongs to travels beside them by name, never as a fixed offset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypedDict

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from accounts.models import User
from bookings.models import Booking, Slot, Tour
from bookings.rules import SlotState, slot_state

DEFAULT_WINDOW = timedelta(days=31)
MAX_WINDOW = timedelta(days=100)
# "Few left" means at most this many seats, or at most a fifth of the slot's capacity.
FEW_LEFT_SEATS = 3
FEW_LEFT_FRACTION_DIVISOR = 5
MAX_FILTER_LENGTH = 160
FILTER_PARAMS = ("tour", "category", "guide", "city")

# "2026-03-10T09:00:00 01:00": a "+" sent unencoded in a query string arrives as a space.
_UNENCODED_PLUS = re.compile(r"^(\S+T\S+) (\d{2}(?::?\d{2})?)$")


class FeedQueryError(ValueError):
    """The query string cannot be answered; the message is for a person (already translated)."""


@dataclass(frozen=True)
class FeedQuery:
    start: datetime  # aware, UTC; inclusive
    end: datetime  # aware, UTC; exclusive
    tour: str = ""
    category: str = ""
    guide: str = ""
    city: str = ""


class TourJSON(TypedDict):
    slug: str
    title: str
    url: str
    city: str
    category: str
    timezone: str


class GuideJSON(TypedDict):
    slug: str
    name: str


class SlotJSON(TypedDict):
    id: int
    tour: TourJSON
    guide: GuideJSON
    start: str
    end: str
    tour_timezone: str
    capacity: int
    seats_left: int
    state: str
    booked_by_you: bool
    book_url: str


class FeedJSON(TypedDict):
    slots: list[SlotJSON]
    generated_at: str


def few_left_threshold(capacity: int) -> int:
    """Seats left at or under which a slot shows as "few left": 3, or a fifth of a big slot."""
    return max(FEW_LEFT_SEATS, capacity // FEW_LEFT_FRACTION_DIVISOR)


def state_of(slot: Slot) -> SlotState:
    return slot_state(slot.capacity, slot.booked_seats, few_threshold=few_left_threshold(slot.capacity))


def utc_text(instant: datetime) -> str:
    """``2026-03-10T09:00:00Z``: whole seconds, always UTC, always with the ``Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_instant(name: str, raw: str) -> datetime:
    """An ISO date (midnight UTC at its start) or an ISO date-time with ``Z`` or an offset."""
    value = raw.strip()
    repaired = _UNENCODED_PLUS.match(value)
    if repaired:
        value = f"{repaired.group(1)}+{repaired.group(2)}"
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time.min, tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FeedQueryError(
            _("“%(name)s” must be an ISO date (2026-03-10) or date-time (2026-03-10T09:00:00Z), not “%(value)s”.")
            % {"name": name, "value": raw[:40]}
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        # A wall time without a zone names no instant: refuse rather than guess UTC.
        raise FeedQueryError(
            _("“%(name)s” needs a time zone: end it with Z or an offset such as +01:00.") % {"name": name}
        )
    return parsed.astimezone(UTC)


def _filter_value(params: Mapping[str, str], name: str) -> str:
    value = params.get(name, "").strip()
    if len(value) > MAX_FILTER_LENGTH:
        raise FeedQueryError(_("“%(name)s” is too long.") % {"name": name})
    return value


def parse_feed_query(params: Mapping[str, str], *, now: datetime) -> FeedQuery:
    """Check the feed's query string. Defaults: today (UTC) to 31 days later; at most 100 days."""
    filters = {name: _filter_value(params, name) for name in FILTER_PARAMS}
    if filters["category"] and filters["category"] not in Tour.Category.values:
        raise FeedQueryError(
            _("Unknown category “%(category)s”; use one of: %(choices)s.")
            % {"category": filters["category"], "choices": ", ".join(Tour.Category.values)}
        )
    raw_start, raw_end = params.get("start", "").strip(), params.get("end", "").strip()
    try:
        start = (
            _parse_instant("start", raw_start)
            if raw_start
            else datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)
        )
        end = _parse_instant("end", raw_end) if raw_end else start + DEFAULT_WINDOW
    except OverflowError:
        raise FeedQueryError(_("The dates are out of range.")) from None
    if end <= start:
        raise FeedQueryError(_("“end” must be after “start”."))
    if end - start > MAX_WINDOW:
        raise FeedQueryError(
            _("Ask for at most %(days)d days at a time.") % {"days": MAX_WINDOW.days},
        )
    return FeedQuery(start=start, end=end, **filters)


def upcoming_slots(*, query: FeedQuery, now: datetime, limit: int | None = None) -> list[Slot]:
    """Scheduled slots of published tours that start in the window and after ``now``; one query."""
    slots = Slot.objects.filter(
        status=Slot.Status.SCHEDULED,
        tour__status=Tour.Status.PUBLISHED,
        start__gte=max(query.start, now),
        start__lt=query.end,
    )
    if query.tour:
        slots = slots.filter(tour__slug=query.tour)
    if query.category:
        slots = slots.filter(tour__category=query.category)
    if query.guide:
        slots = slots.filter(guide__slug=query.guide)
    if query.city:
        slots = slots.filter(tour__city__iexact=query.city)
    ordered = slots.select_related("tour", "guide").order_by("start", "tour__title", "pk")
    return list(ordered if limit is None else ordered[:limit])


def booked_slot_ids(*, user: AbstractBaseUser | AnonymousUser, slots: Iterable[Slot]) -> set[int]:
    """Which of ``slots`` the user holds an active booking for; one query, none when signed out."""
    slot_ids = {slot.pk for slot in slots}
    if not isinstance(user, User) or not slot_ids:
        return set()
    # Bounded by the window's start times rather than a long IN list: a person has few bookings,
    # a 100-day window may have thousands of slots.
    starts = [slot.start for slot in slots]
    booked = Booking.objects.filter(
        user=user,
        status__in=Booking.ACTIVE_STATUSES,
        slot__start__gte=min(starts),
        slot__start__lte=max(starts),
    ).values_list("slot_id", flat=True)
    return {slot_id for slot_id in booked if slot_id in slot_ids}


def book_url(slot_id: int) -> str:
    try:
        return reverse("bookings:book_slot", kwargs={"slot_id": slot_id})
    except NoReverseMatch:
        # The booking page's route is added alongside this feed; until then, the path it will have.
        return f"/slots/{slot_id}/book/"


def serialise_slot(slot: Slot, *, booked_by_you: bool, tour_url: str) -> SlotJSON:
    tour = slot.tour
    return {
        "id": slot.pk,
        "tour": {
            "slug": tour.slug,
            "title": tour.title,
            "url": tour_url,
            "city": tour.city,
            "category": tour.category,
            "timezone": tour.timezone,
        },
        "guide": {"slug": slot.guide.slug, "name": slot.guide.display_name},
        "start": utc_text(slot.start),
        "end": utc_text(slot.end),
        "tour_timezone": tour.timezone,
        "capacity": slot.capacity,
        "seats_left": slot.seats_left,
        "state": state_of(slot).value,
        "booked_by_you": booked_by_you,
        "book_url": book_url(slot.pk),
    }


def slot_feed(*, query: FeedQuery, user: AbstractBaseUser | AnonymousUser, now: datetime) -> FeedJSON:
    slots = upcoming_slots(query=query, now=now)
    booked = booked_slot_ids(user=user, slots=slots)
    tour_urls: dict[int, str] = {}
    serialised = []
    for slot in slots:
        if slot.tour_id not in tour_urls:
            tour_urls[slot.tour_id] = slot.tour.get_absolute_url()
        serialised.append(serialise_slot(slot, booked_by_you=slot.pk in booked, tour_url=tour_urls[slot.tour_id]))
    return {"slots": serialised, "generated_at": utc_text(now)}
