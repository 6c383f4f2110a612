"""The room's services without sockets: who may do what, sequence numbers, idempotency, events after commit."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from bookings.models import Booking, Slot
from chat import realtime, selectors, services
from chat.models import ChatMessage, Participant, Question, RoomState
from chat.protocol import iso
from chat.rules import RuleViolation
from streaming import services as streaming_services
from streaming.models import LiveSession
from tests.chat.support import Room, live_room, make_user
from tests.factories import GuideProfileFactory


class Published:
    """Stands in for the hub: what the services published, decoded (the bus is tested elsewhere)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.backend = self

    def publish_threadsafe(self, session_id: int, payload: str) -> None:
        envelope = realtime.decode(payload)
        self.events.append({"session_id": session_id, "envelope": envelope})

    def types(self) -> list[str]:
        import json

        return [json.loads(e["envelope"].frame)["type"] if e["envelope"].frame else "kick" for e in self.events]


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    sink = Published()
    monkeypatch.setattr(realtime, "_current_hub", sink)
    monkeypatch.setattr("chat.backends.redis_url", lambda: None)
    return sink


@pytest.fixture
def room(transactional_db: None) -> Room:
    # Committed for real: the events under test are sent on commit.
    return live_room()


def _end(room: Room) -> None:
    streaming_services.end_session(
        user=room.guide, session_id=room.session.pk, reason=LiveSession.EndedReason.COMPLETED
    )


def test_sequence_numbers_count_up_per_session(room, published):
    other = live_room()
    seqs = [
        services.send_message(
            user=room.guests[i % 2], session_id=room.session.pk, client_id=f"c{i}", text="hi"
        ).message.seq
        for i in range(4)
    ]
    other_seq = services.send_message(user=other.guest, session_id=other.session.pk, client_id="c0", text="x")
    assert seqs == [1, 2, 3, 4]
    assert other_seq.message.seq == 1
    assert RoomState.objects.get(session=room.session).last_seq == 4
    assert [e["envelope"].seq for e in published.events] == [1, 2, 3, 4, 1]


def test_the_same_client_id_is_stored_once_but_another_author_may_use_it(room, published):
    first = services.send_message(user=room.guest, session_id=room.session.pk, client_id="same", text="one")
    retry = services.send_message(user=room.guest, session_id=room.session.pk, client_id="same", text="changed?")
    someone_else = services.send_message(user=room.guests[1], session_id=room.session.pk, client_id="same", text="two")
    assert (first.created, retry.created, someone_else.created) == (True, False, True)
    assert retry.message.pk == first.message.pk
    assert retry.message.text == "one"
    assert ChatMessage.objects.count() == 2


def test_events_go_out_only_after_commit(room, published):
    def request_that_fails_after_the_service() -> None:
        with transaction.atomic():
            services.send_message(user=room.guest, session_id=room.session.pk, client_id="rolled-back", text="hi")
            assert published.events == []
            raise RuntimeError("the request failed after the service ran")

    with pytest.raises(RuntimeError):
        request_that_fails_after_the_service()
    assert published.events == []
    assert not ChatMessage.objects.exists()
    services.send_message(user=room.guest, session_id=room.session.pk, client_id="kept", text="hi")
    assert published.types() == ["chat.message"]


def test_people_without_a_confirmed_booking_or_banned_cannot_write(room, published):
    stranger = make_user()
    with pytest.raises(RuleViolation) as refused:
        services.send_message(user=stranger, session_id=room.session.pk, client_id="x", text="hi")
    assert refused.value.code == "not_allowed"
    Booking.objects.filter(user=room.guests[1]).update(status=Booking.Status.CANCELLED)
    with pytest.raises(RuleViolation):
        services.ask_question(user=room.guests[1], session_id=room.session.pk, client_id="q", text="?", private=False)
    streaming_services.ban_viewer(by=room.guide, session_id=room.session.pk, user=room.guest)
    with pytest.raises(RuleViolation) as refused:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="x", text="hi")
    assert refused.value.code == "not_allowed"
    assert not ChatMessage.objects.exists()


