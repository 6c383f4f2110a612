"""Availability: a guide's rules, blackouts and one-off dates become bookable slots.

A guide can never have two slots that overlap once each tour's buffer is added, across all their
tours. Every change that creates slots locks the guide's profile row first, so two concurrent
changes cannot both pass the clash check.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from accounts.models import GuideProfile, User
from bookings import rules
from bookings.models import AvailabilityRule, Blackout, Booking, Slot, Tour, TourScheduling

logger = logging.getLogger(__name__)


class SchedulingError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RuleOutcome:
    rule: AvailabilityRule
    slots_created: int


def _check_guide_owns(user: User, tour: Tour) -> None:
    if tour.guide.user_id != user.pk and not user.is_staff:
        raise PermissionDenied("Only the tour's guide can change its dates.")


def _check_capacity(tour: Tour, capacity: int | None) -> None:
    if capacity is not None and not 1 <= capacity <= tour.max_group_size:
        raise SchedulingError(f"Seats per slot must be between 1 and the tour's maximum of {tour.max_group_size}.")


def scheduling_for(tour: Tour) -> TourScheduling:
    """The tour's booking settings; the defaults (unsaved) when the guide never changed them.

    A read: pages that only show a policy must not write rows.
    """
    return TourScheduling.objects.filter(tour=tour).first() or TourScheduling(tour=tour)


def _busy_interval(slot: Slot, buffer_minutes: int) -> rules.Interval:
    # The guide stays busy for the tour's buffer after it ends.
    return rules.Interval(slot.start, slot.end + timedelta(minutes=buffer_minutes), _describe(slot.tour, slot.start))


def _describe(tour: Tour, start: datetime) -> str:
    local = start.astimezone(zoneinfo.ZoneInfo(tour.timezone))
    return f"“{tour.title}” on {local:%a %d %b %Y %H:%M} ({tour.timezone})"


def _guide_busy_intervals(guide: GuideProfile, *, start: datetime, end: datetime) -> list[rules.Interval]:
    slots = (
        Slot.objects.filter(guide=guide, status=Slot.Status.SCHEDULED, end__gte=start - timedelta(days=1))
        .filter(start__lte=end)
        .select_related("tour", "tour__scheduling")
    )
    buffers: dict[int, int] = {}
    intervals = []
    for slot in slots:
        if slot.tour_id not in buffers:
            buffers[slot.tour_id] = scheduling_for(slot.tour).buffer_minutes
        intervals.append(_busy_interval(slot, buffers[slot.tour_id]))
    return intervals


def _lock_guide(tour: Tour) -> GuideProfile:
    # FOR UPDATE on the guide: two rule or slot changes for one guide are checked one after the other.
    return GuideProfile.objects.select_for_update().get(pk=tour.guide_id)


def _occurrences_for(rule: AvailabilityRule, tour: Tour, *, start: datetime, end: datetime) -> list[rules.Occurrence]:
    schedule = rules.Schedule(
        tz=tour.timezone,
        rrule=rule.rrule,
        valid_from=rule.valid_from,
        valid_until=rule.valid_until,
        exdates=frozenset(tour.blackouts.values_list("date", flat=True)),
        duration=timedelta(minutes=tour.duration_minutes),
    )
    return rules.expand(schedule, window_start=start, window_end=end)


def _create_slots(
    tour: Tour,
    occurrences: Iterable[rules.Occurrence],
    *,
    rule: AvailabilityRule | None,
    capacity: int,
    busy: list[rules.Interval],
    refuse_on_clash: bool,
) -> int:
    buffer = timedelta(minutes=scheduling_for(tour).buffer_minutes)
    existing_starts = set(Slot.objects.filter(tour=tour).values_list("start", flat=True))
    created = 0
    for occurrence in occurrences:
        if occurrence.start_utc in existing_starts:
            continue
        candidate = rules.Interval(
            occurrence.start_utc, occurrence.end_utc + buffer, _describe(tour, occurrence.start_utc)
        )
        clash = rules.find_clash(candidate, busy, buffer=timedelta(0))
        if clash is not None:
            if refuse_on_clash:
                raise SchedulingError(
                    f"{candidate.label} would overlap {clash.label} (including the buffer between tours)."
                )
            logger.info("skipping %s: clashes with %s", candidate.label, clash.label)
            continue
        Slot.objects.create(
            tour=tour,
            rule=rule,
            guide_id=tour.guide_id,
            start=occurrence.start_utc,
            end=occurrence.end_utc,
            capacity=capacity,
        )
        busy.append(candidate)
        existing_starts.add(occurrence.start_utc)
        created += 1
    return created


def create_rule(
    *,
    user: User,
    tour: Tour,
    rrule: str,
    valid_from: date,
    valid_until: date | None = None,
    capacity: int | None = None,
    now: datetime | None = None,
) -> RuleOutcome:
    """Add a recurring rule and its slots up to the horizon; refused whole if any slot would clash."""
    _check_guide_owns(user, tour)
    now = now or timezone.now()
    _check_capacity(tour, capacity)
    with transaction.atomic():
        _lock_guide(tour)
        rule = AvailabilityRule(
            tour=tour, rrule=rrule, valid_from=valid_from, valid_until=valid_until, capacity=capacity
        )
        horizon_end = now + timedelta(days=scheduling_for(tour).horizon_days)
        try:
            occurrences = _occurrences_for(rule, tour, start=now, end=horizon_end)
        except rules.InvalidSchedule as error:
            raise SchedulingError(str(error)) from None
        if not occurrences:
            raise SchedulingError("This rule gives no dates between now and the booking horizon.")
        rule.save()
        busy = _guide_busy_intervals(tour.guide, start=now, end=horizon_end + timedelta(days=1))
        created = _create_slots(
            tour, occurrences, rule=rule, capacity=capacity or tour.max_group_size, busy=busy, refuse_on_clash=True
        )
    return RuleOutcome(rule, created)


def add_one_off_slot(*, user: User, tour: Tour, local_start: datetime, capacity: int | None = None) -> Slot:
    """A single extra date, written as wall time in the tour's zone."""
    _check_guide_owns(user, tour)
    # Checked as for a rule: 0 would silently mean "the maximum", a negative number would reach
    # the database's CHECK constraint as an IntegrityError (a 500) instead of a form error.
    _check_capacity(tour, capacity)
    if local_start.tzinfo is not None:
        raise SchedulingError("Give the start as a wall-clock time in the tour's zone.")
    start = rules.localize(local_start, tour.timezone)
    if start <= timezone.now():
        raise SchedulingError("This time is in the past.")
    occurrence = rules.Occurrence(
        start_utc=start,
        end_utc=start + timedelta(minutes=tour.duration_minutes),
        local_start=local_start,
        tz=tour.timezone,
    )
    with transaction.atomic():
        _lock_guide(tour)
        existing = Slot.objects.filter(tour=tour, start=start).first()
        if existing is not None and existing.status == Slot.Status.SCHEDULED:
            raise SchedulingError(f"{_describe(tour, start)} already exists.")
        busy = _guide_busy_intervals(
            tour.guide, start=start - timedelta(days=1), end=occurrence.end_utc + timedelta(days=1)
        )
        if existing is not None:
            # A cancelled date comes back (its row carries the old bookings' history): same checks.
            candidate = rules.Interval(
                start,
                occurrence.end_utc + timedelta(minutes=scheduling_for(tour).buffer_minutes),
                _describe(tour, start),
            )
            clash = rules.find_clash(candidate, busy, buffer=timedelta(0))
            if clash is not None:
                raise SchedulingError(
                    f"{candidate.label} would overlap {clash.label} (including the buffer between tours)."
                )
            existing.status = Slot.Status.SCHEDULED
            existing.capacity = capacity or tour.max_group_size
            existing.cancelled_reason = ""
            existing.save(update_fields=["status", "capacity", "cancelled_reason"])
            return existing
        _create_slots(
            tour,
            [occurrence],
            rule=None,
            capacity=capacity or tour.max_group_size,
            busy=busy,
            refuse_on_clash=True,
        )
    return Slot.objects.get(tour=tour, start=start)


