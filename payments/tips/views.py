"""Tip pages: the tip form, a tip's page, the customer's and the guide's tip lists, thanks, earnings.

Thin callers of payments.tips.services/selectors. Every refusal is a page that says why (403 for
who/when, 409 when the guide cannot receive payments, 429 for the rate limit), never a bare error.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import User
from bookings.selectors import access_guide_profile
from payments import services as payments
from payments.models import Payment
from payments.tips import rules, selectors, services
from payments.tips.forms import ThankYouForm, ThankYouTextForm, TipForm
from payments.tips.models import Tip
from streaming.models import LiveSession

PAGE_SIZE = 25

# The rules' messages are English and stable; these are what people read (translatable).
_REFUSAL_TEXT: dict[str, Promise] = {
    "own_tour": gettext_lazy("Guides cannot tip themselves."),
    "not_booked": gettext_lazy("Only guests with a booking for this tour can tip its guide."),
    "cancelled": gettext_lazy("This tour date was cancelled, so there is nobody to tip."),
    "banned": gettext_lazy("You were removed from this live tour."),
    "not_started": gettext_lazy("Tips open when the live tour starts."),
    "closed": gettext_lazy("Tips for this tour closed 30 days after it ended."),
    "rate_limited": gettext_lazy("You have sent many tips in a short time; please wait a while and try again."),
    "bad_key": gettext_lazy("The form expired; please open it again."),
}
_PENDING_BOOKING = "Your booking for this tour is waiting for payment."


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _refusal_text(refusal: rules.TipRefused) -> str:
    if refusal.code == "not_booked" and refusal.message == _PENDING_BOOKING:
        return _("Your booking for this tour is waiting for payment.")
    text = _REFUSAL_TEXT.get(refusal.code)
    return str(text) if text is not None else refusal.message


def _not_ready_text(guide_name: str) -> str:
    return _(
        "%(guide)s cannot receive tips yet: their payout account is not ready. Nothing was charged. "
        "Free tours are not affected."
    ) % {"guide": guide_name}


def _refused(request: HttpRequest, *, reason: str, code: str, status: int, target: Any = None) -> HttpResponse:
    context = {"reason": reason, "code": code, "target": target}
    return render(request, "tips/refused.html", context, status=status)


def _test_mode() -> bool:
    return settings.PAYMENTS_PROVIDER == "test"


@login_required
@require_http_methods(["GET", "POST"])
def tip(request: HttpRequest, slot_id: int) -> HttpResponseBase:
    """The tip form: suggested amounts (5, 10, 20 in the tour's currency) or another within the limits."""
    user = _user(request)
    try:
        target = selectors.access_tip_target(user=user, slot_id=slot_id)
    except rules.TipRefused as refusal:
        return _refused(request, reason=_refusal_text(refusal), code=refusal.code, status=403)
    try:
        payments.check_guide_can_be_paid(guide=target.guide)
    except payments.GuideNotReadyError:
        return _refused(
            request,
            reason=_not_ready_text(target.guide.display_name),
            code="guide_not_ready",
            status=409,
            target=target,
        )
    live = target.session.status == LiveSession.Status.LIVE
    form = TipForm(request.POST or None, currency=target.currency, live=live)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                tip = services.start_tip(
                    tipper=user,
                    slot_id=slot_id,
                    amount_minor=form.cleaned_data["amount_minor"],
                    message=form.cleaned_data.get("message", ""),
                    show_in_room=bool(form.cleaned_data.get("show_in_room", False)),
                    key=form.cleaned_data["key"],
                )
            except rules.TipRefused as refusal:
                if refusal.code in ("rate_limited", "bad_key"):
                    form.add_error(None, _refusal_text(refusal))
                    status = 429 if refusal.code == "rate_limited" else 400
                else:
                    return _refused(request, reason=_refusal_text(refusal), code=refusal.code, status=403)
            except payments.GuideNotReadyError:
                return _refused(
                    request,
                    reason=_not_ready_text(target.guide.display_name),
                    code="guide_not_ready",
                    status=409,
                    target=target,
                )
            except payments.PaymentError as error:
                # The provider refused or could not be reached: nothing was charged; a new key for a retry.
                data = request.POST.copy()
                data["key"] = uuid.uuid4().hex
                form = TipForm(data, currency=target.currency, live=live)
                form.is_valid()
                form.add_error(None, error.message)
                status = 503
            else:
                return _after_start(tip)
        else:
            status = 400
    context = {
        "form": form,
        "target": target,
        "tour": target.slot.tour,
        "guide": target.guide,
        "live": live,
        "test_mode": _test_mode(),
    }
    return render(request, "tips/tip_form.html", context, status=status)


def _after_start(tip: Tip) -> HttpResponse:
    payment = tip.payment
    if tip.status == Tip.Status.PENDING and payment is not None and payment.status == Payment.Status.PENDING:
        return redirect("payments:pay", payment_id=payment.pk)
    return redirect("tips:tip_detail", tip_id=tip.pk)


@login_required
@require_safe
def tip_detail(request: HttpRequest, tip_id: int) -> HttpResponse:
    """A tip's page: where the payment page returns; its state and the guide's thanks."""
    tip = selectors.access_tip(user=_user(request), tip_id=tip_id)
    payment = tip.payment
    context = {
        "tip": tip,
        "tour": tip.slot.tour,
        "guide": tip.guide,
        "amount": rules.format_minor(tip.amount_minor),
        "pay_url": reverse("payments:pay", kwargs={"payment_id": payment.pk})
        if payment is not None and payment.status == Payment.Status.PENDING and tip.status == Tip.Status.PENDING
        else "",
        "refunded": rules.format_minor(payment.refunded_minor)
        if payment is not None and payment.refunded_minor
        else "",
        "test_mode": _test_mode(),
    }
    return render(request, "tips/tip_detail.html", context)


@login_required
@require_safe
def my_tips(request: HttpRequest) -> HttpResponse:
    """The customer's tips, newest first, with their state and the guide's thanks."""
    page = Paginator(selectors.tips_given(user=_user(request)), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "tips/my_tips.html", {"page": page, "tips": page.object_list})


@login_required
@require_safe
def tips_received(request: HttpRequest) -> HttpResponse:
    """The guide's tips, newest first; each paid tip can be thanked once."""
    guide = access_guide_profile(user=request.user)
    saved = selectors.saved_thank_you_text(guide=guide)
    page = Paginator(selectors.tips_received(guide=guide), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "guide": guide,
        "page": page,
        "tips": page.object_list,
        "saved_text": saved,
        "settings_form": ThankYouTextForm(initial={"thank_you_text": saved}),
        "text_max": rules.THANK_YOU_MAX_CHARS,
    }
    return render(request, "tips/tips_received.html", context)


def _back_to_tips(request: HttpRequest) -> HttpResponse:
    page = request.POST.get("page", "")
    url = reverse("tips:tips_received")
    return redirect(f"{url}?page={page}" if page.isdigit() else url)


@login_required
@require_POST
def thank_tip(request: HttpRequest, tip_id: int) -> HttpResponse:
    guide = access_guide_profile(user=request.user)
    form = ThankYouForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("Write a thank-you message of at most %(count)s characters.") % {"count": rules.THANK_YOU_MAX_CHARS},
        )
        return _back_to_tips(request)
    try:
        tip = services.send_thank_you(guide=guide, tip_id=tip_id, text=form.cleaned_data["text"])
    except services.ThankYouRefused as refusal:
        texts = {
            "already_thanked": _("You have already thanked this guest for this tip."),
            "not_found": _("There is no such tip."),
            "empty": _("Write a thank-you message first."),
        }
        messages.error(request, texts.get(refusal.code, refusal.message))
        return _back_to_tips(request)
    messages.success(
        request, _("Your thank-you is on its way to %(name)s.") % {"name": selectors.display_name(tip.tipper)}
    )
    return _back_to_tips(request)


