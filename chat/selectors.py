"""Reads of the live room: who someone is in a room (``access_room``), what they may see, the
snapshot a (re)joining socket gets, the participant list, the transcript.

Objects sent over the wire (person, message, question, participant) are built here, once, from
the rows; docs/events.md ("Live room") describes them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.cache import cache
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import GuideProfile, User
from bookings.models import Booking, Slot
from chat import realtime, rules
from chat.models import (
    BlockedWord,
    ChatMessage,
    ChatTimeout,
    Participant,
    Question,
    QuestionVote,
    RoomConnection,
    RoomState,
)
from chat.protocol import event, iso
from chat.rules import MemberRole, RuleViolation
from streaming.models import LiveSession, SessionBan, ViewerPresence

__all__ = [
    "RoomAccess",
    "SendChecks",
    "access_room",
    "blocked_words",
    "forget_cached_sessions",
    "held_object",
    "last_sent_at",
    "last_seq",
    "message_object",
    "participants",
    "person",
    "question_object",
    "room_snapshot",
    "send_checks",
    "sequenced_payloads",
    "transcript",
    "viewer_count",
]

BLOCKED_WORDS_CACHE_KEY = "chat:blocked-words"


@dataclass(frozen=True)
class RoomAccess:
    """A person let into a session's room, and as what."""

    session: LiveSession
    user: User
    role: MemberRole

    @property
    def guide_user_id(self) -> int:
        return self.session.slot.guide.user_id

    @property
    def moderates(self) -> bool:
        return self.role.moderates

    def person(self) -> dict[str, Any]:
        return person(self.user, session=self.session)


def _session_rows() -> QuerySet[LiveSession]:
    return LiveSession.objects.select_related("slot", "slot__guide", "slot__tour")


def _session(session_id: int) -> LiveSession:
    return _found(_session_rows().filter(pk=session_id).first())


def _found(session: LiveSession | None) -> LiveSession:
    if session is None:
        raise RuleViolation("not_found", "There is no such live tour.")
    return session


def _with_access_facts(rows: QuerySet[LiveSession], user: User) -> QuerySet[LiveSession]:
    """The session rows with what ``role_in`` needs to know about ``user``, read in the same query."""
    return rows.annotate(
        access_booked=Exists(
            Booking.objects.filter(user=user, slot_id=OuterRef("slot_id"), status=Booking.Status.CONFIRMED)
        ),
        access_banned=Exists(SessionBan.objects.filter(session_id=OuterRef("pk"), user=user)),
    )


def role_in(
    user: User, session: LiveSession, *, booked: bool | None = None, banned: bool | None = None
) -> MemberRole | None:
    """The person's role in the room, or None if they may not be in it (no booking, banned).

    ``booked`` (a confirmed booking of the slot) and ``banned`` (from the session) are queried
    unless the caller read them already, with the session (``access_room``).
    """
    if session.slot.guide.user_id == user.pk:
        return MemberRole.GUIDE
    if user.is_staff:
        return MemberRole.STAFF
    if not user.is_active:
        return None
    if booked is None:
        booked = Booking.objects.filter(user=user, slot_id=session.slot_id, status=Booking.Status.CONFIRMED).exists()
    if not booked:
        return None
    if banned is None:
        banned = SessionBan.objects.filter(session=session, user=user).exists()
    return None if banned else MemberRole.VIEWER


def access_room(
    *, user: User, session_id: int, write: bool = False, moderate: bool = False, session: LiveSession | None = None
) -> RoomAccess:
    """The person's access to the room, checked now; else RuleViolation.

    Readers: the slot's guide, staff, and guests with a confirmed booking who are not banned
    (``not_allowed``). ``write``: the session has not ended (``ended``: the chat is read-only
    after the tour, also for a cancelled date). ``moderate``: the guide of the slot or staff.
    One query (the booking and the ban are read with the session) unless ``session`` is given.
    """
    if session is not None:
        return _checked_access(user, session, role_in(user, session), write=write, moderate=moderate)
    found = _found(_with_access_facts(_session_rows(), user).filter(pk=session_id).first())
    return _annotated_access(user, found, write=write, moderate=moderate)


def _annotated_access(user: User, session: LiveSession, *, write: bool, moderate: bool) -> RoomAccess:
    facts: Any = session  # annotated by _with_access_facts
    role = role_in(user, session, booked=facts.access_booked, banned=facts.access_banned)
    return _checked_access(user, session, role, write=write, moderate=moderate)


