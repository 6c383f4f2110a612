"""Reads of live sessions, including who may enter one (``access_live_session``).

The access check is the one gate of the live room: the page, the join token and the signalling
consumer all go through it, and ``viewer_may_stay`` re-runs it for people already inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from accounts.models import User
from bookings.models import Booking, Slot
from streaming import rules
from streaming.models import LiveSession, SessionBan
from streaming.rules import Role

__all__ = [
    "LiveAccessDenied",
    "LiveError",
    "access_live_session",
    "countdown_for",
    "live_session_of_slot",
    "refusal_for",
    "refusals_for_many",
    "viewer_may_stay",
]


class LiveError(Exception):
    """A live-session request that cannot be honoured; ``code`` is stable, ``message`` is for people."""

    status_code = 400

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # Extra facts for the page, e.g. ``opens_at`` (an aware UTC datetime) with too_early.
        self.details = details


class LiveAccessDenied(LiveError):
    """Refused entry. Codes: not_found, cancelled, not_guide, not_booked, banned, ended, too_early."""

    status_code = 403


def live_session_of_slot(slot_id: int) -> LiveSession | None:
    return LiveSession.objects.select_related("slot").filter(slot_id=slot_id).first()


def _is_slot_guide(user: User, slot: Slot) -> bool:
    return slot.guide.user_id == user.pk


def _check_viewer_booking(user: User, slot: Slot) -> None:
    statuses = set(Booking.objects.filter(user=user, slot=slot).values_list("status", flat=True))
    if Booking.Status.CONFIRMED in statuses:
        return
    if Booking.Status.PENDING_PAYMENT in statuses:
        raise LiveAccessDenied("not_booked", "Your booking for this tour is waiting for payment.")
    if Booking.Status.CANCELLED in statuses:
        raise LiveAccessDenied("not_booked", "Your booking for this tour was cancelled.")
    raise LiveAccessDenied("not_booked", "Only guests with a booking for this tour can watch it live.")


def _refusals(
    session: LiveSession | None, people: Sequence[tuple[User, Role]], now: datetime
) -> dict[tuple[int, Role], LiveAccessDenied]:
    """Why each of ``people`` may not be in ``session`` at ``now``, keyed by (user id, role).

    Publisher: only the slot's guide (staff do not broadcast; they watch as viewers). Viewer: a
    confirmed booking on the slot, the slot's guide (to preview) or staff. Checked in this order,
    so a person gets the reason that matters most to them: not_found, cancelled (the date), then
    not_guide/not_booked, banned, ended (the guide ended it, or past end + grace), too_early.
    Bookings and bans are read once for everybody: a fixed number of queries, plus one per person
    refused for their booking (for the exact reason).
    """
    everyone = {(user.pk, Role(role)) for user, role in people}
    if session is None:
        return dict.fromkeys(everyone, LiveAccessDenied("not_found", "There is no such live tour."))
    slot = session.slot
    if slot.status == Slot.Status.CANCELLED or session.ended_reason == LiveSession.EndedReason.CANCELLED:
        return dict.fromkeys(everyone, LiveAccessDenied("cancelled", "This tour date has been cancelled."))
    guests = {user.pk: user for user, role in people if Role(role) == Role.VIEWER}
    guests = {pk: user for pk, user in guests.items() if not (user.is_staff or _is_slot_guide(user, slot))}
    confirmed = set(
        Booking.objects.filter(slot=slot, user_id__in=guests, status=Booking.Status.CONFIRMED).values_list(
            "user_id", flat=True
        )
    )
    banned = set(SessionBan.objects.filter(session=session, user_id__in=guests).values_list("user_id", flat=True))
    refusals: dict[tuple[int, Role], LiveAccessDenied] = {}
    for user, role in people:
        key = (user.pk, Role(role))
        try:
            if key[1] == Role.PUBLISHER and not _is_slot_guide(user, slot):
                raise LiveAccessDenied("not_guide", "Only the guide of this tour can broadcast it.")
            if user.pk in guests and key[1] == Role.VIEWER:
                if user.pk not in confirmed:
                    _check_viewer_booking(user, slot)
                if user.pk in banned:
                    raise LiveAccessDenied("banned", "You have been removed from this live tour.")
            if session.is_ended:
                raise LiveAccessDenied("ended", "This live tour is over.")
            rules.check_join_window(now, role=key[1], slot_start=slot.start, slot_end=slot.end, grace=session.grace)
        except rules.OutsideWindow as outside:
            details = {"opens_at": outside.opens_at} if outside.opens_at is not None else {}
            refusals[key] = LiveAccessDenied(str(outside.reason), outside.message, **details)
        except LiveAccessDenied as refusal:
            refusals[key] = refusal
    return refusals


def access_live_session(*, user: User, session_id: int, role: Role, now: datetime | None = None) -> LiveSession:
    """Fetch a session ``user`` may enter as ``role`` at ``now``; else raise LiveAccessDenied (see _refusals)."""
    session = LiveSession.objects.select_related("slot", "slot__guide", "slot__tour").filter(pk=session_id).first()
    refusal = _refusals(session, [(user, Role(role))], now or timezone.now()).get((user.pk, Role(role)))
    if refusal is not None:
        raise refusal
    assert session is not None  # no session is refused as not_found
    return session


def refusal_for(
    *, user: User, session_id: int, role: Role = Role.VIEWER, now: datetime | None = None
) -> LiveAccessDenied | None:
    """Why ``user`` may not be in the session now, or None: for the consumer's disconnect message."""
    return refusals_for_many(session_id=session_id, people=[(user, role)], now=now).get((user.pk, Role(role)))


def refusals_for_many(
    *, session_id: int, people: Sequence[tuple[User, Role]], now: datetime | None = None
) -> dict[tuple[int, Role], LiveAccessDenied]:
    """``refusal_for`` for everyone in a session at once, in a fixed number of queries.

    The consumers of one process re-check all their sockets of a session together (a thousand
    viewers would otherwise cost a thousand checks every interval). Keyed by (user id, role);
    people who may stay are absent.
    """
    session = LiveSession.objects.select_related("slot", "slot__guide").filter(pk=session_id).first()
    return _refusals(session, people, now or timezone.now())


def viewer_may_stay(*, user: User, session_id: int, now: datetime | None = None) -> bool:
    """False once the viewer's booking is cancelled, they are banned, or the session is over.

    The same check as entering: a viewer who got in during the window is never "too early".
    """
    return refusal_for(user=user, session_id=session_id, role=Role.VIEWER, now=now) is None


def countdown_for(session: LiveSession, *, now: datetime | None = None) -> rules.Countdown:
    slot = session.slot
    if session.is_ended:
        return rules.Countdown(0, warning=True, phase=rules.Phase.OVER)
    return rules.countdown(now or timezone.now(), slot.start, slot.end, session.grace)
