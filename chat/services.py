"""State changes of the live room: chat, Q&A, moderation, presence. Each checks who may do it.

Every function takes the acting person and checks their access itself (``selectors.access_room``;
``send_checks`` for a chat message): the consumer, the admin and tests all come through here.
Events go out after commit through ``realtime.publish_on_commit``; the caller answers the acting
socket (ack, held, error).

Chat sequence numbers: the message insert runs in one transaction that raises ``last_seq`` on the
session's ``RoomState`` row (``UPDATE ... RETURNING``: the update takes the row lock, as ``FOR
UPDATE`` does for the room's other writers) and commits. Two messages of one session are
therefore numbered and committed one after the other: seq N+1 is never visible before seq N,
which is what lets a process that sees a gap fetch it from the database (chat/fanout.py). A
transaction that raised the number and then fails rolls it back: no number is committed without
its message.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import User
from chat import realtime, rules, selectors
from chat.models import ChatMessage, ChatTimeout, Participant, Question, QuestionVote, RoomConnection, RoomState
from chat.protocol import event, iso
from chat.rules import Rate, RuleViolation
from chat.selectors import RoomAccess
from streaming import services as streaming_services
from streaming.selectors import LiveError

__all__ = [
    "AskOutcome",
    "SendOutcome",
    "answer_question",
    "ask_question",
    "ban_user",
    "connect",
    "delete_message",
    "disconnect",
    "heartbeat",
    "pin_question",
    "record_reactions",
    "resolve_held",
    "send_message",
    "set_slow_mode",
    "timeout_user",
    "upvote_question",
]


@dataclass(frozen=True)
class SendOutcome:
    message: ChatMessage
    created: bool  # False: a retry found the message stored earlier under the same client_id


@dataclass(frozen=True)
class AskOutcome:
    question: Question
    created: bool
    frame: dict[str, Any]  # question.new for the asker (with ``voted``)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _consume(*, kind: str, session_id: int, user_id: int, rate: Rate, now: datetime) -> None:
    """Count one attempt in the person's fixed window (Django cache: Redis in production)."""
    window, retry_after = rules.rate_window(now, rate)
    key = f"chat:rate:{kind}:{session_id}:{user_id}:{window}"
    cache.add(key, 0, timeout=rate.window_seconds + 1)
    try:
        hits = cache.incr(key)
    except ValueError:  # expired between add and incr: this attempt opens the window
        cache.add(key, 1, timeout=rate.window_seconds + 1)
        hits = 1
    if hits > rate.limit:
        raise RuleViolation("rate_limited", "You are sending too fast. Wait a moment.", retry_after=retry_after)


def _locked_state(session_id: int) -> RoomState:
    """The session's RoomState, locked until the transaction ends (created on first use)."""
    RoomState.objects.get_or_create(session_id=session_id)
    return RoomState.objects.select_for_update().get(session_id=session_id)


def _raise_seq(session_id: int) -> tuple[int, int] | None:
    """``last_seq + 1`` and the slow mode, in one statement that also takes the row lock; None: no row yet.

    Raw SQL: the ORM's update() cannot return the new value (RETURNING: PostgreSQL, SQLite 3.35+).
    """
    updated_at = connection.ops.adapt_datetimefield_value(timezone.now())  # auto_now, as save() would
    with connection.cursor() as cursor:
        cursor.execute(
            'UPDATE "chat_roomstate" SET "last_seq" = "last_seq" + 1, "updated_at" = %s WHERE "session_id" = %s'
            ' RETURNING "last_seq", "slow_mode_seconds"',
            [updated_at, session_id],
        )
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def _next_seq(session_id: int) -> tuple[int, int]:
    """The session's next chat sequence number, and its slow mode, under the RoomState row lock.

    The lock is held until the transaction ends: call it inside one, and as late as possible.
    """
    raised = _raise_seq(session_id)
    if raised is None:  # the session's first message
        RoomState.objects.get_or_create(session_id=session_id)
        raised = _raise_seq(session_id)
        assert raised is not None
    return raised