def _checked_access(
    user: User, session: LiveSession, role: MemberRole | None, *, write: bool, moderate: bool, ended: bool | None = None
) -> RoomAccess:
    """``ended``: read fresh by the caller (else from ``session``)."""
    if role is None:
        raise RuleViolation("not_allowed", "Only guests of this tour can take part in its room.")
    if moderate and not role.moderates:
        raise RuleViolation("not_allowed", "Only the guide and staff can do this.")
    if ended is None:
        ended = session.is_ended or session.slot.status == Slot.Status.CANCELLED
    if write and ended:
        raise RuleViolation("ended", "This live tour is over; its chat is read-only.")
    return RoomAccess(session=session, user=user, role=role)


@dataclass(frozen=True)
class SendChecks:
    """What ``services.send_message`` checks before it takes the sequence lock, read with the access.

    Read without the lock; send_message guards the retry (the unique client_id) and slow mode
    (read again when it is on) under it. The timeout needs no guard: ``timeout_user`` does not
    take the lock, so reading it under the lock never ordered the two anyway.
    """

    access: RoomAccess
    stored_id: int | None  # the message stored earlier under this client_id (a retry)
    timed_out_until: datetime | None
    slow_mode_seconds: int
    last_sent_at: datetime | None  # the person's latest message in the session


def last_sent_at(*, session_id: int, user: User) -> datetime | None:
    """When the person last sent a message in the session (slow mode)."""
    sent = ChatMessage.objects.filter(session_id=session_id, author=user).order_by("-created_at")
    return sent.values_list("created_at", flat=True).first()


def send_checks(*, user: User, session_id: int, client_id: str, now: datetime) -> SendChecks:
    """``access_room(write=True)`` and the person's state for sending a message, in one query.

    The hot path of a busy room (every chat message): one hand-written statement of scalars,
    because building and compiling the same query with the ORM cost ~4 ms of CPU per message,
    under the GIL the room's fan-out needs (measured, docs/performance.md "Live room"). The
    session's slot, guide and tour (for names in the payload) come from a short-lived cache of
    this process; what can change during a tour (its status, the slot's, the guide, the booking,
    a ban) is read fresh by the statement.
    """
    with connection.cursor() as cursor:
        cursor.execute(_SEND_CHECKS_SQL, _send_checks_params(user.pk, session_id, client_id, now))
        row = cursor.fetchone()
    if row is None:
        raise RuleViolation("not_found", "There is no such live tour.")
    guide_user_id, status, slot_status, booked, banned, stored_id, timed_out_until, slow_mode, last_sent = row
    session = _cached_session(session_id, guide_user_id=guide_user_id)
    role = role_in(user, session, booked=bool(booked), banned=bool(banned))
    ended = status == LiveSession.Status.ENDED or slot_status == Slot.Status.CANCELLED
    return SendChecks(
        access=_checked_access(user, session, role, write=True, moderate=False, ended=ended),
        stored_id=stored_id,
        timed_out_until=_datetime(timed_out_until),
        slow_mode_seconds=slow_mode or 0,
        last_sent_at=_datetime(last_sent),
    )


# The statement of send_checks: the guide's user, the session's and the slot's status, a confirmed
# booking, a ban, a message stored under this client_id, a running timeout, slow mode, the
# person's latest message. Parameters: _send_checks_params.
_SEND_CHECKS_SQL = """
SELECT g."user_id", s."status", sl."status",
    EXISTS(SELECT 1 FROM "bookings_booking" b
        WHERE b."user_id" = %s AND b."slot_id" = s."slot_id" AND b."status" = %s),
    EXISTS(SELECT 1 FROM "streaming_sessionban" x WHERE x."session_id" = s."id" AND x."user_id" = %s),
    (SELECT m."id" FROM "chat_chatmessage" m
        WHERE m."session_id" = s."id" AND m."author_id" = %s AND m."client_id" = %s LIMIT 1),
    (SELECT t."until" FROM "chat_chattimeout" t
        WHERE t."session_id" = s."id" AND t."user_id" = %s AND t."until" > %s LIMIT 1),
    (SELECT r."slow_mode_seconds" FROM "chat_roomstate" r WHERE r."session_id" = s."id"),
    (SELECT m."created_at" FROM "chat_chatmessage" m
        WHERE m."session_id" = s."id" AND m."author_id" = %s ORDER BY m."created_at" DESC LIMIT 1)
FROM "streaming_livesession" s
JOIN "bookings_slot" sl ON sl."id" = s."slot_id"
JOIN "accounts_guideprofile" g ON g."id" = sl."guide_id"
WHERE s."id" = %s
"""


