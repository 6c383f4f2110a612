"""The tour summary: duration, attendance, highlights, gallery, replay, sharing (Open Graph), what next."""

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from streaming import keepsake_selectors
from streaming.keepsake_models import Keepsake, KeepsakePhoto
from streaming.models import Recording
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, TourPhotoFactory
from tests.reviews.helpers import make_review, make_tour, past_tour

pytestmark = pytest.mark.django_db


class _MetaParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.scripts: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "meta" and attributes.get("property", "").startswith("og:"):
            self.meta[attributes["property"]] = attributes.get("content") or ""
        if tag == "script":
            self.scripts.append(attributes.get("src") or "inline")


def open_graph(html):
    parser = _MetaParser()
    parser.feed(html)
    return parser


def client_for(user=None):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def summary_url(tour):
    return reverse("streaming:keepsake", kwargs={"session_id": tour.session.pk})


def postcard_url(tour):
    return reverse("streaming:keepsake_postcard", kwargs={"session_id": tour.session.pk})


def add_photo(tour, caption=""):
    return KeepsakePhoto.objects.create(
        session=tour.session,
        image=TourPhotoFactory.build().image,
        caption=caption,
        uploaded_by=tour.guide,
    )


def test_the_summary_shows_duration_attendance_highlights_and_photos():
    tour = past_tour(guests=3)  # 3 guests watched
    tour.add_guest(present=False)  # booked, did not watch: counted by "completed", not as a viewer
    session = tour.session
    session.started_at = tour.slot.start + timedelta(minutes=2)
    session.ended_at = tour.slot.start + timedelta(minutes=95)
    session.save()
    Keepsake.objects.create(session=session, highlights="The oculus <script>x()</script>\n\nThen gelato.")
    photo = add_photo(tour, caption="Piazza della Rotonda")

    html = client_for(tour.guest).get(summary_url(tour)).content.decode()

    assert re.search(r"data-duration>93 minutes live<", html)
    assert re.search(r'data-attendance="3">3 guests watched live<', html)
    assert "<p>The oculus &lt;script&gt;x()&lt;/script&gt;</p>" in html
    assert "<p>Then gelato.</p>" in html
    assert f'src="{photo.image.url}"' in html
    assert 'alt="Piazza della Rotonda"' in html


def test_the_replay_link_appears_only_with_a_ready_recording():
    tour = past_tour()
    replay = reverse("streaming:replay", kwargs={"session_id": tour.session.pk})
    client = client_for(tour.guest)
    assert replay not in client.get(summary_url(tour)).content.decode()

    recording = Recording.objects.create(
        session=tour.session,
        status=Recording.Status.RECORDING,
        file_name="recordings/x.webm",
        started_at=timezone.now(),
    )
    assert replay not in client.get(summary_url(tour)).content.decode()
    recording.status = Recording.Status.READY
    recording.save()
    assert replay in client.get(summary_url(tour)).content.decode()


def test_an_attendee_who_has_not_reviewed_is_invited_to():
    tour = past_tour()
    write = reverse("reviews:write", kwargs={"booking_id": tour.booking.pk})
    assert write in client_for(tour.guest).get(summary_url(tour)).content.decode()
    make_review(tour.booking)
    assert write not in client_for(tour.guest).get(summary_url(tour)).content.decode()


def test_open_graph_tags_with_absolute_urls_on_the_summary_and_the_postcard():
    tour = past_tour(tour=make_tour(title="Pantheon at noon", city="Rome", summary="Inside the dome."))
    photo = add_photo(tour, caption="The oculus")
    postcard = f"{settings.SITE_URL}{postcard_url(tour)}"

    for html in (
        client_for(tour.guest).get(summary_url(tour)).content.decode(),
        client_for().get(postcard_url(tour)).content.decode(),
    ):
        page = open_graph(html)
        assert page.meta["og:title"] == "Pantheon at noon, live from Rome"
        assert page.meta["og:url"] == postcard
        assert page.meta["og:image"] == f"{settings.SITE_URL}{photo.image.url}"
        assert page.meta["og:image"].startswith(("http://", "https://"))
        assert page.meta["og:image:alt"] == "The oculus"
        assert "Inside the dome." in page.meta["og:description"]
        assert page.meta["og:type"] == "article"
        assert f'<link rel="canonical" href="{postcard}">' in html
        # No third-party script: only the site's own bundles.
        assert all(src.startswith("/static/") for src in page.scripts), page.scripts


def test_without_photos_the_preview_uses_the_tour_cover_then_the_logo():
    tour = past_tour()
    assert open_graph(client_for().get(postcard_url(tour)).content.decode()).meta["og:image"] == (
        f"{settings.SITE_URL}/static/img/logo.svg"
    )


