"""The live room through the real live socket (origin check, auth, router, LiveConsumer, RoomSession).

Every message type, every permission, every limit; docs/events.md ("Live room") is the contract.
"""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from chat.models import BlockedWord, ChatMessage, ChatTimeout, Participant, Question
from chat.protocol import MODERATOR_TYPES
from streaming.consumers import FATAL_CLOSE_CODE
from streaming.models import SessionBan
from streaming.rules import Role
from streaming.tokens import issue_join_token
from tests.chat.support import ORIGIN, application, connect, join, live_room
from tests.support.live_loop import run

pytestmark = pytest.mark.usefixtures("fresh_loop_state")


def test_join_gives_each_reader_their_snapshot():
    room = live_room(country="IT")

    async def scenario():
        guest, snapshot = await join(room.session, room.guest)
        guide, guide_snapshot = await join(room.session, room.guide, Role.PUBLISHER)
        await guest.close()
        await guide.close()

        assert snapshot["messages"] == []
        assert snapshot["last_seq"] == 0
        assert snapshot["reset"] is True
        assert snapshot["reactions"] == {}
        assert snapshot["questions"] == []
        assert snapshot["pinned_question_id"] is None
        assert snapshot["slow_mode_seconds"] == 0
        assert snapshot["timed_out_until"] is None
        assert snapshot["me"] == {"id": room.guest.pk, "name": "Guest A", "role": "viewer", "country": "IT"}
        assert snapshot["viewers"] == 1
        # Only the guide and staff get the held messages and the participant list.
        assert "held" not in snapshot
        assert "participants" not in snapshot
        assert guide_snapshot["me"]["role"] == "guide"
        assert guide_snapshot["me"]["name"] == room.session.slot.guide.display_name
        assert guide_snapshot["held"] == []
        assert [p["user"]["id"] for p in guide_snapshot["participants"]] == [room.guest.pk, room.guide.pk]
        assert guide_snapshot["participants"][0]["status"] == "connected"

    run(scenario())


def test_a_message_is_stored_acked_to_its_sender_and_delivered_to_everyone_once():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        ack = await anna.chat("  Ciao <b>tutti</b>! ", client_id="anna-1")
        for socket in (anna, bruno, guide):
            message = await socket.expect("chat.message")
            assert message == {
                "type": "chat.message",
                "id": ack["id"],
                "seq": 1,
                "client_id": "anna-1",
                "author": {"id": room.guests[0].pk, "name": "Guest A", "role": "viewer", "country": None},
                "text": "Ciao <b>tutti</b>!",  # stored as written; pages insert it with textContent
                "sent_at": message["sent_at"],
            }
            await socket.nothing("chat.message", within=0.3)
        for socket in (anna, bruno, guide):
            await socket.close()
        assert ack == {"type": "chat.ack", "client_id": "anna-1", "id": ack["id"], "seq": 1}

    run(scenario())
    stored = ChatMessage.objects.get()
    assert (stored.seq, stored.text, stored.status, stored.author_id) == (
        1,
        "Ciao <b>tutti</b>!",
        "visible",
        room.guest.pk,
    )
    assert Participant.objects.get(user=room.guest).messages == 1


def test_a_retry_with_the_same_client_id_is_stored_once_and_acked_again():
    room = live_room()

    async def scenario():
        bruno, _ = await join(room.session, room.guests[1])
        anna, _ = await join(room.session, room.guests[0])
        first = await anna.chat("only once", client_id="retry-1")
        await anna.close()  # the ack got lost with the connection: the client retries elsewhere
        again, _ = await join(room.session, room.guests[0], after_seq=0)
        second = await again.chat("only once", client_id="retry-1")
        assert second == first
        await bruno.expect("chat.message")
        await bruno.nothing("chat.message")
        await again.close()
        await bruno.close()

    run(scenario())
    assert ChatMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "chat.send", "client_id": "c1", "text": "   "}, "empty"),
        ({"type": "chat.send", "client_id": "c1", "text": "x" * 501}, "too_long"),
        ({"type": "chat.send", "client_id": "c1", "text": "€" * 1400}, "too_large"),  # > 4096 bytes
        ({"type": "chat.send", "client_id": "c1"}, "bad_field"),
        ({"type": "chat.send", "client_id": "c1", "text": ["x"]}, "bad_field"),
        ({"type": "room.join", "after_seq": "last"}, "bad_field"),
        ({"type": "reaction.send", "emoji": "🍕"}, "bad_field"),
        ({"type": "question.ask", "client_id": "q1", "text": "?" * 301}, "too_long"),
        ({"type": "question.upvote", "id": 999999}, "not_found"),
        ({"type": "question.upvote", "id": "one"}, "bad_field"),
        ({"type": "chat.sned", "client_id": "c1", "text": "typo"}, "unknown_type"),
    ],
)
def test_a_bad_room_message_gets_an_error_event_and_the_socket_stays_usable(frame, code):
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guest)
        await anna.send(**frame)
        error = await anna.expect("error")
        assert error["code"] == code, error
        assert error["fatal"] is False
        assert error["message"]
        if "client_id" in frame and code != "unknown_type":
            assert error["ref"] == "c1" or error["ref"] == "q1"
        # Still usable: signalling and chat both answer.
        await anna.send(type="ping", client_time=7)
        assert (await anna.expect("pong"))["client_time"] == 7
        ack = await anna.chat("still here")
        assert ack["seq"] == 1
        await anna.close()

    run(scenario())
    assert list(ChatMessage.objects.values_list("text", flat=True)) == ["still here"]


