"""Customer-facing booking pages (book, confirmation, my bookings, cancel, reschedule)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from bookings import reservations
from bookings.models import Booking


@login_required
def my_bookings(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    bookings = Booking.objects.filter(user=user).select_related("slot", "slot__tour").order_by("slot__start")
    return render(request, "bookings/my_bookings.html", {"bookings": bookings})


@login_required
def booking_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    try:
        booking = reservations.access_booking(user=user, booking_id=pk)
    except reservations.BookingError:
        raise Http404("No such booking.") from None
    except PermissionDenied:
        raise
    return render(request, "bookings/booking_detail.html", {"booking": booking})
