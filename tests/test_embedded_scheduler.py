"""The embedded default's stand-in for beat runs the beat schedule at its intervals, in-process.

``run_due(last_run, now)`` is called every second by the timer thread with ``time.monotonic()``;
here ``now`` is given directly, so "not before its interval" is exact. The tests are transactional:
the tasks commit for real (after-commit delivery runs), and the scheduler closes old connections
after each task as it does in its thread.
"""

import json
import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import kombu.pools
import pytest
from celery import shared_task
from celery.schedules import crontab

from accounts.models import User
from bookings.models import Reminder, Slot, Tour
from bookings.reservations import book_seat
from italycouch import scheduler
from italycouch.celery import app as celery_app
from notifications.models import OutboundEmail
from tests.factories import SlotFactory, TourFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]


def _user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def _tour(**fields: Any) -> Tour:
    return cast(Tour, TourFactory(**fields))


def _slot(**fields: Any) -> Slot:
    return cast(Slot, SlotFactory(**fields))


REMINDERS = "dispatch-due-reminders"
SLOTS = "materialize-upcoming-slots"
EMAILS = "dispatch-queued-emails"
LIVE = "end-overdue-live-sessions"
REVIEWS = "send-review-requests"
HOLDS = "expire-payment-holds"
REFUNDS = "retry-due-refunds"
EVENTS = "process-pending-payment-events"
RECONCILE = "reconcile-payments"
# time.monotonic() on a machine that booted two minutes ago: smaller than the hourly interval.
BOOTED = 120.0


@pytest.fixture(autouse=True)
def _fresh_broker_pools():
    # tests/support/celery.py force-closes kombu's global connection pool when a Redis worker test
    # starts, but leaves it registered: an eager test after it would get "Acquire on closed pool"
    # from .delay() (swallowed by the robust on_commit) and its e-mails would stay queued.
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@shared_task(name="tests.test_embedded_scheduler.always_fails")
def always_fails() -> None:
    raise RuntimeError("this job always fails")


def test_the_schedule_is_the_one_beat_runs_in_production(settings):
    assert {name: entry["schedule"] for name, entry in settings.CELERY_BEAT_SCHEDULE.items()} == {
        REMINDERS: 15.0,
        SLOTS: 3600.0,
        EMAILS: 60.0,
        LIVE: 30.0,
        REVIEWS: 60.0,
        HOLDS: 30.0,
        REFUNDS: 60.0,
        EVENTS: 60.0,
        RECONCILE: 600.0,
    }


