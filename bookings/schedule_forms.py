"""Forms of the guide's availability page and of cancelling a date.

Several forms share one page, so each has its own prefix (ids and names never collide) and the
page posts a hidden ``form`` field naming which one was sent.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone
from django.utils.dates import WEEKDAYS
from django.utils.translation import gettext_lazy as _

from bookings import rules
from bookings.models import Tour, TourScheduling
from bookings.schedule_selectors import today_in

MAX_REFUND_TIERS = 4
MAX_NOTICE_HOURS = 30 * 24
_TIME = re.compile(r"([01]?\d|2[0-3])[:.h]([0-5]\d)")
_SEPARATORS = re.compile(r"[,;\s]+")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "%Y-%m-%d")
        super().__init__(**kwargs)


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "%H:%M")
        super().__init__(**kwargs)


def parse_start_times(text: str) -> list[dt.time]:
    """``"10:00, 15:30"`` -> [10:00, 15:30]; 24-hour times separated by commas or spaces."""
    items = [item for item in _SEPARATORS.split(text.strip()) if item]
    if not items:
        raise forms.ValidationError(_("Give at least one start time, e.g. 10:00, 15:30."), code="required")
    times: set[dt.time] = set()
    for item in items:
        match = _TIME.fullmatch(item)
        if match is None:
            raise forms.ValidationError(
                _("“%(item)s” is not a time: write 24-hour times such as 09:30 or 15:00."),
                code="invalid",
                params={"item": item[:20]},
            )
        times.add(dt.time(int(match.group(1)), int(match.group(2))))
    if len(times) > rules.MAX_STARTS_PER_DAY:
        raise forms.ValidationError(
            _("At most %(count)d start times a day."), code="too_many", params={"count": rules.MAX_STARTS_PER_DAY}
        )
    return sorted(times)


class _TourForm(forms.Form):
    """A form about one tour: knows its zone (for "today") and its maximum group size (for seats)."""

    def __init__(self, *args: Any, tour: Tour, now: dt.datetime | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tour = tour
        self.today = today_in(tour.timezone, now=now or timezone.now())
        if "capacity" in self.fields:
            capacity = self.fields["capacity"]
            assert isinstance(capacity, forms.IntegerField)
            capacity.max_value = tour.max_group_size
            capacity.validators.append(MaxValueValidator(tour.max_group_size))
            capacity.widget.attrs["max"] = tour.max_group_size
            capacity.widget.attrs["placeholder"] = tour.max_group_size
            capacity.help_text = _("Empty: the tour's maximum group size (%(count)d).") % {"count": tour.max_group_size}


def _capacity_field() -> forms.IntegerField:
    return forms.IntegerField(label=_("Seats per date"), required=False, min_value=1)


class WeeklyTimesForm(_TourForm):
    weekdays = forms.TypedMultipleChoiceField(
        label=_("Weekdays"),
        choices=[(str(day), name) for day, name in WEEKDAYS.items()],
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Tick at least one weekday.")},
    )
    start_times = forms.CharField(
        label=_("Start times"),
        max_length=200,
        help_text=_("24-hour times in the tour's time zone, separated by commas, e.g. 10:00, 15:30."),
    )
    valid_from = forms.DateField(label=_("From"), widget=DateInput())
    valid_until = forms.DateField(
        label=_("Until"), required=False, widget=DateInput(), help_text=_("Empty: until you stop it.")
    )
    capacity = _capacity_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["valid_from"].initial = self.today

    def clean_start_times(self) -> list[dt.time]:
        return parse_start_times(self.cleaned_data["start_times"])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        valid_from: dt.date | None = cleaned.get("valid_from")
        valid_until: dt.date | None = cleaned.get("valid_until")
        if valid_until is not None:
            if valid_from is not None and valid_until < valid_from:
                self.add_error("valid_until", _("The last day is before the first."))
            elif valid_until < self.today:
                self.add_error("valid_until", _("This day is in the past."))
        if "weekdays" in cleaned and "start_times" in cleaned:
            cleaned["rrules"] = rules.weekly_rrules(weekdays=cleaned["weekdays"], start_times=cleaned["start_times"])
        return cleaned


class BlackoutForm(_TourForm):
    date = forms.DateField(label=_("Day"), widget=DateInput(), help_text=_("A day in the tour's time zone."))
    reason = forms.CharField(label=_("Reason (only you see it)"), max_length=200, required=False)

    def clean_date(self) -> dt.date:
        day: dt.date = self.cleaned_data["date"]
        if day < self.today:
            raise forms.ValidationError(_("This day is in the past."), code="past")
        return day


class OneOffSlotForm(_TourForm):
    date = forms.DateField(label=_("Day"), widget=DateInput())
    time = forms.TimeField(
        label=_("Start time"), widget=TimeInput(), help_text=_("In the tour's time zone (24-hour clock).")
    )
    capacity = _capacity_field()

    def clean_time(self) -> dt.time:
        start: dt.time = self.cleaned_data["time"]
        if start.second or start.microsecond:
            raise forms.ValidationError(_("Tours start on a whole minute."), code="seconds")
        return start

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "date" in cleaned and "time" in cleaned:
            # A wall-clock time in the tour's zone; the service turns it into an instant (RFC 5545).
            cleaned["local_start"] = dt.datetime.combine(cleaned["date"], cleaned["time"])
        return cleaned


class SchedulingSettingsForm(forms.Form):
    min_notice_hours = forms.DecimalField(
        label=_("Minimum notice (hours)"),
        min_value=Decimal(0),
        max_value=Decimal(MAX_NOTICE_HOURS),
        max_digits=5,
        decimal_places=2,
        help_text=_("Bookings close this long before the start."),
    )
    horizon_days = forms.IntegerField(
        label=_("Booking horizon (days)"),
        min_value=1,
        max_value=365,
        help_text=_("How far ahead customers may book."),
    )
    buffer_minutes = forms.IntegerField(
        label=_("Buffer after the tour (minutes)"),
        min_value=0,
        max_value=24 * 60,
        help_text=_("Time you keep free after this tour before any of your tours may start."),
    )

    def __init__(self, *args: Any, scheduling: TourScheduling | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for index in range(MAX_REFUND_TIERS):
            self.fields[f"refund_hours_{index}"] = forms.IntegerField(
                label=_("Hours before the start (row %(row)d)") % {"row": index + 1},
                required=False,
                validators=[MinValueValidator(0)],
            )
            self.fields[f"refund_percent_{index}"] = forms.IntegerField(
                label=_("Percent refunded (row %(row)d)") % {"row": index + 1},
                required=False,
                validators=[MinValueValidator(0), MaxValueValidator(100)],
            )
        if scheduling is not None and not self.is_bound:
            self.initial.update(
                {
                    "min_notice_hours": (Decimal(scheduling.min_notice_minutes) / 60).normalize(),
                    "horizon_days": scheduling.horizon_days,
                    "buffer_minutes": scheduling.buffer_minutes,
                }
            )
            # Tiers refunding 0 % change nothing (below the last tier nothing is refunded anyway);
            # "never refund" is stored as one such tier and shows as empty rows.
            tiers = [pair for pair in scheduling.refund_policy or [] if len(pair) == 2 and pair[1]]
            for index, (hours, percent) in enumerate(tiers[:MAX_REFUND_TIERS]):
                self.initial[f"refund_hours_{index}"], self.initial[f"refund_percent_{index}"] = hours, percent

    def refund_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [(self[f"refund_hours_{index}"], self[f"refund_percent_{index}"]) for index in range(MAX_REFUND_TIERS)]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        pairs: list[tuple[int, int]] = []
        for index in range(MAX_REFUND_TIERS):
            hours_name, percent_name = f"refund_hours_{index}", f"refund_percent_{index}"
            if hours_name in self.errors or percent_name in self.errors:
                return cleaned
            hours, percent = cleaned.get(hours_name), cleaned.get(percent_name)
            if hours is None and percent is None:
                continue
            if hours is None or percent is None:
                self.add_error(
                    hours_name if hours is None else percent_name,
                    _("Give both the hours and the percentage, or leave the row empty."),
                )
                return cleaned
            pairs.append((hours, percent))
        try:
            cleaned["refund_policy"] = rules.RefundPolicy.from_pairs(pairs)
        except rules.InvalidRefundPolicy as error:
            self.add_error(None, _("Refund policy: %(error)s.") % {"error": str(error).rstrip(".")})
        notice = cleaned.get("min_notice_hours")
        if notice is not None:
            cleaned["min_notice_minutes"] = int((notice * 60).to_integral_value())
            horizon = cleaned.get("horizon_days")
            if horizon is not None and horizon * 24 * 60 <= cleaned["min_notice_minutes"]:
                self.add_error("horizon_days", _("The booking horizon must be longer than the minimum notice."))
        return cleaned


class SlotCancelForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for cancelling"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": _("Tell your customers why this date is cancelled.")},
    )

    def clean_reason(self) -> str:
        reason = str(self.cleaned_data["reason"]).strip()
        if not reason:
            raise forms.ValidationError(_("Tell your customers why this date is cancelled."), code="required")
        return reason
