"""Guide photos: accept only real images, re-encode them, drop their metadata.

Re-encoding (rather than storing the upload as sent) is what strips EXIF: phone photos carry the
GPS position of the guide's home, and a file that merely claims to be an image never reaches the
media folder.
"""

from __future__ import annotations

import io
import secrets

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile, File
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PHOTO_BYTES = 5 * 1024 * 1024
# Big enough for a sharp profile picture on a retina screen, small enough to load on a phone.
MAX_PHOTO_SIDE = 1600
# Refuse decompression bombs long before Pillow's own (much higher) limit.
MAX_SOURCE_PIXELS = 50_000_000
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}


def normalise_photo(upload: File[bytes], *, name_prefix: str = "photo") -> ContentFile[bytes]:
    """Validate ``upload`` and return a clean JPEG (or PNG, when it has transparency)."""
    if upload.size is not None and upload.size > MAX_PHOTO_BYTES:
        raise ValidationError(
            _("The photo is %(size)s; the limit is %(limit)s."),
            code="file_too_large",
            params={"size": filesizeformat(upload.size), "limit": filesizeformat(MAX_PHOTO_BYTES)},
        )
    try:
        upload.seek(0)
        with Image.open(upload) as source:
            if source.format not in ACCEPTED_FORMATS:
                raise ValidationError(_("Upload a JPEG, PNG, WebP or GIF image."), code="invalid_image")
            if source.width * source.height > MAX_SOURCE_PIXELS:
                raise ValidationError(_("The photo has too many pixels."), code="too_many_pixels")
            source.load()
            # Colour profiles say nothing about the person and keep wide-gamut photos true.
            icc_profile = source.info.get("icc_profile")
            # Apply the EXIF rotation before the EXIF is dropped, or portraits end up sideways.
            image = ImageOps.exif_transpose(source)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError, ValueError) as error:
        raise ValidationError(_("Upload a valid image."), code="invalid_image") from error

    image.thumbnail((MAX_PHOTO_SIDE, MAX_PHOTO_SIDE))
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    buffer = io.BytesIO()
    if has_alpha:
        image.convert("RGBA").save(buffer, format="PNG", optimize=True, icc_profile=icc_profile)
        extension = "png"
    else:
        image.convert("RGB").save(
            buffer, format="JPEG", quality=85, optimize=True, progressive=True, icc_profile=icc_profile
        )
        extension = "jpg"
    # A fresh random name: the uploaded file name is user input and may reveal more than intended.
    return ContentFile(buffer.getvalue(), name=f"{name_prefix}-{secrets.token_hex(8)}.{extension}")
