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
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for_futures
from typing import Any, ParamSpec, TypeVar, cast

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.conf import settings
from django.db import connections

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
    # thread_sensitive=False: any thread of the pool; Channels' wrapper still closes stale
    # connections before and after the call, as for requests.
    return cast(
        Callable[P, Coroutine[Any, Any, R]],
        DatabaseSyncToAsync(function, thread_sensitive=False, executor=_executor(threads)),
    )


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
