"""Forms of the customer's booking pages. They check the shape of the input; the services decide."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from bookings.booking_selectors import MAX_SEATS_PER_BOOKING

# A uuid4 hex from the page; tolerant of other clients' keys, but never something long or odd.
_IDEMPOTENCY_KEY = RegexValidator(r"^[A-Za-z0-9_-]{16,64}$", _("This form has expired: please book again."))


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class BookSlotForm(forms.Form):
    """Seats, the page's idempotency key and, when the slot overlaps another booking, the consent."""

    seats = forms.IntegerField(
        label=_("Seats"),
        min_value=1,
        max_value=MAX_SEATS_PER_BOOKING,
        error_messages={
            "min_value": _("Choose at least one seat."),
            "max_value": _("You can book at most %(limit_value)s seats at once."),
        },
        widget=forms.Select,
    )
    idempotency_key = forms.CharField(
        widget=forms.HiddenInput,
        validators=[_IDEMPOTENCY_KEY],
        error_messages={"required": _("This form has expired: please book again.")},
    )
    overlap_confirmed = forms.BooleanField(
        label=_("I know this tour overlaps another of my bookings, book it anyway"), required=False
    )

    def __init__(self, *args: Any, seat_choices: Sequence[int], has_overlap: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_overlap = has_overlap
        self.offer_seats(seat_choices)
        if not has_overlap:
            del self.fields["overlap_confirmed"]

    def offer_seats(self, seat_choices: Sequence[int]) -> None:
        """What the menu lists. Only the menu: a number outside it (seats taken since the page was
        drawn) still reaches the service, which answers with how many are left."""
        widget = self.fields["seats"].widget
        assert isinstance(widget, forms.Select)
        widget.choices = [(number, str(number)) for number in seat_choices]

    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.has_overlap and not self.cleaned_data.get("overlap_confirmed"):
            self.add_error(
                "overlap_confirmed",
                _("This tour overlaps another of your bookings: tick the box to book it anyway."),
            )
        return cleaned


class RescheduleForm(forms.Form):
    """The new date (the page draws the radio buttons, each with two times).

    Whether the date is allowed (same tour, still open, room for the seats) is the service's call.
    """

    slot_id = forms.IntegerField(
        label=_("New date"),
        min_value=1,
        error_messages={
            "required": _("Choose the new date."),
            "invalid": _("Choose the new date."),
            "min_value": _("Choose the new date."),
        },
    )
