"""Database calls from the event loop of the live sockets: a few threads on PostgreSQL.

Channels' ``database_sync_to_async`` runs every call of the process on ONE thread. Measured with
1,000 viewers in a tour (bench/chat.py, docs/performance.md), a chat message then waited behind
the participant list, the snapshots of joining viewers and the presence writes, for seconds.
On PostgreSQL the live consumers' calls run on a small pool instead (``LIVE_DB_THREADS``, each
thread with its own persistent connection), so one slow call no longer holds up the rest.
SQLite (the embedded default: one writer at a time) keeps the single thread.

Use :func:`live_db` exactly like ``database_sync_to_async``::

    outcome = await live_db(services.send_message)(user=user, session_id=session_id, ...)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Any, ParamSpec, TypeVar, cast

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections, connections

__all__ = ["close_live_db", "close_live_db_sync", "live_db"]

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _threads() -> int:
    if connections["default"].vendor == "sqlite":
        return 1
    return max(1, int(getattr(settings, "LIVE_DB_THREADS", 4)))


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="live-db")
        return _pool


def live_db(function: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """``function`` as a coroutine function run on the live sockets' database threads."""
    threads = _threads()
    if threads == 1:
        return cast(Callable[P, Coroutine[Any, Any, R]], database_sync_to_async(function))
    # thread_sensitive=False: any thread of the pool.
    return cast(
        Callable[P, Coroutine[Any, Any, R]],
        _PooledDatabaseCall(function, thread_sensitive=False, executor=_executor(threads)),
    )


class _PooledDatabaseCall(SyncToAsync[Any, Any]):
    """A call on a pool thread, with the connection hygiene of a request, at most once a second.

    Channels' ``DatabaseSyncToAsync`` runs ``close_old_connections`` before and after every
    call; with ``CONN_HEALTH_CHECKS`` each call then began with a ``SELECT 1``: one round trip
    more for every chat message of a busy room. Here the check (and the ``CONN_MAX_AGE``
    recycling) runs when the thread's last one is a second old, and always right after a call
    that had a database error, so that a broken connection is dropped before the next call.
    """

    def thread_handler(self, loop: Any, *args: Any, **kwargs: Any) -> Any:
        _tidy_connections()
        try:
            return super().thread_handler(loop, *args, **kwargs)  # type: ignore[no-untyped-call]
        finally:
            _tidy_connections()


_tidied = threading.local()
TIDY_SECONDS = 1.0


def _tidy_connections() -> None:
    now = time.monotonic()
    errors = any(connection.errors_occurred for connection in connections.all(initialized_only=True))
    if errors or now - getattr(_tidied, "at", float("-inf")) >= TIDY_SECONDS:
        close_old_connections()
        _tidied.at = now


def close_live_db_sync(timeout: float = 30.0) -> None:
    """Let queued calls finish, close every pool thread's database connection, end the pool
    (the next call starts a new one). Tests and the live test server call this before the
    database is truncated or dropped."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is None:
        return
    workers = pool._max_workers
    # One closing task per thread: each waits at the barrier, so no thread takes two.
    barrier = threading.Barrier(workers)

    def close_connections() -> None:
        connections.close_all()
        barrier.wait(timeout)

    futures = [pool.submit(close_connections) for _ in range(workers)]
    wait_for_futures(futures, timeout=timeout)
    pool.shutdown(wait=False)


async def close_live_db() -> None:
    """:func:`close_live_db_sync` from the event loop (without blocking it)."""
    await asyncio.get_running_loop().run_in_executor(None, close_live_db_sync)
