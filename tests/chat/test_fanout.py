"""The per-process fan-out (chat/fanout.py) below the consumer: order, gaps, audiences, slow sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat import fanout, realtime, selectors
from chat.fanout import LocalRoom, LocalSocket
from chat.models import ChatMessage, RoomState
from chat.protocol import event
from tests.chat.support import live_room, room_events
from tests.support.live_loop import run

pytestmark = pytest.mark.usefixtures("fresh_loop_state")


TICKER = ("presence.count", "participant.list")  # the room's ticker: it may write at any moment, not under test


def _ticker_only(text: str) -> bool:
    return all(frame["type"] in TICKER for frame in room_events(text))


def _payload(framed: bytes) -> str:
    """A server's text frame's payload (unmasked; the length takes 1, 3 or 9 bytes)."""
    return framed[{126: 4, 127: 10}.get(framed[1] & 0x7F, 2) :].decode()


class Sink:
    """A socket's far end: what was written to it, in order; optionally stuck until released."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.frames: list[dict[str, Any]] = []
        self.writes: list[str] = []  # each frame as written
        self.wired: list[bytes] = []  # each frame that came through the wire
        self.gate = asyncio.Event()
        if not stuck:
            self.gate.set()
        self.kicks: list[tuple[str, str]] = []

    async def send(self, text: str) -> None:
        await self.gate.wait()
        self._read(text)

    def wire(self, framed: bytes) -> bool:
        """The socket's wire under uvicorn (italycouch/server_send.py): takes a whole frame now,
        or refuses (a paused transport) and the socket uses ``send``."""
        if not self.gate.is_set():
            return False
        self.wired.append(framed)
        self._read(_payload(framed))
        return True

    def _read(self, text: str) -> None:
        self.writes.append(text)
        for frame in room_events(text):
            if frame["type"] not in TICKER:
                self.frames.append(frame)

    def writes_under_test(self) -> list[str]:
        """What was written, leaving out the writes that carried the room's ticker alone."""
        return [text for text in self.writes if not _ticker_only(text)]

    def wired_under_test(self) -> list[bytes]:
        return [framed for framed in self.wired if not _ticker_only(_payload(framed))]

    async def kick(self, code: str, message: str) -> None:
        self.kicks.append((code, message))

    def seqs(self) -> list[int]:
        return [frame["seq"] for frame in self.frames if "seq" in frame]

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.frames]


def _snapshot_after(session_id: int) -> Callable[[int], Awaitable[tuple[str, int]]]:
    async def build(after_seq: int) -> tuple[str, int]:
        top = await database_sync_to_async(selectors.last_seq)(session_id)
        return json.dumps({"type": "room.snapshot", "after_seq": after_seq, "last_seq": top}), top

    return build


async def _socket(
    session_id: int, user_id: int, sink: Sink, *, moderator: bool = False, wire: bool = False
) -> LocalSocket:
    socket = LocalSocket(
        session_id=session_id,
        user_id=user_id,
        moderator=moderator,
        socket_id=f"test-{user_id}-{id(sink)}",
        send=sink.send,
        snapshot=_snapshot_after(session_id),
        kick=sink.kick,
        wire=sink.wire if wire else None,
    )
    await fanout.get_hub().attach(socket)
    await socket.join(0)
    return socket


