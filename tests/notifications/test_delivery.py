"""Every e-mail is a row first and is delivered by a task to a real SMTP server (aiosmtpd)."""

import base64
import threading
from datetime import timedelta
from typing import cast

import pytest
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from notifications import services
from notifications.models import OutboundEmail
from notifications.selectors import emails_for_user
from notifications.tasks import deliver_email, dispatch_queued_emails
from tests.factories import OutboundEmailFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ICS = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Italy From Couch//EN\r\nMETHOD:REQUEST\r\n"
    b"BEGIN:VEVENT\r\nUID:booking-42@italyfromcouch.example\r\nSEQUENCE:0\r\n"
    b"DTSTART:20260310T150000Z\r\nDTEND:20260310T163000Z\r\nSUMMARY:Trastevere at dusk\r\n"
    b"END:VEVENT\r\nEND:VCALENDAR\r\n"
)
PDF = b"%PDF-1.4\n\x00\x01\x02\xff binary bytes that must survive base64 both ways"


def _attachment_parts(message):
    return {part.get_filename(): part for part in message.iter_attachments()}


def test_send_mail_becomes_a_row_and_reaches_smtp_with_its_message_id_html_and_attachments(smtp_transport):
    message = mail.EmailMultiAlternatives(
        subject="Your tour: Trastevere at dusk",
        body="See you on 10 March.\nhttps://italyfromcouch.example/bookings/42/",
        to=["ada@example.com"],
        bcc=["audit@example.com"],
        reply_to=["guides@italyfromcouch.example"],
        headers={"X-Booking": "42"},
    )
    message.attach_alternative("<p>See you on <b>10 March</b>.</p>", "text/html")
    message.attach("invite.ics", ICS, "text/calendar; method=REQUEST")
    message.attach("receipt.pdf", PDF, "application/pdf")

    assert message.send() == 1

    row = OutboundEmail.objects.get()
    assert row.status == OutboundEmail.Status.SENT
    assert row.attempts == 1
    assert row.sent_at is not None
    assert row.to == ["ada@example.com"]
    assert row.bcc == ["audit@example.com"]
    assert [item["filename"] for item in row.attachments] == ["invite.ics", "receipt.pdf"]
    assert base64.b64decode(row.attachments[1]["content"]) == PDF

    (received,) = smtp_transport.wait_for(1)
    assert received["Message-ID"] == row.message_id
    assert received["Subject"] == "Your tour: Trastevere at dusk"
    assert received["Reply-To"] == "guides@italyfromcouch.example"
    assert received["X-Booking"] == "42"
    assert received["Bcc"] is None  # only in the envelope
    assert set(received.envelope_to) == {"ada@example.com", "audit@example.com"}
    body = received.message.get_body(preferencelist=("plain",))
    assert "https://italyfromcouch.example/bookings/42/" in body.get_content()
    html = received.message.get_body(preferencelist=("html",))
    assert html.get_content().strip() == "<p>See you on <b>10 March</b>.</p>"
    attachments = _attachment_parts(received.message)
    invite = attachments["invite.ics"]
    assert invite.get_content_type() == "text/calendar"
    assert invite.get_param("method") == "REQUEST"
    assert invite.get_content().replace("\r\n", "\n") == ICS.decode().replace("\r\n", "\n")
    assert attachments["receipt.pdf"].get_content_type() == "application/pdf"
    assert attachments["receipt.pdf"].get_content() == PDF


def test_send_mail_with_html_body_keeps_html_and_a_text_version(smtp_transport):
    message = mail.EmailMessage(subject="Welcome", body="<h1>Benvenuti</h1><p>Ciao!</p>", to=["bea@example.com"])
    message.content_subtype = "html"
    message.send()

    row = OutboundEmail.objects.get()
    assert row.body_html == "<h1>Benvenuti</h1><p>Ciao!</p>"
    assert row.body_text == "BenvenutiCiao!"
    (received,) = smtp_transport.wait_for(1)
    assert "<h1>Benvenuti</h1>" in received.message.get_body(preferencelist=("html",)).get_content()


