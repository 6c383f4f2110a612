"""The booking page: /slots/<id>/book/ shows the slot in two zones and books it once, or says why not."""

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from bookings import reservations
from bookings.models import Booking, Slot
from payments.models import Payment
from tests.factories import SlotFactory, TourFactory, UserFactory
from tests.support.payments import book_and_pay, pay

pytestmark = pytest.mark.django_db

# The week New York has moved to summer time and Rome has not: 5 hours apart instead of 6.
NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)  # 10:00 in New York (EDT), 15:00 in Rome (CET)


def page_text(response) -> str:
    """The page as a person reads it: entities decoded, whitespace collapsed; block tags separate words."""
    text = re.sub(r"</?(?:a|span|time|strong|em|label)\b[^>]*>", "", response.content.decode())
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", text)).split())


def book_url(slot) -> str:
    return reverse("bookings:book_slot", kwargs={"slot_id": slot.pk})


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)
    return NOW


@pytest.fixture
def customer():
    return UserFactory(timezone="America/New_York")


@pytest.fixture
def slot(frozen):
    return SlotFactory(tour=TourFactory(title="Trastevere at dusk", price=Decimal("25.00")), start=START, capacity=4)


def someone_else():
    return UserFactory()


def post_booking(client, slot, *, seats=1, key="a" * 32, follow=False, **extra):
    return client.post(book_url(slot), {"seats": seats, "idempotency_key": key, **extra}, follow=follow)


def booked_seats(slot) -> int:
    return Slot.objects.get(pk=slot.pk).booked_seats


# --- GET -----------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_log_in_and_back(client, slot):
    response = client.get(book_url(slot))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={book_url(slot)}"


def test_page_shows_the_time_in_new_york_and_in_italy_in_the_week_they_are_five_hours_apart(client, customer, slot):
    client.force_login(customer)

    response = client.get(book_url(slot))

    assert response.status_code == 200
    text = page_text(response)
    assert "When Tue 10 Mar 2026, 10:00 (America/New_York) Italian time: Tue 10 Mar 2026, 15:00 (Europe/Rome)" in text
    assert "Seats left 4" in text
    assert "Price per seat 25.00 EUR" in text
    assert '<time datetime="2026-03-10T14:00:00+00:00" data-local>' in response.content.decode()


def test_a_viewer_in_italy_sees_the_time_once(client, slot):
    client.force_login(UserFactory(timezone="Europe/Rome"))

    text = page_text(client.get(book_url(slot)))

    assert "When Tue 10 Mar 2026, 15:00 (Europe/Rome) Duration" in text
    assert "Italian time" not in text


def test_a_viewer_without_a_time_zone_sees_utc_beside_the_italian_time(client, slot):
    client.force_login(UserFactory(timezone=""))

    text = page_text(client.get(book_url(slot)))

    assert "When Tue 10 Mar 2026, 14:00 (UTC) Italian time: Tue 10 Mar 2026, 15:00 (Europe/Rome)" in text
    assert "Full refund until Sun 8 Mar 2026, 14:00 (UTC)" in text


def test_a_stored_zone_the_rules_refuse_falls_back_to_utc_instead_of_failing(client, slot):
    viewer = UserFactory()
    type(viewer).objects.filter(pk=viewer.pk).update(timezone="posixrules")  # bypasses form validation
    client.force_login(viewer)

    response = client.get(book_url(slot))

    assert response.status_code == 200
    assert "When Tue 10 Mar 2026, 14:00 (UTC)" in page_text(response)
    assert "Full refund until Sun 8 Mar 2026, 14:00 (UTC)" in page_text(response)


def test_seats_menu_offers_one_up_to_the_seats_left(client, customer, slot):
    book_and_pay(user=someone_else(), slot_id=slot.pk, seats=1, idempotency_key="other-customer-key")
    client.force_login(customer)

    response = client.get(book_url(slot))

    options = re.findall(r'<option value="(\d+)"', response.content.decode())
    assert options == ["1", "2", "3"]
    assert "Seats left 3" in page_text(response)


def test_seats_menu_stops_at_ten_on_a_big_slot(client, customer, frozen):
    big = SlotFactory(tour=TourFactory(max_group_size=50), start=START, capacity=50)
    client.force_login(customer)

    options = re.findall(r'<option value="(\d+)"', client.get(book_url(big)).content.decode())

    assert options == [str(number) for number in range(1, 11)]


