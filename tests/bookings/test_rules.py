"""Example tests for bookings.rules: exact dates, exact instants, exact words.

Property tests over many zones and rules live in test_rules_properties.py.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bookings import rules
from bookings.rules import (
    DEFAULT_REFUND_POLICY,
    ExpansionTooLarge,
    Interval,
    InvalidRefundPolicy,
    InvalidSchedule,
    InvalidTimeZone,
    NotBookable,
    NotBookableReason,
    Occurrence,
    RefundPolicy,
    RefundTier,
    Schedule,
    SlotState,
)

ROME = "Europe/Rome"
NEW_YORK = "America/New_York"
HOUR = timedelta(hours=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def schedule(rrule: str, *, tz: str = ROME, valid_from: date = date(2026, 1, 1), **kwargs) -> Schedule:
    return Schedule(tz=tz, rrule=rrule, valid_from=valid_from, duration=kwargs.pop("duration", 2 * HOUR), **kwargs)


def starts(occurrences: list[Occurrence]) -> list[datetime]:
    return [occurrence.start_utc for occurrence in occurrences]


# --- localize: RFC 5545 §3.3.5 as zoneinfo does it with fold=0 -------------------------------


def test_zoneinfo_fold_0_reads_a_skipped_time_with_the_offset_before_the_gap():
    # The behaviour localize() relies on, asserted on zoneinfo itself.
    gap = datetime(2026, 3, 29, 2, 30, tzinfo=ZoneInfo(ROME))
    assert gap.fold == 0
    assert gap.utcoffset() == HOUR
    assert gap.astimezone(UTC) == utc(2026, 3, 29, 1, 30)
    assert gap.astimezone(UTC).astimezone(ZoneInfo(ROME)).replace(tzinfo=None) == datetime(2026, 3, 29, 3, 30)


def test_zoneinfo_fold_0_reads_a_repeated_time_as_the_first_one():
    repeated = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo(ROME))
    assert repeated.utcoffset() == 2 * HOUR
    assert repeated.astimezone(UTC) == utc(2026, 10, 25, 0, 30)
    assert repeated.replace(fold=1).astimezone(UTC) == utc(2026, 10, 25, 1, 30)


def test_localize_maps_rome_0230_on_the_spring_forward_night_to_0130_utc():
    assert rules.localize(datetime(2026, 3, 29, 2, 30), ROME) == utc(2026, 3, 29, 1, 30)


def test_localize_maps_rome_0230_on_the_fall_back_night_to_its_first_occurrence():
    assert rules.localize(datetime(2026, 10, 25, 2, 30), ROME) == utc(2026, 10, 25, 0, 30)


def test_localize_ignores_fold_1_on_the_input():
    assert rules.localize(datetime(2026, 10, 25, 2, 30, fold=1), ROME) == utc(2026, 10, 25, 0, 30)


def test_localize_returns_utc_and_refuses_aware_input():
    assert rules.localize(datetime(2026, 7, 1, 10), ROME).tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        rules.localize(utc(2026, 7, 1, 10), ROME)


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../../etc/passwd", "", "localtime", "europe/rome"])
def test_unknown_or_unsafe_zone_names_are_refused(name):
    with pytest.raises(InvalidTimeZone):
        rules.get_zone(name)


# --- expansion in the tour's wall time --------------------------------------------------------


def test_a_10_00_rome_tour_stays_at_10_00_in_rome_across_both_dst_changes():
    daily = schedule("FREQ=DAILY;BYHOUR=10")
    spring = rules.expand(daily, window_start=utc(2026, 3, 27), window_end=utc(2026, 3, 31))
    assert starts(spring) == [utc(2026, 3, 27, 9), utc(2026, 3, 28, 9), utc(2026, 3, 29, 8), utc(2026, 3, 30, 8)]
    autumn = rules.expand(daily, window_start=utc(2026, 10, 23), window_end=utc(2026, 10, 27))
    assert starts(autumn) == [utc(2026, 10, 23, 8), utc(2026, 10, 24, 8), utc(2026, 10, 25, 9), utc(2026, 10, 26, 9)]
    assert {occurrence.local_start.time() for occurrence in spring + autumn} == {time(10)}


def test_a_9_00_new_york_tour_stays_at_9_00_in_new_york_when_the_us_changes_first():
    daily = schedule("FREQ=DAILY;BYHOUR=9", tz=NEW_YORK)
    occurrences = rules.expand(daily, window_start=utc(2026, 3, 7), window_end=utc(2026, 3, 10))
    assert starts(occurrences) == [utc(2026, 3, 7, 14), utc(2026, 3, 8, 13), utc(2026, 3, 9, 13)]
    pair = rules.format_pair(occurrences[1].start_utc, NEW_YORK, ROME)
    # In the weeks when only the US has changed, Rome is 5 hours ahead, not 6.
    assert (pair.viewer.text, pair.tour.text) == ("Sun 8 Mar 2026, 09:00", "Sun 8 Mar 2026, 14:00")


def test_the_0230_rome_slot_on_the_spring_forward_night_starts_at_0130_utc():
    nightly = schedule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30")
    occurrences = rules.expand(nightly, window_start=utc(2026, 3, 28, 12), window_end=utc(2026, 3, 30, 12))
    assert len(occurrences) == 2
    gap_night, next_night = occurrences
    assert gap_night.start_utc == utc(2026, 3, 29, 1, 30)
    assert gap_night.local_start == datetime(2026, 3, 29, 2, 30)
    assert gap_night.in_dst_gap
    assert gap_night.start_utc.astimezone(ZoneInfo(ROME)).strftime("%H:%M %z") == "03:30 +0200"
    assert next_night.start_utc == utc(2026, 3, 30, 0, 30)
    assert not next_night.in_dst_gap


def test_the_0230_rome_slot_on_the_fall_back_night_happens_once_at_its_first_occurrence():
    nightly = schedule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30")
    occurrences = rules.expand(nightly, window_start=utc(2026, 10, 24, 12), window_end=utc(2026, 10, 25, 12))
    assert starts(occurrences) == [utc(2026, 10, 25, 0, 30)]
    assert not occurrences[0].in_dst_gap


def test_two_wall_times_that_meet_in_the_gap_give_one_occurrence_with_the_real_time():
    both = schedule("FREQ=DAILY;BYHOUR=2,3;BYMINUTE=30")
    occurrences = rules.expand(both, window_start=utc(2026, 3, 29), window_end=utc(2026, 3, 29, 12))
    assert starts(occurrences) == [utc(2026, 3, 29, 1, 30)]
    assert occurrences[0].local_start == datetime(2026, 3, 29, 3, 30)


def test_duration_is_elapsed_time_even_across_the_dst_change():
    night = schedule("FREQ=DAILY;BYHOUR=1;BYMINUTE=30", duration=2 * HOUR)
    [occurrence] = rules.expand(night, window_start=utc(2026, 3, 29), window_end=utc(2026, 3, 29, 6))
    assert (occurrence.start_utc, occurrence.end_utc) == (utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 2, 30))
    assert occurrence.end_utc.astimezone(ZoneInfo(ROME)).time() == time(4, 30)


def test_weekly_rule_gives_each_weekday_and_time_in_order():
    weekly = schedule("FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=10,15;BYMINUTE=0")
    occurrences = rules.expand(weekly, window_start=utc(2026, 2, 9), window_end=utc(2026, 2, 16))
    assert [occurrence.local_start for occurrence in occurrences] == [
        datetime(2026, 2, day, hour) for day in (9, 11, 13) for hour in (10, 15)
    ]
    assert all(occurrence.tz == ROME for occurrence in occurrences)
    assert all(occurrence.end_utc - occurrence.start_utc == 2 * HOUR for occurrence in occurrences)


def test_every_other_week_is_counted_from_the_week_of_valid_from():
    fortnightly = schedule("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;BYHOUR=18", valid_from=date(2026, 1, 5))
    occurrences = rules.expand(fortnightly, window_start=utc(2026, 1, 1), window_end=utc(2026, 2, 15))
    assert [occurrence.local_start.date() for occurrence in occurrences] == [
        date(2026, 1, 6),
        date(2026, 1, 20),
        date(2026, 2, 3),
    ]


def test_a_window_years_after_valid_from_keeps_the_fortnightly_phase():
    fortnightly = schedule("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;BYHOUR=18", valid_from=date(2026, 1, 5))
    occurrences = rules.expand(fortnightly, window_start=utc(2031, 1, 1), window_end=utc(2031, 1, 29))
    dates = [occurrence.local_start.date() for occurrence in occurrences]
    assert dates == [date(2031, 1, 14), date(2031, 1, 28)]
    assert all((day - date(2026, 1, 6)).days % 14 == 0 for day in dates)


def test_monthly_rules_take_numbered_weekdays_and_month_days():
    first_sunday = schedule("FREQ=MONTHLY;BYDAY=1SU;BYHOUR=11")
    last_friday = schedule("FREQ=MONTHLY;BYDAY=-1FR;BYHOUR=21")
    fifteenth = schedule("FREQ=MONTHLY;BYMONTHDAY=15,-1;BYHOUR=9")

    def days(rule: Schedule) -> list[date]:
        occurrences = rules.expand(rule, window_start=utc(2026, 1, 1), window_end=utc(2026, 4, 1))
        return [occurrence.local_start.date() for occurrence in occurrences]

    assert days(first_sunday) == [date(2026, 1, 4), date(2026, 2, 1), date(2026, 3, 1)]
    assert days(last_friday) == [date(2026, 1, 30), date(2026, 2, 27), date(2026, 3, 27)]
    assert days(fifteenth) == [
        date(2026, 1, 15),
        date(2026, 1, 31),
        date(2026, 2, 15),
        date(2026, 2, 28),
        date(2026, 3, 15),
        date(2026, 3, 31),
    ]


def test_a_rule_on_29_february_waits_for_leap_years():
    leap = schedule("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=29;BYHOUR=10")
    occurrences = rules.expand(leap, window_start=utc(2026, 1, 1), window_end=utc(2033, 1, 1))
    assert starts(occurrences) == [utc(2028, 2, 29, 9), utc(2032, 2, 29, 9)]


def test_seasonal_rule_runs_only_in_its_months():
    summer = schedule("FREQ=WEEKLY;BYDAY=SA;BYMONTH=6,7,8;BYHOUR=20")
    occurrences = rules.expand(summer, window_start=utc(2026, 1, 1), window_end=utc(2027, 1, 1))
    assert {occurrence.local_start.month for occurrence in occurrences} == {6, 7, 8}
    assert len(occurrences) == 13


def test_blackout_days_are_left_out():
    daily = schedule("FREQ=DAILY;BYHOUR=10,15", exdates=frozenset({date(2026, 5, 2)}))
    occurrences = rules.expand(daily, window_start=utc(2026, 5, 1), window_end=utc(2026, 5, 4))
    assert [occurrence.local_start.date() for occurrence in occurrences] == [
        date(2026, 5, 1),
        date(2026, 5, 1),
        date(2026, 5, 3),
        date(2026, 5, 3),
    ]


def test_valid_from_and_valid_until_are_both_included():
    bounded = schedule("FREQ=DAILY;BYHOUR=10", valid_from=date(2026, 5, 2), valid_until=date(2026, 5, 4))
    occurrences = rules.expand(bounded, window_start=utc(2026, 4, 1), window_end=utc(2026, 6, 1))
    assert [occurrence.local_start.date() for occurrence in occurrences] == [
        date(2026, 5, 2),
        date(2026, 5, 3),
        date(2026, 5, 4),
    ]


def test_valid_from_is_a_local_day_not_a_utc_day():
    # 00:30 Rome on 2 May is 22:30 UTC on 1 May: it belongs to 2 May, which is valid.
    late = schedule("FREQ=DAILY;BYHOUR=0;BYMINUTE=30", valid_from=date(2026, 5, 2), valid_until=date(2026, 5, 2))
    assert starts(rules.expand(late, window_start=utc(2026, 4, 30), window_end=utc(2026, 5, 5))) == [
        utc(2026, 5, 1, 22, 30)
    ]


def test_count_counts_start_times_from_valid_from_even_before_the_window():
    counted = schedule("FREQ=DAILY;COUNT=5;BYHOUR=10,15", valid_from=date(2026, 5, 1))
    occurrences = rules.expand(counted, window_start=utc(2026, 5, 2), window_end=utc(2026, 6, 1))
    assert [occurrence.local_start for occurrence in occurrences] == [
        datetime(2026, 5, 2, 10),
        datetime(2026, 5, 2, 15),
        datetime(2026, 5, 3, 10),
    ]


def test_the_window_is_half_open():
    daily = schedule("FREQ=DAILY;BYHOUR=10")
    assert starts(rules.expand(daily, window_start=utc(2026, 7, 1, 8), window_end=utc(2026, 7, 2, 8))) == [
        utc(2026, 7, 1, 8)
    ]


def test_the_window_may_be_given_in_any_zone():
    daily = schedule("FREQ=DAILY;BYHOUR=10")
    in_new_york = rules.expand(
        daily,
        window_start=datetime(2026, 7, 1, 5, tzinfo=ZoneInfo(NEW_YORK)),  # 09:00 UTC, after that day's tour
        window_end=datetime(2026, 7, 3, tzinfo=ZoneInfo(NEW_YORK)),
    )
    assert starts(in_new_york) == [utc(2026, 7, 2, 8)]


def test_an_empty_or_inverted_window_gives_nothing_and_a_naive_one_is_refused():
    daily = schedule("FREQ=DAILY;BYHOUR=10")
    assert rules.expand(daily, window_start=utc(2026, 7, 2), window_end=utc(2026, 7, 1)) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.expand(daily, window_start=datetime(2026, 7, 1), window_end=utc(2026, 7, 2))


def test_expansion_over_a_year_of_the_busiest_schedule_stays_under_the_cap():
    busiest = schedule("FREQ=DAILY;BYHOUR=" + ",".join(str(hour) for hour in range(24)), duration=timedelta(minutes=30))
    occurrences = rules.expand(busiest, window_start=utc(2026, 1, 1), window_end=utc(2027, 1, 2))
    # 366 days of 24 starts, less the hour that does not exist on 29 March (02:00 is 03:00).
    assert len(occurrences) == 366 * 24 - 1 <= rules.MAX_OCCURRENCES


def test_expansion_beyond_the_limit_is_refused():
    daily = schedule("FREQ=DAILY;BYHOUR=10")
    with pytest.raises(ExpansionTooLarge):
        rules.expand(daily, window_start=utc(2026, 1, 1), window_end=utc(2026, 1, 12), limit=10)
    assert len(rules.expand(daily, window_start=utc(2026, 1, 1), window_end=utc(2026, 1, 11), limit=10)) == 10


@pytest.mark.parametrize(
    ("rrule", "message"),
    [
        ("", "empty"),
        ("not a rule", "one RFC 5545 RRULE line"),
        ("FREQ=DAILY;BYHOUR=10\r\nATTENDEE:x", "one RFC 5545 RRULE line"),
        ("FREQ=DAILY;FREQ=WEEKLY;BYHOUR=10", "given twice"),
        ("BYHOUR=10", "FREQ is required"),
        ("FREQ=HOURLY;BYHOUR=10", "at most daily"),
        ("FREQ=MINUTELY;BYHOUR=10", "at most daily"),
        ("FREQ=SECONDLY;BYHOUR=10", "at most daily"),
        ("FREQ=YEARLY;BYHOUR=10", "FREQ=MONTHLY with BYMONTH"),
        ("FREQ=FORTNIGHTLY;BYHOUR=10", "not DAILY, WEEKLY or MONTHLY"),
        ("FREQ=DAILY;COUNT=3;UNTIL=20261231T000000Z;BYHOUR=10", "COUNT and UNTIL"),
        ("FREQ=DAILY;UNTIL=20261231T000000Z;BYHOUR=10", "valid_until"),
        ("FREQ=DAILY;COUNT=0;BYHOUR=10", "outside"),
        ("FREQ=DAILY;COUNT=10001;BYHOUR=10", "outside"),
        ("FREQ=DAILY", "BYHOUR is required"),
        ("FREQ=DAILY;BYHOUR=24", "outside"),
        ("FREQ=DAILY;BYHOUR=10;BYMINUTE=60", "outside"),
        ("FREQ=DAILY;BYHOUR=ten", "not a whole number"),
        ("FREQ=DAILY;BYHOUR=10;BYSECOND=30", "whole minute"),
        ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1;BYHOUR=10", "BYSETPOS"),
        ("FREQ=DAILY;BYHOUR=10;X-NAME=1", "not a recurrence rule part"),
        ("FREQ=DAILY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12;BYMINUTE=0,30", "At most 24 start times"),
        ("FREQ=DAILY;INTERVAL=29;BYHOUR=10", "outside"),
        ("FREQ=WEEKLY;INTERVAL=5;BYDAY=MO;BYHOUR=10", "outside"),
        ("FREQ=WEEKLY;BYHOUR=10", "needs BYDAY"),
        ("FREQ=WEEKLY;BYDAY=1MO;BYHOUR=10", "need FREQ=MONTHLY"),
        ("FREQ=WEEKLY;BYDAY=XX;BYHOUR=10", "not a weekday"),
        ("FREQ=DAILY;INTERVAL=7;BYDAY=MO;BYHOUR=10", "INTERVAL=1"),
        ("FREQ=DAILY;BYMONTHDAY=1;BYHOUR=10", "BYMONTHDAY needs FREQ=MONTHLY"),
        ("FREQ=MONTHLY;BYHOUR=10", "exactly one of BYDAY"),
        ("FREQ=MONTHLY;BYDAY=MO;BYMONTHDAY=13;BYHOUR=10", "exactly one of BYDAY"),
        ("FREQ=MONTHLY;BYDAY=6MO;BYHOUR=10", "at most 5"),
        ("FREQ=MONTHLY;BYMONTHDAY=0;BYHOUR=10", "outside"),
        ("FREQ=MONTHLY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=10", "has that day"),
        ("FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31;BYHOUR=10", "has that day"),
        ("FREQ=MONTHLY;INTERVAL=12;BYMONTH=3;BYDAY=1SU;BYHOUR=10", "never reaches March"),
    ],
)
def test_unsafe_or_unsupported_rules_are_refused_with_a_message(rrule, message):
    with pytest.raises(InvalidSchedule, match=message):
        rules.check_rrule(rrule, valid_from=date(2026, 1, 1))
    with pytest.raises(InvalidSchedule, match=message):
        schedule(rrule)


def test_a_refused_rule_is_also_a_value_error_with_its_message():
    with pytest.raises(ValueError, match="at most daily") as error:
        schedule("FREQ=HOURLY;BYHOUR=10")
    assert error.value.message == str(error.value)


@pytest.mark.parametrize(
    "rrule",
    [
        "RRULE:FREQ=DAILY;BYHOUR=10",
        "freq=weekly;byday=mo,we;byhour=9;byminute=30",
        "FREQ=WEEKLY;INTERVAL=4;WKST=SU;BYDAY=SU;BYHOUR=9",
        "FREQ=DAILY;INTERVAL=28;BYMONTH=2;BYHOUR=9",
        "FREQ=MONTHLY;BYDAY=+2TU,-1SA;BYHOUR=9",
        "FREQ=MONTHLY;INTERVAL=12;BYMONTH=1;BYMONTHDAY=6;BYHOUR=11",
    ],
)
def test_rules_a_guide_form_can_produce_are_accepted(rrule):
    rules.check_rrule(rrule, valid_from=date(2026, 1, 1))
    assert rules.expand(schedule(rrule), window_start=utc(2026, 1, 1), window_end=utc(2027, 1, 1))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"tz": "Rome"}, "not a known IANA time zone"),
        ({"valid_until": date(2025, 12, 31)}, "ends before it starts"),
        ({"valid_from": datetime(2026, 1, 1)}, "dates, not datetimes"),
        ({"duration": timedelta(0)}, "more than zero"),
        ({"duration": timedelta(hours=25)}, "at most 24 hours"),
    ],
)
def test_invalid_schedules_are_refused_at_construction(changes, message):
    fields = {"tz": ROME, "rrule": "FREQ=DAILY;BYHOUR=10", "valid_from": date(2026, 1, 1), "duration": HOUR}
    with pytest.raises(InvalidSchedule, match=message):
        Schedule(**(fields | changes))


def test_weekly_rrules_turns_a_form_into_as_few_rules_as_the_rfc_allows():
    assert rules.weekly_rrules(weekdays=[4, 0, 2], start_times=[time(10), time(15)]) == [
        "FREQ=WEEKLY;BYDAY=MO,WE,FR;BYHOUR=10,15;BYMINUTE=0"
    ]
    assert rules.weekly_rrules(weekdays=[5], start_times=[time(10), time(15, 30)], interval=2) == [
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;BYHOUR=10;BYMINUTE=0",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA;BYHOUR=15;BYMINUTE=30",
    ]
    assert rules.weekly_rrules(weekdays=[6], start_times=[time(10), time(10, 30), time(15), time(15, 30)]) == [
        "FREQ=WEEKLY;BYDAY=SU;BYHOUR=10,15;BYMINUTE=0,30"
    ]


def test_weekly_rrules_output_expands_to_exactly_the_form_times():
    times = [time(9, 15), time(10), time(15, 30), time(18, 15)]
    local_starts = set()
    for rrule in rules.weekly_rrules(weekdays=[1], start_times=times):
        expanded = rules.expand(schedule(rrule), window_start=utc(2026, 6, 1), window_end=utc(2026, 6, 8))
        local_starts |= {occurrence.local_start for occurrence in expanded}
    assert local_starts == {datetime.combine(date(2026, 6, 2), moment) for moment in times}


@pytest.mark.parametrize(
    ("weekdays", "start_times"),
    [([], [time(10)]), ([0], []), ([7], [time(10)]), ([0], [time(10, 0, 30)])],
)
def test_weekly_rrules_refuses_incomplete_forms(weekdays, start_times):
    with pytest.raises(ValueError):  # noqa: PT011 - any of several messages
        rules.weekly_rrules(weekdays=weekdays, start_times=start_times)


def test_weekly_rrules_refuses_intervals_the_schedule_would_refuse():
    with pytest.raises(ValueError, match="every 1 to 4 weeks"):
        rules.weekly_rrules(weekdays=[0], start_times=[time(10)], interval=5)


# --- display -------------------------------------------------------------------------------------


def test_to_viewer_is_the_same_instant_in_the_viewer_zone():
    instant = utc(2026, 3, 10, 13)
    local = rules.to_viewer(instant, "Asia/Kathmandu")
    assert local == instant
    assert local.tzinfo == ZoneInfo("Asia/Kathmandu")
    assert (local.hour, local.minute) == (18, 45)
    with pytest.raises(ValueError, match="timezone-aware"):
        rules.to_viewer(datetime(2026, 3, 10, 13), ROME)


@pytest.mark.parametrize(
    ("viewer_tz", "text", "offset"),
    [
        ("Asia/Kathmandu", "Tue 10 Mar 2026, 18:45", "+05:45"),
        ("Asia/Kolkata", "Tue 10 Mar 2026, 18:30", "+05:30"),
        ("America/New_York", "Tue 10 Mar 2026, 09:00", "-04:00"),
        ("Australia/Sydney", "Wed 11 Mar 2026, 00:00", "+11:00"),
        ("Pacific/Auckland", "Wed 11 Mar 2026, 02:00", "+13:00"),
        ("America/St_Johns", "Tue 10 Mar 2026, 10:30", "-02:30"),
        ("UTC", "Tue 10 Mar 2026, 13:00", "+00:00"),
    ],
)
def test_format_pair_gives_both_wall_times_and_offsets(viewer_tz, text, offset):
    pair = rules.format_pair(utc(2026, 3, 10, 13), viewer_tz, ROME)
    assert (pair.viewer.tz, pair.viewer.text, pair.viewer.offset) == (viewer_tz, text, offset)
    assert (pair.tour.tz, pair.tour.text, pair.tour.offset) == (ROME, "Tue 10 Mar 2026, 14:00", "+01:00")
    assert pair.viewer.label == f"{text} ({viewer_tz}, UTC{offset})"
    assert not pair.same_wall_time


def test_a_viewer_in_italy_sees_the_time_once():
    assert rules.format_pair(utc(2026, 7, 1, 8), ROME, ROME).same_wall_time
    assert rules.format_pair(utc(2026, 7, 1, 8), "Europe/Vatican", ROME).same_wall_time


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(hours=5, minutes=45), "+05:45"),
        (timedelta(hours=-3, minutes=-30), "-03:30"),
        (timedelta(0), "+00:00"),
        (timedelta(hours=13, minutes=45), "+13:45"),
        (timedelta(hours=-11), "-11:00"),
        (timedelta(minutes=49, seconds=56), "+00:49:56"),
    ],
)
def test_format_offset(offset, text):
    assert rules.format_offset(offset) == text


def _rome_minus_new_york(instant: datetime) -> timedelta:
    pair = rules.format_pair(instant, NEW_YORK, ROME)
    return pair.tour.utc_offset - pair.viewer.utc_offset


@pytest.mark.parametrize(
    "day",
    [date(2026, 3, 8) + timedelta(days=n) for n in range(21)]
    + [date(2026, 10, 25) + timedelta(days=n) for n in range(7)],
)
def test_rome_is_five_hours_ahead_of_new_york_in_the_dst_mismatch_weeks(day):
    assert _rome_minus_new_york(datetime.combine(day, time(12), UTC)) == 5 * HOUR


@pytest.mark.parametrize("day", [date(2026, 3, 7), date(2026, 3, 29), date(2026, 10, 24), date(2026, 11, 1)])
def test_rome_is_six_hours_ahead_of_new_york_just_outside_those_weeks(day):
    assert _rome_minus_new_york(datetime.combine(day, time(12), UTC)) == 6 * HOUR


@pytest.mark.parametrize(
    ("before", "after", "difference_after"),
    [
        (utc(2026, 3, 8, 6, 59), utc(2026, 3, 8, 7), 5 * HOUR),  # New York springs forward
        (utc(2026, 3, 29, 0, 59), utc(2026, 3, 29, 1), 6 * HOUR),  # Rome springs forward
        (utc(2026, 10, 25, 0, 59), utc(2026, 10, 25, 1), 5 * HOUR),  # Rome falls back
        (utc(2026, 11, 1, 5, 59), utc(2026, 11, 1, 6), 6 * HOUR),  # New York falls back
    ],
)
def test_the_rome_new_york_difference_changes_at_the_exact_instants(before, after, difference_after):
    assert _rome_minus_new_york(after) == difference_after
    assert _rome_minus_new_york(before) == (11 * HOUR - difference_after)


def test_sydney_dst_runs_the_other_way_round():
    daily = schedule("FREQ=DAILY;BYHOUR=10", tz="Australia/Sydney")
    april = rules.expand(daily, window_start=utc(2026, 4, 3), window_end=utc(2026, 4, 7))
    # AEDT (+11) until 5 April 03:00, then AEST (+10).
    assert starts(april) == [utc(2026, 4, 3, 23), utc(2026, 4, 5, 0), utc(2026, 4, 6, 0)]
    october = rules.expand(daily, window_start=utc(2026, 10, 2), window_end=utc(2026, 10, 5))
    assert starts(october) == [utc(2026, 10, 2, 0), utc(2026, 10, 3, 0), utc(2026, 10, 3, 23), utc(2026, 10, 4, 23)]


def test_auckland_skips_0230_on_27_september_2026():
    nightly = schedule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", tz="Pacific/Auckland")
    [occurrence] = rules.expand(nightly, window_start=utc(2026, 9, 26, 12), window_end=utc(2026, 9, 27, 12))
    assert occurrence.in_dst_gap
    assert occurrence.start_utc == utc(2026, 9, 26, 14, 30)  # 02:30 at +12:00, which is 03:30 NZDT


def test_format_wall_time_does_not_depend_on_the_locale():
    assert rules.format_wall_time(datetime(2026, 12, 31, 23, 5)) == "Thu 31 Dec 2026, 23:05"


# --- overlaps ------------------------------------------------------------------------------------


def at(hour: int, minute: int = 0) -> datetime:
    return utc(2026, 6, 1, hour, minute)


def test_back_to_back_intervals_do_not_clash_without_a_buffer():
    morning = Interval(at(9), at(11), "morning")
    assert rules.find_clash(Interval(at(11), at(13), "noon"), [morning], buffer=timedelta(0)) is None
    assert rules.find_clash(Interval(at(7), at(9), "early"), [morning], buffer=timedelta(0)) is None


def test_a_gap_of_exactly_the_buffer_is_allowed_and_a_minute_less_is_not():
    morning = Interval(at(9), at(11), "morning")
    buffer = timedelta(minutes=30)
    assert rules.find_clash(Interval(at(11, 30), at(13), "after"), [morning], buffer=buffer) is None
    assert rules.find_clash(Interval(at(7), at(8, 30), "before"), [morning], buffer=buffer) is None
    assert rules.find_clash(Interval(at(11, 29), at(13), "after"), [morning], buffer=buffer) == morning
    assert rules.find_clash(Interval(at(7), at(8, 31), "before"), [morning], buffer=buffer) == morning


def test_overlapping_and_containing_intervals_clash_and_the_earliest_is_reported():
    existing = [Interval(at(14), at(16), "afternoon"), Interval(at(9), at(11), "morning"), Interval(at(20), at(21))]
    candidate = Interval(at(10), at(15), "long")
    assert rules.find_clash(candidate, existing, buffer=timedelta(0)) == existing[1]
    assert [clash.label for clash in rules.find_clashes(candidate, existing, buffer=timedelta(0))] == [
        "morning",
        "afternoon",
    ]
    assert rules.find_clash(Interval(at(9, 30), at(10)), existing, buffer=timedelta(0)) == existing[1]


def test_intervals_in_different_zones_are_compared_as_instants():
    rome = ZoneInfo(ROME)
    in_rome = Interval(datetime(2026, 6, 1, 11, tzinfo=rome), datetime(2026, 6, 1, 13, tzinfo=rome), "rome")
    assert rules.find_clash(Interval(at(9), at(10)), [in_rome], buffer=timedelta(0)) == in_rome
    assert rules.find_clash(Interval(at(11), at(12)), [in_rome], buffer=timedelta(0)) is None


def test_invalid_intervals_and_buffers_are_refused():
    with pytest.raises(ValueError, match="ends at or before"):
        Interval(at(10), at(10))
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(datetime(2026, 6, 1, 9), at(10))
    with pytest.raises(ValueError, match="negative"):
        rules.find_clash(Interval(at(9), at(10)), [Interval(at(12), at(13))], buffer=timedelta(minutes=-1))


# --- booking window ------------------------------------------------------------------------------

NOW = utc(2026, 6, 1, 12)
WINDOW = {"min_notice": 2 * HOUR, "horizon": timedelta(days=90)}


@pytest.mark.parametrize(
    "start_utc", [NOW + 2 * HOUR, NOW + 3 * HOUR, NOW + timedelta(days=90), NOW + timedelta(days=45)]
)
def test_slots_between_the_notice_and_the_horizon_are_bookable_edges_included(start_utc):
    rules.check_bookable(start_utc=start_utc, now=NOW, **WINDOW)  # raises when not bookable


@pytest.mark.parametrize(
    ("start_utc", "reason", "message"),
    [
        (NOW - HOUR, NotBookableReason.PAST, "This tour has already started."),
        (NOW, NotBookableReason.PAST, "This tour has already started."),
        (NOW + timedelta(minutes=1), NotBookableReason.INSIDE_CUTOFF, "Bookings close 2 hours before the start."),
        (
            NOW + 2 * HOUR - timedelta(microseconds=1),
            NotBookableReason.INSIDE_CUTOFF,
            "Bookings close 2 hours before the start.",
        ),
        (
            NOW + timedelta(days=90, microseconds=1),
            NotBookableReason.BEYOND_HORIZON,
            "This date opens for booking 90 days before the start.",
        ),
    ],
)
def test_slots_outside_the_window_are_refused_with_a_reason(start_utc, reason, message):
    with pytest.raises(NotBookable) as error:
        rules.check_bookable(start_utc=start_utc, now=NOW, **WINDOW)
    assert error.value.reason_code == reason
    assert error.value.reason_code == reason.value  # a plain string for APIs
    assert error.value.message == message == str(error.value)


def test_notice_of_ninety_minutes_is_said_in_minutes():
    with pytest.raises(NotBookable, match=r"Bookings close 90 minutes before the start\."):
        rules.check_bookable(start_utc=NOW + HOUR, now=NOW, min_notice=timedelta(minutes=90), horizon=timedelta(days=1))


def test_a_horizon_shorter_than_the_notice_leaves_nothing_bookable_and_negatives_are_errors():
    for ahead in (HOUR, timedelta(days=1), timedelta(days=2)):
        with pytest.raises(NotBookable):
            rules.check_bookable(
                start_utc=NOW + ahead, now=NOW, min_notice=timedelta(days=2) + HOUR, horizon=timedelta(days=1)
            )
    with pytest.raises(ValueError, match="never negative"):
        rules.check_bookable(start_utc=NOW + HOUR, now=NOW, min_notice=-HOUR, horizon=timedelta(days=1))


# --- refunds -------------------------------------------------------------------------------------

START = utc(2026, 3, 12, 13)  # Thu 12 Mar 2026, 14:00 in Rome; 09:00 in New York


@pytest.mark.parametrize(
    ("before_start", "percent", "amount"),
    [
        (timedelta(days=10), 100, 4999),
        (timedelta(hours=48), 100, 4999),
        (timedelta(hours=48) - timedelta(microseconds=1), 50, 2499),
        (timedelta(hours=24), 50, 2499),
        (timedelta(hours=24) - timedelta(seconds=1), 0, 0),
        (timedelta(0), 0, 0),
        (-HOUR, 0, 0),
    ],
)
def test_default_policy_refunds_by_tier_with_exact_boundaries(before_start, percent, amount):
    quote = rules.refund_for(DEFAULT_REFUND_POLICY, amount_paid=4999, start_utc=START, now=START - before_start)
    assert (quote.percent, quote.amount) == (percent, amount)


def test_a_full_refund_quote_says_until_when_and_what_comes_next():
    quote = rules.refund_for(DEFAULT_REFUND_POLICY, amount_paid=5000, start_utc=START, now=START - timedelta(days=3))
    assert quote == rules.RefundQuote(
        percent=100,
        amount=5000,
        tier_description="Full refund: cancelled at least 48 hours before the start.",
        deadline_next_tier=utc(2026, 3, 10, 13),
        next_percent=50,
    )


def test_a_half_refund_quote_drops_to_nothing_after_its_deadline():
    quote = rules.refund_for(DEFAULT_REFUND_POLICY, amount_paid=5000, start_utc=START, now=START - 30 * HOUR)
    assert (quote.percent, quote.amount, quote.deadline_next_tier, quote.next_percent) == (
        50,
        2500,
        utc(2026, 3, 11, 13),
        0,
    )
    assert quote.tier_description == "50% refund: cancelled at least 24 hours before the start."


@pytest.mark.parametrize(
    ("now", "description"),
    [
        (START - HOUR, "No refund: cancelled less than 24 hours before the start."),
        (START + HOUR, "No refund: the tour has already started."),
    ],
)
def test_no_refund_quotes_explain_why(now, description):
    quote = rules.refund_for(DEFAULT_REFUND_POLICY, amount_paid=5000, start_utc=START, now=now)
    assert quote == rules.RefundQuote(
        percent=0, amount=0, tier_description=description, deadline_next_tier=None, next_percent=None
    )


def test_refunds_round_down_to_the_cent():
    policy = RefundPolicy(tiers=(RefundTier(min_hours_before=0, percent=33),))
    quote = rules.refund_for(policy, amount_paid=1001, start_utc=START, now=START - HOUR)
    assert quote.amount == 330  # 330.33 cents
    assert quote.tier_description == "33% refund: cancelled before the start."
    assert quote.deadline_next_tier == START


def test_tiers_with_the_same_percentage_share_one_deadline():
    policy = RefundPolicy.from_pairs([[72, 100], [48, 100], [24, 50]])
    quote = rules.refund_for(policy, amount_paid=100, start_utc=START, now=START - timedelta(days=5))
    assert (quote.deadline_next_tier, quote.next_percent) == (START - 48 * HOUR, 50)


def test_a_policy_without_refunds_says_so():
    for policy in (RefundPolicy(tiers=()), RefundPolicy.from_pairs([[24, 0]])):
        quote = rules.refund_for(policy, amount_paid=100, start_utc=START, now=START - timedelta(days=5))
        assert (quote.percent, quote.tier_description) == (0, "No refund: bookings for this tour are not refundable.")
        assert rules.describe(policy, start_utc=START, viewer_tz=ROME) == ["No refund."]


def test_refund_amount_must_be_whole_minor_units():
    for amount in (-1, 10.5, True):
        with pytest.raises(ValueError, match="minor units"):
            rules.refund_for(DEFAULT_REFUND_POLICY, amount_paid=amount, start_utc=START, now=START)  # type: ignore[arg-type]


def test_describe_gives_deadlines_in_the_viewer_zone():
    assert rules.describe(DEFAULT_REFUND_POLICY, start_utc=START, viewer_tz=NEW_YORK) == [
        "Full refund until Tue 10 Mar 2026, 09:00 (America/New_York)",
        "50% refund until Wed 11 Mar 2026, 09:00 (America/New_York)",
        "No refund after Wed 11 Mar 2026, 09:00 (America/New_York)",
    ]
    assert rules.describe(DEFAULT_REFUND_POLICY, start_utc=START, viewer_tz="Asia/Kathmandu") == [
        "Full refund until Tue 10 Mar 2026, 18:45 (Asia/Kathmandu)",
        "50% refund until Wed 11 Mar 2026, 18:45 (Asia/Kathmandu)",
        "No refund after Wed 11 Mar 2026, 18:45 (Asia/Kathmandu)",
    ]


def test_describe_leaves_out_deadlines_that_have_passed():
    assert rules.describe(DEFAULT_REFUND_POLICY, start_utc=START, viewer_tz=ROME, now=START - 30 * HOUR) == [
        "50% refund until Wed 11 Mar 2026, 14:00 (Europe/Rome)",
        "No refund after Wed 11 Mar 2026, 14:00 (Europe/Rome)",
    ]


def test_policies_round_trip_through_their_json_form_in_any_order():
    policy = RefundPolicy.from_pairs([[24, 50], [48, 100]])
    assert policy == DEFAULT_REFUND_POLICY
    assert policy.to_pairs() == [[48, 100], [24, 50]]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        ((RefundTier(48, 101),), "between 0 and 100"),
        ((RefundTier(48, -1),), "between 0 and 100"),
        ((RefundTier(-1, 50),), "negative"),
        ((RefundTier(24, 50), RefundTier(48, 100)), "sorted"),
        ((RefundTier(48, 100), RefundTier(48, 50)), "Two tiers for 48 hours"),
        ((RefundTier(48, 50), RefundTier(24, 100)), "cannot refund more"),
        ((RefundTier(48, 99.5),), "whole numbers"),  # type: ignore[arg-type]
        ((RefundTier(True, 50),), "whole numbers"),
    ],
)
def test_invalid_refund_policies_are_refused(tiers, message):
    with pytest.raises(InvalidRefundPolicy, match=message):
        RefundPolicy(tiers=tiers)


@pytest.mark.parametrize("pairs", [[[48]], [[48, 100, 1]], [["48", 100], [24, 50]]])
def test_malformed_stored_policies_are_refused(pairs):
    with pytest.raises(InvalidRefundPolicy):
        RefundPolicy.from_pairs(pairs)


# --- reminders -----------------------------------------------------------------------------------


def test_a_booking_made_days_ahead_gets_both_reminders_in_order():
    assert rules.reminder_times(START, now=START - timedelta(days=5)) == [
        ("24h", START - 24 * HOUR),
        ("1h", START - HOUR),
    ]


def test_a_booking_made_three_hours_ahead_keeps_only_the_1h_reminder():
    assert rules.reminder_times(START, now=START - 3 * HOUR) == [("1h", START - HOUR)]


def test_a_reminder_due_exactly_now_is_kept_and_later_bookings_get_none():
    assert rules.reminder_times(START, now=START - 24 * HOUR) == [("24h", START - 24 * HOUR), ("1h", START - HOUR)]
    assert rules.reminder_times(START, now=START - timedelta(minutes=30)) == []
    assert rules.reminder_times(START, now=START + HOUR) == []


def test_reminders_are_elapsed_time_before_the_start_in_utc_even_across_dst():
    # 24 h before 10:00 Rome on 29 March (08:00 UTC) is 09:00 Rome on 28 March, not 10:00.
    start = rules.localize(datetime(2026, 3, 29, 10), ROME)
    [(kind, due), _one_hour] = rules.reminder_times(start, now=utc(2026, 3, 1))
    assert (kind, due, due.tzinfo) == ("24h", utc(2026, 3, 28, 8), UTC)


def test_custom_reminder_offsets_are_named_after_their_length():
    offsets = (timedelta(days=2), timedelta(minutes=90), timedelta(minutes=15))
    now = START - timedelta(days=5)
    assert [kind for kind, _due in rules.reminder_times(START, offsets=offsets, now=now)] == ["48h", "90m", "15m"]
    with pytest.raises(ValueError, match="same offset"):
        rules.reminder_times(START, offsets=(HOUR, timedelta(minutes=60)), now=now)
    with pytest.raises(ValueError, match="positive whole minutes"):
        rules.reminder_times(START, offsets=(timedelta(seconds=90),), now=now)


# --- seats ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capacity", "booked", "left", "state"),
    [
        (10, 0, 10, SlotState.AVAILABLE),
        (10, 6, 4, SlotState.AVAILABLE),
        (10, 7, 3, SlotState.FEW_LEFT),
        (10, 9, 1, SlotState.FEW_LEFT),
        (10, 10, 0, SlotState.FULL),
        (8, 10, 0, SlotState.FULL),  # capacity lowered after bookings: full, never negative
        (0, 0, 0, SlotState.FULL),
    ],
)
def test_seats_left_and_calendar_state(capacity, booked, left, state):
    assert rules.seats_left(capacity, booked) == left
    assert rules.slot_state(capacity, booked, few_threshold=3) == state
    assert rules.slot_state(capacity, booked, few_threshold=3) == state.value


def test_negative_seat_counts_are_programming_errors():
    with pytest.raises(ValueError, match="never negative"):
        rules.seats_left(10, -1)
    with pytest.raises(ValueError, match="never negative"):
        rules.slot_state(10, 1, few_threshold=-1)
