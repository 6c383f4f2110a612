"""Published reviews on the tour and guide pages: average, count, distribution, sort, filter, pages."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reviews import selectors
from reviews.rules import ReviewSort
from tests.reviews.helpers import LONG_ENOUGH, make_review, make_tour, past_tour

pytestmark = pytest.mark.django_db


def reviewed_tour(ratings_and_texts, *, tour=None, statuses=None):
    """One past tour with a guest per rating; reviews written a day apart (the first is oldest)."""
    past = past_tour(tour=tour, guests=len(ratings_and_texts))
    start = timezone.now() - timedelta(days=30)
    reviews = []
    for index, (booking, (rating, text)) in enumerate(zip(past.bookings, ratings_and_texts, strict=True)):
        status = statuses[index] if statuses else "approved"
        reviews.append(
            make_review(booking, rating=rating, text=text, status=status, created_at=start + timedelta(days=index))
        )
    return past, reviews


def test_summary_counts_only_published_reviews():
    past, _ = reviewed_tour(
        [(5, ""), (4, LONG_ENOUGH), (4, ""), (1, LONG_ENOUGH), (1, "")],
        statuses=["approved", "approved", "approved", "approved", "pending"],
    )
    summary = selectors.rating_summary_of(tour=past.tour)
    assert summary.count == 4
    assert summary.average == pytest.approx(3.5)
    assert summary.distribution == ((5, 1, 25), (4, 2, 50), (3, 0, 0), (2, 0, 0), (1, 1, 25))


def test_tour_page_shows_average_count_and_distribution():
    past, _ = reviewed_tour([(5, ""), (4, LONG_ENOUGH), (3, "")])
    html = Client().get(past.tour.get_absolute_url()).content.decode()
    assert re.search(r"data-review-average>4\.0<", html)
    assert re.search(r"data-review-count>3 reviews<", html)
    assert 'aria-label="4 out of 5 stars"' in html
    for stars, count in ((5, 1), (4, 1), (3, 1), (2, 0), (1, 0)):
        row = re.search(rf'<tr data-stars="{stars}">.*?data-count>(\d+)<', html, re.S)
        assert row is not None
        assert int(row.group(1)) == count


def order_on_page(html):
    return [int(number) for number in re.findall(r'data-rating="(\d)"', html)]


def test_sorting_most_recent_highest_lowest_and_with_text_only():
    # Written in this order (oldest first): 3, 5 (text), 1 (text), 4
    past, _ = reviewed_tour([(3, ""), (5, LONG_ENOUGH), (1, LONG_ENOUGH), (4, "")])
    url = past.tour.get_absolute_url()
    client = Client()

    assert order_on_page(client.get(url).content.decode()) == [4, 1, 5, 3]  # most recent first
    assert order_on_page(client.get(url, {"sort": "highest"}).content.decode()) == [5, 4, 3, 1]
    assert order_on_page(client.get(url, {"sort": "lowest"}).content.decode()) == [1, 3, 4, 5]
    assert order_on_page(client.get(url, {"with_text": "on"}).content.decode()) == [1, 5]
    assert order_on_page(client.get(url, {"sort": "highest", "with_text": "on"}).content.decode()) == [5, 1]
    # A made-up sort falls back to the default instead of failing.
    response = client.get(url, {"sort": "nonsense"})
    assert response.status_code == 200
    assert order_on_page(response.content.decode()) == [4, 1, 5, 3]


def test_equal_ratings_sort_newest_first():
    past, reviews = reviewed_tour([(5, ""), (5, ""), (2, "")])
    ordered = selectors.sorted_reviews(
        selectors.published_reviews(tour=past.tour), sort=ReviewSort.HIGHEST, with_text=False
    )
    assert [review.pk for review in ordered] == [reviews[1].pk, reviews[0].pk, reviews[2].pk]


def test_pages_of_ten_keep_the_sort_in_their_links():
    past, _ = reviewed_tour([(1 + index % 5, "") for index in range(12)])
    client = Client()
    first = client.get(past.tour.get_absolute_url(), {"sort": "lowest"}).content.decode()
    assert len(order_on_page(first)) == 10
    assert "Page 1 of 2" in first
    assert 'href="?sort=lowest&amp;page=2#reviews"' in first
    second = client.get(past.tour.get_absolute_url(), {"sort": "lowest", "page": "2"}).content.decode()
    assert order_on_page(second) == [5, 5]
    assert client.get(past.tour.get_absolute_url(), {"page": "999"}).status_code == 200  # the last page


def test_guide_page_aggregates_every_tour_of_the_guide_and_names_the_tour():
    first, _ = reviewed_tour([(5, LONG_ENOUGH)])
    second_tour = make_tour(guide=first.tour.guide, title="Trastevere by night")
    reviewed_tour([(3, "")], tour=second_tour)
    reviewed_tour([(1, "")])  # another guide's

    html = Client().get(first.tour.guide.get_absolute_url()).content.decode()
    assert re.search(r"data-review-average>4\.0<", html)
    assert re.search(r"data-review-count>2 reviews<", html)
    assert "Trastevere by night" in html
    assert order_on_page(html) == [3, 5]


def test_the_review_section_costs_a_fixed_number_of_queries(client):
    few, _ = reviewed_tour([(5, LONG_ENOUGH)] * 2)
    many, _ = reviewed_tour([(4, LONG_ENOUGH)] * 10)
    with CaptureQueriesContext(connection) as small:
        client.get(few.tour.get_absolute_url())
    with CaptureQueriesContext(connection) as large:
        client.get(many.tour.get_absolute_url())
    assert len(large.captured_queries) == len(small.captured_queries)


def test_a_tour_without_reviews_says_so():
    html = Client().get(make_tour().get_absolute_url()).content.decode()
    assert "No reviews yet." in html
    assert "data-review-average" not in html
