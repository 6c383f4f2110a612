import re
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from tests.bookings.test_catalog_images import image_bytes
from tests.factories import GuideProfileFactory, LanguageFactory, TourFactory, TourPhotoFactory, UserFactory

pytestmark = pytest.mark.django_db


def detail_url(tour) -> str:
    return reverse("bookings:tour_detail", kwargs={"slug": tour.slug})


def test_detail_page_shows_the_facts_a_customer_needs(client):
    tour = TourFactory(
        title="Underground Naples",
        city="Naples",
        category="history",
        duration_minutes=90,
        price=Decimal("20.00"),
        currency="EUR",
        max_group_size=15,
        languages=[LanguageFactory(), LanguageFactory(code="es", name="Spanish")],
        guide=GuideProfileFactory(display_name="Marco Esposito"),
    )

    response = client.get(detail_url(tour))

    content = response.content.decode()
    assert response.status_code == 200
    assert "<h1>Underground Naples</h1>" in content
    assert "Naples" in content
    assert "History" in content
    assert "English" in content
    assert "Spanish" in content
    assert "90 minutes" in content
    assert "20.00 EUR" in content
    assert "Up to 15 people" in content


def test_free_tour_is_labelled_free(client):
    content = client.get(detail_url(TourFactory(price=0))).content.decode()
    assert re.search(r'<dd class="price">\s*Free', content)


def test_guide_card_links_to_the_guides_public_page(client):
    tour = TourFactory(guide=GuideProfileFactory(display_name="Chiara Ferraro"))
    content = client.get(detail_url(tour)).content.decode()
    assert f'<a href="{tour.guide.get_absolute_url()}">Chiara Ferraro</a>' in content


def test_description_is_escaped_and_keeps_its_line_breaks(client):
    tour = TourFactory(description="First paragraph <script>alert(1)</script>\n\nSecond line")
    content = client.get(detail_url(tour)).content.decode()
    assert "<script>alert(1)</script>" not in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<p>Second line</p>" in content


def test_cover_and_gallery_photos_are_shown(client):
    tour = TourFactory()
    tour.cover_photo.save("cover.jpg", ContentFile(image_bytes()), save=True)
    first = TourPhotoFactory(tour=tour, caption="The arena", position=1)
    second = TourPhotoFactory(tour=tour, caption="", position=2)

    content = client.get(detail_url(tour)).content.decode()

    assert f'src="{tour.cover_photo.url}"' in content
    assert f'src="{first.image.url}"' in content
    assert 'alt="The arena"' in content
    assert f'alt="Photo 2 of {tour.title}"' in content
    assert content.index(first.image.url) < content.index(second.image.url)


def test_schedule_section_is_there_for_the_calendar(client):
    content = client.get(detail_url(TourFactory())).content.decode()
    assert '<section id="schedule" aria-labelledby="schedule-heading">' in content
    assert re.search(r'<h2 id="schedule-heading">\s*Upcoming dates\s*</h2>', content)


def test_unknown_tour_is_404(client):
    assert client.get(reverse("bookings:tour_detail", kwargs={"slug": "no-such-tour"})).status_code == 404


@pytest.mark.parametrize("status", ["draft", "cancelled"])
@pytest.mark.parametrize("viewer", ["anonymous", "customer", "other guide"])
def test_unpublished_tours_are_404_for_the_public(client, status, viewer):
    tour = TourFactory(status=status)
    if viewer == "customer":
        client.force_login(UserFactory())
    elif viewer == "other guide":
        client.force_login(GuideProfileFactory().user)
    assert client.get(detail_url(tour)).status_code == 404


@pytest.mark.parametrize(("status", "banner"), [("draft", "is a draft"), ("cancelled", "is cancelled")])
def test_own_guide_sees_an_unpublished_tour_with_a_banner_and_an_edit_link(client, status, banner):
    tour = TourFactory(status=status)
    client.force_login(tour.guide.user)

    response = client.get(detail_url(tour))

    assert response.status_code == 200
    assert banner in response.content.decode()
    assert reverse("bookings:tour_edit", kwargs={"slug": tour.slug}) in response.content.decode()


def test_staff_see_unpublished_tours_with_a_banner_but_no_edit_link(client):
    tour = TourFactory(status="draft")
    client.force_login(UserFactory(is_staff=True, role="staff"))

    response = client.get(detail_url(tour))

    assert response.status_code == 200
    assert "is a draft" in response.content.decode()
    assert reverse("bookings:tour_edit", kwargs={"slug": tour.slug}) not in response.content.decode()


def test_published_tour_has_no_banner(client):
    tour = TourFactory()
    client.force_login(tour.guide.user)
    content = client.get(detail_url(tour)).content.decode()
    assert "only its guide and staff can see this page" not in content
