"""Who attended a live tour: the one definition that reviews and keepsakes both rely on.

A booking is **attended** when all of these hold:

1. the booking is confirmed (a cancelled or unpaid booking never counts) and its slot was not
   cancelled;
2. the slot's live session went live (``started_at`` is set) and has ended, for any reason but
   ``cancelled``: a tour is reviewed and summarised once it is over, never during it, and a
   session that was auto-ended without the guide ever going live is a no-show, not a tour;
3. and either the guest was **present**: a ``ViewerPresence`` row for that session whose
   ``last_seen_at`` is at or after the session went live (a heartbeat in the waiting room only,
   before the start, is not presence), or the session **completed**: it ended as ``completed``
   (the guide finished it) or ``auto_ended`` (it ran to the end of its slot), in which case every
   confirmed guest is counted, whether or not their heartbeats reached us. A session the guide
   stopped early (``guide_ended``) counts only the guests who were present.

Banned guests still attended (a guide must not be able to silence a critic by removing them);
the pages that follow the replay's rule (keepsakes) exclude them separately.
"""

from __future__ import annotations

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from bookings.models import Booking, Slot
from streaming.models import LiveSession, ViewerPresence

__all__ = ["COMPLETED_ENDINGS", "attended_bookings", "attendee_count", "has_attended"]

# Endings after which every confirmed guest counts as having taken the tour.
COMPLETED_ENDINGS = (LiveSession.EndedReason.COMPLETED, LiveSession.EndedReason.AUTO_ENDED)


def attended_bookings() -> QuerySet[Booking]:
    """Every attended booking (see the module docstring); filter it further as needed."""
    present = ViewerPresence.objects.filter(
        session=OuterRef("slot__live_session"),
        user=OuterRef("user"),
        last_seen_at__gte=OuterRef("slot__live_session__started_at"),
    )
    return (
        Booking.objects.filter(
            status=Booking.Status.CONFIRMED,
            slot__status=Slot.Status.SCHEDULED,
            slot__live_session__status=LiveSession.Status.ENDED,
            slot__live_session__started_at__isnull=False,
        )
        .exclude(slot__live_session__ended_reason=LiveSession.EndedReason.CANCELLED)
        .filter(Q(slot__live_session__ended_reason__in=COMPLETED_ENDINGS) | Exists(present))
    )


def has_attended(*, booking: Booking) -> bool:
    return attended_bookings().filter(pk=booking.pk).exists()


def attendee_count(*, session: LiveSession) -> int:
    """How many people watched the session live: distinct viewers seen after it went live.

    The guide (who publishes) is not an attendee; staff who looked in are not guests either.
    Before the session went live nobody has attended it.
    """
    if session.started_at is None:
        return 0
    return (
        ViewerPresence.objects.filter(session=session, last_seen_at__gte=session.started_at)
        .exclude(user_id=F("session__slot__guide__user_id"))
        .exclude(user__is_staff=True)
        .values("user_id")
        .distinct()
        .count()
    )
