"""The platform's commission and its proportional share on refunds: whole cents, never more than the fee."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.services import fee_share, platform_fee_for


@pytest.mark.parametrize(
    ("amount", "percent", "fee"),
    [(10000, 15, 1500), (11970, 15, 1796), (2990, 15, 449), (50, 15, 8), (10000, 0, 0), (999, 100, 999)],
)
def test_platform_fee_is_the_percent_rounded_half_up(settings, amount, percent, fee):
    settings.PLATFORM_FEE_PERCENT = percent

    assert platform_fee_for(amount) == fee


def test_half_a_refund_gives_back_half_the_fee():
    assert fee_share(fee_minor=1500, part_minor=5000, whole_minor=10000) == 750
    assert fee_share(fee_minor=1796, part_minor=5985, whole_minor=11970) == 898


@given(
    whole=st.integers(min_value=50, max_value=10_000_000),
    fee_percent=st.integers(min_value=0, max_value=100),
    part_ratio=st.fractions(min_value=0, max_value=1),
)
def test_a_fee_share_is_between_nothing_and_the_whole_fee(whole, fee_percent, part_ratio):
    fee = whole * fee_percent // 100
    part = int(whole * part_ratio)

    share = fee_share(fee_minor=fee, part_minor=part, whole_minor=whole)

    assert 0 <= share <= fee
    assert abs(share - fee * part / whole) <= 0.5
