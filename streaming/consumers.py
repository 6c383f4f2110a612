"""The live signalling consumer: WebSocket ``/ws/live/<session_id>/?token=...`` (see docs/events.md).

A thin caller: the join token (streaming.tokens) says who and in which role, the access check
(streaming.selectors) says whether they may be here now, services change state, the SFU room
(streaming.registry) does the media. Control events for a session (publisher changed, ended) go
through a small per-session channel-layer group; chat and reactions do not ride on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.utils import timezone

from accounts.models import User
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


def _recheck(user: User, session_id: int, role: Role) -> LiveAccessDenied | None:
    refusal = selectors.refusal_for(user=user, session_id=session_id, role=role)
    # Someone already inside is never "too early" (a clock step back must not kick them).
    if refusal is not None and refusal.code == "too_early":
        return None
    return refusal


class LiveConsumer(AsyncWebsocketConsumer):
    """One person's signalling socket for one live session: the guide (publisher) or a viewer."""

    # Seconds between re-checks of access (+ presence + session.state); tests shorten it.
    recheck_seconds: float = 15.0

    user: User | None
    role: Role
    session_id: int
    viewer_id: str
    _ticker: asyncio.Task[None] | None

    async def connect(self) -> None:
        self.user = None
        self._ticker = None
        self._closing = False
        self.session_id = int(self.scope["url_route"]["kwargs"]["session_id"])
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        token = (query.get("token") or [""])[0]
        if not token:
            await self._refuse("bad_token", "A join token is required.")
            return
        try:
            user, session, role = await database_sync_to_async(_enter)(token, self.session_id)
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
            await database_sync_to_async(services.record_presence)(user=user, session_id=self.session_id)
        await self._send_state()
        self._ticker = asyncio.ensure_future(self._tick())

    async def disconnect(self, code: int) -> None:
        self._closing = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.user is None:
            return
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
            await database_sync_to_async(services.end_session)(
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
                room.request_keyframe()

    async def _publish(self, user: User, offer_sdp: str) -> None:
        outcome = await database_sync_to_async(services.go_live)(user=user, session_id=self.session_id, republish=True)
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
        snapshot = await database_sync_to_async(_snapshot)(self.session_id)
        room = self._room()
        try:
            offer = await room.subscribe(self.viewer_id)
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

    async def _tick(self) -> None:
        user = self.user
        assert user is not None
        while True:
            await asyncio.sleep(self.recheck_seconds)
            try:
                refusal = await database_sync_to_async(_recheck)(user, self.session_id, self.role)
                if refusal is not None:
                    await self._kick(refusal)
                    return
                if self.role == Role.VIEWER:
                    await database_sync_to_async(services.record_presence)(user=user, session_id=self.session_id)
                await self._send_state()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database hiccup must not end the re-checks of this socket for good.
                logger.exception("live session %s: periodic re-check failed", self.session_id)

    async def _send_state(self, snapshot: _Snapshot | None = None) -> None:
        snapshot = snapshot or await database_sync_to_async(_snapshot)(self.session_id)
        if snapshot is None:
            return
        room = get_registry().get(str(self.session_id))
        viewers = room.stats().viewer_count if room is not None else 0
        await self._send_json(
            signalling.session_state(
                status=snapshot.status, epoch=snapshot.epoch, viewers=viewers, countdown=snapshot.countdown
            )
        )

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

    async def _refuse(self, code: str, message: str) -> None:
        self._closing = True
        await self._send_json(signalling.error(code=code, message=message, fatal=True))
        await self.close(code=FATAL_CLOSE_CODE)

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))
