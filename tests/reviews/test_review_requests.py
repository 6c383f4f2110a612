"""Review requests: an e-mail and an in-app notice 2 hours after the tour ends, one reminder 3 days
later, none once reviewed; exactly once per booking.

Delivery is proved at a real SMTP server (aiosmtpd) through the project's pipeline (a row first,
then the delivery task, in-process). Transactional tests: the task's commits are real, so the
after-commit delivery runs. The clock is moved with time-machine; the task reads it through
``timezone.now()``, exactly as beat (or the embedded scheduler) would call it.
"""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import kombu.pools
import pytest
from django.conf import settings as django_settings
from django.db import connections
from django.urls import reverse

from italycouch.celery import app as celery_app
from notifications.models import Notification, OutboundEmail
from reviews import services
from reviews.models import ReviewRequest
from reviews.tasks import send_review_requests
from tests.reviews.helpers import make_tour, make_user, past_tour

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("celery_eager")]

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)  # Thursday; 10:00 in Rome
END = START + timedelta(minutes=90)  # the session completes on time
REQUEST_AT = END + timedelta(hours=2)
REMINDER_AT = REQUEST_AT + timedelta(days=3)


@pytest.fixture(autouse=True)
def _fresh_broker_pools():
    # As in tests/bookings/test_reminders.py: a Redis-worker test earlier in the process may leave
    # kombu's pool closed, which would leave these e-mails queued.
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(START - timedelta(days=1), tick=False)
    return time_machine


@pytest.fixture
def tour(clock):
    return past_tour(tour=make_tour(title="Pantheon at noon", duration_minutes=90), start=START)


def review_mail(sink):
    keys = dict(
        OutboundEmail.objects.filter(idempotency_key__startswith="review-").values_list("message_id", "idempotency_key")
    )
    return [message for message in sink.messages if message["Message-ID"] in keys]


def subjects(messages):
    return [str(message["Subject"]) for message in messages]


def test_the_request_goes_out_two_hours_after_the_end_exactly_once(clock, tour, smtp_transport):
    clock.move_to(REQUEST_AT - timedelta(seconds=1), tick=False)
    assert send_review_requests() == 0

    clock.move_to(REQUEST_AT, tick=False)
    assert send_review_requests() == 1
    assert send_review_requests() == 0  # beat fires again a minute later: nothing more
    clock.move_to(REQUEST_AT + timedelta(hours=5), tick=False)
    assert send_review_requests() == 0

    smtp_transport.wait_for(1)
    (message,) = review_mail(smtp_transport)
    assert message.envelope_to == (tour.guest.email,)
    assert message["Subject"] == "How was Pantheon at noon?"
    body = message.message.get_content()
    review_url = f"{django_settings.SITE_URL}{reverse('reviews:write', kwargs={'booking_id': tour.booking.pk})}"
    assert review_url in body
    assert f"{django_settings.SITE_URL}{reverse('streaming:keepsake', kwargs={'session_id': tour.session.pk})}" in body
    assert "Thursday 10 December 2026" in body
    notice = Notification.objects.get(user=tour.guest, kind="review_request")
    assert (notice.title, notice.url) == (
        "How was Pantheon at noon?",
        review_url.removeprefix(django_settings.SITE_URL),
    )
    request = ReviewRequest.objects.get(booking=tour.booking)
    assert (request.kind, request.due_at, request.sent_at) == ("request", REQUEST_AT, REQUEST_AT)


def test_one_reminder_three_days_later_and_nothing_after_it(clock, tour, smtp_transport):
    clock.move_to(REQUEST_AT, tick=False)
    send_review_requests()

    clock.move_to(REMINDER_AT - timedelta(seconds=1), tick=False)
    assert send_review_requests() == 0
    clock.move_to(REMINDER_AT, tick=False)
    assert send_review_requests() == 1
    for later in (timedelta(minutes=1), timedelta(days=3), timedelta(days=30)):
        clock.move_to(REMINDER_AT + later, tick=False)
        assert send_review_requests() == 0

    smtp_transport.wait_for(2)
    assert subjects(review_mail(smtp_transport)) == [
        "How was Pantheon at noon?",
        "A minute for Pantheon at noon? Rate your tour",
    ]
    assert list(ReviewRequest.objects.order_by("sent_at").values_list("kind", "sent_at")) == [
        ("request", REQUEST_AT),
        ("reminder", REMINDER_AT),
    ]
    assert Notification.objects.filter(user=tour.guest, kind="review_reminder").count() == 1


