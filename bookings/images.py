"""Check and re-encode images people upload for tours (and, later, review photos and keepsakes).

The decoding and re-encoding (EXIF and location dropped, longest side <= 1600 px, random file name)
is accounts.images.normalise_photo, shared with guide portraits; this module only narrows the
accepted formats to what the tour pages promise.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from PIL import Image

from accounts.images import normalise_photo

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
ACCEPT_ATTRIBUTE = "image/jpeg,image/png,image/webp"


def reencode_image(upload: File[bytes], *, name_prefix: str = "photo") -> ContentFile[bytes]:
    """Return ``upload`` as a freshly encoded JPEG (PNG if transparent) without any metadata.

    Raises ValidationError, with a message fit for a form, when the file is not a JPEG, PNG or
    WebP image, is larger than 5 MB, has too many pixels or cannot be decoded.
    """
    try:
        upload.seek(0)
        # Opening reads the header only; the pixels are decoded once, in normalise_photo.
        with Image.open(upload) as probe:
            image_format = probe.format
    except Image.DecompressionBombError as error:
        raise ValidationError(_("The image has too many pixels."), code="too_many_pixels") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ValidationError(_("Upload a JPEG, PNG or WebP image."), code="invalid_image") from error
    if image_format not in ACCEPTED_FORMATS:
        raise ValidationError(_("Upload a JPEG, PNG or WebP image."), code="invalid_image")
    return normalise_photo(upload, name_prefix=name_prefix)
