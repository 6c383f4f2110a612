import io

import pytest
from django.urls import reverse
from PIL import Image

from bookings.models import Tour
from tests.bookings.test_catalog_images import image_bytes, upload
from tests.factories import GuideProfileFactory, LanguageFactory, TourFactory, TourPhotoFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(role="staff", is_staff=True, is_superuser=True))
    return client


def test_tour_changelist_lists_and_searches_tours(staff_client):
    TourFactory(title="Underground Naples", guide=GuideProfileFactory(display_name="Marco Esposito"))
    TourFactory(title="Uffizi in One Hour")

    response = staff_client.get(reverse("admin:bookings_tour_changelist"), {"q": "esposito"})

    assert response.status_code == 200
    assert [tour.title for tour in response.context["cl"].result_list] == ["Underground Naples"]


def test_tour_change_page_has_the_photo_inline_and_a_prepopulated_slug(staff_client):
    tour = TourFactory()
    TourPhotoFactory(tour=tour, caption="At the gate")

    response = staff_client.get(reverse("admin:bookings_tour_change", args=[tour.pk]))

    assert response.status_code == 200
    assert "At the gate" in response.content.decode()
    assert "photos-TOTAL_FORMS" in response.content.decode()
    assert response.context["adminform"].prepopulated_fields[0]["field"].name == "slug"


def test_staff_uploads_in_the_admin_are_reencoded_without_exif(staff_client):
    guide = GuideProfileFactory()
    LanguageFactory()
    data = {
        "guide": guide.pk,
        "title": "Admin made",
        "slug": "admin-made",
        "city": "Rome",
        "category": "walking",
        "languages": ["en"],
        "duration_minutes": 60,
        "price": "0",
        "currency": "EUR",
        "max_group_size": 10,
        "timezone": "Europe/Rome",
        "status": "published",
        "cover_photo": upload(image_bytes(with_exif=True)),
        "photos-TOTAL_FORMS": "0",
        "photos-INITIAL_FORMS": "0",
    }

    response = staff_client.post(reverse("admin:bookings_tour_add"), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    tour = Tour.objects.get(slug="admin-made")
    with tour.cover_photo.open("rb") as stored:
        assert dict(Image.open(io.BytesIO(stored.read())).getexif()) == {}


def test_tour_photo_admin_lists_photos(staff_client):
    TourPhotoFactory(caption="Sunset on the bay")
    response = staff_client.get(reverse("admin:bookings_tourphoto_changelist"))
    assert response.status_code == 200
    assert "Sunset on the bay" in response.content.decode()
