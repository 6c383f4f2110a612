"""After booking: the confirmation page, the .ics file, my bookings, cancelling and rescheduling."""

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import icalendar
import pytest
from django.test import Client
from django.urls import reverse

from bookings import calendar_links, reservations
from bookings.models import Booking, Slot
from payments.models import Payment, Refund
from tests.factories import SlotFactory, TourFactory, UserFactory
from tests.support.payments import book_and_pay

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 10:00 New York (EDT), 15:00 Rome (CET)


def page_text(response) -> str:
    """The page as a person reads it: entities decoded, whitespace collapsed; block tags separate words."""
    text = re.sub(r"</?(?:a|span|time|strong|em|label)\b[^>]*>", "", response.content.decode())
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", text)).split())


def url(name: str, booking) -> str:
    return reverse(f"bookings:{name}", kwargs={"pk": booking.pk})


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def customer():
    return UserFactory(timezone="America/New_York")


@pytest.fixture
def tour():
    return TourFactory(title="Trastevere at dusk", price=Decimal("25.00"), max_group_size=6)


@pytest.fixture
def slot(frozen, tour):
    return SlotFactory(tour=tour, start=START, capacity=6)


@pytest.fixture
def booking(customer, slot):
    """Two paid seats (50.00 EUR), booked five days ahead."""
    return book_and_pay(user=customer, slot_id=slot.pk, seats=2, idempotency_key="b" * 32).booking


def someone_else():
    return UserFactory()


def seats_of(slot) -> int:
    return Slot.objects.get(pk=slot.pk).booked_seats


# --- Booking detail ------------------------------------------------------------------------------


def test_confirmation_shows_times_in_both_zones_seats_amount_and_status(client, customer, booking):
    client.force_login(customer)

    response = client.get(url("booking_detail", booking))

    assert response.status_code == 200
    text = page_text(response)
    assert "When Tue 10 Mar 2026, 10:00 (America/New_York) Italian time: Tue 10 Mar 2026, 15:00 (Europe/Rome)" in text
    assert "Seats 2" in text
    assert "Paid 50.00 EUR" in text
    assert "Status Confirmed" in text
    assert "Refunded" not in text


def test_confirmation_links_to_google_outlook_and_the_ics_file(client, customer, booking, settings):
    client.force_login(customer)

    content = client.get(url("booking_detail", booking)).content.decode()

    booking_url = f"{settings.SITE_URL}/bookings/{booking.pk}/"
    details = f"Live virtual tour with {booking.slot.tour.guide.display_name}. {booking_url}"
    title, end = "Trastevere at dusk (Italy From Couch)", START + timedelta(minutes=90)
    google = calendar_links.google_calendar_url(
        title=title, start_utc=START, end_utc=end, details=details, location=booking_url
    )
    outlook = calendar_links.outlook_calendar_url(
        title=title, start_utc=START, end_utc=end, body=details, location=booking_url
    )
    assert "dates=20260310T140000Z%2F20260310T153000Z" in google
    assert f'href="{html.escape(google)}"' in content
    assert f'href="{html.escape(outlook)}"' in content
    assert f'href="/bookings/{booking.pk}/invite.ics"' in content


def test_confirmation_offers_cancel_and_reschedule_with_the_current_refund(client, customer, booking):
    client.force_login(customer)

    response = client.get(url("booking_detail", booking))

    content, text = response.content.decode(), page_text(response)
    assert f'href="/bookings/{booking.pk}/cancel/"' in content
    assert f'href="/bookings/{booking.pk}/reschedule/"' in content
    assert "Cancelling now refunds 50.00 EUR. Full refund: cancelled at least 48 hours before the start." in text
    assert "Full refund until Sun 8 Mar 2026, 10:00 (America/New_York)" in text


def test_confirmation_of_a_started_tour_offers_no_changes(client, customer, booking, frozen):
    frozen.move_to(START + timedelta(minutes=5), tick=False)
    client.force_login(customer)

    content = client.get(url("booking_detail", booking)).content.decode()

    assert f"/bookings/{booking.pk}/cancel/" not in content
    assert f"/bookings/{booking.pk}/reschedule/" not in content


def test_unknown_booking_is_404(client, customer):
    client.force_login(customer)

    for name in ("booking_detail", "booking_ics", "cancel_booking", "reschedule_booking"):
        assert client.get(reverse(f"bookings:{name}", kwargs={"pk": 999_999})).status_code == 404


@pytest.mark.parametrize("name", ["booking_detail", "booking_ics", "cancel_booking", "reschedule_booking"])
def test_anonymous_visitors_are_sent_to_log_in(client, booking, name):
    response = client.get(url(name, booking))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url(name, booking)}"


