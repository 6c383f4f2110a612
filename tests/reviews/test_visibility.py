"""An unapproved review is visible to nobody but its author and staff: not on the tour page, not
on the guide page, not at its own address, not even to the guide it is about."""

import pytest
from django.test import Client

from tests.reviews.helpers import make_review, make_user, past_tour

pytestmark = pytest.mark.django_db

SECRET = "A pending review nobody else may read yet, not even the guide."


def client_for(user=None):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def pending():
    tour = past_tour()
    return tour, make_review(tour.booking, rating=2, text=SECRET, status="pending")


@pytest.fixture
def rejected():
    tour = past_tour()
    return tour, make_review(tour.booking, rating=1, text=SECRET, status="rejected", rejection_reason="Off topic.")


def pages(tour, review):
    return [tour.tour.get_absolute_url(), tour.slot.guide.get_absolute_url(), review.get_absolute_url()]


@pytest.mark.parametrize("state", ["pending", "rejected"])
def test_nobody_else_sees_it_anywhere(request, state):
    tour, review = request.getfixturevalue(state)
    outsiders = {
        "anonymous": client_for(),
        "another guest": client_for(make_user()),
        "the guide": client_for(tour.guide),
        "a guest of the same tour": client_for(tour.add_guest().user),
    }
    for who, client in outsiders.items():
        tour_page, guide_page, review_page = (client.get(url) for url in pages(tour, review))
        assert tour_page.status_code == guide_page.status_code == 200, who
        assert SECRET not in tour_page.content.decode(), who
        assert SECRET not in guide_page.content.decode(), who
        assert f'data-review="{review.pk}"' not in tour_page.content.decode(), who
        assert review_page.status_code == 404, who
        assert "data-no-reviews" in tour_page.content.decode(), who  # and it is not counted either


@pytest.mark.parametrize("state", ["pending", "rejected"])
def test_its_author_sees_it_and_is_told_it_is_not_public(request, state):
    tour, review = request.getfixturevalue(state)
    client = client_for(tour.guest)

    review_page = client.get(review.get_absolute_url())
    tour_page = client.get(tour.tour.get_absolute_url()).content.decode()

    assert review_page.status_code == 200
    assert SECRET in review_page.content.decode()
    assert "data-moderation-notice" in review_page.content.decode()
    assert f'data-own-review="{review.pk}"' in tour_page
    assert SECRET not in tour_page  # the notice links to it; the public list stays public-only
    if state == "rejected":
        assert "Reason: Off topic." in review_page.content.decode()


def test_staff_see_it_and_a_link_to_the_moderation_queue(pending):
    tour, review = pending
    staff = make_user(role="staff")
    client = client_for(staff)

    assert SECRET in client.get(review.get_absolute_url()).content.decode()
    tour_page = client.get(tour.tour.get_absolute_url()).content.decode()
    assert "data-staff-pending" in tour_page
    assert "1 review waits for moderation." in tour_page


def test_once_approved_everyone_sees_it(pending):
    tour, review = pending
    review.status = "approved"
    review.save()
    for client in (client_for(), client_for(make_user()), client_for(tour.guide)):
        for url in pages(tour, review):
            response = client.get(url)
            assert response.status_code == 200
            assert SECRET in response.content.decode()