def test_page_lists_the_refund_policy_with_deadlines_in_the_viewers_zone(client, customer, slot):
    client.force_login(customer)

    text = page_text(client.get(book_url(slot)))

    # 48 h and 24 h before 14:00 UTC on 10 March, read in New York (already on summer time).
    assert (
        "Cancellation policy Full refund until Sun 8 Mar 2026, 10:00 (America/New_York)"
        " 50% refund until Mon 9 Mar 2026, 10:00 (America/New_York)"
        " No refund after Mon 9 Mar 2026, 10:00 (America/New_York)"
    ) in text


def test_page_carries_a_fresh_idempotency_key_per_visit(client, customer, slot):
    client.force_login(customer)

    first = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', client.get(book_url(slot)).content.decode())
    second = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', client.get(book_url(slot)).content.decode())

    assert first is not None
    assert second is not None
    assert first.group(1) != second.group(1)


def test_paid_tour_shows_the_test_mode_notice(client, customer, slot, settings):
    settings.PAYMENTS_PROVIDER = "test"
    client.force_login(customer)

    response = client.get(book_url(slot))

    assert "data-test-mode-notice" in response.content.decode()
    assert "TEST MODE: payments go to a test provider and no real money is charged." in page_text(response)


def test_free_tour_shows_no_payment_notice(client, customer, frozen):
    free = SlotFactory(tour=TourFactory(price=0), start=START)
    client.force_login(customer)

    response = client.get(book_url(free))

    assert "data-test-mode-notice" not in response.content.decode()
    assert "Price per seat Free" in page_text(response)


def test_unknown_slot_is_404(client, customer):
    client.force_login(customer)
    url = reverse("bookings:book_slot", kwargs={"slot_id": 999_999})

    assert client.get(url).status_code == 404
    assert client.post(url, {"seats": 1, "idempotency_key": "a" * 32}).status_code == 404
    assert not Booking.objects.exists()


def test_page_for_a_slot_already_booked_links_to_the_booking_instead_of_a_form(client, customer, slot):
    booking = book_and_pay(user=customer, slot_id=slot.pk, seats=1, idempotency_key="k" * 32).booking
    client.force_login(customer)

    response = client.get(book_url(slot))

    assert response.status_code == 200
    assert "You already have a booking on this date. See your booking" in page_text(response)
    assert f'href="{booking.get_absolute_url()}"' in response.content.decode()
    assert '<form class="form booking-form"' not in response.content.decode()


# --- POST: booking -------------------------------------------------------------------------------


def pay_url(booking) -> str:
    return reverse("payments:pay", kwargs={"payment_id": Payment.objects.get(booking=booking).pk})


def test_booking_two_seats_of_a_paid_tour_holds_them_and_sends_the_customer_to_pay(client, customer, slot):
    client.force_login(customer)

    response = post_booking(client, slot, seats=2, follow=True)

    booking = Booking.objects.get()
    assert response.redirect_chain == [(pay_url(booking), 302)]
    assert "Your seats are held for 10 minutes: pay now to confirm the booking." in page_text(response)
    assert "TEST MODE — no money moves." in page_text(response)
    assert booking.user == customer
    assert booking.seats == 2
    assert booking.status == Booking.Status.PENDING_PAYMENT
    assert booking.amount_minor == 5000
    assert booked_seats(slot) == 2


def test_booking_a_free_tour_redirects_to_the_confirmation(client, customer, frozen):
    free = SlotFactory(tour=TourFactory(price=0), start=START, capacity=4)
    client.force_login(customer)

    response = post_booking(client, free, seats=2, follow=True)

    booking = Booking.objects.get()
    assert response.redirect_chain == [(booking.get_absolute_url(), 302)]
    assert "Booked!" in page_text(response)
    assert booking.status == Booking.Status.CONFIRMED
    assert booked_seats(free) == 2


def test_paid_booking_in_test_mode_records_a_payment_of_the_total(client, customer, slot):
    client.force_login(customer)

    post_booking(client, slot, seats=3)

    booking = Booking.objects.get()
    payment = Payment.objects.get()
    assert payment.booking == booking
    assert payment.provider == "test"
    assert payment.amount_minor == 7500
    assert payment.currency == "EUR"
    assert payment.status == Payment.Status.PENDING
    pay(payment)
    payment.refresh_from_db()
    booking.refresh_from_db()
    assert (payment.status, booking.status) == (Payment.Status.SUCCEEDED, Booking.Status.CONFIRMED)


