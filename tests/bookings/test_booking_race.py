"""The last seats go to exactly as many requests as there are seats, however many arrive at once."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from django.utils import timezone

from bookings.models import Booking, Slot, Tour
from bookings.reservations import SoldOutError, book_seat
from tests.factories import GuideProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)

ATTEMPTS = 200
SEATS = 5


def _max_parallel_connections() -> int:
    if connection.vendor != "postgresql":
        return 50
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        limit = int(cursor.fetchone()[0])
    # Leave room for the test's own connection and a parallel test process.
    return max(10, min(ATTEMPTS, limit // 2 - 5))


def _make_slot_and_customers():
    guide = GuideProfileFactory()
    tour = Tour.objects.create(
        guide=guide,
        title="Race for the Pantheon",
        city="Rome",
        category="walking",
        duration_minutes=60,
        max_group_size=20,
    )
    start = timezone.now() + timedelta(days=3)
    slot = Slot.objects.create(tour=tour, guide=guide, start=start, end=start + timedelta(hours=1), capacity=SEATS)
    user_model = get_user_model()
    users = user_model.objects.bulk_create(
        [user_model(email=f"racer{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(ATTEMPTS)]
    )
    return slot, users


def _race(slot, users):
    workers = min(len(users), _max_parallel_connections())
    # The first wave (one request per connection) is released at the same instant.
    gate = threading.Barrier(workers)

    def attempt(indexed_user):
        index, user = indexed_user
        if index < workers:
            gate.wait(timeout=60)
        try:
            book_seat(user=user, slot_id=slot.pk, seats=1, idempotency_key=uuid.uuid4().hex)
            return "confirmed"
        except SoldOutError as error:
            return error.code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(attempt, enumerate(users)))


@pytest.mark.parametrize("run", range(3))
def test_last_five_seats_go_to_exactly_five_of_200_concurrent_requests(run):
    slot, users = _make_slot_and_customers()

    outcomes = _race(slot, users)

    assert outcomes.count("confirmed") == SEATS
    assert outcomes.count("sold_out") == ATTEMPTS - SEATS
    slot.refresh_from_db()
    assert slot.booked_seats == SEATS
    assert Booking.objects.filter(slot=slot, status=Booking.Status.CONFIRMED).count() == SEATS


def test_same_user_racing_two_tabs_gets_one_booking():
    slot, users = _make_slot_and_customers()
    customer = users[0]
    gate = threading.Barrier(10)

    def attempt(_index):
        gate.wait(timeout=30)
        try:
            return book_seat(user=customer, slot_id=slot.pk, seats=1, idempotency_key=uuid.uuid4().hex).booking.pk
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=10) as pool:
        booking_ids = set(pool.map(attempt, range(10)))

    assert len(booking_ids) == 1
    slot.refresh_from_db()
    assert slot.booked_seats == 1
