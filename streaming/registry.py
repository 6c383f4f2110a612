"""This process's SFU rooms: one :class:`SfuRegistry`, created on first use from settings.

Settings (all optional; the embedded default offers every interface and uses no STUN/TURN):

* ``SFU_HOST_ADDRESSES``: local addresses offered as ICE host candidates, a list or a comma
  separated string; empty means every interface. Tests set loopback addresses (127.0.0.x).
* ``SFU_ICE_SERVERS``: STUN/TURN server URLs, a list or a comma separated string.
* ``SFU_ICE_USERNAME`` / ``SFU_ICE_CREDENTIAL``: credentials for the TURN servers, if any.

The rooms' peer connections belong to the event loop that created them (the ASGI server's): code
running in another thread (the embedded scheduler, a Celery task in the web process) goes through
:func:`close_room_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from aiortc import RTCIceServer
from django.conf import settings

from streaming.sfu import SfuConfig, SfuRegistry

__all__ = [
    "close_room_threadsafe",
    "config_from_settings",
    "get_registry",
    "reset_registry",
    "run_on_registry_loop",
]

logger = logging.getLogger(__name__)

_registry: SfuRegistry | None = None
_loop: asyncio.AbstractEventLoop | None = None
_closing: set[asyncio.Task[None]] = set()  # strong references until the close finishes


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, Sequence):
        return [str(part).strip() for part in value if str(part).strip()]
    raise TypeError(f"expected a list or a comma separated string, not {value!r}")


def config_from_settings() -> SfuConfig:
    addresses = _as_list(getattr(settings, "SFU_HOST_ADDRESSES", None))
    urls = _as_list(getattr(settings, "SFU_ICE_SERVERS", None))
    username = getattr(settings, "SFU_ICE_USERNAME", None) or None
    credential = getattr(settings, "SFU_ICE_CREDENTIAL", None) or None
    ice_servers = (RTCIceServer(urls=urls, username=username, credential=credential),) if urls else ()
    return SfuConfig(host_addresses=tuple(addresses) or None, ice_servers=ice_servers)


def get_registry() -> SfuRegistry:
    """The registry of this process; call from the event loop that serves the WebSockets."""
    global _registry, _loop
    if _registry is None:
        _registry = SfuRegistry(config_from_settings())
    with contextlib.suppress(RuntimeError):
        _loop = asyncio.get_running_loop()
    return _registry


def reset_registry(registry: SfuRegistry | None = None) -> None:
    """Replace the registry (tests: one per event loop, with a loopback-only config)."""
    global _registry, _loop
    _registry = registry
    _loop = None


def close_room_threadsafe(session_id: int, *, timeout: float = 5.0) -> bool:
    """Close the session's room from any thread, best effort; True when a room was closed."""
    registry, loop = _registry, _loop
    if registry is None or registry.get(str(session_id)) is None:
        return False
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:
        # Called on an event loop (maybe the registry's own): cannot block it, so schedule.
        if running is loop:
            task = running.create_task(registry.close_room(str(session_id)))
            _closing.add(task)
            task.add_done_callback(_closing.discard)
            return True
        return False
    if loop is None or loop.is_closed() or not loop.is_running():
        return False
    future = asyncio.run_coroutine_threadsafe(registry.close_room(str(session_id)), loop)
    try:
        future.result(timeout)
    except Exception:
        logger.exception("could not close the SFU room of live session %s", session_id)
        return False
    return True


def run_on_registry_loop(coroutine: Coroutine[Any, Any, Any], *, timeout: float = 5.0) -> bool:
    """Run ``coroutine`` on the event loop serving this process's sockets, from another thread.

    False (and the coroutine is closed unrun) when there is no such loop or it is this thread's:
    a Celery worker without sockets, or a caller that should simply await. The in-memory channel
    layer (embedded default) must be used from its own loop: its queues are not thread safe.
    """
    loop = _loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or loop is running or loop.is_closed() or not loop.is_running():
        coroutine.close()
        return False
    asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)
    return True
