import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import GuideProfileFactory, LanguageFactory, TourFactory

pytestmark = pytest.mark.django_db

TOUR_LIST = reverse("bookings:tour_list")


def titles(response) -> list[str]:
    return [tour.title for tour in response.context["page_obj"].object_list]


def test_home_pitches_the_site_and_features_published_tours_only(client):
    TourFactory(title="Colosseum at Dawn")
    TourFactory(title="Secret Draft", status="draft")

    response = client.get(reverse("bookings:home"))

    assert response.status_code == 200
    assert [tour.title for tour in response.context["featured_tours"]] == ["Colosseum at Dawn"]
    assert b"Colosseum at Dawn" in response.content
    assert b"Secret Draft" not in response.content
    assert reverse("bookings:tour_list").encode() in response.content


def test_home_features_at_most_six_tours(client):
    TourFactory.create_batch(8)
    assert len(client.get(reverse("bookings:home")).context["featured_tours"]) == 6


def test_tour_list_shows_published_tours_but_not_drafts_or_cancelled(client):
    TourFactory(title="Published walk")
    TourFactory(title="Draft walk", status="draft")
    TourFactory(title="Cancelled walk", status="cancelled")

    response = client.get(TOUR_LIST)

    assert titles(response) == ["Published walk"]
    assert b"Draft walk" not in response.content


def test_card_shows_price_with_currency_or_free(client):
    TourFactory(title="Paid", price=Decimal("25.00"), currency="EUR")
    TourFactory(title="Gratis", price=0)

    content = client.get(TOUR_LIST).content.decode()

    assert "25.00 EUR" in content
    assert re.search(r'price">\s*Free', content)


def test_filter_by_category(client):
    TourFactory(title="Food", category="food")
    TourFactory(title="Art", category="art")
    assert titles(client.get(TOUR_LIST, {"category": "food"})) == ["Food"]


def test_filter_by_city_ignores_case(client):
    TourFactory(title="Roman", city="Rome")
    TourFactory(title="Venetian", city="Venice")
    assert titles(client.get(TOUR_LIST, {"city": "venice"})) == ["Venetian"]


def test_filter_by_language_code(client):
    italian = LanguageFactory(code="it", name="Italian")
    TourFactory(title="English only")
    TourFactory(title="Bilingual", languages=[LanguageFactory(), italian])
    assert titles(client.get(TOUR_LIST, {"language": "it"})) == ["Bilingual"]


def test_filter_by_guide_slug(client):
    giulia = GuideProfileFactory(display_name="Giulia Rossi")
    TourFactory(title="Giulia's", guide=giulia)
    TourFactory(title="Someone else's")
    assert titles(client.get(TOUR_LIST, {"guide": giulia.slug})) == ["Giulia's"]


@pytest.mark.parametrize(
    ("field", "value", "query"),
    [
        ("title", "Underground Naples", "underground"),
        ("summary", "Forty metres below the old town", "METRES BELOW"),
        ("description", "Greek cisterns and Roman walls", "cisterns"),
        ("city", "Naples", "napl"),
    ],
)
def test_search_looks_in_tour_text_ignoring_case(client, field, value, query):
    match = TourFactory.create(**{"title": "Match", field: value})
    TourFactory(title="Other tour", summary="Nothing here", description="", city="Rome")

    assert titles(client.get(TOUR_LIST, {"q": query})) == [match.title]


def test_search_finds_tours_by_the_guides_name(client):
    TourFactory(title="With Marco", guide=GuideProfileFactory(display_name="Marco Esposito"))
    TourFactory(title="With someone else")
    assert titles(client.get(TOUR_LIST, {"q": "esposito"})) == ["With Marco"]


def test_filters_and_search_combine(client):
    TourFactory(title="Rome food", city="Rome", category="food")
    TourFactory(title="Rome art", city="Rome", category="art")
    TourFactory(title="Venice food", city="Venice", category="food")
    TourFactory(title="Rome food night", city="Rome", category="food", summary="After dark")

    response = client.get(TOUR_LIST, {"city": "Rome", "category": "food", "q": "food"})

    assert titles(response) == ["Rome food", "Rome food night"]
    assert titles(client.get(TOUR_LIST, {"city": "Rome", "category": "food", "q": "dark"})) == ["Rome food night"]


@pytest.mark.parametrize(
    "params",
    [
        {"category": "spaceflight"},
        {"city": "Atlantis"},
        {"language": "xx"},
        {"guide": "no-such-guide"},
        {"q": "zzzz-nothing"},
        {"q": "x" * 500},  # over the field's limit: a form error, not a crash
        {"q": "nul\x00byte"},  # PostgreSQL refuses NUL in text: must be stopped before the query
        {"page": "not-a-number"},
    ],
)
def test_unknown_or_bad_filter_values_give_a_page_not_an_error(client, params):
    TourFactory(title="Some tour")
    response = client.get(TOUR_LIST, params)
    assert response.status_code == 200
    if "page" not in params:
        assert titles(response) == []
        assert b"No tours match your search." in response.content


def test_pages_hold_twelve_tours_and_page_links_keep_the_filters(client):
    for number in range(14):
        TourFactory(title=f"Food tour {number:02d}", category="food")
    TourFactory(title="Art tour", category="art")

    first = client.get(TOUR_LIST, {"category": "food", "q": "tour"})
    second = client.get(TOUR_LIST, {"category": "food", "q": "tour", "page": 2})

    assert len(titles(first)) == 12
    assert titles(second) == ["Food tour 12", "Food tour 13"]
    next_link = re.search(r'<a href="([^"]+)" rel="next"', first.content.decode())
    assert next_link is not None
    href = next_link.group(1).replace("&amp;", "&")
    assert "category=food" in href
    assert "q=tour" in href
    assert "page=2" in href
    assert titles(client.get(TOUR_LIST + href)) == ["Food tour 12", "Food tour 13"]


def test_a_page_past_the_end_shows_the_last_page(client):
    TourFactory.create_batch(13)
    assert len(titles(client.get(TOUR_LIST, {"page": 99}))) == 1


def test_filter_form_is_labelled_and_grouped_and_offers_only_values_with_tours(client):
    TourFactory(city="Florence", guide=GuideProfileFactory(display_name="Lorenzo Bianchi"))
    TourFactory(city="Atlantis", status="draft")

    content = client.get(TOUR_LIST).content.decode()

    assert re.search(r"<fieldset[^>]*>\s*<legend>\s*Find a tour", content)
    for name in ("q", "category", "city", "language", "guide"):
        assert f'for="id_{name}"' in content
    assert '<option value="Florence">Florence</option>' in content
    assert "Atlantis" not in content
    assert "Lorenzo Bianchi" in content


def test_empty_catalogue_shows_an_empty_state(client):
    response = client.get(TOUR_LIST)
    assert response.status_code == 200
    assert b"No tours match your search." in response.content


def test_query_count_does_not_grow_with_the_number_of_tours(client, django_assert_max_num_queries):
    italian = LanguageFactory(code="it", name="Italian")
    for _ in range(2):
        TourFactory(languages=[LanguageFactory(), italian])
    with CaptureQueriesContext(connection) as few:
        client.get(TOUR_LIST)

    for index in range(20):
        TourFactory(languages=[LanguageFactory(), italian], guide=GuideProfileFactory(), city=f"City {index}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(TOUR_LIST)
    assert len(titles(response)) == 12