def _send_checks_params(user_id: int, session_id: int, client_id: str, now: datetime) -> list[Any]:
    at = connection.ops.adapt_datetimefield_value(now)
    return [user_id, Booking.Status.CONFIRMED.value, user_id, user_id, client_id, user_id, at, user_id, session_id]


def _datetime(value: Any) -> datetime | None:
    """A timestamp read by raw SQL, aware: PostgreSQL gives aware datetimes, SQLite naive UTC ones
    (or text where it cannot tell the column's type), as the ORM would convert them."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not a timestamp: {value!r}")
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


# Sessions with their slot, guide and tour, read at most every _SESSION_CACHE_SECONDS per process.
_SESSION_CACHE_SECONDS = 30.0
_session_cache: dict[int, tuple[float, LiveSession]] = {}


def forget_cached_sessions() -> None:
    """Empty this process's session cache (tests: ids are reused between test databases)."""
    _session_cache.clear()


def _cached_session(session_id: int, *, guide_user_id: int) -> LiveSession:
    """The session with its slot, guide and tour, for what does not change during a tour (names,
    ids). Read again when older than _SESSION_CACHE_SECONDS or when the slot's guide is someone
    else now.
    Callers check status, bookings and bans from fresh reads, never from this object."""
    now = time.monotonic()
    cached = _session_cache.get(session_id)
    if cached is not None and now - cached[0] < _SESSION_CACHE_SECONDS:
        session = cached[1]
        if session.slot.guide.user_id == guide_user_id:
            return session
    session = _session(session_id)
    if len(_session_cache) > 1000:
        _session_cache.clear()
    _session_cache[session_id] = (now, session)
    return session


# -- wire objects -----------------------------------------------------------------------------------


def person(user: User, *, session: LiveSession) -> dict[str, Any]:
    """``{id, name, role, country}``: the guide by their guide name, others by their own name."""
    return _person(user.pk, user.name, user.is_staff, user.country, guide=session.slot.guide)


def _person(user_id: int, name: str, is_staff: bool, country: str, *, guide: GuideProfile) -> dict[str, Any]:
    if guide.user_id == user_id:
        name, role = guide.display_name or name, MemberRole.GUIDE
    else:
        role = MemberRole.STAFF if is_staff else MemberRole.VIEWER
    # Never the e-mail address (get_full_name falls back to it): other guests read this.
    return {
        "id": user_id,
        "name": (name or "").strip() or f"Guest {user_id}",
        "role": str(role),
        "country": country.strip() or None,
    }


def message_object(message: ChatMessage, *, session: LiveSession) -> dict[str, Any]:
    return {
        "id": message.pk,
        "seq": message.seq,
        "client_id": message.client_id,
        "author": person(message.author, session=session),
        "text": message.text,
        "sent_at": iso(message.created_at),
    }


def held_object(message: ChatMessage, *, session: LiveSession) -> dict[str, Any]:
    return {
        "id": message.pk,
        "client_id": message.client_id,
        "author": person(message.author, session=session),
        "text": message.text,
        "sent_at": iso(message.created_at),
    }


def question_object(
    question: Question, *, session: LiveSession, pinned_id: int | None, voted: bool | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": question.pk,
        "client_id": question.client_id,
        "author": person(question.author, session=session),
        "text": question.text,
        "private": question.private,
        "votes": question.votes,
        "answered": question.answered_at is not None,
        "pinned": question.pk == pinned_id,
        "asked_at": iso(question.created_at),
    }
    if voted is not None:
        data["voted"] = voted
    return data


def question_audience(question: Question) -> dict[str, Any]:
    """Who hears about a question: everyone, or (private) its author, the guide and staff."""
    if question.private:
        return {"audience": realtime.MODERATORS, "users": (question.author_id,)}
    return {"audience": realtime.ALL}


def visible_question(*, access: RoomAccess, question_id: int, for_update: bool = False) -> Question:
    """A question of the room that this person may see; else ``not_found``."""
    rows = Question.objects.select_related("author")
    if for_update:
        rows = rows.select_for_update(of=("self",))
    question = rows.filter(pk=question_id, session=access.session, status=Question.Status.VISIBLE).first()
    if question is None or (question.private and not access.moderates and question.author_id != access.user.pk):
        raise RuleViolation("not_found", "There is no such question.")
    return question


# -- reads for the room ---------------------------------------------------------------------------------


def blocked_words() -> tuple[str, ...]:
    """The staff's blocked-word list (cached 60 s; edits clear the cache: chat/apps.py)."""
    words = cache.get(BLOCKED_WORDS_CACHE_KEY)
    if words is None:
        words = tuple(BlockedWord.objects.values_list("word", flat=True))
        cache.set(BLOCKED_WORDS_CACHE_KEY, words, 60)
    return tuple(words)


