"""End to end: a real Celery worker on Redis and a real SMTP server deliver each reminder once, on time.

The periodic dispatcher is sent through the broker exactly as beat sends it
(``dispatch_due_reminders.delay()``); the worker runs it and the e-mail delivery task it queues, and
aiosmtpd receives the messages. The clock is moved with time-machine; the worker runs in a thread
of this process, so it reads the moved clock too. Before each jump the broker must hold no unacked
message: Redis re-delivers a message unacked for longer than its visibility timeout (an hour), and
a jump of a day would make every in-flight message look abandoned.
"""

import time
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import redis
from django.conf import settings as django_settings

from accounts.models import User
from bookings.models import Reminder, Slot, Tour
from bookings.reservations import book_seat, cancel_booking
from bookings.tasks import dispatch_due_reminders
from notifications.models import OutboundEmail
from tests.factories import SlotFactory, TourFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def _tour(**fields: Any) -> Tour:
    return cast(Tour, TourFactory(**fields))


def _slot(**fields: Any) -> Slot:
    return cast(Slot, SlotFactory(**fields))


DISPATCH = "bookings.tasks.dispatch_due_reminders"
DELIVER = "notifications.tasks.deliver_email"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
START = NOW + timedelta(hours=26)


class Journey:
    """Moves the shared clock and runs the dispatcher through the broker, one step at a time."""

    def __init__(self, worker, smtp, clock, broker_url):
        self.worker = worker
        self.smtp = smtp
        self.clock = clock
        self.dispatches = 0
        self.deliveries = 0
        self._redis = redis.Redis.from_url(broker_url)
        self._unacked = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] + "unacked"

    def expect_deliveries(self, count):
        """Wait for ``count`` more e-mail deliveries by the worker and for them to reach the server."""
        self.deliveries += count
        runs = self.worker.wait_for_tasks(self.deliveries, name=DELIVER)
        assert [run.retval for run in runs] == ["sent"] * self.deliveries
        self.smtp.wait_for(self.deliveries)

    def dispatch(self):
        """What beat does every 15 s; returns how many reminders that run sent."""
        dispatch_due_reminders.delay()
        self.dispatches += 1
        runs = self.worker.wait_for_tasks(self.dispatches, name=DISPATCH)
        assert [run.state for run in runs] == ["SUCCESS"] * self.dispatches
        return runs[-1].retval

    def travel_to(self, instant):
        self._wait_until_nothing_is_in_flight()
        self.clock.move_to(instant, tick=True)

    def _wait_until_nothing_is_in_flight(self):
        deadline = time.monotonic() + 10
        while self._redis.hlen(self._unacked):
            assert time.monotonic() < deadline, "the worker kept a message unacked for 10 s"
            time.sleep(0.02)

    def subjects_for(self, address):
        return [str(item["Subject"]) for item in self.smtp.messages if item.envelope_to == (address,)]

    def close(self):
        self._redis.close()


@pytest.fixture
def journey(celery_worker_on_redis, smtp_transport, time_machine, celery_test_broker_url):
    time_machine.move_to(NOW, tick=True)
    trip = Journey(celery_worker_on_redis, smtp_transport, time_machine, celery_test_broker_url)
    yield trip
    trip.close()


@pytest.fixture
def slot():
    return _slot(tour=_tour(title="Vatican Museums at dawn"), start=START)


def test_the_worker_delivers_each_reminder_once_at_its_instant(journey, slot):
    customer = _user(email="ada@example.com", timezone="America/New_York")
    booking = book_seat(user=customer, slot_id=slot.pk, seats=1, idempotency_key="e2e").booking
    journey.expect_deliveries(1)
    assert journey.subjects_for("ada@example.com") == ["Booked: Vatican Museums at dawn"]

    # Two hours before the 24 h reminder is due, and one minute before: nothing.
    assert journey.dispatch() == 0
    journey.travel_to(START - timedelta(hours=24, minutes=1))
    assert journey.dispatch() == 0
    time.sleep(0.3)  # time enough for a wrongly queued delivery to arrive
    assert len(journey.smtp.messages) == 1

    journey.travel_to(START - timedelta(hours=24))
    assert journey.dispatch() == 1
    journey.expect_deliveries(1)
    assert journey.dispatch() == 0  # beat fires again: nothing more

    journey.travel_to(START - timedelta(hours=1, minutes=1))
    assert journey.dispatch() == 0
    journey.travel_to(START - timedelta(hours=1))
    assert journey.dispatch() == 1
    journey.expect_deliveries(1)

    journey.travel_to(START + timedelta(minutes=5))
    assert journey.dispatch() == 0
    time.sleep(0.3)
    assert journey.subjects_for("ada@example.com") == [
        "Booked: Vatican Museums at dawn",
        "Tomorrow: Vatican Museums at dawn",
        "In one hour: Vatican Museums at dawn",
    ]
    reminder_24h, reminder_1h = journey.smtp.messages[1:]
    body = reminder_24h.message.get_body(preferencelist=("plain",)).get_content()
    assert "When: Tuesday 8 December 2026, 06:00 (America/New_York)" in body
    assert "In Italy: Tuesday 8 December 2026, 12:00 (Europe/Rome)" in body
    rows = OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").order_by("pk")
    assert [row.message_id for row in rows] == [reminder_24h["Message-ID"], reminder_1h["Message-ID"]]
    assert [(row.status, row.attempts) for row in rows] == [(OutboundEmail.Status.SENT, 1)] * 2
    reminders = sorted(Reminder.objects.filter(booking=booking), key=lambda reminder: reminder.due_at)
    assert [(reminder.kind, reminder.status) for reminder in reminders] == [
        ("24h", Reminder.Status.SENT),
        ("1h", Reminder.Status.SENT),
    ]
    # The clock ticks on after each jump: sent within seconds of the due instant, never before it.
    for reminder in reminders:
        assert reminder.sent_at is not None
        assert reminder.due_at <= reminder.sent_at < reminder.due_at + timedelta(seconds=10)


def test_the_worker_never_delivers_the_reminders_of_a_cancelled_booking(journey, slot):
    customer = _user(email="bea@example.com")
    booking = book_seat(user=customer, slot_id=slot.pk, seats=1, idempotency_key="e2e").booking
    cancel_booking(user=customer, booking_id=booking.pk)
    journey.expect_deliveries(2)

    for instant in (START - timedelta(hours=24), START - timedelta(hours=1)):
        journey.travel_to(instant)
        assert journey.dispatch() == 0

    time.sleep(0.3)
    assert journey.subjects_for("bea@example.com") == [
        "Booked: Vatican Museums at dawn",
        "Cancelled: Vatican Museums at dawn",
    ]
    assert len(journey.smtp.messages) == 2
    assert not OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").exists()
    assert set(Reminder.objects.filter(booking=booking).values_list("status", flat=True)) == {Reminder.Status.CANCELLED}
