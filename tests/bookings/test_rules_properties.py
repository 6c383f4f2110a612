"""Property tests for bookings.rules over the zones that break schedulers.

Rome and New York change on different dates, Sydney and Auckland change the other way round,
Kolkata (+05:30) and Kathmandu (+05:45) have odd minutes, Lord Howe moves by 30 minutes.
Windows are drawn near each zone's 2026 transitions so that gaps and folds come up often.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bookings import rules
from bookings.rules import Interval, NotBookable, RefundPolicy, RefundTier, Schedule, SlotState

PROPERTY = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
# For properties that expand the same schedule two or three times.
PROPERTY_MULTI_EXPAND = settings(PROPERTY, max_examples=100)
ZONES = (
    "Europe/Rome",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Auckland",
    "Australia/Lord_Howe",
)
# Zones with negative DST (Dublin), half-hour DST (Lord Howe), a skipped day (Apia), +13:45 (Chatham).
VIEWER_ZONES = (
    *ZONES,
    "America/St_Johns",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Apia",
    "America/Santiago",
    "Asia/Tehran",
    "Africa/Casablanca",
    "Europe/Dublin",
    "UTC",
)
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def offset(moment: datetime) -> timedelta:
    value = moment.utcoffset()
    assert value is not None
    return value


# --- strategies ----------------------------------------------------------------------------------

# Hours around 01:00-03:00 are where the clocks jump; draw them often.
hours = st.lists(st.one_of(st.sampled_from([1, 2, 3]), st.integers(0, 23)), min_size=1, max_size=2, unique=True)
minutes = st.lists(st.one_of(st.sampled_from([0, 15, 30, 45]), st.integers(0, 59)), min_size=1, max_size=2, unique=True)
weekday_sets = st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True)


@st.composite
def rrule_bodies(draw: st.DrawFn, *, with_hours: tuple[int, ...] = ()) -> str:
    freq = draw(st.sampled_from(["DAILY", "WEEKLY", "MONTHLY"]))
    parts = [f"FREQ={freq}"]
    if freq == "DAILY":
        interval = draw(st.just(1) | st.sampled_from([2, 3, 7, 28]))
        if interval > 1:
            parts.append(f"INTERVAL={interval}")
        elif draw(st.booleans()):
            parts.append("BYDAY=" + ",".join(draw(weekday_sets)))
    elif freq == "WEEKLY":
        parts.append(f"INTERVAL={draw(st.integers(1, 4))}")
        parts.append("BYDAY=" + ",".join(draw(weekday_sets)))
    else:
        parts.append(f"INTERVAL={draw(st.integers(1, 3))}")
        if draw(st.booleans()):
            ordinals = draw(st.lists(st.sampled_from([1, 2, 3, 4, -1, -2]), min_size=1, max_size=2, unique=True))
            parts.append("BYDAY=" + ",".join(f"{n}{draw(st.sampled_from(WEEKDAYS))}" for n in ordinals))
        else:
            days = draw(st.lists(st.integers(1, 28) | st.integers(-28, -1), min_size=1, max_size=3, unique=True))
            parts.append("BYMONTHDAY=" + ",".join(map(str, days)))
    if freq != "MONTHLY" and draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
        parts.append("BYMONTH=" + ",".join(map(str, draw(st.lists(st.integers(1, 12), min_size=1, max_size=4)))))
    parts.append("BYHOUR=" + ",".join(map(str, sorted(set(draw(hours)) | set(with_hours)))))
    parts.append("BYMINUTE=" + ",".join(map(str, draw(minutes))))
    return ";".join(parts)


def _transition_days(tz: str) -> tuple[date, ...]:
    """Days of 2025-2028 around which ``tz`` changes its UTC offset."""
    zone = ZoneInfo(tz)
    days = []
    previous = None
    for number in range(4 * 366):
        noon = utc(2025, 1, 1, 12) + timedelta(days=number)
        current = noon.astimezone(zone).utcoffset()
        if previous is not None and current != previous:
            days.append(noon.date())
        previous = current
    return tuple(days)


TRANSITION_DAYS = {tz: _transition_days(tz) for tz in ZONES}


@st.composite
def schedules_and_windows(draw: st.DrawFn) -> tuple[Schedule, datetime, datetime]:
    tz = draw(st.sampled_from(ZONES))
    near_a_change = draw(st.booleans()) or draw(st.booleans())
    if TRANSITION_DAYS[tz] and near_a_change:
        # Most of the time the window spans one of this zone's clock changes (all happen between
        # 13:00 UTC the day before and 07:00 UTC on the day), with the hours that jump in the rule.
        anchor = datetime.combine(draw(st.sampled_from(TRANSITION_DAYS[tz])), time(), UTC)
        window_start = anchor - timedelta(hours=draw(st.integers(14, 40)))
        window_end = window_start + timedelta(days=draw(st.integers(2, 9)), hours=draw(st.integers(0, 23)))
        rrule = draw(rrule_bodies(with_hours=draw(st.sampled_from([(2,), (1,), (1, 2), ()]))))
    else:
        window_start = utc(2025, 1, 1) + timedelta(minutes=draw(st.integers(0, 4 * 366 * 24 * 60)))
        window_end = window_start + timedelta(days=draw(st.integers(1, 12)), hours=draw(st.integers(-23, 23)))
        rrule = draw(rrule_bodies())
    if draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
        # COUNT counts from valid_from: start close to the window so that some are left.
        rrule += f";COUNT={draw(st.integers(1, 60))}"
        valid_from = window_start.date() - timedelta(days=draw(st.integers(0, 20)))
    else:
        # Up to a year before: the expansion must keep the INTERVAL phase from valid_from.
        valid_from = window_start.date() - timedelta(days=draw(st.integers(0, 400)))
    valid_until = None
    if draw(st.booleans()) and draw(st.booleans()):
        valid_until = max(valid_from, window_start.date() + timedelta(days=draw(st.integers(-2, 20))))
    exdates = frozenset(
        window_start.date() + timedelta(days=shift) for shift in draw(st.lists(st.integers(-1, 13), max_size=3))
    )
    schedule = Schedule(
        tz=tz,
        rrule=rrule,
        valid_from=valid_from,
        valid_until=valid_until,
        exdates=exdates,
        duration=timedelta(minutes=draw(st.integers(15, 8 * 60))),
    )
    return schedule, window_start, window_end


def _transition_cases() -> list[tuple[Schedule, datetime, datetime]]:
    """Every 2026 clock change of every zone, with nightly rules at the hours that jump or repeat.

    BYHOUR=1,2 keeps the skipped 02:xx starts; BYHOUR=2,3 makes them meet the real 03:xx ones.

    Run as explicit examples by each expansion property, so gaps and folds are always covered,
    whatever the random draws do.
    """
    cases = []
    for tz, days in TRANSITION_DAYS.items():
        for day in days:
            if day.year != 2026:
                continue
            for hours in ("1,2", "2,3"):
                schedule = Schedule(
                    tz=tz,
                    rrule=f"FREQ=DAILY;BYHOUR={hours};BYMINUTE=0,15,30,45",
                    valid_from=date(2026, 1, 1),
                    duration=timedelta(hours=1),
                )
                start = datetime.combine(day, time(), UTC) - timedelta(days=2)
                cases.append((schedule, start, start + timedelta(days=4)))
    return cases


TRANSITION_CASES = _transition_cases()


def with_transition_examples(*extra):
    """Add every case of TRANSITION_CASES as an @example (with ``extra`` as the other arguments)."""

    def decorate(test):
        for case in TRANSITION_CASES:
            test = example(case, *extra)(test)
        return test

    return decorate


instants = st.datetimes(datetime(1990, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))


def _parts(schedule: Schedule) -> dict[str, str]:
    return dict(part.split("=") for part in schedule.rrule.split(";"))


def _reference_starts(schedule: Schedule, window_start: datetime, window_end: datetime) -> list[datetime]:
    """Plain dateutil from valid_from with no shortcuts, localised with fold=0: what expand() must equal."""
    zone = ZoneInfo(schedule.tz)
    stop = window_end.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    found: set[datetime] = set()
    for local in rrulestr(schedule.rrule, dtstart=datetime.combine(schedule.valid_from, time())):
        if local > stop or (schedule.valid_until is not None and local.date() > schedule.valid_until):
            break
        if local.date() in schedule.exdates:
            continue
        instant = local.replace(tzinfo=zone).astimezone(UTC)
        if window_start <= instant < window_end:
            found.add(instant)
    return sorted(found)


# --- expansion -----------------------------------------------------------------------------------


@PROPERTY
@given(schedules_and_windows())
@with_transition_examples()
def test_expansion_equals_plain_dateutil_from_valid_from(case):
    schedule, window_start, window_end = case
    occurrences = rules.expand(schedule, window_start=window_start, window_end=window_end)
    assert [occurrence.start_utc for occurrence in occurrences] == _reference_starts(schedule, window_start, window_end)


@PROPERTY
@given(schedules_and_windows())
@with_transition_examples()
def test_occurrences_are_ordered_in_the_window_at_the_rule_wall_time_or_moved_by_exactly_the_gap(case):
    schedule, window_start, window_end = case
    zone = ZoneInfo(schedule.tz)
    parts = _parts(schedule)
    occurrences = rules.expand(schedule, window_start=window_start, window_end=window_end)
    # Sorted, unique, inside the window and the valid days, never on a blackout day.
    starts = [occurrence.start_utc for occurrence in occurrences]
    assert starts == sorted(set(starts))
    for occurrence in occurrences:
        assert occurrence.start_utc.tzinfo is UTC
        assert window_start <= occurrence.start_utc < window_end
        assert occurrence.end_utc - occurrence.start_utc == schedule.duration
        assert occurrence.tz == schedule.tz
        assert schedule.valid_from <= occurrence.local_start.date()
        assert schedule.valid_until is None or occurrence.local_start.date() <= schedule.valid_until
        assert occurrence.local_start.date() not in schedule.exdates
    for occurrence in occurrences:
        local = occurrence.local_start
        assert local.tzinfo is None
        assert str(local.hour) in parts["BYHOUR"].split(",")
        assert str(local.minute) in parts["BYMINUTE"].split(",")
        assert (local.second, local.microsecond) == (0, 0)
        actual = occurrence.start_utc.astimezone(zone).replace(tzinfo=None)
        offset_before = offset(local.replace(tzinfo=zone, fold=0))
        offset_after = offset(local.replace(tzinfo=zone, fold=1))
        if actual == local:
            assert not occurrence.in_dst_gap
            # An ambiguous wall time is its first occurrence (the earlier instant).
            assert occurrence.start_utc <= local.replace(tzinfo=zone, fold=1).astimezone(UTC)
        else:
            gap = offset_after - offset_before
            assert gap > timedelta(0)
            assert actual - local == gap
            assert occurrence.in_dst_gap
        # RFC 5545 §3.3.5 both ways: the pre-gap offset for a skipped time, fold=0 for a repeated one.
        assert occurrence.start_utc == local.replace(tzinfo=zone, fold=0).astimezone(UTC)


@PROPERTY_MULTI_EXPAND
@given(schedules_and_windows(), st.lists(st.integers(0, 100), max_size=5))
@with_transition_examples([0, 2])
def test_exdates_never_appear_and_remove_nothing_else(case, picks):
    schedule, window_start, window_end = case
    open_schedule = Schedule(
        tz=schedule.tz,
        rrule=schedule.rrule,
        valid_from=schedule.valid_from,
        valid_until=schedule.valid_until,
        duration=schedule.duration,
    )
    everything = rules.expand(open_schedule, window_start=window_start, window_end=window_end)
    days = sorted({occurrence.local_start.date() for occurrence in everything})
    blackout = frozenset(days[pick % len(days)] for pick in picks) if days else frozenset()
    closed = Schedule(
        tz=schedule.tz,
        rrule=schedule.rrule,
        valid_from=schedule.valid_from,
        valid_until=schedule.valid_until,
        exdates=blackout,
        duration=schedule.duration,
    )
    remaining = rules.expand(closed, window_start=window_start, window_end=window_end)
    assert all(occurrence.local_start.date() not in blackout for occurrence in remaining)
    assert remaining == [occurrence for occurrence in everything if occurrence.local_start.date() not in blackout]


@PROPERTY_MULTI_EXPAND
@given(schedules_and_windows(), st.floats(0, 1))
@with_transition_examples(0.5)
def test_splitting_the_window_splits_the_result(case, fraction):
    schedule, window_start, window_end = case
    middle = window_start + (window_end - window_start) * fraction
    whole = rules.expand(schedule, window_start=window_start, window_end=window_end)
    first = rules.expand(schedule, window_start=window_start, window_end=middle)
    second = rules.expand(schedule, window_start=middle, window_end=window_end)
    assert whole == first + second


# --- display -------------------------------------------------------------------------------------


@PROPERTY
@given(instants, st.sampled_from(VIEWER_ZONES))
def test_converting_to_any_viewer_zone_and_back_is_the_identity_on_the_instant(instant, viewer_tz):
    local = rules.to_viewer(instant, viewer_tz)
    # Not `local == instant`: PEP 495 makes inter-zone == False for the second reading of a
    # repeated hour (fold=1), so compare the instants themselves.
    assert local.timestamp() == instant.timestamp()
    assert local.astimezone(UTC) == instant
    zoned = rules.zoned(instant, viewer_tz)
    assert zoned.utc_offset == offset(local)
    assert zoned.offset == rules.format_offset(offset(local))
    assert zoned.text == rules.format_wall_time(local)
    # Wall time back to the instant: exact unless it is the second reading of a repeated hour.
    if local.fold == 0:
        assert rules.localize(local.replace(tzinfo=None), viewer_tz) == instant
    else:
        assert rules.localize(local.replace(tzinfo=None), viewer_tz) < instant


@PROPERTY
@given(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_kathmandu_and_kolkata_render_their_odd_minutes(instant):
    kathmandu = rules.format_pair(instant, "Asia/Kathmandu", "Europe/Rome").viewer
    kolkata = rules.format_pair(instant, "Asia/Kolkata", "Europe/Rome").viewer
    assert kathmandu.offset == "+05:45"
    assert kolkata.offset == "+05:30"
    assert kathmandu.local.minute == (instant.minute + 45) % 60
    assert kolkata.local.minute == (instant.minute + 30) % 60
    assert kathmandu.text.endswith(f"{kathmandu.local:%H:%M}")


@PROPERTY
@given(st.datetimes(datetime(2026, 1, 1), datetime(2027, 1, 1), timezones=st.just(UTC)))
def test_rome_is_five_hours_ahead_of_new_york_only_between_the_two_changes(instant):
    mismatch = (utc(2026, 3, 8, 7) <= instant < utc(2026, 3, 29, 1)) or (
        utc(2026, 10, 25, 1) <= instant < utc(2026, 11, 1, 6)
    )
    pair = rules.format_pair(instant, "America/New_York", "Europe/Rome")
    difference = pair.tour.utc_offset - pair.viewer.utc_offset
    assert difference == timedelta(hours=5 if mismatch else 6)


# --- overlaps, booking window, seats -------------------------------------------------------------

BASE = utc(2026, 6, 1)
spans = st.tuples(st.integers(0, 600), st.integers(1, 240)).map(
    lambda pair: Interval(BASE + timedelta(minutes=pair[0]), BASE + timedelta(minutes=pair[0] + pair[1]))
)
buffers = st.integers(0, 120).map(lambda minutes: timedelta(minutes=minutes))


@PROPERTY
@given(spans, spans, buffers)
def test_two_intervals_clash_exactly_when_the_gap_between_them_is_shorter_than_the_buffer(first, second, buffer):
    gap = max(first.start - second.end, second.start - first.end)  # negative when they overlap
    assert rules.overlaps(first, second, buffer=buffer) == (gap < buffer)
    assert rules.overlaps(first, second, buffer=buffer) == rules.overlaps(second, first, buffer=buffer)


@PROPERTY
@given(spans, st.lists(spans, max_size=8), buffers)
def test_find_clash_reports_the_earliest_clashing_interval_or_none(candidate, existing, buffer):
    clashing = [other for other in existing if rules.overlaps(candidate, other, buffer=buffer)]
    found = rules.find_clash(candidate, existing, buffer=buffer)
    if clashing:
        assert found is not None
        assert found.start == min(other.start for other in clashing)
    else:
        assert found is None


@PROPERTY
@given(st.integers(-600, 200 * 24 * 60), st.integers(0, 48 * 60), st.integers(0, 120))
def test_a_slot_is_bookable_exactly_inside_notice_and_horizon(minutes_ahead, notice_minutes, horizon_days):
    now = utc(2026, 6, 1, 12)
    start = now + timedelta(minutes=minutes_ahead)
    notice = timedelta(minutes=notice_minutes)
    horizon = timedelta(days=horizon_days)  # may be shorter than the notice: then nothing is bookable
    expected = start > now and now + notice <= start <= now + horizon
    try:
        rules.check_bookable(start_utc=start, now=now, min_notice=notice, horizon=horizon)
    except NotBookable:
        assert not expected
    else:
        assert expected


@PROPERTY
@given(st.integers(0, 500), st.integers(0, 600), st.integers(0, 20))
def test_slot_state_follows_the_seats_left(capacity, booked, threshold):
    left = rules.seats_left(capacity, booked)
    assert left == max(0, capacity - booked)
    state = rules.slot_state(capacity, booked, few_threshold=threshold)
    if left == 0:
        assert state is SlotState.FULL
    elif left <= threshold:
        assert state is SlotState.FEW_LEFT
    else:
        assert state is SlotState.AVAILABLE


@PROPERTY
@given(instants, st.integers(-3 * 24 * 60, 10 * 24 * 60))
def test_reminders_are_never_in_the_past_and_never_after_the_start(start, minutes_before):
    now = start - timedelta(minutes=minutes_before)
    plan = rules.reminder_times(start, now=now)
    assert [kind for kind, _due in plan] == [
        kind for kind, offset in (("24h", timedelta(hours=24)), ("1h", timedelta(hours=1))) if start - offset >= now
    ]
    assert all(now <= due < start for _kind, due in plan)


# --- refunds -------------------------------------------------------------------------------------


@st.composite
def policies(draw: st.DrawFn) -> RefundPolicy:
    hours_before = sorted(draw(st.lists(st.integers(0, 240), max_size=5, unique=True)), reverse=True)
    percents = sorted(draw(st.lists(st.integers(0, 100), min_size=len(hours_before), max_size=len(hours_before))))
    percents.reverse()
    return RefundPolicy(
        tiers=tuple(RefundTier(min_hours_before=h, percent=p) for h, p in zip(hours_before, percents, strict=True))
    )


START = utc(2026, 3, 12, 13)
moments = st.integers(-3 * 24 * 3600, 12 * 24 * 3600).map(lambda seconds: START - timedelta(seconds=seconds))
amounts = st.integers(0, 10_000_000)


@PROPERTY
@given(policies(), amounts, moments)
def test_a_refund_is_an_exact_integer_share_never_more_than_paid(policy, amount, now):
    quote = rules.refund_for(policy, amount_paid=amount, start_utc=START, now=now)
    assert isinstance(quote.amount, int)
    assert 0 <= quote.amount <= amount
    assert quote.amount == amount * quote.percent // 100
    assert quote.percent in {tier.percent for tier in policy.tiers} | {0}


@PROPERTY
@given(policies(), amounts, moments, moments)
def test_cancelling_earlier_never_refunds_less(policy, amount, one, other):
    earlier, later = min(one, other), max(one, other)
    early = rules.refund_for(policy, amount_paid=amount, start_utc=START, now=earlier)
    late = rules.refund_for(policy, amount_paid=amount, start_utc=START, now=later)
    assert early.percent >= late.percent
    assert early.amount >= late.amount


@PROPERTY
@given(policies(), moments)
def test_each_tier_applies_up_to_and_including_its_boundary(policy, now):
    for tier in policy.tiers:
        boundary = START - timedelta(hours=tier.min_hours_before)
        at_boundary = rules.refund_for(policy, amount_paid=100, start_utc=START, now=boundary)
        assert at_boundary.percent == tier.percent
    quote = rules.refund_for(policy, amount_paid=100, start_utc=START, now=now)
    if quote.deadline_next_tier is None:
        assert quote.percent == 0
    else:
        assert now <= quote.deadline_next_tier
        at_deadline = rules.refund_for(policy, amount_paid=100, start_utc=START, now=quote.deadline_next_tier)
        after = rules.refund_for(
            policy, amount_paid=100, start_utc=START, now=quote.deadline_next_tier + timedelta(microseconds=1)
        )
        assert at_deadline.percent == quote.percent
        assert quote.next_percent is not None
        assert after.percent == quote.next_percent < quote.percent


@PROPERTY
@given(policies(), st.sampled_from(ZONES))
def test_describe_has_one_line_per_refund_level_plus_the_end(policy, viewer_tz):
    lines = rules.describe(policy, start_utc=START, viewer_tz=viewer_tz)
    levels = {tier.percent for tier in policy.tiers if tier.percent > 0}
    if not levels:
        assert lines == ["No refund."]
    else:
        assert len(lines) == len(levels) + 1
        assert lines[-1].startswith("No refund after ")
        assert all(line.endswith(f"({viewer_tz})") for line in lines)


@PROPERTY
@given(policies())
def test_policies_survive_their_json_form(policy):
    assert RefundPolicy.from_pairs(policy.to_pairs()) == policy
