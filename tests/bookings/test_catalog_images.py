import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from bookings.images import reencode_image

GPS_IFD = 0x8825
MAKE_TAG = 0x010F
ORIENTATION_TAG = 0x0112


def image_bytes(
    *, size=(64, 48), image_format="JPEG", mode="RGB", color="red", with_exif=False, orientation=1
) -> bytes:
    """An image as a phone would send it: optionally with camera make, GPS position and rotation."""
    image = Image.new(mode, size, color)
    output = io.BytesIO()
    options = {}
    if with_exif:
        exif = Image.Exif()
        exif[MAKE_TAG] = "PhoneMaker"
        exif[ORIENTATION_TAG] = orientation
        exif[GPS_IFD] = {1: "N", 2: (41.0, 53.0, 24.0), 3: "E", 4: (12.0, 29.0, 32.0)}
        options["exif"] = exif
    image.save(output, image_format, **options)
    return output.getvalue()


def upload(data: bytes, name="photo.jpg", content_type="image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type=content_type)


def test_reencoded_jpeg_has_no_exif_and_no_gps_position():
    source = upload(image_bytes(with_exif=True))
    assert Image.open(io.BytesIO(source.read())).getexif().get_ifd(GPS_IFD)  # the fixture really has GPS

    result = reencode_image(source)

    image = Image.open(io.BytesIO(result.read()))
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {}
    assert "exif" not in image.info


def test_phone_rotation_is_applied_before_the_exif_is_dropped():
    # Orientation 6: the camera stored a landscape buffer of a portrait photo.
    result = reencode_image(upload(image_bytes(size=(80, 40), with_exif=True, orientation=6)))
    assert Image.open(io.BytesIO(result.read())).size == (40, 80)


def test_longest_side_is_scaled_down_to_1600_pixels_keeping_proportions():
    result = reencode_image(upload(image_bytes(size=(3200, 1000))))
    assert Image.open(io.BytesIO(result.read())).size == (1600, 500)


def test_small_images_are_not_enlarged():
    result = reencode_image(upload(image_bytes(size=(300, 200))))
    assert Image.open(io.BytesIO(result.read())).size == (300, 200)


def test_result_gets_a_random_name_not_the_uploaded_one():
    first = reencode_image(upload(image_bytes(), name="giulia-home-address.jpg"))
    second = reencode_image(upload(image_bytes(), name="giulia-home-address.jpg"))
    assert first.name is not None
    assert "giulia" not in first.name
    assert first.name != second.name
    assert first.name.endswith(".jpg")


@pytest.mark.parametrize("image_format", ["PNG", "WEBP"])
def test_png_and_webp_are_accepted(image_format):
    result = reencode_image(upload(image_bytes(image_format=image_format), name="x.img"))
    assert Image.open(io.BytesIO(result.read())).size == (64, 48)


def test_transparent_png_keeps_its_transparency():
    result = reencode_image(upload(image_bytes(image_format="PNG", mode="RGBA", color=(0, 0, 0, 0)), name="x.png"))
    image = Image.open(io.BytesIO(result.read()))
    assert image.format == "PNG"
    assert image.mode == "RGBA"


def test_gif_is_refused():
    with pytest.raises(ValidationError) as error:
        reencode_image(upload(image_bytes(image_format="GIF", mode="P"), name="x.gif"))
    assert error.value.code == "invalid_image"


def test_a_file_that_only_claims_to_be_an_image_is_refused():
    with pytest.raises(ValidationError) as error:
        reencode_image(upload(b"<script>alert(1)</script>", name="evil.jpg"))
    assert error.value.code == "invalid_image"


def test_a_truncated_jpeg_is_refused():
    with pytest.raises(ValidationError):
        reencode_image(upload(image_bytes(size=(400, 400))[:300]))


def test_files_over_5_mb_are_refused_before_decoding():
    data = image_bytes() + b"\0" * (5 * 1024 * 1024)
    with pytest.raises(ValidationError) as error:
        reencode_image(upload(data))
    assert error.value.code == "file_too_large"


def test_a_tiny_file_with_too_many_pixels_is_refused():
    # 9000 x 9000 one-bit pixels compress to a few kilobytes: a decompression bomb.
    data = image_bytes(size=(9000, 9000), image_format="PNG", mode="1", color=0)
    assert len(data) < 100_000
    with pytest.raises(ValidationError) as error:
        reencode_image(upload(data, name="bomb.png"))
    assert error.value.code == "too_many_pixels"
