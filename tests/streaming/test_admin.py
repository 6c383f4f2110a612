"""Staff see live sessions by status and manage bans in the admin; the lifecycle stays read-only."""

from datetime import timedelta

import pytest
from django.urls import reverse

from streaming.models import LiveSession, SessionBan
from streaming.services import end_session, go_live
from tests.factories import TourFactory
from tests.streaming.conftest import END, START, make_session, make_slot, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    return client


def _titles(response) -> set[str]:
    return {str(session.slot.tour) for session in response.context["cl"].result_list}


def test_the_session_list_filters_by_status(staff_client, live):
    live.slot.tour.title = "Colosseum at dawn"
    live.slot.tour.save()
    go_live(user=live.guide, session_id=live.session.pk, now=START)
    ended = make_session(slot=make_slot(tour=TourFactory(title="Uffizi highlights"), start=START, end=END))
    end_session(user=ended.slot.guide.user, session_id=ended.pk, reason=LiveSession.EndedReason.COMPLETED, now=END)
    make_session(slot=make_slot(tour=TourFactory(title="Venice by night"), start=START, end=END))
    url = reverse("admin:streaming_livesession_changelist")

    assert _titles(staff_client.get(url)) == {"Colosseum at dawn", "Uffizi highlights", "Venice by night"}
    assert _titles(staff_client.get(url, {"status__exact": "live"})) == {"Colosseum at dawn"}
    assert _titles(staff_client.get(url, {"ended_reason__exact": "completed"})) == {"Uffizi highlights"}


def test_the_lifecycle_fields_cannot_be_edited_in_the_admin(staff_client, live):
    url = reverse("admin:streaming_livesession_change", args=[live.session.pk])

    response = staff_client.post(
        url,
        {
            "status": "ended",
            "publisher_epoch": "9",
            "grace_minutes": "2",
            "bans-TOTAL_FORMS": "0",
            "bans-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    session = live.reload()
    assert (session.status, session.publisher_epoch, session.grace_minutes) == ("scheduled", 0, 2)
    assert staff_client.get(reverse("admin:streaming_livesession_add")).status_code == 403


def test_grace_above_five_minutes_is_refused_in_the_admin(staff_client, live):
    url = reverse("admin:streaming_livesession_change", args=[live.session.pk])

    response = staff_client.post(url, {"grace_minutes": "6", "bans-TOTAL_FORMS": "0", "bans-INITIAL_FORMS": "0"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "grace_minutes": ["Ensure this value is less than or equal to 5."]
    }
    assert live.reload().grace_minutes == 5


def test_a_ban_added_in_the_admin_records_who_added_it(staff_client, staff, live):
    troll = make_user()

    response = staff_client.post(
        reverse("admin:streaming_sessionban_add"),
        {"session": live.session.pk, "user": troll.pk, "reason": "Spam links"},
    )

    assert response.status_code == 302
    assert list(SessionBan.objects.values_list("session_id", "user_id", "by_id", "reason")) == [
        (live.session.pk, troll.pk, staff.pk, "Spam links")
    ]
    assert staff_client.get(reverse("admin:streaming_sessionban_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:streaming_viewerpresence_changelist")).status_code == 200


def test_a_ban_added_inline_on_the_session_records_who_added_it(staff_client, staff, live):
    troll = make_user()
    url = reverse("admin:streaming_livesession_change", args=[live.session.pk])

    response = staff_client.post(
        url,
        {
            "grace_minutes": "5",
            "bans-TOTAL_FORMS": "1",
            "bans-INITIAL_FORMS": "0",
            "bans-0-user": troll.pk,
            "bans-0-reason": "Harassment",
            "bans-0-session": live.session.pk,
        },
    )

    assert response.status_code == 302
    assert list(SessionBan.objects.values_list("user_id", "by_id", "reason")) == [(troll.pk, staff.pk, "Harassment")]
    assert (live.reload().grace_minutes, timedelta(minutes=5)) == (5, live.session.grace)
