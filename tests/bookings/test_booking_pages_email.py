"""Booking, cancelling and moving from the pages reach a real SMTP server with the calendar invitation.

Transactional: the e-mails go out after the booking's transaction commits, as in production.
"""

from datetime import timedelta
from decimal import Decimal

import icalendar
import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Booking, Slot
from notifications.models import OutboundEmail
from payments.models import Payment
from tests.factories import SlotFactory, TourFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def customer():
    return UserFactory(email="ada@example.com", timezone="America/New_York")


@pytest.fixture
def tour():
    return TourFactory(title="Trastevere at dusk", price=Decimal("25.00"))


@pytest.fixture
def slot(tour):
    return SlotFactory(tour=tour, start=(timezone.now() + timedelta(days=5)).replace(second=0, microsecond=0))


def invitation(received):
    """The text/calendar attachment of a received e-mail: its method parameter and parsed content."""
    (part,) = [item for item in received.message.iter_attachments() if item.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(part.get_content())
    (event,) = calendar.walk("VEVENT")
    return str(part.get_param("method")), calendar, event


def book(client, slot, *, seats=1):
    response = client.post(
        reverse("bookings:book_slot", kwargs={"slot_id": slot.pk}), {"seats": seats, "idempotency_key": "e" * 32}
    )
    assert response.status_code == 302
    booking = Booking.objects.get(slot=slot)
    if booking.status == Booking.Status.PENDING_PAYMENT:
        # A paid tour: pay on the TEST MODE page; the payment's event confirms the booking.
        payment = Payment.objects.get(booking=booking)
        paid = client.post(reverse("payments:test_pay", kwargs={"payment_id": payment.pk}), {"outcome": "pay"})
        assert paid["Location"] == booking.get_absolute_url()
        booking.refresh_from_db()
        assert booking.status == Booking.Status.CONFIRMED
    return booking


def test_booking_sends_a_confirmation_with_a_request_invitation(client, customer, slot, smtp_transport):
    client.force_login(customer)

    booking = book(client, slot, seats=2)

    (received,) = smtp_transport.wait_for(1)
    assert received.envelope_to == ("ada@example.com",)
    method, calendar, event = invitation(received)
    assert method == "REQUEST"
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"booking-{booking.pk}@italyfromcouch"
    assert event["SEQUENCE"] == 0
    assert event.decoded("DTSTART") == slot.start
    assert OutboundEmail.objects.get().status == OutboundEmail.Status.SENT


def test_resubmitted_booking_form_sends_one_confirmation(client, customer, slot, smtp_transport):
    client.force_login(customer)

    book(client, slot)
    book(client, slot)

    smtp_transport.wait_for(1)
    assert OutboundEmail.objects.count() == 1


def test_cancelling_sends_a_cancel_with_the_same_uid_and_a_higher_sequence(client, customer, slot, smtp_transport):
    client.force_login(customer)
    booking = book(client, slot)

    response = client.post(reverse("bookings:cancel_booking", kwargs={"pk": booking.pk}))

    assert response.status_code == 302
    confirmation, cancellation = smtp_transport.wait_for(2)
    _, _, first = invitation(confirmation)
    method, calendar, event = invitation(cancellation)
    assert method == "CANCEL"
    assert calendar["METHOD"] == "CANCEL"
    assert event["UID"] == first["UID"] == f"booking-{booking.pk}@italyfromcouch"
    assert event.decoded("SEQUENCE") > first.decoded("SEQUENCE")
    assert event["STATUS"] == "CANCELLED"


def test_rescheduling_sends_an_updated_request_with_the_same_uid(client, customer, slot, tour, smtp_transport):
    new_date = SlotFactory(tour=tour, start=slot.start + timedelta(days=1))
    client.force_login(customer)
    booking = book(client, slot)

    response = client.post(reverse("bookings:reschedule_booking", kwargs={"pk": booking.pk}), {"slot_id": new_date.pk})

    assert response.status_code == 302
    confirmation, update = smtp_transport.wait_for(2)
    _, _, first = invitation(confirmation)
    method, calendar, event = invitation(update)
    assert method == "REQUEST"
    assert calendar["METHOD"] == "REQUEST"
    assert event["UID"] == first["UID"]
    assert event.decoded("SEQUENCE") > first.decoded("SEQUENCE")
    assert event.decoded("DTSTART") == new_date.start


def test_a_refused_booking_sends_nothing(client, customer, slot, smtp_transport):
    Slot.objects.filter(pk=slot.pk).update(booked_seats=slot.capacity)
    client.force_login(customer)

    response = client.post(
        reverse("bookings:book_slot", kwargs={"slot_id": slot.pk}), {"seats": 1, "idempotency_key": "e" * 32}
    )

    assert response.status_code == 409
    assert not OutboundEmail.objects.exists()
    assert smtp_transport.messages == []
