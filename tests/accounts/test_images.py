"""accounts.images.normalise_photo on its own: what it refuses before decoding pixels."""

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.images import MAX_PHOTO_SIDE, normalise_photo


def _upload(image: Image.Image, image_format: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return SimpleUploadedFile(f"upload.{image_format.lower()}", buffer.getvalue())


def test_an_image_with_too_many_pixels_is_refused_before_decoding():
    # 8000 x 8000 one-bit pixels compress to a few kilobytes but would decode to 64 megapixels.
    upload = _upload(Image.new("1", (8000, 8000)), "PNG")

    with pytest.raises(ValidationError) as error:
        normalise_photo(upload)

    assert error.value.code == "too_many_pixels"


def test_large_photos_are_scaled_down_keeping_their_proportions():
    photo = normalise_photo(_upload(Image.new("RGB", (3200, 1600), "green"), "JPEG"))

    with Image.open(io.BytesIO(photo.read())) as image:
        assert image.size == (MAX_PHOTO_SIDE, MAX_PHOTO_SIDE // 2)


def test_a_format_outside_the_list_is_refused():
    with pytest.raises(ValidationError) as error:
        normalise_photo(_upload(Image.new("RGB", (10, 10)), "TIFF"))

    assert error.value.code == "invalid_image"
