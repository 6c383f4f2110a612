"""Live-session state changes: create on demand, go live, end, auto-end, ban, presence.

Every change runs in one transaction holding the session row lock (``select_for_update``), and
re-checks the state under the lock: the guide double-clicking "go live" while the periodic sweep
ends the session must leave exactly one consistent row. Permission checks go through
``selectors.access_live_session``. Real-time events are the caller's job, after commit: the
outcomes below say what changed so the caller knows what to announce.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from bookings.models import Slot
from streaming import rules
from streaming.models import LiveSession, SessionBan, ViewerPresence
from streaming.rules import Role
from streaming.selectors import LiveAccessDenied, LiveError, access_live_session

__all__ = [
    "EndOutcome",
    "GoLiveOutcome",
    "ban_viewer",
    "end_overdue_sessions",
    "end_session",
    "go_live",
    "lift_ban",
    "record_presence",
    "record_presences",
    "session_for_slot",
]


@dataclass(frozen=True)
class GoLiveOutcome:
    session: LiveSession
    went_live: bool  # scheduled -> live in this call
    epoch_raised: bool  # publisher_epoch rose in this call (viewers must resubscribe)


@dataclass(frozen=True)
class EndOutcome:
    session: LiveSession
    ended_now: bool  # False: it had already ended (the call was a no-op)


def session_for_slot(slot: Slot) -> LiveSession:
    """The slot's live session, created (scheduled) on first use; safe under concurrent calls."""
    # get_or_create retries the read when a concurrent create wins the OneToOne unique index.
    session, _created = LiveSession.objects.get_or_create(slot=slot)
    return session


def _lock(session_id: int) -> LiveSession:
    try:
        return LiveSession.objects.select_for_update().select_related("slot", "slot__guide").get(pk=session_id)
    except LiveSession.DoesNotExist:
        raise LiveAccessDenied("not_found", "There is no such live tour.") from None


def go_live(*, user: User, session_id: int, republish: bool = False, now: datetime | None = None) -> GoLiveOutcome:
    """The guide starts broadcasting (or publishes again after a reconnect).

    Idempotent: on a live session ``go_live()`` changes nothing (a double click, a retried
    request). ``republish=True`` means "a new publisher connection is sending media": it raises
    ``publisher_epoch`` every time, so viewers holding the old epoch resubscribe. The first publish
    of a scheduled session sets the epoch to 1 either way.
    """
    now = now or timezone.now()
    access_live_session(user=user, session_id=session_id, role=Role.PUBLISHER, now=now)
    with transaction.atomic():
        # FOR UPDATE: go_live racing end_session or the auto-end sweep must see one final state.
        session = _lock(session_id)
        if session.is_ended:
            raise LiveAccessDenied("ended", "This live tour is over.")
        if session.status == LiveSession.Status.LIVE and not republish:
            return GoLiveOutcome(session, went_live=False, epoch_raised=False)
        went_live = session.status == LiveSession.Status.SCHEDULED
        if went_live:
            session.status = LiveSession.Status.LIVE
            session.started_at = now
        session.publisher_epoch += 1
        session.save(update_fields=["status", "started_at", "publisher_epoch", "updated_at"])
    return GoLiveOutcome(session, went_live=went_live, epoch_raised=True)


def _end_locked(session: LiveSession, *, reason: LiveSession.EndedReason, at: datetime) -> None:
    session.status = LiveSession.Status.ENDED
    session.ended_reason = reason
    session.ended_at = at
    session.save(update_fields=["status", "ended_reason", "ended_at", "updated_at"])


# The reasons a person may give; auto_ended belongs to the sweep alone.
_MANUAL_END_REASONS = (
    LiveSession.EndedReason.COMPLETED,
    LiveSession.EndedReason.GUIDE_ENDED,
    LiveSession.EndedReason.CANCELLED,
)


def end_session(
    *, user: User, session_id: int, reason: LiveSession.EndedReason, now: datetime | None = None
) -> EndOutcome:
    """The slot's guide or staff end the session (scheduled or live). Ending it twice is a no-op.

    ``reason``: completed (the tour is done), guide_ended (stopped early) or cancelled.
    """
    now = now or timezone.now()
    reason = LiveSession.EndedReason(reason)
    if reason not in _MANUAL_END_REASONS:
        raise ValueError(f"{reason} is set by the automatic end only")
    with transaction.atomic():
        session = _lock(session_id)
        if session.slot.guide.user_id != user.pk and not user.is_staff:
            raise LiveAccessDenied("not_guide", "Only the guide of this tour can end it.")
        if session.is_ended:
            return EndOutcome(session, ended_now=False)
        _end_locked(session, reason=reason, at=now)
    return EndOutcome(session, ended_now=True)


