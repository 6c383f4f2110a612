"""Two real ASGI server processes on Redis: chat, reactions and presence cross them.

Each server is uvicorn serving the project's ASGI app in its own interpreter (the browser tests'
``run_live_site``), both on the test database and on this test process's Redis database, so the
room's events can only reach the other process through Redis. Clients are real WebSocket
connections (the ``websockets`` library) with the join tokens the watch page would fetch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from django.conf import settings
from django.utils import timezone
from websockets.asyncio.client import ClientConnection, connect

from accounts.models import GuideProfile, User
from streaming.models import LiveSession
from streaming.rules import Role
from streaming.tokens import issue_join_token
from tests.chat.support import room_events
from tests.factories import BookingFactory, GuideProfileFactory, SlotFactory, TourFactory, UserFactory
from tests.support.live_server import LiveSite, run_live_site

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.REDIS_URL, reason="several processes share a room through Redis (REDIS_URL)"),
]

TIMEOUT = 15.0
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


@pytest.fixture
def two_servers() -> Iterator[tuple[LiveSite, LiveSite]]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    overrides = {"SFU_HOST_ADDRESSES": ["127.0.0.2"]}
    with (
        run_live_site(log_path=RESULTS / f"two-processes-{worker}-a.log", settings_overrides=overrides) as first,
        run_live_site(log_path=RESULTS / f"two-processes-{worker}-b.log", settings_overrides=overrides) as second,
    ):
        yield first, second


@pytest.fixture
def live_tour() -> dict[str, Any]:
    """A live session with its guide and two booked viewers, and a join token for each."""
    now = timezone.now()
    guide = cast(GuideProfile, GuideProfileFactory())
    tour = TourFactory(guide=guide, max_group_size=10)
    slot = SlotFactory(tour=tour, start=now - timedelta(minutes=5), end=now + timedelta(hours=1), capacity=10)
    session = LiveSession.objects.create(slot=slot, status=LiveSession.Status.LIVE, started_at=now)
    viewers = [cast(User, UserFactory(name=name)) for name in ("Anna", "Bruno")]
    for viewer in viewers:
        BookingFactory(user=viewer, slot=slot, seats=1)
    return {
        "session": session,
        "viewers": viewers,
        "tokens": {
            "guide": issue_join_token(user=guide.user, session=session, role=Role.PUBLISHER),
            "anna": issue_join_token(user=viewers[0], session=session, role=Role.VIEWER),
            "bruno": issue_join_token(user=viewers[1], session=session, role=Role.VIEWER),
        },
    }


class Client:
    """One person's live-room socket: everything received is kept, in order."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.received: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(Exception):
            async for frame in self.socket:
                self.received.extend(room_events(str(frame)))
                self._new.set()

    async def send(self, **message: Any) -> None:
        await self.socket.send(json.dumps(message))

    async def wait_for(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        """The first message received (so far or later) that satisfies ``predicate``."""
        async with asyncio.timeout(TIMEOUT):
            seen = 0
            while True:
                for message in self.received[seen:]:
                    if predicate(message):
                        return message
                seen = len(self.received)
                self._new.clear()
                try:
                    await self._new.wait()
                except TimeoutError:
                    break
        raise AssertionError(f"never received {what}; got {[m.get('type') for m in self.received]}")

    async def close(self) -> None:
        await self.socket.close()
        self._reader.cancel()


@contextlib.asynccontextmanager
async def joined(site: LiveSite, session_id: int, token: str) -> Any:
    socket = await connect(f"{site.ws_url}/ws/live/{session_id}/?token={token}", origin=site.url)  # type: ignore[arg-type]
    client = Client(socket)
    try:
        await client.wait_for(lambda m: m["type"] == "welcome", "welcome")
        await client.send(type="room.join", after_seq=0)
        await client.wait_for(lambda m: m["type"] == "room.snapshot", "room.snapshot")
        yield client
    finally:
        await client.close()


def test_chat_reactions_and_presence_cross_processes(
    two_servers: tuple[LiveSite, LiveSite], live_tour: dict[str, Any]
) -> None:
    first, second = two_servers
    session_id = live_tour["session"].pk
    tokens = live_tour["tokens"]

    async def scenario() -> None:
        async with (
            joined(second, session_id, tokens["guide"]) as guide,
            joined(first, session_id, tokens["anna"]) as anna,
            joined(second, session_id, tokens["bruno"]) as bruno,
        ):
            # Presence: the guide (process B) sees Anna, who is connected to process A.
            participants = await guide.wait_for(
                lambda m: (
                    m["type"] == "participant.list"
                    and {"Anna", "Bruno"}
                    <= {p["user"]["name"] for p in m["participants"] if p["status"] == "connected"}
                ),
                "both viewers connected in participant.list",
            )
            assert participants["viewers"] >= 2

            # Chat: Anna (A) writes, Bruno and the guide (B) receive it with its sequence number.
            await anna.send(type="chat.send", client_id="anna-1", text="Ciao from process A")
            ack = await anna.wait_for(lambda m: m["type"] == "chat.ack" and m["client_id"] == "anna-1", "chat.ack")
            for reader in (bruno, guide):
                message = await reader.wait_for(
                    lambda m: m["type"] == "chat.message" and m["client_id"] == "anna-1", "Anna's message"
                )
                assert message["seq"] == ack["seq"]
                assert message["text"] == "Ciao from process A"
                assert message["author"]["name"] == "Anna"

            # And back: Bruno (B) writes, Anna (A) receives it, after Anna's own in order.
            await bruno.send(type="chat.send", client_id="bruno-1", text="Grazie from process B")
            reply = await anna.wait_for(
                lambda m: m["type"] == "chat.message" and m["client_id"] == "bruno-1", "Bruno's message"
            )
            assert reply["seq"] > ack["seq"]

            # Reactions: Bruno (B) reacts, Anna (A) sees the running total.
            await bruno.send(type="reaction.send", emoji="🎉")
            batch = await anna.wait_for(
                lambda m: m["type"] == "reaction.batch" and m["totals"].get("🎉", 0) >= 1, "a reaction batch with 🎉"
            )
            assert batch["totals"]["🎉"] == 1

            # Leaving process A shows on the guide's list in process B.
            await anna.close()
            await guide.wait_for(
                lambda m: (
                    m["type"] == "participant.list"
                    and any(p["user"]["name"] == "Anna" and p["status"] != "connected" for p in m["participants"])
                ),
                "Anna no longer connected",
            )

    asyncio.run(scenario())