def _remove_unbooked(slots: QuerySet[Slot]) -> int:
    """Take slots with no active booking off the calendar.

    Slots nobody ever booked are deleted; one whose bookings were all cancelled keeps its row (the
    bookings' history points at it) and is marked cancelled instead.
    """
    ever_booked = Exists(Booking.objects.filter(slot=OuterRef("pk")))
    deleted, _detail = slots.filter(~ever_booked).delete()
    cancelled = slots.filter(ever_booked).update(status=Slot.Status.CANCELLED)
    return deleted + cancelled


def add_blackout(*, user: User, tour: Tour, day: date, reason: str = "") -> tuple[Blackout, int]:
    """Close a day: its unbooked slots go away; booked ones stay until the guide cancels them."""
    _check_guide_owns(user, tour)
    zone = zoneinfo.ZoneInfo(tour.timezone)
    with transaction.atomic():
        _lock_guide(tour)
        blackout, _created = Blackout.objects.get_or_create(tour=tour, date=day, defaults={"reason": reason[:200]})
        day_start = rules.localize(datetime.combine(day, datetime.min.time()), tour.timezone)
        day_end = rules.localize(datetime.combine(day + timedelta(days=1), datetime.min.time()), tour.timezone)
        unbooked = Slot.objects.filter(
            tour=tour, start__gte=day_start, start__lt=day_end, booked_seats=0, status=Slot.Status.SCHEDULED
        )
        removed = _remove_unbooked(unbooked)
    logger.info("blackout %s for %s (%s) removed %s unbooked slots", day, tour, zone.key, removed)
    return blackout, removed


