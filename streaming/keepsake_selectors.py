"""Reads behind the tour summary ("keepsakes"): who may see it, what it shows, tours to book next.

Who sees a summary: the slot's guide and staff at any time; a guest once they attended the tour
(``streaming.attendance``) unless they were removed from it (the replay's rule). Who edits the
highlights and photos: the slot's guide and staff only. Everyone else is refused with a reason.
The postcard (the public page share links point to) shows only what the tour page already shows
publicly, plus the first photo, and exists once the session is over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Case, F, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Lower

from accounts.models import User
from bookings.models import Booking, Slot, Tour
from reviews.selectors import tour_rating_subqueries
from streaming import attendance
from streaming.keepsake_models import Keepsake, KeepsakePhoto
from streaming.models import LiveSession, Recording, SessionBan
from streaming.selectors import LiveAccessDenied

__all__ = [
    "SIMILAR_TOURS_HORIZON",
    "WELL_RATED_AVERAGE",
    "KeepsakeSummary",
    "access_keepsake",
    "access_keepsake_for_edit",
    "keepsake_session_for",
    "postcard_session",
    "similar_tours",
    "summary_of",
]

# "Soon": a date within this horizon. "Bookable": starting at least the default booking notice
# from now (bookings.TourScheduling.min_notice_minutes defaults to 120); a tour with a longer
# notice may show a date its own calendar already closed, and the card links to that calendar.
SIMILAR_TOURS_HORIZON = timedelta(days=30)
BOOKING_NOTICE = timedelta(minutes=120)
# "Well rated": at least this average over published reviews; a tour without reviews yet is
# shown too (after the rated ones), or new guides would never be suggested.
WELL_RATED_AVERAGE = 4.0


@dataclass(frozen=True)
class KeepsakeSummary:
    session: LiveSession
    slot: Slot
    tour: Tour
    highlights: str
    photos: list[KeepsakePhoto]
    live_duration: timedelta | None  # from going live to the end; None if it never went live
    attendee_count: int
    replay_available: bool

    @property
    def live_minutes(self) -> int | None:
        if self.live_duration is None:
            return None
        return max(1, round(self.live_duration.total_seconds() / 60))

    @property
    def cover_photo(self) -> KeepsakePhoto | None:
        return self.photos[0] if self.photos else None


def _session(session_id: int) -> LiveSession:
    session = (
        LiveSession.objects.select_related("slot", "slot__tour", "slot__tour__guide", "slot__guide")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        raise LiveAccessDenied("not_found", "There is no such live tour.")
    return session


def _is_guide_or_staff(user: User, session: LiveSession) -> bool:
    return user.is_staff or session.slot.guide.user_id == user.pk


def access_keepsake(*, user: AbstractBaseUser | AnonymousUser, session_id: int) -> LiveSession:
    """The session whose summary ``user`` may read; else LiveAccessDenied.

    Codes: not_found (404), not_attended, banned (403).
    """
    session = _session(session_id)
    if not isinstance(user, User):
        raise LiveAccessDenied("not_attended", "The summary of a tour is for the guests who took part in it.")
    if _is_guide_or_staff(user, session):
        return session
    if not attendance.attended_bookings().filter(user=user, slot_id=session.slot_id).exists():
        raise LiveAccessDenied("not_attended", "The summary of a tour is for the guests who took part in it.")
    if SessionBan.objects.filter(session=session, user=user).exists():
        raise LiveAccessDenied("banned", "You have been removed from this live tour.")
    return session


def access_keepsake_for_edit(*, user: AbstractBaseUser | AnonymousUser, session_id: int) -> LiveSession:
    """The session whose highlights and photos ``user`` may change: its guide or staff.

    Codes: not_found (404), not_guide, cancelled (403).
    """
    session = _session(session_id)
    if not isinstance(user, User) or not _is_guide_or_staff(user, session):
        raise LiveAccessDenied("not_guide", "Only the guide of this tour can add its highlights and photos.")
    if session.slot.status == Slot.Status.CANCELLED or session.ended_reason == LiveSession.EndedReason.CANCELLED:
        raise LiveAccessDenied("cancelled", "This tour date has been cancelled.")
    return session


def keepsake_session_for(*, user: User, booking: Booking) -> LiveSession | None:
    """The session of ``booking`` if its guest may read the summary now (for links), else None."""
    if booking.user_id != user.pk:
        return None
    if not attendance.attended_bookings().filter(pk=booking.pk).exists():
        return None
    session = LiveSession.objects.filter(slot_id=booking.slot_id).first()
    if session is None or SessionBan.objects.filter(session=session, user=user).exists():
        return None
    return session


def postcard_session(*, session_id: int) -> LiveSession:
    """The session behind the public postcard: it must have taken place (ended, went live)."""
    session = _session(session_id)
    if (
        not session.is_ended
        or session.started_at is None
        or session.ended_reason == LiveSession.EndedReason.CANCELLED
        or session.slot.status == Slot.Status.CANCELLED
    ):
        raise LiveAccessDenied("not_found", "There is no such live tour.")
    return session


def summary_of(session: LiveSession) -> KeepsakeSummary:
    """What the summary page shows: four queries, whatever the number of photos or guests."""
    keepsake = Keepsake.objects.filter(session=session).first()
    photos = list(KeepsakePhoto.objects.filter(session=session).order_by("created_at", "pk"))
    live_duration = None
    if session.started_at is not None:
        end = session.ended_at if session.ended_at is not None else session.slot.end
        live_duration = max(end - session.started_at, timedelta(0))
    replay = Recording.objects.filter(session=session, status=Recording.Status.READY).exists() and session.is_ended
    return KeepsakeSummary(
        session=session,
        slot=session.slot,
        tour=session.slot.tour,
        highlights=keepsake.highlights if keepsake is not None else "",
        photos=photos,
        live_duration=live_duration,
        attendee_count=attendance.attendee_count(session=session),
        replay_available=replay,
    )


def similar_tours(*, tour: Tour, now: datetime, limit: int = 4) -> list[Tour]:
    """Published tours to book next: same city, category or guide, well rated, a free seat soon.

    One query (plus none per card: the guide is joined). Ranked by how much they share with
    ``tour`` (guide, city, category: one point each), then by rating (unrated last), then by the
    soonest free date. Each tour comes with ``next_start``, ``review_average`` and ``review_count``.
    """
    free_soon = Slot.objects.filter(
        tour=OuterRef("pk"),
        status=Slot.Status.SCHEDULED,
        start__gte=now + BOOKING_NOTICE,
        start__lt=now + SIMILAR_TOURS_HORIZON,
        booked_seats__lt=F("capacity"),
    ).order_by("start")
    city = tour.city.lower()
    same_city = Q(city_lower=city)
    related = Q(guide_id=tour.guide_id) | same_city | Q(category=tour.category)

    def point(condition: Q) -> Case:
        return Case(When(condition, then=Value(1)), default=Value(0), output_field=IntegerField())

    tours = (
        Tour.objects.filter(status=Tour.Status.PUBLISHED)
        .exclude(pk=tour.pk)
        .annotate(city_lower=Lower("city"))
        .filter(related)
        .annotate(next_start=Subquery(free_soon.values("start")[:1]), **tour_rating_subqueries())
        .filter(next_start__isnull=False)
        .filter(Q(review_count=0) | Q(review_average__gte=WELL_RATED_AVERAGE))
        .annotate(closeness=point(Q(guide_id=tour.guide_id)) + point(same_city) + point(Q(category=tour.category)))
        .select_related("guide")
        .order_by("-closeness", F("review_average").desc(nulls_last=True), "next_start", "pk")
    )
    return list(tours[:limit])