@pytest.mark.parametrize("name", ["booking_detail", "booking_ics", "cancel_booking", "reschedule_booking"])
def test_someone_elses_booking_is_403(client, booking, name):
    client.force_login(UserFactory())

    assert client.get(url(name, booking)).status_code == 403


def test_someone_else_cannot_cancel_or_move_a_booking_by_posting(client, booking, tour):
    other_date = SlotFactory(tour=tour, start=START + timedelta(days=1))
    client.force_login(UserFactory())

    cancel = client.post(url("cancel_booking", booking))
    move = client.post(url("reschedule_booking", booking), {"slot_id": other_date.pk})

    assert cancel.status_code == move.status_code == 403
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert booking.slot.start == START
    assert seats_of(booking.slot) == 2
    assert seats_of(other_date) == 0
    assert not Refund.objects.exists()


def test_staff_can_open_a_customers_booking(client, booking):
    client.force_login(UserFactory(is_staff=True))

    assert client.get(url("booking_detail", booking)).status_code == 200


# --- The .ics file -------------------------------------------------------------------------------


def parse_ics(response):
    calendar = icalendar.Calendar.from_ical(response.content)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_ics_download_is_an_invitation_with_the_bookings_uid(client, customer, booking):
    client.force_login(customer)

    response = client.get(url("booking_ics", booking))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8; method=REQUEST"
    assert response["Content-Disposition"] == f'attachment; filename="italy-from-couch-booking-{booking.pk}.ics"'
    calendar, event = parse_ics(response)
    assert calendar["METHOD"] == "REQUEST"
    assert str(event["UID"]) == f"booking-{booking.pk}@italyfromcouch"
    assert event["SEQUENCE"] == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTART") == START
    assert event.decoded("DTEND") == START + timedelta(minutes=90)
    assert str(event["ATTENDEE"]) == f"mailto:{customer.email}"


def test_ics_of_a_cancelled_booking_is_a_cancellation_with_a_higher_sequence(client, customer, booking):
    reservations.cancel_booking(user=customer, booking_id=booking.pk)
    client.force_login(customer)

    response = client.get(url("booking_ics", booking))

    assert response["Content-Type"] == "text/calendar; charset=utf-8; method=CANCEL"
    calendar, event = parse_ics(response)
    assert calendar["METHOD"] == "CANCEL"
    assert str(event["UID"]) == f"booking-{booking.pk}@italyfromcouch"
    assert event["SEQUENCE"] == 1
    assert event["STATUS"] == "CANCELLED"


# --- My bookings ---------------------------------------------------------------------------------


def test_my_bookings_splits_upcoming_and_past_in_local_time(client, customer, tour, frozen):
    past_slot = SlotFactory(tour=tour, start=NOW - timedelta(days=2))
    upcoming_slot = SlotFactory(tour=TourFactory(title="Pompeii at dawn"), start=START)
    past = book_and_pay(
        user=customer, slot_id=past_slot.pk, seats=1, idempotency_key="p" * 32, now=NOW - timedelta(days=5)
    ).booking
    upcoming = book_and_pay(user=customer, slot_id=upcoming_slot.pk, seats=1, idempotency_key="u" * 32).booking
    someone_elses = book_and_pay(user=someone_else(), slot_id=upcoming_slot.pk, seats=1, idempotency_key="x" * 32)
    client.force_login(customer)

    response = client.get(reverse("bookings:my_bookings"))

    content = response.content.decode()
    upcoming_section = content.split('data-section="upcoming"')[1].split('data-section="past"')[0]
    past_section = content.split('data-section="past"')[1]
    assert f'data-booking-row="{upcoming.pk}"' in upcoming_section
    assert f'data-booking-row="{past.pk}"' in past_section
    assert f'data-booking-row="{past.pk}"' not in upcoming_section
    assert f'data-booking-row="{someone_elses.booking.pk}"' not in content
    text = page_text(response)
    # 2026-03-03 12:00 UTC is 07:00 in New York (still on winter time, UTC-5).
    assert "Trastevere at dusk Tue 3 Mar 2026, 07:00 (America/New_York)" in text
    assert "Pompeii at dawn Tue 10 Mar 2026, 10:00 (America/New_York)" in text


