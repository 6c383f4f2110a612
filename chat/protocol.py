"""The live room's wire protocol as plain data: parse what a client sends, build what the server sends.

No I/O and no Django. The room rides the live signalling socket (streaming/consumers.py); a frame
whose ``type`` is in ``ROOM_TYPES`` is the room's, everything else stays with streaming/signalling.py.
docs/events.md ("Live room") lists every message with its fields, audience and limits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chat import rules
from chat.rules import RuleViolation

__all__ = [
    "MODERATOR_TYPES",
    "ROOM_TYPES",
    "ChatSend",
    "Join",
    "ModerationBan",
    "ModerationDelete",
    "ModerationResolve",
    "ModerationSlowMode",
    "ModerationTimeout",
    "QuestionAnswer",
    "QuestionAsk",
    "QuestionPin",
    "QuestionUpvote",
    "ReactionSend",
    "RoomMessage",
    "Typing",
    "dumps",
    "error",
    "event",
    "frame_of",
    "iso",
    "parse_room_message",
    "ref_of",
]


@dataclass(frozen=True)
class Join:
    after_seq: int


@dataclass(frozen=True)
class ChatSend:
    client_id: str
    text: str


@dataclass(frozen=True)
class Typing:
    pass


@dataclass(frozen=True)
class ReactionSend:
    emoji: str


@dataclass(frozen=True)
class QuestionAsk:
    client_id: str
    text: str
    private: bool


@dataclass(frozen=True)
class QuestionUpvote:
    id: int


@dataclass(frozen=True)
class QuestionAnswer:
    id: int


@dataclass(frozen=True)
class QuestionPin:
    id: int | None


@dataclass(frozen=True)
class ModerationDelete:
    id: int


@dataclass(frozen=True)
class ModerationTimeout:
    user_id: int
    seconds: int


@dataclass(frozen=True)
class ModerationBan:
    user_id: int
    reason: str


@dataclass(frozen=True)
class ModerationSlowMode:
    seconds: int


@dataclass(frozen=True)
class ModerationResolve:
    id: int
    approve: bool


RoomMessage = (
    Join
    | ChatSend
    | Typing
    | ReactionSend
    | QuestionAsk
    | QuestionUpvote
    | QuestionAnswer
    | QuestionPin
    | ModerationDelete
    | ModerationTimeout
    | ModerationBan
    | ModerationSlowMode
    | ModerationResolve
)

MODERATOR_TYPES = frozenset(
    {
        "question.answer",
        "question.pin",
        "moderation.delete",
        "moderation.timeout",
        "moderation.ban",
        "moderation.slow_mode",
        "moderation.approve",
        "moderation.reject",
    }
)
ROOM_TYPES = frozenset(
    {"room.join", "chat.send", "chat.typing", "reaction.send", "question.ask", "question.upvote"} | MODERATOR_TYPES
)


def _bad(field: str, requirement: str) -> RuleViolation:
    return RuleViolation("bad_field", f"{field} must be {requirement}.")


def _int(data: dict[str, Any], field: str, *, low: int, high: int | None = None, nullable: bool = False) -> int | None:
    value = data.get(field)
    if value is None and nullable and field in data:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _bad(field, f"a whole number {bound}" + (" or null" if nullable else ""))
    return value


def _required_int(data: dict[str, Any], field: str, *, low: int = 1, high: int | None = None) -> int:
    value = _int(data, field, low=low, high=high)
    assert value is not None
    return value


def _client_id(data: dict[str, Any]) -> str:
    value = data.get("client_id")
    if not isinstance(value, str) or not value or len(value) > rules.CLIENT_ID_MAX_CHARS or not value.isprintable():
        raise _bad("client_id", f"a printable string of 1 to {rules.CLIENT_ID_MAX_CHARS} characters")
    return value


def _text(data: dict[str, Any]) -> str:
    value = data.get("text")
    if not isinstance(value, str):
        raise _bad("text", "a string")
    return value


def parse_room_message(data: dict[str, Any]) -> RoomMessage:
    """The room message in a decoded JSON object whose ``type`` is in ROOM_TYPES; else RuleViolation.

    Field errors are ``bad_field``; unknown extra fields are ignored. Text length and emptiness
    are checked by the services (``too_long``/``empty``), after cleaning.
    """
    kind = data["type"]
    if kind == "room.join":
        return Join(after_seq=_required_int(data, "after_seq", low=0))
    if kind == "chat.send":
        return ChatSend(client_id=_client_id(data), text=_text(data))
    if kind == "chat.typing":
        return Typing()
    if kind == "reaction.send":
        emoji = data.get("emoji")
        if emoji not in rules.REACTION_EMOJI:
            raise _bad("emoji", "one of " + " ".join(rules.REACTION_EMOJI))
        return ReactionSend(emoji=str(emoji))
    if kind == "question.ask":
        client_id, text = _client_id(data), _text(data)
        private = data.get("private", False)
        if not isinstance(private, bool):
            raise _bad("private", "true or false")
        return QuestionAsk(client_id=client_id, text=text, private=private)
    if kind == "question.upvote":
        return QuestionUpvote(id=_required_int(data, "id"))
    if kind == "question.answer":
        return QuestionAnswer(id=_required_int(data, "id"))
    if kind == "question.pin":
        return QuestionPin(id=_int(data, "id", low=1, nullable=True))
    if kind == "moderation.delete":
        return ModerationDelete(id=_required_int(data, "id"))
    if kind == "moderation.timeout":
        return ModerationTimeout(
            user_id=_required_int(data, "user_id"),
            seconds=_required_int(data, "seconds", low=rules.TIMEOUT_MIN_SECONDS, high=rules.TIMEOUT_MAX_SECONDS),
        )
    if kind == "moderation.ban":
        reason = data.get("reason", "")
        if not isinstance(reason, str) or len(reason) > rules.BAN_REASON_MAX_CHARS:
            raise _bad("reason", f"a string of at most {rules.BAN_REASON_MAX_CHARS} characters")
        return ModerationBan(user_id=_required_int(data, "user_id"), reason=reason.strip())
    if kind == "moderation.slow_mode":
        return ModerationSlowMode(seconds=_required_int(data, "seconds", low=0, high=rules.SLOW_MODE_MAX_SECONDS))
    if kind in ("moderation.approve", "moderation.reject"):
        return ModerationResolve(id=_required_int(data, "id"), approve=kind == "moderation.approve")
    raise RuleViolation("unknown_type", f"Unknown message type {str(kind)[:40]!r}.")


def ref_of(data: dict[str, Any]) -> str | None:
    """The client_id a refusal refers to (so the client can match it to what it sent), if any."""
    value = data.get("client_id")
    return value if isinstance(value, str) and len(value) <= rules.CLIENT_ID_MAX_CHARS else None


# -- server -> client -----------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": kind, **fields}


def error(*, code: str, message: str, ref: str | None = None, retry_after: int | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message, "fatal": False, "ref": ref}
    if retry_after is not None:
        frame["retry_after"] = retry_after
    return frame


def dumps(frame: dict[str, Any]) -> str:
    """One frame as sent: compact JSON, non-ASCII kept as is (emoji stay 4 bytes, not 12)."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def frame_of(frames: list[str]) -> str:
    """Room events written as one WebSocket frame: the event itself when there is one, else a
    JSON array of them in order (docs/events.md, "Batches"). ``frames`` are already encoded."""
    if len(frames) == 1:
        return frames[0]
    return "[" + ",".join(frames) + "]"