def _bump_participant(*, access: RoomAccess, now: datetime, messages: int = 0) -> None:
    updated = Participant.objects.filter(session=access.session, user=access.user).update(
        messages=F("messages") + messages
    )
    if not updated:
        Participant.objects.get_or_create(
            session=access.session,
            user=access.user,
            defaults={"role": str(access.role), "joined_at": now, "last_seen_at": now, "messages": messages},
        )


def _refuse_if_timed_out(until: datetime | None, now: datetime) -> None:
    if until is not None:
        wait = max(1, int((until - now).total_seconds() + 0.999))
        raise RuleViolation("timed_out", "You cannot write here for a while.", retry_after=wait)


def _check_not_timed_out(access: RoomAccess, now: datetime) -> None:
    if access.moderates:
        return
    _refuse_if_timed_out(selectors.timed_out_until(session_id=access.session.pk, user_id=access.user.pk, now=now), now)


def _refuse_if_slow_mode(*, seconds: int, last_sent_at: datetime | None, now: datetime) -> None:
    wait = rules.slow_mode_wait(last_sent_at=last_sent_at, now=now, seconds=seconds)
    if wait:
        raise RuleViolation("slow_mode", f"Slow mode: one message every {seconds} s.", retry_after=wait)


def _stored(*, session_id: int, user: User, client_id: str) -> ChatMessage | None:
    return ChatMessage.objects.filter(session_id=session_id, author=user, client_id=client_id).first()


# -- chat -------------------------------------------------------------------------------------------


def send_message(*, user: User, session_id: int, client_id: str, text: str, now: datetime | None = None) -> SendOutcome:
    """Store one chat message (visible, or held when it contains a blocked word) and announce it.

    Idempotent per (session, author, client_id): a retry returns the stored message and changes
    nothing, even in slow mode or over the rate limit. Refusals (RuleViolation): not_allowed,
    ended, empty, too_long, rate_limited, timed_out, slow_mode (with ``retry_after``).

    The hot path of a busy room, so it is lean: one query for the access and every check, then
    participant update, sequence number (the lock) and insert: one call on PostgreSQL, else a
    transaction. The checks read before the lock have a guard under it: the unique (session,
    author, client_id) constraint for a retry racing its original, slow mode read again (only when
    it is on) for two messages of one person at once. The message is announced once it is
    committed.
    """
    now = _now(now)
    checks = selectors.send_checks(user=user, session_id=session_id, client_id=client_id, now=now)
    access = checks.access
    if checks.stored_id is not None:
        return SendOutcome(ChatMessage.objects.get(pk=checks.stored_id), created=False)
    cleaned = rules.clean_text(text, max_chars=rules.MESSAGE_MAX_CHARS)
    rate = rules.MODERATOR_MESSAGE_RATE if access.moderates else rules.MESSAGE_RATE
    try:
        _consume(kind="message", session_id=session_id, user_id=user.pk, rate=rate, now=now)
    except RuleViolation:
        # A burst of retries of one message: the first may have been stored meanwhile.
        existing = _stored(session_id=session_id, user=user, client_id=client_id)
        if existing is None:
            raise
        return SendOutcome(existing, created=False)
    if not access.moderates:
        _refuse_if_timed_out(checks.timed_out_until, now)
        # Refused here, most refusals in slow mode never wait for the lock.
        _refuse_if_slow_mode(seconds=checks.slow_mode_seconds, last_sent_at=checks.last_sent_at, now=now)
    held = not access.moderates and rules.find_blocked(cleaned, selectors.blocked_words()) is not None
    status = ChatMessage.Status.HELD if held else ChatMessage.Status.VISIBLE
    try:
        message = None
        if connection.vendor == "postgresql" and (access.moderates or not checks.slow_mode_seconds):
            message = _post_in_one_call(access=access, client_id=client_id, text=cleaned, status=status, now=now)
        if message is None:
            message = _post_in_transaction(access=access, client_id=client_id, text=cleaned, status=status, now=now)
    except IntegrityError:
        # A retry that raced its original past the first check: the original is stored now.
        existing = _stored(session_id=session_id, user=user, client_id=client_id)
        if existing is None:
            raise
        return SendOutcome(existing, created=False)
    # Committed (or, inside a caller's transaction, announced when that commits).
    _seq, payload = selectors.message_payload(message, session=access.session)
    realtime.publish_on_commit(session_id, payload)
    return SendOutcome(message, created=True)


