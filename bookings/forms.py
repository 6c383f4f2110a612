from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _

from accounts.forms import TimezoneSelect
from accounts.models import Language
from accounts.selectors import timezone_choices
from bookings.images import ACCEPT_ATTRIBUTE, reencode_image
from bookings.models import Tour, TourPhoto

CURRENCY_CHOICES = [("EUR", "EUR (€)"), ("USD", "USD ($)"), ("GBP", "GBP (£)")]
MAX_GALLERY_PHOTOS = 12


class ReencodedImageField(forms.FileField):
    """An image upload that comes out of ``clean`` already checked and re-encoded (a ContentFile).

    Decoding once here, instead of Django's ImageField check followed by a second decode in the
    service, keeps the expensive part in one place: bookings.images.reencode_image.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", forms.ClearableFileInput(attrs={"accept": ACCEPT_ATTRIBUTE}))
        super().__init__(**kwargs)

    def to_python(self, data: Any) -> ContentFile[bytes] | None:
        upload = super().to_python(data)
        if upload is None:
            return None
        return reencode_image(upload, name_prefix="tour")


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleReencodedImageField(ReencodedImageField):
    """Several images in one file input (Django's documented pattern for multiple uploads)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ACCEPT_ATTRIBUTE}))
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[ContentFile[bytes]]:
        uploads: Sequence[File[bytes]] = data if isinstance(data, list | tuple) else [data] if data else []
        if not uploads and self.required:
            raise forms.ValidationError(self.error_messages["required"], code="required")
        images = []
        for upload in uploads:
            image = super().clean(upload, initial)
            if image is not None:
                images.append(image)
        return images


class TourFilterForm(forms.Form):
    """The public catalogue's filters. Plain text fields behind the selects on purpose: a stale or
    hand-edited link with an unknown value must give an empty list, not a form error."""

    q = forms.CharField(
        label=_("Search"), required=False, max_length=100, widget=forms.TextInput(attrs={"type": "search"})
    )
    category = forms.CharField(label=_("Category"), required=False, max_length=32)
    city = forms.CharField(label=_("City"), required=False, max_length=80)
    language = forms.CharField(label=_("Language"), required=False, max_length=8)
    guide = forms.CharField(label=_("Guide"), required=False, max_length=120)

    def __init__(
        self,
        *args: Any,
        cities: Sequence[str] = (),
        languages: Sequence[Language] = (),
        guides: Sequence[tuple[str, str]] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].widget = forms.Select(choices=[("", _("Any category")), *Tour.Category.choices])
        self.fields["city"].widget = forms.Select(choices=[("", _("Any city")), *((city, city) for city in cities)])
        self.fields["language"].widget = forms.Select(
            choices=[("", _("Any language")), *((language.code, language.name) for language in languages)]
        )
        self.fields["guide"].widget = forms.Select(choices=[("", _("Any guide")), *guides])


# Not ModelForm[Tour]: Django's classes are not subscriptable at run time without django_stubs_ext.
class TourForm(forms.ModelForm):  # type: ignore[type-arg]
    """What a guide edits about a tour. Saving goes through bookings.services, not ``save()``."""

    currency = forms.ChoiceField(label=_("Currency"), choices=CURRENCY_CHOICES, initial="EUR")
    timezone = forms.ChoiceField(
        label=_("Time zone"),
        widget=TimezoneSelect,  # the profile page's grouped, fast-rendering zone list
        initial=settings.TOUR_DEFAULT_TIMEZONE,
        help_text=_("The zone your schedule is written in; customers see times in their own zone."),
    )
    languages = forms.ModelMultipleChoiceField(
        label=_("Languages"), queryset=Language.objects.all(), widget=forms.CheckboxSelectMultiple
    )
    cover_photo = ReencodedImageField(
        label=_("Cover photo"), required=False, help_text=_("JPEG, PNG or WebP, up to 5 MB.")
    )
    gallery = MultipleReencodedImageField(
        label=_("Add gallery photos"), required=False, help_text=_("You can select several files at once.")
    )
    remove_photos = forms.ModelMultipleChoiceField(
        label=_("Remove gallery photos"),
        queryset=TourPhoto.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = Tour
        fields = [
            "title",
            "summary",
            "description",
            "city",
            "category",
            "languages",
            "duration_minutes",
            "price",
            "currency",
            "max_group_size",
            "timezone",
            "status",
            "cover_photo",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        timezone_field = self.fields["timezone"]
        assert isinstance(timezone_field, forms.ChoiceField)
        timezone_field.choices = timezone_choices(include=str(self.initial.get("timezone") or ""))
        if self.instance.pk:
            self.fields["remove_photos"].queryset = self.instance.photos.all()  # type: ignore[attr-defined]
            # A tour set up in the admin may use another currency; editing it must not force a change.
            if self.instance.currency not in dict(CURRENCY_CHOICES):
                currency_field = self.fields["currency"]
                assert isinstance(currency_field, forms.ChoiceField)
                currency_field.choices = [*CURRENCY_CHOICES, (self.instance.currency, self.instance.currency)]
        else:
            del self.fields["remove_photos"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        existing = self.instance.photos.count() if self.instance.pk else 0
        removed = len(cleaned.get("remove_photos") or ())
        added = len(cleaned.get("gallery") or ())
        if existing - removed + added > MAX_GALLERY_PHOTOS:
            self.add_error(
                "gallery",
                _("A tour can have at most %(limit)d gallery photos.") % {"limit": MAX_GALLERY_PHOTOS},
            )
        return cleaned
