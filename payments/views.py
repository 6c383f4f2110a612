"""Payment pages: pay for a held booking (or a tip), the guide's payout onboarding, Stripe's webhook.

Thin callers of payments.services. The pay page shows Stripe's Payment Element (card data goes
from the browser to Stripe, never through us) when PAYMENTS_PROVIDER=stripe, and a clearly
labelled TEST MODE form otherwise; either way the booking is confirmed by the payment's event,
never by this page.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import User
from bookings.selectors import access_guide_profile
from payments import selectors, services
from payments.models import GuidePaymentAccount, Payment
from payments.providers import WebhookSignatureError

logger = logging.getLogger(__name__)

# Allowed on the pay page only, and only with the Stripe provider (production): Stripe.js and its frames.
STRIPE_CSP = {
    "script-src": ["https://js.stripe.com"],
    "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"],
    "connect-src": ["https://api.stripe.com"],
}


def _signed_in_user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _test_mode() -> bool:
    return settings.PAYMENTS_PROVIDER == "test"


def _payment_of(request: HttpRequest, payment_id: int) -> Payment:
    payment = selectors.access_payment(user=_signed_in_user(request), payment_id=payment_id)
    if payment is None:
        raise Http404(_("No such payment."))
    return payment


def _after_payment_path(payment: Payment) -> str:
    """Where the payer goes once the payment is done: the booking, or the caller's page (tips)."""
    path = str(payment.metadata.get("return_path", ""))
    if path.startswith("/") and url_has_allowed_host_and_scheme(path, allowed_hosts=None):
        return path
    if payment.booking is not None:
        return payment.booking.get_absolute_url()
    return reverse("bookings:my_bookings")


# --- Paying ---------------------------------------------------------------------------------------


@login_required
@require_safe
def pay(request: HttpRequest, payment_id: int) -> HttpResponseBase:
    payment = _payment_of(request, payment_id)
    if payment.status != Payment.Status.PENDING or not payment.provider_reference:
        if payment.is_paid:
            messages.info(request, _("This payment is done."))
        else:
            messages.warning(request, _("This payment is closed: nothing was charged."))
        return redirect(_after_payment_path(payment))
    context = {
        "payment": payment,
        "booking": payment.booking,
        "amount": f"{payment.amount_minor / 100:.2f}",
        "test_mode": _test_mode(),
        "return_url": request.build_absolute_uri(_after_payment_path(payment)),
        "publishable_key": settings.STRIPE_PUBLISHABLE_KEY,
    }
    response = render(request, "payments/pay.html", context)
    if not _test_mode():
        response._csp_update = STRIPE_CSP  # type: ignore[attr-defined]
    return response


@login_required
@require_POST
def test_pay(request: HttpRequest, payment_id: int) -> HttpResponse:
    """The TEST MODE form: the test provider emits the event Stripe would send, handled the same way."""
    if not _test_mode():
        raise Http404(_("Test-mode payments are off."))
    payment = _payment_of(request, payment_id)
    succeed = request.POST.get("outcome", "pay") != "decline"
    try:
        services.complete_test_payment(payment=payment, succeed=succeed)
    except services.PaymentError as error:
        messages.error(request, error.message)
        return redirect(_after_payment_path(payment))
    payment.refresh_from_db()
    if payment.is_paid:
        messages.success(request, _("Paid (test mode). Booked!") if payment.booking_id else _("Paid (test mode)."))
    elif payment.status == Payment.Status.PENDING:
        messages.info(request, _("Payment received; confirming it now."))
    else:
        messages.error(request, _("The payment was declined (test mode); nothing was charged."))
    return redirect(_after_payment_path(payment))


# --- Stripe's webhooks ----------------------------------------------------------------------------


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    """Verify the signature, record the event once, answer at once; a Celery task does the work."""
    try:
        stored, new = services.receive_stripe_webhook(
            payload=request.body, signature_header=request.headers.get("Stripe-Signature", "")
        )
    except WebhookSignatureError as error:
        logger.warning("stripe webhook refused: %s", error)
        return JsonResponse({"error": f"Invalid webhook: {error}"}, status=400)
    if stored is None:
        return JsonResponse({"received": True, "ignored": True})
    return JsonResponse({"received": True, "event": stored.event_id, "duplicate": not new})


# --- Guide onboarding -----------------------------------------------------------------------------


def _absolute(request: HttpRequest, name: str) -> str:
    return request.build_absolute_uri(reverse(name))


def _to_onboarding(request: HttpRequest) -> HttpResponse:
    guide = access_guide_profile(user=request.user)
    try:
        url = services.start_onboarding(
            guide=guide,
            refresh_url=_absolute(request, "payments:onboarding_refresh"),
            return_url=_absolute(request, "payments:onboarding_return"),
        )
    except services.PaymentError as error:
        messages.error(request, error.message)
        return redirect("bookings:dashboard")
    return redirect(url)


@login_required
@require_POST
def onboarding_start(request: HttpRequest) -> HttpResponse:
    """The dashboard's button: open the guide's connected account (once) and go to its onboarding."""
    return _to_onboarding(request)


@login_required
@require_safe
def onboarding_refresh(request: HttpRequest) -> HttpResponse:
    """Stripe sends the guide here when the onboarding link expired: a new link, straight away."""
    return _to_onboarding(request)


@login_required
@require_safe
def onboarding_return(request: HttpRequest) -> HttpResponse:
    guide = access_guide_profile(user=request.user)
    account = selectors.payment_account_of(guide=guide)
    if account is None:
        messages.warning(request, _("No payout account yet: connect one to take paid bookings."))
        return redirect("bookings:dashboard")
    account = services.refresh_account(account=account)
    if account.is_ready:
        messages.success(request, _("Your payout account is ready: paid bookings are open."))
    else:
        messages.warning(
            request,
            _("Your payout account is not complete yet; paid bookings open once the payment service has your details."),
        )
    return redirect("bookings:dashboard")


def _own_test_account(request: HttpRequest, account_id: str) -> GuidePaymentAccount:
    if not _test_mode():
        raise Http404(_("Test-mode onboarding is off."))
    guide = access_guide_profile(user=request.user)
    account = GuidePaymentAccount.objects.filter(account_id=account_id, guide=guide).first()
    if account is None:
        raise Http404(_("No such account."))
    return account


@login_required
@require_http_methods(["GET", "POST"])
def test_onboarding(request: HttpRequest, account_id: str) -> HttpResponse:
    """TEST MODE stand-in for Stripe's hosted onboarding; completing it sends ``account.updated``."""
    account = _own_test_account(request, account_id)
    if request.method == "POST":
        services.complete_test_onboarding(account=account)
        return redirect("payments:onboarding_return")
    return render(request, "payments/test_onboarding.html", {"account": account})
