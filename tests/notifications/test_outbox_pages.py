"""The developer outbox: where a newcomer reads the e-mails the site sent (embedded default only)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications.models import OutboundEmail, StoredAttachment
from tests.factories import DEMO_PASSWORD, OutboundEmailFactory, UserFactory

pytestmark = pytest.mark.django_db

# Strict CSP: scripts only from files, no <style> blocks or style attributes.
INLINE_SCRIPT_OR_STYLE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=", re.IGNORECASE)
ICS = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def _outbox_urls(row):
    return [
        reverse("notifications:outbox"),
        reverse("notifications:outbox_detail", args=[row.pk]),
        reverse("notifications:outbox_attachment", args=[row.pk, 0]),
    ]


def _with_attachment(**kwargs):
    attachment = StoredAttachment(filename="invite.ics", content=ICS, mimetype="text/calendar; method=REQUEST")
    return OutboundEmailFactory(attachments=[attachment.to_json()], **kwargs)


def test_outbox_lists_messages_newest_first_to_anyone(client, settings):
    settings.SHOW_DEV_OUTBOX = True
    older = OutboundEmailFactory(subject="Confirm your e-mail address", to=["new@example.com"])
    OutboundEmail.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=1))
    OutboundEmailFactory(subject="Your tour is booked", to=["ada@example.com"], status=OutboundEmail.Status.SENT)

    response = client.get(reverse("notifications:outbox"))

    assert response.status_code == 200
    page = response.content.decode()
    assert page.index("Your tour is booked") < page.index("Confirm your e-mail address")
    assert "new@example.com" in page
    assert "ada@example.com" in page
    assert "Sent" in page
    assert "Queued" in page
    assert reverse("notifications:outbox_detail", args=[older.pk]) in page
    assert "Content-Security-Policy" in response.headers
    assert INLINE_SCRIPT_OR_STYLE.search(page) is None


def test_outbox_message_shows_text_with_clickable_escaped_links_and_attachments(client, settings):
    settings.SHOW_DEV_OUTBOX = True
    row = _with_attachment(
        subject="Confirm your e-mail address",
        body_text='Hi <script>alert("x")</script>,\nconfirm: http://localhost:8000/accounts/confirm-email/abc123/\n',
        body_html="<p>Hi <b>there</b></p>",
        status=OutboundEmail.Status.FAILED,
        last_error="SMTPServerDisconnected: Connection unexpectedly closed",
        attempts=9,
    )

    response = client.get(reverse("notifications:outbox_detail", args=[row.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert '<a href="http://localhost:8000/accounts/confirm-email/abc123/"' in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert INLINE_SCRIPT_OR_STYLE.search(page) is None
    assert "&lt;p&gt;Hi &lt;b&gt;there&lt;/b&gt;&lt;/p&gt;" in page  # HTML shown as source
    assert row.message_id.replace("<", "&lt;").replace(">", "&gt;") in page
    assert "SMTPServerDisconnected" in page
    assert "invite.ics" in page
    assert reverse("notifications:outbox_attachment", args=[row.pk, 0]) in page


def test_outbox_attachment_downloads_with_its_content_and_type(client, settings):
    settings.SHOW_DEV_OUTBOX = True
    row = _with_attachment()

    response = client.get(reverse("notifications:outbox_attachment", args=[row.pk, 0]))

    assert response.status_code == 200
    assert response.content == ICS
    assert response["Content-Type"] == "text/calendar; method=REQUEST"
    assert response["Content-Disposition"] == 'attachment; filename="invite.ics"'
    assert "sandbox" in response["Content-Security-Policy"]
    assert client.get(reverse("notifications:outbox_attachment", args=[row.pk, 1])).status_code == 404


def test_unknown_message_is_404(client, settings):
    settings.SHOW_DEV_OUTBOX = True
    assert client.get(reverse("notifications:outbox_detail", args=[999999])).status_code == 404


@pytest.mark.parametrize("who", ["anonymous", "customer", "staff"])
def test_outbox_is_404_for_everyone_when_show_dev_outbox_is_off(client, settings, who):
    settings.SHOW_DEV_OUTBOX = False
    row = _with_attachment()
    if who != "anonymous":
        client.force_login(UserFactory(is_staff=who == "staff", is_superuser=who == "staff"))

    assert [client.get(url).status_code for url in _outbox_urls(row)] == [404, 404, 404]


def test_outbox_is_open_without_an_account_when_show_dev_outbox_is_on(client, settings):
    settings.SHOW_DEV_OUTBOX = True
    row = _with_attachment()

    assert [client.get(url).status_code for url in _outbox_urls(row)] == [200, 200, 200]


def test_a_newcomer_reads_the_sign_up_e_mail_in_the_outbox_and_follows_its_link(
    client, settings, django_capture_on_commit_callbacks
):
    settings.SHOW_DEV_OUTBOX = True
    settings.EMAIL_TRANSPORT = "outbox"
    with django_capture_on_commit_callbacks(execute=True):
        signed_up = client.post(
            reverse("account_signup"),
            {"email": "newcomer@example.com", "password1": DEMO_PASSWORD, "password2": DEMO_PASSWORD},
        )
    assert signed_up.status_code == 302

    outbox = client.get(reverse("notifications:outbox")).content.decode()
    row = OutboundEmail.objects.get(to=["newcomer@example.com"])
    assert row.status == OutboundEmail.Status.SENT
    assert row.user is not None
    assert row.user.email == "newcomer@example.com"
    assert reverse("notifications:outbox_detail", args=[row.pk]) in outbox
    detail = client.get(reverse("notifications:outbox_detail", args=[row.pk])).content.decode()
    link = re.search(r'<a href="http://testserver(/accounts/confirm-email/[^"]+)"', detail)
    assert link is not None, detail

    confirm_page = client.get(link.group(1))
    assert confirm_page.status_code == 200
    assert "newcomer@example.com" in confirm_page.content.decode()
