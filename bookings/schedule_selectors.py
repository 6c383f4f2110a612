"""Reads for the guide's side of scheduling: availability rules, upcoming dates, the guide's schedule.

``access_*`` functions fetch and check permission in one step: the tour's own guide and staff may
see and change its dates; anyone else gets PermissionDenied (403), a missing row Http404.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import formats
from django.utils.dates import WEEKDAYS_ABBR
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import GuideProfile, User
from bookings.models import AvailabilityRule, Blackout, Booking, Slot, Tour, TourScheduling

UPCOMING_SLOTS_ON_TOUR_PAGE = 30
UPCOMING_SLOTS_ON_SCHEDULE = 100
PAST_DAYS_ON_SCHEDULE = 30

_WEEKDAY_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


# --- Access ------------------------------------------------------------------------------------


def _may_manage(user: AbstractBaseUser | AnonymousUser, guide: GuideProfile) -> bool:
    return isinstance(user, User) and (user.is_staff or guide.user_id == user.pk)


def access_tour_for_scheduling(*, user: AbstractBaseUser | AnonymousUser, slug: str) -> Tour:
    """The tour whose dates ``user`` may manage: its own guide or staff; 404 / 403 otherwise."""
    tour = Tour.objects.select_related("guide", "guide__user").filter(slug=slug).first()
    if tour is None:
        raise Http404(_("No such tour."))
    if not _may_manage(user, tour.guide):
        raise PermissionDenied(_("Only the tour's guide can manage its dates."))
    return tour


def access_slot_for_guide(*, user: AbstractBaseUser | AnonymousUser, slot_id: int) -> Slot:
    """A date of a tour that ``user`` guides (or any date, for staff); 404 / 403 otherwise."""
    slot = Slot.objects.select_related("tour", "guide", "guide__user").filter(pk=slot_id).first()
    if slot is None:
        raise Http404(_("No such date."))
    if not _may_manage(user, slot.guide):
        raise PermissionDenied(_("Only the tour's guide can change this date."))
    return slot


def access_schedule_guide(*, user: AbstractBaseUser | AnonymousUser, guide_slug: str = "") -> GuideProfile | None:
    """Whose schedule ``user`` sees: a guide their own; staff any guide's (``guide_slug``).

    None for staff who named no guide and have no profile of their own (the page lists guides).
    """
    if not isinstance(user, User):
        raise PermissionDenied(_("Only guides have a schedule."))
    own = GuideProfile.objects.select_related("user").filter(user=user).first()
    if guide_slug and (own is None or guide_slug != own.slug):
        if not user.is_staff:
            raise PermissionDenied(_("You can only see your own schedule."))
        guide = GuideProfile.objects.select_related("user").filter(slug=guide_slug).first()
        if guide is None:
            raise Http404(_("No such guide."))
        return guide
    if own is not None and (user.is_guide or user.is_staff):
        return own
    if user.is_staff:
        return None
    raise PermissionDenied(_("Only guides have a schedule."))


def guides_with_slots() -> QuerySet[GuideProfile]:
    """For staff without a profile of their own: the guides whose schedule they may open."""
    return GuideProfile.objects.filter(slots__isnull=False).distinct().order_by("display_name")


# --- Rules and settings ------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleSummary:
    rule: AvailabilityRule
    text: str


def _parts(rrule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for part in rrule.upper().removeprefix("RRULE:").split(";"):
        name, _equals, value = part.partition("=")
        parts[name] = value
    return parts


def _day_text(day: date) -> str:
    return formats.date_format(day, "j M Y")


def describe_rule(rule: AvailabilityRule, *, default_capacity: int) -> str:
    """``Mon, Wed, Fri at 10:00 and 15:30, from 1 Dec 2026 until 31 Mar 2027, 12 seats``.

    Weekly rules (what the guide's form writes) read as sentences; anything else written in the
    admin shows its RRULE as is, still with the period and seats.
    """
    parts = _parts(rule.rrule)
    days_text = ""
    if parts.get("FREQ") == "WEEKLY" and "BYDAY" in parts:
        codes = parts["BYDAY"].split(",")
        if all(code in _WEEKDAY_CODES for code in codes):
            days = sorted(_WEEKDAY_CODES.index(code) for code in codes)
            days_text = ", ".join(str(WEEKDAYS_ABBR[day]) for day in days)
    try:
        hours = sorted(int(hour) for hour in parts.get("BYHOUR", "").split(","))
        minutes = sorted(int(minute) for minute in parts.get("BYMINUTE", "0").split(","))
    except ValueError:
        days_text = ""
    if days_text:
        times = [f"{hour:02d}:{minute:02d}" for hour in hours for minute in minutes]
        text = _("%(days)s at %(times)s") % {"days": days_text, "times": get_text_list(times, _("and"))}
        interval = parts.get("INTERVAL", "1")
        if interval != "1":
            text += ", " + _("every %(count)s weeks") % {"count": interval}
    else:
        text = rule.rrule
    if rule.valid_until is not None:
        text += ", " + _("from %(start)s until %(end)s") % {
            "start": _day_text(rule.valid_from),
            "end": _day_text(rule.valid_until),
        }
    else:
        text += ", " + _("from %(start)s") % {"start": _day_text(rule.valid_from)}
    seats = rule.capacity or default_capacity
    return text + ", " + ngettext("%(count)d seat", "%(count)d seats", seats) % {"count": seats}


def active_rules(*, tour: Tour) -> list[RuleSummary]:
    rules = AvailabilityRule.objects.filter(tour=tour, is_active=True).order_by("valid_from", "pk")
    return [RuleSummary(rule, describe_rule(rule, default_capacity=tour.max_group_size)) for rule in rules]


def access_rule(*, tour: Tour, rule_id: int) -> AvailabilityRule:
    """A rule of this tour (the tour has already been checked); 404 for a rule of another tour."""
    rule = AvailabilityRule.objects.select_related("tour", "tour__guide").filter(pk=rule_id, tour=tour).first()
    if rule is None:
        raise Http404(_("No such rule."))
    return rule


def scheduling_of(*, tour: Tour) -> TourScheduling:
    """The tour's settings; a row with the defaults is created on first use (as the services do)."""
    scheduling, _created = TourScheduling.objects.get_or_create(tour=tour)
    return scheduling


def today_in(tz: str, *, now: datetime) -> date:
    return now.astimezone(zoneinfo.ZoneInfo(tz)).date()


def upcoming_blackouts(*, tour: Tour, now: datetime) -> QuerySet[Blackout]:
    return Blackout.objects.filter(tour=tour, date__gte=today_in(tour.timezone, now=now)).order_by("date")


# --- Slots -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attendee:
    name: str
    seats: int


@dataclass(frozen=True)
class SlotRow:
    slot: Slot
    attendees: list[Attendee]

    @property
    def is_cancelled(self) -> bool:
        return self.slot.status == Slot.Status.CANCELLED


def _with_attendees(slots: QuerySet[Slot]) -> QuerySet[Slot]:
    active = Booking.objects.filter(status__in=Booking.ACTIVE_STATUSES).select_related("user").order_by("created_at")
    return slots.select_related("tour").prefetch_related(Prefetch("bookings", queryset=active, to_attr="active"))


def _rows(slots: QuerySet[Slot]) -> list[SlotRow]:
    return [
        SlotRow(
            slot=slot,
            # The name the customer gave, or the part of the address before the @.
            attendees=[
                Attendee(booking.user.get_full_name(), booking.seats) for booking in getattr(slot, "active", [])
            ],
        )
        for slot in slots
    ]


def upcoming_slots_of_tour(*, tour: Tour, now: datetime, limit: int = UPCOMING_SLOTS_ON_TOUR_PAGE) -> list[SlotRow]:
    """The next dates of one tour (those under way included), cancelled ones marked."""
    return _rows(_with_attendees(Slot.objects.filter(tour=tour, end__gt=now)).order_by("start")[:limit])


@dataclass(frozen=True)
class GuideSchedule:
    guide: GuideProfile
    timezone: str  # the guide's own zone (their account's, else the zone of Italy)
    upcoming: list[SlotRow]
    past: list[SlotRow]
    more_upcoming: bool


def guide_schedule(
    *,
    guide: GuideProfile,
    now: datetime,
    limit: int = UPCOMING_SLOTS_ON_SCHEDULE,
    past_days: int = PAST_DAYS_ON_SCHEDULE,
) -> GuideSchedule:
    """Every tour of one guide: the next dates (up to ``limit``) and those of the last ``past_days``."""
    slots = _with_attendees(Slot.objects.filter(guide=guide))
    upcoming = _rows(slots.filter(end__gt=now).order_by("start", "pk")[: limit + 1])
    past = _rows(slots.filter(end__lte=now, start__gte=now - timedelta(days=past_days)).order_by("-start", "-pk"))
    zone = guide.user.timezone or settings.TOUR_DEFAULT_TIMEZONE
    return GuideSchedule(
        guide=guide, timezone=zone, upcoming=upcoming[:limit], past=past, more_upcoming=len(upcoming) > limit
    )


def active_bookings_on(*, slot: Slot) -> list[Booking]:
    return list(
        Booking.objects.filter(slot=slot, status__in=Booking.ACTIVE_STATUSES).select_related("user").order_by("pk")
    )