def test_mail_to_a_user_is_listed_as_theirs(smtp_transport):
    user = cast(User, UserFactory(email="carla@example.com"))
    mail.send_mail("Hello", "Body", None, ["Carla <CARLA@example.com>"])
    mail.send_mail("Group", "Body", None, ["carla@example.com", "dario@example.com"])

    assert [row.subject for row in emails_for_user(user=user)] == ["Hello"]


def test_delivery_waits_for_commit(smtp_transport):
    with transaction.atomic():
        mail.send_mail("Booked", "Your seat is booked.", None, ["ada@example.com"])
        assert OutboundEmail.objects.get().status == OutboundEmail.Status.QUEUED
        assert smtp_transport.messages == []

    (received,) = smtp_transport.wait_for(1)
    assert received["Subject"] == "Booked"
    assert OutboundEmail.objects.get().status == OutboundEmail.Status.SENT


def test_rolled_back_transaction_stores_and_sends_nothing(smtp_transport):
    def book_then_fail():
        with transaction.atomic():
            mail.send_mail("Booked", "Your seat is booked.", None, ["ada@example.com"])
            raise RuntimeError("seat taken")

    with pytest.raises(RuntimeError, match="seat taken"):
        book_then_fail()

    services.redeliver_stale_emails(now=timezone.now() + timedelta(days=1))
    assert OutboundEmail.objects.count() == 0
    assert smtp_transport.messages == []


def test_smtp_outage_keeps_the_row_queued_and_the_dispatcher_delivers_it_once(smtp_transport, time_machine):
    smtp_transport.stop()

    # The caller (a web request in eager mode) is not disturbed by the outage.
    assert mail.send_mail("Reminder", "Tomorrow at 17:00", None, ["ada@example.com"]) == 1

    row = OutboundEmail.objects.get()
    assert row.status == OutboundEmail.Status.QUEUED
    assert row.attempts == 1
    assert row.last_error.startswith("ConnectionRefusedError")
    assert row.sent_at is None

    smtp_transport.start()
    assert dispatch_queued_emails.delay().get() == 0  # not stale yet: a retry may still be coming

    time_machine.move_to(timezone.now() + services.REDELIVER_AFTER + timedelta(seconds=1))
    assert dispatch_queued_emails.delay().get() == 1
    (received,) = smtp_transport.wait_for(1)
    assert received["Message-ID"] == row.message_id

    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.SENT
    assert row.attempts == 2

    time_machine.move_to(timezone.now() + services.REDELIVER_AFTER * 2)
    assert dispatch_queued_emails.delay().get() == 0
    assert len(smtp_transport.messages) == 1


def test_row_fails_after_max_attempts_and_staff_resend_delivers_it(smtp_transport, time_machine):
    smtp_transport.stop()
    mail.send_mail("Reminder", "Tomorrow at 17:00", None, ["ada@example.com"])
    for _ in range(services.MAX_ATTEMPTS - 1):
        time_machine.move_to(timezone.now() + services.REDELIVER_AFTER + timedelta(seconds=1))
        dispatch_queued_emails.delay()

    row = OutboundEmail.objects.get()
    assert row.attempts == services.MAX_ATTEMPTS
    assert row.status == OutboundEmail.Status.FAILED
    time_machine.move_to(timezone.now() + services.REDELIVER_AFTER * 2)
    assert dispatch_queued_emails.delay().get() == 0  # failed rows wait for a person

    smtp_transport.start()
    assert services.resend_failed(outbound_emails=OutboundEmail.objects.all(), now=timezone.now()) == 1
    (received,) = smtp_transport.wait_for(1)
    assert received["Message-ID"] == row.message_id
    row.refresh_from_db()
    assert row.status == OutboundEmail.Status.SENT