@pytest.mark.parametrize("kind", sorted(MODERATOR_TYPES))
def test_a_viewer_cannot_use_moderation(kind):
    room = live_room()
    fields_by_kind: dict[str, dict[str, Any]] = {
        "question.answer": {"id": 1},
        "question.pin": {"id": 1},
        "moderation.delete": {"id": 1},
        "moderation.timeout": {"user_id": 1, "seconds": 60},
        "moderation.ban": {"user_id": 1, "reason": "x"},
        "moderation.slow_mode": {"seconds": 10},
        "moderation.approve": {"id": 1},
        "moderation.reject": {"id": 1},
    }
    fields = fields_by_kind[kind]

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        await anna.send(type=kind, **fields)
        error = await anna.expect("error")
        assert error["code"] == "not_allowed"
        await anna.close()

    run(scenario())
    assert not SessionBan.objects.exists()
    assert not ChatTimeout.objects.exists()


def test_the_message_rate_limit_refuses_the_sixth_message_in_ten_seconds():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guest)
        for index in range(5):
            await anna.chat(f"message {index}")
        await anna.send(type="chat.send", client_id="sixth", text="too fast")
        error = await anna.expect("error")
        assert error["code"] == "rate_limited"
        assert error["ref"] == "sixth"
        assert 1 <= error["retry_after"] <= 10
        await anna.close()

    run(scenario())
    assert ChatMessage.objects.count() == 5


def test_slow_mode_lets_guests_write_once_per_interval_and_exempts_the_guide():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guest)
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        await guide.send(type="moderation.slow_mode", seconds=30)
        for socket in (anna, guide):
            assert (await socket.expect("moderation.slow_mode"))["seconds"] == 30
        await anna.chat("first")
        await anna.send(type="chat.send", client_id="second", text="second")
        error = await anna.expect("error")
        assert (error["code"], error["ref"]) == ("slow_mode", "second")
        assert 29 <= error["retry_after"] <= 30
        await guide.chat("the guide is not slowed")
        await guide.chat("not at all")
        # A late joiner learns the setting from the snapshot.
        bruno, snapshot = await join(room.session, room.guests[1])
        assert snapshot["slow_mode_seconds"] == 30
        await guide.send(type="moderation.slow_mode", seconds=0)
        await anna.expect("moderation.slow_mode", lambda m: m["seconds"] == 0)
        await anna.chat("second, now allowed")
        for socket in (anna, guide, bruno):
            await socket.close()

    run(scenario())
    assert ChatMessage.objects.filter(author=room.guest).count() == 2


def test_a_timed_out_guest_cannot_write_until_the_timeout_ends():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        await guide.send(type="moderation.timeout", user_id=room.guests[0].pk, seconds=120)
        notice = await anna.expect("moderation.timed_out")
        assert notice["user"]["id"] == room.guests[0].pk
        assert (await guide.expect("moderation.timed_out"))["until"] == notice["until"]
        await bruno.nothing("moderation.timed_out", within=0.3)
        await anna.send(type="chat.send", client_id="muted", text="hello?")
        error = await anna.expect("error")
        assert (error["code"], error["ref"]) == ("timed_out", "muted")
        assert 110 <= error["retry_after"] <= 120
        await anna.send(type="question.ask", client_id="q-muted", text="may I ask?")
        assert (await anna.expect("error"))["code"] == "timed_out"
        await bruno.chat("others still can")
        # The snapshot tells a reconnecting client.
        again, snapshot = await join(room.session, room.guests[0])
        assert snapshot["timed_out_until"] == notice["until"]
        # The guide cannot be timed out.
        await guide.send(type="moderation.timeout", user_id=room.guide.pk, seconds=60)
        assert (await guide.expect("error"))["code"] == "not_allowed"
        for socket in (anna, bruno, guide, again):
            await socket.close()

    run(scenario())
    timeout = ChatTimeout.objects.get()
    assert timeout.user == room.guests[0]
    assert 110 <= (timeout.until - timezone.now()).total_seconds() <= 120
    assert not ChatMessage.objects.filter(author=room.guests[0]).exists()


