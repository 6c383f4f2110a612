"""The guide may reply once to a published review, from the review itself or their dashboard."""

import pytest
from django.test import Client
from django.urls import reverse

from notifications.models import Notification
from reviews import services
from reviews.models import Review
from reviews.selectors import ReviewError, ReviewNotAllowed
from tests.factories import GuideProfileFactory
from tests.reviews.helpers import LONG_ENOUGH, make_review, make_user, past_tour

pytestmark = pytest.mark.django_db


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def published():
    tour = past_tour()
    return tour, make_review(tour.booking, rating=4, text=LONG_ENOUGH, status="approved")


def reply_url(review):
    return reverse("reviews:reply", kwargs={"pk": review.pk})


def test_the_guide_replies_from_the_review_page_and_everyone_sees_the_reply(published):
    tour, review = published
    client = client_for(tour.guide)
    page = client.get(review.get_absolute_url()).content.decode()
    assert 'id="reply"' in page

    response = client.post(reply_url(review), {"text": "Grazie mille, Ada! <b>Come back</b> soon."})

    assert response.status_code == 302
    assert response["Location"] == review.get_absolute_url()
    review.refresh_from_db()
    assert review.guide_reply == "Grazie mille, Ada! <b>Come back</b> soon."
    assert review.replied_at is not None
    public = Client().get(tour.tour.get_absolute_url()).content.decode()
    assert "Grazie mille, Ada! &lt;b&gt;Come back&lt;/b&gt; soon." in public  # escaped
    assert Notification.objects.filter(user=tour.guest, kind="review_reply").count() == 1


def test_only_once(published):
    tour, review = published
    services.reply_to_review(by=tour.guide, review_id=review.pk, text="First and only reply.")

    with pytest.raises(ReviewNotAllowed) as refusal:
        services.reply_to_review(by=tour.guide, review_id=review.pk, text="A second thought.")
    assert refusal.value.code == "already_replied"

    response = client_for(tour.guide).post(reply_url(review), {"text": "A third try."})
    assert response.status_code == 403
    assert Review.objects.get(pk=review.pk).guide_reply == "First and only reply."
    assert 'id="reply"' not in client_for(tour.guide).get(review.get_absolute_url()).content.decode()


def test_nobody_but_the_guide_of_that_tour_replies(published):
    tour, review = published
    other_guide = make_user(role="guide")
    GuideProfileFactory(user=other_guide)
    for person in (tour.guest, other_guide, make_user(role="staff")):
        with pytest.raises(ReviewNotAllowed) as refusal:
            services.reply_to_review(by=person, review_id=review.pk, text="Not my place to answer.")
        assert refusal.value.code == "not_guide"
        assert client_for(person).post(reply_url(review), {"text": "Not mine."}).status_code == 403
    assert Review.objects.get(pk=review.pk).guide_reply == ""


def test_a_review_that_is_not_published_cannot_be_answered_nor_seen_by_the_guide():
    tour = past_tour()
    review = make_review(tour.booking, status="pending")
    with pytest.raises(ReviewNotAllowed) as refusal:
        services.reply_to_review(by=tour.guide, review_id=review.pk, text="Thanks!")
    assert refusal.value.code == "not_found"
    assert client_for(tour.guide).post(reply_url(review), {"text": "Thanks!"}).status_code == 404


def test_an_empty_reply_is_a_form_error(published):
    tour, review = published
    response = client_for(tour.guide).post(reply_url(review), {"text": "   "})
    assert response.status_code == 400
    assert "Write a reply first." in response.content.decode()
    with pytest.raises(ReviewError):
        services.reply_to_review(by=tour.guide, review_id=review.pk, text="x" * 2001)


def test_the_dashboard_lists_unanswered_reviews_first_with_a_reply_form(published):
    tour, answered = published
    services.reply_to_review(by=tour.guide, review_id=answered.pk, text="Thank you!")
    waiting = make_review(tour.add_guest(), rating=3, status="approved")
    dashboard = reverse("reviews:guide_reviews")
    client = client_for(tour.guide)

    html = client.get(dashboard).content.decode()
    assert html.index(f'data-review="{waiting.pk}"') < html.index(f'data-review="{answered.pk}"')
    assert html.count("data-reply-form") == 1
    assert reverse("reviews:guide_reviews") in client.get(reverse("bookings:dashboard")).content.decode()

    response = client.post(reply_url(waiting), {"text": "Glad you came!", "next": dashboard})
    assert response["Location"] == dashboard
    assert Review.objects.get(pk=waiting.pk).guide_reply == "Glad you came!"


def test_the_next_address_must_stay_on_this_site(published):
    tour, review = published
    response = client_for(tour.guide).post(reply_url(review), {"text": "Thanks!", "next": "https://evil.example/"})
    assert response["Location"] == review.get_absolute_url()


def test_the_dashboard_is_for_guides():
    response = client_for(make_user()).get(reverse("reviews:guide_reviews"))
    assert response.status_code == 403
