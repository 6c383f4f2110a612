"""Holds are seats: 200 customers racing for the last 5 seats of a paid date get exactly 5 holds.

The payment is opened after the slot lock is released, so a slow provider does not serialise the
race, yet the seats are taken inside the lock. Meaningful on PostgreSQL (row locks), also run on SQLite.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import timezone

from bookings.models import Booking, Slot, Tour
from bookings.reservations import SoldOutError, book_seat
from payments.models import Payment
from tests.factories import GuidePaymentAccountFactory, GuideProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 200
SEATS = 5


def _workers() -> int:
    if connection.vendor != "postgresql":
        return 50
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        limit = int(cursor.fetchone()[0])
    return max(10, min(ATTEMPTS, limit // 2 - 5))


def test_the_last_five_seats_of_a_paid_date_are_held_by_exactly_five_of_200_concurrent_requests():
    guide = GuideProfileFactory()
    GuidePaymentAccountFactory(guide=guide)
    tour = Tour.objects.create(
        guide=guide, title="Paid race", city="Rome", category="walking", duration_minutes=60, price=Decimal("30.00")
    )
    start = timezone.now() + timedelta(days=3)
    slot = Slot.objects.create(tour=tour, guide=guide, start=start, end=start + timedelta(hours=1), capacity=SEATS)
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(email=f"payer{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(ATTEMPTS)]
    )
    workers = min(ATTEMPTS, _workers())
    gate = threading.Barrier(workers)

    def attempt(indexed):
        index, user = indexed
        if index < workers:
            gate.wait(timeout=60)
        try:
            outcome = book_seat(user=user, slot_id=slot.pk, seats=1, idempotency_key=uuid.uuid4().hex)
            return outcome.booking.status
        except SoldOutError as error:
            return error.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(attempt, enumerate(users)))

    assert outcomes.count(Booking.Status.PENDING_PAYMENT) == SEATS
    assert outcomes.count("sold_out") == ATTEMPTS - SEATS
    slot.refresh_from_db()
    assert slot.booked_seats == SEATS
    assert Booking.objects.filter(slot=slot, status=Booking.Status.PENDING_PAYMENT).count() == SEATS
    # Every hold has its intent; nobody who was refused has a payment.
    payments = Payment.objects.filter(booking__slot=slot)
    assert payments.count() == SEATS
    assert all(payment.provider_reference.startswith("pi_test_") for payment in payments)