def test_a_blocked_word_holds_the_message_for_the_guide_who_approves_or_rejects_it():
    BlockedWord.objects.create(word="Rotten")
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        await anna.send(type="chat.send", client_id="held-1", text="What ROTTEN weather")
        assert (await anna.expect("chat.held")) == {"type": "chat.held", "client_id": "held-1"}
        held = (await guide.expect("moderation.held"))["message"]
        assert (held["client_id"], held["text"], held["author"]["id"]) == (
            "held-1",
            "What ROTTEN weather",
            anna.user.pk,
        )
        await bruno.nothing("moderation.held", within=0.3)
        await bruno.nothing("chat.message", within=0.1)
        await anna.nothing("chat.message", within=0.1)
        # Meanwhile another message goes through.
        await bruno.chat("lovely view")
        await bruno.expect("chat.message")
        # A reconnecting guide finds it in the snapshot.
        again, snapshot = await join(room.session, room.guide, Role.PUBLISHER)
        assert [m["id"] for m in snapshot["held"]] == [held["id"]]
        await again.close()

        await guide.send(type="moderation.approve", id=held["id"])
        shown = await bruno.expect("chat.message", lambda m: m["client_id"] == "held-1")
        assert shown["seq"] == 3  # a new number: readers who resumed after seq 2 still get it
        await anna.expect("chat.message", lambda m: m["client_id"] == "held-1")
        assert (await guide.expect("moderation.resolved")) == {
            "type": "moderation.resolved",
            "id": held["id"],
            "approved": True,
        }

        await anna.send(type="chat.send", client_id="held-2", text="rotten again")
        await anna.expect("chat.held")
        second = (await guide.expect("moderation.held"))["message"]
        await guide.send(type="moderation.reject", id=second["id"])
        assert (await guide.expect("moderation.resolved"))["approved"] is False
        await bruno.nothing("chat.message", within=0.3)
        # Approving again: there is no held message with that id any more.
        await guide.send(type="moderation.approve", id=second["id"])
        assert (await guide.expect("error"))["code"] == "not_found"
        # A retry of the rejected message is refused, not stored again.
        await anna.send(type="chat.send", client_id="held-2", text="rotten again")
        assert (await anna.expect("error"))["code"] == "not_allowed"
        for socket in (anna, bruno, guide):
            await socket.close()

    run(scenario())
    statuses = dict(ChatMessage.objects.filter(author=room.guests[0]).values_list("client_id", "status"))
    assert statuses == {"held-1": "visible", "held-2": "rejected"}


def test_the_guide_deletes_a_message_for_everyone():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        ack = await anna.chat("regrettable")
        await bruno.expect("chat.message")
        await guide.send(type="moderation.delete", id=ack["id"])
        for socket in (anna, bruno, guide):
            assert (await socket.expect("chat.deleted")) == {"type": "chat.deleted", "id": ack["id"]}
        # Someone who had it and resumes learns it is gone; a new reader never sees it.
        resumer, resumed = await join(room.session, room.guests[1], after_seq=1)
        assert resumed["deleted_ids"] == [ack["id"]]
        assert resumed["messages"] == []
        newcomer, fresh = await join(room.session, room.guests[1])
        assert fresh["messages"] == []
        # Another session's message id is not found.
        await guide.send(type="moderation.delete", id=ack["id"] + 1000)
        assert (await guide.expect("error"))["code"] == "not_found"
        for socket in (anna, bruno, guide, resumer, newcomer):
            await socket.close()

    run(scenario())
    message = ChatMessage.objects.get()
    assert (message.status, message.deleted_by) == ("deleted", room.guide)


def test_staff_moderate_like_the_guide():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guest)
        staff, snapshot = await join(room.session, room.staff)
        assert snapshot["me"]["role"] == "staff"
        assert "participants" in snapshot
        ack = await anna.chat("spam spam")
        await staff.send(type="moderation.delete", id=ack["id"])
        await anna.expect("chat.deleted")
        await anna.close()
        await staff.close()

    run(scenario())
    assert ChatMessage.objects.get().deleted_by == room.staff


