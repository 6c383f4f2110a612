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

from celery import current_app
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


def run_due(last_run: dict[str, float], now: float) -> list[str]:
    """Run each beat entry whose interval has passed; returns the names that ran."""
    ran = []
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        interval = _interval_seconds(entry["schedule"])
        if now - last_run.get(name, 0.0) < interval:
            continue
        last_run[name] = now
        task = current_app.tasks[str(entry["task"])]
        try:
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
        run_due(last_run, time.monotonic())
        time.sleep(1.0)


def start_embedded_scheduler() -> bool:
    if not settings.EMBEDDED_SCHEDULER or _started.is_set():
        return False
    _started.set()
    threading.Thread(target=_loop, name="embedded-scheduler", daemon=True).start()
    logger.info("embedded scheduler started: %s", ", ".join(settings.CELERY_BEAT_SCHEDULE))
    return True
