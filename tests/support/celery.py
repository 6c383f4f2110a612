"""Celery for tests: in-process (eager) by default, or a real worker consuming from Redis.

Fixtures (registered in tests/conftest.py through ``pytest_plugins``):

- ``celery_eager``: ``.delay()`` runs the task in-process, whatever REDIS_URL says (under
  ``make test-postgres`` REDIS_URL is set, which would otherwise publish to a broker nobody reads).
- ``celery_worker_on_redis``: a real Celery worker (``celery.contrib.testing.worker.start_worker``,
  solo pool, in a thread of the test process) consuming from Redis; ``.delay()`` publishes to the
  broker. It needs committed data, so it brings ``transactional_db`` with it. It yields a
  ``RedisWorker``: ``.finished`` lists the task runs the worker completed (name, args, state,
  return value), ``.wait_for_tasks(count, name=..., state=..., timeout=...)`` blocks until that
  many matching runs finished, so a test can assert "ran and did nothing more" without sleeping. Every use gets its
  own key prefix in Redis (``global_keyprefix``), so pytest-xdist processes, and other people's
  test runs on the same Redis, never take each other's tasks. Settings changed with the
  ``settings`` fixture (e.g. by ``smtp_transport``) are seen by the worker: same process.
  Redis is required: if it is unreachable the test fails and says so.
- ``celery_test_broker_url``: which Redis to use: $CELERY_TEST_BROKER_URL, else
  redis://127.0.0.1:6379/14. Deliberately not REDIS_URL: the suite's autouse ``cache.clear()``
  is a FLUSHDB of the REDIS_URL database, and under pytest-xdist another process's FLUSHDB would
  wipe this worker's queue mid-test (the fixture refuses that combination under xdist).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kombu.pools
import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.result import _set_task_join_will_block
from celery.signals import setup_logging, task_postrun
from celery.worker import WorkController

from italycouch.celery import app

# Not the Makefile's TEST_REDIS_URL database (15), which the cache FLUSHes between tests.
DEFAULT_TEST_BROKER_URL = "redis://127.0.0.1:6379/14"


@dataclass(frozen=True)
class FinishedTask:
    name: str
    args: tuple[Any, ...]
    state: str  # SUCCESS, RETRY, FAILURE (celery.states)
    retval: Any


class RedisWorker:
    """The running worker plus a record of the task runs it finished."""

    def __init__(self) -> None:
        self.worker: WorkController | None = None
        self._finished: list[FinishedTask] = []
        self._condition = threading.Condition()

    @property
    def finished(self) -> list[FinishedTask]:
        with self._condition:
            return list(self._finished)

    def wait_for_tasks(
        self, count: int, *, name: str | None = None, state: str | None = None, timeout: float = 15.0
    ) -> list[FinishedTask]:
        """Block until ``count`` finished runs match ``name``/``state``; returns those runs."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while True:
                matching = [
                    run
                    for run in self._finished
                    if (name is None or run.name == name) and (state is None or run.state == state)
                ]
                if len(matching) >= count:
                    return matching
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} finished task run(s) (name={name}, state={state}) within "
                        f"{timeout} s; the worker finished: {self._finished}"
                    )
                self._condition.wait(remaining)

    def _on_task_postrun(
        self, sender: Any = None, args: Any = None, retval: Any = None, state: Any = None, **_: Any
    ) -> None:
        if sender is None or getattr(sender.request, "is_eager", False):
            return
        with self._condition:
            self._finished.append(
                FinishedTask(name=sender.name, args=tuple(args or ()), state=str(state), retval=retval)
            )
            self._condition.notify_all()


@pytest.fixture
def celery_test_broker_url() -> str:
    return os.environ.get("CELERY_TEST_BROKER_URL") or DEFAULT_TEST_BROKER_URL


@pytest.fixture
def celery_eager(settings: Any) -> None:
    # The Celery app reads the CELERY_* Django settings live, so the settings fixture undoes this.
    settings.CELERY_TASK_ALWAYS_EAGER = True


@pytest.fixture(autouse=True)
def _outside_any_worker() -> None:
    """Every test starts outside a Celery worker, where ``result.get()`` is refused.

    ``celery_worker_on_redis`` gives the process-wide flag back when its worker stops, yet once,
    under xdist, the embedded scheduler's tests found it set (every eager ``.get()`` refused, the
    cause not pinned down): a test must not depend on what an earlier one in its process left.
    """
    _set_task_join_will_block(False)


@pytest.fixture
def celery_worker_on_redis(settings: Any, transactional_db: None, celery_test_broker_url: str) -> Iterator[RedisWorker]:
    worker_name = os.environ.get("PYTEST_XDIST_WORKER", "main")
    if worker_name != "main" and _same_redis_database(celery_test_broker_url, settings.REDIS_URL):
        pytest.fail(
            f"The Celery test broker ({celery_test_broker_url}) is the cache's Redis database (REDIS_URL): "
            "other xdist processes FLUSH it between tests. Set CELERY_TEST_BROKER_URL to another database.",
            pytrace=False,
        )
    client = _redis_or_fail(celery_test_broker_url)
    prefix = f"italycouch-test:{worker_name}:{uuid.uuid4().hex}:"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = celery_test_broker_url
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": prefix}
    # Leave pytest's log capture alone (the worker would otherwise reconfigure the root logger).
    settings.CELERY_WORKER_HIJACK_ROOT_LOGGER = False
    setup_logging.connect(_leave_logging_alone)
    recorder = RedisWorker()
    task_postrun.connect(recorder._on_task_postrun, weak=False)
    _reset_broker_connections()
    try:
        with start_worker(
            app,
            pool="solo",
            concurrency=1,
            perform_ping_check=False,
            loglevel="WARNING",
            shutdown_timeout=30,
        ) as worker:
            recorder.worker = worker
            yield recorder
    finally:
        # A worker marks the whole process as "inside a worker", where result.get() is refused;
        # later tests in this process call eager tasks' .get(), so give the flag back.
        _set_task_join_will_block(False)
        task_postrun.disconnect(recorder._on_task_postrun)
        setup_logging.disconnect(_leave_logging_alone)
        # The producer pool still points at the prefixed broker; the next user builds a new one.
        _reset_broker_connections()
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


def _redis_or_fail(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis at {url} is unreachable ({error}). The test suite needs a running redis-server "
            "(set CELERY_TEST_BROKER_URL to point elsewhere).",
            pytrace=False,
        )
    return client


def _same_redis_database(first: str, second: str) -> bool:
    if not first or not second:
        return False

    def where(url: str) -> tuple[Any, ...]:
        parsed = redis.connection.parse_url(url)
        return (parsed.get("host"), parsed.get("port", 6379), int(parsed.get("db") or 0), parsed.get("path"))

    return where(first) == where(second)


def _reset_broker_connections() -> None:
    # Celery caches its broker connection pool on first use; a changed broker URL or key prefix
    # takes effect only for pools created afterwards.
    # kombu's process-wide pools, not only Celery's handle on them: a closed pool left registered
    # would make later eager-mode tests' e-mails stay queued ("Acquire on closed pool").
    kombu.pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


def _leave_logging_alone(**kwargs: Any) -> None:
    """A setup_logging receiver: its presence alone tells Celery not to configure logging."""
