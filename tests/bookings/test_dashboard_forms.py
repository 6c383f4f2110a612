import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image

from bookings.forms import MAX_GALLERY_PHOTOS
from bookings.models import Tour, TourPhoto
from tests.bookings.test_catalog_images import image_bytes, upload
from tests.factories import GuideProfileFactory, LanguageFactory, TourFactory, TourPhotoFactory

pytestmark = pytest.mark.django_db(transaction=True)  # the old files are deleted on commit

CREATE = reverse("bookings:tour_create")


def edit_url(tour) -> str:
    return reverse("bookings:tour_edit", kwargs={"slug": tour.slug})


def tour_data(**overrides):
    LanguageFactory()
    LanguageFactory(code="it", name="Italian")
    data = {
        "title": "Trastevere by Night",
        "summary": "Lanes, lamps and late dinners.",
        "description": "We start at the fountain.\n\nWe end at the river.",
        "city": "Rome",
        "category": "food",
        "languages": ["en", "it"],
        "duration_minutes": 75,
        "price": "35.00",
        "currency": "EUR",
        "max_group_size": 12,
        "timezone": "Europe/Rome",
        "status": "published",
    }
    return data | overrides


def stored_image(field_file) -> Image.Image:
    with field_file.open("rb") as stored:
        return Image.open(io.BytesIO(stored.read()))


@pytest.fixture
def guide(client):
    profile = GuideProfileFactory()
    client.force_login(profile.user)
    return profile


def test_new_tour_form_defaults_to_euros_and_rome_time(client, guide):
    form = client.get(CREATE).context["form"]
    assert form["currency"].value() == "EUR"
    assert form["timezone"].value() == "Europe/Rome"
    assert "remove_photos" not in form.fields


def test_a_guide_creates_a_tour_with_cover_and_gallery_photos(client, guide):
    data = tour_data(
        cover_photo=upload(image_bytes(size=(2400, 1200), with_exif=True)),
        gallery=[upload(image_bytes(), name="a.jpg"), upload(image_bytes(image_format="PNG"), name="b.png")],
    )

    response = client.post(CREATE, data)

    tour = Tour.objects.get()
    assert response.status_code == 302
    assert response["Location"] == edit_url(tour)
    assert tour.guide == guide
    assert tour.slug == "trastevere-by-night"
    assert tour.price == Decimal("35.00")
    assert sorted(tour.languages.values_list("code", flat=True)) == ["en", "it"]
    cover = stored_image(tour.cover_photo)
    assert cover.size == (1600, 800)
    assert dict(cover.getexif()) == {}
    assert tour.photos.count() == 2
    assert [photo.position for photo in tour.photos.all()] == [1, 2]


def test_a_fake_image_is_a_form_error_and_creates_nothing(client, guide):
    response = client.post(CREATE, tour_data(cover_photo=upload(b"GIF89a not really", name="x.jpg")))

    assert response.status_code == 200
    assert "cover_photo" in response.context["form"].errors
    assert not Tour.objects.exists()


def test_an_image_over_5_mb_is_a_form_error(client, guide):
    big = image_bytes() + b"\0" * (5 * 1024 * 1024)
    response = client.post(CREATE, tour_data(gallery=[upload(big)]))
    assert "gallery" in response.context["form"].errors
    assert not Tour.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("price", "-5"),
        ("duration_minutes", "5"),
        ("max_group_size", "0"),
        ("timezone", "Mars/Olympus_Mons"),
        ("currency", "XYZ"),
        ("status", "deleted"),
        ("category", "spaceflight"),
        ("languages", ["xx"]),
        ("title", ""),
    ],
)
def test_bad_values_are_form_errors_not_crashes(client, guide, field, value):
    response = client.post(CREATE, tour_data(**{field: value}))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not Tour.objects.exists()


def test_the_owner_edits_a_tour_and_its_address_stays_the_same(client, guide):
    tour = TourFactory.create(guide=guide, title="Old title")
    old_slug = tour.slug

    response = client.post(edit_url(tour), tour_data(title="New title", price="0", status="draft"))

    tour.refresh_from_db()
    assert response.status_code == 302
    assert tour.title == "New title"
    assert tour.price == 0
    assert tour.status == "draft"
    assert tour.slug == old_slug
    assert sorted(tour.languages.values_list("code", flat=True)) == ["en", "it"]


