"""``{% payout_account_panel guide %}``: the guide's payout account and recent refunds (dashboard)."""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

from accounts.models import GuideProfile
from bookings.rules import major_units
from payments import selectors

register = template.Library()

RECENT_REFUNDS = 10


@register.inclusion_tag("payments/_payout_panel.html")
def payout_account_panel(guide: GuideProfile) -> dict[str, Any]:
    account = selectors.payment_account_of(guide=guide)
    if account is None:
        state = "missing"
    elif account.is_ready and account.provider == settings.PAYMENTS_PROVIDER:
        state = "ready"
    else:
        state = "incomplete"
    refunds = [
        {
            "amount": major_units(refund.amount_minor),
            "currency": refund.payment.currency,
            "status": refund.status,
            "label": refund.get_status_display(),
            "created_at": refund.created_at,
            "tour_title": refund.payment.booking.slot.tour.title if refund.payment.booking else "",
        }
        for refund in selectors.refunds_for_guide(guide=guide).select_related("payment__booking__slot__tour")[
            :RECENT_REFUNDS
        ]
    ]
    return {
        "account": account,
        "state": state,
        "paid_tours": guide.tours.filter(price__gt=0, status="published").count(),
        "refunds": refunds,
        "test_mode": settings.PAYMENTS_PROVIDER == "test",
    }
