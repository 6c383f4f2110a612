"""The live signalling consumer: WebSocket ``/ws/live/<session_id>/?token=...`` (see docs/events.md).

A thin caller: the join token (streaming.tokens) says who and in which role, the access check
(streaming.selectors) says whether they may be here now, services change state, the SFU room
(streaming.registry) does the media. Control events for a session (publisher changed, ended) go
through a small per-session channel-layer group; chat and reactions do not ride on it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from accounts.models import User
from chat.consumer_room import RoomSession
from italycouch.live_db import live_db
from streaming import recordings, selectors, services, signalling
from streaming.models import LiveSession
from streaming.registry import get_registry
from streaming.rules import Countdown, Role
from streaming.selectors import LiveAccessDenied, LiveError
from streaming.sfu import SfuRoom
from streaming.tokens import InvalidJoinToken, verify_join_token

__all__ = ["FATAL_CLOSE_CODE", "LiveConsumer", "control_group"]

logger = logging.getLogger(__name__)

# The client must not reconnect after this close code (contract: fatal).
FATAL_CLOSE_CODE = 4403
# Why a person inside was removed, from the access check's refusal code.
_KICK_CODES = {"banned": "banned", "not_booked": "booking_cancelled"}
# Sends started from SFU callbacks (rendition switches), kept until done.
_callback_sends: set[asyncio.Task[None]] = set()


def control_group(session_id: int) -> str:
    return f"live.control.{session_id}"


@dataclass(frozen=True)
class _Snapshot:
    """What session.state needs from the database, read in one go."""

    status: str
    epoch: int
    countdown: Countdown


def _snapshot(session_id: int) -> _Snapshot | None:
    session = LiveSession.objects.select_related("slot").filter(pk=session_id).first()
    if session is None:
        return None
    return _Snapshot(status=session.status, epoch=session.publisher_epoch, countdown=selectors.countdown_for(session))


def _enter(token: str, session_id: int) -> tuple[User, LiveSession, Role]:
    """Who this connection is and the session they may enter; InvalidJoinToken or LiveAccessDenied."""
    claims = verify_join_token(token, session_id=session_id)
    user = User.objects.filter(pk=claims.user_id, is_active=True).first()
    if user is None:
        raise InvalidJoinToken("bad_signature")
    session = selectors.access_live_session(user=user, session_id=session_id, role=claims.role)
    # For the welcome message, read here rather than lazily from the event loop.
    _ = session.slot.tour.title
    return user, session, claims.role


def _state_text(session_id: int, snapshot: _Snapshot) -> str:
    """The session.state frame, with the viewer count of this process's SFU room."""
    room = get_registry().get(str(session_id))
    viewers = room.stats().viewer_count if room is not None else 0
    return _encode(
        signalling.session_state(
            status=snapshot.status, epoch=snapshot.epoch, viewers=viewers, countdown=snapshot.countdown
        )
    )


def _encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


@dataclass(frozen=True)
class _Beat:
    """One periodic re-check of a session's sockets in this process: who must leave, and the state."""

    refusals: dict[tuple[int, Role], LiveAccessDenied]
    snapshot: _Snapshot | None


def _beat(session_id: int, people: list[tuple[User, Role]]) -> _Beat:
    refusals = selectors.refusals_for_many(session_id=session_id, people=people)
    # Someone already inside is never "too early" (a clock step back must not kick them).
    refusals = {key: refusal for key, refusal in refusals.items() if refusal.code != "too_early"}
    viewers = [user.pk for user, role in people if role == Role.VIEWER and (user.pk, role) not in refusals]
    services.record_presences(session_id=session_id, user_ids=viewers)
    return _Beat(refusals=refusals, snapshot=_snapshot(session_id))


class _SessionWatch:
    """The periodic duties of every socket of one session in this process, done together.

    Every ``LiveConsumer.recheck_seconds``: one access check for all of them (a cancelled
    booking, a ban or the end of the session gives ``kicked``), one presence heartbeat for the
    viewers, one ``session.state`` read sent to all. Per socket, a thousand viewers made this
    the room's busiest database work (bench/chat.py); per session it is a handful of queries.
    """

    def __init__(self, session_id: int) -> None:
        self.session_id = session_id
        self.consumers: set[LiveConsumer] = set()
        self.task: asyncio.Task[None] | None = None
        self.last_state: str | None = None

    async def run(self) -> None:
        while self.consumers:
            await asyncio.sleep(LiveConsumer.recheck_seconds)
            present = [consumer for consumer in self.consumers if consumer.user is not None and not consumer._closing]
            if not present:
                continue
            people = list(
                {
                    (consumer.user.pk, consumer.role): (consumer.user, consumer.role)
                    for consumer in present
                    if consumer.user
                }.values()
            )
            try:
                beat = await live_db(_beat)(self.session_id, people)
            except Exception:
                # A database hiccup must not end the re-checks for good.
                logger.exception("live session %s: periodic re-check failed", self.session_id)
                continue
            # session.state, encoded once, and only when it changed since the last beat (a socket
            # that joined since got it when it joined).
            state = _state_text(self.session_id, beat.snapshot) if beat.snapshot is not None else None
            if state == self.last_state:
                state = None
            elif state is not None:
                self.last_state = state
            for consumer in present:
                assert consumer.user is not None
                refusal = beat.refusals.get((consumer.user.pk, consumer.role))
                try:
                    if refusal is not None:
                        await consumer._kick(refusal)
                    elif state is not None and not consumer._closing:
                        await consumer.send(text_data=state)
                except Exception:
                    logger.exception("live session %s: periodic re-check of a socket failed", self.session_id)


