"""The guide's schedule: every tour's next dates with seats and names, and the last 30 days."""

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from django.urls import reverse

from accounts.models import User
from bookings import reservations
from bookings.models import Booking, Tour
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_user(**fields) -> User:
    # factory-boy is untyped: the services take a User, and so does this.
    return cast(User, UserFactory(**fields))


def make_tour(**fields) -> Tour:
    return cast(Tour, TourFactory(**fields))


NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SCHEDULE = reverse("bookings:guide_schedule")


@pytest.fixture(autouse=True)
def frozen_now(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def guide():
    # A guide who lives in New York this winter: times show in their zone and in the tour's.
    return GuideProfileFactory(user__timezone="America/New_York")


def section(page, name):
    return page.split(f'data-section="{name}"', 1)[1].split("</section>", 1)[0]


def row_of(page, slot):
    return page.split(f'data-slot="{slot.pk}"', 1)[1].split("</tr>", 1)[0]


def test_upcoming_dates_of_every_tour_show_seats_and_who_booked(client, guide):
    colosseum = make_tour(guide=guide, title="Colosseum", max_group_size=10)
    food = make_tour(guide=guide, title="Street Food", max_group_size=8)
    first = SlotFactory(tour=colosseum, start=datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    second = SlotFactory(tour=food, start=datetime(2026, 12, 6, 17, 0, tzinfo=UTC))
    reservations.book_seat(user=make_user(name="Anna Schmidt"), slot_id=first.pk, seats=2, idempotency_key="a")
    reservations.book_seat(
        user=make_user(name="", email="ben.carter@example.com"), slot_id=first.pk, seats=1, idempotency_key="b"
    )
    client.force_login(guide.user)

    page = client.get(SCHEDULE).content.decode()

    upcoming = section(page, "upcoming")
    assert upcoming.index("Colosseum") < upcoming.index("Street Food")
    first_row = row_of(upcoming, first)
    assert "3 / 10" in first_row
    assert "Anna Schmidt" in first_row
    assert "(2 seats)" in first_row
    assert "ben.carter" in first_row
    assert "(1 seat)" in first_row
    assert "0 / 8" in row_of(upcoming, second)
    assert "No bookings" in row_of(upcoming, second)


def test_times_show_in_the_guides_zone_and_in_the_tours_zone(client, guide):
    slot = SlotFactory(tour=make_tour(guide=guide), start=datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    client.force_login(guide.user)

    row = row_of(client.get(SCHEDULE).content.decode(), slot)

    assert "Sat 5 Dec 2026, 04:00" in row  # New York, UTC-5
    assert "Sat 5 Dec, 10:00 CET (Europe/Rome)" in row


def test_cancelled_bookings_do_not_count_as_names(client, guide):
    slot = SlotFactory(tour=make_tour(guide=guide))
    customer = make_user(name="Changed Mind")
    booking = reservations.book_seat(user=customer, slot_id=slot.pk, seats=1, idempotency_key="c").booking
    reservations.cancel_booking(user=customer, booking_id=booking.pk)
    client.force_login(guide.user)

    row = row_of(client.get(SCHEDULE).content.decode(), slot)

    assert "Changed Mind" not in row
    assert "0 / " in row


def test_dates_of_the_last_30_days_are_in_their_own_section(client, guide):
    tour = make_tour(guide=guide, title="Pantheon")
    recent = SlotFactory(tour=tour, start=NOW - timedelta(days=3), end=NOW - timedelta(days=3) + timedelta(hours=1))
    Booking.objects.create(user=make_user(name="Past Guest"), slot=recent, seats=1, idempotency_key="p")
    old = SlotFactory(tour=tour, start=NOW - timedelta(days=40), end=NOW - timedelta(days=40) + timedelta(hours=1))
    upcoming = SlotFactory(tour=tour, start=NOW + timedelta(days=2))
    client.force_login(guide.user)

    page = client.get(SCHEDULE).content.decode()

    past_section = section(page, "past")
    assert f'data-slot="{recent.pk}"' in past_section
    assert "Past Guest" in past_section
    assert f'data-slot="{old.pk}"' not in page
    assert f'data-slot="{upcoming.pk}"' in section(page, "upcoming")
    assert f'data-slot="{upcoming.pk}"' not in past_section


def test_other_guides_dates_are_not_on_my_schedule(client, guide):
    mine = SlotFactory(tour=make_tour(guide=guide))
    theirs = SlotFactory()
    client.force_login(guide.user)

    page = client.get(SCHEDULE).content.decode()

    assert f'data-slot="{mine.pk}"' in page
    assert f'data-slot="{theirs.pk}"' not in page


def test_a_cancelled_upcoming_date_is_marked_and_offers_no_cancel_link(client, guide):
    slot = SlotFactory(tour=make_tour(guide=guide))
    reservations.cancel_slot(user=guide.user, slot_id=slot.pk, reason="Strike")
    client.force_login(guide.user)

    row = row_of(client.get(SCHEDULE).content.decode(), slot)

    assert "Cancelled" in row
    assert "Strike" in row
    assert reverse("bookings:slot_cancel", kwargs={"pk": slot.pk}) not in row


def test_an_empty_schedule_says_how_to_add_dates(client, guide):
    client.force_login(guide.user)

    page = client.get(SCHEDULE).content.decode()

    assert "No dates ahead." in page
    assert "No dates in the last 30 days." in page