def test_a_guide_of_another_tour_cannot_moderate_here(room, published):
    message = services.send_message(user=room.guest, session_id=room.session.pk, client_id="x", text="hi").message
    intruder = live_room().guide
    for call in (
        lambda: services.delete_message(by=intruder, session_id=room.session.pk, message_id=message.pk),
        lambda: services.set_slow_mode(by=intruder, session_id=room.session.pk, seconds=10),
        lambda: services.timeout_user(by=intruder, session_id=room.session.pk, user_id=room.guest.pk, seconds=60),
        lambda: services.ban_user(by=intruder, session_id=room.session.pk, user_id=room.guest.pk),
        lambda: services.delete_message(by=room.guests[1], session_id=room.session.pk, message_id=message.pk),
    ):
        with pytest.raises(RuleViolation) as refused:
            call()
        assert refused.value.code == "not_allowed"
    assert ChatMessage.objects.get().status == "visible"


def test_after_the_session_ended_the_chat_is_read_only(room, published):
    services.send_message(user=room.guest, session_id=room.session.pk, client_id="before", text="hi")
    question = services.ask_question(
        user=room.guest, session_id=room.session.pk, client_id="q", text="?", private=False
    )
    _end(room)
    for call in (
        lambda: services.send_message(user=room.guest, session_id=room.session.pk, client_id="after", text="hi"),
        lambda: services.ask_question(
            user=room.guest, session_id=room.session.pk, client_id="q2", text="?", private=False
        ),
        lambda: services.upvote_question(
            user=room.guests[1], session_id=room.session.pk, question_id=question.question.pk
        ),
        lambda: services.set_slow_mode(by=room.guide, session_id=room.session.pk, seconds=10),
    ):
        with pytest.raises(RuleViolation) as refused:
            call()
        assert refused.value.code == "ended"
    assert ChatMessage.objects.count() == 1
    # Reading still works: the history stays.
    snapshot = selectors.room_snapshot(user=room.guest, session_id=room.session.pk, after_seq=0)
    assert [m["text"] for m in snapshot["messages"]] == ["hi"]


def test_an_approved_message_takes_the_next_number_so_resuming_readers_get_it(room, published):
    from chat.models import BlockedWord

    BlockedWord.objects.create(word="spoiler")
    held = services.send_message(
        user=room.guest, session_id=room.session.pk, client_id="h", text="SPOILER: it ends well"
    )
    later = services.send_message(user=room.guests[1], session_id=room.session.pk, client_id="l", text="nice")
    assert (held.message.status, held.message.seq, later.message.seq) == ("held", 1, 2)
    # A viewer who saw seq 2 resumes after 2 ...
    services.resolve_held(by=room.guide, session_id=room.session.pk, message_id=held.message.pk, approve=True)
    snapshot = selectors.room_snapshot(user=room.guests[1], session_id=room.session.pk, after_seq=2)
    # ... and still gets the approved message.
    assert [(m["client_id"], m["seq"]) for m in snapshot["messages"]] == [("h", 3)]
    assert published.types() == ["moderation.held", "chat.message", "chat.message", "moderation.resolved"]
    assert published.events[0]["envelope"].audience == realtime.MODERATORS


def test_the_guide_and_staff_write_past_blocked_words_and_slow_mode(room, published):
    from chat.models import BlockedWord

    BlockedWord.objects.create(word="darn")
    services.set_slow_mode(by=room.guide, session_id=room.session.pk, seconds=60)
    for index in range(3):
        outcome = services.send_message(
            user=room.guide, session_id=room.session.pk, client_id=f"g{index}", text="darn it"
        )
        assert outcome.message.status == "visible"
    services.send_message(user=room.staff, session_id=room.session.pk, client_id="s", text="darn")
    services.send_message(user=room.guest, session_id=room.session.pk, client_id="v1", text="ok")
    with pytest.raises(RuleViolation) as refused:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="v2", text="ok again")
    assert refused.value.code == "slow_mode"
    assert refused.value.retry_after == 60


