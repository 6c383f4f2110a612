"""Who may read a tour's summary, and who may edit its highlights and photos (403 for the rest)."""

import pytest
from django.test import Client
from django.urls import reverse

from streaming.models import SessionBan
from tests.factories import GuideProfileFactory
from tests.reviews.helpers import make_user, past_tour

pytestmark = pytest.mark.django_db


def client_for(user=None):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def summary_url(tour):
    return reverse("streaming:keepsake", kwargs={"session_id": tour.session.pk})


def edit_url(tour):
    return reverse("streaming:keepsake_edit", kwargs={"session_id": tour.session.pk})


def test_attendees_the_guide_and_staff_read_the_summary():
    tour = past_tour()
    for person in (tour.guest, tour.guide, make_user(role="staff")):
        response = client_for(person).get(summary_url(tour))
        assert response.status_code == 200, person
        assert f'data-keepsake="{tour.session.pk}"' in response.content.decode()


def test_people_who_did_not_attend_are_refused_with_a_reason():
    tour = past_tour(reason="guide_ended", present=False)  # booked, never joined
    strangers = (tour.guest, make_user(), GuideProfileFactory().user)
    for person in strangers:
        response = client_for(person).get(summary_url(tour))
        assert response.status_code == 403
        assert "The summary of a tour is for the guests who took part in it." in response.content.decode()


def test_the_summary_waits_for_the_end_of_the_tour_for_guests():
    tour = past_tour(ended=False)
    assert client_for(tour.guest).get(summary_url(tour)).status_code == 403
    assert client_for(tour.guide).get(summary_url(tour)).status_code == 200  # a preview while it runs


def test_a_guest_removed_from_the_tour_does_not_get_its_summary():
    tour = past_tour()
    SessionBan.objects.create(session=tour.session, user=tour.guest, by=tour.guide)
    response = client_for(tour.guest).get(summary_url(tour))
    assert response.status_code == 403
    assert "You have been removed from this live tour." in response.content.decode()


def test_anonymous_visitors_log_in_first_and_unknown_sessions_are_404():
    tour = past_tour()
    response = client_for().get(summary_url(tour))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    missing = reverse("streaming:keepsake", kwargs={"session_id": tour.session.pk + 1000})
    assert client_for(tour.guest).get(missing).status_code == 404


def test_only_the_slots_guide_and_staff_edit_the_keepsakes():
    tour = past_tour()
    for person in (tour.guest, make_user(), GuideProfileFactory().user):
        client = client_for(person)
        assert client.get(edit_url(tour)).status_code == 403
        response = client.post(edit_url(tour), {"action": "highlights", "highlights": "Hijacked"})
        assert response.status_code == 403
        assert "Only the guide of this tour can add its highlights and photos." in response.content.decode()
    assert not hasattr(tour.session, "keepsake") or tour.session.keepsake.highlights == ""
    for person in (tour.guide, make_user(role="staff")):
        assert client_for(person).get(edit_url(tour)).status_code == 200


def test_the_guide_can_edit_the_keepsakes_while_the_tour_is_live():
    tour = past_tour(ended=False)
    assert client_for(tour.guide).get(edit_url(tour)).status_code == 200


def test_the_guides_dashboard_links_to_recent_tours_keepsakes():
    tour = past_tour()
    html = client_for(tour.guide).get(reverse("bookings:dashboard")).content.decode()
    assert edit_url(tour) in html
    assert summary_url(tour) in html