def deactivate_rule(*, user: User, rule: AvailabilityRule) -> int:
    """Stop a rule: its future unbooked slots go; booked ones stay until cancelled."""
    _check_guide_owns(user, rule.tour)
    with transaction.atomic():
        _lock_guide(rule.tour)
        rule.is_active = False
        rule.save(update_fields=["is_active"])
        unbooked = Slot.objects.filter(
            rule=rule, start__gt=timezone.now(), booked_seats=0, status=Slot.Status.SCHEDULED
        )
        removed = _remove_unbooked(unbooked)
    return removed


def materialize_all_tours(now: datetime | None = None) -> int:
    """Extend every active rule's slots to its tour's horizon (new dates enter the window daily)."""
    now = now or timezone.now()
    created = 0
    rules_by_tour: dict[int, list[AvailabilityRule]] = {}
    for rule in AvailabilityRule.objects.filter(is_active=True, tour__status=Tour.Status.PUBLISHED).select_related(
        "tour", "tour__guide"
    ):
        rules_by_tour.setdefault(rule.tour_id, []).append(rule)
    for tour_rules in rules_by_tour.values():
        tour = tour_rules[0].tour
        horizon_end = now + timedelta(days=scheduling_for(tour).horizon_days)
        with transaction.atomic():
            _lock_guide(tour)
            busy = _guide_busy_intervals(tour.guide, start=now, end=horizon_end + timedelta(days=1))
            for rule in tour_rules:
                try:
                    occurrences = _occurrences_for(rule, tour, start=now, end=horizon_end)
                except rules.InvalidSchedule:
                    logger.exception("rule %s of %s no longer expands", rule.pk, tour)
                    continue
                created += _create_slots(
                    tour,
                    occurrences,
                    rule=rule,
                    capacity=rule.capacity or tour.max_group_size,
                    busy=busy,
                    refuse_on_clash=False,
                )
    return created