def test_slow_mode_counts_from_the_last_message_in_server_time(room, published):
    services.set_slow_mode(by=room.guide, session_id=room.session.pk, seconds=30)
    start = timezone.now()
    services.send_message(user=room.guest, session_id=room.session.pk, client_id="a", text="1", now=start)
    with pytest.raises(RuleViolation) as refused:
        services.send_message(
            user=room.guest, session_id=room.session.pk, client_id="b", text="2", now=start + timedelta(seconds=20)
        )
    assert refused.value.retry_after == 10
    services.send_message(
        user=room.guest, session_id=room.session.pk, client_id="b", text="2", now=start + timedelta(seconds=30)
    )


def test_a_timeout_ends_by_itself(room, published):
    start = timezone.now()
    services.timeout_user(by=room.guide, session_id=room.session.pk, user_id=room.guest.pk, seconds=60, now=start)
    with pytest.raises(RuleViolation) as refused:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="a", text="1", now=start)
    assert (refused.value.code, refused.value.retry_after) == ("timed_out", 60)
    services.send_message(
        user=room.guest, session_id=room.session.pk, client_id="a", text="1", now=start + timedelta(seconds=61)
    )
    assert published.events[0]["envelope"].users == frozenset({room.guest.pk})


def test_a_ban_goes_through_the_live_sessions_ban_and_kicks_on_every_process(room, published):
    services.ban_user(by=room.staff, session_id=room.session.pk, user_id=room.guest.pk, reason="spam")
    kick = published.events[0]["envelope"].kick
    assert kick == {"user_id": room.guest.pk, "code": "banned", "message": kick["message"]}
    assert room.session.bans.get().user == room.guest
    with pytest.raises(RuleViolation):
        services.ban_user(by=room.staff, session_id=room.session.pk, user_id=room.guide.pk)


def test_private_questions_are_seen_by_their_author_the_guide_and_staff_only(room, published):
    asked = services.ask_question(
        user=room.guest, session_id=room.session.pk, client_id="p", text="Just for you", private=True
    ).question
    assert published.events[0]["envelope"].audience == realtime.MODERATORS
    assert published.events[0]["envelope"].users == frozenset({room.guest.pk})
    for reader, sees in ((room.guest, True), (room.guests[1], False), (room.guide, True), (room.staff, True)):
        snapshot = selectors.room_snapshot(user=reader, session_id=room.session.pk, after_seq=0)
        assert ([q["id"] for q in snapshot["questions"]] == [asked.pk]) is sees
    with pytest.raises(RuleViolation) as refused:
        services.upvote_question(user=room.guests[1], session_id=room.session.pk, question_id=asked.pk)
    assert refused.value.code == "not_found"


def test_a_question_with_a_blocked_word_is_refused(room, published):
    from chat.models import BlockedWord

    BlockedWord.objects.create(word="idiot")
    with pytest.raises(RuleViolation) as refused:
        services.ask_question(user=room.guest, session_id=room.session.pk, client_id="q", text="Idiot!", private=False)
    assert refused.value.code == "not_allowed"
    assert not Question.objects.exists()