def test_replacing_the_cover_photo_deletes_the_old_file(client, guide):
    tour = TourFactory(guide=guide)
    tour.cover_photo.save("old.jpg", ContentFile(image_bytes()), save=True)
    old_name = tour.cover_photo.name

    client.post(edit_url(tour), tour_data(cover_photo=upload(image_bytes(color="green"))))

    tour.refresh_from_db()
    assert tour.cover_photo.name != old_name
    assert default_storage.exists(tour.cover_photo.name)
    assert not default_storage.exists(old_name)


def test_ticking_clear_removes_the_cover_photo(client, guide):
    tour = TourFactory(guide=guide)
    tour.cover_photo.save("old.jpg", ContentFile(image_bytes()), save=True)
    old_name = tour.cover_photo.name

    client.post(edit_url(tour), tour_data(**{"cover_photo-clear": "on"}))

    tour.refresh_from_db()
    assert not tour.cover_photo
    assert not default_storage.exists(old_name)


def test_saving_without_a_new_cover_keeps_the_current_one(client, guide):
    tour = TourFactory(guide=guide)
    tour.cover_photo.save("keep.jpg", ContentFile(image_bytes()), save=True)
    kept = tour.cover_photo.name

    client.post(edit_url(tour), tour_data())

    tour.refresh_from_db()
    assert tour.cover_photo.name == kept
    assert default_storage.exists(kept)


def test_gallery_photos_are_added_after_the_existing_ones_and_can_be_removed(client, guide):
    tour = TourFactory(guide=guide)
    keep = TourPhotoFactory(tour=tour, position=1)
    remove = TourPhotoFactory(tour=tour, position=2)
    removed_file = remove.image.name

    response = client.post(
        edit_url(tour), tour_data(remove_photos=[remove.pk], gallery=[upload(image_bytes(), name="new.jpg")])
    )

    assert response.status_code == 302
    photos = list(tour.photos.all())
    assert len(photos) == 2
    assert photos[0] == keep
    assert photos[1].pk not in (keep.pk, remove.pk)
    assert photos[1].position > keep.position
    assert not TourPhoto.objects.filter(pk=remove.pk).exists()
    assert not default_storage.exists(removed_file)


def test_edit_page_offers_each_gallery_photo_for_removal_with_its_thumbnail(client, guide):
    tour = TourFactory(guide=guide)
    photo = TourPhotoFactory(tour=tour)
    content = client.get(edit_url(tour)).content.decode()
    assert f'src="{photo.image.url}"' in content
    assert f'name="remove_photos" value="{photo.pk}"' in content
    assert 'enctype="multipart/form-data"' in content


def test_a_guide_cannot_remove_a_photo_of_another_guides_tour(client, guide):
    tour = TourFactory(guide=guide)
    foreign = TourPhotoFactory()

    response = client.post(edit_url(tour), tour_data(remove_photos=[foreign.pk]))

    assert response.status_code == 200
    assert "remove_photos" in response.context["form"].errors
    assert TourPhoto.objects.filter(pk=foreign.pk).exists()


def test_the_gallery_is_capped(client, guide):
    tour = TourFactory(guide=guide)
    TourPhotoFactory.create_batch(MAX_GALLERY_PHOTOS, tour=tour)

    response = client.post(edit_url(tour), tour_data(gallery=[upload(image_bytes())]))

    assert "gallery" in response.context["form"].errors
    assert tour.photos.count() == MAX_GALLERY_PHOTOS


def test_a_rejected_edit_changes_nothing_and_shows_the_stored_title(client, guide):
    tour = TourFactory(guide=guide, title="Stored title")

    response = client.post(edit_url(tour), tour_data(title="Typed title", price="-1"))

    assert response.status_code == 200
    assert "Edit “Stored title”" in response.content.decode()
    assert Tour.objects.get(pk=tour.pk).title == "Stored title"


def test_a_tour_in_another_currency_can_be_edited_without_changing_it(client, guide):
    tour = TourFactory(guide=guide, currency="CHF", price=Decimal("30"))
    response = client.post(edit_url(tour), tour_data(currency="CHF"))
    assert response.status_code == 302
    tour.refresh_from_db()
    assert tour.currency == "CHF"