def last_seq(session_id: int) -> int:
    value = RoomState.objects.filter(session_id=session_id).values_list("last_seq", flat=True).first()
    return int(value or 0)


def timed_out_until(*, session_id: int, user_id: int, now: datetime) -> datetime | None:
    return (
        ChatTimeout.objects.filter(session_id=session_id, user_id=user_id, until__gt=now)
        .values_list("until", flat=True)
        .first()
    )


def _fresh_connections(session_id: int, now: datetime) -> Q:
    return Q(session_id=session_id, last_seen_at__gte=now - rules.CONNECTION_STALE_AFTER)


def viewer_count(session_id: int, *, now: datetime | None = None) -> int:
    """Guests (not the guide, not staff) with at least one live socket in the room, any process."""
    now = now or timezone.now()
    viewers = Participant.objects.filter(session_id=session_id, role=Participant.Role.VIEWER).values("user_id")
    return (
        RoomConnection.objects.filter(_fresh_connections(session_id, now), user_id__in=viewers)
        .values("user_id")
        .distinct()
        .count()
    )


def participants(session_id: int, *, now: datetime | None = None) -> tuple[list[dict[str, Any]], int]:
    """The participant objects (by join time) and the viewer count, as the guide sees them."""
    now = now or timezone.now()
    session = _session(session_id)
    connected = set(
        RoomConnection.objects.filter(_fresh_connections(session_id, now)).values_list("user_id", flat=True)
    )
    watched = dict(ViewerPresence.objects.filter(session_id=session_id).values_list("user_id", "total_seconds"))
    guide = session.slot.guide
    result = []
    viewers = 0
    # Plain rows, not model instances: the guide's list of a thousand people is rebuilt every few
    # seconds on a thread that shares the GIL with the room's fan-out (docs/performance.md).
    rows = (
        Participant.objects.filter(session_id=session_id)
        .order_by("joined_at", "pk")
        .values_list(
            "user_id",
            "role",
            "joined_at",
            "last_seen_at",
            "messages",
            "reactions",
            "user__name",
            "user__is_staff",
            "user__country",
        )
    )
    for user_id, role, joined_at, last_seen_at, messages, reactions, name, is_staff, country in rows:
        is_connected = user_id in connected
        if is_connected and role == Participant.Role.VIEWER:
            viewers += 1
        status = rules.participant_status(connected=is_connected, last_seen_at=last_seen_at, now=now)
        result.append(
            {
                "user": _person(user_id, name, is_staff, country, guide=guide),
                "joined_at": iso(joined_at),
                "status": str(status),
                "watched_seconds": watched.get(user_id, 0),
                "messages": messages,
                "reactions": reactions,
            }
        )
    return result, viewers


def _messages_after(session_id: int, after_seq: int, up_to: int) -> list[ChatMessage]:
    visible = ChatMessage.objects.filter(
        session_id=session_id, status=ChatMessage.Status.VISIBLE, seq__gt=after_seq, seq__lte=up_to
    ).select_related("author")
    if after_seq == 0:
        return list(reversed(visible.order_by("-seq")[: rules.SNAPSHOT_HISTORY]))
    return list(visible.order_by("seq"))