# Raised by chat_post_message when slow mode was turned on between the checks and the write.
_SLOW_MODE_CHANGED = "IFC01"


def _post_in_one_call(
    *, access: RoomAccess, client_id: str, text: str, status: str, now: datetime
) -> ChatMessage | None:
    """The message's whole write in one round trip (PostgreSQL: chat_post_message, migration
    chat 0002), or None having written nothing: then :func:`_post_in_transaction`.

    The same steps as that transaction, in the same order and under the same locks; on the room's
    hot path five round trips (BEGIN, participant, sequence, insert, COMMIT) become one, and with
    them four waits for the thread to be scheduled and to take the GIL back from the event loop
    (docs/adr/0015). A duplicate ``client_id`` raises IntegrityError as the insert would.
    """
    session_id, user = access.session.pk, access.user
    arguments: list[Any] = [session_id, user.pk, client_id, text, status, now, timezone.now(), access.moderates]
    try:
        # Inside a caller's transaction (tests) a savepoint keeps a refusal from aborting it.
        savepoint = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
        with savepoint, connection.cursor() as cursor:
            cursor.execute(
                "SELECT message_id, message_seq FROM chat_post_message(%s, %s, %s, %s, %s, %s, %s, %s)", arguments
            )
            row = cursor.fetchone()
    except DatabaseError as error:
        if getattr(error.__cause__, "sqlstate", None) == _SLOW_MODE_CHANGED:
            return None
        raise
    if row is None:
        return None
    message = ChatMessage(
        pk=row[0],
        session_id=session_id,
        seq=row[1],
        author=user,
        client_id=client_id,
        text=text,
        status=status,
        created_at=now,
    )
    message._state.adding = False
    message._state.db = connection.alias
    return message


def _post_in_transaction(*, access: RoomAccess, client_id: str, text: str, status: str, now: datetime) -> ChatMessage:
    """Participant count, sequence number (the lock) and insert in one transaction.

    A refusal or a duplicate rolls the whole transaction back, the raised last_seq with it: no
    number is ever committed without its message (a gap would stall every reader, fanout.py).
    """
    session_id, user = access.session.pk, access.user
    with transaction.atomic():
        # Before the sequence lock, so that the lock is held for the insert only (and in the
        # order record_reactions takes the two rows: participant, then RoomState).
        _bump_participant(access=access, now=now, messages=1)
        seq, slow_mode_seconds = _next_seq(session_id)
        if slow_mode_seconds and not access.moderates:
            # Read again under the lock (a statement after it sees every earlier commit): two
            # messages of one person at once cannot both pass.
            last_sent_at = selectors.last_sent_at(session_id=session_id, user=user)
            _refuse_if_slow_mode(seconds=slow_mode_seconds, last_sent_at=last_sent_at, now=now)
        return ChatMessage.objects.create(
            session_id=session_id, seq=seq, author=user, client_id=client_id, text=text, status=status, created_at=now
        )


def _moderated_message(access: RoomAccess, message_id: int) -> ChatMessage:
    message = (
        ChatMessage.objects.select_for_update(of=("self",))
        .select_related("author")
        .filter(pk=message_id, session=access.session)
        .first()
    )
    if message is None:
        raise RuleViolation("not_found", "There is no such message.")
    return message


