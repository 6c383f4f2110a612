"""GET /api/slots/ (bookings:slot_feed): what the calendar is given, and what it is refused."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bookings.feed import few_left_threshold
from bookings.models import Booking, Slot, Tour
from bookings.scheduling import add_one_off_slot
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, UserFactory

pytestmark = pytest.mark.django_db

FEED = reverse("bookings:slot_feed")
ROME = ZoneInfo("Europe/Rome")


def _hour_from_now(days: float) -> datetime:
    return (timezone.now() + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def _slot(*, days=3.0, tour=None, capacity=10, booked=0, **fields):
    tour = tour or TourFactory()
    start = fields.pop("start", None) or _hour_from_now(days)
    return SlotFactory(
        tour=tour,
        start=start,
        end=start + timedelta(minutes=tour.duration_minutes),
        capacity=capacity,
        booked_seats=booked,
        **fields,
    )


def _book(user, slot, *, seats=1, status=Booking.Status.CONFIRMED):
    return Booking.objects.create(user=user, slot=slot, seats=seats, status=status, idempotency_key=uuid.uuid4().hex)


def _feed(client, **params):
    response = client.get(FEED, params)
    assert response.status_code == 200, response.content
    return response.json()


def _ids(document):
    return [slot["id"] for slot in document["slots"]]


# --- What a slot looks like --------------------------------------------------------------------


def test_slot_carries_utc_instants_with_z_and_the_zone_it_belongs_to(client):
    guide = GuideProfileFactory(display_name="Giulia Bianchi")
    tour = TourFactory(guide=guide, title="Pantheon by night", city="Rome", category="history", timezone="Europe/Rome")
    start = datetime(2099, 12, 2, 9, 0, tzinfo=UTC)
    slot = _slot(tour=tour, start=start, capacity=12, booked=5)

    document = _feed(client, start="2099-12-01", end="2099-12-03")

    assert document["slots"] == [
        {
            "id": slot.pk,
            "tour": {
                "slug": tour.slug,
                "title": "Pantheon by night",
                "url": f"/tours/{tour.slug}/",
                "city": "Rome",
                "category": "history",
                "timezone": "Europe/Rome",
            },
            "guide": {"slug": guide.slug, "name": "Giulia Bianchi"},
            "start": "2099-12-02T09:00:00Z",
            "end": "2099-12-02T10:30:00Z",
            "tour_timezone": "Europe/Rome",
            "capacity": 12,
            "seats_left": 7,
            "state": "available",
            "booked_by_you": False,
            "book_url": f"/slots/{slot.pk}/book/",
        }
    ]


def test_generated_at_is_the_current_utc_instant_with_z(client):
    with time_machine.travel(datetime(2026, 5, 4, 12, 30, 15, 250000, tzinfo=UTC), tick=False):
        document = _feed(client)

    assert document == {"slots": [], "generated_at": "2026-05-04T12:30:15Z"}


@pytest.mark.parametrize(
    ("local_day", "expected_utc"),
    [
        # Rome is UTC+1 until the last Sunday of March (2026-03-29), UTC+2 after it.
        (datetime(2026, 3, 27, 10, 0), "2026-03-27T09:00:00Z"),
        (datetime(2026, 3, 30, 10, 0), "2026-03-30T08:00:00Z"),
        # And back on the last Sunday of October (2026-10-25).
        (datetime(2026, 10, 23, 10, 0), "2026-10-23T08:00:00Z"),
        (datetime(2026, 10, 26, 10, 0), "2026-10-26T09:00:00Z"),
    ],
)
def test_rome_ten_oclock_is_sent_as_the_utc_instant_of_that_day_across_dst(client, local_day, expected_utc):
    tour = cast(Tour, TourFactory(timezone="Europe/Rome"))
    with time_machine.travel(datetime(2026, 3, 1, tzinfo=UTC), tick=False):
        slot = add_one_off_slot(user=tour.guide.user, tour=tour, local_start=local_day)
        document = _feed(client, start="2026-03-01", end="2026-06-01")
        autumn = _feed(client, start="2026-09-01", end="2026-11-01")

    sent = {item["id"]: item for item in document["slots"] + autumn["slots"]}[slot.pk]
    assert sent["start"] == expected_utc
    assert sent["tour_timezone"] == "Europe/Rome"
    # Read back in the named zone, the instant is 10:00 again: the zone name is enough.
    assert datetime.fromisoformat(sent["start"]).astimezone(ROME).strftime("%H:%M") == "10:00"


@pytest.mark.parametrize(
    ("capacity", "booked", "seats_left", "state"),
    [
        (10, 0, 10, "available"),
        (10, 6, 4, "available"),  # 4 > 3 and 4 > 20 % of 10
        (10, 7, 3, "few_left"),  # 3 seats
        (10, 9, 1, "few_left"),
        (10, 10, 0, "full"),
        (20, 15, 5, "available"),  # 5 > 20 % of 20
        (20, 16, 4, "few_left"),  # 4 = 20 % of 20
        (50, 40, 10, "few_left"),  # 10 = 20 % of 50
        (50, 39, 11, "available"),
        (2, 0, 2, "few_left"),  # a tiny slot is always nearly full
    ],
)
def test_seats_left_and_state_follow_the_few_left_threshold(client, capacity, booked, seats_left, state):
    slot = _slot(capacity=capacity, booked=booked)

    (sent,) = _feed(client)["slots"]

    assert (sent["id"], sent["capacity"], sent["seats_left"], sent["state"]) == (slot.pk, capacity, seats_left, state)


def test_few_left_threshold_is_three_seats_or_a_fifth_of_capacity():
    assert [few_left_threshold(capacity) for capacity in (1, 10, 15, 19, 20, 24, 25, 100)] == [3, 3, 3, 3, 4, 4, 5, 20]


# --- Whose bookings ----------------------------------------------------------------------------


def test_booked_by_you_is_true_only_for_the_signed_in_owner_of_an_active_booking(client):
    owner, other = UserFactory(), UserFactory()
    confirmed, pending, cancelled, untouched = (_slot(days=days, booked=1) for days in (2, 3, 4, 5))
    _book(owner, confirmed)
    _book(owner, pending, status=Booking.Status.PENDING_PAYMENT)
    _book(owner, cancelled, status=Booking.Status.CANCELLED)
    _book(other, untouched)

    anonymous = _feed(client)
    client.force_login(owner)
    as_owner = _feed(client)
    client.force_login(other)
    as_other = _feed(client)

    def booked(document):
        return {item["id"]: item["booked_by_you"] for item in document["slots"]}

    assert booked(anonymous) == dict.fromkeys([confirmed.pk, pending.pk, cancelled.pk, untouched.pk], False)
    assert booked(as_owner) == {confirmed.pk: True, pending.pk: True, cancelled.pk: False, untouched.pk: False}
    assert booked(as_other) == {confirmed.pk: False, pending.pk: False, cancelled.pk: False, untouched.pk: True}


def test_a_full_slot_you_booked_is_both_full_and_yours(client):
    user = UserFactory()
    slot = _slot(capacity=2, booked=2)
    _book(user, slot, seats=2)
    client.force_login(user)

    (sent,) = _feed(client)["slots"]

    assert (sent["id"], sent["state"], sent["booked_by_you"]) == (slot.pk, "full", True)


# --- Which slots -------------------------------------------------------------------------------


def test_only_future_scheduled_slots_of_published_tours_in_the_window_are_listed(client):
    shown = _slot(days=2)
    _slot(days=2, tour=TourFactory(status="draft"))
    _slot(days=2, tour=TourFactory(status="cancelled"))
    _slot(days=2, status=Slot.Status.CANCELLED)
    _slot(days=-1)  # started yesterday
    _slot(start=timezone.now() - timedelta(minutes=1))  # started a minute ago
    _slot(days=40)  # after the default 31-day window

    assert _ids(_feed(client)) == [shown.pk]


def test_default_window_runs_from_today_to_31_days_later(client):
    with time_machine.travel(datetime(2026, 6, 10, 12, 0, tzinfo=UTC), tick=False):
        later_today = _slot(start=datetime(2026, 6, 10, 18, 0, tzinfo=UTC))
        last_inside = _slot(start=datetime(2026, 7, 10, 23, 0, tzinfo=UTC))
        _slot(start=datetime(2026, 7, 11, 0, 0, tzinfo=UTC))  # today + 31 days: the exclusive end

        assert _ids(_feed(client)) == [later_today.pk, last_inside.pk]


def test_window_is_start_inclusive_end_exclusive_and_takes_offsets(client):
    tour = TourFactory()
    first = _slot(tour=tour, start=datetime(2099, 3, 10, 9, 0, tzinfo=UTC))
    second = _slot(tour=tour, start=datetime(2099, 3, 10, 11, 0, tzinfo=UTC))

    assert _ids(_feed(client, start="2099-03-10T09:00:00Z", end="2099-03-10T11:00:00Z")) == [first.pk]
    # 10:00 in Rome (UTC+1 in March) is 09:00Z: the same window written with an offset.
    assert _ids(_feed(client, start="2099-03-10T10:00:00+01:00", end="2099-03-10T12:00:01+01:00")) == [
        first.pk,
        second.pk,
    ]
    # A "+" sent unencoded arrives as a space; it still means the offset.
    assert _ids(_feed(client, start="2099-03-10T10:30:00 01:00", end="2099-03-11")) == [second.pk]


def test_slots_come_in_start_order(client):
    late, early, middle = _slot(days=9), _slot(days=2), _slot(days=5)

    assert _ids(_feed(client)) == [early.pk, middle.pk, late.pk]


def test_filters_by_tour_category_guide_and_city(client):
    guide = GuideProfileFactory()
    food_in_florence = _slot(tour=TourFactory(guide=guide, category="food", city="Florence"))
    art_in_florence = _slot(tour=TourFactory(guide=guide, category="art", city="Florence"), days=4)
    walking_in_rome = _slot(tour=TourFactory(category="walking", city="Rome"), days=5)

    assert _ids(_feed(client, tour=food_in_florence.tour.slug)) == [food_in_florence.pk]
    assert _ids(_feed(client, category="art")) == [art_in_florence.pk]
    assert _ids(_feed(client, guide=guide.slug)) == [food_in_florence.pk, art_in_florence.pk]
    assert _ids(_feed(client, city="florence")) == [food_in_florence.pk, art_in_florence.pk]
    assert _ids(_feed(client, city="Rome", category="walking")) == [walking_in_rome.pk]
    assert _ids(_feed(client, guide=guide.slug, category="walking")) == []
    assert _ids(_feed(client, tour="no-such-tour")) == []


def test_guide_filter_follows_the_slot_s_own_guide(client):
    stand_in = GuideProfileFactory()
    covered = _slot(guide=stand_in)

    assert _ids(_feed(client, guide=stand_in.slug)) == [covered.pk]
    assert _feed(client)["slots"][0]["guide"]["slug"] == stand_in.slug


# --- Refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "tomorrow"}, "“start” must be an ISO date"),
        ({"end": "2026-02-30"}, "“end” must be an ISO date"),
        ({"start": "2026-03-10T09:00:00"}, "“start” needs a time zone"),
        ({"start": "2026-03-10", "end": "2026-03-10"}, "“end” must be after “start”"),
        ({"start": "2026-03-10", "end": "2026-03-01"}, "“end” must be after “start”"),
        ({"start": "2026-01-01", "end": "2026-04-11T00:00:01Z"}, "at most 100 days"),
        ({"start": "9999-12-31"}, "out of range"),
        ({"start": "0001-01-01T00:00:00+01:00"}, "out of range"),
        ({"category": "opera"}, "Unknown category “opera”"),
        ({"city": "x" * 161}, "“city” is too long"),
        ({"start": "\x00"}, "“start” must be an ISO date"),
    ],
)
def test_bad_parameters_get_a_400_with_a_message_never_a_500(client, params, message):
    response = client.get(FEED, params)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert message in response.json()["error"]


def test_exactly_100_days_is_allowed(client):
    response = client.get(FEED, {"start": "2026-01-01", "end": "2026-04-11"})

    assert response.status_code == 200


def test_only_get_and_head_are_allowed(client):
    assert client.post(FEED).status_code == 405
    assert client.head(FEED).status_code == 200


# --- Cost and caching --------------------------------------------------------------------------


def _many_slots(count):
    guides = [GuideProfileFactory() for _ in range(4)]
    tours = [TourFactory(guide=guides[index % 4]) for index in range(8)]
    return [_slot(tour=tours[index % 8], days=1 + index * 0.5) for index in range(count)]


def test_query_count_does_not_grow_with_the_number_of_slots(client, django_assert_max_num_queries):
    user = UserFactory()
    client.force_login(user)
    few = _many_slots(2)
    _book(user, few[0])
    with CaptureQueriesContext(connection) as with_two:
        assert len(_feed(client)["slots"]) == 2

    more = _many_slots(40)
    _book(user, more[-1])
    # Session, user, slots with their tours and guides, the user's bookings.
    with django_assert_max_num_queries(4):
        document = _feed(client)

    assert len(document["slots"]) == 42
    assert sum(item["booked_by_you"] for item in document["slots"]) == 2
    assert len(with_two.captured_queries) == 4


def test_anonymous_feed_reads_slots_in_one_query(client, django_assert_num_queries):
    _many_slots(10)

    with django_assert_num_queries(1):
        assert len(_feed(client)["slots"]) == 10


def test_answer_may_be_kept_briefly_by_the_browser_only(client):
    response = client.get(FEED)

    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert cache_control == {"private", "max-age=30"}
    assert "Cookie" in response.get("Vary", "")