def room_snapshot(*, user: User, session_id: int, after_seq: int, now: datetime | None = None) -> dict[str, Any]:
    """The ``room.snapshot`` frame for one reader (reaction totals are added by the caller).

    ``last_seq`` is read first and bounds the messages: a message committed after that read
    reaches the socket live, one committed before is in here, none in both (see fanout.py).
    """
    now = now or timezone.now()
    access = access_room(user=user, session_id=session_id)
    session = access.session
    state = RoomState.objects.filter(session_id=session_id).first()
    top = state.last_seq if state is not None else 0
    reset = after_seq == 0 or after_seq > top
    if not reset:
        missed = ChatMessage.objects.filter(
            session_id=session_id, status=ChatMessage.Status.VISIBLE, seq__gt=after_seq, seq__lte=top
        ).count()
        reset = missed > rules.RESUME_LIMIT
    messages = _messages_after(session_id, 0 if reset else after_seq, top)
    deleted: list[int] = []
    if not reset:
        # Messages the reader had that were deleted while they were away.
        deleted = list(
            ChatMessage.objects.filter(session_id=session_id, status=ChatMessage.Status.DELETED, seq__lte=after_seq)
            .order_by("-seq")
            .values_list("pk", flat=True)[: rules.SNAPSHOT_DELETED_IDS]
        )
    pinned_id = state.pinned_question_id if state is not None else None
    questions = Question.objects.filter(session_id=session_id, status=Question.Status.VISIBLE).select_related("author")
    if not access.moderates:
        questions = questions.filter(Q(private=False) | Q(author=user))
    question_rows = list(questions.order_by("-votes", "created_at")[: rules.SNAPSHOT_QUESTIONS])
    voted = set(
        QuestionVote.objects.filter(user=user, question__in=[q.pk for q in question_rows]).values_list(
            "question_id", flat=True
        )
    )
    until = timed_out_until(session_id=session_id, user_id=user.pk, now=now)
    frame = event(
        "room.snapshot",
        messages=[message_object(message, session=session) for message in messages],
        last_seq=top,
        reset=reset,
        deleted_ids=deleted,
        reactions={},
        questions=[
            question_object(q, session=session, pinned_id=pinned_id, voted=q.pk in voted) for q in question_rows
        ],
        pinned_question_id=pinned_id,
        slow_mode_seconds=state.slow_mode_seconds if state is not None else 0,
        timed_out_until=iso(until) if until is not None else None,
        me=access.person(),
    )
    if access.moderates:
        held = ChatMessage.objects.filter(session_id=session_id, status=ChatMessage.Status.HELD).select_related(
            "author"
        )
        frame["held"] = [held_object(message, session=session) for message in held.order_by("seq")]
        frame["participants"], frame["viewers"] = participants(session_id, now=now)
    else:
        frame["viewers"] = viewer_count(session_id, now=now)
    return frame


def sequenced_payloads(session_id: int, *, after_seq: int, up_to: int | None = None) -> list[tuple[int, str]]:
    """The bus envelopes of every message with a sequence number in (after_seq, up_to], in order:
    how a process fills a gap in what it heard from the bus (a lost publish)."""
    session = _session(session_id)
    rows = ChatMessage.objects.filter(
        session_id=session_id, seq__gt=after_seq, status__in=(ChatMessage.Status.VISIBLE, ChatMessage.Status.HELD)
    ).select_related("author")
    if up_to is not None:
        rows = rows.filter(seq__lte=up_to)
    return [message_payload(message, session=session) for message in rows.order_by("seq")[: rules.RESUME_LIMIT]]


def message_payload(message: ChatMessage, *, session: LiveSession) -> tuple[int, str]:
    """The envelope announcing a message with its sequence number: to all, or held to moderators."""
    if message.status == ChatMessage.Status.HELD:
        frame = event("moderation.held", message=held_object(message, session=session))
        return message.seq, realtime.encode(frame, audience=realtime.MODERATORS, seq=message.seq)
    frame = event("chat.message", **message_object(message, session=session))
    return message.seq, realtime.encode(frame, seq=message.seq)


# -- after the tour ---------------------------------------------------------------------------------


def may_read_transcript(*, user: User, session: LiveSession) -> bool:
    """The slot's guide, staff, and guests who booked, were present and were not banned."""
    if user.is_staff or session.slot.guide.user_id == user.pk:
        return True
    if not Booking.objects.filter(user=user, slot_id=session.slot_id, status=Booking.Status.CONFIRMED).exists():
        return False
    if SessionBan.objects.filter(session=session, user=user).exists():
        return False
    return (
        ViewerPresence.objects.filter(session=session, user=user).exists()
        or Participant.objects.filter(session=session, user=user).exists()
    )


@dataclass(frozen=True)
class Transcript:
    session: LiveSession
    messages: list[ChatMessage]
    questions: list[Question]


def transcript(*, user: User, session_id: int) -> Transcript:
    """The read-only record of an ended session for one reader; RuleViolation not_found/not_allowed.

    Before the end there is no transcript (``not_found``: the room itself is the place then).
    """
    session = _session(session_id)
    if not session.is_ended:
        raise RuleViolation("not_found", "The transcript is ready when the tour is over.")
    if not may_read_transcript(user=user, session=session):
        raise RuleViolation("not_allowed", "Only the people who attended this tour can read its chat.")
    messages = list(
        ChatMessage.objects.filter(session=session, status=ChatMessage.Status.VISIBLE)
        .select_related("author")
        .order_by("seq")
    )
    questions = Question.objects.filter(session=session, status=Question.Status.VISIBLE).select_related("author")
    if not (user.is_staff or session.slot.guide.user_id == user.pk):
        questions = questions.filter(Q(private=False) | Q(author=user))
    return Transcript(session=session, messages=messages, questions=list(questions.order_by("-votes", "created_at")))


def display_names(users: Iterable[User], *, session: LiveSession) -> dict[int, str]:
    return {user.pk: person(user, session=session)["name"] for user in users}
