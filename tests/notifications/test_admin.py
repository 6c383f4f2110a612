"""Staff read outbound e-mail in the admin and re-send the ones that failed."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from notifications.models import OutboundEmail
from tests.factories import OutboundEmailFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_filters_and_searches_by_recipient_and_subject(staff_client):
    OutboundEmailFactory(subject="Reminder: Trastevere", to=["ada@example.com"], status=OutboundEmail.Status.SENT)
    OutboundEmailFactory(subject="Welcome", to=["bruno@example.com"], status=OutboundEmail.Status.FAILED)
    url = reverse("admin:notifications_outboundemail_changelist")

    everything = staff_client.get(url).content.decode()
    failed = staff_client.get(url, {"status__exact": "failed"}).content.decode()
    by_recipient = staff_client.get(url, {"q": "ADA@example"}).content.decode()
    by_subject = staff_client.get(url, {"q": "welcome"}).content.decode()

    assert "Reminder: Trastevere" in everything
    assert "Welcome" in everything
    assert "Welcome" in failed
    assert "Reminder: Trastevere" not in failed
    assert "Reminder: Trastevere" in by_recipient
    assert "bruno@example.com" not in by_recipient
    assert "bruno@example.com" in by_subject
    assert "ada@example.com" not in by_subject


def test_admin_is_read_only(staff_client):
    row = OutboundEmailFactory()

    assert staff_client.get(reverse("admin:notifications_outboundemail_add")).status_code == 403
    detail = staff_client.get(reverse("admin:notifications_outboundemail_change", args=[row.pk]))
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert staff_client.post(reverse("admin:notifications_outboundemail_delete", args=[row.pk])).status_code == 403
    assert OutboundEmail.objects.filter(pk=row.pk).exists()


def test_resend_failed_action_requeues_only_failed_rows_and_delivers_them(
    staff_client, smtp_transport, django_capture_on_commit_callbacks
):
    failed = OutboundEmailFactory(subject="Failed one", status=OutboundEmail.Status.FAILED, attempts=9)
    sent = OutboundEmailFactory(subject="Sent one", status=OutboundEmail.Status.SENT, attempts=1)

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:notifications_outboundemail_changelist"),
            {"action": "resend_failed", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "1 failed e-mail queued again." in response.content.decode()
    (received,) = smtp_transport.wait_for(1)
    assert received["Subject"] == "Failed one"
    assert received["Message-ID"] == failed.message_id
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (OutboundEmail.Status.SENT, 1)
    assert (sent.status, sent.attempts) == (OutboundEmail.Status.SENT, 1)


def test_resend_action_is_not_offered_without_change_permission(client):
    user = UserFactory(is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_outboundemail"))
    client.force_login(user)

    response = client.get(reverse("admin:notifications_outboundemail_changelist"))

    assert response.status_code == 200
    assert "resend_failed" not in response.content.decode()
