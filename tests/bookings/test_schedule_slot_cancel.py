"""A guide cancels a date: every booking on it is cancelled, fully refunded, and each customer told."""

from datetime import timedelta
from decimal import Decimal
from typing import cast

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from bookings import reservations
from bookings.models import Booking, Reminder, Slot, Tour
from notifications.models import Notification, OutboundEmail
from payments.models import Payment, Refund
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, UserFactory
from tests.support.payments import book_and_pay

pytestmark = pytest.mark.django_db


def make_user(**fields) -> User:
    # factory-boy is untyped: the services take a User, and so does this.
    return cast(User, UserFactory(**fields))


def make_tour(**fields) -> Tour:
    return cast(Tour, TourFactory(**fields))


@pytest.fixture
def slot():
    tour = make_tour(title="Vatican at Dusk", price=Decimal("25.00"), max_group_size=10)
    return SlotFactory(tour=tour)


@pytest.fixture
def bookings(slot):
    anna = make_user(name="Anna Schmidt", email="anna@example.com", timezone="Europe/Berlin")
    ben = make_user(name="", email="ben.carter@example.com", timezone="America/New_York")
    return [
        book_and_pay(user=anna, slot_id=slot.pk, seats=1, idempotency_key="anna").booking,
        book_and_pay(user=ben, slot_id=slot.pk, seats=2, idempotency_key="ben").booking,
    ]


def cancel_url(slot):
    return reverse("bookings:slot_cancel", kwargs={"pk": slot.pk})


def test_the_confirmation_page_says_how_many_bookings_are_cancelled_and_refunded(client, slot, bookings):
    client.force_login(slot.guide.user)

    response = client.get(cancel_url(slot))

    assert response.status_code == 200
    page = response.content.decode()
    assert "2 bookings will be cancelled and fully refunded; each customer is told" in page
    assert "Refunds: 75.00 EUR in total." in page
    assert "Anna Schmidt" in page
    assert "ben.carter" in page
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.SCHEDULED


def test_a_reason_is_required(client, slot, bookings):
    client.force_login(slot.guide.user)

    response = client.post(cancel_url(slot), {"reason": "   "})

    assert response.status_code == 200
    assert "Tell your customers why" in response.content.decode()
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.SCHEDULED
    assert Booking.objects.filter(status=Booking.Status.CONFIRMED).count() == 2


def test_cancelling_cancels_every_booking_refunds_in_full_and_mails_each_customer_a_cancel_invite(
    client, slot, bookings, django_capture_on_commit_callbacks
):
    client.force_login(slot.guide.user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(cancel_url(slot), {"reason": "Storm over Rome"})

    assert response.status_code == 302
    assert response["Location"] == reverse("bookings:guide_schedule")
    slot.refresh_from_db()
    assert slot.status == Slot.Status.CANCELLED
    assert slot.booked_seats == 0
    assert slot.cancelled_reason == "Storm over Rome"
    for booking in bookings:
        booking.refresh_from_db()
        assert booking.status == Booking.Status.CANCELLED
        assert booking.refunded_minor == booking.amount_minor
        assert booking.cancel_reason == "Storm over Rome"
    assert sorted(Refund.objects.values_list("amount_minor", "status")) == [(2500, "succeeded"), (5000, "succeeded")]
    assert set(Payment.objects.values_list("status", flat=True)) == {Payment.Status.REFUNDED}
    assert not Reminder.objects.filter(status=Reminder.Status.PENDING).exists()
    for booking in bookings:
        [email] = OutboundEmail.objects.filter(idempotency_key=f"booking:{booking.pk}:cancelled")
        assert email.to == [booking.user.email]
        [invite] = email.stored_attachments()
        assert b"METHOD:CANCEL" in invite.content
        assert f"UID:{booking.ics_uid}".encode() in invite.content
        assert Notification.objects.filter(user=booking.user, kind="booking_cancelled").exists()
    messages = [str(message) for message in response.wsgi_request._messages]
    assert any("2 bookings were cancelled with a full refund" in message for message in messages)


def test_cancelling_a_date_without_bookings_just_cancels_it(client, slot):
    client.force_login(slot.guide.user)

    response = client.post(cancel_url(slot), {"reason": "Closed for restoration"})

    assert response.status_code == 302
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.CANCELLED
    assert not Refund.objects.exists()


def test_an_already_cancelled_date_says_so_and_changes_nothing(client, slot, bookings):
    reservations.cancel_slot(user=slot.guide.user, slot_id=slot.pk, reason="First time")
    client.force_login(slot.guide.user)

    shown = client.get(cancel_url(slot), follow=True)
    posted = client.post(cancel_url(slot), {"reason": "Second time"}, follow=True)

    assert "This date is already cancelled." in shown.content.decode()
    assert "This date is already cancelled." in posted.content.decode()
    assert Slot.objects.get(pk=slot.pk).cancelled_reason == "First time"
    assert Refund.objects.count() == 2


def test_a_date_that_is_over_cannot_be_cancelled(client):
    past = timezone.now() - timedelta(days=1)
    slot = SlotFactory(start=past, end=past + timedelta(hours=1))
    client.force_login(slot.guide.user)

    response = client.post(cancel_url(slot), {"reason": "Too late"}, follow=True)

    assert "This date is over" in response.content.decode()
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.SCHEDULED


def test_another_guide_gets_403_and_the_bookings_stay(client, slot, bookings):
    client.force_login(GuideProfileFactory().user)

    assert client.post(cancel_url(slot), {"reason": "Not mine"}).status_code == 403
    assert Booking.objects.filter(status=Booking.Status.CONFIRMED).count() == 2
    assert not Refund.objects.exists()


def test_a_customer_on_the_date_gets_403(client, slot, bookings):
    client.force_login(bookings[0].user)

    assert client.post(cancel_url(slot), {"reason": "I would rather not"}).status_code == 403
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.SCHEDULED


def test_staff_cancel_and_go_back_to_that_guides_schedule(client, slot, bookings):
    client.force_login(make_user(role="staff"))

    response = client.post(cancel_url(slot), {"reason": "Guide is ill"})

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('bookings:guide_schedule')}?guide={slot.guide.slug}"
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.CANCELLED
    assert Refund.objects.count() == 2