def delete_message(*, by: User, session_id: int, message_id: int, now: datetime | None = None) -> ChatMessage:
    """The guide or staff remove a message for everyone (also a held one). Deleting twice is a no-op."""
    now = _now(now)
    access = selectors.access_room(user=by, session_id=session_id, moderate=True)
    with transaction.atomic():
        message = _moderated_message(access, message_id)
        previous = message.status
        if previous in (ChatMessage.Status.DELETED, ChatMessage.Status.REJECTED):
            return message
        message.status = ChatMessage.Status.DELETED
        message.deleted_by = by
        message.moderated_by, message.moderated_at = by, now
        message.save(update_fields=["status", "deleted_by", "moderated_by", "moderated_at"])
        if previous == ChatMessage.Status.VISIBLE:
            realtime.publish_on_commit(session_id, realtime.encode(event("chat.deleted", id=message.pk)))
        else:
            resolved = event("moderation.resolved", id=message.pk, approved=False)
            realtime.publish_on_commit(session_id, realtime.encode(resolved, audience=realtime.MODERATORS))
    return message


def resolve_held(
    *, by: User, session_id: int, message_id: int, approve: bool, now: datetime | None = None
) -> ChatMessage:
    """Approve (shown to everyone, with a new sequence number) or reject a held message.

    The new number matters: readers who resumed "after seq N" since it was held must still get it.
    """
    now = _now(now)
    access = selectors.access_room(user=by, session_id=session_id, moderate=True)
    with transaction.atomic():
        message = _moderated_message(access, message_id)
        if message.status != ChatMessage.Status.HELD:
            raise RuleViolation("not_found", "There is no held message with this id.")
        message.moderated_by, message.moderated_at = by, now
        if approve:
            # After the message's own lock: the sequence lock is held for the update only.
            message.seq = _next_seq(session_id)[0]
            message.status = ChatMessage.Status.VISIBLE
            message.save(update_fields=["seq", "status", "moderated_by", "moderated_at"])
            _seq, payload = selectors.message_payload(message, session=access.session)
            realtime.publish_on_commit(session_id, payload)
        else:
            message.status = ChatMessage.Status.REJECTED
            message.save(update_fields=["status", "moderated_by", "moderated_at"])
        resolved = event("moderation.resolved", id=message.pk, approved=approve)
        realtime.publish_on_commit(session_id, realtime.encode(resolved, audience=realtime.MODERATORS))
    return message


# -- moderation of people and the room ---------------------------------------------------------------


def _target(user_id: int) -> User:
    target = User.objects.filter(pk=user_id).first()
    if target is None:
        raise RuleViolation("not_found", "There is no such person.")
    return target


def timeout_user(*, by: User, session_id: int, user_id: int, seconds: int, now: datetime | None = None) -> ChatTimeout:
    """The person may not write (chat or questions) for ``seconds`` (10..3600); a new timeout replaces the old."""
    now = _now(now)
    if not rules.TIMEOUT_MIN_SECONDS <= seconds <= rules.TIMEOUT_MAX_SECONDS:
        raise RuleViolation(
            "bad_field", f"seconds must be between {rules.TIMEOUT_MIN_SECONDS} and {rules.TIMEOUT_MAX_SECONDS}."
        )
    access = selectors.access_room(user=by, session_id=session_id, moderate=True, write=True)
    target = _target(user_id)
    if target.is_staff or access.guide_user_id == target.pk:
        raise RuleViolation("not_allowed", "The guide and staff cannot be timed out.")
    until = now + timedelta(seconds=seconds)
    with transaction.atomic():
        timeout, _created = ChatTimeout.objects.update_or_create(
            session=access.session, user=target, defaults={"until": until, "by": by}
        )
        frame = event("moderation.timed_out", until=iso(until), user=selectors.person(target, session=access.session))
        realtime.publish_on_commit(session_id, realtime.encode(frame, audience=realtime.MODERATORS, users=(target.pk,)))
    return timeout


def ban_user(*, by: User, session_id: int, user_id: int, reason: str = "") -> None:
    """Ban from the session (streaming's ban: refused on rejoin) and close the person's sockets now."""
    access = selectors.access_room(user=by, session_id=session_id, moderate=True)
    target = _target(user_id)
    if target.is_staff or access.guide_user_id == target.pk:
        raise RuleViolation("not_allowed", "The guide and staff cannot be removed from a live tour.")
    with transaction.atomic():
        try:
            streaming_services.ban_viewer(by=by, session_id=session_id, user=target, reason=reason)
        except LiveError as refused:
            raise RuleViolation("not_allowed", refused.message) from None
        realtime.publish_on_commit(
            session_id,
            realtime.kick_envelope(
                user_id=target.pk, code="banned", message="You have been removed from this live tour."
            ),
        )


