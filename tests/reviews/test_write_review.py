"""Writing a review: only a guest who attended, once per booking, with clear form errors."""

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from reviews import services
from reviews.models import Review
from reviews.selectors import ReviewError, ReviewNotAllowed
from tests.reviews.helpers import LONG_ENOUGH, make_review, make_user, past_tour

pytestmark = pytest.mark.django_db


def write_url(booking):
    return reverse("reviews:write", kwargs={"booking_id": booking.pk})


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_an_attendee_rates_and_writes_a_review_that_waits_for_moderation():
    tour = past_tour()
    client = client_for(tour.guest)

    page = client.get(write_url(tour.booking))
    assert page.status_code == 200
    assert 'name="rating"' in page.content.decode()

    response = client.post(write_url(tour.booking), {"rating": "4", "text": f"  {LONG_ENOUGH}  "})

    review = Review.objects.get(booking=tour.booking)
    assert response.status_code == 302
    assert response["Location"] == review.get_absolute_url()
    assert (review.rating, review.text, review.status) == (4, LONG_ENOUGH, "pending")
    assert (review.tour, review.guide, review.author) == (tour.tour, tour.slot.guide, tour.guest)


def test_a_rating_alone_is_a_review():
    tour = past_tour()
    client_for(tour.guest).post(write_url(tour.booking), {"rating": "5", "text": ""})
    assert Review.objects.get(booking=tour.booking).text == ""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"text": LONG_ENOUGH}, "Choose between 1 and 5 stars."),
        ({"rating": "6", "text": ""}, "Select a valid choice."),
        ({"rating": "3", "text": "Too short"}, "Write at least 20 characters (you wrote 9), or leave the text empty."),
        ({"rating": "3", "text": "x" * 2001}, "Keep it under 2000 characters (you wrote 2001)."),
    ],
)
def test_bad_input_comes_back_with_a_clear_error_and_writes_nothing(data, message):
    tour = past_tour()

    response = client_for(tour.guest).post(write_url(tour.booking), data)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Review.objects.exists()


def test_a_guest_who_did_not_attend_is_refused_with_a_reason():
    tour = past_tour(reason="guide_ended", present=False)  # booked, never joined, stopped early
    client = client_for(tour.guest)

    for response in (client.get(write_url(tour.booking)), client.post(write_url(tour.booking), {"rating": "1"})):
        assert response.status_code == 403
        assert "Only guests who took part in the tour can review it" in response.content.decode()
    assert not Review.objects.exists()


def test_nobody_reviews_a_tour_before_it_is_over():
    tour = past_tour(ended=False)
    response = client_for(tour.guest).post(write_url(tour.booking), {"rating": "5"})
    assert response.status_code == 403
    assert not Review.objects.exists()


def test_someone_elses_booking_looks_like_no_booking():
    tour = past_tour()
    response = client_for(make_user()).post(write_url(tour.booking), {"rating": "1"})
    assert response.status_code == 404
    assert not Review.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in():
    tour = past_tour()
    response = Client().get(write_url(tour.booking))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


def test_the_service_refuses_non_attendees_whatever_the_view_does():
    tour = past_tour(reason="guide_ended", present=False)
    with pytest.raises(ReviewNotAllowed) as refusal:
        services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=5)
    assert refusal.value.code == "not_attended"


def test_the_guide_cannot_review_their_own_tour():
    tour = past_tour()
    own = tour.add_guest(user=tour.guide)
    with pytest.raises(ReviewNotAllowed) as refusal:
        services.submit_review(author=tour.guide, booking_id=own.pk, rating=5)
    assert refusal.value.code == "own_tour"


def test_once_per_booking_a_second_review_is_refused_and_the_page_shows_the_first():
    tour = past_tour()
    first = services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=5)

    with pytest.raises(ReviewNotAllowed) as refusal:
        services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=1, text=LONG_ENOUGH)
    assert refusal.value.code == "already_reviewed"

    client = client_for(tour.guest)
    response = client.post(write_url(tour.booking), {"rating": "1"})
    assert response.status_code == 302
    assert response["Location"] == first.get_absolute_url()
    assert Review.objects.filter(booking=tour.booking).count() == 1
    assert Review.objects.get().rating == 5


def test_the_database_itself_keeps_one_review_per_booking():
    tour = past_tour()
    make_review(tour.booking)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_review(tour.booking)


def test_the_database_refuses_a_short_text_or_a_rating_outside_1_to_5():
    tour = past_tour(guests=2)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_review(tour.bookings[0], text="too short")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_review(tour.bookings[1], rating=0)


def test_the_service_checks_the_rating_and_the_text_too():
    tour = past_tour()
    with pytest.raises(ReviewError) as bad_rating:
        services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=9)
    with pytest.raises(ReviewError) as short:
        services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=3, text="meh")
    assert (bad_rating.value.code, short.value.code) == ("bad_rating", "too_short")


def test_the_booking_page_offers_the_review_after_the_tour_and_then_shows_it():
    tour = past_tour()
    client = client_for(tour.guest)
    booking_url = tour.booking.get_absolute_url()

    before = client.get(booking_url).content.decode()
    assert f'data-write-review="{tour.booking.pk}"' in before
    assert reverse("streaming:keepsake", kwargs={"session_id": tour.session.pk}) in before

    services.submit_review(author=tour.guest, booking_id=tour.booking.pk, rating=4)
    after = client.get(booking_url).content.decode()
    assert "data-write-review" not in after
    assert "data-your-review" in after
