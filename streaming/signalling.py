"""The live signalling protocol as plain data: parse what a client sends, build what the server sends.

No I/O and no Django: the consumer (streaming/consumers.py) is the only caller. docs/events.md
lists every message with its fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streaming.rules import Countdown, Role

__all__ = [
    "MAX_MESSAGE_BYTES",
    "MAX_SDP_CHARS",
    "ClientMessage",
    "End",
    "Keyframe",
    "Ping",
    "Publish",
    "SignallingError",
    "Subscribe",
    "SubscribeAnswer",
    "error",
    "kicked",
    "parse_client_message",
    "pong",
    "publish_answer",
    "publisher_changed",
    "rendition",
    "session_state",
    "subscribe_offer",
    "welcome",
]

MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_CHARS = 60 * 1024


class SignallingError(Exception):
    """A message the server refuses; the connection stays usable (a non-fatal ``error`` event).

    Codes: too_large, binary, bad_json, not_object, unknown_type, not_allowed, bad_field.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Publish:
    sdp: str


@dataclass(frozen=True)
class Subscribe:
    pass


@dataclass(frozen=True)
class SubscribeAnswer:
    sdp: str


@dataclass(frozen=True)
class End:
    pass


@dataclass(frozen=True)
class Ping:
    client_time: int | float | None


@dataclass(frozen=True)
class Keyframe:
    pass


ClientMessage = Publish | Subscribe | SubscribeAnswer | End | Ping | Keyframe

# Which role may send which type; a type missing from both is unknown.
_ALLOWED: dict[str, frozenset[Role]] = {
    "publish": frozenset({Role.PUBLISHER}),
    "end": frozenset({Role.PUBLISHER}),
    "subscribe": frozenset({Role.VIEWER}),
    "subscribe.answer": frozenset({Role.VIEWER}),
    "keyframe": frozenset({Role.VIEWER}),
    "ping": frozenset({Role.PUBLISHER, Role.VIEWER}),
}


def _sdp(data: dict[str, Any]) -> str:
    sdp = data.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise SignallingError("bad_field", "sdp must be a non-empty string.")
    if len(sdp) > MAX_SDP_CHARS:
        raise SignallingError("bad_field", f"sdp must be at most {MAX_SDP_CHARS} characters.")
    return sdp


def parse_client_message(text: str | None, binary: bytes | None, *, role: Role) -> ClientMessage:
    """The message a client with ``role`` sent in one WebSocket frame; else SignallingError."""
    if text is None:
        size = len(binary or b"")
        if size > MAX_MESSAGE_BYTES:
            raise SignallingError("too_large", f"Messages must be at most {MAX_MESSAGE_BYTES} bytes.")
        raise SignallingError("binary", "Messages are JSON text frames.")
    # Characters are at most 4 bytes: only count bytes when the text might be over the limit.
    if len(text) > MAX_MESSAGE_BYTES // 4 and len(text.encode("utf-8")) > MAX_MESSAGE_BYTES:
        raise SignallingError("too_large", f"Messages must be at most {MAX_MESSAGE_BYTES} bytes.")
    try:
        data = json.loads(text)
    except ValueError:
        raise SignallingError("bad_json", "The message is not valid JSON.") from None
    if not isinstance(data, dict):
        raise SignallingError("not_object", "A message is a JSON object with a type.")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _ALLOWED:
        raise SignallingError("unknown_type", f"Unknown message type {str(kind)[:40]!r}.")
    if role not in _ALLOWED[kind]:
        raise SignallingError("not_allowed", f"A {role} may not send {kind!r}.")
    if kind == "publish":
        return Publish(sdp=_sdp(data))
    if kind == "subscribe.answer":
        return SubscribeAnswer(sdp=_sdp(data))
    if kind == "subscribe":
        return Subscribe()
    if kind == "end":
        return End()
    if kind == "keyframe":
        return Keyframe()
    client_time = data.get("client_time")
    if isinstance(client_time, bool) or not isinstance(client_time, int | float | None):
        raise SignallingError("bad_field", "client_time must be a number (ms since the epoch).")
    return Ping(client_time=client_time)


# -- server -> client ---------------------------------------------------------------------------


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def welcome(
    *,
    role: Role,
    session_id: int,
    status: str,
    epoch: int,
    tour_title: str,
    slot_start: datetime,
    slot_end: datetime,
    grace_seconds: int,
    now: datetime,
) -> dict[str, Any]:
    return {
        "type": "welcome",
        "role": str(role),
        "session": {
            "id": session_id,
            "status": status,
            "epoch": epoch,
            "tour_title": tour_title,
            "slot_start": _iso(slot_start),
            "slot_end": _iso(slot_end),
            "grace_seconds": grace_seconds,
        },
        "server_time": _ms(now),
    }


def session_state(*, status: str, epoch: int, viewers: int, countdown: Countdown) -> dict[str, Any]:
    return {
        "type": "session.state",
        "status": status,
        "epoch": epoch,
        "viewers": viewers,
        "countdown": {
            "remaining_seconds": countdown.remaining_seconds,
            "warning": countdown.warning,
            "phase": str(countdown.phase),
        },
    }


def publish_answer(*, sdp: str, epoch: int) -> dict[str, Any]:
    return {"type": "publish.answer", "sdp": sdp, "epoch": epoch}


def subscribe_offer(*, sdp: str, epoch: int) -> dict[str, Any]:
    return {"type": "subscribe.offer", "sdp": sdp, "epoch": epoch}


def publisher_changed(*, epoch: int) -> dict[str, Any]:
    return {"type": "publisher.changed", "epoch": epoch}


def rendition(*, rendition: str) -> dict[str, Any]:
    """The viewer's video switched: ``"low"`` (the session's low rendition, ADR 0010) or ``"high"``."""
    return {"type": "rendition", "rendition": rendition}


def pong(*, client_time: int | float | None, now: datetime) -> dict[str, Any]:
    return {"type": "pong", "client_time": client_time, "server_time": _ms(now)}


def kicked(*, code: str, message: str) -> dict[str, Any]:
    return {"type": "kicked", "code": code, "message": message}


def error(*, code: str, message: str, fatal: bool = False) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "fatal": fatal}