_watches: dict[int, _SessionWatch] = {}


def _watch(consumer: LiveConsumer) -> None:
    watch = _watches.get(consumer.session_id)
    stale = watch is not None and (
        watch.task is None or watch.task.done() or watch.task.get_loop() is not asyncio.get_running_loop()
    )
    if watch is None or stale:
        watch = _watches[consumer.session_id] = _SessionWatch(consumer.session_id)
    watch.consumers.add(consumer)
    if watch.task is None:
        watch.task = asyncio.ensure_future(watch.run())


def _unwatch(consumer: LiveConsumer) -> None:
    watch = _watches.get(consumer.session_id)
    if watch is None:
        return
    watch.consumers.discard(consumer)
    if not watch.consumers:
        del _watches[consumer.session_id]
        if watch.task is not None:
            watch.task.cancel()


class LiveConsumer(AsyncWebsocketConsumer):
    """One person's signalling socket for one live session: the guide (publisher) or a viewer."""

    # Seconds between re-checks of access, presence and session.state (_SessionWatch); tests shorten it.
    recheck_seconds: float = 15.0

    user: User | None
    role: Role
    session_id: int
    viewer_id: str

    async def connect(self) -> None:
        self.user = None
        self.room: RoomSession | None = None  # the live room (chat/consumer_room.py)
        self._closing = False
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        if not token:
            await self._refuse("bad_token", "A join token is required.")
            return
        try:
            user, session, role = await live_db(_enter)(token, self.session_id)
        except InvalidJoinToken as invalid:
            message = "The join token has expired." if invalid.reason == "expired" else "The join token is not valid."
            await self._refuse("bad_token", message)
            return
        except LiveAccessDenied as refusal:
            await self._refuse(refusal.code, refusal.message)
            return
        scope_user = self.scope.get("user")
        if scope_user is not None and scope_user.is_authenticated and scope_user.pk != user.pk:
            # A token copied into someone else's browser: it names another person than the login.
            await self._refuse("bad_token", "The join token belongs to another account.")
            return
        self.user = user
        self.role = role
        self.viewer_id = f"u{user.pk}-{secrets.token_hex(6)}"
        await self.channel_layer.group_add(control_group(self.session_id), self.channel_name)
        slot = session.slot
        await self._send_json(
            signalling.welcome(
                role=role,
                session_id=session.pk,
                status=session.status,
                epoch=session.publisher_epoch,
                tour_title=slot.tour.title,
                slot_start=slot.start,
                slot_end=slot.end,
                grace_seconds=int(session.grace.total_seconds()),
                now=timezone.now(),
            )
        )
        if role == Role.VIEWER:
            await live_db(services.record_presences)(session_id=self.session_id, user_ids=[user.pk])
        await self._send_state()
        self.room = RoomSession(self, user=user, kick=self._kick)
        await self.room.open()
        _watch(self)

    async def disconnect(self, code: int) -> None:
        self._closing = True
        _unwatch(self)
        if self.user is None:
            return
        if self.room is not None:
            await self.room.close()
        await self.channel_layer.group_discard(control_group(self.session_id), self.channel_name)
        if self.role == Role.VIEWER:
            room = get_registry().get(str(self.session_id))
            if room is not None:
                await room.unsubscribe(self.viewer_id)
        # The guide's socket dropping is not the end of the media: the phone may reconnect the
        # WebSocket while its peer connection carries on (the SFU drops a failed one itself).

    # -- client -> server ----------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.user is None or self._closing:
            return
        # Chat, reactions, Q&A, moderation: the room's types go to the room, the rest to signalling.
        if self.room is not None and await self.room.receive(text_data):
            return
        try:
            message = signalling.parse_client_message(text_data, bytes_data, role=self.role)
        except signalling.SignallingError as bad:
            await self._send_json(signalling.error(code=bad.code, message=bad.message))
            return
        try:
            await self._handle(message)
        except LiveAccessDenied as refusal:
            await self._kick(refusal)
        except LiveError as refused:
            await self._send_json(signalling.error(code=refused.code, message=refused.message))

    async def _handle(self, message: signalling.ClientMessage) -> None:
        user = self.user
        assert user is not None
        if isinstance(message, signalling.Ping):
            await self._send_json(signalling.pong(client_time=message.client_time, now=timezone.now()))
        elif isinstance(message, signalling.Publish):
            await self._publish(user, message.sdp)
        elif isinstance(message, signalling.End):
            await live_db(services.end_session)(
                user=user, session_id=self.session_id, reason=LiveSession.EndedReason.GUIDE_ENDED
            )
            await self.channel_layer.group_send(control_group(self.session_id), {"type": "live.ended"})
            await get_registry().close_room(str(self.session_id))
        elif isinstance(message, signalling.Subscribe):
            await self._subscribe()
        elif isinstance(message, signalling.SubscribeAnswer):
            room = get_registry().get(str(self.session_id))
            try:
                if room is None:
                    raise KeyError(self.viewer_id)
                await room.accept_answer(self.viewer_id, message.sdp)
            except KeyError:
                await self._send_json(signalling.error(code="not_subscribed", message="Send subscribe first."))
            except Exception as failure:
                logger.info("viewer %s: answer refused: %s", self.viewer_id, failure)
                await self._send_json(signalling.error(code="bad_sdp", message="The answer could not be used."))
        elif isinstance(message, signalling.Keyframe):
            room = get_registry().get(str(self.session_id))
            if room is not None:
                room.request_viewer_keyframe(self.viewer_id)  # the low rendition's own, if on it

    async def _publish(self, user: User, offer_sdp: str) -> None:
        outcome = await live_db(services.go_live)(user=user, session_id=self.session_id, republish=True)
        room = self._room()
        try:
            answer = await room.publish(offer_sdp)
        except Exception as failure:
            logger.info("live session %s: offer refused: %s", self.session_id, failure)
            await self._send_json(signalling.error(code="bad_sdp", message="The offer could not be used."))
            return
        try:
            # Every live session is recorded for its attendees' replay; a recorder that cannot
            # start must never stop the broadcast itself.
            await recordings.ensure_recording(room, self.session_id)
        except Exception:
            logger.exception("live session %s: recording could not start", self.session_id)
        epoch = outcome.session.publisher_epoch
        await self._send_json(signalling.publish_answer(sdp=answer, epoch=epoch))
        await self.channel_layer.group_send(
            control_group(self.session_id), {"type": "live.publisher_changed", "epoch": epoch}
        )

    async def _subscribe(self) -> None:
        snapshot = await live_db(_snapshot)(self.session_id)
        room = self._room()
        try:
            offer = await room.subscribe(self.viewer_id, on_rendition=self._on_rendition)
        except RuntimeError:  # the room was closed under us: the session just ended
            await self._send_json(signalling.error(code="ended", message="This live tour is over."))
            return
        await self._send_json(signalling.subscribe_offer(sdp=offer, epoch=snapshot.epoch if snapshot else 0))
        await self._send_state(snapshot)

    # -- group events (channel layer) -----------------------------------------------------------

    async def live_publisher_changed(self, event: dict[str, Any]) -> None:
        if self.user is None or self._closing:
            return
        if self.role == Role.VIEWER:
            await self._send_json(signalling.publisher_changed(epoch=int(event["epoch"])))
        await self._send_state()

    async def live_ended(self, event: dict[str, Any]) -> None:
        if self.user is None or self._closing:
            return
        await self._send_state()
        await get_registry().close_room(str(self.session_id))
        await self._kick(LiveAccessDenied("ended", "This live tour is over."))

    # -- helpers --------------------------------------------------------------------------------

    def _room(self) -> SfuRoom:
        return get_registry().room(str(self.session_id))

    async def _send_state(self, snapshot: _Snapshot | None = None) -> None:
        snapshot = snapshot or await live_db(_snapshot)(self.session_id)
        if snapshot is None:
            return
        await self.send(text_data=_state_text(self.session_id, snapshot))

    async def _kick(self, refusal: LiveAccessDenied) -> None:
        if self._closing:
            return
        self._closing = True
        code = _KICK_CODES.get(refusal.code, "session_ended")
        await self._send_json(signalling.kicked(code=code, message=refusal.message))
        if self.role == Role.VIEWER:
            room = get_registry().get(str(self.session_id))
            if room is not None:
                await room.unsubscribe(self.viewer_id)
        await self.close(code=FATAL_CLOSE_CODE)

    def _on_rendition(self, rendition: str) -> None:
        # The SFU moved this viewer's video to or from the low rendition (docs/adr/0010).
        if not self._closing:
            task = asyncio.ensure_future(self._send_json(signalling.rendition(rendition=rendition)))
            _callback_sends.add(task)
            task.add_done_callback(_callback_sends.discard)

    async def _refuse(self, code: str, message: str) -> None:
        self._closing = True
        await self._send_json(signalling.error(code=code, message=message, fatal=True))
        await self.close(code=FATAL_CLOSE_CODE)

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=_encode(message))
