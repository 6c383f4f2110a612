"""The pure live-session rules: join window edges, the end deadline, the countdown, presence time."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest

from streaming import rules
from streaming.rules import Countdown, OutsideWindow, Phase, Role, WindowRefusal

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=90)
GRACE = timedelta(minutes=5)


def _refusal(now: datetime, role: Role = Role.VIEWER, grace: timedelta = GRACE) -> OutsideWindow | None:
    try:
        rules.check_join_window(now, role=role, slot_start=START, slot_end=END, grace=grace)
    except OutsideWindow as refusal:
        return refusal
    return None


def test_end_deadline_is_the_slot_end_plus_the_grace():
    assert rules.end_deadline(END, GRACE) == datetime(2026, 12, 10, 10, 35, tzinfo=UTC)
    assert rules.end_deadline(END, timedelta(0)) == END


@pytest.mark.parametrize("grace", [timedelta(minutes=5, seconds=1), timedelta(seconds=-1)])
def test_end_deadline_refuses_a_grace_outside_zero_to_five_minutes(grace):
    with pytest.raises(ValueError, match="grace must be between 0 and 0:05:00"):
        rules.end_deadline(END, grace)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="now must be a timezone-aware datetime"):
        rules.check_join_window(
            START.replace(tzinfo=None), role=Role.VIEWER, slot_start=START, slot_end=END, grace=GRACE
        )
    with pytest.raises(ValueError, match="slot_end must be a timezone-aware datetime"):
        rules.end_deadline(END.replace(tzinfo=None), GRACE)


def test_a_viewer_eleven_minutes_early_is_told_when_the_room_opens():
    refusal = _refusal(START - timedelta(minutes=11))
    assert refusal is not None
    assert refusal.reason == WindowRefusal.TOO_EARLY
    assert refusal.message == "The live room opens 10 minutes before the start, in 1 minute."
    assert refusal.opens_at == START - timedelta(minutes=10)


def test_the_too_early_message_rounds_the_wait_up_to_whole_minutes():
    refusal = _refusal(START - timedelta(hours=2, seconds=1))
    assert refusal is not None
    assert refusal.message == "The live room opens 10 minutes before the start, in 111 minutes."


@pytest.mark.parametrize(
    "now",
    [
        START - timedelta(minutes=10),  # the opening instant is included
        START - timedelta(minutes=9),
        START,
        END,
        END + GRACE - timedelta(seconds=1),
    ],
)
def test_a_viewer_may_join_from_ten_minutes_before_the_start_until_end_plus_grace(now):
    assert _refusal(now) is None


@pytest.mark.parametrize("now", [END + GRACE, END + timedelta(hours=3)])
def test_at_and_after_end_plus_grace_the_session_is_over(now):
    refusal = _refusal(now)
    assert refusal is not None
    assert refusal.reason == WindowRefusal.ENDED
    assert refusal.message == "This live tour is over."
    assert refusal.opens_at is None


def test_without_grace_the_room_closes_at_the_slot_end():
    assert _refusal(END - timedelta(seconds=1), grace=timedelta(0)) is None
    refusal = _refusal(END, grace=timedelta(0))
    assert refusal is not None
    assert refusal.reason == WindowRefusal.ENDED


def test_the_guide_may_go_live_fifteen_minutes_before_the_start_but_not_sixteen():
    assert _refusal(START - timedelta(minutes=15), role=Role.PUBLISHER) is None
    refusal = _refusal(START - timedelta(minutes=16), role=Role.PUBLISHER)
    assert refusal is not None
    assert refusal.reason == WindowRefusal.TOO_EARLY
    assert refusal.message == "The live room opens 15 minutes before the start, in 1 minute."
    assert refusal.opens_at == START - timedelta(minutes=15)


def test_instants_in_any_zone_compare_as_instants():
    rome = zoneinfo.ZoneInfo("Europe/Rome")
    nine_minutes_early_in_rome = (START - timedelta(minutes=9)).astimezone(rome)
    assert _refusal(nine_minutes_early_in_rome) is None
    assert rules.countdown(START.astimezone(rome), START, END, GRACE) == Countdown(
        5400, warning=False, phase=Phase.LIVE
    )


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - timedelta(minutes=10), Countdown(600, warning=False, phase=Phase.BEFORE)),
        (START - timedelta(milliseconds=500), Countdown(1, warning=False, phase=Phase.BEFORE)),
        (START, Countdown(5400, warning=False, phase=Phase.LIVE)),
        (END - timedelta(minutes=5), Countdown(300, warning=False, phase=Phase.LIVE)),
        (END - timedelta(minutes=4, seconds=59), Countdown(299, warning=True, phase=Phase.LIVE)),
        (END - timedelta(milliseconds=1), Countdown(1, warning=True, phase=Phase.LIVE)),
        (END, Countdown(300, warning=True, phase=Phase.GRACE)),
        (END + timedelta(minutes=4), Countdown(60, warning=True, phase=Phase.GRACE)),
        (END + GRACE, Countdown(0, warning=True, phase=Phase.OVER)),
        (END + timedelta(days=1), Countdown(0, warning=True, phase=Phase.OVER)),
    ],
)
def test_countdown_counts_to_the_start_then_the_end_then_the_deadline(now, expected):
    assert rules.countdown(now, START, END, GRACE) == expected


def test_countdown_without_grace_goes_from_live_straight_to_over():
    assert rules.countdown(END, START, END, timedelta(0)) == Countdown(0, warning=True, phase=Phase.OVER)


def test_countdown_refuses_a_slot_that_ends_before_it_starts():
    with pytest.raises(ValueError, match="slot_end must be after slot_start"):
        rules.countdown(START, START, START, GRACE)


@pytest.mark.parametrize(
    ("last_seen", "now", "seconds"),
    [
        (None, START, 0),
        (START, START + timedelta(seconds=30), 30),
        (START, START + timedelta(seconds=90), 90),
        (START, START + timedelta(seconds=91), 0),
        (START, START - timedelta(seconds=5), 0),
        (START, START + timedelta(seconds=30, milliseconds=900), 30),
    ],
)
def test_presence_counts_heartbeat_gaps_up_to_ninety_seconds(last_seen, now, seconds):
    assert rules.presence_increment(last_seen, now) == seconds
