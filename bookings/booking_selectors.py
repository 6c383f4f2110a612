"""Reads behind the customer's booking pages: a slot to book, a person's bookings, overlaps, new dates.

State changes (book, cancel, reschedule) stay in ``bookings.reservations``; everything here only
reads, so a page can ask "may this be booked now?" without taking the row lock the services take.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import User
from bookings import reservations, scheduling
from bookings.models import Booking, Slot

# The seats menu on the booking page stops here; larger groups are rare and can book twice.
MAX_SEATS_PER_BOOKING = 10


@dataclass(frozen=True)
class Unavailable:
    """Why a slot cannot be booked right now: ``code`` is stable, ``message`` is for people."""

    code: str
    message: str


def slot_to_book(*, slot_id: int) -> Slot:
    """The slot behind ``/slots/<id>/book/`` with its tour and guide; 404 when there is none."""
    slot = Slot.objects.select_related("tour", "tour__guide", "guide").filter(pk=slot_id).first()
    if slot is None:
        raise Http404(_("No such date."))
    return slot


def booking_unavailable(*, slot: Slot, now: datetime) -> Unavailable | None:
    """None when ``slot`` may be booked at ``now``, else the reason (the order the service checks in).

    Read without a lock, so it only decides what the page offers; ``reservations.book_seat``
    checks again under the slot lock and has the final word.
    """
    try:
        reservations.check_slot_open(slot, now=now)
    except reservations.SlotUnavailableError as error:
        return Unavailable(error.code, error.message)
    if slot.seats_left == 0:
        return Unavailable("sold_out", _("Sold out: every seat on this date is taken."))
    if not slot.tour.is_free:
        try:
            reservations.check_guide_takes_payments(slot.tour)
        except reservations.SlotUnavailableError as error:
            return Unavailable(error.code, error.message)
    return None


def seat_choices(*, slot: Slot) -> list[int]:
    """What the seats menu offers: 1 up to the seats left, at most MAX_SEATS_PER_BOOKING."""
    return list(range(1, min(slot.seats_left, MAX_SEATS_PER_BOOKING) + 1))


def active_booking_on_slot(*, user: User, slot: Slot) -> Booking | None:
    return Booking.objects.filter(user=user, slot=slot, status__in=Booking.ACTIVE_STATUSES).first()


def _with_slot_and_tour(bookings: QuerySet[Booking]) -> QuerySet[Booking]:
    return bookings.select_related("slot", "slot__tour", "slot__tour__guide")


def overlapping_bookings(*, user: User, slot: Slot) -> list[Booking]:
    """The user's other active bookings (any tour) whose time overlaps ``slot``, earliest first.

    Half-open intervals as in ``rules.overlaps`` with no buffer: a tour ending at 10:00 does not
    overlap one starting at 10:00. A booking on ``slot`` itself is not an overlap but a duplicate.
    """
    bookings = (
        _with_slot_and_tour(Booking.objects.filter(user=user, status__in=Booking.ACTIVE_STATUSES))
        .exclude(slot=slot)
        .filter(slot__start__lt=slot.end, slot__end__gt=slot.start)
        .order_by("slot__start", "pk")
    )
    return list(bookings)


def upcoming_bookings(*, user: User, now: datetime) -> list[Booking]:
    """Bookings whose tour has not ended yet (including cancelled ones), soonest first."""
    bookings = Booking.objects.filter(user=user, slot__end__gt=now).order_by("slot__start", "pk")
    return list(_with_slot_and_tour(bookings))


def past_bookings(*, user: User, now: datetime) -> list[Booking]:
    """Bookings whose tour has ended, most recent first."""
    bookings = Booking.objects.filter(user=user, slot__end__lte=now).order_by("-slot__start", "-pk")
    return list(_with_slot_and_tour(bookings))


def can_change(*, booking: Booking, now: datetime) -> bool:
    """Whether the page offers cancel and reschedule: an active booking whose tour has not started."""
    return booking.is_active and booking.slot.start > now


def reschedule_options(*, booking: Booking, now: datetime) -> list[Slot]:
    """Other dates of the booking's tour it could move to now: bookable, with room for its seats.

    Dates on which the customer already has a booking are left out (the service refuses them).
    """
    tour_scheduling = scheduling.scheduling_for(booking.slot.tour)
    taken = Booking.objects.filter(user=booking.user, status__in=Booking.ACTIVE_STATUSES).values("slot_id")
    slots = (
        Slot.objects.select_related("tour")
        .filter(
            tour_id=booking.slot.tour_id,
            status=Slot.Status.SCHEDULED,
            start__gte=now + timedelta(minutes=tour_scheduling.min_notice_minutes),
            start__lte=now + timedelta(days=tour_scheduling.horizon_days),
        )
        .exclude(pk=booking.slot_id)
        .exclude(pk__in=taken)
        .order_by("start", "pk")
    )
    return [slot for slot in slots if slot.seats_left >= booking.seats]
