"""The guide's earnings page: bookings, tips, refunds, fees and net per month (in the guide's time
zone), the payout account's state, guides only, and a fixed number of queries."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import GuideProfile
from payments import services as payments
from payments.models import Payment, Refund
from payments.tips import selectors, services
from payments.tips.templatetags.tip_tags import MINUS
from tests.factories import GuidePaymentAccountFactory, GuideProfileFactory, SlotFactory, TourFactory, UserFactory
from tests.support.payments import book_and_pay, pay
from tests.tips.conftest import make_scene

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
_keys = itertools.count()


def payment(
    guide: GuideProfile,
    *,
    kind: str,
    amount: int,
    fee: int,
    paid_at: datetime | None,
    status: str = "succeeded",
    currency: str = "EUR",
    **fields: Any,
) -> Payment:
    created: Payment = Payment.objects.create(
        kind=kind,
        payer=UserFactory(),
        guide=guide,
        provider="test",
        amount_minor=amount,
        currency=currency,
        application_fee_minor=fee,
        status=status,
        paid_at=paid_at,
        idempotency_key=f"earnings-{next(_keys)}",
        **fields,
    )
    return created


def refund(of: Payment, *, amount: int, fee_back: int, at: datetime | None, status: str = "succeeded") -> Refund:
    made: Refund = Refund.objects.create(
        payment=of,
        amount_minor=amount,
        fee_refunded_minor=fee_back,
        status=status,
        succeeded_at=at,
        idempotency_key=f"earnings-refund-{next(_keys)}",
    )
    return made


@pytest.fixture
def guide() -> GuideProfile:
    profile = cast(GuideProfile, GuideProfileFactory(display_name="Giulia Romano", user__timezone="Europe/Rome"))
    GuidePaymentAccountFactory(guide=profile)
    return profile


def months_of(guide: GuideProfile) -> dict[str, tuple[int, ...]]:
    result = selectors.earnings_by_month(guide=guide, now=NOW)
    return {
        f"{row.month:%Y-%m} {row.currency}": (
            row.bookings_minor,
            row.booking_count,
            row.tips_minor,
            row.tip_count,
            row.refunds_minor,
            row.fees_minor,
            row.net_minor,
        )
        for row in result.months
    }


def test_money_is_grouped_by_month_in_the_guides_zone_with_refunds_in_the_month_they_happened(
    guide: GuideProfile,
) -> None:
    october_booking = payment(
        guide, kind="booking", amount=5000, fee=750, paid_at=datetime(2026, 10, 10, 9, tzinfo=UTC)
    )
    # 23:30 UTC on 31 October is already 1 November in Rome.
    payment(guide, kind="tip", amount=1000, fee=150, paid_at=datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    payment(guide, kind="booking", amount=3000, fee=450, paid_at=datetime(2026, 11, 5, 9, tzinfo=UTC))
    refund(october_booking, amount=2000, fee_back=300, at=datetime(2026, 11, 6, 9, tzinfo=UTC))
    # Not money (yet), or not this guide's: none of these count.
    payment(guide, kind="booking", amount=9900, fee=0, paid_at=None, status="pending")
    payment(guide, kind="tip", amount=9900, fee=0, paid_at=None, status="failed")
    refund(october_booking, amount=500, fee_back=75, at=None, status="pending")
    payment(
        cast(GuideProfile, GuideProfileFactory()),
        kind="booking",
        amount=7000,
        fee=1050,
        paid_at=datetime(2026, 11, 5, tzinfo=UTC),
    )
    # Older than the page's 24 months.
    payment(guide, kind="booking", amount=100, fee=15, paid_at=datetime(2024, 11, 30, 22, tzinfo=UTC))

    assert months_of(guide) == {
        #                bookings (n)  tips (n)  refunds  fees            net
        "2026-11 EUR": (3000, 1, 1000, 1, 2000, 450 + 150 - 300, 3000 + 1000 - 2000 - 300),
        "2026-10 EUR": (5000, 1, 0, 0, 0, 750, 4250),
    }
    (total,) = selectors.earnings_by_month(guide=guide, now=NOW).totals
    # The payments app's formula over the same payments: gross - refunds - (fee - fee refunded).
    assert (total.bookings_minor, total.tips_minor, total.refunds_minor, total.fees_minor, total.net_minor) == (
        8000,
        1000,
        2000,
        1050,
        9000 - 2000 - (750 + 150 + 450 - 300),
    )


def test_a_refund_in_a_month_without_sales_shows_as_a_negative_month(guide: GuideProfile) -> None:
    sold = payment(guide, kind="booking", amount=4000, fee=600, paid_at=datetime(2026, 9, 20, tzinfo=UTC))
    refund(sold, amount=4000, fee_back=600, at=datetime(2026, 10, 2, tzinfo=UTC))
    sold.refunded_minor, sold.fee_refunded_minor, sold.status = 4000, 600, "refunded"
    sold.save()

    assert months_of(guide) == {
        "2026-10 EUR": (0, 0, 0, 0, 4000, -600, -3400),
        "2026-09 EUR": (4000, 1, 0, 0, 0, 600, 3400),
    }


def test_currencies_are_never_added_together(guide: GuideProfile) -> None:
    payment(guide, kind="booking", amount=5000, fee=750, paid_at=datetime(2026, 11, 1, 12, tzinfo=UTC))
    payment(guide, kind="tip", amount=2000, fee=300, paid_at=datetime(2026, 11, 2, 12, tzinfo=UTC), currency="CHF")

    months = months_of(guide)

    assert months["2026-11 EUR"][0] == 5000
    assert months["2026-11 CHF"][2] == 2000
    assert [total.currency for total in selectors.earnings_by_month(guide=guide, now=NOW).totals] == ["CHF", "EUR"]


def test_the_page_shows_the_months_through_the_real_money_path(
    django_capture_on_commit_callbacks: Any,
) -> None:
    """A paid booking (50.00), a live tip (10.00) and a partial refund (20.00), all through
    payments.services and the test-mode provider."""
    scene = make_scene()
    tour = TourFactory(guide=scene.guide, price=Decimal("50.00"))
    slot = SlotFactory(tour=tour, start=(timezone.now() + timedelta(days=5)).replace(minute=0, second=0, microsecond=0))
    customer = UserFactory()
    booked = book_and_pay(user=customer, slot_id=slot.pk, seats=1, idempotency_key="earn-1")
    tip = services.start_tip(
        tipper=scene.guest, slot_id=scene.slot.pk, amount_minor=1000, message="", show_in_room=False, key="earn-tip"
    )
    assert tip.payment is not None
    pay(tip.payment)
    assert booked.payment is not None
    made = payments.request_refund(payment=booked.payment, amount_minor=2000, reason="test", key="earn-refund")
    assert made is not None
    assert payments.execute_refund(refund_id=made.pk) == "refunded"

    client = Client()
    client.force_login(scene.guide_user)
    response = client.get(reverse("tips:earnings"))

    assert response.status_code == 200
    page = response.content.decode()
    month = f"{timezone.localtime(timezone.now(), selectors._zone_of(scene.guide)):%Y-%m}"
    row = page.split(f'data-month="{month}" data-currency="EUR"')[1].split("</tr>")[0]
    assert 'data-bookings="5000"' in row
    assert "50.00" in row
    assert 'data-tips="1000"' in row
    assert "10.00" in row
    assert 'data-refunds="2000"' in row
    assert f"{MINUS}20.00" in row
    assert 'data-fees="600"' in row
    assert f"{MINUS}6.00" in row
    assert 'data-net="3400"' in row
    assert "34.00" in row
    assert 'data-payout-status="ready"' in page
    assert "TEST MODE — no money moves." in page


def test_a_guide_without_a_ready_account_sees_the_action_needed(db: None) -> None:
    scene = make_scene(ready=False)
    client = Client()
    client.force_login(scene.guide_user)
    page = client.get(reverse("tips:earnings")).content.decode()
    assert 'data-payout-status="missing"' in page
    assert reverse("payments:onboarding_start") in page
    assert "Nothing earned yet" in page


def test_the_page_makes_the_same_number_of_queries_for_3_or_60_payments(guide: GuideProfile) -> None:
    client = Client()
    client.force_login(guide.user)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("tips:earnings")).status_code == 200
        return len(captured.captured_queries)

    for day in range(1, 4):
        payment(guide, kind="tip", amount=500, fee=75, paid_at=timezone.now() - timedelta(days=day))
    few = queries()
    for day in range(57):
        made = payment(guide, kind="booking", amount=2000, fee=300, paid_at=timezone.now() - timedelta(days=day * 9))
        if day % 5 == 0:
            refund(made, amount=1000, fee_back=150, at=timezone.now() - timedelta(days=day * 9 - 1))
    many = queries()

    assert few == many
    assert many <= 12