def set_slow_mode(*, by: User, session_id: int, seconds: int) -> RoomState:
    """One message per ``seconds`` per guest (0 turns it off; at most 300). The guide and staff are exempt."""
    if not 0 <= seconds <= rules.SLOW_MODE_MAX_SECONDS:
        raise RuleViolation("bad_field", f"seconds must be between 0 and {rules.SLOW_MODE_MAX_SECONDS}.")
    selectors.access_room(user=by, session_id=session_id, moderate=True, write=True)
    with transaction.atomic():
        state = _locked_state(session_id)
        state.slow_mode_seconds = seconds
        state.save(update_fields=["slow_mode_seconds", "updated_at"])
        realtime.publish_on_commit(session_id, realtime.encode(event("moderation.slow_mode", seconds=seconds)))
    return state


# -- questions --------------------------------------------------------------------------------------------


def _pinned_id(session_id: int) -> int | None:
    return RoomState.objects.filter(session_id=session_id).values_list("pinned_question_id", flat=True).first()


def _announce_question(kind: str, question: Question, access: RoomAccess) -> None:
    frame = event(
        kind,
        question=selectors.question_object(question, session=access.session, pinned_id=_pinned_id(question.session_id)),
    )
    realtime.publish_on_commit(question.session_id, realtime.encode(frame, **selectors.question_audience(question)))


def ask_question(
    *, user: User, session_id: int, client_id: str, text: str, private: bool, now: datetime | None = None
) -> AskOutcome:
    """A guest asks (publicly, or privately to the guide). Idempotent per client_id like chat.

    Refusals: not_allowed (also a blocked word), ended, empty, too_long, rate_limited, timed_out.
    """
    now = _now(now)
    access = selectors.access_room(user=user, session_id=session_id, write=True)
    existing = (
        Question.objects.select_related("author")
        .filter(session_id=session_id, author=user, client_id=client_id)
        .first()
    )
    if existing is None:
        cleaned = rules.clean_text(text, max_chars=rules.QUESTION_MAX_CHARS)
        _check_not_timed_out(access, now)
        if not access.moderates and rules.find_blocked(cleaned, selectors.blocked_words()) is not None:
            raise RuleViolation("not_allowed", "Your question contains words that are not allowed here.")
        _consume(kind="question", session_id=session_id, user_id=user.pk, rate=rules.QUESTION_RATE, now=now)
        try:
            with transaction.atomic():
                question = Question.objects.create(
                    session_id=session_id,
                    author=user,
                    client_id=client_id,
                    text=cleaned,
                    private=private,
                    created_at=now,
                )
                _announce_question("question.new", question, access)
        except IntegrityError:  # the same client_id, stored by a concurrent retry
            existing = Question.objects.select_related("author").get(
                session_id=session_id, author=user, client_id=client_id
            )
        else:
            return AskOutcome(
                question, created=True, frame=_question_frame("question.new", question, access, voted=False)
            )
    voted = QuestionVote.objects.filter(question=existing, user=user).exists()
    return AskOutcome(existing, created=False, frame=_question_frame("question.new", existing, access, voted=voted))


def _question_frame(kind: str, question: Question, access: RoomAccess, *, voted: bool) -> dict[str, Any]:
    return event(
        kind,
        question=selectors.question_object(
            question, session=access.session, pinned_id=_pinned_id(question.session_id), voted=voted
        ),
    )


def upvote_question(*, user: User, session_id: int, question_id: int) -> dict[str, Any]:
    """One vote per person per question (again: a no-op). Returns question.updated for the voter."""
    access = selectors.access_room(user=user, session_id=session_id, write=True)
    with transaction.atomic():
        question = selectors.visible_question(access=access, question_id=question_id, for_update=True)
        _vote, created = QuestionVote.objects.get_or_create(question=question, user=user)
        if created:
            Question.objects.filter(pk=question.pk).update(votes=F("votes") + 1)
            question.refresh_from_db(fields=["votes"])
            _announce_question("question.updated", question, access)
    return _question_frame("question.updated", question, access, voted=True)