def test_my_bookings_offers_actions_and_the_policy_only_for_active_upcoming_bookings(client, customer, booking, tour):
    cancelled_slot = SlotFactory(tour=tour, start=START + timedelta(days=2))
    cancelled = book_and_pay(user=customer, slot_id=cancelled_slot.pk, seats=1, idempotency_key="c" * 32)
    reservations.cancel_booking(user=customer, booking_id=cancelled.booking.pk)
    client.force_login(customer)

    response = client.get(reverse("bookings:my_bookings"))

    content = response.content.decode()
    active_row = content.split(f'data-booking-row="{booking.pk}"')[1].split("</tr>")[0]
    cancelled_row = content.split(f'data-booking-row="{cancelled.booking.pk}"')[1].split("</tr>")[0]
    assert f'href="/bookings/{booking.pk}/cancel/"' in active_row
    assert f'href="/bookings/{booking.pk}/reschedule/"' in active_row
    assert "Full refund: cancelled at least 48 hours before the start." in active_row
    assert 'data-booking-status="confirmed"' in active_row
    assert "/cancel/" not in cancelled_row
    assert 'data-booking-status="cancelled"' in cancelled_row


def test_my_bookings_with_nothing_booked(client, customer):
    client.force_login(customer)

    text = page_text(client.get(reverse("bookings:my_bookings")))

    assert "No upcoming tours." in text
    assert "No past tours yet." in text


# --- Cancel ---------------------------------------------------------------------------------------


def test_cancel_page_between_48_and_24_hours_quotes_half_the_amount(client, customer, booking, frozen):
    frozen.move_to(START - timedelta(hours=30), tick=False)
    client.force_login(customer)

    response = client.get(url("cancel_booking", booking))

    assert response.status_code == 200
    text = page_text(response)
    assert "If you cancel now you get 25.00 EUR back. 50% refund: cancelled at least 24 hours before the start." in text
    # Lines whose deadline has passed are left out.
    assert "Full refund until" not in text
    assert "50% refund until Mon 9 Mar 2026, 10:00 (America/New_York)" in text
    assert "No refund after Mon 9 Mar 2026, 10:00 (America/New_York)" in text


def test_cancelling_between_48_and_24_hours_refunds_the_quoted_half_through_payments(
    client, customer, booking, frozen, django_capture_on_commit_callbacks
):
    frozen.move_to(START - timedelta(hours=30), tick=False)
    client.force_login(customer)

    # The refund goes to the provider once the cancellation commits.
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = client.post(url("cancel_booking", booking))
    response = client.get(cancelled["Location"])

    assert cancelled["Location"] == booking.get_absolute_url()
    assert "Cancelled; refund 25.00 EUR" in page_text(response)
    assert "Refunded 25.00 EUR" in page_text(response)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert booking.refunded_minor == 2500
    refund = Refund.objects.get()
    assert refund.amount_minor == 2500
    assert refund.status == Refund.Status.SUCCEEDED
    assert refund.payment == Payment.objects.get(booking=booking)
    assert seats_of(booking.slot) == 0


def test_cancelling_twice_says_so_and_refunds_once(client, customer, booking, django_capture_on_commit_callbacks):
    client.force_login(customer)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url("cancel_booking", booking))

    again = client.post(url("cancel_booking", booking))

    assert again.status_code == 400
    assert "This booking is already cancelled." in page_text(again)
    assert Refund.objects.count() == 1
    booking.refresh_from_db()
    assert booking.refunded_minor == 5000
    assert seats_of(booking.slot) == 0


def test_cancel_page_of_a_cancelled_booking_offers_no_button(client, customer, booking):
    reservations.cancel_booking(user=customer, booking_id=booking.pk)
    client.force_login(customer)

    response = client.get(url("cancel_booking", booking))

    assert response.status_code == 409
    assert "This booking is already cancelled." in page_text(response)
    assert f'action="/bookings/{booking.pk}/cancel/"' not in response.content.decode()


def test_a_started_tour_cannot_be_cancelled(client, customer, booking, frozen):
    frozen.move_to(START + timedelta(minutes=1), tick=False)
    client.force_login(customer)

    page = client.get(url("cancel_booking", booking))
    submit = client.post(url("cancel_booking", booking))

    assert page.status_code == 409
    assert submit.status_code == 400
    assert "This tour has already started and can no longer be cancelled." in page_text(submit)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert seats_of(booking.slot) == 2


def test_cancelling_a_free_booking_says_cancelled(client, customer, frozen):
    free_slot = SlotFactory(tour=TourFactory(price=0), start=START)
    free = book_and_pay(user=customer, slot_id=free_slot.pk, seats=1, idempotency_key="f" * 32).booking
    client.force_login(customer)

    response = client.post(url("cancel_booking", free), follow=True)

    assert "Cancelled." in page_text(response)
    assert "This booking is cancelled." in page_text(response)
    assert seats_of(free_slot) == 0


# --- Reschedule -----------------------------------------------------------------------------------