def end_overdue_sessions(now: datetime | None = None) -> list[int]:
    """The automatic end (a periodic task): close sessions past their deadline; return their ids.

    A session past ``slot.end + grace`` becomes ended/auto_ended with ``ended_at`` = the deadline
    (nobody could be in it after that instant, however late the sweep runs); a session whose slot
    was cancelled becomes ended/cancelled at ``now``. Each row is locked and re-checked, so the
    sweep and a guide ending the session at the same moment give one end, not two.
    """
    now = now or timezone.now()
    open_statuses = (LiveSession.Status.SCHEDULED, LiveSession.Status.LIVE)
    # Every grace is >= 0, so a session with slot.end in the future cannot be overdue.
    candidates = LiveSession.objects.filter(
        Q(slot__end__lte=now) | Q(slot__status=Slot.Status.CANCELLED), status__in=open_statuses
    )
    ended: list[int] = []
    for session_id in candidates.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            session = _lock(session_id)
            if session.is_ended:
                continue
            if session.slot.status == Slot.Status.CANCELLED:
                _end_locked(session, reason=LiveSession.EndedReason.CANCELLED, at=now)
            else:
                deadline = rules.end_deadline(session.slot.end, session.grace)
                if deadline > now:
                    continue
                _end_locked(session, reason=LiveSession.EndedReason.AUTO_ENDED, at=deadline)
            ended.append(session.pk)
    return ended


def ban_viewer(*, by: User, session_id: int, user: User, reason: str = "") -> SessionBan:
    """The slot's guide or staff remove ``user`` from the session for good. Banning twice keeps one ban."""
    with transaction.atomic():
        session = _lock(session_id)
        if session.slot.guide.user_id != by.pk and not by.is_staff:
            raise LiveAccessDenied("not_guide", "Only the guide of this tour can remove a guest.")
        if user.is_staff or session.slot.guide.user_id == user.pk:
            raise LiveError("cannot_ban", "The guide and staff cannot be removed from a live tour.")
        ban, _created = SessionBan.objects.get_or_create(
            session=session, user=user, defaults={"by": by, "reason": reason[:300]}
        )
    return ban


def lift_ban(*, by: User, session_id: int, user: User) -> bool:
    """Let a removed guest back in; True when there was a ban to lift."""
    with transaction.atomic():
        session = _lock(session_id)
        if session.slot.guide.user_id != by.pk and not by.is_staff:
            raise LiveAccessDenied("not_guide", "Only the guide of this tour can let a guest back in.")
        deleted, _per_model = SessionBan.objects.filter(session=session, user=user).delete()
    return deleted > 0


def record_presence(*, user: User, session_id: int, now: datetime | None = None) -> ViewerPresence:
    """A heartbeat from a viewer in the room: adds the time since the last one (gaps > 90 s are not counted).

    The caller has already let the user in (``access_live_session``); this does not check again.
    """
    record_presences(session_id=session_id, user_ids=[user.pk], now=now)
    return ViewerPresence.objects.get(session_id=session_id, user=user)


def record_presences(*, session_id: int, user_ids: Iterable[int], now: datetime | None = None) -> None:
    """Heartbeats from several viewers of one session at once, in a few queries (not one per viewer).

    Rows are locked in user order (two processes recording overlapping viewers cannot deadlock);
    a row created meanwhile by another process is skipped here and counted at the next beat.
    """
    now = now or timezone.now()
    wanted = sorted(set(user_ids))
    if not wanted:
        return
    with transaction.atomic():
        # Tuples, not model instances: a thousand viewers beat together every few seconds.
        existing = list(
            ViewerPresence.objects.select_for_update()
            .filter(session_id=session_id, user_id__in=wanted)
            .order_by("user_id")
            .values_list("user_id", "last_seen_at")
        )
        # One UPDATE per distinct whole-second increment (a handful: viewers who beat together
        # share their last beat), not one per viewer.
        groups: dict[int, list[int]] = defaultdict(list)
        for user_id, last_seen_at in existing:
            if last_seen_at < now:  # else a clock step back: nothing to add, the later time stays
                groups[rules.presence_increment(last_seen_at, now)].append(user_id)
        for increment, group in groups.items():
            ViewerPresence.objects.filter(session_id=session_id, user_id__in=group).update(
                total_seconds=F("total_seconds") + increment, last_seen_at=now
            )
        seen = {user_id for user_id, _last_seen_at in existing}
        ViewerPresence.objects.bulk_create(
            [
                ViewerPresence(session_id=session_id, user_id=user_id, first_joined_at=now, last_seen_at=now)
                for user_id in wanted
                if user_id not in seen
            ],
            ignore_conflicts=True,
        )