def test_a_fresh_web_process_finds_every_beat_task_without_a_worker():
    # Only a worker imports the apps' tasks modules by itself; the web process runs the timer.
    code = textwrap.dedent(
        """
        import json
        import italycouch.asgi
        from django.conf import settings
        from italycouch.scheduler import _registered_task

        names = [str(entry["task"]) for entry in settings.CELERY_BEAT_SCHEDULE.values()]
        print(json.dumps([_registered_task(name).name for name in names]))
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    assert json.loads(result.stdout.strip().splitlines()[-1]) == [
        "bookings.tasks.dispatch_due_reminders",
        "bookings.tasks.materialize_upcoming_slots",
        "notifications.tasks.dispatch_queued_emails",
        "streaming.tasks.end_overdue_sessions",
        "reviews.tasks.send_review_requests",
        "payments.tasks.expire_payment_holds",
        "payments.tasks.retry_due_refunds",
        "payments.tasks.process_pending_events",
        "payments.tasks.reconcile_payments",
    ]


def test_every_entry_runs_on_the_first_tick_and_then_at_its_interval_not_before():
    last_run: dict[str, float] = {}

    assert scheduler.run_due(last_run, BOOTED) == [
        REMINDERS, SLOTS, EMAILS, LIVE, REVIEWS, HOLDS, REFUNDS, EVENTS, RECONCILE
    ]  # fmt: skip
    assert scheduler.run_due(last_run, BOOTED + 1) == []
    assert scheduler.run_due(last_run, BOOTED + 14.5) == []
    assert scheduler.run_due(last_run, BOOTED + 15) == [REMINDERS]
    assert scheduler.run_due(last_run, BOOTED + 29) == []
    assert scheduler.run_due(last_run, BOOTED + 30) == [REMINDERS, LIVE, HOLDS]
    assert scheduler.run_due(last_run, BOOTED + 59.5) == [REMINDERS]
    assert scheduler.run_due(last_run, BOOTED + 60) == [EMAILS, LIVE, REVIEWS, HOLDS, REFUNDS, EVENTS]
    assert scheduler.run_due(last_run, BOOTED + 3599) == [
        REMINDERS, EMAILS, LIVE, REVIEWS, HOLDS, REFUNDS, EVENTS, RECONCILE
    ]  # fmt: skip
    assert scheduler.run_due(last_run, BOOTED + 3600) == [SLOTS]
    assert last_run == {
        **dict.fromkeys((REMINDERS, EMAILS, LIVE, REVIEWS, HOLDS, REFUNDS, EVENTS, RECONCILE), BOOTED + 3599),
        SLOTS: BOOTED + 3600,
    }


def test_a_failing_or_unknown_entry_is_logged_and_the_others_still_run(settings, caplog):
    settings.CELERY_BEAT_SCHEDULE = {
        "broken": {"task": "tests.test_embedded_scheduler.always_fails", "schedule": 15.0},
        "misspelt": {"task": "bookings.tasks.no_such_task", "schedule": 15.0},
        REMINDERS: {"task": "bookings.tasks.dispatch_due_reminders", "schedule": 15.0},
    }
    last_run: dict[str, float] = {}

    with caplog.at_level(logging.ERROR, logger="italycouch.scheduler"):
        assert scheduler.run_due(last_run, BOOTED) == [REMINDERS]

    assert [record.getMessage() for record in caplog.records if record.name == "italycouch.scheduler"] == [
        "embedded scheduler: broken failed; it will run again next interval",
        "embedded scheduler: misspelt failed; it will run again next interval",
    ]
    # A failed entry waits its interval like any other, rather than retrying every second.
    assert scheduler.run_due(last_run, BOOTED + 1) == []
    assert set(last_run) == {"broken", "misspelt", REMINDERS}


def test_the_timer_refuses_to_start_with_an_entry_it_cannot_run(settings):
    settings.EMBEDDED_SCHEDULER = True
    settings.CELERY_BEAT_SCHEDULE = {
        "nightly": {"task": "bookings.tasks.materialize_upcoming_slots", "schedule": crontab(hour=3, minute=0)}
    }

    with pytest.raises(ValueError, match="only runs fixed intervals"):
        scheduler.start_embedded_scheduler()

    assert not scheduler._started.is_set()


def test_the_timer_does_not_start_under_test_settings(settings):
    assert settings.EMBEDDED_SCHEDULER is False
    assert scheduler.start_embedded_scheduler() is False
    assert not scheduler._started.is_set()


def test_without_a_broker_a_due_reminder_reaches_the_outbox_through_the_timer(settings, time_machine, caplog):
    settings.EMAIL_TRANSPORT = "outbox"
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    time_machine.move_to(now, tick=False)
    slot = _slot(tour=_tour(title="Ostia Antica"), start=now + timedelta(hours=30))
    customer = _user(email="ada@example.com")
    booking = book_seat(user=customer, slot_id=slot.pk, seats=1, idempotency_key="embedded").booking
    last_run: dict[str, float] = {}
    assert REMINDERS in scheduler.run_due(last_run, BOOTED)
    assert not OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").exists()

    time_machine.move_to(slot.start - timedelta(hours=24), tick=False)
    caplog.clear()  # the confirmation went through the outbox too
    with caplog.at_level(logging.INFO, logger="notifications.outbox"):
        assert scheduler.run_due(last_run, BOOTED + 14) == []  # due, but the timer's interval is not up
        assert scheduler.run_due(last_run, BOOTED + 15) == [REMINDERS]

    reminder = Reminder.objects.get(booking=booking, kind="24h")
    assert reminder.status == Reminder.Status.SENT
    row = OutboundEmail.objects.get(idempotency_key=f"reminder:{reminder.pk}")
    assert (row.subject, row.to) == ("Tomorrow: Ostia Antica", ["ada@example.com"])
    assert (row.status, row.attempts) == (OutboundEmail.Status.SENT, 1)
    assert [record.getMessage() for record in caplog.records if record.name == "notifications.outbox"] == [
        f"Outbox: 'Tomorrow: Ostia Antica' to ada@example.com (Message-ID {row.message_id})"
    ]

    assert scheduler.run_due(last_run, BOOTED + 30) == [REMINDERS, LIVE, HOLDS]
    assert OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").count() == 1
