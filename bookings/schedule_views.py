"""The guide's side of scheduling: availability of a tour, the guide's schedule, cancelling a date.

Thin views: forms check the input, bookings.scheduling / bookings.schedule_services /
bookings.reservations change state and check who may, and a refused change comes back as a form
error with the service's message (never a half-made set of dates).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_safe

from accounts.models import User
from bookings import reservations, rules, schedule_services, scheduling
from bookings import schedule_selectors as selectors
from bookings.models import Slot, Tour
from bookings.schedule_forms import (
    BlackoutForm,
    OneOffSlotForm,
    SchedulingSettingsForm,
    SlotCancelForm,
    WeeklyTimesForm,
)


def _signed_in_user(request: HttpRequest) -> User:
    # login_required has already redirected anonymous visitors; this narrows the type.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


# --- Availability of one tour ------------------------------------------------------------------

PREFIXES = {"weekly": "weekly", "blackout": "blackout", "one_off": "oneoff", "settings": "settings"}


def _empty_forms(tour: Tour) -> dict[str, forms.Form]:
    return {
        "weekly": WeeklyTimesForm(tour=tour, prefix=PREFIXES["weekly"]),
        "blackout": BlackoutForm(tour=tour, prefix=PREFIXES["blackout"]),
        "one_off": OneOffSlotForm(tour=tour, prefix=PREFIXES["one_off"]),
        "settings": SchedulingSettingsForm(scheduling=selectors.scheduling_of(tour=tour), prefix=PREFIXES["settings"]),
    }


def _back_to_tour(tour: Tour) -> HttpResponse:
    return redirect("bookings:tour_availability", slug=tour.slug)


Outcome = HttpResponse | tuple[str, forms.Form]


def _add_weekly_times(request: HttpRequest, user: User, tour: Tour) -> Outcome:
    form = WeeklyTimesForm(request.POST, tour=tour, prefix=PREFIXES["weekly"])
    if not form.is_valid():
        return "weekly", form
    created = 0
    try:
        # One transaction around every RRULE of the form: a clash in the second refuses the first.
        with transaction.atomic():
            for rrule in form.cleaned_data["rrules"]:
                outcome = scheduling.create_rule(
                    user=user,
                    tour=tour,
                    rrule=rrule,
                    valid_from=form.cleaned_data["valid_from"],
                    valid_until=form.cleaned_data["valid_until"],
                    capacity=form.cleaned_data["capacity"],
                )
                created += outcome.slots_created
    except scheduling.SchedulingError as error:
        form.add_error(None, error.message)
        return "weekly", form
    messages.success(
        request,
        ngettext("Weekly times added: %(count)d new date.", "Weekly times added: %(count)d new dates.", created)
        % {"count": created},
    )
    return _back_to_tour(tour)


def _add_blackout(request: HttpRequest, user: User, tour: Tour) -> Outcome:
    form = BlackoutForm(request.POST, tour=tour, prefix=PREFIXES["blackout"])
    if not form.is_valid():
        return "blackout", form
    _blackout, removed = scheduling.add_blackout(
        user=user, tour=tour, day=form.cleaned_data["date"], reason=form.cleaned_data["reason"]
    )
    messages.success(
        request,
        ngettext(
            "Day closed; %(count)d unbooked date removed.", "Day closed; %(count)d unbooked dates removed.", removed
        )
        % {"count": removed}
        + (" " + _("Booked dates that day stay until you cancel them.")),
    )
    return _back_to_tour(tour)


def _add_one_off(request: HttpRequest, user: User, tour: Tour) -> Outcome:
    form = OneOffSlotForm(request.POST, tour=tour, prefix=PREFIXES["one_off"])
    if not form.is_valid():
        return "one_off", form
    try:
        slot = scheduling.add_one_off_slot(
            user=user, tour=tour, local_start=form.cleaned_data["local_start"], capacity=form.cleaned_data["capacity"]
        )
    except scheduling.SchedulingError as error:
        form.add_error(None, error.message)
        return "one_off", form
    local = timezone.localtime(slot.start, zoneinfo.ZoneInfo(tour.timezone))
    messages.success(
        request,
        _("Date added: %(when)s (%(zone)s).")
        % {"when": formats.date_format(local, "D j M Y, H:i"), "zone": tour.timezone},
    )
    return _back_to_tour(tour)


def _save_settings(request: HttpRequest, user: User, tour: Tour) -> Outcome:
    form = SchedulingSettingsForm(request.POST, prefix=PREFIXES["settings"])
    if not form.is_valid():
        return "settings", form
    try:
        schedule_services.update_tour_scheduling(
            user=user,
            tour=tour,
            min_notice_minutes=form.cleaned_data["min_notice_minutes"],
            horizon_days=form.cleaned_data["horizon_days"],
            buffer_minutes=form.cleaned_data["buffer_minutes"],
            refund_policy=form.cleaned_data["refund_policy"],
        )
    except scheduling.SchedulingError as error:
        form.add_error(None, error.message)
        return "settings", form
    messages.success(request, _("Settings saved. A longer horizon opens new dates within the hour."))
    return _back_to_tour(tour)


def _stop_rule(request: HttpRequest, user: User, tour: Tour) -> Outcome:
    try:
        rule_id = int(request.POST.get("rule", ""))
    except ValueError:
        return HttpResponseBadRequest(_("Which weekly times should stop?"))
    rule = selectors.access_rule(tour=tour, rule_id=rule_id)
    removed = scheduling.deactivate_rule(user=user, rule=rule)
    messages.success(
        request,
        ngettext(
            "Weekly times stopped; %(count)d unbooked date removed.",
            "Weekly times stopped; %(count)d unbooked dates removed.",
            removed,
        )
        % {"count": removed}
        + " "
        + _("Booked dates stay until you cancel them."),
    )
    return _back_to_tour(tour)


_HANDLERS: dict[str, Callable[[HttpRequest, User, Tour], Outcome]] = {
    "weekly": _add_weekly_times,
    "blackout": _add_blackout,
    "one_off": _add_one_off,
    "settings": _save_settings,
    "stop_rule": _stop_rule,
}


@login_required
@require_http_methods(["GET", "POST"])
def tour_availability(request: HttpRequest, slug: str) -> HttpResponse:
    user = _signed_in_user(request)
    tour = selectors.access_tour_for_scheduling(user=user, slug=slug)
    page_forms = _empty_forms(tour)
    if request.method == "POST":
        handler = _HANDLERS.get(request.POST.get("form", ""))
        if handler is None:
            return HttpResponseBadRequest(_("Unknown form."))
        outcome = handler(request, user, tour)
        if isinstance(outcome, HttpResponse):
            return outcome
        # Shown again with that form's errors (200, as the site's other forms: a 4xx would read as
        # a failed resource in the browser console).
        name, bound = outcome
        page_forms[name] = bound
    now = timezone.now()
    context = {
        "tour": tour,
        "scheduling": selectors.scheduling_of(tour=tour),
        "rules": selectors.active_rules(tour=tour),
        "blackouts": selectors.upcoming_blackouts(tour=tour, now=now),
        "slots": selectors.upcoming_slots_of_tour(tour=tour, now=now),
        "slot_limit": selectors.UPCOMING_SLOTS_ON_TOUR_PAGE,
        "is_own_tour": tour.guide.user_id == user.pk,
        **{f"{name}_form": form for name, form in page_forms.items()},
    }
    return render(request, "bookings/schedule/tour_availability.html", context)


# --- The guide's schedule ----------------------------------------------------------------------


def _schedule_url(user: User, slot: Slot) -> str:
    url = reverse("bookings:guide_schedule")
    if slot.guide.user_id != user.pk:
        # Staff acting on another guide's date go back to that guide's schedule.
        url += "?" + urlencode({"guide": slot.guide.slug})
    return url


@login_required
@require_safe
def guide_schedule(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    guide = selectors.access_schedule_guide(user=user, guide_slug=request.GET.get("guide", "").strip())
    if guide is None:
        return render(request, "bookings/schedule/choose_guide.html", {"guides": selectors.guides_with_slots()})
    schedule = selectors.guide_schedule(guide=guide, now=timezone.now())
    return render(
        request,
        "bookings/schedule/guide_schedule.html",
        {"schedule": schedule, "guide": guide, "is_own_schedule": guide.user_id == user.pk},
    )


@login_required
@require_http_methods(["GET", "POST"])
def slot_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    user = _signed_in_user(request)
    slot = selectors.access_slot_for_guide(user=user, slot_id=pk)
    back = _schedule_url(user, slot)
    if slot.status == Slot.Status.CANCELLED:
        messages.info(request, _("This date is already cancelled."))
        return redirect(back)
    if slot.end <= timezone.now():
        messages.info(request, _("This date is over; it can no longer be cancelled."))
        return redirect(back)
    form = SlotCancelForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            outcomes = reservations.cancel_slot(user=user, slot_id=slot.pk, reason=form.cleaned_data["reason"])
        except reservations.BookingError as error:
            # Cancelled or over in the meantime (another tab, staff): say so and go back.
            messages.info(request, error.message)
            return redirect(back)
        messages.success(
            request,
            ngettext(
                "Date cancelled. %(count)d booking was cancelled with a full refund; the customer has been told.",
                "Date cancelled. %(count)d bookings were cancelled with a full refund; each customer has been told.",
                len(outcomes),
            )
            % {"count": len(outcomes)},
        )
        return redirect(back)
    bookings = selectors.active_bookings_on(slot=slot)
    context = {
        "slot": slot,
        "tour": slot.tour,
        "form": form,
        "bookings": bookings,
        "refund_total": rules.major_units(sum(booking.amount_minor - booking.refunded_minor for booking in bookings)),
        "back_url": back,
    }
    return render(request, "bookings/schedule/slot_cancel.html", context)