def test_resubmitting_the_same_form_gives_one_booking_and_the_second_answer_points_to_it(client, customer, slot):
    client.force_login(customer)

    first = post_booking(client, slot, seats=2, key="f" * 32, follow=True)
    second = post_booking(client, slot, seats=2, key="f" * 32, follow=True)

    booking = Booking.objects.get()
    assert first.redirect_chain == [(pay_url(booking), 302)]
    assert "Your seats are held" in page_text(first)
    assert second.redirect_chain == [(pay_url(booking), 302)]
    assert "You already have this booking; pay to confirm it." in page_text(second)
    assert "Your seats are held" not in page_text(second)
    assert booked_seats(slot) == 2
    assert Payment.objects.count() == 1


def test_two_tabs_with_different_keys_give_one_booking(client, customer, slot):
    client.force_login(customer)

    first = post_booking(client, slot, seats=1, key="1" * 32)
    second = post_booking(client, slot, seats=1, key="2" * 32)

    booking = Booking.objects.get()
    assert first["Location"] == second["Location"] == pay_url(booking)
    assert booked_seats(slot) == 1


def test_resubmitting_the_form_of_a_cancelled_booking_does_not_book_again(client, customer, slot):
    client.force_login(customer)
    post_booking(client, slot, key="c" * 32, follow=True)
    booking = Booking.objects.get()
    reservations.cancel_booking(user=customer, booking_id=booking.pk)

    again = post_booking(client, slot, key="c" * 32, follow=True)

    assert again.redirect_chain == [(booking.get_absolute_url(), 302)]
    assert "This form was used for a booking you have since cancelled; open the date again to rebook." in page_text(
        again
    )
    assert Booking.objects.get() == booking
    assert booked_seats(slot) == 0


def test_after_cancelling_a_fresh_visit_can_book_the_date_again(client, customer, slot):
    client.force_login(customer)
    post_booking(client, slot, key="c" * 32)
    reservations.cancel_booking(user=customer, booking_id=Booking.objects.get().pk)

    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', client.get(book_url(slot)).content.decode())
    assert key is not None
    response = post_booking(client, slot, key=key.group(1))

    rebooked = Booking.objects.get(status=Booking.Status.PENDING_PAYMENT)
    assert response["Location"] == pay_url(rebooked)
    assert Booking.objects.count() == 2
    assert booked_seats(slot) == 1


def test_booking_needs_the_csrf_token(customer, slot):
    client = Client(enforce_csrf_checks=True)
    client.force_login(customer)

    response = post_booking(client, slot)

    assert response.status_code == 403
    assert_nothing_booked(slot)


# --- POST: refused, nothing written --------------------------------------------------------------


def assert_nothing_booked(slot):
    assert not Booking.objects.exists()
    assert not Payment.objects.exists()
    assert booked_seats(slot) == 0


def test_more_seats_than_left_is_409_with_how_many_are_left(client, customer, slot):
    book_and_pay(user=someone_else(), slot_id=slot.pk, seats=2, idempotency_key="other-customer-key")
    client.force_login(customer)

    response = post_booking(client, slot, seats=3)

    assert response.status_code == 409
    assert "Only 2 seat(s) left on this date; you asked for 3." in page_text(response)
    assert not Booking.objects.filter(user=customer).exists()
    assert booked_seats(slot) == 2
    # The form is offered again with what is left now.
    assert re.findall(r'<option value="(\d+)"', response.content.decode()) == ["1", "2"]


def test_full_slot_is_409_on_the_page_and_on_submit(client, customer, slot):
    book_and_pay(user=someone_else(), slot_id=slot.pk, seats=4, idempotency_key="other-customer-key")
    client.force_login(customer)

    page = client.get(book_url(slot))
    submit = post_booking(client, slot, seats=1)

    assert page.status_code == 409
    assert "Sold out: every seat on this date is taken." in page_text(page)
    assert "Confirm booking" not in page_text(page)
    assert submit.status_code == 409
    assert "Sold out: every seat on this date is taken." in page_text(submit)
    assert not Booking.objects.filter(user=customer).exists()
    assert booked_seats(slot) == 4


def test_slot_in_the_past_is_409(client, customer, frozen):
    past = SlotFactory(start=NOW - timedelta(hours=3))
    client.force_login(customer)

    page = client.get(book_url(past))
    submit = post_booking(client, past)

    assert page.status_code == 409
    assert "This tour has already started." in page_text(page)
    assert submit.status_code == 409
    assert "This tour has already started." in page_text(submit)
    assert_nothing_booked(past)


def test_slot_past_its_booking_cutoff_is_409(client, customer, frozen):
    soon = SlotFactory(start=NOW + timedelta(minutes=90))  # bookings close 120 minutes before
    client.force_login(customer)

    page = client.get(book_url(soon))
    submit = post_booking(client, soon)

    assert page.status_code == 409
    assert "Bookings close 2 hours before the start." in page_text(page)
    assert submit.status_code == 409
    assert "Bookings close 2 hours before the start." in page_text(submit)
    assert_nothing_booked(soon)