def test_the_participant_list_names_each_person_as_the_room_shows_them(room, published):
    now = timezone.now()
    guide_name = room.session.slot.guide.display_name
    room.guest.country, room.guest.name = "  Japan ", "Aiko"
    room.guest.save()
    room.guests[1].name = ""
    room.guests[1].save()
    for index, user in enumerate((room.guide, room.guest, room.guests[1], room.staff)):
        services.connect(
            user=user, session_id=room.session.pk, socket_id=f"s{index}", now=now + timedelta(seconds=index)
        )
    services.send_message(user=room.guest, session_id=room.session.pk, client_id="c", text="Ciao", now=now)
    people, viewers = selectors.participants(room.session.pk, now=now + timedelta(seconds=10))
    assert viewers == 2  # the guide and staff are not viewers
    assert [(p["user"]["id"], p["user"]["name"], p["user"]["role"], p["user"]["country"]) for p in people] == [
        (room.guide.pk, guide_name, "guide", room.guide.country.strip() or None),
        (room.guest.pk, "Aiko", "viewer", "Japan"),
        (room.guests[1].pk, f"Guest {room.guests[1].pk}", "viewer", room.guests[1].country.strip() or None),
        (
            room.staff.pk,
            room.staff.name.strip() or f"Guest {room.staff.pk}",
            "staff",
            room.staff.country.strip() or None,
        ),
    ]
    assert [p["joined_at"] for p in people] == [iso(now + timedelta(seconds=index)) for index in range(4)]
    assert [(p["status"], p["messages"], p["reactions"]) for p in people] == [("connected", 0, 0)] + [
        ("connected", 1, 0)
    ] + [("connected", 0, 0)] * 2


def test_presence_rows_follow_sockets_and_time(room, published):
    now = timezone.now()
    services.connect(user=room.guest, session_id=room.session.pk, socket_id="s1", now=now)
    services.connect(user=room.guest, session_id=room.session.pk, socket_id="s2", now=now)
    people, viewers = selectors.participants(room.session.pk, now=now)
    assert (viewers, people[0]["status"]) == (1, "connected")
    services.disconnect(socket_id="s1", now=now)
    assert selectors.participants(room.session.pk, now=now)[0][0]["status"] == "connected"  # s2 still open
    services.disconnect(socket_id="s2", now=now)
    assert selectors.participants(room.session.pk, now=now + timedelta(seconds=5))[0][0]["status"] == "reconnecting"
    assert selectors.participants(room.session.pk, now=now + timedelta(seconds=61))[0][0]["status"] == "left"
    # A process that died leaves its rows; they stop counting once stale.
    services.connect(user=room.guests[1], session_id=room.session.pk, socket_id="dead", now=now)
    assert selectors.viewer_count(room.session.pk, now=now + timedelta(seconds=30)) == 1
    assert selectors.viewer_count(room.session.pk, now=now + timedelta(seconds=46)) == 0


# -- the hot path stays lean ---------------------------------------------------------------------------


def _after_the_sequence_lock(queries: list[dict[str, Any]]) -> list[str]:
    """The statements run while the RoomState row is locked (the UPDATE that raises last_seq takes it)."""
    sql = [query["sql"] for query in queries]
    taken = next(index for index, text in enumerate(sql) if text.startswith('UPDATE "chat_roomstate"'))
    return sql[taken + 1 :]


def test_a_message_costs_one_query_before_its_write_and_its_write_one_round_trip_on_postgresql(
    room, published, django_assert_max_num_queries
):
    services.connect(user=room.guest, session_id=room.session.pk, socket_id="s1")
    services.send_message(user=room.guests[1], session_id=room.session.pk, client_id="first", text="hi")
    postgres = connection.vendor == "postgresql"
    # Access and checks (1); then on PostgreSQL one call of chat_post_message (1), elsewhere
    # BEGIN, participant, sequence number, insert, COMMIT (5).
    with django_assert_max_num_queries(2 if postgres else 6) as captured:
        outcome = services.send_message(user=room.guest, session_id=room.session.pk, client_id="c", text="hi")
    assert outcome.created
    assert (outcome.message.seq, ChatMessage.objects.get(pk=outcome.message.pk).text) == (2, "hi")
    if postgres:
        assert "chat_post_message" in captured.captured_queries[-1]["sql"]
    else:
        assert len(_after_the_sequence_lock(captured.captured_queries)) <= 2  # the insert and COMMIT
    assert Participant.objects.get(session=room.session, user=room.guest).messages == 1
    assert json.loads(published.events[-1]["envelope"].frame)["id"] == outcome.message.pk
    # A retry reads the stored row and writes nothing.
    with django_assert_max_num_queries(2):
        assert not services.send_message(user=room.guest, session_id=room.session.pk, client_id="c", text="hi").created


