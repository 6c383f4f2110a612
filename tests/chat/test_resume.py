"""Nothing lost on reconnect: a client away for 1 s, 30 s or 120 s while others chat gets every
message it missed exactly once and in order, then the live ones, with no duplicate at the seam.

The clock is moved with time-machine (the others' messages are spread over the time away, inside
their rate limits) instead of sleeping; the event loop's own clock is not touched.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.models import ChatMessage
from tests.chat.support import Socket, join, live_room
from tests.support.live_loop import run

pytestmark = pytest.mark.usefixtures("fresh_loop_state")


def _visible_seqs_after(session_id: int, after_seq: int) -> list[int]:
    return list(
        ChatMessage.objects.filter(session_id=session_id, status="visible", seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", flat=True)
    )


async def _chat_messages(socket: Socket, count: int) -> list[dict[str, Any]]:
    return [await socket.expect("chat.message") for _ in range(count)]


@pytest.mark.parametrize("away_seconds", [1, 30, 120])
def test_a_client_away_gets_every_missed_message_once_and_in_order(away_seconds: int) -> None:
    room = live_room(guests=3)
    anna_user, bruno_user, carla_user = room.guests

    async def scenario() -> None:
        with time_machine.travel(timezone.now(), tick=True) as clock:
            anna, _ = await join(room.session, anna_user)
            bruno, _ = await join(room.session, bruno_user)
            carla, _ = await join(room.session, carla_user)
            for index in range(3):
                await bruno.chat(f"before {index}")
            seen = await _chat_messages(anna, 3)
            last_seen = seen[-1]["seq"]
            clock.shift(timedelta(seconds=10))  # a new rate-limit window for Bruno
            await anna.close()

            # Away: the others write one message each every 2.5 s of the time away (4 per 10 s each,
            # inside the limit of 5).
            steps = max(1, int(away_seconds / 2.5))
            for step in range(steps):
                await bruno.chat(f"while away {step} (b)")
                await carla.chat(f"while away {step} (c)")
                clock.shift(timedelta(seconds=away_seconds / steps))

            # Back, while Carla keeps writing: the seam between snapshot and live must hold.
            async def keep_chatting() -> None:
                for index in range(4):
                    await carla.chat(f"during the rejoin {index}")
                    clock.shift(timedelta(seconds=2.5))

            writer = asyncio.ensure_future(keep_chatting())
            again, snapshot = await join(room.session, anna_user, after_seq=last_seen)
            await writer
            expected = await database_sync_to_async(_visible_seqs_after)(room.session.pk, last_seen)
            received = [message["seq"] for message in snapshot["messages"]]
            assert snapshot["reset"] is False
            while len(received) < len(expected):
                received.append((await again.expect("chat.message"))["seq"])
            await again.nothing("chat.message", within=0.3)
            assert received == expected  # every one, once, in order
            assert len(expected) == 2 * steps + 4
            texts = [m["text"] for m in snapshot["messages"]]
            assert texts[:2] == ["while away 0 (b)", "while away 0 (c)"]

            # And the room carries on live, with the next number.
            await bruno.chat("welcome back")
            assert (await again.expect("chat.message"))["seq"] == expected[-1] + 1
            for socket in (bruno, carla, again):
                await socket.close()

    run(scenario(), timeout=180)


def test_a_resume_that_missed_too_much_starts_over_with_the_latest_history(monkeypatch: pytest.MonkeyPatch) -> None:
    from chat import rules

    monkeypatch.setattr(rules, "RESUME_LIMIT", 3)
    monkeypatch.setattr(rules, "SNAPSHOT_HISTORY", 2)
    room = live_room()

    async def scenario() -> None:
        bruno, _ = await join(room.session, room.guests[1])
        for index in range(5):
            await bruno.chat(f"m{index}")
        anna, snapshot = await join(room.session, room.guests[0], after_seq=1)
        assert snapshot["reset"] is True
        assert [m["text"] for m in snapshot["messages"]] == ["m3", "m4"]
        assert snapshot["last_seq"] == 5
        for socket in (anna, bruno):
            await socket.close()

    run(scenario())
