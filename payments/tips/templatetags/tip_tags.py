"""Tip pieces other apps' pages include: ``{% tip_link slot %}`` (booking and summary pages),
``{% live_tips session role %}`` (the live pages), and the ``minor``/``deduction`` money filters."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import User
from bookings.models import Slot
from payments import services as payments
from payments.tips import rules, selectors
from payments.tips.models import Tip
from streaming.models import LiveSession

register = template.Library()

MINUS = "\u2212"  # a real minus sign, as typeset figures use


@register.filter
def minor(amount_minor: int | None) -> str:
    """``1250`` -> ``"12.50"``; a negative amount gets a real minus sign."""
    value = int(amount_minor or 0)
    text = rules.format_minor(abs(value))
    return f"{MINUS}{text}" if value < 0 else text


@register.filter
def deduction(amount_minor: int | None) -> str:
    """An amount taken off the guide's earnings shows with a minus sign; given back (negative), a plus."""
    value = int(amount_minor or 0)
    if value == 0:
        return rules.format_minor(0)
    return f"{MINUS if value > 0 else '+'}{rules.format_minor(abs(value))}"


@register.simple_tag
def tipper_name(tip: Tip) -> str:
    return selectors.display_name(tip.tipper)


def _request_user(context: template.Context) -> User | None:
    request = context.get("request")
    user = getattr(request, "user", None)
    return user if isinstance(user, User) else None


def _guide_ready(slot: Slot) -> bool:
    try:
        payments.check_guide_can_be_paid(guide=slot.guide)
    except payments.GuideNotReadyError:
        return False
    return True


@register.inclusion_tag("tips/_tip_link.html", takes_context=True)
def tip_link(context: template.Context, slot: Slot) -> dict[str, Any]:
    """A "Tip your guide" link for a guest who may tip for ``slot`` now (after or during the tour)."""
    user = _request_user(context)
    if user is None:
        return {"show": False}
    try:
        target = selectors.access_tip_target(user=user, slot_id=slot.pk)
    except (rules.TipRefused, Http404):
        return {"show": False}
    return {"show": True, "slot": target.slot, "guide": target.guide, "ready": _guide_ready(target.slot)}


@register.inclusion_tag("tips/_live_tips.html", takes_context=True)
def live_tips(context: template.Context, session: LiveSession, role: str) -> dict[str, Any]:
    """The live pages' tip parts: the guest's "Tip the guide" button (a new tab: the video keeps
    playing), the guide's running total and acknowledgements, and the texts the page script shows."""
    user = _request_user(context)
    slot = session.slot
    currency = slot.tour.currency
    strings = {
        "received": _("{name} tipped {amount} {currency}"),
        "thanks": _("Thank you, {name}, for the tip!"),
        "total": _("{amount} {currency}"),
    }
    result: dict[str, Any] = {"role": role, "strings": strings, "currency": currency, "session": session}
    if role == "publisher":
        total = selectors.session_tips_total(session_id=session.pk)
        seen = ",".join(str(tip.pk) for tip in selectors.session_paid_tips(session_id=session.pk))
        result.update(total_minor=total, total=rules.format_minor(total), seen=seen)
        return result
    show_button = False
    if user is not None:
        try:
            selectors.access_tip_target(user=user, slot_id=slot.pk)
            show_button = True
        except rules.TipRefused as refusal:
            # The room opens before the start: the button is there, the page says when tips open.
            show_button = refusal.code == "not_started"
        except Http404:
            show_button = False
    result.update(show_button=show_button, slot=slot, ready=show_button and _guide_ready(slot), guide=slot.guide)
    return result
