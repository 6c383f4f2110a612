"""The tip form (suggested amounts or a custom one, a message, the room opt-in) and the thank-you forms."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from payments.tips import rules

CUSTOM = "custom"


def _amount_text(amount_minor: int, currency: str) -> str:
    return f"{rules.format_minor(amount_minor)} {currency}"


class TipForm(forms.Form):
    amount = forms.ChoiceField(label=gettext_lazy("Amount"), widget=forms.RadioSelect)
    custom_amount = forms.CharField(
        label=gettext_lazy("Another amount"),
        required=False,
        max_length=12,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    message = forms.CharField(
        label=gettext_lazy("A message for your guide (optional)"),
        required=False,
        max_length=rules.MESSAGE_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": rules.MESSAGE_MAX_CHARS}),
    )
    show_in_room = forms.BooleanField(
        label=gettext_lazy("Show a short “thank you” with my name to everyone in the live room (never the amount)"),
        required=False,
    )
    # One key per form: a double click or a resubmission finds the first tip and its payment.
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)

    def __init__(self, *args: Any, currency: str, live: bool, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {}).setdefault("key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.minimum, self.maximum = settings.TIP_MIN_MINOR, settings.TIP_MAX_MINOR
        self.suggested = rules.suggested_amounts_minor(minimum=self.minimum, maximum=self.maximum)
        choices = [(str(amount), _amount_text(amount, currency)) for amount in self.suggested]
        amount_field = self.fields["amount"]
        assert isinstance(amount_field, forms.ChoiceField)
        amount_field.choices = [*choices, (CUSTOM, _("Another amount"))]
        if len(self.suggested) > 1:
            self.fields["amount"].initial = str(self.suggested[1])
        elif self.suggested:
            self.fields["amount"].initial = str(self.suggested[0])
        else:
            self.fields["amount"].initial = CUSTOM
        self.fields["custom_amount"].help_text = _("Between %(minimum)s and %(maximum)s.") % {
            "minimum": _amount_text(self.minimum, currency),
            "maximum": _amount_text(self.maximum, currency),
        }
        if not live:
            # The room only sees a thank-you moment while the tour is live.
            del self.fields["show_in_room"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        choice = data.get("amount")
        if str(data.get("custom_amount") or "").strip():
            # An amount typed in is what the person means, whichever button is still selected.
            choice = CUSTOM
        if choice is None:
            return data
        if choice == CUSTOM:
            text = str(data.get("custom_amount") or "")
            if not text.strip():
                self.add_error("custom_amount", _("Enter the amount you want to give."))
                return data
            try:
                amount_minor = rules.parse_major_amount(text)
            except rules.TipRefused:
                self.add_error("custom_amount", _("Enter an amount such as 7 or 12.50."))
                return data
        else:
            amount_minor = int(choice)
        try:
            rules.check_amount(amount_minor, minimum=self.minimum, maximum=self.maximum)
        except rules.TipRefused as refusal:
            limit = self.minimum if refusal.code == "amount_too_small" else self.maximum
            text = (
                _("The smallest tip is %(amount)s.")
                if refusal.code == "amount_too_small"
                else _("The largest tip is %(amount)s.")
            )
            self.add_error(
                "custom_amount" if choice == CUSTOM else "amount", text % {"amount": _amount_text(limit, self.currency)}
            )
            return data
        try:
            data["message"] = rules.clean_text(str(data.get("message") or ""), max_chars=rules.MESSAGE_MAX_CHARS)
        except rules.TipRefused:
            self.add_error(
                "message",
                _("The message can be at most %(count)s characters long.") % {"count": rules.MESSAGE_MAX_CHARS},
            )
        data["amount_minor"] = amount_minor
        return data


class ThankYouForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Your thank-you message"),
        max_length=rules.THANK_YOU_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": rules.THANK_YOU_MAX_CHARS}),
    )


class ThankYouTextForm(forms.Form):
    thank_you_text = forms.CharField(
        label=gettext_lazy("Saved thank-you message"),
        help_text=gettext_lazy("Offered for every tip you thank; you can change it each time."),
        required=False,
        max_length=rules.THANK_YOU_MAX_CHARS,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": rules.THANK_YOU_MAX_CHARS}),
    )
