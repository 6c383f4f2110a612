"""Reads about money: a guide's account, a booking's payment and refunds, a guide's payments.

Nothing here changes state or calls the provider; pages (and the earnings page) read through these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.db.models import QuerySet

from payments.models import GuidePaymentAccount, Payment, Refund

if TYPE_CHECKING:
    from accounts.models import GuideProfile, User
    from bookings.models import Booking


def payment_account_of(*, guide: GuideProfile) -> GuidePaymentAccount | None:
    return GuidePaymentAccount.objects.filter(guide=guide).first()


def booking_payment(*, booking: Booking) -> Payment | None:
    """The booking's latest booking payment (a booking has one; a retried one would be newer)."""
    return Payment.objects.filter(booking=booking, kind=Payment.Kind.BOOKING).order_by("-pk").first()


@dataclass(frozen=True)
class RefundLine:
    amount: Decimal
    currency: str
    status: str
    status_label: str
    created_at: datetime
    succeeded_at: datetime | None


def refund_lines(*, booking: Booking) -> list[RefundLine]:
    """The booking's refunds as the customer and the guide see them, oldest first."""
    from bookings.rules import major_units

    refunds = Refund.objects.filter(payment__booking=booking).select_related("payment").order_by("created_at", "pk")
    return [
        RefundLine(
            amount=major_units(refund.amount_minor),
            currency=refund.payment.currency,
            status=refund.status,
            status_label=str(refund.get_status_display()),
            created_at=refund.created_at,
            succeeded_at=refund.succeeded_at,
        )
        for refund in refunds
    ]


def access_payment(*, user: User, payment_id: int) -> Payment | None:
    """The payment if ``user`` is its payer (or staff); None otherwise (the page says 404)."""
    payment = Payment.objects.select_related("booking", "booking__slot", "booking__slot__tour", "guide").filter(
        pk=payment_id
    )
    found = payment.first()
    if found is None or (found.payer_id != user.pk and not user.is_staff):
        return None
    return found


def payments_for_guide(
    *, guide: GuideProfile, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Payment]:
    """Payments that reached (or went back from) the guide's account, newest first."""
    payments = Payment.objects.filter(guide=guide, status__in=Payment.PAID_STATUSES)
    if since is not None:
        payments = payments.filter(paid_at__gte=since)
    if until is not None:
        payments = payments.filter(paid_at__lt=until)
    return payments.order_by("-paid_at", "-pk")


def refunds_for_guide(
    *, guide: GuideProfile, since: datetime | None = None, until: datetime | None = None
) -> QuerySet[Refund]:
    refunds = Refund.objects.filter(payment__guide=guide).select_related("payment")
    if since is not None:
        refunds = refunds.filter(created_at__gte=since)
    if until is not None:
        refunds = refunds.filter(created_at__lt=until)
    return refunds.order_by("-created_at", "-pk")