@pytest.mark.postgres_only
def test_the_one_call_writes_nothing_and_leaves_it_to_the_transaction_when_its_fast_path_does_not_apply(
    room, published, monkeypatch
):
    def statements(send: Any) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            send()
        return [query["sql"] for query in captured.captured_queries]

    def send(user: Any, client_id: str) -> Any:
        return lambda: services.send_message(user=user, session_id=room.session.pk, client_id=client_id, text="x")

    # The session's first message, from a guest who never connected: no room row, no participant row.
    RoomState.objects.filter(session=room.session).delete()
    first = statements(send(room.guest, "a"))
    assert any("chat_post_message" in sql for sql in first)
    assert any(sql.startswith('INSERT INTO "chat_roomstate"') for sql in first)
    assert any(sql.startswith('INSERT INTO "chat_participant"') for sql in first)
    assert ChatMessage.objects.get(client_id="a").seq == 1
    # From then on the one call does it all.
    second = statements(send(room.guest, "b"))
    assert not any(sql.startswith(("UPDATE", "INSERT")) for sql in second)
    assert ChatMessage.objects.get(client_id="b").seq == 2
    assert Participant.objects.get(session=room.session, user=room.guest).messages == 2
    # Slow mode turned on after the checks read it: the call undoes itself, the transaction refuses.
    services.set_slow_mode(by=room.guide, session_id=room.session.pk, seconds=30)
    _stale_checks(monkeypatch, slow_mode_seconds=0)
    with pytest.raises(RuleViolation) as refused:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="c", text="x")
    assert refused.value.code == "slow_mode"
    assert RoomState.objects.get(session=room.session).last_seq == 2
    assert Participant.objects.get(session=room.session, user=room.guest).messages == 2
    # The guide is not held to slow mode: one call.
    services.connect(user=room.guide, session_id=room.session.pk, socket_id="guide")
    by_guide = statements(send(room.guide, "g"))
    assert not any(sql.startswith(("UPDATE", "INSERT")) for sql in by_guide)
    assert ChatMessage.objects.get(client_id="g").seq == 3
    assert [
        json.loads(event["envelope"].frame)["seq"] for event in published.events if "seq" in event["envelope"].frame
    ] == [1, 2, 3]


def test_in_slow_mode_a_message_costs_one_more_query_under_the_lock_and_a_refusal_none(
    room, published, django_assert_max_num_queries
):
    services.set_slow_mode(by=room.guide, session_id=room.session.pk, seconds=30)
    services.connect(user=room.guest, session_id=room.session.pk, socket_id="s1")
    services.send_message(user=room.guests[1], session_id=room.session.pk, client_id="first", text="hi")
    selectors.blocked_words()  # cached from here on, as in a busy room
    with django_assert_max_num_queries(7) as captured:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="a", text="1")
    assert len(_after_the_sequence_lock(captured.captured_queries)) <= 3  # + the person's last message
    with django_assert_max_num_queries(1), pytest.raises(RuleViolation) as refused:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="b", text="2")
    assert refused.value.code == "slow_mode"


def test_access_to_the_room_is_one_query(room, published, django_assert_num_queries):
    room.book()
    banned = room.guests[-1]
    streaming_services.ban_viewer(by=room.guide, session_id=room.session.pk, user=banned)
    for user, role in ((room.guest, "viewer"), (room.guide, "guide"), (room.staff, "staff")):
        with django_assert_num_queries(1):
            assert selectors.access_room(user=user, session_id=room.session.pk).role == role
    for refused_user in (banned, make_user(), make_user(is_active=False)):
        with django_assert_num_queries(1), pytest.raises(RuleViolation) as refused:
            selectors.access_room(user=refused_user, session_id=room.session.pk)
        assert refused.value.code == "not_allowed"