def test_share_links_are_plain_links_to_the_postcard():
    tour = past_tour()
    html = client_for(tour.guest).get(summary_url(tour)).content.decode()
    postcard = f"{settings.SITE_URL}{postcard_url(tour)}"
    assert re.search(r'href="mailto:\?subject=[^"]*&amp;body=[^"]*' + re.escape("http%3A%2F%2F"), html)
    assert (
        'href="https://www.facebook.com/sharer/sharer.php?u=' + postcard.replace(":", "%3A").replace("/", "%2F") in html
    )
    assert "data-share-button hidden" in html  # revealed by keepsake.ts where the Web Share API exists
    assert f'data-share-url="{postcard}"' in html


def test_the_postcard_is_public_but_shows_neither_guests_nor_highlights():
    tour = past_tour(guests=2)
    Keepsake.objects.create(session=tour.session, highlights="Private words for the group")
    html = client_for().get(postcard_url(tour)).content.decode()
    assert "Private words for the group" not in html
    assert "data-attendance" not in html
    assert tour.guest.name not in html
    assert f'href="{tour.tour.get_absolute_url()}"' in html


def test_no_postcard_before_the_tour_took_place_or_for_a_cancelled_one():
    for tour in (
        past_tour(ended=False),
        past_tour(reason="cancelled"),
        past_tour(reason="auto_ended", went_live=False),
    ):
        assert client_for().get(postcard_url(tour)).status_code == 404


# --- Similar tours ------------------------------------------------------------------------------


def bookable(tour, *, days=3, capacity=10, booked=0):
    start = (timezone.now() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    return SlotFactory(tour=tour, start=start, capacity=capacity, booked_seats=booked)


def rate(tour, *ratings):
    for index, rating in enumerate(ratings):
        start = (timezone.now() - timedelta(days=2 + index)).replace(minute=0, second=0, microsecond=0)
        past = past_tour(tour=tour, start=start)
        make_review(past.booking, rating=rating, status="approved")


def test_similar_tours_share_city_category_or_guide_are_well_rated_and_have_a_free_seat_soon():
    done = past_tour(tour=make_tour(city="Rome", category="history"))
    same_guide = TourFactory(guide=done.tour.guide, city="Milan", category="food", title="Same guide")
    same_city = TourFactory(city="rome", category="food", title="Same city")
    same_category = TourFactory(city="Venice", category="history", title="Same category")
    close_match = TourFactory(city="Rome", category="history", title="Same city and category")
    poorly_rated = TourFactory(city="Rome", category="history", title="Poorly rated")
    sold_out = TourFactory(city="Rome", category="history", title="Sold out")
    far_away = TourFactory(city="Rome", category="history", title="Only next year")
    unrelated = TourFactory(city="Turin", category="nature", title="Unrelated")
    draft = TourFactory(city="Rome", category="history", title="Draft", status="draft")
    for tour in (same_guide, same_city, same_category, close_match, poorly_rated, unrelated, draft):
        bookable(tour)
    bookable(done.tour)  # the tour itself is never suggested
    bookable(sold_out, capacity=2, booked=2)
    bookable(far_away, days=60)
    rate(poorly_rated, 2, 3)
    rate(same_city, 5, 5)

    titles = [tour.title for tour in keepsake_selectors.similar_tours(tour=done.tour, now=timezone.now(), limit=10)]

    # Two shared traits first; then rated before unrated, then the soonest date.
    assert titles[0] == "Same city and category"
    assert titles[1] == "Same city"
    assert set(titles) == {"Same city and category", "Same city", "Same guide", "Same category"}


def test_similar_tours_cost_one_query_whatever_their_number(django_assert_max_num_queries):
    done = past_tour(tour=make_tour(city="Rome"))
    for index in range(8):
        tour = TourFactory(city="Rome", guide=GuideProfileFactory())
        bookable(tour, days=2 + index)
        rate(tour, 4 + index % 2)
    with django_assert_max_num_queries(1):
        tours = keepsake_selectors.similar_tours(tour=done.tour, now=timezone.now())
        assert [tour.guide.display_name for tour in tours]  # the guide is joined, not fetched per card
    assert len(tours) == 4


def test_the_summary_page_costs_the_same_queries_with_more_photos_guests_and_suggestions():
    def page_queries(city, extra):
        done = past_tour(tour=make_tour(city=city), guests=1 + extra)
        for index in range(1 + extra):
            add_photo(done)
            suggestion = TourFactory(city=city, guide=GuideProfileFactory())
            bookable(suggestion, days=2 + index)
            rate(suggestion, 5)
        client = client_for(done.guest)
        with CaptureQueriesContext(connection) as queries:
            html = client.get(summary_url(done)).content.decode()
        assert html.count("data-similar-tour=") == min(1 + extra, 4)
        return len(queries.captured_queries)

    assert page_queries("Rome", 0) == page_queries("Naples", 4)
