from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.images import normalise_photo
from accounts.models import GuideProfile, Language, User
from accounts.rules import supported_language
from accounts.selectors import is_known_timezone, timezone_choices


class TimezoneSelect(forms.Select):
    """A <select> of ~600 zones rendered in Python: Django renders one template per <option>,
    which made this single field most of the profile page's rendering time."""

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        selected = str(value or "")
        final_attrs = self.build_attrs(self.attrs, {**(attrs or {}), "name": name})

        def options(choices: Any) -> SafeString:
            return format_html_join(
                "",
                '<option value="{}"{}>{}</option>',
                ((zone, mark_safe(" selected") if zone == selected else "", label) for zone, label in choices),
            )

        groups = format_html_join(
            "",
            '<optgroup label="{}">{}</optgroup>',
            ((group, options(zones)) for group, zones in self.choices),
        )
        return format_html("<select{}>{}</select>", flatatt(final_attrs), groups)


class DetectPreferencesForm(forms.Form):
    """What the browser reports on a first visit (Intl time zone, navigator.language)."""

    timezone = forms.CharField(required=False, max_length=64, strip=True)
    # Long enough for navigator.languages joined by commas; anything longer is not a browser.
    language = forms.CharField(required=False, max_length=200, strip=True)

    def clean_timezone(self) -> str:
        value: str = self.cleaned_data["timezone"]
        if value and not is_known_timezone(value):
            raise forms.ValidationError(_("%(value)s is not a known time zone."), params={"value": value})
        return value

    def clean_language(self) -> str:
        # An unsupported language is not an error: the site just stays in its default language.
        return supported_language(self.cleaned_data["language"], [code for code, _name in settings.LANGUAGES])


# Unparameterised: Django's classes are not subscriptable at run time without django_stubs_ext.
class ProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    timezone = forms.ChoiceField(
        label=_("Time zone"), help_text=_("Tour times are shown in this zone."), widget=TimezoneSelect
    )
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    class Meta:
        model = User
        fields = ("name", "timezone", "language", "country")
        labels = {"name": _("Name"), "country": _("Country")}
        help_texts = {"country": _("Optional.")}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.initial.get("timezone") or ""
        # Offer the current zone even if it is a legacy alias a browser reported, so saving the
        # form unchanged never fails on a value the person did not pick.
        self.fields["timezone"].choices = timezone_choices(include=str(current))  # type: ignore[attr-defined]
        self.fields["name"].widget.attrs["autocomplete"] = "name"
        self.fields["country"].widget.attrs["autocomplete"] = "country-name"


class GuideProfileForm(forms.ModelForm):  # type: ignore[type-arg]
    languages = forms.ModelMultipleChoiceField(
        label=_("Languages you guide in"),
        queryset=Language.objects.order_by("name"),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    photo = forms.ImageField(
        label=_("Photo"),
        required=False,
        help_text=_("JPEG, PNG, WebP or GIF, up to 5 MB. Location and camera data are removed."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp,image/gif"}),
    )

    # Set by clean_photo() when a new photo was uploaded (already re-encoded).
    new_photo: ContentFile[bytes] | None = None

    class Meta:
        model = GuideProfile
        fields = ("display_name", "city", "bio", "languages", "photo")
        labels = {"display_name": _("Display name"), "city": _("City"), "bio": _("About you")}
        help_texts = {"display_name": _("Shown on your public page and on your tours.")}

    def clean_photo(self) -> Any:
        photo = self.cleaned_data.get("photo")
        if isinstance(photo, UploadedFile):
            # Re-encode here so that a bad file is a form error, not a failure while saving.
            self.new_photo = normalise_photo(photo, name_prefix=self.instance.slug or "guide")
            return self.new_photo
        return photo

    @property
    def remove_photo(self) -> bool:
        # ClearableFileInput hands over False when "Clear" is ticked and nothing new is uploaded.
        return self.cleaned_data.get("photo") is False
