"""End to end with a real Celery worker consuming from Redis and a real SMTP server."""

import time

import pytest
from celery.result import EagerResult
from django.core import mail
from django.db import transaction

from notifications import services
from notifications.models import OutboundEmail
from notifications.tasks import deliver_email

pytestmark = pytest.mark.django_db(transaction=True)

DELIVER = "notifications.tasks.deliver_email"


def test_send_mail_in_a_committed_transaction_arrives_once_through_the_worker(celery_worker_on_redis, smtp_transport):
    with transaction.atomic():
        mail.send_mail("Booked: Trastevere at dusk", "See you there.", None, ["ada@example.com"])
        row = OutboundEmail.objects.get()
        time.sleep(0.5)
        assert celery_worker_on_redis.finished == []  # nothing is even enqueued before the commit

    (run,) = celery_worker_on_redis.wait_for_tasks(1, name=DELIVER)
    assert (run.args, run.retval) == ((row.pk,), "sent")
    (received,) = smtp_transport.wait_for(1)
    assert received["Subject"] == "Booked: Trastevere at dusk"
    assert received["Message-ID"] == row.message_id
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboundEmail.Status.SENT, 1)


def test_delay_publishes_to_the_broker_instead_of_running_in_process(celery_worker_on_redis, smtp_transport):
    row = services.queue_email(to=["ada@example.com"], subject="Via Redis", body_text="x", idempotency_key="k:redis")
    celery_worker_on_redis.wait_for_tasks(1, name=DELIVER)

    assert not isinstance(deliver_email.delay(row.pk), EagerResult)
    runs = celery_worker_on_redis.wait_for_tasks(2, name=DELIVER)
    assert [run.retval for run in runs] == ["sent", "skipped"]


def test_the_worker_retries_a_failed_attempt_and_delivers_once_when_smtp_is_back(
    celery_worker_on_redis, smtp_transport
):
    smtp_transport.stop()
    row = services.queue_email(to=["ada@example.com"], subject="Retry me", body_text="x", idempotency_key="k:retry")
    celery_worker_on_redis.wait_for_tasks(1, name=DELIVER, state="RETRY")
    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.QUEUED
    assert row.last_error.startswith("ConnectionRefusedError")
    assert smtp_transport.messages == []

    smtp_transport.start()
    (success,) = celery_worker_on_redis.wait_for_tasks(1, name=DELIVER, state="SUCCESS", timeout=60)
    assert success.retval == "sent"
    (received,) = smtp_transport.wait_for(1)
    assert received["Message-ID"] == row.message_id
    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.SENT
    assert row.attempts == len(celery_worker_on_redis.finished)


def test_a_task_delivered_three_times_to_the_worker_sends_once(celery_worker_on_redis, smtp_transport):
    with transaction.atomic():
        row = services.queue_email(to=["ada@example.com"], subject="Twice", body_text="x", idempotency_key="k:twice")
        # As if the broker re-delivered the task (visibility timeout, lost ack): two more copies.
        transaction.on_commit(lambda: deliver_email.delay(row.pk))
        transaction.on_commit(lambda: deliver_email.delay(row.pk))

    runs = celery_worker_on_redis.wait_for_tasks(3, name=DELIVER)
    assert sorted(run.retval for run in runs) == ["sent", "skipped", "skipped"]
    (received,) = smtp_transport.messages
    assert received["Subject"] == "Twice"
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboundEmail.Status.SENT, 1)
