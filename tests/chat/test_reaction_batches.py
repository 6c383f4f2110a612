"""Reaction aggregation: 10,000 reactions in about a second cost at most 5 broadcasts per second,
and the batches add up to the exact totals, also when two processes share the room (Redis)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.conf import settings

from chat import backends, fanout, rules
from chat.fanout import Hub, LocalSocket
from tests.chat.support import live_room, make_user
from tests.support.live_loop import run

pytestmark = pytest.mark.usefixtures("fresh_loop_state")

REACTIONS = 10_000
PEOPLE = REACTIONS // rules.REACTION_RATE.limit  # everyone within their own rate limit
EMOJI = rules.REACTION_EMOJI


class Batches:
    """The reaction.batch frames one socket received, with the loop time they arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict[str, Any]]] = []

    async def send(self, text: str) -> None:
        frame = json.loads(text)
        if frame["type"] == "reaction.batch":
            self.received.append((asyncio.get_running_loop().time(), frame))

    def counted(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for _at, frame in self.received:
            for emoji, count in frame["counts"].items():
                totals[emoji] = totals.get(emoji, 0) + count
        return totals

    def most_in_one_second(self) -> int:
        times = [at for at, _frame in self.received]
        return max((sum(1 for other in times if start <= other < start + 1.0) for start in times), default=0)


async def _attach(hub: Hub, session_id: int, sink: Batches, user_id: int) -> None:
    async def snapshot(after_seq: int) -> tuple[str, int]:
        return json.dumps({"type": "room.snapshot"}), 0

    async def kick(code: str, message: str) -> None:
        return None

    socket = LocalSocket(
        session_id=session_id,
        user_id=user_id,
        moderator=False,
        socket_id=f"bench-{id(sink)}",
        send=sink.send,
        snapshot=snapshot,
        kick=kick,
    )
    await hub.attach(socket)
    await socket.join(0)


async def _react(hubs: list[Hub], session_id: int) -> dict[str, int]:
    """10,000 reactions from 500 people in ten bursts over about a second, spread over the hubs."""
    sent: dict[str, int] = {}
    for burst in range(10):
        calls = []
        for index in range(REACTIONS // 10):
            number = burst * (REACTIONS // 10) + index
            emoji = EMOJI[number % len(EMOJI)]
            sent[emoji] = sent.get(emoji, 0) + 1
            hub = hubs[number % len(hubs)]
            calls.append(hub.backend.add_reaction(session_id, 10_000 + number % PEOPLE, emoji, rules.REACTION_RATE))
        refused = [wait for wait in await asyncio.gather(*calls) if wait]
        assert refused == []
        await asyncio.sleep(0.1)
    return sent


async def _until_totals(sinks: list[Batches], sent: dict[str, int]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while any(sink.counted() != sent for sink in sinks):
        assert loop.time() < deadline, [sink.counted() for sink in sinks]
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.6)  # nothing more comes


def test_ten_thousand_reactions_in_a_second_cost_at_most_five_broadcasts_a_second():
    room = live_room(guests=1)
    session_id = room.session.pk

    async def scenario():
        hub = fanout.get_hub()
        sink = Batches()
        await _attach(hub, session_id, sink, room.guest.pk)
        started = asyncio.get_running_loop().time()
        sent = await _react([hub], session_id)
        await _until_totals([sink], sent)
        elapsed = sink.received[-1][0] - started

        assert sum(sent.values()) == REACTIONS
        assert sink.counted() == sent  # every reaction counted once
        assert sink.received[-1][1]["totals"] == sent
        assert sink.most_in_one_second() <= 5
        assert len(sink.received) <= 5 * elapsed + 1
        assert len(sink.received) >= 2  # batched, not one at the end
        assert await hub.backend.reaction_totals(session_id) == sent

    run(scenario())


@pytest.mark.skipif(not settings.REDIS_URL, reason="two processes share a room through Redis (REDIS_URL)")
def test_two_processes_reacting_into_one_room_still_send_at_most_five_batches_a_second():
    room = live_room(guests=1)
    session_id = room.session.pk
    other = make_user()

    async def scenario():
        url = backends.redis_url()
        assert url is not None
        first = fanout.get_hub()
        second = Hub(asyncio.get_running_loop(), backends.RedisBackend(url))  # another process's hub
        try:
            sinks = [Batches(), Batches()]
            await _attach(first, session_id, sinks[0], room.guest.pk)
            await _attach(second, session_id, sinks[1], other.pk)
            started = asyncio.get_running_loop().time()
            sent = await _react([first, second], session_id)
            await _until_totals(sinks, sent)
            elapsed = max(sink.received[-1][0] for sink in sinks) - started
            for sink in sinks:
                # Both processes' sockets hear the same batches: one broadcast each, counted once.
                assert sink.counted() == sent
                assert sink.most_in_one_second() <= 5
                assert len(sink.received) <= 5 * elapsed + 1
            assert [frame for _at, frame in sinks[0].received] == [frame for _at, frame in sinks[1].received]
        finally:
            await second.close()

    run(scenario())
