"""The booking calendar page and the JSON slot feed behind it (docs/api.md, "Slot feed")."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_safe

from bookings import feed, selectors
from bookings.models import Slot, Tour

# Seats change as people book: a browser may reuse an answer briefly (paging back and forth in the
# calendar), never for long, and no shared cache may keep one (booked_by_you is per person).
FEED_MAX_AGE_SECONDS = 30
# The page's list for browsers without JavaScript; the calendar itself reads the feed.
NOSCRIPT_LIMIT = 100
# Room for a whole window after the last day a visitor may pick (no date arithmetic overflows).
LAST_DAY = date.max - timedelta(days=2 * feed.MAX_WINDOW.days)


class CalendarFilterForm(forms.Form):
    """The calendar's filters. The same names as the feed's parameters, so the script can pass the
    form's values straight on; the dates are whole days in the viewer's zone, both included."""

    tour = forms.SlugField(required=False, max_length=160, widget=forms.HiddenInput)
    category = forms.ChoiceField(
        label=_("Tour type"), required=False, choices=[("", _("Any type")), *Tour.Category.choices]
    )
    # A text field behind a select: a guide who has left must make the list empty, not the form invalid.
    guide = forms.CharField(label=_("Guide"), required=False, max_length=120)
    start = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    end = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args: Any, guides: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["guide"].widget = forms.Select(choices=[("", _("Any guide")), *guides])

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start: date | None = cleaned.get("start")
        end: date | None = cleaned.get("end")
        for name, day in (("start", start), ("end", end)):
            if day and day > LAST_DAY:
                self.add_error(name, _("Choose an earlier date."))
                return cleaned
        if start and end:
            if end < start:
                self.add_error("end", _("The last day must not be before the first."))
            elif (end - start).days + 1 > feed.MAX_WINDOW.days:
                self.add_error("end", _("Choose at most %(days)d days.") % {"days": feed.MAX_WINDOW.days})
        return cleaned


def _day_start(day: date) -> datetime:
    """Midnight starting ``day`` in the visitor's zone (the one the page prints times in)."""
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def _page_query(form: CalendarFilterForm, *, now: datetime) -> feed.FeedQuery | None:
    """The window and filters the page's own list shows; None when the filters are invalid."""
    if not form.is_bound:
        return feed.FeedQuery(start=now, end=now + feed.DEFAULT_WINDOW)
    if not form.is_valid():
        return None
    data = form.cleaned_data
    start = _day_start(data["start"]) if data["start"] else now
    end = _day_start(data["end"] + timedelta(days=1)) if data["end"] else start + feed.DEFAULT_WINDOW
    if end <= now:
        return None
    return feed.FeedQuery(
        start=start, end=end, tour=data["tour"], category=data["category"], guide=data["guide"], city=""
    )


@require_safe
def calendar(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    form = CalendarFilterForm(request.GET or None, guides=selectors.filter_options().guides)
    query = _page_query(form, now=now)
    slots: list[Slot] = []
    if query is not None:
        slots = feed.upcoming_slots(query=query, now=now, limit=NOSCRIPT_LIMIT + 1)
    tour = None
    if form.is_bound and form.is_valid() and form.cleaned_data["tour"]:
        tour = selectors.published_tours().filter(slug=form.cleaned_data["tour"]).first()
    context = {
        "form": form,
        "filtered": any(request.GET.get(name) for name in form.fields),
        "slots": [(slot, feed.state_of(slot).value, feed.book_url(slot.pk)) for slot in slots[:NOSCRIPT_LIMIT]],
        "more_slots": len(slots) > NOSCRIPT_LIMIT,
        "filter_tour": tour,
    }
    return render(request, "bookings/calendar.html", context)


@require_safe
def slot_feed(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    try:
        query = feed.parse_feed_query(request.GET, now=now)
    except feed.FeedQueryError as error:
        return JsonResponse({"error": str(error)}, status=400)
    response = JsonResponse(feed.slot_feed(query=query, user=request.user, now=now))
    patch_cache_control(response, private=True, max_age=FEED_MAX_AGE_SECONDS)
    return response