@login_required
@require_POST
def save_thank_you_text(request: HttpRequest) -> HttpResponse:
    guide = access_guide_profile(user=request.user)
    form = ThankYouTextForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("The saved message can be at most %(count)s characters long.") % {"count": rules.THANK_YOU_MAX_CHARS},
        )
        return _back_to_tips(request)
    try:
        services.save_thank_you_text(guide=guide, text=form.cleaned_data["thank_you_text"])
    except services.ThankYouRefused as refusal:
        messages.error(request, refusal.message)
        return _back_to_tips(request)
    messages.success(request, _("Your thank-you message is saved."))
    return _back_to_tips(request)


@login_required
@require_safe
def earnings(request: HttpRequest) -> HttpResponse:
    """Per month: bookings, tips, refunds, the platform's fees and the net; the payout account's state."""
    guide = access_guide_profile(user=request.user)
    result = selectors.earnings_by_month(guide=guide)
    context = {
        "guide": guide,
        "earnings": result,
        "months": result.months,
        "totals": result.totals,
        "fee_percent": settings.PLATFORM_FEE_PERCENT,
    }
    return render(request, "tips/earnings.html", context)


@require_safe
def live_tips_feed(request: HttpRequest, session_id: int) -> JsonResponse:
    """The guide's live page catches up after a reconnect: the session's paid tips and total, as
    the ``tip.received`` frames the socket would have carried (docs/api.md)."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return JsonResponse({"error": _("Please log in again.")}, status=403)
    try:
        session = selectors.access_session_tips(user=user, session_id=session_id)
    except PermissionDenied as refusal:
        return JsonResponse({"error": str(refusal)}, status=403)
    except Http404 as missing:
        return JsonResponse({"error": str(missing)}, status=404)
    total = selectors.session_tips_total(session_id=session.pk)
    frames = [
        services.tip_received_frame(tip, total_minor=total)
        for tip in selectors.session_paid_tips(session_id=session.pk)
    ]
    return JsonResponse(
        {
            "total_minor": total,
            "total": rules.format_minor(total),
            "currency": session.slot.tour.currency.upper(),
            "tips": frames,
        }
    )