def test_a_banned_guest_is_kicked_at_once_and_refused_on_rejoin():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        await guide.send(type="moderation.ban", user_id=room.guests[0].pk, reason="rude")
        kicked = await anna.expect("kicked")
        assert kicked["code"] == "banned"
        assert (await anna.expect("websocket.close"))["code"] == FATAL_CLOSE_CODE
        # Rejoining is refused by the live access check.
        token = await database_sync_to_async(issue_join_token)(
            user=room.guests[0], session=room.session, role=Role.VIEWER
        )
        comm = WebsocketCommunicator(application(), f"/ws/live/{room.session.pk}/?token={token}", headers=[ORIGIN])
        assert (await comm.connect(timeout=5))[0]
        refusal = await comm.receive_json_from(timeout=5)
        assert (refusal["type"], refusal["code"], refusal["fatal"]) == ("error", "banned", True)
        # The others stay; the guide's list shows Anna gone.
        await bruno.chat("still here")
        listing = await guide.expect(
            "participant.list",
            lambda m: any(
                p["user"]["id"] == room.guests[0].pk and p["status"] != "connected" for p in m["participants"]
            ),
        )
        assert listing["viewers"] == 1
        # Neither the guide nor staff can be banned.
        await guide.send(type="moderation.ban", user_id=room.staff.pk, reason="")
        assert (await guide.expect("error"))["code"] == "not_allowed"
        await bruno.close()
        await guide.close()

    run(scenario())
    ban = SessionBan.objects.get()
    assert (ban.user, ban.by, ban.reason) == (room.guests[0], room.guide, "rude")


def test_typing_reaches_the_others_not_the_typist_and_is_throttled():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        for _ in range(3):
            await anna.send(type="chat.typing")
        typing = await bruno.expect("chat.typing")
        assert typing["user"] == {"id": room.guests[0].pk, "name": "Guest A", "role": "viewer", "country": None}
        await bruno.nothing("chat.typing", within=0.5)
        await anna.nothing("chat.typing", within=0.1)
        await anna.nothing("error", within=0.1)
        await anna.close()
        await bruno.close()

    run(scenario())


def test_reactions_are_batched_totalled_rate_limited_and_counted_per_person(monkeypatch):
    from chat.fanout import LocalRoom

    monkeypatch.setattr(LocalRoom, "reaction_flush_seconds", 0.5)
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        for emoji in ("👍", "👍", "👍", "❤️"):
            await anna.send(type="reaction.send", emoji=emoji)
        counts: dict[str, int] = {}
        while counts != {"👍": 3, "❤️": 1}:
            batch = await bruno.expect("reaction.batch")
            for emoji, count in batch["counts"].items():
                counts[emoji] = counts.get(emoji, 0) + count
        assert batch["totals"] == {"👍": 3, "❤️": 1}
        # 20 reactions per 5 s per person: the 21st is refused.
        for _ in range(16):
            await anna.send(type="reaction.send", emoji="🎉")
        await anna.send(type="reaction.send", emoji="🎉")
        error = await anna.expect("error")
        assert error["code"] == "rate_limited"
        assert 1 <= error["retry_after"] <= 5
        late, snapshot = await join(room.session, room.guest)
        assert snapshot["reactions"] == {"👍": 3, "❤️": 1, "🎉": 16}
        await bruno.expect("reaction.batch", lambda m: m["totals"].get("🎉") == 16)
        # The stats rows are flushed from the room store.
        for _ in range(40):
            if await database_sync_to_async(lambda: Participant.objects.get(user=room.guests[0]).reactions)() == 20:
                break
            await bruno.nothing("never", within=0.1)
        for socket in (anna, bruno, late):
            await socket.close()

    run(scenario())
    assert Participant.objects.get(user=room.guests[0]).reactions == 20