async def _settle(condition: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _store_messages(session_id: int, author_id: int, count: int) -> list[str]:
    """Committed messages seq 1..count, announced to nobody; their envelopes, in seq order."""
    session = selectors._session(session_id)
    payloads = []
    for seq in range(1, count + 1):
        message = ChatMessage.objects.create(
            session_id=session_id,
            seq=seq,
            author_id=author_id,
            client_id=f"m{seq}",
            text=f"text {seq}",
            created_at=timezone.now(),
        )
        message.author.refresh_from_db()
        payloads.append(selectors.message_payload(message, session=session)[1])
    RoomState.objects.update_or_create(session_id=session_id, defaults={"last_seq": count})
    return payloads


def test_envelopes_that_overtake_each_other_are_delivered_in_sequence_order():
    given = live_room()
    session_id, guest = given.session.pk, given.guest

    async def scenario():
        sink = Sink()
        await _socket(session_id, guest.pk, sink)
        room = fanout.get_hub().rooms[session_id]
        payloads = await database_sync_to_async(_store_messages)(session_id, guest.pk, 3)
        for index in (2, 1, 0):
            room.on_payload(payloads[index])
        await _settle(lambda: len(sink.seqs()) == 3)
        assert sink.seqs() == [1, 2, 3]

    run(scenario())


def test_a_publish_that_never_arrives_is_read_from_the_database(monkeypatch):
    monkeypatch.setattr(LocalRoom, "gap_wait_seconds", 0.2)
    given = live_room()
    session_id, guest = given.session.pk, given.guest

    async def scenario():
        sink = Sink()
        await _socket(session_id, guest.pk, sink)
        room = fanout.get_hub().rooms[session_id]
        payloads = await database_sync_to_async(_store_messages)(session_id, guest.pk, 3)
        room.on_payload(payloads[1])
        # Something without a number arriving during the gap keeps its place behind the messages.
        room.on_payload(realtime.encode(event("chat.deleted", id=1)))
        room.on_payload(payloads[2])
        await asyncio.sleep(0.1)
        assert sink.frames[1:] == []  # waiting for seq 1
        await _settle(lambda: len(sink.frames) == 5)
        assert sink.types() == ["room.snapshot", "chat.message", "chat.message", "chat.message", "chat.deleted"]
        assert sink.seqs() == [1, 2, 3]
        assert sink.frames[1]["text"] == "text 1"
        # The late original, if it ever comes, is not delivered twice.
        room.on_payload(payloads[0])
        await asyncio.sleep(0.1)
        assert sink.seqs() == [1, 2, 3]

    run(scenario())


def test_audiences_everyone_moderators_one_person_and_everyone_but_one():
    given = live_room()
    session_id = given.session.pk
    anna, bruno, guide = given.guests[0].pk, given.guests[1].pk, given.guide.pk

    async def scenario():
        sinks = {user: Sink() for user in (anna, bruno, guide)}
        for user, sink in sinks.items():
            await _socket(session_id, user, sink, moderator=user == guide)
        room = fanout.get_hub().rooms[session_id]
        room.on_payload(realtime.encode(event("to.all")))
        room.on_payload(realtime.encode(event("to.mods"), audience=realtime.MODERATORS))
        room.on_payload(realtime.encode(event("to.mods.and.anna"), audience=realtime.MODERATORS, users=(anna,)))
        room.on_payload(realtime.encode(event("to.bruno"), audience=realtime.USERS, users=(bruno,)))
        room.on_payload(realtime.encode(event("not.to.anna"), exclude=anna))
        room.on_payload(realtime.encode(event("end")))
        await _settle(lambda: all(sink.types()[-1:] == ["end"] for sink in sinks.values()))
        assert sinks[anna].types()[1:] == ["to.all", "to.mods.and.anna", "end"]
        assert sinks[bruno].types()[1:] == ["to.all", "to.bruno", "not.to.anna", "end"]
        assert sinks[guide].types()[1:] == ["to.all", "to.mods", "to.mods.and.anna", "not.to.anna", "end"]

    run(scenario())


def test_events_of_one_turn_of_the_loop_share_one_frame_and_a_quiet_room_waits_for_nothing():
    given = live_room()
    session_id = given.session.pk
    anna, guide = given.guests[0].pk, given.guide.pk

    def written(sink: Sink) -> list[str]:
        """The frames written after the join's snapshot, leaving out the room's ticker."""
        return sink.writes_under_test()[1:]

    async def scenario():
        viewer, moderator = Sink(), Sink()
        await _socket(session_id, anna, viewer)
        await _socket(session_id, guide, moderator, moderator=True)
        room = fanout.get_hub().rooms[session_id]
        payloads = await database_sync_to_async(_store_messages)(session_id, anna, 4)
        # Published in one turn (as when Redis hands over several at once): one frame each.
        room.on_payload(payloads[0])
        room.on_payload(realtime.encode(event("to.mods"), audience=realtime.MODERATORS))
        room.on_payload(payloads[1])
        room.on_payload(payloads[2])
        await _settle(lambda: viewer.seqs() == [1, 2, 3] and moderator.seqs() == [1, 2, 3])
        assert [[item["type"] for item in room_events(text)] for text in written(moderator)] == [
            ["chat.message", "to.mods", "chat.message", "chat.message"]
        ]
        (frame,) = written(viewer)  # the same moment without what is not for her
        assert frame.startswith("[")
        assert [item.get("seq") for item in room_events(frame)] == [1, 2, 3]
        # A lone event is written at once, as itself: no array, no waiting for company.
        room.on_payload(realtime.encode(event("alone")))
        await _settle(lambda: viewer.types()[-1] == "alone")
        assert written(viewer)[-1].startswith("{")
        # What a socket has already is left out of the frame (a late duplicate beside message 4).
        room.on_payload(payloads[1])
        room.on_payload(payloads[3])
        await _settle(lambda: viewer.seqs()[-1:] == [4])
        assert viewer.seqs() == [1, 2, 3, 4]
        assert written(viewer)[-1].startswith("{")

    run(scenario())


def test_under_uvicorn_a_frame_is_built_once_for_the_room_and_goes_down_each_wire():
    given = live_room(guests=3)
    session_id = given.session.pk

    async def scenario():
        anna, bruno, carla = Sink(), Sink(), Sink()
        for guest, sink in zip(given.guests, (anna, bruno, carla), strict=True):
            await _socket(session_id, guest.pk, sink, wire=True)
        room = fanout.get_hub().rooms[session_id]
        payloads = await database_sync_to_async(_store_messages)(session_id, given.guests[0].pk, 3)
        carla.gate.clear()  # her transport is paused: her wire refuses, send waits
        room.on_payload(payloads[0])
        room.on_payload(payloads[1])
        await _settle(lambda: anna.seqs() == [1, 2] and bruno.seqs() == [1, 2])
        # One frame for the moment, encoded and framed once: the very same bytes on every wire.
        assert len(anna.wired_under_test()) == len(bruno.wired_under_test()) == 1
        assert anna.wired_under_test()[0] is bruno.wired_under_test()[0]
        assert json.loads(anna.writes[0])["type"] == "room.snapshot"  # the join went through send
        # Carla's frame waits in send; what comes next queues behind it, and all of it arrives in order.
        room.on_payload(payloads[2])
        await _settle(lambda: anna.seqs() == [1, 2, 3])
        assert carla.seqs() == []
        carla.gate.set()
        await _settle(lambda: carla.seqs() == [1, 2, 3])
        assert carla.wired_under_test() == []
        assert [len(sink.writes_under_test()) for sink in (anna, bruno, carla)] == [3, 3, 3]

    run(scenario())


def test_a_kick_on_the_bus_closes_only_that_persons_sockets():
    given = live_room()
    session_id = given.session.pk
    anna, bruno = given.guests[0].pk, given.guests[1].pk

    async def scenario():
        first, second, other = Sink(), Sink(), Sink()
        await _socket(session_id, anna, first)
        await _socket(session_id, anna, second)
        await _socket(session_id, bruno, other)
        fanout.get_hub().rooms[session_id].on_payload(
            realtime.kick_envelope(user_id=anna, code="banned", message="bye")
        )
        await _settle(lambda: len(first.kicks) == 1 and len(second.kicks) == 1)
        assert first.kicks == [("banned", "bye")]
        assert other.kicks == []

    run(scenario())


def test_a_stuck_socket_never_holds_up_the_others_and_is_resynced_when_it_overflows(monkeypatch):
    monkeypatch.setattr(LocalSocket, "queue_limit", 20)
    given = live_room()
    session_id = given.session.pk
    anna, bruno = given.guests[0].pk, given.guests[1].pk

    async def scenario():
        slow, fast = Sink(), Sink()
        slow_socket = await _socket(session_id, anna, slow)
        await _socket(session_id, bruno, fast)
        await _settle(lambda: slow.types() == ["room.snapshot"])
        slow.gate.clear()  # the slow client stops reading
        room = fanout.get_hub().rooms[session_id]
        payloads = await database_sync_to_async(_store_messages)(session_id, bruno, 60)
        for payload in payloads[:2]:
            room.on_payload(payload)
        await _settle(lambda: len(fast.seqs()) == 2)
        await asyncio.sleep(0.05)  # the slow writer is now stuck inside its first send
        for payload in payloads[2:]:
            room.on_payload(payload)
            await asyncio.sleep(0)  # the loop turns between publishes, as when they come from Redis
        # The fast one got everything at once; the slow one's backlog was dropped, bounded.
        await _settle(lambda: len(fast.seqs()) == 60)
        assert fast.seqs() == list(range(1, 61))
        assert slow_socket.overflows >= 1
        assert len(slow_socket._frames) <= 20
        slow.gate.set()
        # It gets what it was sending (messages 1 and 2, published in one turn of the loop and
        # so written as one frame, unless the room's ticker wrote just before), then a snapshot
        # after the last message it has: nothing lost, nothing twice.
        await _settle(lambda: "room.snapshot" in slow.types()[1:])
        resync_at = slow.types().index("room.snapshot", 1)
        live = [frame["seq"] for frame in slow.frames[1:resync_at] if frame["type"] == "chat.message"]
        assert live in ([], [1, 2])
        assert slow.frames[resync_at]["after_seq"] == (live[-1] if live else 0)
        assert slow.frames[resync_at]["last_seq"] == 60
        room.on_payload(realtime.encode(event("chat.typing", user={"id": 1})))
        await _settle(lambda: slow.types()[-1] == "chat.typing")

    run(scenario())


def test_a_room_closes_when_its_last_socket_has_been_gone_a_while(monkeypatch):
    monkeypatch.setattr(LocalRoom, "linger_seconds", 0.1)
    given = live_room()
    session_id = given.session.pk

    async def scenario():
        hub = fanout.get_hub()
        socket = await _socket(session_id, given.guest.pk, Sink())
        assert hub.stats()["sockets"] == 1
        await hub.detach(socket)
        assert session_id in hub.rooms  # kept warm for a reconnect
        await _settle(lambda: session_id not in hub.rooms)

    run(scenario())


def test_a_room_closes_even_when_a_call_below_its_ticker_loses_the_cancellation(monkeypatch):
    # Seen in the suite (Python 3.11, redis-py 8.1): the ticker was cancelled with a SET in
    # flight, the call returned its reply normally, and the room's close waited for ever.
    monkeypatch.setattr(LocalRoom, "full_presence_seconds", 0.0)  # the list is sent at every presence tick
    given = live_room()
    session_id = given.session.pk

    async def scenario():
        await _socket(session_id, given.guests[0].pk, Sink())
        room = fanout.get_hub().rooms[session_id]
        original = room.backend.swap
        in_flight = asyncio.Event()

        async def swap_that_loses_a_cancellation(key: str, value: str) -> str | None:
            previous = await original(key, value)
            in_flight.set()
            with contextlib.suppress(asyncio.CancelledError):  # the reply comes back as if nothing happened
                await asyncio.sleep(0.2)
            return previous

        monkeypatch.setattr(room.backend, "swap", swap_that_loses_a_cancellation)
        await asyncio.wait_for(in_flight.wait(), 5)
        ticker = room._ticker
        assert ticker is not None
        assert not ticker.done()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(room.close(), 10)
        # The ticker saw the room closing after its step and ended: no task left ticking for a
        # room that is gone, and the close took about one step, not the grace of italycouch/tasks.py.
        assert ticker.done()
        assert asyncio.get_running_loop().time() - started < 2

    run(scenario())
