"""A tour's scheduling settings: minimum notice, booking horizon, buffer and refund policy.

Kept beside bookings/scheduling.py (which owns rules, blackouts and one-off dates) because nothing
there changes a TourScheduling row; it may move into that module later.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from accounts.models import GuideProfile, User
from bookings import rules
from bookings.models import Slot, Tour, TourScheduling
from bookings.scheduling import SchedulingError

NEVER_REFUND = [[0, 0]]


def _label(slot: Slot) -> str:
    # The same wording as bookings.scheduling uses for clashes, so guides read one style.
    local = slot.start.astimezone(zoneinfo.ZoneInfo(slot.tour.timezone))
    return f"“{slot.tour.title}” on {local:%a %d %b %Y %H:%M} ({slot.tour.timezone})"


def check_buffer_keeps_slots_apart(tour: Tour, *, buffer_minutes: int, now: datetime | None = None) -> None:
    """Raise SchedulingError (naming the pair) if this buffer would make two of the guide's future
    dates overlap. Only pairs involving this tour are checked: the others kept their buffers."""
    now = now or timezone.now()
    slots = list(
        Slot.objects.filter(guide_id=tour.guide_id, status=Slot.Status.SCHEDULED, end__gt=now)
        .select_related("tour", "tour__scheduling")
        .order_by("start", "pk")
    )
    buffers: dict[int, int] = {}
    for slot in slots:
        if slot.tour_id == tour.pk:
            buffers[slot.tour_id] = buffer_minutes
        elif slot.tour_id not in buffers:
            scheduling = TourScheduling.objects.filter(tour_id=slot.tour_id).first()
            buffers[slot.tour_id] = scheduling.buffer_minutes if scheduling else TourScheduling().buffer_minutes
    busy = [
        (slot, rules.Interval(slot.start, slot.end + timedelta(minutes=buffers[slot.tour_id]), _label(slot)))
        for slot in slots
    ]
    for index, (slot, interval) in enumerate(busy):
        # Sorted by start: only later dates that start before this one's busy time ends can clash.
        for other_slot, other in busy[index + 1 :]:
            if other.start >= interval.end:
                break
            if slot.tour_id != tour.pk and other_slot.tour_id != tour.pk:
                continue  # unchanged buffers: these two were already checked when created
            if rules.overlaps(interval, other):
                raise SchedulingError(
                    f"A {buffer_minutes}-minute buffer would make {interval.label} overlap {other.label}."
                )


def update_tour_scheduling(
    *,
    user: User,
    tour: Tour,
    min_notice_minutes: int,
    horizon_days: int,
    buffer_minutes: int,
    refund_policy: rules.RefundPolicy,
    now: datetime | None = None,
) -> TourScheduling:
    """Save a tour's settings; a longer buffer is refused if it would make two dates overlap.

    The new refund policy applies to every later cancellation of this tour's bookings.
    """
    if tour.guide.user_id != user.pk and not user.is_staff:
        raise PermissionDenied("Only the tour's guide can change its settings.")
    if horizon_days * 24 * 60 <= min_notice_minutes:
        raise SchedulingError("The booking horizon must be longer than the minimum notice.")
    now = now or timezone.now()
    with transaction.atomic():
        # FOR UPDATE on the guide, as bookings.scheduling does: a rule added meanwhile is checked
        # against the new buffer, or this check sees its slots.
        GuideProfile.objects.select_for_update().get(pk=tour.guide_id)
        scheduling, _created = TourScheduling.objects.select_for_update().get_or_create(tour=tour)
        if buffer_minutes > scheduling.buffer_minutes:
            check_buffer_keeps_slots_apart(tour, buffer_minutes=buffer_minutes, now=now)
        scheduling.min_notice_minutes = min_notice_minutes
        scheduling.horizon_days = horizon_days
        scheduling.buffer_minutes = buffer_minutes
        # An empty list reads as "the default policy" (reservations.refund_policy_for), so "never
        # refund" is stored as one tier that refunds 0 %.
        scheduling.refund_policy = refund_policy.to_pairs() or NEVER_REFUND
        scheduling.full_clean()
        scheduling.save()
    return scheduling