def test_a_guest_who_already_reviewed_gets_no_request(clock, tour, smtp_transport):
    clock.move_to(END + timedelta(minutes=30), tick=False)
    services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=5)

    for instant in (REQUEST_AT, REMINDER_AT, REMINDER_AT + timedelta(days=1)):
        clock.move_to(instant, tick=False)
        assert send_review_requests() == 0
    assert not ReviewRequest.objects.exists()
    assert not OutboundEmail.objects.filter(idempotency_key__startswith="review-").exists()


def test_reviewing_after_the_request_cancels_the_reminder(clock, tour, smtp_transport):
    clock.move_to(REQUEST_AT, tick=False)
    send_review_requests()
    clock.move_to(REQUEST_AT + timedelta(days=1), tick=False)
    services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=4)

    clock.move_to(REMINDER_AT, tick=False)
    assert send_review_requests() == 0
    smtp_transport.wait_for(1)
    assert subjects(review_mail(smtp_transport)) == ["How was Pantheon at noon?"]
    assert list(ReviewRequest.objects.values_list("kind", flat=True)) == ["request"]


def test_only_attendees_are_asked(clock, smtp_transport):
    stopped_early = past_tour(start=START, reason="guide_ended", present=False)  # booked, never came
    watched = stopped_early.add_guest(present=True)
    cancelled = stopped_early.add_guest(status="cancelled")
    no_show = past_tour(start=START + timedelta(hours=3), reason="auto_ended", went_live=False)

    clock.move_to(REQUEST_AT + timedelta(hours=6), tick=False)
    assert send_review_requests() == 1

    assert list(ReviewRequest.objects.values_list("booking_id", flat=True)) == [watched.pk]
    asked = set(Notification.objects.filter(kind="review_request").values_list("user_id", flat=True))
    assert asked == {watched.user_id}
    assert not {stopped_early.guest.pk, cancelled.user_id, no_show.guest.pk} & asked


def test_a_request_more_than_a_week_late_is_dropped_not_sent(clock, tour):
    # A dispatcher that was down for a long time (or a first deploy over old tours).
    clock.move_to(REQUEST_AT + timedelta(days=7, seconds=1), tick=False)
    assert send_review_requests() == 0
    assert not ReviewRequest.objects.exists()


def test_the_request_reads_in_the_guests_language_and_time_zone(clock, smtp_transport):
    lucia = make_user(email="lucia@example.com", name="Lucia", language="it", timezone="Europe/Rome")
    tour = past_tour(tour=make_tour(title="Colosseo"), start=START, guests=0)
    tour.add_guest(user=lucia)

    clock.move_to(REQUEST_AT, tick=False)
    send_review_requests()

    smtp_transport.wait_for(1)
    (message,) = review_mail(smtp_transport)
    # The weekday and month come from Django's Italian locale: Italian was active while writing.
    assert "giovedì 10 dicembre 2026" in message.message.get_content().lower()
    assert "december" not in message.message.get_content().lower()


def test_two_dispatchers_at_once_send_each_request_once(clock, smtp_transport):
    tour = past_tour(start=START, guests=12)
    clock.move_to(REQUEST_AT, tick=False)
    gate = threading.Barrier(2)

    def dispatcher(_index):
        gate.wait(timeout=30)
        try:
            return send_review_requests()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(dispatcher, range(2)))

    assert sum(results) == 12
    smtp_transport.wait_for(12)
    messages = review_mail(smtp_transport)
    assert len(messages) == 12
    assert {message.envelope_to[0] for message in messages} == {booking.user.email for booking in tour.bookings}
    assert ReviewRequest.objects.count() == 12
    assert Notification.objects.filter(kind="review_request").count() == 12


def test_beat_and_the_embedded_scheduler_run_it_every_minute():
    entry = django_settings.CELERY_BEAT_SCHEDULE["send-review-requests"]
    assert (entry["task"], entry["schedule"]) == ("reviews.tasks.send_review_requests", 60.0)
    assert send_review_requests.name == "reviews.tasks.send_review_requests"


def test_a_guest_whose_message_cannot_be_written_does_not_hold_back_the_others(clock, monkeypatch, smtp_transport):
    tour = past_tour(start=START, guests=2)
    broken = tour.bookings[0]
    real_send = services.messaging.send_review_request

    def flaky(request):
        if request.booking_id == broken.pk:
            raise RuntimeError("template exploded")
        real_send(request)

    monkeypatch.setattr(services.messaging, "send_review_request", flaky)
    clock.move_to(REQUEST_AT, tick=False)
    assert send_review_requests() == 1
    assert list(ReviewRequest.objects.values_list("booking_id", flat=True)) == [tour.bookings[1].pk]

    monkeypatch.setattr(services.messaging, "send_review_request", real_send)
    clock.move_to(REQUEST_AT + timedelta(minutes=1), tick=False)
    assert send_review_requests() == 1  # retried on the next run, and sent
    assert ReviewRequest.objects.count() == 2
