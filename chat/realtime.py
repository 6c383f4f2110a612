"""Room events on the bus: the envelope every process receives, and the one function that sends them.

An envelope carries one frame, already serialised (each process delivers the same text to all
its sockets without encoding it again), who may receive it, and the chat sequence number when
the event consumed one (``chat.message``, ``moderation.held``): the subscriber of each process
delivers those in sequence order. A ``kick`` envelope carries no frame: each process closes the
named person's local sockets (a ban).

Services call :func:`publish_on_commit` inside their transaction: nothing is announced that was
not stored. Code on the event loop uses the hub's ``publish`` (chat/fanout.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction

from chat import backends
from chat.protocol import dumps

if TYPE_CHECKING:
    from chat.fanout import Hub

__all__ = [
    "ALL",
    "MODERATORS",
    "USERS",
    "Envelope",
    "decode",
    "encode",
    "kick_envelope",
    "publish_now",
    "publish_on_commit",
    "set_current_hub",
]

logger = logging.getLogger(__name__)

ALL = "all"  # every socket of the session (except ``exclude``)
MODERATORS = "mods"  # the guide and staff, plus ``users``
USERS = "users"  # only ``users``


@dataclass(frozen=True)
class Envelope:
    frame: str | None
    audience: str = ALL
    users: frozenset[int] = frozenset()
    exclude: int | None = None
    seq: int | None = None
    kick: dict[str, Any] | None = None


def encode(
    frame: dict[str, Any],
    *,
    audience: str = ALL,
    users: Iterable[int] = (),
    exclude: int | None = None,
    seq: int | None = None,
) -> str:
    return json.dumps(
        {"f": dumps(frame), "a": audience, "u": sorted(set(users)), "x": exclude, "s": seq},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def kick_envelope(*, user_id: int, code: str, message: str) -> str:
    return json.dumps({"k": {"user_id": user_id, "code": code, "message": message}}, separators=(",", ":"))


def decode(payload: str) -> Envelope:
    data = json.loads(payload)
    return Envelope(
        frame=data.get("f"),
        audience=data.get("a", ALL),
        users=frozenset(data.get("u") or ()),
        exclude=data.get("x"),
        seq=data.get("s"),
        kick=data.get("k"),
    )


# The hub serving this process's sockets (embedded mode publishes through its loop).
_current_hub: Hub | None = None


def set_current_hub(hub: Hub | None) -> None:
    global _current_hub
    _current_hub = hub


def publish_now(session_id: int, payload: str) -> None:
    """Publish from synchronous code (any thread). Never raises: a lost event is logged, and
    readers catch up from the database (sequence gaps, the next snapshot)."""
    try:
        url = backends.redis_url()
        if url is not None:
            backends.publish_sync(url, session_id, payload)
            return
        hub = _current_hub
        if hub is not None:
            hub.backend.publish_threadsafe(session_id, payload)
    except Exception:
        logger.exception("live room %s: an event could not be published", session_id)


def publish_on_commit(session_id: int, payload: str) -> None:
    """Publish once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: publish_now(session_id, payload))
