"""/profile/guide/: guides edit their public page; photos are re-encoded without EXIF."""

import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from accounts.images import MAX_PHOTO_BYTES
from accounts.models import GuideProfile
from tests.accounts.conftest import assert_accessible_form_page
from tests.factories import GuideFactory, GuideProfileFactory, LanguageFactory, UserFactory

pytestmark = pytest.mark.django_db

EDIT_URL = "/profile/guide/"
EXIF_MODEL = 0x0110
EXIF_ORIENTATION = 0x0112
GPS_IFD = 0x8825


def _jpeg_with_exif(width=40, height=20, orientation=1) -> bytes:
    exif = Image.Exif()
    exif[EXIF_MODEL] = "Guide's phone"
    exif[EXIF_ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (41.0, 53.0, 24.0)}
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="JPEG", exif=exif)
    return buffer.getvalue()


def _png_with_transparency() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (10, 10), (0, 0, 255, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _photo_name(user) -> str:
    return str(GuideProfile.objects.get(user=user).photo.name or "")


def _form(**overrides):
    data = {"display_name": "Giulia Romano", "city": "Florence", "bio": "Uffizi nerd.", "languages": []}
    data.update(overrides)
    return data


@pytest.fixture
def guide(client):
    user = GuideFactory(name="Giulia")
    client.force_login(user)
    return user


def test_url_name():
    assert reverse("accounts:guide_profile_edit") == EDIT_URL


def test_customers_cannot_edit_a_guide_profile(client):
    client.force_login(UserFactory(role="customer"))

    assert client.get(EDIT_URL).status_code == 403
    assert client.post(EDIT_URL, _form()).status_code == 403
    assert not GuideProfile.objects.exists()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(EDIT_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_a_guide_without_a_profile_creates_one(client, guide):
    english, italian = LanguageFactory(code="en", name="English"), LanguageFactory(code="it", name="Italian")

    page = client.get(EDIT_URL)
    response = client.post(EDIT_URL, _form(languages=[english.code, italian.code]))

    assert page.status_code == 200
    assert_accessible_form_page(page)
    profile = GuideProfile.objects.get(user=guide)
    assert response.status_code == 302
    assert response.url == profile.get_absolute_url() == "/guides/giulia-romano/"
    assert (profile.display_name, profile.city, profile.bio) == ("Giulia Romano", "Florence", "Uffizi nerd.")
    assert set(profile.languages.values_list("code", flat=True)) == {"en", "it"}


def test_editing_keeps_the_address_so_shared_links_still_work(client, guide):
    profile = GuideProfileFactory(user=guide, display_name="Giulia Romano")

    client.post(EDIT_URL, _form(display_name="Giulia R."))

    saved = GuideProfile.objects.get(pk=profile.pk)
    assert saved.display_name == "Giulia R."
    assert saved.slug == "giulia-romano"


def test_missing_required_fields_are_form_errors(client, guide):
    response = client.post(EDIT_URL, _form(display_name="", city=""))

    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"display_name", "city"}
    assert not GuideProfile.objects.exists()


def test_uploaded_photo_is_reencoded_without_exif(client, guide):
    upload = SimpleUploadedFile("IMG_0001 home.jpg", _jpeg_with_exif(width=40, height=20, orientation=6), "image/jpeg")

    client.post(EDIT_URL, _form(photo=upload))

    name = _photo_name(guide)
    assert name.startswith("guides/giulia-romano-")  # not the uploaded name
    assert name.endswith(".jpg")
    with default_storage.open(name) as stored, Image.open(stored) as image:
        assert image.format == "JPEG"
        assert dict(image.getexif()) == {}
        # Orientation 6 (rotate 90°) is applied before the EXIF is dropped: 40x20 becomes 20x40.
        assert image.size == (20, 40)
    with default_storage.open(name) as stored:
        assert b"Guide's phone" not in stored.read()


def test_transparent_png_stays_a_png(client, guide):
    client.post(EDIT_URL, _form(photo=SimpleUploadedFile("logo.png", _png_with_transparency(), "image/png")))

    name = _photo_name(guide)
    assert name.endswith(".png")
    with default_storage.open(name) as stored, Image.open(stored) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"


def test_a_file_that_is_not_an_image_is_refused(client, guide):
    fake = SimpleUploadedFile("photo.jpg", b"<?php system($_GET['c']); ?>", "image/jpeg")

    response = client.post(EDIT_URL, _form(photo=fake))

    assert response.status_code == 200
    assert response.context["form"].errors["photo"]
    assert not GuideProfile.objects.exists()


def test_a_photo_over_5_mb_is_refused(client, guide):
    # A valid JPEG followed by padding: decoders ignore trailing bytes, so only the size is wrong.
    too_big = _jpeg_with_exif() + b"\0" * MAX_PHOTO_BYTES

    response = client.post(EDIT_URL, _form(photo=SimpleUploadedFile("big.jpg", too_big, "image/jpeg")))

    assert response.status_code == 200
    assert "5.0" in response.context["form"].errors["photo"][0]
    assert not GuideProfile.objects.exists()


def test_replacing_the_photo_deletes_the_old_file_after_commit(client, guide, django_capture_on_commit_callbacks):
    client.post(EDIT_URL, _form(photo=SimpleUploadedFile("a.jpg", _jpeg_with_exif(), "image/jpeg")))
    old_name = _photo_name(guide)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(EDIT_URL, _form(photo=SimpleUploadedFile("b.jpg", _jpeg_with_exif(), "image/jpeg")))

    new_name = _photo_name(guide)
    assert new_name != old_name
    assert default_storage.exists(new_name)
    assert not default_storage.exists(old_name)


def test_clearing_the_photo_removes_it(client, guide, django_capture_on_commit_callbacks):
    client.post(EDIT_URL, _form(photo=SimpleUploadedFile("a.jpg", _jpeg_with_exif(), "image/jpeg")))
    old_name = _photo_name(guide)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(EDIT_URL, _form(**{"photo-clear": "on"}))

    assert _photo_name(guide) == ""
    assert not default_storage.exists(old_name)


def test_saving_without_a_new_photo_keeps_the_current_one(client, guide):
    client.post(EDIT_URL, _form(photo=SimpleUploadedFile("a.jpg", _jpeg_with_exif(), "image/jpeg")))
    name = _photo_name(guide)

    client.post(EDIT_URL, _form(bio="New bio"))

    profile = GuideProfile.objects.get(user=guide)
    assert (profile.photo.name, profile.bio) == (name, "New bio")


def test_two_guides_with_the_same_name_get_different_addresses():
    first = GuideProfileFactory(display_name="Marco Rossi")
    second = GuideProfileFactory(display_name="Marco Rossi")

    assert (first.slug, second.slug) == ("marco-rossi", "marco-rossi-2")