def answer_question(*, by: User, session_id: int, question_id: int, now: datetime | None = None) -> Question:
    """The guide (or staff) marks a question answered; twice is a no-op."""
    now = _now(now)
    access = selectors.access_room(user=by, session_id=session_id, moderate=True, write=True)
    with transaction.atomic():
        question = selectors.visible_question(access=access, question_id=question_id, for_update=True)
        if question.answered_at is None:
            question.answered_at, question.answered_by = now, by
            question.save(update_fields=["answered_at", "answered_by"])
            _announce_question("question.updated", question, access)
    return question


def pin_question(*, by: User, session_id: int, question_id: int | None) -> Question | None:
    """Pin one public question for everybody (None unpins). A private question cannot be pinned."""
    access = selectors.access_room(user=by, session_id=session_id, moderate=True, write=True)
    with transaction.atomic():
        state = _locked_state(session_id)
        question = None
        if question_id is not None:
            question = selectors.visible_question(access=access, question_id=question_id)
            if question.private:
                raise RuleViolation("not_allowed", "A private question cannot be pinned for everybody.")
        state.pinned_question = question
        state.save(update_fields=["pinned_question", "updated_at"])
        obj = (
            selectors.question_object(question, session=access.session, pinned_id=question.pk)
            if question is not None
            else None
        )
        realtime.publish_on_commit(session_id, realtime.encode(event("question.pinned", question=obj)))
    return question


# -- presence and stats ---------------------------------------------------------------------------------


def connect(*, user: User, session_id: int, socket_id: str, now: datetime | None = None) -> RoomAccess:
    """A socket entered the room: the participant row (first join kept) and the connection row."""
    now = _now(now)
    access = selectors.access_room(user=user, session_id=session_id)
    with transaction.atomic():
        participant, created = Participant.objects.get_or_create(
            session=access.session,
            user=user,
            defaults={"role": str(access.role), "joined_at": now, "last_seen_at": now},
        )
        if not created:
            participant.last_seen_at = max(participant.last_seen_at, now)
            participant.role = str(access.role)
            participant.save(update_fields=["last_seen_at", "role"])
        RoomConnection.objects.update_or_create(
            socket_id=socket_id,
            defaults={"session": access.session, "user": user, "connected_at": now, "last_seen_at": now},
        )
    return access


def disconnect(*, socket_id: str, now: datetime | None = None) -> None:
    now = _now(now)
    with transaction.atomic():
        connection = RoomConnection.objects.filter(socket_id=socket_id).first()
        if connection is None:
            return
        Participant.objects.filter(session_id=connection.session_id, user_id=connection.user_id).update(
            last_seen_at=now
        )
        connection.delete()


def heartbeat(*, session_id: int, socket_ids: list[str], now: datetime | None = None) -> None:
    """This process's sockets of the session are alive; forget rows a dead process left behind."""
    now = _now(now)
    if socket_ids:
        RoomConnection.objects.filter(socket_id__in=socket_ids).update(last_seen_at=now)
        users = RoomConnection.objects.filter(socket_id__in=socket_ids).values("user_id")
        Participant.objects.filter(session_id=session_id, user_id__in=users).update(last_seen_at=now)
    RoomConnection.objects.filter(session_id=session_id, last_seen_at__lt=now - timedelta(minutes=10)).delete()


def record_reactions(*, session_id: int, per_user: dict[int, int], totals: dict[str, int]) -> None:
    """Add reactions counted in the room store to the participants' stats; keep the totals."""
    with transaction.atomic():
        for user_id, count in per_user.items():
            Participant.objects.filter(session_id=session_id, user_id=user_id).update(reactions=F("reactions") + count)
        if totals:
            RoomState.objects.get_or_create(session_id=session_id)
            RoomState.objects.filter(session_id=session_id).update(reaction_totals=totals)
