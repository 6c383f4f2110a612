"""Helpers for the live room tests: a live session, sockets through the real WebSocket stack.

Each scenario runs with ``asyncio.run`` (no pytest-asyncio) on committed rows (``transactional_db``),
because the consumer reads them from asgiref's worker thread. The hub (chat/fanout.py) belongs to
the event loop: ``run`` closes it before the loop ends, as it closes the SFU registry.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

from channels.testing import WebsocketCommunicator
from django.utils import timezone

from accounts.models import User
from bookings.models import Booking, Slot
from italycouch.routing import websocket_application
from streaming.models import LiveSession
from streaming.rules import Role
from streaming.tokens import issue_join_token
from tests.factories import BookingFactory, LiveSessionFactory, SlotFactory, UserFactory

ORIGIN = (b"origin", b"http://testserver")
STEP = 5.0


def room_events(text: str) -> list[dict[str, Any]]:
    """The events in one frame as written: one object, or a JSON array of them in order (a busy
    room writes the events of one turn of its loop together; docs/events.md, "Batches")."""
    parsed = json.loads(text)
    events = parsed if isinstance(parsed, list) else [parsed]
    assert events, text
    for item in events:
        assert isinstance(item, dict), text
        assert isinstance(item.get("type"), str), text
    return cast(list[dict[str, Any]], events)


def make_user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


@dataclass
class Room:
    """A session whose slot started 5 minutes ago, its guide and booked guests."""

    session: LiveSession
    guide: User
    guests: list[User]
    staff: User

    @property
    def guest(self) -> User:
        return self.guests[0]

    def book(self, **fields: Any) -> User:
        user = make_user(**fields)
        BookingFactory(user=user, slot=self.session.slot)
        self.guests.append(user)
        return user


def live_room(guests: int = 2, **guest_fields: Any) -> Room:
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    slot = cast(Slot, SlotFactory(start=start, end=start + timedelta(minutes=90), capacity=max(10, guests + 2)))
    session = cast(LiveSession, LiveSessionFactory(slot=slot))
    users = []
    for index in range(guests):
        user = make_user(name=f"Guest {chr(65 + index)}", **guest_fields)
        cast(Booking, BookingFactory(user=user, slot=slot))
        users.append(user)
    return Room(session=session, guide=slot.guide.user, guests=users, staff=make_user(role="staff", name="Staff"))


def application() -> Any:
    return websocket_application()


@dataclass
class Socket:
    """One connected, joined live socket; ``inbox`` keeps what arrived while looking for something else."""

    comm: WebsocketCommunicator
    user: User
    inbox: list[dict[str, Any]] = field(default_factory=list)
    # The rest of a batch frame, not yet taken.
    unpacked: list[dict[str, Any]] = field(default_factory=list)

    async def send(self, **message: Any) -> None:
        await self.comm.send_json_to(message)

    async def _next(self, within: float) -> dict[str, Any]:
        """The next frame; a close comes as ``{"type": "websocket.close", "code": ...}``.

        Not ``receive_json_from``: its timeout cancels the application, and tests here wait
        for things that must NOT arrive.
        """
        if self.unpacked:
            return self.unpacked.pop(0)
        if self.comm.future.done():
            self.comm.future.result()  # the consumer crashed: raise its error here
        output = await asyncio.wait_for(self.comm.output_queue.get(), within)
        if output["type"] == "websocket.close":
            return dict(output)
        assert output["type"] == "websocket.send", output
        first, *self.unpacked = room_events(output["text"])
        return first

    async def receive(self, *, within: float = STEP) -> dict[str, Any]:
        if self.inbox:
            return self.inbox.pop(0)
        return await self._next(within)

    async def expect(
        self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None, *, within: float = STEP
    ) -> dict[str, Any]:
        """The first message of ``kind`` (matching ``where``); others stay in the inbox, in order."""
        for index, message in enumerate(self.inbox):
            if message.get("type") == kind and (where is None or where(message)):
                return self.inbox.pop(index)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = [m.get("type") for m in self.inbox]
                raise AssertionError(f"no {kind!r} within {within} s; have {seen}")
            try:
                message = await self._next(remaining)
            except TimeoutError:
                continue
            if message.get("type") == kind and (where is None or where(message)):
                return message
            self.inbox.append(message)

    async def nothing(self, kind: str, *, within: float = 0.6) -> None:
        """No message of ``kind`` arrives within ``within`` seconds."""
        try:
            message = await self.expect(kind, within=within)
        except AssertionError:
            return
        raise AssertionError(f"unexpected {kind}: {message}")

    def drop(self, kind: str) -> list[dict[str, Any]]:
        taken = [m for m in self.inbox if m.get("type") == kind]
        self.inbox = [m for m in self.inbox if m.get("type") != kind]
        return taken

    async def chat(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        """Send a chat message and return its ack."""
        client_id = client_id or uuid.uuid4().hex
        await self.send(type="chat.send", client_id=client_id, text=text)
        return await self.expect("chat.ack", lambda m: m["client_id"] == client_id)

    async def close(self) -> None:
        await self.comm.disconnect()


async def connect(session: LiveSession, user: User, role: Role = Role.VIEWER) -> Socket:
    """A socket past welcome and the first session.state, without room.join."""
    token = issue_join_token(user=user, session=session, role=role)
    comm = WebsocketCommunicator(application(), f"/ws/live/{session.pk}/?token={token}", headers=[ORIGIN])
    connected, _ = await comm.connect(timeout=STEP)
    assert connected
    socket = Socket(comm=comm, user=user)
    welcome = await socket.receive()
    assert welcome["type"] == "welcome", welcome
    state = await socket.receive()
    assert state["type"] == "session.state", state
    return socket


async def join(
    session: LiveSession, user: User, role: Role = Role.VIEWER, *, after_seq: int = 0
) -> tuple[Socket, dict[str, Any]]:
    """A socket that sent room.join and got its snapshot."""
    socket = await connect(session, user, role)
    await socket.send(type="room.join", after_seq=after_seq)
    snapshot = await socket.expect("room.snapshot")
    return socket, snapshot
