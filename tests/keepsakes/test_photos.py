"""The guide's photos: re-encoded with Pillow, resized, without EXIF or GPS; highlights and captions."""

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from accounts.images import MAX_PHOTO_SIDE
from streaming import keepsake_services
from streaming.keepsake_models import Keepsake, KeepsakePhoto
from streaming.selectors import LiveError
from tests.reviews.helpers import make_user, past_tour

pytestmark = pytest.mark.django_db

GPS_IFD = 0x8825
MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112


def phone_photo(name="IMG_0042.jpg", size=(3200, 2400)):
    """A JPEG as a phone writes it: camera make and model, and the GPS position of the shot."""
    image = Image.new("RGB", size, (180, 120, 60))
    image.paste((30, 90, 130), (0, size[1] // 2, size[0], size[1]))
    exif = Image.Exif()
    exif[MAKE] = "Fonofon"
    exif[MODEL] = "F12 Pro"
    exif[ORIENTATION] = 1
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (41.0, 53.0, 24.0), 3: "E", 4: (12.0, 29.0, 32.0)})
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as check:  # the fixture really carries the location
        assert check.getexif().get_ifd(GPS_IFD)
    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def edit_url(tour):
    return reverse("streaming:keepsake_edit", kwargs={"session_id": tour.session.pk})


def test_uploaded_photos_lose_exif_and_gps_and_are_resized(settings):
    tour = past_tour()

    response = client_for(tour.guide).post(
        edit_url(tour),
        {"action": "upload", "photos": [phone_photo(), phone_photo("IMG_0043.jpg")], "caption": "Oculus"},
    )

    assert response.status_code == 302
    photos = list(KeepsakePhoto.objects.filter(session=tour.session))
    assert len(photos) == 2
    for photo in photos:
        path = Path(settings.MEDIA_ROOT) / str(photo.image.name)
        raw = path.read_bytes()
        with Image.open(path) as stored:
            assert stored.format == "JPEG"
            assert stored.size == (MAX_PHOTO_SIDE, MAX_PHOTO_SIDE * 3 // 4)
            assert dict(stored.getexif()) == {}
            assert "exif" not in stored.info
        assert b"Fonofon" not in raw
        assert b"Exif" not in raw
        # A fresh random name: "IMG_0042" says nothing, but an upload's name is user input.
        assert str(photo.image.name).startswith("keepsakes/keepsake-")
        assert "IMG_0042" not in str(photo.image.name)
        assert (photo.width, photo.height, photo.caption, photo.uploaded_by) == (
            MAX_PHOTO_SIDE,
            MAX_PHOTO_SIDE * 3 // 4,
            "Oculus",
            tour.guide,
        )


def test_a_file_that_is_not_an_image_is_named_in_the_error_and_nothing_is_saved():
    tour = past_tour()
    fake = SimpleUploadedFile("holiday.jpg", b"<?php system($_GET['x']); ?>", content_type="image/jpeg")

    response = client_for(tour.guide).post(edit_url(tour), {"action": "upload", "photos": [phone_photo(), fake]})

    assert response.status_code == 400
    assert "holiday.jpg: Upload a JPEG, PNG or WebP image." in response.content.decode()
    assert not KeepsakePhoto.objects.exists()


def test_uploading_nothing_says_so():
    tour = past_tour()
    response = client_for(tour.guide).post(edit_url(tour), {"action": "upload"})
    assert response.status_code == 400
    assert "Choose one or more photos to upload." in response.content.decode()


def test_the_gallery_has_a_limit(monkeypatch):
    tour = past_tour()
    monkeypatch.setattr(keepsake_services, "MAX_PHOTOS_PER_SESSION", 2)
    client = client_for(tour.guide)
    client.post(edit_url(tour), {"action": "upload", "photos": [phone_photo(size=(40, 30))]})

    response = client.post(
        edit_url(tour), {"action": "upload", "photos": [phone_photo(size=(40, 30)), phone_photo(size=(40, 30))]}
    )

    assert response.status_code == 400
    assert "A tour&#x27;s gallery holds at most 2 photos; it has 1." in response.content.decode()
    assert KeepsakePhoto.objects.count() == 1


def test_highlights_captions_and_removal(django_capture_on_commit_callbacks):
    tour = past_tour()
    client = client_for(tour.guide)
    client.post(edit_url(tour), {"action": "upload", "photos": [phone_photo(size=(40, 30))]})
    photo = KeepsakePhoto.objects.get()
    stored = Path(settings.MEDIA_ROOT) / str(photo.image.name)
    assert stored.is_file()

    client.post(edit_url(tour), {"action": "highlights", "highlights": "  We saw the oculus.\n\nThen gelato.  "})
    client.post(edit_url(tour), {"action": "caption", "photo": photo.pk, "caption": "The oculus at noon"})
    assert Keepsake.objects.get(session=tour.session).highlights == "We saw the oculus.\n\nThen gelato."
    assert KeepsakePhoto.objects.get().caption == "The oculus at noon"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(edit_url(tour), {"action": "remove", "photo": photo.pk})
    assert not KeepsakePhoto.objects.exists()
    assert not stored.exists()  # the file goes with the row


def test_another_guide_cannot_touch_the_photos_through_the_service():
    tour = past_tour()
    photo = keepsake_services.add_photos(
        by=tour.guide, session_id=tour.session.pk, images=[_reencoded()], caption="Mine"
    )[0]
    stranger = make_user(role="guide")
    with pytest.raises(LiveError):
        keepsake_services.set_caption(by=stranger, photo_id=photo.pk, caption="Hacked")
    with pytest.raises(LiveError):
        keepsake_services.remove_photo(by=stranger, photo_id=photo.pk)
    with pytest.raises(LiveError):
        keepsake_services.save_highlights(by=tour.guest, session_id=tour.session.pk, highlights="Hacked")
    assert KeepsakePhoto.objects.get().caption == "Mine"


def _reencoded():
    from bookings.images import reencode_image

    return reencode_image(phone_photo(size=(40, 30)), name_prefix="keepsake")
