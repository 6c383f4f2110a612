"""Reminders 24 h and 1 h before the start: each delivered once, at its instant, in the reader's zone.

Delivery is proved where it ends: at a real SMTP server (aiosmtpd), through the project's e-mail
pipeline (a row first, then the delivery task, run in-process here). The tests are transactional,
so the dispatcher's commits are real commits and after-commit delivery really runs. The clock is
moved with time-machine; the dispatcher reads it through ``timezone.now()``.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import kombu.pools
import pytest
from aiosmtpd.controller import Controller
from django.db import connections
from django.utils import translation
from django.utils.translation import gettext

from accounts.models import User
from bookings import messaging
from bookings.models import Booking, Reminder, Slot, Tour
from bookings.reservations import book_seat, cancel_booking, cancel_slot, reschedule_booking
from bookings.tasks import dispatch_due_reminders
from italycouch.celery import app as celery_app
from notifications import services as notification_services
from notifications.models import Notification, OutboundEmail
from notifications.services import REDELIVER_AFTER
from notifications.tasks import dispatch_queued_emails
from tests.factories import SlotFactory, TourFactory, UserFactory
from tests.support.smtp import SmtpSink, _CollectingHandler

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]


def _user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def _tour(**fields: Any) -> Tour:
    return cast(Tour, TourFactory(**fields))


def _slot(**fields: Any) -> Slot:
    return cast(Slot, SlotFactory(**fields))


NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
START = NOW + timedelta(hours=72)  # Thursday 10 December 2026: 10:00 in Rome, 14:45 in Kathmandu


@pytest.fixture(autouse=True)
def _fresh_broker_pools():
    # tests/support/celery.py force-closes kombu's global connection pool when a Redis worker test
    # starts, but leaves it registered: an eager test after it would get "Acquire on closed pool"
    # from .delay() (swallowed by the robust on_commit) and its e-mails would stay queued.
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


def _reminders_at(sink):
    """The reminder e-mails the SMTP server received (whatever language their subject is in)."""
    reminder_ids = set(
        OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").values_list("message_id", flat=True)
    )
    return [message for message in sink.messages if message["Message-ID"] in reminder_ids]


def _subjects(messages):
    return [str(message["Subject"]) for message in messages]


def _text(message):
    return message.message.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def _book(user, slot, *, seats=1):
    return book_seat(user=user, slot_id=slot.pk, seats=seats, idempotency_key=f"key-{user.pk}-{slot.pk}").booking


def _plan(booking):
    return sorted(Reminder.objects.filter(booking=booking).values_list("kind", "due_at", "status"))


@pytest.fixture
def tour():
    return _tour(title="Pantheon at noon", max_group_size=30)


@pytest.fixture
def slot(tour):
    return _slot(tour=tour, start=START)


@pytest.fixture
def customer():
    return _user(email="ada@example.com", name="Ada Lovelace", timezone="Asia/Kathmandu", language="en")


def test_a_booking_made_three_days_ahead_plans_a_reminder_24h_and_1h_before_the_start(clock, slot, customer):
    booking = _book(customer, slot)

    assert _plan(booking) == [
        ("1h", START - timedelta(hours=1), Reminder.Status.PENDING),
        ("24h", START - timedelta(hours=24), Reminder.Status.PENDING),
    ]


def test_each_reminder_goes_out_once_at_its_instant_and_not_before(clock, slot, customer, smtp_transport):
    booking = _book(customer, slot)
    assert _subjects(smtp_transport.messages) == ["Booked: Pantheon at noon"]

    clock.move_to(START - timedelta(hours=25), tick=False)
    assert dispatch_due_reminders() == 0
    clock.move_to(START - timedelta(hours=24, seconds=1), tick=False)
    assert dispatch_due_reminders() == 0
    assert _reminders_at(smtp_transport) == []

    clock.move_to(START - timedelta(hours=24), tick=False)
    assert dispatch_due_reminders() == 1
    assert _subjects(_reminders_at(smtp_transport)) == ["Tomorrow: Pantheon at noon"]
    assert dispatch_due_reminders() == 0  # running again sends nothing more

    clock.move_to(START - timedelta(hours=1, seconds=1), tick=False)
    assert dispatch_due_reminders() == 0
    clock.move_to(START - timedelta(hours=1), tick=False)
    assert dispatch_due_reminders() == 1
    assert dispatch_due_reminders() == 0

    clock.move_to(START + timedelta(hours=2), tick=False)
    assert dispatch_due_reminders() == 0
    reminders = _reminders_at(smtp_transport)
    assert _subjects(reminders) == ["Tomorrow: Pantheon at noon", "In one hour: Pantheon at noon"]
    assert {message.envelope_to for message in reminders} == {("ada@example.com",)}
    assert _plan(booking) == [
        ("1h", START - timedelta(hours=1), Reminder.Status.SENT),
        ("24h", START - timedelta(hours=24), Reminder.Status.SENT),
    ]
    assert list(Reminder.objects.order_by("due_at").values_list("sent_at", flat=True)) == [
        START - timedelta(hours=24),
        START - timedelta(hours=1),
    ]
    feed = Notification.objects.filter(user=customer, kind__startswith="reminder_").order_by("pk")
    assert [(notice.kind, notice.title) for notice in feed] == [
        ("reminder_24h", "Tomorrow: Pantheon at noon"),
        ("reminder_1h", "In one hour: Pantheon at noon"),
    ]
    rows = OutboundEmail.objects.filter(idempotency_key__startswith="reminder:")
    assert sorted((row.status, row.attempts) for row in rows) == [(OutboundEmail.Status.SENT, 1)] * 2


def test_the_reminder_shows_the_start_in_the_customers_zone_with_italian_time_beside_it(
    clock, slot, customer, smtp_transport
):
    booking = _book(customer, slot)

    clock.move_to(START - timedelta(hours=24), tick=False)
    dispatch_due_reminders()

    (reminder,) = _reminders_at(smtp_transport)
    assert _text(reminder).strip() == (
        "Hello Ada Lovelace, Pantheon at noon starts in 24 hours.\n"
        "\n"
        "When: Thursday 10 December 2026, 14:45 (Asia/Kathmandu)\n"
        "In Italy: Thursday 10 December 2026, 10:00 (Europe/Rome)\n"
        "\n"
        "Join from your booking page a few minutes before the start: "
        f"http://localhost:8000/bookings/{booking.pk}/"
    )
    assert reminder.message.get_content_type() == "text/plain"  # no invitation with a reminder


def test_a_reminder_for_someone_who_reads_italian_is_written_in_italian(clock, slot, smtp_transport):
    lucia = _user(email="lucia@example.com", name="Lucia", timezone="Europe/Rome", language="it")
    _book(lucia, slot)

    clock.move_to(START - timedelta(hours=1), tick=False)
    with translation.override("en"):  # whatever the dispatcher's own language is
        dispatch_due_reminders()

    (reminder,) = _reminders_at(smtp_transport)
    # The month and weekday come from Django's Italian locale: proof that Italian was active
    # while the message was written, whether or not the site's own catalogue is done yet.
    # (Django's Italian catalogue capitalises them: "Giovedì 10 Dicembre".)
    assert "giovedì 10 dicembre 2026, 10:00 (europe/rome)" in _text(reminder).lower()
    assert "december" not in _text(reminder).lower()
    with translation.override("it"):
        subject = gettext("In one hour: %(title)s") % {"title": "Pantheon at noon"}
    assert reminder["Subject"] == subject
    assert Notification.objects.get(user=lucia, kind="reminder_1h").title == subject


def test_a_customer_with_an_unknown_time_zone_still_gets_the_reminder_in_utc(clock, slot, smtp_transport):
    customer = _user(email="odd@example.com", name="Odd")
    booking = _book(customer, slot)
    # Only forms validate the zone; a stale or hand-written value must not block the messages.
    User.objects.filter(pk=customer.pk).update(timezone="Mars/Olympus_Mons")

    clock.move_to(START - timedelta(hours=24), tick=False)
    assert dispatch_due_reminders() == 1

    (reminder,) = _reminders_at(smtp_transport)
    assert "When: Thursday 10 December 2026, 09:00 (UTC)" in _text(reminder)
    assert Reminder.objects.get(booking=booking, kind="24h").status == Reminder.Status.SENT


def test_a_cancelled_booking_gets_no_reminder(clock, slot, customer, smtp_transport):
    booking = _book(customer, slot)
    cancel_booking(user=customer, booking_id=booking.pk)

    for instant in (START - timedelta(hours=24), START - timedelta(hours=1)):
        clock.move_to(instant, tick=False)
        assert dispatch_due_reminders() == 0

    assert _reminders_at(smtp_transport) == []
    assert _subjects(smtp_transport.messages) == ["Booked: Pantheon at noon", "Cancelled: Pantheon at noon"]
    assert {status for _kind, _due, status in _plan(booking)} == {Reminder.Status.CANCELLED}
    assert not Notification.objects.filter(kind__startswith="reminder_").exists()


def test_a_date_cancelled_by_the_guide_gets_no_reminder(clock, slot, customer, smtp_transport):
    booking = _book(customer, slot)
    cancel_slot(user=slot.tour.guide.user, slot_id=slot.pk, reason="Strike")

    clock.move_to(START - timedelta(hours=1), tick=False)
    assert dispatch_due_reminders() == 0

    assert _reminders_at(smtp_transport) == []
    assert {status for _kind, _due, status in _plan(booking)} == {Reminder.Status.CANCELLED}


def test_a_booking_cancelled_behind_the_services_back_is_dropped_at_dispatch(clock, slot, customer, smtp_transport):
    booking = _book(customer, slot)
    # E.g. staff edited the row in the admin: the reminders are still pending.
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CANCELLED)

    clock.move_to(START - timedelta(hours=24), tick=False)
    assert dispatch_due_reminders() == 0

    assert _reminders_at(smtp_transport) == []
    assert Reminder.objects.get(booking=booking, kind="24h").status == Reminder.Status.CANCELLED


def test_a_rescheduled_booking_is_reminded_of_the_new_date_only(clock, tour, slot, customer, smtp_transport):
    later = _slot(tour=tour, start=START + timedelta(days=2))
    booking = _book(customer, slot)
    reschedule_booking(user=customer, booking_id=booking.pk, new_slot_id=later.pk)

    assert _plan(booking) == [
        ("1h", START - timedelta(hours=1), Reminder.Status.CANCELLED),
        ("1h", later.start - timedelta(hours=1), Reminder.Status.PENDING),
        ("24h", START - timedelta(hours=24), Reminder.Status.CANCELLED),
        ("24h", later.start - timedelta(hours=24), Reminder.Status.PENDING),
    ]
    for instant in (START - timedelta(hours=24), START - timedelta(hours=1)):
        clock.move_to(instant, tick=False)
        assert dispatch_due_reminders() == 0
    assert _reminders_at(smtp_transport) == []

    sent = []
    for instant in (later.start - timedelta(hours=24), later.start - timedelta(hours=1)):
        clock.move_to(instant, tick=False)
        sent.append(dispatch_due_reminders())

    assert sent == [1, 1]
    reminders = _reminders_at(smtp_transport)
    assert _subjects(reminders) == ["Tomorrow: Pantheon at noon", "In one hour: Pantheon at noon"]
    assert all("Saturday 12 December 2026, 14:45 (Asia/Kathmandu)" in _text(message) for message in reminders)


def test_a_booking_made_three_hours_ahead_gets_only_the_1h_reminder(clock, slot, customer, smtp_transport):
    clock.move_to(START - timedelta(hours=3), tick=False)
    booking = _book(customer, slot)

    assert _plan(booking) == [("1h", START - timedelta(hours=1), Reminder.Status.PENDING)]
    clock.move_to(START - timedelta(hours=1), tick=False)
    assert dispatch_due_reminders() == 1
    assert _subjects(_reminders_at(smtp_transport)) == ["In one hour: Pantheon at noon"]


def test_after_a_dispatcher_outage_only_the_reminder_that_is_still_true_goes_out(clock, slot, customer, smtp_transport):
    booking = _book(customer, slot)

    # No dispatcher ran between the two due times: at 30 minutes to go, "in 24 hours" is wrong.
    clock.move_to(START - timedelta(minutes=30), tick=False)
    assert dispatch_due_reminders() == 1

    assert _subjects(_reminders_at(smtp_transport)) == ["In one hour: Pantheon at noon"]
    assert _plan(booking) == [
        ("1h", START - timedelta(hours=1), Reminder.Status.SENT),
        ("24h", START - timedelta(hours=24), Reminder.Status.CANCELLED),
    ]


def test_a_reminder_found_only_after_the_start_is_dropped(clock, slot, customer, smtp_transport):
    booking = _book(customer, slot)

    clock.move_to(START + timedelta(minutes=5), tick=False)
    assert dispatch_due_reminders() == 0

    assert _reminders_at(smtp_transport) == []
    assert {status for _kind, _due, status in _plan(booking)} == {Reminder.Status.CANCELLED}


# --- Crashes and concurrency -----------------------------------------------------------------------


def _three_bookings_on(slot):
    return [_book(_user(email=f"guest{index}@example.com"), slot) for index in range(3)]


class WorkerKilledError(BaseException):
    """What a killed worker looks like from inside: nothing after this line runs (not an Exception)."""


def test_a_worker_killed_mid_batch_loses_no_reminder_and_sends_none_twice(clock, slot, smtp_transport, monkeypatch):
    bookings = _three_bookings_on(slot)
    real_queue_email = notification_services.queue_email
    calls = []

    def dies_after_writing_the_second_row(**kwargs):
        row = real_queue_email(**kwargs)
        calls.append(kwargs["idempotency_key"])
        if len(calls) == 2:
            # The row is written, its transaction not yet committed: the worst instant to die.
            raise WorkerKilledError
        return row

    monkeypatch.setattr(notification_services, "queue_email", dies_after_writing_the_second_row)
    clock.move_to(START - timedelta(hours=24), tick=False)

    with pytest.raises(WorkerKilledError):
        dispatch_due_reminders()

    assert len(_reminders_at(smtp_transport)) == 1
    assert OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").count() == 1
    assert Reminder.objects.filter(kind="24h", status=Reminder.Status.SENT).count() == 1
    assert Reminder.objects.filter(kind="24h", status=Reminder.Status.PENDING).count() == 2

    # The next run (beat fires every 15 s) picks up the two left behind.
    monkeypatch.setattr(notification_services, "queue_email", real_queue_email)
    assert dispatch_due_reminders() == 2
    assert dispatch_due_reminders() == 0

    reminders = _reminders_at(smtp_transport)
    assert sorted(message.envelope_to for message in reminders) == [
        ("guest0@example.com",),
        ("guest1@example.com",),
        ("guest2@example.com",),
    ]
    assert Notification.objects.filter(kind="reminder_24h").count() == 3
    assert {booking.pk for booking in bookings} == set(
        Reminder.objects.filter(kind="24h", status=Reminder.Status.SENT).values_list("booking", flat=True)
    )


def test_one_reminder_that_fails_does_not_hold_back_the_others(clock, slot, smtp_transport, monkeypatch):
    _three_bookings_on(slot)
    real_queue_email = notification_services.queue_email

    def fails_for_guest0(**kwargs):
        if kwargs["to"] == ["guest0@example.com"]:
            raise RuntimeError("template blew up")
        return real_queue_email(**kwargs)

    monkeypatch.setattr(notification_services, "queue_email", fails_for_guest0)
    clock.move_to(START - timedelta(hours=24), tick=False)

    assert dispatch_due_reminders() == 2
    assert sorted(message.envelope_to for message in _reminders_at(smtp_transport)) == [
        ("guest1@example.com",),
        ("guest2@example.com",),
    ]
    failed = Reminder.objects.get(kind="24h", booking__user__email="guest0@example.com")
    assert failed.status == Reminder.Status.PENDING
    assert not Notification.objects.filter(user=failed.booking.user, kind="reminder_24h").exists()

    monkeypatch.setattr(notification_services, "queue_email", real_queue_email)
    assert dispatch_due_reminders() == 1
    assert len(_reminders_at(smtp_transport)) == 3


class _RefusesOneMessageHandler(_CollectingHandler):
    """An SMTP server that answers "451 try again later" to the n-th reminder it is offered."""

    def __init__(self, sink, refuse_reminder_number):
        super().__init__(sink)
        self.reminders_offered = 0
        self.refuse_reminder_number = refuse_reminder_number

    async def handle_DATA(self, server, session, envelope):
        if b"\nSubject: Tomorrow:" in b"\n" + envelope.content:
            self.reminders_offered += 1
            if self.reminders_offered == self.refuse_reminder_number:
                return "451 4.3.0 Mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


class FlakySmtpSink(SmtpSink):
    def start(self):
        controller = Controller(
            _RefusesOneMessageHandler(self, refuse_reminder_number=2), hostname=self.host, port=self.port
        )
        controller.start()
        self._controller = controller


@pytest.fixture
def flaky_smtp(settings, queued_email_backend):
    sink = FlakySmtpSink()
    sink.start()
    settings.EMAIL_TRANSPORT = "smtp"
    settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield sink
    sink.stop()


def test_a_reminder_refused_by_the_mail_server_mid_batch_is_delivered_later_exactly_once(clock, slot, flaky_smtp):
    _three_bookings_on(slot)
    clock.move_to(START - timedelta(hours=24), tick=False)

    assert dispatch_due_reminders() == 3

    # The reminder is recorded as sent: its e-mail is a row that the delivery retries own now.
    assert len(_reminders_at(flaky_smtp)) == 2
    refused = OutboundEmail.objects.get(status=OutboundEmail.Status.QUEUED)
    assert refused.subject == "Tomorrow: Pantheon at noon"
    assert refused.last_error.startswith("SMTPDataError")
    assert refused.attempts == 1
    assert dispatch_due_reminders() == 0

    assert dispatch_queued_emails() == 0  # not before its delivery is presumed lost
    clock.shift(REDELIVER_AFTER)
    assert dispatch_queued_emails() == 1
    assert dispatch_queued_emails() == 0

    reminders = _reminders_at(flaky_smtp)
    assert sorted(message.envelope_to for message in reminders) == [
        ("guest0@example.com",),
        ("guest1@example.com",),
        ("guest2@example.com",),
    ]
    assert reminders[-1]["Message-ID"] == refused.message_id
    refused.refresh_from_db()
    assert (refused.status, refused.attempts) == (OutboundEmail.Status.SENT, 2)


def test_two_dispatchers_running_at_once_send_each_reminder_once(clock, tour, smtp_transport):
    slot = _slot(tour=tour, start=START, capacity=30)
    bookings = [_book(_user(email=f"racer{index}@example.com"), slot) for index in range(20)]
    clock.move_to(START - timedelta(hours=24), tick=False)
    gate = threading.Barrier(2)

    def dispatcher(_index):
        gate.wait(timeout=30)
        try:
            return dispatch_due_reminders()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(dispatcher, range(2)))

    assert sum(results) == 20
    reminders = _reminders_at(smtp_transport)
    assert len(reminders) == 20
    assert len({message.envelope_to for message in reminders}) == 20
    assert Reminder.objects.filter(kind="24h", status=Reminder.Status.SENT).count() == len(bookings)
    assert OutboundEmail.objects.filter(idempotency_key__startswith="reminder:").count() == 20
    assert Notification.objects.filter(kind="reminder_24h").count() == 20


def test_sending_the_same_reminder_twice_writes_one_email_and_one_notice(clock, slot, customer, smtp_transport):
    booking = _book(customer, slot)
    reminder = Reminder.objects.get(booking=booking, kind="24h")

    # As a re-delivered job would: the idempotency key makes the second call a no-op.
    messaging.send_reminder(reminder)
    messaging.send_reminder(reminder)

    assert len(_reminders_at(smtp_transport)) == 1
    assert OutboundEmail.objects.filter(idempotency_key=f"reminder:{reminder.pk}").count() == 1
    assert Notification.objects.filter(user=customer, kind="reminder_24h").count() == 1
