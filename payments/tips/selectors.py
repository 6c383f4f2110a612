"""Reads about tips: who may tip for a slot, tip histories, a session's tips total, a guide's earnings.

Nothing here changes state. Money comes from payments.selectors (the Payment and Refund rows are
the truth about amounts, fees and refunds); the Tip rows add who tipped, the message and the thanks.
"""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.models import Booking, Slot
from payments import selectors as payment_selectors
from payments.models import Payment, Refund
from payments.tips import rules
from payments.tips.models import GuideTipSettings, Tip
from streaming.models import LiveSession, SessionBan

if TYPE_CHECKING:
    from accounts.models import GuideProfile, User

# Months shown on the earnings page, counting the current one.
EARNINGS_MONTHS = 24
DEFAULT_ZONE = "Europe/Rome"


def display_name(user: User) -> str:
    """How a tipper is named to the guide and the room: their name, never their e-mail address
    (``get_full_name`` falls back to it), as the live room names people (chat.selectors.person)."""
    return (user.name or "").strip() or _("Guest %(number)s") % {"number": user.pk}


@dataclass(frozen=True)
class TipTarget:
    """A slot a person may tip for now, with what the tip form and the service need."""

    slot: Slot
    booking: Booking
    session: LiveSession

    @property
    def guide(self) -> GuideProfile:
        return self.slot.guide

    @property
    def currency(self) -> str:
        return self.slot.tour.currency


def access_tip_target(*, user: User, slot_id: int, now: datetime | None = None) -> TipTarget:
    """The slot ``user`` may tip for at ``now``; Http404 if there is no such slot, else TipRefused."""
    now = now or timezone.now()
    slot = Slot.objects.select_related("tour", "guide", "guide__user").filter(pk=slot_id).first()
    if slot is None:
        raise Http404(_("No such tour date."))
    bookings = list(Booking.objects.filter(user=user, slot=slot).order_by("-created_at"))
    session = LiveSession.objects.filter(slot=slot).first()
    facts = rules.TipFacts(
        is_slot_guide=slot.guide.user_id == user.pk,
        booking_statuses=frozenset(booking.status for booking in bookings),
        slot_cancelled=slot.status == Slot.Status.CANCELLED,
        session_status=session.status if session is not None else None,
        session_ended_reason=session.ended_reason if session is not None else "",
        session_ended_at=session.ended_at if session is not None else None,
        banned=session is not None and SessionBan.objects.filter(session=session, user=user).exists(),
    )
    rules.check_may_tip(facts, now=now)
    assert session is not None  # check_may_tip refuses a slot without a live or ended session
    booking = next(booking for booking in bookings if booking.status == Booking.Status.CONFIRMED)
    return TipTarget(slot=slot, booking=booking, session=session)


def may_tip(*, user: User, slot_id: int, now: datetime | None = None) -> bool:
    try:
        access_tip_target(user=user, slot_id=slot_id, now=now)
    except (rules.TipRefused, Http404):
        return False
    return True


def tip_by_key(*, idempotency_key: str) -> Tip | None:
    return Tip.objects.select_related("payment").filter(idempotency_key=idempotency_key).first()


def access_tip(*, user: User, tip_id: int) -> Tip:
    """A tip its tipper (or staff) may look at; Http404 for anyone else."""
    tip = Tip.objects.select_related("payment", "slot__tour", "guide").filter(pk=tip_id).first()
    if tip is None or (tip.tipper_id != user.pk and not user.is_staff):
        raise Http404(_("No such tip."))
    return tip


def tips_given(*, user: User) -> QuerySet[Tip]:
    """A customer's tips (paid and pending, not the failed ones), newest first."""
    return (
        Tip.objects.filter(tipper=user)
        .exclude(status=Tip.Status.FAILED)
        .select_related("slot__tour", "guide", "payment")
        .order_by("-created_at", "-pk")
    )


def tips_received(*, guide: GuideProfile) -> QuerySet[Tip]:
    """The tips a guide received (paid only: a pending tip is not money yet), newest first."""
    return (
        Tip.objects.filter(guide=guide, status=Tip.Status.PAID)
        .select_related("tipper", "slot__tour", "payment")
        .order_by("-paid_at", "-pk")
    )


def saved_thank_you_text(*, guide: GuideProfile) -> str:
    found = GuideTipSettings.objects.filter(guide=guide).values_list("thank_you_text", flat=True).first()
    return found or ""


def session_tips_total(*, session_id: int) -> int:
    """The paid tips of one live session, in minor units of its tour's currency."""
    total = Tip.objects.filter(session_id=session_id, status=Tip.Status.PAID).aggregate(total=Sum("amount_minor"))
    return int(total["total"] or 0)


# The guide's live page catches up on at most this many of the session's latest paid tips.
LIVE_FEED_TIPS = 50


def access_session_tips(*, user: User, session_id: int) -> LiveSession:
    """The live session whose tips ``user`` may follow: its guide or staff; Http404 / PermissionDenied."""
    session = LiveSession.objects.select_related("slot__guide", "slot__tour").filter(pk=session_id).first()
    if session is None:
        raise Http404(_("There is no such live tour."))
    if not (user.is_staff or session.slot.guide.user_id == user.pk):
        raise PermissionDenied(_("Only the guide of this tour can follow its tips."))
    return session


