"""A guide's rules, blackouts and one-off dates become slots at the right instants, never clashing."""

from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import GuideProfile, User
from bookings.models import AvailabilityRule, Blackout, Slot, Tour
from bookings.reservations import book_seat
from bookings.scheduling import (
    SchedulingError,
    add_blackout,
    add_one_off_slot,
    create_rule,
    deactivate_rule,
    materialize_all_tours,
)
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("celery_eager")]


def _user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def _tour(**fields: Any) -> Tour:
    return cast(Tour, TourFactory(**fields))


def _slot(**fields: Any) -> Slot:
    return cast(Slot, SlotFactory(**fields))


def _guide(**fields: Any) -> GuideProfile:
    return cast(GuideProfile, GuideProfileFactory(**fields))


# A Wednesday, a month before Rome moves its clocks forward (Sunday 2026-03-29, 02:00 -> 03:00).
FEBRUARY = datetime(2026, 2, 25, 12, 0, tzinfo=UTC)
SUNDAYS_AT_10 = "FREQ=WEEKLY;BYDAY=SU;BYHOUR=10;BYMINUTE=0"
MONDAYS_AT_10 = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0"


def _utc(*args):
    return datetime(*args, tzinfo=UTC)


def _starts(tour):
    return list(Slot.objects.filter(tour=tour).order_by("start").values_list("start", flat=True))


def _rule(tour, rrule, *, valid_from=date(2026, 3, 1), valid_until=date(2026, 3, 31), now=FEBRUARY, **extra):
    return create_rule(
        user=tour.guide.user, tour=tour, rrule=rrule, valid_from=valid_from, valid_until=valid_until, now=now, **extra
    )


def test_a_10_oclock_rome_rule_starts_at_9z_in_winter_and_8z_after_the_clocks_go_forward():
    tour = _tour(timezone="Europe/Rome", duration_minutes=90, max_group_size=12)

    outcome = _rule(tour, SUNDAYS_AT_10, valid_until=date(2026, 4, 12))

    expected = [
        _utc(2026, 3, 1, 9),
        _utc(2026, 3, 8, 9),
        _utc(2026, 3, 15, 9),
        _utc(2026, 3, 22, 9),
        _utc(2026, 3, 29, 8),
        _utc(2026, 4, 5, 8),
        _utc(2026, 4, 12, 8),
    ]
    assert outcome.slots_created == 7
    assert _starts(tour) == expected
    slots = Slot.objects.filter(tour=tour)
    assert {slot.end - slot.start for slot in slots} == {timedelta(minutes=90)}
    assert {(slot.capacity, slot.booked_seats, slot.guide_id, slot.rule_id) for slot in slots} == {
        (12, 0, tour.guide_id, outcome.rule.pk)
    }
    assert AvailabilityRule.objects.get().rrule == SUNDAYS_AT_10


def test_a_10_oclock_rome_rule_goes_back_to_9z_when_the_clocks_go_back_in_october():
    tour = _tour(timezone="Europe/Rome")

    _rule(
        tour,
        SUNDAYS_AT_10,
        valid_from=date(2026, 10, 18),
        valid_until=date(2026, 11, 1),
        now=_utc(2026, 10, 1, 12),
    )

    assert _starts(tour) == [_utc(2026, 10, 18, 8), _utc(2026, 10, 25, 9), _utc(2026, 11, 1, 9)]


def test_a_rule_takes_its_seats_from_the_capacity_given():
    tour = _tour(max_group_size=12)

    _rule(tour, SUNDAYS_AT_10, capacity=4)

    assert set(Slot.objects.values_list("capacity", flat=True)) == {4}


def test_a_capacity_above_the_tours_maximum_is_refused():
    tour = _tour(max_group_size=12)

    with pytest.raises(SchedulingError) as refused:
        _rule(tour, SUNDAYS_AT_10, capacity=13)

    assert refused.value.message == "Seats per slot must be between 1 and the tour's maximum of 12."
    assert Slot.objects.count() == 0
    assert AvailabilityRule.objects.count() == 0