def test_questions_are_asked_upvoted_once_answered_and_pinned():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        await anna.send(type="question.ask", client_id="q1", text="  Who built the Pantheon? ", private=False)
        for socket in (anna, bruno, guide):
            question = (await socket.expect("question.new"))["question"]
        assert question["text"] == "Who built the Pantheon?"
        assert (question["client_id"], question["private"], question["votes"]) == ("q1", False, 0)
        assert (question["answered"], question["pinned"], question["author"]["id"]) == (False, False, anna.user.pk)

        await bruno.send(type="question.upvote", id=question["id"])
        mine = await bruno.expect("question.updated", lambda m: "voted" in m["question"])
        assert (mine["question"]["votes"], mine["question"]["voted"]) == (1, True)
        for socket in (anna, guide):
            assert (await socket.expect("question.updated"))["question"]["votes"] == 1
        await bruno.send(type="question.upvote", id=question["id"])  # again: a no-op
        again = await bruno.expect("question.updated", lambda m: "voted" in m["question"])
        assert again["question"]["votes"] == 1
        await anna.nothing("question.updated", within=0.3)

        await guide.send(type="question.answer", id=question["id"])
        answered = await anna.expect("question.updated")
        assert answered["question"]["answered"] is True
        await guide.send(type="question.pin", id=question["id"])
        for socket in (anna, bruno):
            pinned = await socket.expect("question.pinned")
            assert (pinned["question"]["id"], pinned["question"]["pinned"]) == (question["id"], True)
        late, snapshot = await join(room.session, room.guests[1])
        assert snapshot["pinned_question_id"] == question["id"]
        assert snapshot["questions"][0]["voted"] is True
        await guide.send(type="question.pin", id=None)
        assert (await anna.expect("question.pinned"))["question"] is None
        # A retried ask is stored once; the asker gets the question again.
        await anna.send(type="question.ask", client_id="q1", text="Who built the Pantheon?")
        assert (await anna.expect("question.new"))["question"]["id"] == question["id"]
        await bruno.nothing("question.new", within=0.3)
        for socket in (anna, bruno, guide, late):
            await socket.close()

    run(scenario())
    stored = Question.objects.get()
    assert (stored.votes, stored.answered_by) == (1, room.guide)


def test_a_private_question_reaches_only_its_author_the_guide_and_staff():
    room = live_room()

    async def scenario():
        anna, _ = await join(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        staff, _ = await join(room.session, room.staff)
        await anna.send(type="question.ask", client_id="secret", text="Can you say hi to my mum?", private=True)
        for socket in (anna, guide, staff):
            question = (await socket.expect("question.new"))["question"]
            assert question["private"] is True
        await bruno.nothing("question.new", within=0.5)
        other, snapshot = await join(room.session, room.guests[1])
        assert snapshot["questions"] == []
        author, own = await join(room.session, room.guests[0])
        assert [q["id"] for q in own["questions"]] == [question["id"]]
        await bruno.send(type="question.upvote", id=question["id"])
        assert (await bruno.expect("error"))["code"] == "not_found"
        await guide.send(type="question.pin", id=question["id"])
        assert (await guide.expect("error"))["code"] == "not_allowed"
        await guide.send(type="question.answer", id=question["id"])
        await anna.expect("question.updated", lambda m: m["question"]["answered"])
        await bruno.nothing("question.updated", within=0.3)
        for socket in (anna, bruno, guide, staff, author, other):
            await socket.close()

    run(scenario())


def test_the_guide_sees_people_come_and_go_and_everyone_sees_the_viewer_count():
    room = live_room()

    async def scenario():
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        anna, _ = await join(room.session, room.guests[0])
        listing = await guide.expect(
            "participant.list", lambda m: [p["user"]["id"] for p in m["participants"]] == [room.guide.pk, anna.user.pk]
        )
        entry = listing["participants"][1]
        assert (entry["status"], entry["messages"], entry["reactions"]) == ("connected", 0, 0)
        assert listing["viewers"] == 1
        bruno, _ = await join(room.session, room.guests[1])
        assert (await anna.expect("presence.count", lambda m: m["viewers"] == 2))["viewers"] == 2
        await bruno.close()
        listing = await guide.expect(
            "participant.list",
            lambda m: any(
                p["user"]["id"] == room.guests[1].pk and p["status"] == "reconnecting" for p in m["participants"]
            ),
        )
        assert listing["viewers"] == 1
        await anna.expect("presence.count", lambda m: m["viewers"] == 1)
        # Viewers never get the list.
        await anna.nothing("participant.list", within=0.2)
        await anna.close()
        await guide.close()

    run(scenario())


def test_room_messages_before_room_join_are_answered_and_events_wait_for_the_join():
    room = live_room()

    async def scenario():
        anna = await connect(room.session, room.guests[0])
        bruno, _ = await join(room.session, room.guests[1])
        ack = await anna.chat("sent before joining")
        await bruno.expect("chat.message")
        await anna.nothing("chat.message", within=0.3)  # not joined: no live events yet
        await anna.send(type="room.join", after_seq=0)
        snapshot = await anna.expect("room.snapshot")
        assert [m["id"] for m in snapshot["messages"]] == [ack["id"]]
        await bruno.chat("after")
        assert (await anna.expect("chat.message"))["text"] == "after"
        await anna.close()
        await bruno.close()

    run(scenario())
