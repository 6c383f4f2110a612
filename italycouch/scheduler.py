"""The embedded default's stand-in for Celery beat: a timer thread in the web process.

It runs the very tasks listed in CELERY_BEAT_SCHEDULE (same code, same order), synchronously, at
their intervals. It starts only when settings.EMBEDDED_SCHEDULER is on (no broker configured and
not under test), from the ASGI application, so management commands never start it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from celery import Task, current_app
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)
_started = threading.Event()


def _interval_seconds(schedule: object) -> float:
    if isinstance(schedule, timedelta):
        return schedule.total_seconds()
    if isinstance(schedule, int | float):
        return float(schedule)
    raise ValueError(f"the embedded scheduler only runs fixed intervals, not {schedule!r}")


def _registered_task(name: str) -> Task:  # type: ignore[type-arg]
    if name not in current_app.tasks:
        # autodiscover_tasks() is lazy: only a worker (or beat) imports the apps' tasks modules.
        # Nothing in the web process imports bookings.tasks, so without this the beat entries are
        # not registered here and no reminder would ever be sent in the embedded default.
        # (force=True imports them now; import_default_modules() would also re-run django.setup().)
        current_app.autodiscover_tasks(force=True)
    return current_app.tasks[name]


def run_due(last_run: dict[str, float], now: float) -> list[str]:
    """Run each beat entry whose interval has passed (every entry on the first call); returns the names that ran."""
    ran = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        interval = _interval_seconds(entry["schedule"])
        # An entry that never ran is due now. (Counting from 0.0 would hold the hourly entries back
        # for an hour after the machine booted: ``now`` is time.monotonic(), seconds since boot.)
        if name in last_run and now - last_run[name] < interval:
            continue
        last_run[name] = now
        try:
            # Looked up inside the try: a misspelt task name must not end the timer thread.
            task = _registered_task(str(entry["task"]))
            task.apply(args=tuple(entry.get("args", ()))).get(propagate=True)  # type: ignore[arg-type]
            ran.append(name)
        except Exception:
            logger.exception("embedded scheduler: %s failed; it will run again next interval", name)
        finally:
            close_old_connections()
    return ran


def _loop() -> None:
    last_run: dict[str, float] = {}
    while True:
        try:
            run_due(last_run, time.monotonic())
        except Exception:
            # This thread is the only thing sending reminders in the embedded default: it logs and
            # goes on rather than dying silently.
            logger.exception("embedded scheduler: a run failed; trying again in a second")
        time.sleep(1.0)


def start_embedded_scheduler() -> bool:
    if not settings.EMBEDDED_SCHEDULER or _started.is_set():
        return False
    # Fail fast, at start-up, on an entry this timer cannot run (e.g. a crontab schedule).
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        _interval_seconds(entry["schedule"])
    _started.set()
    threading.Thread(target=_loop, name="embedded-scheduler", daemon=True).start()
    logger.info("embedded scheduler started: %s", ", ".join(settings.CELERY_BEAT_SCHEDULE))
    return True