def _stale_checks(monkeypatch: pytest.MonkeyPatch, **stale: Any) -> None:
    """send_message's checks before the lock see ``stale`` values: what a concurrent sender may see."""
    real = selectors.send_checks

    def checks(**kwargs: Any) -> selectors.SendChecks:
        return dataclasses.replace(real(**kwargs), **stale)

    monkeypatch.setattr(selectors, "send_checks", checks)


def test_a_retry_that_raced_its_original_returns_it_without_using_up_a_number(room, published, monkeypatch):
    first = services.send_message(user=room.guest, session_id=room.session.pk, client_id="same", text="one")
    _stale_checks(monkeypatch, stored_id=None)  # as if read just before the original committed
    retry = services.send_message(user=room.guest, session_id=room.session.pk, client_id="same", text="one")
    assert (retry.created, retry.message.pk) == (False, first.message.pk)
    assert RoomState.objects.get(session=room.session).last_seq == 1  # no gap for the readers
    assert Participant.objects.get(user=room.guest).messages == 1
    later = services.send_message(user=room.guests[1], session_id=room.session.pk, client_id="next", text="two")
    assert later.message.seq == 2
    assert len(published.events) == 2


def test_slow_mode_is_checked_again_under_the_lock(room, published, monkeypatch):
    services.set_slow_mode(by=room.guide, session_id=room.session.pk, seconds=30)
    services.send_message(user=room.guest, session_id=room.session.pk, client_id="a", text="1")
    _stale_checks(monkeypatch, last_sent_at=None)  # as if read before the first message committed
    with pytest.raises(RuleViolation) as refused:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="b", text="2")
    assert (refused.value.code, refused.value.retry_after) == ("slow_mode", 30)
    assert RoomState.objects.get(session=room.session).last_seq == 1
    assert Participant.objects.get(user=room.guest).messages == 1
    assert published.types() == ["moderation.slow_mode", "chat.message"]


def test_what_can_change_during_a_tour_is_read_fresh_for_every_message(room, published):
    """send_checks keeps the session's names in a per-process cache; who the guide is, whether
    the tour has ended and who is banned are read with every message all the same."""
    services.send_message(user=room.guide, session_id=room.session.pk, client_id="g1", text="Benvenuti")
    services.send_message(user=room.guest, session_id=room.session.pk, client_id="v1", text="Ciao")
    # The slot gets another guide: the former one is nobody in this room at once.
    successor: Any = GuideProfileFactory()
    Slot.objects.filter(pk=room.session.slot_id).update(guide=successor)
    with pytest.raises(RuleViolation) as refused:
        services.send_message(user=room.guide, session_id=room.session.pk, client_id="g2", text="Still me?")
    assert refused.value.code == "not_allowed"
    taken_over = services.send_message(user=successor.user, session_id=room.session.pk, client_id="s1", text="Eccomi")
    assert taken_over.created
    announced = json.loads(published.events[-1]["envelope"].frame)
    assert (announced["type"], announced["author"]["id"], announced["author"]["role"]) == (
        "chat.message",
        successor.user.pk,
        "guide",
    )
    # A ban and the end of the tour, each from the next message on.
    streaming_services.ban_viewer(by=successor.user, session_id=room.session.pk, user=room.guest)
    with pytest.raises(RuleViolation) as banned:
        services.send_message(user=room.guest, session_id=room.session.pk, client_id="v2", text="Hello?")
    assert banned.value.code == "not_allowed"
    LiveSession.objects.filter(pk=room.session.pk).update(
        status=LiveSession.Status.ENDED, ended_reason=LiveSession.EndedReason.COMPLETED, ended_at=timezone.now()
    )
    with pytest.raises(RuleViolation) as ended:
        services.send_message(user=successor.user, session_id=room.session.pk, client_id="s2", text="Grazie")
    assert ended.value.code == "ended"
