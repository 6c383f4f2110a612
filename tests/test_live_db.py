"""italycouch/live_db.py: the live sockets' database calls on PostgreSQL do not queue behind a slow
one (a chat message behind a thousand-row participant list); SQLite keeps its single thread."""

import asyncio
import threading
import time

import pytest
from django.db import connection

from italycouch.live_db import close_live_db, live_db


def _race() -> list[str]:
    """A slow call (0.5 s in the database) started first, then a fast one: which finished first."""
    finished: list[str] = []
    lock = threading.Lock()

    def slow() -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SELECT pg_sleep(0.5)")
            else:
                time.sleep(0.5)
        with lock:
            finished.append("slow")

    def fast() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        with lock:
            finished.append("fast")

    async def scenario() -> None:
        try:
            slow_call = asyncio.ensure_future(live_db(slow)())
            await asyncio.sleep(0.1)  # the slow call is in the database now
            await live_db(fast)()
            await slow_call
        finally:
            await close_live_db()

    asyncio.run(scenario())
    return finished


@pytest.mark.django_db(transaction=True)
def test_a_slow_database_call_does_not_hold_up_the_next_one_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the pool is for PostgreSQL; SQLite keeps one thread (next test)")
    assert _race() == ["fast", "slow"]


@pytest.mark.django_db(transaction=True)
def test_sqlite_keeps_one_thread_so_calls_run_in_order():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert _race() == ["slow", "fast"]