def test_cancelled_slot_is_409(client, customer, slot):
    Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.CANCELLED)
    client.force_login(customer)

    page = client.get(book_url(slot))
    submit = post_booking(client, slot)

    assert page.status_code == submit.status_code == 409
    assert "This date has been cancelled." in page_text(submit)
    assert_nothing_booked(slot)


@pytest.mark.parametrize("status", ["cancelled", "draft"])
def test_slot_of_a_tour_not_open_for_booking_is_409_without_its_details(client, customer, slot, status):
    slot.tour.status = status
    slot.tour.save()
    client.force_login(customer)

    page = client.get(book_url(slot))
    submit = post_booking(client, slot)

    for response in (page, submit):
        assert response.status_code == 409
        assert "This tour is not open for booking." in page_text(response)
        assert "Trastevere at dusk" not in page_text(response)
    assert_nothing_booked(slot)


@pytest.mark.parametrize(
    ("seats", "message"),
    [
        (0, "Choose at least one seat."),
        (11, "You can book at most 10 seats at once."),
        ("two", "Enter a whole number."),
        ("", "This field is required."),
    ],
)
def test_bad_seat_numbers_are_400_with_a_form_error(client, customer, slot, seats, message):
    client.force_login(customer)

    response = post_booking(client, slot, seats=seats)

    assert response.status_code == 400
    assert message in page_text(response)
    assert_nothing_booked(slot)


def test_missing_idempotency_key_is_400_and_the_page_gets_a_new_one(client, customer, slot):
    client.force_login(customer)

    response = client.post(book_url(slot), {"seats": 1})

    assert response.status_code == 400
    assert "This form has expired: please book again." in page_text(response)
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', response.content.decode())
    assert_nothing_booked(slot)


def test_get_and_post_only(client, customer, slot):
    client.force_login(customer)

    assert client.put(book_url(slot)).status_code == 405


# --- Overlap with another booking ------------------------------------------------------------------


@pytest.fixture
def overlapping_booking(customer, slot):
    """The customer already has another tour booked from 13:30 to 15:00 UTC that day."""
    other = SlotFactory(
        tour=TourFactory(title="Uffizi highlights", duration_minutes=90), start=START - timedelta(minutes=30)
    )
    return book_and_pay(user=customer, slot_id=other.pk, seats=1, idempotency_key="u" * 32).booking


def test_page_warns_about_another_booking_at_the_same_time(client, customer, slot, overlapping_booking):
    client.force_login(customer)

    response = client.get(book_url(slot))

    text = page_text(response)
    assert response.status_code == 200
    assert (
        "This tour overlaps other tours you have booked: Uffizi highlights, Tue 10 Mar 2026, 09:30 (America/New_York)"
    ) in text
    assert "I know this tour overlaps another of my bookings, book it anyway" in text


def test_booking_an_overlapping_tour_needs_the_explicit_confirmation(client, customer, slot, overlapping_booking):
    client.force_login(customer)

    refused = post_booking(client, slot, key="o" * 32)

    assert refused.status_code == 400
    assert "This tour overlaps another of your bookings: tick the box to book it anyway." in page_text(refused)
    assert not Booking.objects.filter(slot=slot).exists()
    assert booked_seats(slot) == 0

    accepted = post_booking(client, slot, key="o" * 32, overlap_confirmed="on")

    booking = Booking.objects.get(slot=slot)
    assert accepted.status_code == 302
    assert accepted["Location"] == pay_url(booking)
    assert booked_seats(slot) == 1


def test_back_to_back_tours_do_not_count_as_overlapping(client, customer, slot):
    before = SlotFactory(tour=TourFactory(duration_minutes=60), start=START - timedelta(hours=1))
    book_and_pay(user=customer, slot_id=before.pk, seats=1, idempotency_key="b" * 32)
    client.force_login(customer)

    response = client.get(book_url(slot))
    booked = post_booking(client, slot)

    assert "data-overlap-warning" not in response.content.decode()
    assert booked.status_code == 302


def test_a_cancelled_booking_does_not_count_as_overlapping(client, customer, slot, overlapping_booking):
    reservations.cancel_booking(user=customer, booking_id=overlapping_booking.pk)
    client.force_login(customer)

    assert "data-overlap-warning" not in client.get(book_url(slot)).content.decode()
    assert post_booking(client, slot).status_code == 302