def session_paid_tips(*, session_id: int, limit: int = LIVE_FEED_TIPS) -> list[Tip]:
    """The session's latest paid tips, oldest first (the order the guide's page shows them in)."""
    latest = (
        Tip.objects.filter(session_id=session_id, status=Tip.Status.PAID)
        .select_related("tipper")
        .order_by("-paid_at", "-pk")[:limit]
    )
    return list(reversed(latest))


# --- Earnings -------------------------------------------------------------------------------------


@dataclass
class MonthEarnings:
    """One month of one currency on the guide's earnings page (all amounts in minor units).

    Bookings, tips and the platform's fees count in the month they were paid; refunds (and the
    share of the fee given back with them) in the month the provider made them.
    """

    month: date
    currency: str
    bookings_minor: int = 0
    booking_count: int = 0
    tips_minor: int = 0
    tip_count: int = 0
    refunds_minor: int = 0
    fees_minor: int = 0

    @property
    def net_minor(self) -> int:
        return self.bookings_minor + self.tips_minor - self.refunds_minor - self.fees_minor


@dataclass
class Earnings:
    months: list[MonthEarnings]
    totals: list[MonthEarnings] = field(default_factory=list)
    zone: str = DEFAULT_ZONE


def _month_start(moment: datetime, zone: zoneinfo.ZoneInfo, months_back: int) -> datetime:
    local = moment.astimezone(zone)
    year, month = local.year, local.month - months_back
    while month <= 0:
        year, month = year - 1, month + 12
    return datetime(year, month, 1, tzinfo=zone)


def _zone_of(guide: GuideProfile) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(guide.user.timezone or DEFAULT_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(DEFAULT_ZONE)


def _as_month(value: datetime | date, zone: zoneinfo.ZoneInfo) -> date:
    if isinstance(value, datetime):
        value = value.astimezone(zone) if timezone.is_aware(value) else value
        return date(value.year, value.month, 1)
    return date(value.year, value.month, 1)


def earnings_by_month(*, guide: GuideProfile, now: datetime | None = None, months: int = EARNINGS_MONTHS) -> Earnings:
    """Per month (in the guide's time zone) and currency: bookings, tips, refunds, fees, net.

    Two grouped queries, whatever the number of payments: one over the guide's paid payments by
    the month they were paid, one over their succeeded refunds by the month they were made.
    """
    now = now or timezone.now()
    zone = _zone_of(guide)
    since = _month_start(now, zone, months - 1)
    rows: dict[tuple[date, str], MonthEarnings] = {}

    def row(month: date, currency: str) -> MonthEarnings:
        key = (month, currency)
        if key not in rows:
            rows[key] = MonthEarnings(month=month, currency=currency)
        return rows[key]

    paid = (
        payment_selectors.payments_for_guide(guide=guide, since=since)
        .order_by()
        .annotate(month=TruncMonth("paid_at", tzinfo=zone))
        .values("month", "currency", "kind")
        .annotate(gross=Sum("amount_minor"), fees=Sum("application_fee_minor"), count=Count("pk"))
    )
    for line in paid:
        entry = row(_as_month(line["month"], zone), line["currency"])
        entry.fees_minor += int(line["fees"] or 0)
        if line["kind"] == Payment.Kind.TIP:
            entry.tips_minor += int(line["gross"] or 0)
            entry.tip_count += int(line["count"])
        else:
            entry.bookings_minor += int(line["gross"] or 0)
            entry.booking_count += int(line["count"])
    refunded = (
        Refund.objects.filter(payment__guide=guide, status=Refund.Status.SUCCEEDED, succeeded_at__gte=since)
        .order_by()
        .annotate(month=TruncMonth("succeeded_at", tzinfo=zone))
        .values("month", "payment__currency")
        .annotate(amount=Sum("amount_minor"), fee_back=Sum("fee_refunded_minor"))
    )
    for refund_line in refunded:
        entry = row(_as_month(refund_line["month"], zone), refund_line["payment__currency"])
        entry.refunds_minor += int(refund_line["amount"] or 0)
        entry.fees_minor -= int(refund_line["fee_back"] or 0)
    ordered = sorted(rows.values(), key=lambda entry: (entry.month, entry.currency), reverse=True)
    totals: dict[str, MonthEarnings] = defaultdict(lambda: MonthEarnings(month=since.date(), currency=""))
    for entry in ordered:
        total = totals[entry.currency]
        total.currency = entry.currency
        total.bookings_minor += entry.bookings_minor
        total.booking_count += entry.booking_count
        total.tips_minor += entry.tips_minor
        total.tip_count += entry.tip_count
        total.refunds_minor += entry.refunds_minor
        total.fees_minor += entry.fees_minor
    return Earnings(months=ordered, totals=sorted(totals.values(), key=lambda t: t.currency), zone=zone.key)
