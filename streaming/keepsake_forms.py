"""Forms of the guide's keepsake page: the highlights text, new photos, captions and removals."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _

from bookings.forms import MultipleReencodedImageField
from bookings.images import reencode_image
from streaming.keepsake_models import CAPTION_MAX_LENGTH, HIGHLIGHTS_MAX_LENGTH

# Per submission; the gallery as a whole is capped by keepsake_models.MAX_PHOTOS_PER_SESSION.
MAX_PHOTOS_PER_UPLOAD = 10


class KeepsakePhotosField(MultipleReencodedImageField):
    """Several photos, each re-encoded (EXIF and GPS dropped, at most 1600 px) under a fresh name.

    A refused file is named in the error, so the guide knows which of ten to replace.
    """

    def to_python(self, data: Any) -> ContentFile[bytes] | None:
        upload = forms.FileField.to_python(self, data)
        if upload is None:
            return None
        try:
            return reencode_image(upload, name_prefix="keepsake")
        except ValidationError as error:
            name = getattr(upload, "name", "") or ""
            raise ValidationError(f"{name}: {' '.join(error.messages)}", code="invalid_image") from error


class HighlightsForm(forms.Form):
    highlights = forms.CharField(
        label=_("Highlights of the tour"),
        required=False,
        strip=True,
        max_length=HIGHLIGHTS_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("What you showed, the stories you told, the best questions. Guests read it on the tour's summary."),
    )


class PhotoUploadForm(forms.Form):
    photos = KeepsakePhotosField(
        label=_("Add photos"),
        required=True,
        help_text=_("JPEG, PNG or WebP, up to 5 MB each, up to 10 at a time. Location and camera data are removed."),
        error_messages={"required": _("Choose one or more photos to upload.")},
    )
    caption = forms.CharField(
        label=_("Caption (for these photos)"), required=False, strip=True, max_length=CAPTION_MAX_LENGTH
    )

    def clean_photos(self) -> list[ContentFile[bytes]]:
        photos: list[ContentFile[bytes]] = self.cleaned_data["photos"]
        if len(photos) > MAX_PHOTOS_PER_UPLOAD:
            raise ValidationError(
                _("Upload at most %(count)d photos at a time."),
                code="too_many",
                params={"count": MAX_PHOTOS_PER_UPLOAD},
            )
        return photos


class PhotoCaptionForm(forms.Form):
    caption = forms.CharField(label=_("Caption"), required=False, strip=True, max_length=CAPTION_MAX_LENGTH)
