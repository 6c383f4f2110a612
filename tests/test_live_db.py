"""italycouch/live_db.py: the live sockets' database calls on PostgreSQL do not queue behind a slow
one (a chat message behind a thousand-row participant list); SQLite keeps its single thread."""

import asyncio
import threading
import time

import psycopg
import pytest
from django.db import connection

from italycouch import live_db as live_db_module
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


def _needs_the_pool() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the pool is for PostgreSQL; SQLite keeps Channels' single thread and its hygiene")


@pytest.mark.django_db(transaction=True)
def test_a_busy_pool_tidies_its_connections_once_a_second_not_around_every_call(monkeypatch):
    """Before: a health check (SELECT 1) before every call, one more round trip per chat message."""
    _needs_the_pool()
    tidied: list[str] = []
    monkeypatch.setattr(live_db_module, "close_old_connections", lambda: tidied.append(threading.current_thread().name))

    def work() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return int(cursor.fetchone()[0])

    async def scenario() -> None:
        try:
            results = await asyncio.gather(*(live_db(work)() for _ in range(40)))
            assert results == [1] * 40
        finally:
            await close_live_db()

    started = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - started < live_db_module.TIDY_SECONDS  # else a second tidy is due
    assert 1 <= len(tidied) <= live_db_module._threads()
    assert len(set(tidied)) == len(tidied)  # once per thread


@pytest.mark.django_db(transaction=True)
def test_a_connection_that_broke_is_dropped_right_after_the_call_that_found_it_broken():
    _needs_the_pool()

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    def terminate(pids: set[int]) -> None:  # as a database restart would, from outside
        with psycopg.connect(dbname=connection.settings_dict["NAME"], autocommit=True) as outside:
            outside.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [sorted(pids)])

    async def scenario() -> None:
        try:
            pids = {await live_db(backend_pid)() for _ in range(3)}
            await asyncio.to_thread(terminate, pids)
            await asyncio.sleep(0.2)
            outcomes: list[int | str] = []
            for _ in range(3 * live_db_module._threads()):
                try:
                    outcomes.append(await live_db(backend_pid)())
                except Exception as error:  # the first call on each broken connection
                    outcomes.append(type(error).__name__)
            broken = [outcome for outcome in outcomes if isinstance(outcome, str)]
            working = [outcome for outcome in outcomes if isinstance(outcome, int)]
            assert len(broken) <= len(pids)  # at most the first call on each broken connection
            assert outcomes[len(pids) :] == working[-(len(outcomes) - len(pids)) :]  # then it works again
            assert not set(working) & pids  # on new connections
        finally:
            await close_live_db()

    asyncio.run(scenario())
