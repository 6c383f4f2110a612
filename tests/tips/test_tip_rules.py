"""The pure tip rules: who may tip when, amounts within the limits, what a message may hold."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from payments.tips import rules
from payments.tips.rules import TipFacts, TipRefused

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
LIVE_GUEST = TipFacts(
    is_slot_guide=False,
    booking_statuses=frozenset({"confirmed"}),
    slot_cancelled=False,
    session_status="live",
    session_ended_reason="",
    session_ended_at=None,
    banned=False,
)
ENDED = replace(LIVE_GUEST, session_status="ended", session_ended_reason="completed", session_ended_at=NOW)


def refusal(facts: TipFacts, now: datetime = NOW) -> str | None:
    try:
        rules.check_may_tip(facts, now=now)
    except TipRefused as refused:
        return refused.code
    return None


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        (LIVE_GUEST, None),
        (ENDED, None),
        (replace(ENDED, session_ended_reason="guide_ended"), None),
        (replace(LIVE_GUEST, booking_statuses=frozenset({"cancelled", "confirmed"})), None),
        (replace(LIVE_GUEST, is_slot_guide=True, booking_statuses=frozenset()), "own_tour"),
        (replace(LIVE_GUEST, is_slot_guide=True), "own_tour"),
        (replace(LIVE_GUEST, booking_statuses=frozenset()), "not_booked"),
        (replace(LIVE_GUEST, booking_statuses=frozenset({"pending_payment"})), "not_booked"),
        (replace(LIVE_GUEST, booking_statuses=frozenset({"cancelled"})), "not_booked"),
        (replace(LIVE_GUEST, booking_statuses=frozenset({"expired"})), "not_booked"),
        (replace(LIVE_GUEST, slot_cancelled=True), "cancelled"),
        (replace(ENDED, session_ended_reason="cancelled"), "cancelled"),
        (replace(LIVE_GUEST, banned=True), "banned"),
        (replace(LIVE_GUEST, session_status="scheduled"), "not_started"),
        (replace(LIVE_GUEST, session_status=None), "not_started"),
    ],
)
def test_who_may_tip_when(facts: TipFacts, code: str | None) -> None:
    assert refusal(facts) == code


def test_tips_close_thirty_days_after_the_tour_ended() -> None:
    assert refusal(ENDED, NOW + timedelta(days=30)) is None
    assert refusal(ENDED, NOW + timedelta(days=30, seconds=1)) == "closed"


def test_a_pending_booking_is_told_it_waits_for_payment() -> None:
    with pytest.raises(TipRefused, match="waiting for payment"):
        rules.check_may_tip(replace(LIVE_GUEST, booking_statuses=frozenset({"pending_payment"})), now=NOW)


def test_suggested_amounts_are_5_10_20_when_the_limits_allow_them() -> None:
    assert rules.suggested_amounts_minor(minimum=100, maximum=50_000) == [500, 1000, 2000]
    assert rules.suggested_amounts_minor(minimum=1000, maximum=1500) == [1000]
    assert rules.suggested_amounts_minor(minimum=100, maximum=400) == []


@pytest.mark.parametrize(
    ("amount", "code"),
    [(100, None), (99, "amount_too_small"), (0, "amount_too_small"), (50_000, None), (50_001, "amount_too_large")],
)
def test_amount_limits_are_inclusive(amount: int, code: str | None) -> None:
    if code is None:
        rules.check_amount(amount, minimum=100, maximum=50_000)
        return
    with pytest.raises(TipRefused) as refused:
        rules.check_amount(amount, minimum=100, maximum=50_000)
    assert refused.value.code == code
    assert ("1.00" if code == "amount_too_small" else "500.00") in refused.value.message


@pytest.mark.parametrize(
    ("text", "minor"),
    [("12", 1200), ("12.5", 1250), ("12,50", 1250), (" 7 ", 700), ("0.99", 99), ("1234567", 123456700)],
)
def test_custom_amounts_are_read_in_major_units(text: str, minor: int) -> None:
    assert rules.parse_major_amount(text) == minor


@pytest.mark.parametrize("text", ["", "abc", "-5", "12.345", "1e3", "12.", ".5", "1 000", "12345678", "NaN", "٣"])
def test_anything_but_a_plain_amount_is_refused(text: str) -> None:
    with pytest.raises(TipRefused) as refused:
        rules.parse_major_amount(text)
    assert refused.value.code == "bad_amount"


def test_format_minor() -> None:
    assert rules.format_minor(1250) == "12.50"
    assert rules.format_minor(5) == "0.05"
    assert rules.format_minor(0) == "0.00"


def test_message_is_cleaned_of_control_and_direction_characters_and_trimmed() -> None:
    dirty = "  Grazie\u202e mille\u0000!\r\n\r\n\r\n\r\nCiao <b>Giulia</b>  "
    assert rules.clean_text(dirty, max_chars=300) == "Grazie mille!\n\nCiao <b>Giulia</b>"


def test_message_length_is_limited_after_cleaning() -> None:
    assert rules.clean_text("x" * 300 + "\u200b" * 5, max_chars=300) == "x" * 300
    with pytest.raises(TipRefused) as refused:
        rules.clean_text("x" * 301, max_chars=300)
    assert refused.value.code == "too_long"