def test_reschedule_page_lists_only_open_dates_of_the_same_tour_with_room(client, customer, booking, tour, frozen):
    open_date = SlotFactory(tour=tour, start=START + timedelta(days=1))
    one_seat_left = SlotFactory(tour=tour, start=START + timedelta(days=2), capacity=1)
    past_date = SlotFactory(tour=tour, start=NOW - timedelta(days=1))
    cancelled_date = SlotFactory(tour=tour, start=START + timedelta(days=3), status=Slot.Status.CANCELLED)
    other_tour = SlotFactory(start=START + timedelta(days=1))
    client.force_login(customer)

    response = client.get(url("reschedule_booking", booking))

    assert response.status_code == 200
    offered = [int(pk) for pk in re.findall(r'name="slot_id" value="(\d+)"', response.content.decode())]
    assert offered == [open_date.pk]
    assert {one_seat_left.pk, past_date.pk, cancelled_date.pk, other_tour.pk, booking.slot_id}.isdisjoint(offered)
    text = page_text(response)
    assert "Wed 11 Mar 2026, 10:00 (America/New_York) Italian time: Wed 11 Mar 2026, 15:00 (Europe/Rome)" in text


def test_rescheduling_moves_the_seats_atomically_and_raises_the_sequence(client, customer, booking, tour):
    new_date = SlotFactory(tour=tour, start=START + timedelta(days=1))
    old_slot = booking.slot
    client.force_login(customer)

    response = client.post(url("reschedule_booking", booking), {"slot_id": new_date.pk}, follow=True)

    assert response.redirect_chain == [(booking.get_absolute_url(), 302)]
    assert "Moved to the new date; an updated calendar invitation is on its way." in page_text(response)
    assert "When Wed 11 Mar 2026, 10:00 (America/New_York)" in page_text(response)
    booking.refresh_from_db()
    assert booking.slot == new_date
    assert booking.ics_sequence == 1
    assert seats_of(old_slot) == 0
    assert seats_of(new_date) == 2


def test_rescheduling_to_another_tours_date_is_400_and_changes_nothing(client, customer, booking):
    elsewhere = SlotFactory(start=START + timedelta(days=1))
    client.force_login(customer)

    response = client.post(url("reschedule_booking", booking), {"slot_id": elsewhere.pk})

    assert response.status_code == 400
    assert "A booking can only move to another date of the same tour." in page_text(response)
    booking.refresh_from_db()
    assert booking.slot.start == START
    assert booking.ics_sequence == 0
    assert seats_of(booking.slot) == 2
    assert seats_of(elsewhere) == 0


def test_rescheduling_to_a_date_without_room_is_409(client, customer, booking, tour):
    small = SlotFactory(tour=tour, start=START + timedelta(days=1), capacity=1)
    client.force_login(customer)

    response = client.post(url("reschedule_booking", booking), {"slot_id": small.pk})

    assert response.status_code == 409
    assert "Only 1 seat(s) left on that date; this booking has 2." in page_text(response)
    assert seats_of(small) == 0
    assert seats_of(booking.slot) == 2


def test_rescheduling_to_a_date_that_does_not_exist_changes_nothing(client, customer, booking):
    client.force_login(customer)

    response = client.post(url("reschedule_booking", booking), {"slot_id": 987_654})

    assert response.status_code == 409
    assert "This date does not exist." in page_text(response)
    booking.refresh_from_db()
    assert booking.slot.start == START
    assert booking.ics_sequence == 0


def test_cancelling_needs_the_csrf_token(customer, booking):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)

    response = client.post(url("cancel_booking", booking))

    assert response.status_code == 403
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert not Refund.objects.exists()


@pytest.mark.parametrize("value", ["", "soon", "0"])
def test_rescheduling_without_a_date_is_400(client, customer, booking, value):
    client.force_login(customer)

    response = client.post(url("reschedule_booking", booking), {"slot_id": value})

    assert response.status_code == 400
    assert "Choose the new date." in page_text(response)
    booking.refresh_from_db()
    assert booking.ics_sequence == 0


def test_reschedule_page_of_a_cancelled_booking_is_409(client, customer, booking):
    reservations.cancel_booking(user=customer, booking_id=booking.pk)
    client.force_login(customer)

    response = client.get(url("reschedule_booking", booking))

    assert response.status_code == 409
    assert "This booking is cancelled; it can no longer be moved." in page_text(response)


def test_reschedule_page_without_other_dates_says_so(client, customer, booking):
    client.force_login(customer)

    response = client.get(url("reschedule_booking", booking))

    assert response.status_code == 200
    assert "No other date of this tour has 2 free seats right now." in page_text(response)