def test_a_rule_stops_at_the_booking_horizon():
    tour = _tour()  # the default horizon: 90 days

    outcome = _rule(tour, MONDAYS_AT_10, valid_from=date(2026, 3, 1), valid_until=None)

    starts = _starts(tour)
    assert starts[0] == _utc(2026, 3, 2, 9)
    assert starts[-1] <= FEBRUARY + timedelta(days=90)
    assert starts[-1] + timedelta(days=7) > FEBRUARY + timedelta(days=90)
    assert outcome.slots_created == len(starts) == 13


def test_an_invalid_rrule_is_refused_with_the_rules_message_and_creates_nothing():
    tour = _tour()

    with pytest.raises(SchedulingError) as refused:
        _rule(tour, "FREQ=HOURLY;BYHOUR=10")

    assert "FREQ=HOURLY is refused" in refused.value.message
    assert AvailabilityRule.objects.count() == 0
    assert Slot.objects.count() == 0


def test_a_rule_with_no_date_before_the_horizon_is_refused():
    tour = _tour()

    with pytest.raises(SchedulingError) as refused:
        _rule(tour, SUNDAYS_AT_10, valid_from=date(2026, 12, 1), valid_until=date(2026, 12, 31))

    assert refused.value.message == "This rule gives no dates between now and the booking horizon."
    assert AvailabilityRule.objects.count() == 0


def test_only_the_tours_guide_may_add_a_rule():
    tour = _tour()

    with pytest.raises(PermissionDenied):
        create_rule(
            user=_guide().user,
            tour=tour,
            rrule=SUNDAYS_AT_10,
            valid_from=date(2026, 3, 1),
            now=FEBRUARY,
        )

    assert AvailabilityRule.objects.count() == 0


# --- Clashes between a guide's tours ---------------------------------------------------------------


@pytest.fixture
def guide_with_a_monday_tour():
    """A guide whose 90-minute Colosseum tour runs Mondays 10:00-11:30 Rome, busy until 12:00."""
    guide = _guide()
    colosseum = _tour(guide=guide, title="Colosseum at ten", duration_minutes=90)
    _rule(colosseum, MONDAYS_AT_10)
    return guide, colosseum


