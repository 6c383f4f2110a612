"""The live room on one signalling socket: what ``streaming.consumers.LiveConsumer`` hands over.

The consumer creates a :class:`RoomSession` once the person is let in, offers it every text frame
first (``receive`` returns False for frames that are not the room's: signalling parses those) and
closes it on disconnect. Here the frame is parsed (chat/protocol.py), the service is called (it
checks permission and limits and stores), and the acting socket gets its direct answer (ack,
held, error); room-wide events travel through the hub (chat/fanout.py).

A refusal is a non-fatal ``error`` with ``ref`` (the client_id it refers to, if any); nothing a
client sends can end the consumer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from accounts.models import User
from chat import protocol, realtime, rules, selectors, services
from chat.fanout import Hub, LocalSocket, get_hub
from chat.protocol import dumps, event
from chat.rules import RuleViolation
from chat.selectors import RoomAccess
from italycouch.live_db import live_db
from italycouch.server_send import SERVER_SEND, WIRE, Wire
from streaming.selectors import LiveAccessDenied

__all__ = ["RoomHost", "RoomSession"]

logger = logging.getLogger(__name__)

# Frames bigger than this are the signalling's to refuse (its limit: 64 KiB); room frames are
# parsed only below it, then held to rules.ROOM_FRAME_MAX_BYTES.
_PARSE_LIMIT_CHARS = 64 * 1024


class RoomHost(Protocol):
    """What the room needs of the consumer that carries it (streaming.consumers.LiveConsumer)."""

    session_id: int
    viewer_id: str
    scope: dict[str, Any]
    base_send: Callable[[dict[str, Any]], Awaitable[None]]

    async def send(
        self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False
    ) -> None: ...


class RoomSession:
    """One socket's part in a live room."""

    def __init__(self, host: RoomHost, *, user: User, kick: Callable[[LiveAccessDenied], Awaitable[None]]) -> None:
        self.host = host
        self.user = user
        self.session_id = host.session_id
        self.socket_id = host.viewer_id
        self._kick_host = kick
        # Room frames go out through the server's own send (italycouch/server_send.py).
        self._server_send = host.scope.get(SERVER_SEND) or host.base_send
        # Under uvicorn, the fan-out's frames (built once for the room) go straight to the socket.
        self._wire: Wire | None = host.scope.get(WIRE)
        self.access: RoomAccess | None = None
        self.person: dict[str, Any] = {}
        self.hub: Hub | None = None
        self.socket: LocalSocket | None = None
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Record the connection (presence) and join this process's room. Never raises: a room
        that cannot open leaves the signalling working, and room frames get ``unavailable``."""
        try:
            self.access, self.person = await live_db(self._connect)()
            self.hub = get_hub()
            socket = LocalSocket(
                session_id=self.session_id,
                user_id=self.user.pk,
                moderator=self.access.moderates,
                socket_id=self.socket_id,
                send=self._send_text,
                snapshot=self._snapshot,
                kick=self._kicked,
                wire=self._write_wire if self._wire is not None else None,
            )
            await self.hub.attach(socket)
            self.socket = socket
            await self.hub.backend.mark_dirty(self.session_id)
        except RuleViolation as refused:  # access changed since the consumer let them in
            logger.info("live room %s: socket %s not in the room: %s", self.session_id, self.socket_id, refused.code)
        except Exception:
            logger.exception("live room %s: socket %s could not join the room", self.session_id, self.socket_id)

    def _connect(self) -> tuple[RoomAccess, dict[str, Any]]:
        access = services.connect(user=self.user, session_id=self.session_id, socket_id=self.socket_id)
        return access, access.person()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.hub is not None and self.socket is not None:
                await self.hub.detach(self.socket)
            self.socket = None
            if self.access is not None:
                await live_db(services.disconnect)(socket_id=self.socket_id)
                if self.hub is not None:
                    await self.hub.backend.mark_dirty(self.session_id)
        except Exception:
            logger.exception("live room %s: socket %s did not leave cleanly", self.session_id, self.socket_id)

    async def _kicked(self, code: str, message: str) -> None:
        """A ban heard on the bus (any process): the consumer's own kick path, then leave."""
        await self._kick_host(LiveAccessDenied(code, message))
        await self.close()

    # -- frames ------------------------------------------------------------------------------------

    def _host_closing(self) -> bool:
        """Kicked or refused: the socket is closing, and nothing more is sent on it."""
        return bool(getattr(self.host, "_closing", False))

    async def _send_text(self, text: str) -> None:
        if not self._host_closing():
            await self._server_send({"type": "websocket.send", "text": text})

    def _write_wire(self, framed: bytes) -> bool:
        """A room frame's bytes to the socket now (True), or False: use ``_send_text``."""
        if self._host_closing():
            return True  # nothing to send: as good as written
        return self._wire is not None and self._wire.write(framed)

    async def _send(self, frame: dict[str, Any]) -> None:
        await self._send_text(dumps(frame))

    async def _snapshot(self, after_seq: int) -> tuple[str, int]:
        frame = await live_db(selectors.room_snapshot)(user=self.user, session_id=self.session_id, after_seq=after_seq)
        if self.hub is not None:
            frame["reactions"] = await self.hub.backend.reaction_totals(self.session_id)
        return dumps(frame), int(frame["last_seq"])

    async def receive(self, text_data: str | None) -> bool:
        """Handle the frame if it is a room message (True); False leaves it to the signalling."""
        if text_data is None or len(text_data) > _PARSE_LIMIT_CHARS:
            return False
        try:
            data = json.loads(text_data)
        except ValueError:
            return False
        if not isinstance(data, dict) or data.get("type") not in protocol.ROOM_TYPES:
            return False
        ref = protocol.ref_of(data)
        try:
            if (
                len(text_data) > rules.ROOM_FRAME_MAX_BYTES // 4
                and len(text_data.encode()) > rules.ROOM_FRAME_MAX_BYTES
            ):
                raise RuleViolation("too_large", f"Room messages must be at most {rules.ROOM_FRAME_MAX_BYTES} bytes.")
            if self.access is None or self.hub is None or self.socket is None:
                raise RuleViolation("unavailable", "The chat is not available right now. Try again shortly.")
            message = protocol.parse_room_message(data)
            if data["type"] in protocol.MODERATOR_TYPES and not self.access.moderates:
                raise RuleViolation("not_allowed", "Only the guide and staff can do this.")
            await self._handle(message)
        except RuleViolation as refused:
            await self._send(
                protocol.error(code=refused.code, message=refused.message, ref=ref, retry_after=refused.retry_after)
            )
        except Exception:
            logger.exception("live room %s: %s failed", self.session_id, data.get("type"))
            await self._send(protocol.error(code="server_error", message="Something went wrong. Try again.", ref=ref))
        return True

    async def _handle(self, message: protocol.RoomMessage) -> None:
        assert self.access is not None
        assert self.hub is not None
        assert self.socket is not None
        user, session_id = self.user, self.session_id
        if isinstance(message, protocol.Join):
            await self.socket.join(message.after_seq)
        elif isinstance(message, protocol.ChatSend):
            await self._chat(message)
        elif isinstance(message, protocol.Typing):
            await self._typing()
        elif isinstance(message, protocol.ReactionSend):
            await self._react(message.emoji)
        elif isinstance(message, protocol.QuestionAsk):
            outcome = await live_db(services.ask_question)(
                user=user,
                session_id=session_id,
                client_id=message.client_id,
                text=message.text,
                private=message.private,
            )
            if not outcome.created:  # a retry: the first answer may have been lost with the socket
                await self._send(outcome.frame)
        elif isinstance(message, protocol.QuestionUpvote):
            frame = await live_db(services.upvote_question)(user=user, session_id=session_id, question_id=message.id)
            await self._send(frame)
        elif isinstance(message, protocol.QuestionAnswer):
            await live_db(services.answer_question)(by=user, session_id=session_id, question_id=message.id)
        elif isinstance(message, protocol.QuestionPin):
            await live_db(services.pin_question)(by=user, session_id=session_id, question_id=message.id)
        elif isinstance(message, protocol.ModerationDelete):
            await live_db(services.delete_message)(by=user, session_id=session_id, message_id=message.id)
        elif isinstance(message, protocol.ModerationTimeout):
            await live_db(services.timeout_user)(
                by=user, session_id=session_id, user_id=message.user_id, seconds=message.seconds
            )
        elif isinstance(message, protocol.ModerationBan):
            await live_db(services.ban_user)(
                by=user, session_id=session_id, user_id=message.user_id, reason=message.reason
            )
            await self.hub.backend.mark_dirty(session_id)
        elif isinstance(message, protocol.ModerationSlowMode):
            await live_db(services.set_slow_mode)(by=user, session_id=session_id, seconds=message.seconds)
        elif isinstance(message, protocol.ModerationResolve):
            await live_db(services.resolve_held)(
                by=user, session_id=session_id, message_id=message.id, approve=message.approve
            )

    async def _chat(self, message: protocol.ChatSend) -> None:
        assert self.hub is not None
        outcome = await live_db(services.send_message)(
            user=self.user, session_id=self.session_id, client_id=message.client_id, text=message.text
        )
        stored = outcome.message
        if stored.status == stored.Status.REJECTED:
            raise RuleViolation("not_allowed", "This message was not approved.")
        if stored.status == stored.Status.HELD:
            await self._send(event("chat.held", client_id=stored.client_id))
        else:
            await self._send(event("chat.ack", client_id=stored.client_id, id=stored.pk, seq=stored.seq))
        # The message count in the participant list comes with the room's next full refresh
        # (every few seconds), not a list per message: at 40 messages/s that list was the
        # room's heaviest database read.

    async def _typing(self) -> None:
        assert self.hub is not None
        backend = self.hub.backend
        interval_ms = int(rules.TYPING_INTERVAL.total_seconds() * 1000)
        # Best effort, no error: one indicator per person per 3 s, a few per second per room.
        if not await backend.acquire(f"{self.session_id}:typing:{self.user.pk}", interval_ms):
            return
        if await backend.hit(f"{self.session_id}:typing", rules.TYPING_SESSION_RATE):
            return
        frame = event("chat.typing", user=self.person)
        await self.hub.publish(self.session_id, realtime.encode(frame, exclude=self.user.pk))

    async def _react(self, emoji: str) -> None:
        """Counted in the room store (Redis); the room's ticker sends the batches (chat/fanout.py)."""
        assert self.hub is not None
        wait = await self.hub.backend.add_reaction(self.session_id, self.user.pk, emoji, rules.REACTION_RATE)
        if wait:
            raise RuleViolation("rate_limited", "Too many reactions. Wait a moment.", retry_after=wait)
