"""Customer-facing booking pages: book a slot, the confirmation, my bookings, cancel, reschedule.

Thin callers: reads come from ``bookings.booking_selectors``, every change from
``bookings.reservations``, which checks everything again under the slot lock. A refused request
re-renders its page with the service's message and status (400 bad input, 409 sold out or no
longer open) and nothing is written. Times are shown in the viewer's zone (the one the middleware
activated from their profile) with the tour's own, Italian, time beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from accounts.models import User
from bookings import booking_selectors, calendar_links, messaging, reservations, rules
from bookings.booking_forms import BookSlotForm, RescheduleForm, new_idempotency_key
from bookings.models import Booking, Slot, Tour
from payments import selectors as payment_selectors


def _signed_in_user(request: HttpRequest) -> User:
    # login_required has already redirected anonymous visitors; this narrows the type.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _access(user: User, booking_id: int) -> Booking:
    """The booking if ``user`` owns it (or is staff); 404 if it does not exist, 403 otherwise."""
    try:
        return reservations.access_booking(user=user, booking_id=booking_id)
    except reservations.BookingError:
        raise Http404(_("No such booking.")) from None


def _viewer_zone() -> str:
    """The zone UserTimezoneMiddleware activated (the profile's; UTC when none is set)."""
    name = timezone.get_current_timezone_name()
    try:
        rules.get_zone(name)
    except rules.InvalidTimeZone:
        # A stored name zoneinfo opens but the rules refuse ("posixrules"): the whole page falls
        # back to UTC, so the times and the policy deadlines still agree, rather than a 500.
        timezone.activate(UTC)
        return "UTC"
    return name


def _policy_lines(tour: Tour, start: datetime, now: datetime) -> list[str]:
    policy = reservations.refund_policy_for(tour)
    return rules.describe(policy, start_utc=start, viewer_tz=_viewer_zone(), now=now)


def _why_unchangeable(booking: Booking, *, now: datetime, moving: bool) -> str:
    if not booking.is_active:
        return (
            _("This booking is cancelled; it can no longer be moved.")
            if moving
            else _("This booking is already cancelled.")
        )
    if booking.slot.start <= now:
        return (
            _("This tour has already started and can no longer be moved.")
            if moving
            else _("This tour has already started and can no longer be cancelled.")
        )
    return ""


# --- Book a slot --------------------------------------------------------------------------------


def _render_book(
    request: HttpRequest,
    *,
    user: User,
    slot: Slot,
    now: datetime,
    form: BookSlotForm | None,
    idempotency_key: str,
    error: str = "",
    status: int | None = None,
) -> HttpResponse:
    existing = booking_selectors.active_booking_on_slot(user=user, slot=slot)
    overlaps = booking_selectors.overlapping_bookings(user=user, slot=slot)
    unavailable = booking_selectors.booking_unavailable(slot=slot, now=now)
    choices = booking_selectors.seat_choices(slot=slot)
    if form is None:
        form = BookSlotForm(initial={"seats": 1}, seat_choices=choices, has_overlap=bool(overlaps))
    else:
        form.offer_seats(choices)  # a re-rendered form lists the seats left now
    context = {
        "slot": slot,
        "tour": slot.tour,
        "existing": existing,
        "overlaps": overlaps,
        "unavailable": unavailable,
        "form": form,
        "idempotency_key": idempotency_key,
        "error": error,
        "policy_lines": _policy_lines(slot.tour, slot.start, now) if unavailable is None else [],
    }
    if status is None:
        status = 409 if unavailable is not None and existing is None else 200
    return render(request, "bookings/book.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def book_slot(request: HttpRequest, slot_id: int) -> HttpResponse:
    user = _signed_in_user(request)
    slot = booking_selectors.slot_to_book(slot_id=slot_id)
    now = timezone.now()
    if slot.tour.status != Tour.Status.PUBLISHED:
        # Said plainly, without showing anything of a draft or withdrawn tour.
        closed = booking_selectors.Unavailable("tour_unavailable", _("This tour is not open for booking."))
        return render(request, "bookings/book.html", {"closed": closed}, status=409)
    if request.method != "POST":
        return _render_book(request, user=user, slot=slot, now=now, form=None, idempotency_key=new_idempotency_key())

    overlaps = booking_selectors.overlapping_bookings(user=user, slot=slot)
    form = BookSlotForm(
        request.POST, seat_choices=booking_selectors.seat_choices(slot=slot), has_overlap=bool(overlaps)
    )
    submitted_key = request.POST.get("idempotency_key", "")
    if not form.is_valid():
        key = new_idempotency_key() if "idempotency_key" in form.errors else submitted_key
        return _render_book(request, user=user, slot=slot, now=now, form=form, idempotency_key=key, status=400)
    try:
        outcome = reservations.book_seat(
            user=user,
            slot_id=slot.pk,
            seats=form.cleaned_data["seats"],
            idempotency_key=form.cleaned_data["idempotency_key"],
            now=now,
        )
    except reservations.BookingError as error:
        # Re-read: the seats left (or the slot's state) are what changed under the request.
        slot = booking_selectors.slot_to_book(slot_id=slot.pk)
        return _render_book(
            request,
            user=user,
            slot=slot,
            now=now,
            form=form,
            # The payment could not start and the hold was released: trying again is a new attempt.
            idempotency_key=new_idempotency_key() if error.code == "payment_unavailable" else submitted_key,
            error=error.message,
            status=error.status_code,
        )
    if outcome.payment is not None and outcome.booking.status == Booking.Status.PENDING_PAYMENT:
        if outcome.created:
            messages.info(
                request,
                _("Your seats are held for %(minutes)s minutes: pay now to confirm the booking.")
                % {"minutes": settings.BOOKING_HOLD_MINUTES},
            )
        else:
            messages.info(request, _("You already have this booking; pay to confirm it."))
        return redirect("payments:pay", payment_id=outcome.payment.pk)
    if outcome.created:
        messages.success(request, _("Booked!"))
    elif outcome.booking.is_active:
        messages.info(request, _("You already have this booking."))
    else:
        # The same form sent again after its booking was cancelled: the key still names that one.
        messages.warning(
            request, _("This form was used for a booking you have since cancelled; open the date again to rebook.")
        )
    return redirect(outcome.booking)


# --- One booking ----------------------------------------------------------------------------------


def _calendar_links(booking: Booking) -> dict[str, str]:
    tour = booking.slot.tour
    url = f"{settings.SITE_URL}{booking.get_absolute_url()}"
    title = f"{tour.title} (Italy From Couch)"
    details = _("Live virtual tour with %(guide)s. %(url)s") % {"guide": tour.guide.display_name, "url": url}
    start, end = booking.slot.start, booking.slot.end
    return {
        "google": calendar_links.google_calendar_url(
            title=title, start_utc=start, end_utc=end, details=details, location=url
        ),
        "outlook": calendar_links.outlook_calendar_url(
            title=title, start_utc=start, end_utc=end, body=details, location=url
        ),
    }


@login_required
@require_safe
def booking_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _signed_in_user(request)
    booking = _access(user, pk)
    now = timezone.now()
    changeable = booking_selectors.can_change(booking=booking, now=now)
    context: dict[str, Any] = {
        "booking": booking,
        "slot": booking.slot,
        "tour": booking.slot.tour,
        "changeable": changeable,
        "paid": rules.major_units(booking.amount_minor),
        "refunded": rules.major_units(booking.refunded_minor),
        "calendar": _calendar_links(booking) if booking.status == Booking.Status.CONFIRMED else None,
        "quote": reservations.quote_cancellation(booking=booking, now=now) if changeable else None,
        "policy_lines": _policy_lines(booking.slot.tour, booking.slot.start, now) if changeable else [],
    }
    if context["quote"] is not None:
        context["quote_amount"] = rules.major_units(context["quote"].amount)
    context["payment"] = payment_selectors.booking_payment(booking=booking)
    context["refunds"] = payment_selectors.refund_lines(booking=booking)
    context["price"] = rules.major_units(booking.amount_minor)
    return render(request, "bookings/booking_detail.html", context)


@login_required
@require_safe
def booking_ics(request: HttpRequest, pk: int) -> HttpResponse:
    """The booking as a calendar file: an invitation while active, a cancellation afterwards."""
    user = _signed_in_user(request)
    booking = _access(user, pk)
    method = "REQUEST" if booking.is_active else "CANCEL"
    # The same builder as the e-mails, so the file and the invitation share UID and SEQUENCE.
    content = messaging.invitation_ics(booking, method=method)
    response = HttpResponse(content, content_type=f"text/calendar; charset=utf-8; method={method}")
    response["Content-Disposition"] = f'attachment; filename="italy-from-couch-booking-{booking.pk}.ics"'
    return response


# --- My bookings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BookingRow:
    booking: Booking
    changeable: bool
    refund_text: str


def _rows(bookings: list[Booking], *, now: datetime) -> list[BookingRow]:
    rows = []
    for booking in bookings:
        changeable = booking_selectors.can_change(booking=booking, now=now)
        quote = reservations.quote_cancellation(booking=booking, now=now) if changeable else None
        rows.append(BookingRow(booking, changeable, quote.tier_description if quote else ""))
    return rows


@login_required
@require_safe
def my_bookings(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    now = timezone.now()
    context = {
        "upcoming": _rows(booking_selectors.upcoming_bookings(user=user, now=now), now=now),
        "past": _rows(booking_selectors.past_bookings(user=user, now=now), now=now),
    }
    return render(request, "bookings/my_bookings.html", context)


# --- Cancel ---------------------------------------------------------------------------------------


def _render_cancel(
    request: HttpRequest, *, booking: Booking, now: datetime, error: str = "", status: int | None = None
) -> HttpResponse:
    reason = _why_unchangeable(booking, now=now, moving=False)
    quote = None if reason else reservations.quote_cancellation(booking=booking, now=now)
    context = {
        "booking": booking,
        "slot": booking.slot,
        "tour": booking.slot.tour,
        "reason": reason,
        "error": error,
        "quote": quote,
        "quote_amount": rules.major_units(quote.amount) if quote else None,
        "policy_lines": _policy_lines(booking.slot.tour, booking.slot.start, now) if quote else [],
    }
    return render(request, "bookings/cancel.html", context, status=status or (409 if reason else 200))


@login_required
@require_http_methods(["GET", "POST"])
def cancel_booking(request: HttpRequest, pk: int) -> HttpResponse:
    user = _signed_in_user(request)
    booking = _access(user, pk)
    now = timezone.now()
    if request.method != "POST":
        return _render_cancel(request, booking=booking, now=now)
    try:
        outcome = reservations.cancel_booking(user=user, booking_id=booking.pk, now=now)
    except reservations.BookingError as error:
        return _render_cancel(
            request, booking=_access(user, pk), now=now, error=error.message, status=error.status_code
        )
    paid = payment_selectors.booking_payment(booking=outcome.booking)
    if outcome.booking.amount_minor and paid is not None and not paid.is_paid:
        messages.success(request, _("Cancelled; nothing was charged."))
    elif outcome.booking.amount_minor:
        messages.success(
            request,
            _("Cancelled; refund %(amount)s %(currency)s")
            % {"amount": rules.major_units(outcome.refund_minor), "currency": outcome.booking.currency},
        )
    else:
        messages.success(request, _("Cancelled."))
    return redirect(outcome.booking)


# --- Reschedule -----------------------------------------------------------------------------------


def _render_reschedule(
    request: HttpRequest,
    *,
    booking: Booking,
    now: datetime,
    form: RescheduleForm,
    error: str = "",
    status: int | None = None,
) -> HttpResponse:
    reason = _why_unchangeable(booking, now=now, moving=True)
    context = {
        "booking": booking,
        "slot": booking.slot,
        "tour": booking.slot.tour,
        "reason": reason,
        "error": error,
        "form": form,
        "options": [] if reason else booking_selectors.reschedule_options(booking=booking, now=now),
    }
    return render(request, "bookings/reschedule.html", context, status=status or (409 if reason else 200))


@login_required
@require_http_methods(["GET", "POST"])
def reschedule_booking(request: HttpRequest, pk: int) -> HttpResponse:
    user = _signed_in_user(request)
    booking = _access(user, pk)
    now = timezone.now()
    if request.method != "POST":
        return _render_reschedule(request, booking=booking, now=now, form=RescheduleForm())
    form = RescheduleForm(request.POST)
    if not form.is_valid():
        return _render_reschedule(request, booking=booking, now=now, form=form, status=400)
    try:
        moved = reservations.reschedule_booking(
            user=user, booking_id=booking.pk, new_slot_id=form.cleaned_data["slot_id"], now=now
        )
    except reservations.BookingError as error:
        return _render_reschedule(
            request, booking=_access(user, pk), now=now, form=form, error=error.message, status=error.status_code
        )
    messages.success(request, _("Moved to the new date; an updated calendar invitation is on its way."))
    return redirect(moved)
