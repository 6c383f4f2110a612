"""Booking, cancelling and moving seats: what is written, what is refused, what people are told.

The clock is frozen at NOW (a Monday in December); the slots start 72 h later unless a test says
otherwise. Messages are queued after commit, so service calls run inside
``django_capture_on_commit_callbacks(execute=True)`` to play the commit; one test proves a
rolled-back transaction sends nothing with a real commit.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import kombu.pools
import pytest
from django.core.exceptions import PermissionDenied
from django.db import transaction
from icalendar import Calendar

from accounts.models import GuideProfile, User
from bookings.models import Booking, Reminder, Slot, Tour
from bookings.reservations import (
    BookingError,
    SlotUnavailableError,
    SoldOutError,
    book_seat,
    cancel_booking,
    cancel_slot,
    reschedule_booking,
)
from italycouch.celery import app as celery_app
from notifications.models import Notification, OutboundEmail
from payments.models import Payment, Refund
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, UserFactory
from tests.support.payments import book_and_pay, pay

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def _user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def _tour(**fields: Any) -> Tour:
    return cast(Tour, TourFactory(**fields))


def _slot(**fields: Any) -> Slot:
    return cast(Slot, SlotFactory(**fields))


def _guide(**fields: Any) -> GuideProfile:
    return cast(GuideProfile, GuideProfileFactory(**fields))


NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
START = NOW + timedelta(hours=72)  # Thursday 10 December 2026, 10:00 in Rome


@pytest.fixture(autouse=True)
def _fresh_broker_pools():
    # tests/support/celery.py force-closes kombu's global connection pool when a Redis worker test
    # starts, but leaves it registered: an eager test after it would get "Acquire on closed pool"
    # from .delay() (swallowed by the robust on_commit) and its e-mails would stay queued.
    kombu.pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture(autouse=True)
def clock(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run after-commit callbacks (e-mails, notifications) as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _paid_slot(price="50.00", capacity=10, start=START, **tour_fields):
    tour = _tour(price=Decimal(price), max_group_size=capacity, **tour_fields)
    return _slot(tour=tour, start=start, capacity=capacity)


def _book(user, slot, *, seats=1, key=None, now=NOW):
    # A paid booking is held until paid: pay it as the TEST MODE page does, so it is confirmed.
    return book_and_pay(
        user=user, slot_id=slot.pk, seats=seats, idempotency_key=key or f"key-{user.pk}-{slot.pk}", now=now
    )


def _invite(outbound_email):
    (attachment,) = [item for item in outbound_email.stored_attachments() if item.filename == "invite.ics"]
    calendar = Calendar.from_ical(attachment.content)
    (event,) = calendar.walk("VEVENT")
    return attachment.mimetype, calendar, event


def _slot_state(slot):
    slot.refresh_from_db()
    return slot.status, slot.booked_seats


# --- Booking --------------------------------------------------------------------------------------


def test_booking_a_free_tour_confirms_the_seats_without_any_payment():
    slot = _slot(tour=_tour(price=0), start=START, capacity=10)
    customer = _user()

    outcome = _book(customer, slot, seats=2)

    assert outcome.created is True
    booking = Booking.objects.get()
    assert booking == outcome.booking
    assert (booking.user, booking.slot, booking.seats) == (customer, slot, 2)
    assert (booking.status, booking.amount_minor, booking.currency) == (Booking.Status.CONFIRMED, 0, "EUR")
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 2)
    assert Payment.objects.count() == 0


def test_booking_a_paid_tour_holds_the_seats_and_the_test_mode_payment_confirms_them():
    slot = _paid_slot(price="39.90")
    customer = _user()

    held = book_seat(user=customer, slot_id=slot.pk, seats=3, idempotency_key="held", now=NOW)

    booking = held.booking
    assert (booking.status, booking.amount_minor, booking.hold_expires_at) == (
        Booking.Status.PENDING_PAYMENT,
        11970,
        NOW + timedelta(minutes=10),
    )
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 3)  # the hold takes the seats
    payment = Payment.objects.get()
    assert held.payment == payment
    assert (payment.booking, payment.payer, payment.kind) == (booking, customer, Payment.Kind.BOOKING)
    assert (payment.amount_minor, payment.currency, payment.status) == (11970, "EUR", Payment.Status.PENDING)
    assert payment.application_fee_minor == 1796  # 15 % of 119.70, rounded half up
    assert payment.provider == "test"
    assert payment.provider_reference.startswith("pi_test_")
    assert payment.idempotency_key == f"booking:{booking.pk}:charge"

    pay(payment)

    booking.refresh_from_db()
    payment.refresh_from_db()
    assert (booking.status, payment.status) == (Booking.Status.CONFIRMED, Payment.Status.SUCCEEDED)
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 3)


def test_asking_for_more_seats_than_are_left_is_refused_and_writes_nothing():
    slot = _paid_slot(capacity=3)
    _book(_user(), slot, seats=2)
    latecomer = _user()

    with pytest.raises(SoldOutError) as refused:
        _book(latecomer, slot, seats=2)

    assert (refused.value.code, refused.value.status_code) == ("not_enough_seats", 409)
    assert refused.value.message == "Only 1 seat(s) left on this date; you asked for 2."
    assert not Booking.objects.filter(user=latecomer).exists()
    assert not Payment.objects.filter(payer=latecomer).exists()
    assert not Reminder.objects.filter(booking__user=latecomer).exists()
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 2)


def test_a_full_slot_is_sold_out():
    slot = _paid_slot(capacity=2)
    _book(_user(), slot, seats=2)

    with pytest.raises(SoldOutError) as refused:
        _book(_user(), slot, seats=1)

    assert refused.value.code == "sold_out"
    assert Booking.objects.count() == 1
    assert Payment.objects.count() == 1
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 2)


def test_zero_seats_is_refused():
    slot = _paid_slot()

    with pytest.raises(BookingError) as refused:
        _book(_user(), slot, seats=0)

    assert (refused.value.code, refused.value.status_code) == ("invalid_seats", 400)
    assert Booking.objects.count() == 0


@pytest.mark.parametrize(
    ("ahead", "code"),
    [
        (timedelta(hours=-1), "past"),
        (timedelta(0), "past"),
        (timedelta(minutes=119), "inside_cutoff"),
        (timedelta(days=90, minutes=1), "beyond_horizon"),
    ],
    ids=["started", "starting-now", "inside-the-2h-notice", "beyond-the-90-day-horizon"],
)
def test_a_slot_outside_the_booking_window_is_unavailable_with_the_rules_reason(ahead, code):
    slot = _paid_slot(start=NOW + ahead)

    with pytest.raises(SlotUnavailableError) as refused:
        _book(_user(), slot)

    assert (refused.value.code, refused.value.status_code) == (code, 409)
    assert Booking.objects.count() == 0
    assert Payment.objects.count() == 0
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 0)


@pytest.mark.parametrize("ahead", [timedelta(minutes=120), timedelta(days=90)], ids=["notice-edge", "horizon-edge"])
def test_the_edges_of_the_booking_window_are_bookable(ahead):
    slot = _paid_slot(start=NOW + ahead)

    assert _book(_user(), slot).created is True
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 1)


def test_a_cancelled_slot_cannot_be_booked():
    slot = _paid_slot()
    Slot.objects.filter(pk=slot.pk).update(status=Slot.Status.CANCELLED)

    with pytest.raises(SlotUnavailableError) as refused:
        _book(_user(), slot)

    assert refused.value.code == "slot_cancelled"
    assert Booking.objects.count() == 0


@pytest.mark.parametrize("status", [Tour.Status.DRAFT, Tour.Status.CANCELLED])
def test_a_slot_of_a_tour_that_is_not_published_cannot_be_booked(status):
    slot = _paid_slot(status=status)

    with pytest.raises(SlotUnavailableError) as refused:
        _book(_user(), slot)

    assert refused.value.code == "tour_unavailable"
    assert Booking.objects.count() == 0
    assert Payment.objects.count() == 0


def test_a_missing_slot_is_unavailable_not_a_crash():
    with pytest.raises(SlotUnavailableError) as refused:
        book_seat(user=_user(), slot_id=987654, seats=1, idempotency_key="k", now=NOW)

    assert refused.value.code == "slot_not_found"


def test_reusing_an_idempotency_key_returns_the_same_booking_and_charges_once():
    slot = _paid_slot()
    customer = _user()
    first = _book(customer, slot, seats=2, key="form-1")

    again = _book(customer, slot, seats=2, key="form-1")

    assert (again.booking.pk, again.created) == (first.booking.pk, False)
    assert Booking.objects.count() == 1
    assert Payment.objects.count() == 1
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 2)


def test_the_same_customer_booking_the_same_slot_with_another_key_gets_the_first_booking():
    slot = _paid_slot()
    customer = _user()
    first = _book(customer, slot, seats=1, key="tab-1")

    second_tab = _book(customer, slot, seats=1, key="tab-2")

    assert (second_tab.booking.pk, second_tab.created) == (first.booking.pk, False)
    assert Booking.objects.count() == 1
    assert Payment.objects.count() == 1
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 1)


# --- Cancelling ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before_start", "percent", "refund"),
    [
        (timedelta(hours=72), 100, 10000),
        (timedelta(hours=48), 100, 10000),
        (timedelta(hours=47, minutes=59), 50, 5000),
        (timedelta(hours=36), 50, 5000),
        (timedelta(hours=12), 0, 0),
    ],
    ids=["72h", "exactly-48h", "just-under-48h", "36h", "12h"],
)
def test_cancelling_refunds_by_the_policy_at_that_instant(before_start, percent, refund, commit):
    slot = _paid_slot(price="50.00")
    customer = _user()
    booking = _book(customer, slot, seats=2).booking

    # The refund is sent to the provider once the cancellation commits.
    with commit():
        outcome = cancel_booking(user=customer, booking_id=booking.pk, now=START - before_start)

    assert (outcome.refund_percent, outcome.refund_minor) == (percent, refund)
    booking.refresh_from_db()
    assert (booking.status, booking.refunded_minor) == (Booking.Status.CANCELLED, refund)
    assert booking.cancelled_at == START - before_start
    assert booking.cancelled_by == customer
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 0)
    assert list(Refund.objects.values_list("amount_minor", flat=True)) == ([refund] if refund else [])
    payment = Payment.objects.get()
    assert payment.refunded_minor == refund
    assert payment.status == {10000: Payment.Status.REFUNDED, 5000: Payment.Status.PARTIALLY_REFUNDED}.get(
        refund, Payment.Status.SUCCEEDED
    )
    assert set(Reminder.objects.filter(booking=booking).values_list("status", flat=True)) == {Reminder.Status.CANCELLED}


def test_cancelling_a_free_booking_frees_the_seats_and_refunds_nothing():
    slot = _slot(tour=_tour(price=0), start=START, capacity=4)
    customer = _user()
    booking = _book(customer, slot, seats=3).booking

    outcome = cancel_booking(user=customer, booking_id=booking.pk, now=NOW)

    assert (outcome.refund_percent, outcome.refund_minor) == (100, 0)
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 0)
    assert Refund.objects.count() == 0


def test_cancelling_twice_is_refused_and_refunds_once():
    slot = _paid_slot()
    customer = _user()
    booking = _book(customer, slot).booking
    cancel_booking(user=customer, booking_id=booking.pk, now=NOW)

    with pytest.raises(BookingError) as refused:
        cancel_booking(user=customer, booking_id=booking.pk, now=NOW + timedelta(minutes=1))

    assert refused.value.code == "already_cancelled"
    assert Refund.objects.count() == 1
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 0)


def test_cancelling_after_the_start_is_refused():
    slot = _paid_slot()
    customer = _user()
    booking = _book(customer, slot).booking

    with pytest.raises(BookingError) as refused:
        cancel_booking(user=customer, booking_id=booking.pk, now=START)

    assert refused.value.code == "already_started"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert Refund.objects.count() == 0


def test_nobody_else_can_cancel_a_customers_booking():
    slot = _paid_slot()
    booking = _book(_user(), slot).booking

    with pytest.raises(PermissionDenied):
        cancel_booking(user=_user(), booking_id=booking.pk, now=NOW)

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert Refund.objects.count() == 0
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 1)


def test_staff_can_cancel_a_customers_booking():
    slot = _paid_slot()
    booking = _book(_user(), slot).booking
    staff = _user(is_staff=True)

    outcome = cancel_booking(user=staff, booking_id=booking.pk, reason="Customer phoned", now=NOW)

    assert outcome.refund_minor == 5000
    booking.refresh_from_db()
    assert (booking.status, booking.cancelled_by, booking.cancel_reason) == (
        Booking.Status.CANCELLED,
        staff,
        "Customer phoned",
    )


def test_a_cancelled_booking_frees_the_seat_for_someone_else_and_the_customer_can_book_again():
    slot = _paid_slot(capacity=1)
    customer = _user()
    first = _book(customer, slot, key="first").booking
    cancel_booking(user=customer, booking_id=first.pk, now=NOW)

    again = _book(customer, slot, key="second")

    assert again.created is True
    assert again.booking.pk != first.pk
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 1)


# --- Rescheduling ----------------------------------------------------------------------------------


def test_rescheduling_moves_the_seats_to_the_other_date_and_raises_the_calendar_sequence():
    tour = _tour(price=Decimal("20.00"), max_group_size=5)
    old = _slot(tour=tour, start=START)
    new = _slot(tour=tour, start=START + timedelta(days=2))
    customer = _user()
    booking = _book(customer, old, seats=2).booking

    moved = reschedule_booking(user=customer, booking_id=booking.pk, new_slot_id=new.pk, now=NOW)

    assert moved.pk == booking.pk
    booking.refresh_from_db()
    assert (booking.slot, booking.seats, booking.ics_sequence) == (new, 2, 1)
    assert booking.status == Booking.Status.CONFIRMED
    assert _slot_state(old) == (Slot.Status.SCHEDULED, 0)
    assert _slot_state(new) == (Slot.Status.SCHEDULED, 2)
    pending = Reminder.objects.filter(booking=booking, status=Reminder.Status.PENDING)
    assert sorted(pending.values_list("kind", "due_at")) == [
        ("1h", new.start - timedelta(hours=1)),
        ("24h", new.start - timedelta(hours=24)),
    ]
    assert Payment.objects.count() == 1  # the same price: no second charge


def test_rescheduling_there_and_back_again_plans_the_reminders_of_the_original_date():
    tour = _tour(max_group_size=5)
    first = _slot(tour=tour, start=START)
    second = _slot(tour=tour, start=START + timedelta(days=1))
    customer = _user()
    booking = _book(customer, first).booking

    reschedule_booking(user=customer, booking_id=booking.pk, new_slot_id=second.pk, now=NOW)
    reschedule_booking(user=customer, booking_id=booking.pk, new_slot_id=first.pk, now=NOW)

    pending = Reminder.objects.filter(booking=booking, status=Reminder.Status.PENDING)
    assert sorted(pending.values_list("kind", "due_at")) == [
        ("1h", START - timedelta(hours=1)),
        ("24h", START - timedelta(hours=24)),
    ]
    booking.refresh_from_db()
    assert booking.ics_sequence == 2


def test_rescheduling_to_another_tour_is_refused_and_changes_nothing():
    slot = _paid_slot(capacity=5)
    elsewhere = _paid_slot(capacity=5, start=START + timedelta(days=1))
    customer = _user()
    booking = _book(customer, slot, seats=2).booking

    with pytest.raises(BookingError) as refused:
        reschedule_booking(user=customer, booking_id=booking.pk, new_slot_id=elsewhere.pk, now=NOW)

    assert refused.value.code == "other_tour"
    booking.refresh_from_db()
    assert (booking.slot, booking.ics_sequence) == (slot, 0)
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 2)
    assert _slot_state(elsewhere) == (Slot.Status.SCHEDULED, 0)


def test_rescheduling_to_a_full_date_is_sold_out_and_changes_nothing():
    tour = _tour(max_group_size=2)
    slot = _slot(tour=tour, start=START)
    full = _slot(tour=tour, start=START + timedelta(days=1))
    _book(_user(), full, seats=2)
    customer = _user()
    booking = _book(customer, slot, seats=1).booking

    with pytest.raises(SoldOutError):
        reschedule_booking(user=customer, booking_id=booking.pk, new_slot_id=full.pk, now=NOW)

    booking.refresh_from_db()
    assert (booking.slot, booking.ics_sequence) == (slot, 0)
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 1)
    assert _slot_state(full) == (Slot.Status.SCHEDULED, 2)
    assert sorted(
        Reminder.objects.filter(booking=booking, status=Reminder.Status.PENDING).values_list("due_at", flat=True)
    ) == [START - timedelta(hours=24), START - timedelta(hours=1)]


def test_nobody_else_can_reschedule_a_customers_booking():
    tour = _tour()
    slot = _slot(tour=tour, start=START)
    other = _slot(tour=tour, start=START + timedelta(days=1))
    booking = _book(_user(), slot).booking

    with pytest.raises(PermissionDenied):
        reschedule_booking(user=_user(), booking_id=booking.pk, new_slot_id=other.pk, now=NOW)

    booking.refresh_from_db()
    assert booking.slot == slot


# --- A guide cancels a date ------------------------------------------------------------------------


def test_the_guide_cancelling_a_date_cancels_every_booking_with_a_full_refund():
    slot = _paid_slot(price="30.00", capacity=6)
    ada, bea = _user(), _user()
    ada_booking = _book(ada, slot, seats=2).booking
    bea_booking = _book(bea, slot, seats=1).booking
    # Inside the customers' no-refund window: the guide's cancellation still refunds everything.
    late = START - timedelta(hours=2)

    outcomes = cancel_slot(user=slot.tour.guide.user, slot_id=slot.pk, reason="Storm over Venice", now=late)

    assert sorted((item.booking.pk, item.refund_percent, item.refund_minor) for item in outcomes) == sorted(
        [(ada_booking.pk, 100, 6000), (bea_booking.pk, 100, 3000)]
    )
    assert _slot_state(slot) == (Slot.Status.CANCELLED, 0)
    assert set(Booking.objects.values_list("status", flat=True)) == {Booking.Status.CANCELLED}
    assert sorted(Refund.objects.values_list("amount_minor", flat=True)) == [3000, 6000]
    assert set(Reminder.objects.values_list("status", flat=True)) == {Reminder.Status.CANCELLED}


def test_another_guide_cannot_cancel_a_date_and_nothing_changes():
    slot = _paid_slot()
    booking = _book(_user(), slot).booking
    other_guide = _guide().user

    with pytest.raises(PermissionDenied):
        cancel_slot(user=other_guide, slot_id=slot.pk, reason="Not mine", now=NOW)

    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 1)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert Refund.objects.count() == 0


def test_a_customer_cannot_cancel_a_date():
    slot = _paid_slot()
    customer = _user()
    _book(customer, slot)

    with pytest.raises(PermissionDenied):
        cancel_slot(user=customer, slot_id=slot.pk, reason="", now=NOW)

    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 1)


# --- What people are told --------------------------------------------------------------------------


def test_booking_moving_and_cancelling_send_one_invitation_each_with_one_uid_and_a_rising_sequence(commit):
    tour = _tour(title="Trastevere at dusk", price=Decimal("25.00"))
    first = _slot(tour=tour, start=START)
    second = _slot(tour=tour, start=START + timedelta(days=1))
    customer = _user(email="ada@example.com", name="Ada Lovelace")

    with commit():
        booking = _book(customer, first).booking
    with commit():
        reschedule_booking(user=customer, booking_id=booking.pk, new_slot_id=second.pk, now=NOW)
    with commit():
        cancel_booking(user=customer, booking_id=booking.pk, now=NOW)

    emails = list(OutboundEmail.objects.order_by("pk"))
    assert [email.subject for email in emails] == [
        "Booked: Trastevere at dusk",
        "New date: Trastevere at dusk",
        "Cancelled: Trastevere at dusk",
    ]
    assert {tuple(email.to) for email in emails} == {("ada@example.com",)}
    assert [email.idempotency_key for email in emails] == [
        f"booking:{booking.pk}:confirmed",
        f"booking:{booking.pk}:rescheduled:1",
        f"booking:{booking.pk}:cancelled",
    ]
    invites = [_invite(email) for email in emails]
    assert [mimetype for mimetype, _calendar, _event in invites] == [
        "text/calendar; method=REQUEST",
        "text/calendar; method=REQUEST",
        "text/calendar; method=CANCEL",
    ]
    assert [str(calendar["METHOD"]) for _mimetype, calendar, _event in invites] == ["REQUEST", "REQUEST", "CANCEL"]
    assert {str(event["UID"]) for _mimetype, _calendar, event in invites} == {f"booking-{booking.pk}@italyfromcouch"}
    assert [int(event["SEQUENCE"]) for _mimetype, _calendar, event in invites] == [0, 1, 2]
    assert [event.decoded("DTSTART") for _mimetype, _calendar, event in invites] == [
        first.start,
        second.start,
        second.start,
    ]
    assert [str(event["STATUS"]) for _mimetype, _calendar, event in invites] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    # Each message also lands once in the in-app feed.
    assert list(Notification.objects.filter(user=customer).order_by("pk").values_list("kind", flat=True)) == [
        "booking_confirmed",
        "booking_rescheduled",
        "booking_cancelled",
    ]
    # Delivered through the embedded default's outbox transport.
    assert {email.status for email in emails} == {OutboundEmail.Status.SENT}


def test_the_confirmation_is_written_once_when_the_same_booking_is_submitted_again(commit):
    slot = _paid_slot()
    customer = _user()

    with commit():
        _book(customer, slot, key="form-1")
    with commit():
        _book(customer, slot, key="form-1")
    with commit():
        _book(customer, slot, key="another-tab")

    assert OutboundEmail.objects.filter(subject__startswith="Booked:").count() == 1
    assert Notification.objects.filter(user=customer, kind="booking_confirmed").count() == 1


def test_a_refused_booking_tells_nobody_anything(commit):
    slot = _paid_slot(capacity=1)
    _book(_user(), slot)
    latecomer = _user()

    with commit(), pytest.raises(SoldOutError):
        _book(latecomer, slot)

    assert not OutboundEmail.objects.filter(to=[latecomer.email]).exists()
    assert not Notification.objects.filter(user=latecomer).exists()


def test_the_guide_cancelling_a_date_tells_each_customer_once_that_the_guide_cancelled(commit):
    slot = _paid_slot(price="30.00", capacity=6, title="Uffizi highlights")
    ada, bea = _user(name="Ada"), _user(name="Bea")
    _book(ada, slot, seats=2)
    _book(bea, slot, seats=1)

    with commit():
        cancel_slot(user=slot.tour.guide.user, slot_id=slot.pk, reason="Storm", now=NOW)

    cancellations = OutboundEmail.objects.filter(subject="Cancelled: Uffizi highlights").order_by("pk")
    assert [email.to for email in cancellations] == [[ada.email], [bea.email]]
    assert [email.body_text.splitlines()[0] for email in cancellations] == [
        "Hello Ada, we are sorry: the guide had to cancel Uffizi highlights on this date.",
        "Hello Bea, we are sorry: the guide had to cancel Uffizi highlights on this date.",
    ]
    assert "Refund: 60.00 EUR, back to your original payment method." in cancellations[0].body_text
    assert "Refund: 30.00 EUR, back to your original payment method." in cancellations[1].body_text
    assert Notification.objects.filter(kind="booking_cancelled").count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_booking_rolled_back_by_the_callers_transaction_sends_no_email_and_no_notice():
    slot = _paid_slot()
    customer = _user()

    class CallerFailedError(Exception):
        pass

    def book_then_fail():
        with transaction.atomic():
            _book(customer, slot)
            raise CallerFailedError

    with pytest.raises(CallerFailedError):
        book_then_fail()

    assert Booking.objects.count() == 0
    assert Payment.objects.count() == 0
    assert OutboundEmail.objects.count() == 0
    assert Notification.objects.count() == 0
    assert _slot_state(slot) == (Slot.Status.SCHEDULED, 0)

    # The same call committed does write them: the rollback above is what stopped them.
    _book(customer, slot)
    assert list(OutboundEmail.objects.values_list("subject", flat=True)) == [f"Booked: {slot.tour.title}"]
    assert Notification.objects.filter(user=customer).count() == 1
