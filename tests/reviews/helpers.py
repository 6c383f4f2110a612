"""Builders for "a tour that took place": slot, live session that went live and ended, guests.

Shared by tests/reviews and tests/keepsakes. The rows are written directly (the streaming
services' own behaviour is tested in tests/streaming); what matters here is the state they leave.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.utils import timezone

from accounts.models import User
from bookings.models import Booking, Slot, Tour
from reviews.models import Review
from streaming.models import LiveSession, ViewerPresence
from tests.factories import BookingFactory, LiveSessionFactory, SlotFactory, TourFactory, UserFactory


def make_user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def make_tour(**fields: Any) -> Tour:
    return cast(Tour, TourFactory(**fields))


@dataclass
class PastTour:
    slot: Slot
    session: LiveSession
    guide: User
    bookings: list[Booking] = field(default_factory=list)

    @property
    def tour(self) -> Tour:
        return self.slot.tour

    @property
    def booking(self) -> Booking:
        return self.bookings[0]

    @property
    def guest(self) -> User:
        return self.booking.user

    def add_guest(self, user: User | None = None, *, present: bool = True, status: str = "confirmed") -> Booking:
        booking = cast(Booking, BookingFactory(user=user or make_user(), slot=self.slot, status=status))
        if present:
            mark_present(self.session, booking.user)
        self.bookings.append(booking)
        return booking


def mark_present(session: LiveSession, user: User, *, seconds: int = 1800) -> ViewerPresence:
    assert session.started_at is not None
    return ViewerPresence.objects.create(
        session=session,
        user=user,
        first_joined_at=session.started_at,
        last_seen_at=session.started_at + timedelta(seconds=seconds),
        total_seconds=seconds,
    )


def past_tour(
    *,
    tour: Tour | None = None,
    start: datetime | None = None,
    reason: str = LiveSession.EndedReason.COMPLETED,
    went_live: bool = True,
    guests: int = 1,
    present: bool = True,
    ended: bool = True,
) -> PastTour:
    """A slot that ran (by default: yesterday, went live on time, completed) with ``guests`` guests."""
    start = start or (timezone.now() - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    tour = tour or make_tour()
    slot = cast(
        Slot,
        SlotFactory(
            tour=tour,
            start=start,
            end=start + timedelta(minutes=tour.duration_minutes),
            capacity=max(tour.max_group_size, guests + 5),
        ),
    )
    session = cast(LiveSession, LiveSessionFactory(slot=slot))
    if went_live:
        session.status = LiveSession.Status.LIVE
        session.started_at = start
    if ended:
        session.status = LiveSession.Status.ENDED
        session.ended_reason = reason
        session.ended_at = slot.end
    session.save()
    result = PastTour(slot=slot, session=session, guide=slot.guide.user)
    for _ in range(guests):
        result.add_guest(present=present and went_live)
    return result


def make_review(booking: Booking, *, rating: int = 5, text: str = "", status: str = "pending", **fields: Any) -> Review:
    """A review row as submit_review writes it (then moderated to ``status`` if given)."""
    created_at = fields.pop("created_at", None)
    review = Review.objects.create(
        booking=booking,
        tour=booking.slot.tour,
        guide=booking.slot.guide,
        author=booking.user,
        rating=rating,
        text=text,
        status=status,
        moderated_at=None if status == "pending" else timezone.now(),
        **fields,
    )
    if created_at is not None:
        Review.objects.filter(pk=review.pk).update(created_at=created_at)
        review.refresh_from_db()
    return review


LONG_ENOUGH = "The guide showed us corners of Rome we would never have found alone."
NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