def test_a_rule_starting_inside_another_tours_buffer_is_refused_naming_the_clash(guide_with_a_monday_tour):
    guide, colosseum = guide_with_a_monday_tour
    forum = _tour(guide=guide, title="Forum walk", duration_minutes=60)
    colosseum_slots = _starts(colosseum)

    with pytest.raises(SchedulingError) as refused:
        _rule(forum, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=11;BYMINUTE=45")

    assert refused.value.message == (
        "“Forum walk” on Mon 02 Mar 2026 11:45 (Europe/Rome) would overlap "
        "“Colosseum at ten” on Mon 02 Mar 2026 10:00 (Europe/Rome) (including the buffer between tours)."
    )
    assert not AvailabilityRule.objects.filter(tour=forum).exists()
    assert _starts(forum) == []
    assert _starts(colosseum) == colosseum_slots


def test_a_rule_whose_own_buffer_runs_into_the_next_tour_is_refused(guide_with_a_monday_tour):
    guide, _colosseum = guide_with_a_monday_tour
    # 08:30-10:00, plus this tour's 30 minutes of buffer: the guide is not free at 10:00.
    breakfast = _tour(guide=guide, title="Breakfast in Testaccio", duration_minutes=90)

    with pytest.raises(SchedulingError) as refused:
        _rule(breakfast, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=8;BYMINUTE=30")

    assert refused.value.message.startswith("“Breakfast in Testaccio” on Mon 02 Mar 2026 08:30 (Europe/Rome)")
    assert _starts(breakfast) == []


def test_a_rule_starting_exactly_when_the_buffer_ends_is_accepted(guide_with_a_monday_tour):
    guide, _colosseum = guide_with_a_monday_tour
    forum = _tour(guide=guide, title="Forum walk", duration_minutes=60)

    outcome = _rule(forum, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=12;BYMINUTE=0")

    assert outcome.slots_created == 5
    assert _starts(forum)[0] == _utc(2026, 3, 2, 11)


def test_the_buffer_of_each_tour_is_its_own(guide_with_a_monday_tour):
    guide, colosseum = guide_with_a_monday_tour
    colosseum.scheduling.buffer_minutes = 0
    colosseum.scheduling.save()
    forum = _tour(guide=guide, title="Forum walk", duration_minutes=60)

    outcome = _rule(forum, "FREQ=WEEKLY;BYDAY=MO;BYHOUR=11;BYMINUTE=30")

    assert outcome.slots_created == 5


def test_tours_of_different_guides_never_clash(guide_with_a_monday_tour):
    _guide, colosseum = guide_with_a_monday_tour
    someone_else = _tour(title="Same time, other guide", duration_minutes=90)

    outcome = _rule(someone_else, MONDAYS_AT_10)

    assert outcome.slots_created == 5
    assert _starts(someone_else) == _starts(colosseum)


def test_a_one_off_date_inside_another_tours_time_is_refused(guide_with_a_monday_tour, time_machine):
    time_machine.move_to(FEBRUARY, tick=False)
    guide, _colosseum = guide_with_a_monday_tour
    forum = _tour(guide=guide, title="Forum walk", duration_minutes=60)

    with pytest.raises(SchedulingError) as refused:
        add_one_off_slot(user=guide.user, tour=forum, local_start=datetime(2026, 3, 9, 11, 0))

    assert "would overlap “Colosseum at ten” on Mon 09 Mar 2026 10:00 (Europe/Rome)" in refused.value.message
    assert _starts(forum) == []


# --- Blackouts, deactivation, the daily materialisation -------------------------------------------


def test_a_blackout_day_gets_no_slot_from_a_rule():
    tour = _tour()
    add_blackout(user=tour.guide.user, tour=tour, day=date(2026, 3, 8), reason="Marathon")

    outcome = _rule(tour, SUNDAYS_AT_10)

    assert outcome.slots_created == 4
    assert _starts(tour) == [_utc(2026, 3, 1, 9), _utc(2026, 3, 15, 9), _utc(2026, 3, 22, 9), _utc(2026, 3, 29, 8)]


def test_a_blackout_removes_the_days_unbooked_slots_and_keeps_booked_ones(time_machine):
    time_machine.move_to(FEBRUARY, tick=False)
    tour = _tour()
    _rule(tour, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=10,15;BYMINUTE=0")
    booked = Slot.objects.get(tour=tour, start=_utc(2026, 3, 8, 14))
    book_seat(user=_user(), slot_id=booked.pk, seats=1, idempotency_key="k")

    blackout, removed = add_blackout(user=tour.guide.user, tour=tour, day=date(2026, 3, 8), reason="Marathon")

    assert removed == 1
    assert (blackout.date, blackout.reason) == (date(2026, 3, 8), "Marathon")
    sunday = [start for start in _starts(tour) if start.date() == date(2026, 3, 8)]
    assert sunday == [_utc(2026, 3, 8, 14)]


def test_deactivating_a_rule_removes_its_future_unbooked_slots_only(time_machine):
    time_machine.move_to(FEBRUARY, tick=False)
    tour = _tour()
    outcome = _rule(tour, SUNDAYS_AT_10)
    booked = Slot.objects.get(tour=tour, start=_utc(2026, 3, 15, 9))
    book_seat(user=_user(), slot_id=booked.pk, seats=1, idempotency_key="k")

    removed = deactivate_rule(user=tour.guide.user, rule=outcome.rule)

    assert removed == 4
    assert _starts(tour) == [_utc(2026, 3, 15, 9)]
    assert materialize_all_tours(now=FEBRUARY) == 0


def test_materializing_twice_creates_nothing_the_second_time():
    tour = _tour()
    _rule(tour, MONDAYS_AT_10, valid_until=None)
    before = _starts(tour)

    assert materialize_all_tours(now=FEBRUARY) == 0
    assert _starts(tour) == before


def test_materializing_a_week_later_adds_the_dates_that_entered_the_horizon_once():
    tour = _tour()
    _rule(tour, MONDAYS_AT_10, valid_until=None)
    before = _starts(tour)
    a_week_later = FEBRUARY + timedelta(days=7)

    assert materialize_all_tours(now=a_week_later) == 1
    assert materialize_all_tours(now=a_week_later) == 0
    assert _starts(tour) == [*before, before[-1] + timedelta(days=7)]


def test_materializing_skips_a_date_that_would_clash_and_keeps_the_rest():
    guide = _guide()
    tour = _tour(guide=guide, duration_minutes=60)
    _rule(tour, MONDAYS_AT_10, valid_until=None)
    last = _starts(tour)[-1]
    # A one-off of another tour lands where next week's Monday slot will enter the horizon.
    other = _tour(guide=guide, duration_minutes=60)
    _slot(tour=other, start=last + timedelta(days=7), capacity=5)

    assert materialize_all_tours(now=FEBRUARY + timedelta(days=14)) == 1
    assert _starts(tour)[-1] == last + timedelta(days=14)


def test_materializing_ignores_unpublished_tours():
    tour = _tour()
    _rule(tour, MONDAYS_AT_10, valid_until=None)
    Tour.objects.filter(pk=tour.pk).update(status=Tour.Status.DRAFT)

    assert materialize_all_tours(now=FEBRUARY + timedelta(days=7)) == 0


# --- One-off dates ---------------------------------------------------------------------------------


def test_a_one_off_date_in_the_spring_forward_gap_starts_at_0130z(time_machine):
    time_machine.move_to(FEBRUARY, tick=False)
    tour = _tour(timezone="Europe/Rome")

    slot = add_one_off_slot(user=tour.guide.user, tour=tour, local_start=datetime(2026, 3, 29, 2, 30))

    # 02:30 does not exist that night: it is read with the winter offset, i.e. 03:30 CEST.
    assert slot.start == _utc(2026, 3, 29, 1, 30)
    assert (slot.tour, slot.rule, slot.capacity) == (tour, None, tour.max_group_size)


def test_a_one_off_date_in_the_repeated_autumn_hour_is_the_first_of_the_two(time_machine):
    time_machine.move_to(FEBRUARY, tick=False)
    tour = _tour(timezone="Europe/Rome")

    slot = add_one_off_slot(user=tour.guide.user, tour=tour, local_start=datetime(2026, 10, 25, 2, 30))

    assert slot.start == _utc(2026, 10, 25, 0, 30)


def test_a_one_off_date_twice_or_in_the_past_or_with_a_zone_is_refused(time_machine):
    time_machine.move_to(FEBRUARY, tick=False)
    tour = _tour()
    add_one_off_slot(user=tour.guide.user, tour=tour, local_start=datetime(2026, 3, 3, 18, 0))

    with pytest.raises(SchedulingError, match="already exists"):
        add_one_off_slot(user=tour.guide.user, tour=tour, local_start=datetime(2026, 3, 3, 18, 0))
    with pytest.raises(SchedulingError, match="in the past"):
        add_one_off_slot(user=tour.guide.user, tour=tour, local_start=datetime(2026, 2, 25, 12, 0))
    with pytest.raises(SchedulingError, match="wall-clock time"):
        add_one_off_slot(user=tour.guide.user, tour=tour, local_start=datetime(2026, 3, 4, 18, 0, tzinfo=UTC))
    assert Slot.objects.filter(tour=tour).count() == 1


@pytest.mark.parametrize("capacity", [0, -1, 11])
def test_a_one_off_date_with_seats_outside_the_tours_limits_is_refused(time_machine, capacity):
    time_machine.move_to(FEBRUARY, tick=False)
    tour = _tour(max_group_size=10)

    with pytest.raises(SchedulingError) as refused:
        add_one_off_slot(user=tour.guide.user, tour=tour, local_start=datetime(2026, 3, 3, 18, 0), capacity=capacity)

    assert refused.value.message == "Seats per slot must be between 1 and the tour's maximum of 10."
    assert Slot.objects.count() == 0


def test_only_the_tours_guide_may_add_a_date_or_a_blackout(time_machine):
    time_machine.move_to(FEBRUARY, tick=False)
    tour = _tour()
    stranger = _guide().user

    with pytest.raises(PermissionDenied):
        add_one_off_slot(user=stranger, tour=tour, local_start=datetime(2026, 3, 3, 18, 0))
    with pytest.raises(PermissionDenied):
        add_blackout(user=stranger, tour=tour, day=date(2026, 3, 3))

    assert Slot.objects.count() == 0
    assert Blackout.objects.count() == 0