def test_the_same_task_delivered_twice_sends_once(smtp_transport):
    row = services.queue_email(to=["ada@example.com"], subject="Once", body_text="Only once.", idempotency_key="k:1")
    smtp_transport.wait_for(1)

    assert deliver_email.apply(args=(row.pk,)).get() == "skipped"
    assert deliver_email.apply(args=(row.pk,)).get() == "skipped"
    assert len(smtp_transport.messages) == 1
    row.refresh_from_db()
    assert row.attempts == 1


def test_concurrent_deliveries_of_one_row_send_it_once(smtp_transport):
    # A stored row whose task is then delivered six times at once (re-delivery, dispatcher, ...).
    row = OutboundEmailFactory()
    results = []
    barrier = threading.Barrier(6)

    def deliver():
        try:
            barrier.wait()
            results.append(deliver_email.apply(args=(row.pk,)).get())
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results) == ["sent"] + ["skipped"] * 5
    smtp_transport.wait_for(1)
    assert len(smtp_transport.messages) == 1


def test_a_claim_left_by_a_dead_worker_is_taken_over_after_the_lease(smtp_transport, time_machine):
    row = OutboundEmailFactory()
    # A worker claims it and dies before sending.
    assert services.claim_delivery(outbound_email_id=row.pk, now=timezone.now()) is not None

    assert deliver_email.apply(args=(row.pk,)).get() == "skipped"  # the claim is still live
    assert smtp_transport.messages == []

    time_machine.move_to(timezone.now() + services.REDELIVER_AFTER + timedelta(seconds=1))
    assert dispatch_queued_emails.delay().get() == 1
    (received,) = smtp_transport.wait_for(1)
    assert received["Message-ID"] == row.message_id
    row.refresh_from_db()
    assert (row.status, row.attempts) == (OutboundEmail.Status.SENT, 2)


def test_queue_email_with_the_same_key_twice_stores_and_sends_once(smtp_transport):
    first = services.queue_email(
        to=["ada@example.com"],
        subject="Reminder: tomorrow",
        body_text="Tomorrow at 17:00.",
        attachments=[("invite.ics", ICS, "text/calendar; method=REQUEST")],
        idempotency_key="reminder:booking:42:24h",
    )
    second = services.queue_email(
        to=["ada@example.com"],
        subject="Reminder: tomorrow (again)",
        body_text="Tomorrow at 17:00.",
        idempotency_key="reminder:booking:42:24h",
    )

    assert second.pk == first.pk
    assert OutboundEmail.objects.count() == 1
    (received,) = smtp_transport.wait_for(1)
    assert received["Subject"] == "Reminder: tomorrow"
    assert _attachment_parts(received.message)["invite.ics"].get_param("method") == "REQUEST"
    services.redeliver_stale_emails(now=timezone.now() + services.REDELIVER_AFTER * 2)
    assert len(smtp_transport.messages) == 1


def test_queue_email_with_one_key_from_parallel_callers_stores_and_sends_once(smtp_transport):
    barrier = threading.Barrier(5)
    rows = []

    def queue():
        try:
            barrier.wait()
            rows.append(
                services.queue_email(
                    to=["ada@example.com"], subject="Parallel", body_text="x", idempotency_key="k:parallel"
                ).pk
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=queue) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(rows) == 5
    assert len(set(rows)) == 1
    assert OutboundEmail.objects.count() == 1
    smtp_transport.wait_for(1)
    assert len(smtp_transport.messages) == 1


def test_outbox_transport_logs_the_message_and_marks_it_sent(settings, caplog):
    settings.EMAIL_TRANSPORT = "outbox"
    with caplog.at_level("INFO", logger="notifications.outbox"):
        mail.send_mail("Confirm your e-mail", "Click the link", None, ["new@example.com"])

    row = OutboundEmail.objects.get()
    assert row.status == OutboundEmail.Status.SENT
    (record,) = [record for record in caplog.records if record.name == "notifications.outbox"]
    assert "Confirm your e-mail" in record.getMessage()
    assert "new@example.com" in record.getMessage()
    assert row.message_id in record.getMessage()
