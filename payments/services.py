"""Payment state changes. Bookings and tips call these; only payments/ talks to a provider.

The money path, in order:
1. ``create_pending_payment`` writes the Payment row (inside the caller's transaction, no network);
   ``open_payment`` then asks the provider for a PaymentIntent (a destination charge to the guide's
   connected account, the platform's commission as the application fee), outside any lock.
   ``start_payment`` does both.
2. The customer pays in the browser (Stripe's Payment Element, or the TEST MODE page).
3. The provider's event (``payment_intent.succeeded``) arrives by webhook; ``record_event`` stores
   it once by its id and a Celery task runs ``process_event``, which moves the payment and calls
   the handler its kind registered (payments.hooks): a booking is confirmed there, and only there.
4. Failure, cancellation or an expired hold move it to failed/cancelled and call the handler's
   ``failed``; ``reconcile_recent_payments`` asks the provider for recent intents so a missed
   webhook is caught.
5. ``request_refund`` writes a pending Refund; a task sends it (reversing the transfer, refunding
   the application fee proportionally) and retries it until the provider accepts it.

Lock order, everywhere: the handler's rows (a booking's slot, then the booking), then the payment,
then the refund. Provider calls are never made while holding these locks.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from payments import hooks
from payments.models import GuidePaymentAccount, Payment, Refund, WebhookEvent
from payments.providers import (
    Intent,
    ProviderError,
    ProviderEvent,
    account_from_object,
    get_provider,
    intent_from_object,
    refund_from_object,
)

if TYPE_CHECKING:
    from accounts.models import GuideProfile, User
    from bookings.models import Booking

logger = logging.getLogger(__name__)

# Express accounts are opened in the guides' country; Stripe asks for it at creation.
ACCOUNT_COUNTRY = "IT"
# Events that change something here; any other type is acknowledged and ignored.
HANDLED_EVENT_TYPES = frozenset(
    {
        "account.updated",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "charge.refunded",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.refund.updated",
    }
)
# A refund the provider keeps refusing is retried with growing pauses, then left to staff.
MAX_REFUND_ATTEMPTS = 12
MAX_REFUND_BACKOFF = timedelta(hours=6)
# How far back reconciliation asks the provider for payment intents.
RECONCILE_WINDOW = timedelta(days=2)


class PaymentError(Exception):
    """A payment that cannot be started or completed; ``message`` is for people."""

    def __init__(self, message: str, *, code: str = "payment_failed") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class GuideNotReadyError(PaymentError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="guide_not_ready")


# --- Fees and accounts --------------------------------------------------------------------------


def platform_fee_for(amount_minor: int) -> int:
    """The platform's commission on ``amount_minor``: PLATFORM_FEE_PERCENT, rounded half up."""
    fee = (Decimal(amount_minor) * Decimal(settings.PLATFORM_FEE_PERCENT) / 100).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return max(0, min(int(fee), amount_minor))


def fee_share(*, fee_minor: int, part_minor: int, whole_minor: int) -> int:
    """The part of an application fee that goes with ``part_minor`` of ``whole_minor`` (half up)."""
    if whole_minor <= 0:
        return 0
    share = (Decimal(fee_minor) * Decimal(part_minor) / Decimal(whole_minor)).quantize(
        Decimal(1), rounding=ROUND_HALF_UP
    )
    return min(int(share), fee_minor)


def check_guide_can_be_paid(*, guide: GuideProfile) -> GuidePaymentAccount:
    """The guide's ready account, or GuideNotReadyError saying why paid bookings are closed."""
    account = GuidePaymentAccount.objects.filter(guide=guide).first()
    if account is None or not account.is_ready:
        raise GuideNotReadyError(
            f"{guide.display_name} cannot receive payments yet, so paid bookings and tips are closed for now. "
            "Free tours can still be booked."
        )
    if account.provider != settings.PAYMENTS_PROVIDER:
        raise GuideNotReadyError(
            f"{guide.display_name} has to connect a payout account again before taking payments. "
            "Free tours can still be booked."
        )
    return account


def start_onboarding(*, guide: GuideProfile, refresh_url: str, return_url: str) -> str:
    """Create the guide's connected account once, and return a fresh onboarding link for it."""
    provider = get_provider()
    account = GuidePaymentAccount.objects.filter(guide=guide, provider=provider.name).first()
    if account is None:
        try:
            created = provider.create_account(
                email=guide.user.email,
                country=ACCOUNT_COUNTRY,
                metadata={"guide_id": str(guide.pk)},
                idempotency_key=f"guide:{guide.pk}:account:{provider.name}",
            )
        except ProviderError as error:
            raise PaymentError(f"The payment service could not open your account: {error.message}") from None
        account, _created = GuidePaymentAccount.objects.update_or_create(
            guide=guide,
            defaults={
                "provider": provider.name,
                "account_id": created.id,
                "charges_enabled": created.charges_enabled,
                "payouts_enabled": created.payouts_enabled,
                "details_submitted": created.details_submitted,
                "status_as_of": None,
            },
        )
    try:
        # An account link is single-use and short-lived: a new one (and a new key) every time.
        link = provider.create_account_link(
            account_id=account.account_id,
            refresh_url=refresh_url,
            return_url=return_url,
            idempotency_key=f"guide:{guide.pk}:link:{uuid.uuid4().hex}",
        )
    except ProviderError as error:
        raise PaymentError(f"The payment service could not start onboarding: {error.message}") from None
    return link.url


def refresh_account(*, account: GuidePaymentAccount) -> GuidePaymentAccount:
    """Ask the provider for the account's status now (the return page); webhooks do it too."""
    try:
        current = get_provider().retrieve_account(account_id=account.account_id)
    except ProviderError as error:
        logger.warning("account %s could not be refreshed: %s", account.account_id, error.message)
        return account
    # Whole seconds, like an event's ``created``: an event from this same second still applies.
    _apply_account(current.id, current, as_of=timezone.now().replace(microsecond=0))
    account.refresh_from_db()
    return account


def _apply_account(account_id: str, current: Any, *, as_of: datetime) -> str:
    with transaction.atomic():
        account = GuidePaymentAccount.objects.select_for_update().filter(account_id=account_id).first()
        if account is None:
            return "unknown account"
        if account.status_as_of is not None and account.status_as_of > as_of:
            return "older than the status we have"
        account.charges_enabled = current.charges_enabled
        account.payouts_enabled = current.payouts_enabled
        account.details_submitted = current.details_submitted
        account.status_as_of = as_of
        account.save()
    return "account updated"


# --- Starting a payment -------------------------------------------------------------------------


def create_pending_payment(
    *,
    kind: str,
    payer: User,
    guide: GuideProfile,
    amount_minor: int,
    currency: str,
    metadata: dict[str, str],
    key: str,
    booking: Booking | None = None,
    application_fee_minor: int | None = None,
    expires_at: datetime | None = None,
) -> Payment:
    """Write the pending Payment row (no network); the same key returns the same row."""
    account = check_guide_can_be_paid(guide=guide)
    if amount_minor <= 0:
        raise PaymentError("Nothing to pay.", code="invalid_amount")
    fee = platform_fee_for(amount_minor) if application_fee_minor is None else application_fee_minor
    payment, created = Payment.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "kind": kind,
            "booking": booking,
            "payer": payer,
            "guide": guide,
            "provider": account.provider,
            "destination_account": account.account_id,
            "amount_minor": amount_minor,
            "currency": currency.upper(),
            "application_fee_minor": min(fee, amount_minor),
            "expires_at": expires_at,
            "metadata": {str(name): str(value) for name, value in metadata.items()},
        },
    )
    if created:
        payment.metadata = {**payment.metadata, "payment_id": str(payment.pk), "kind": kind}
        payment.save(update_fields=["metadata"])
    return payment


def open_payment(*, payment: Payment, description: str = "") -> Payment:
    """Create the provider's PaymentIntent for a pending payment (call it outside any lock).

    If the provider refuses or cannot be reached, the payment is marked failed and its kind's
    ``failed`` handler runs (a booking's held seats are released) before PaymentError is raised.
    """
    if payment.provider_reference or payment.status != Payment.Status.PENDING:
        return payment
    try:
        intent = get_provider().create_payment_intent(
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            destination_account=payment.destination_account,
            application_fee_minor=payment.application_fee_minor,
            metadata=payment.metadata,
            description=description or f"Italy From Couch {payment.kind} {payment.pk}",
            idempotency_key=payment.idempotency_key,
        )
    except ProviderError as error:
        logger.warning("payment %s: the intent could not be created: %s", payment.pk, error.message)
        _fail(payment.pk, status=Payment.Status.FAILED, message=error.message)
        raise PaymentError(
            "The payment could not be started, so nothing was charged and nothing is held. "
            "Please try again in a minute."
        ) from None
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        locked.provider_reference = intent.id
        locked.client_secret = intent.client_secret
        locked.save(update_fields=["provider_reference", "client_secret", "updated_at"])
        if locked.status != Payment.Status.PENDING:
            # Expired or cancelled while the provider was answering: nobody may pay it now.
            transaction.on_commit(lambda: _enqueue("cancel_payment_intent", locked.pk))
    return locked


def start_payment(
    *,
    kind: str,
    payer: User,
    guide: GuideProfile,
    amount_minor: int,
    currency: str,
    metadata: dict[str, str],
    key: str,
    booking: Booking | None = None,
    description: str = "",
    application_fee_minor: int | None = None,
    expires_at: datetime | None = None,
) -> Payment:
    """Pending Payment + PaymentIntent in one call, for callers holding no lock (tips)."""
    payment = create_pending_payment(
        kind=kind,
        payer=payer,
        guide=guide,
        amount_minor=amount_minor,
        currency=currency,
        metadata=metadata,
        key=key,
        booking=booking,
        application_fee_minor=application_fee_minor,
        expires_at=expires_at,
    )
    return open_payment(payment=payment, description=description)


def cancel_payment(*, payment: Payment, reason: str) -> Payment:
    """Cancel a payment that has not been paid (the booking was cancelled first); the intent after commit."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if locked.status != Payment.Status.PENDING:
            return locked
        locked.status = Payment.Status.CANCELLED
        locked.failure_message = reason[:300]
        locked.save(update_fields=["status", "failure_message", "updated_at"])
        hooks.handler_for(locked.kind).failed(locked)
        if locked.provider_reference:
            transaction.on_commit(lambda: _enqueue("cancel_payment_intent", locked.pk))
    return locked


def cancel_intent_at_provider(*, payment_id: int) -> str:
    """Cancel the provider's intent of a payment we gave up on; a success found instead is applied."""
    payment = Payment.objects.get(pk=payment_id)
    if not payment.provider_reference or payment.is_paid:
        return "nothing to cancel"
    provider = get_provider()
    try:
        provider.cancel_payment_intent(
            intent_id=payment.provider_reference, idempotency_key=f"payment:{payment.pk}:cancel"
        )
    except ProviderError as error:
        intent = provider.retrieve_payment_intent(intent_id=payment.provider_reference)
        if intent.status == "succeeded":
            # Paid at the last second: the money is real, so it is handled like any success.
            return apply_intent_succeeded(intent)
        if intent.status != "canceled":
            raise ProviderError(error.message, retryable=True) from error
    return "cancelled"


def _enqueue(task_name: str, *args: Any) -> None:
    from payments import tasks

    getattr(tasks, task_name).delay(*args)


# --- Payment outcomes ---------------------------------------------------------------------------


def _payment_for_intent(intent: Intent) -> Payment | None:
    payment = Payment.objects.filter(provider_reference=intent.id).first()
    if payment is not None:
        return payment
    # The intent was created but its id not saved yet (or lost in a crash): the metadata names it.
    payment_id = intent.metadata.get("payment_id", "")
    if payment_id.isdigit():
        candidate = Payment.objects.filter(pk=int(payment_id), amount_minor=intent.amount_minor).first()
        if candidate is not None and candidate.provider_reference in ("", intent.id):
            return candidate
    return None


def _status_after_refunds(payment: Payment) -> str:
    if payment.refunded_minor == 0:
        return Payment.Status.SUCCEEDED
    if payment.refunded_minor >= payment.amount_minor:
        return Payment.Status.REFUNDED
    return Payment.Status.PARTIALLY_REFUNDED


def apply_intent_succeeded(intent: Intent) -> str:
    """The customer paid: the payment is paid (once) and its kind's handler runs (once)."""
    found = _payment_for_intent(intent)
    if found is None:
        logger.info("payment intent %s is not one of ours; ignored", intent.id)
        return "unknown payment"
    handler = hooks.handler_for(found.kind)
    with transaction.atomic():
        handler.lock(found)
        payment = Payment.objects.select_for_update().get(pk=found.pk)
        if payment.is_paid:
            return "already paid"
        if intent.amount_minor != payment.amount_minor or intent.currency != payment.currency:
            logger.error(
                "intent %s pays %s %s for payment %s", intent.id, intent.amount_minor, intent.currency, payment.pk
            )
        payment.provider_reference = payment.provider_reference or intent.id
        payment.status = _status_after_refunds(payment)
        payment.paid_at = timezone.now()
        payment.failure_message = ""
        payment.save(update_fields=["provider_reference", "status", "paid_at", "failure_message", "updated_at"])
        if payment.status == Payment.Status.REFUNDED:
            # Refunded in full before we heard of the success (events out of order, a refund made
            # at the provider): the money went back, so what it paid for is released, not confirmed.
            handler.failed(payment)
            return "paid and already refunded"
        handler.succeeded(payment)
    return "paid"


def apply_intent_failed(intent: Intent, *, cancelled: bool) -> str:
    """The payment failed or its intent was cancelled: release what it held (unless already paid)."""
    found = _payment_for_intent(intent)
    if found is None:
        return "unknown payment"
    status = Payment.Status.CANCELLED if cancelled else Payment.Status.FAILED
    message = intent.failure_message or ("The payment was cancelled." if cancelled else "The payment failed.")
    outcome = _fail(found.pk, status=status, message=message)
    if outcome == "released" and not cancelled and intent.status != "canceled":
        # Stripe lets a customer retry a failed intent; once the seats are released nobody may.
        transaction.on_commit(lambda: _enqueue("cancel_payment_intent", found.pk))
    return outcome


def _fail(payment_id: int, *, status: str, message: str) -> str:
    found = Payment.objects.get(pk=payment_id)
    handler = hooks.handler_for(found.kind)
    with transaction.atomic():
        handler.lock(found)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != Payment.Status.PENDING:
            # Succeeded is terminal; failed/cancelled already released everything.
            return f"already {payment.status}"
        payment.status = status
        payment.failure_message = message[:300]
        payment.save(update_fields=["status", "failure_message", "updated_at"])
        handler.failed(payment)
    return "released"


def expire_payment(*, payment_id: int) -> str:
    """A pending payment past its ``expires_at``: cancel the intent and release what it held.

    The provider is asked first: an intent that succeeded in the meantime is a payment, not an
    expiry, and one still processing is left for its event (or the next run).
    """
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != Payment.Status.PENDING:
        return f"already {payment.status}"
    if payment.provider_reference:
        provider = get_provider()
        try:
            intent = provider.retrieve_payment_intent(intent_id=payment.provider_reference)
            if intent.status == "succeeded":
                return apply_intent_succeeded(intent)
            if intent.status == "processing":
                return "processing"
            if intent.status != "canceled":
                provider.cancel_payment_intent(
                    intent_id=payment.provider_reference, idempotency_key=f"payment:{payment.pk}:cancel"
                )
        except ProviderError as error:
            # Perhaps paid at this very moment: look once more before giving up until the next run.
            try:
                intent = provider.retrieve_payment_intent(intent_id=payment.provider_reference)
            except ProviderError:
                logger.warning("payment %s could not be expired now: %s", payment.pk, error.message)
                return "provider unavailable"
            if intent.status == "succeeded":
                return apply_intent_succeeded(intent)
            if intent.status != "canceled":
                logger.warning("payment %s could not be cancelled now: %s", payment.pk, error.message)
                return "provider refused"
    return _fail(payment.pk, status=Payment.Status.CANCELLED, message="Not paid in time; the hold was released.")


def expire_due_payments(*, now: datetime | None = None, limit: int = 200) -> int:
    """Expire every pending payment whose hold has run out; returns how many were released."""
    now = now or timezone.now()
    due = list(
        Payment.objects.filter(status=Payment.Status.PENDING, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    released = 0
    for payment_id in due:
        try:
            released += int(expire_payment(payment_id=payment_id) == "released")
        except Exception:
            # One payment must not hold back the others; it is tried again on the next run.
            logger.exception("payment %s could not be expired", payment_id)
    return released


def reconcile_recent_payments(*, now: datetime | None = None) -> int:
    """Ask the provider for recent intents and apply any success or cancellation we missed."""
    now = now or timezone.now()
    applied = 0
    for intent in get_provider().list_recent_payment_intents(created_after=now - RECONCILE_WINDOW):
        payment = _payment_for_intent(intent)
        if payment is None:
            continue
        if intent.status == "succeeded" and not payment.is_paid:
            logger.warning("reconciliation: payment %s succeeded at the provider without our noticing", payment.pk)
            applied += int(apply_intent_succeeded(intent) == "paid")
        elif intent.status == "canceled" and payment.status == Payment.Status.PENDING:
            applied += int(apply_intent_failed(intent, cancelled=True) == "released")
    return applied


# --- Refunds ------------------------------------------------------------------------------------


def request_refund(
    *,
    payment: Payment,
    amount_minor: int,
    reason: str,
    key: str,
    refund_application_fee: bool = True,
    reverse_transfer: bool = True,
) -> Refund | None:
    """Write a pending refund (capped at what is still refundable); it is sent after commit.

    Destination charges: ``reverse_transfer`` takes the amount back from the guide's account and
    ``refund_application_fee`` gives back the platform's commission on it, both proportionally
    (Stripe's semantics). None when there is nothing left to refund. Same key, same refund.
    """
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        if not locked.is_paid:
            return None
        committed = locked.refunds.exclude(status=Refund.Status.FAILED).aggregate(total=Sum("amount_minor"))["total"]
        amount_minor = min(amount_minor, locked.amount_minor - (committed or 0))
        if amount_minor <= 0:
            return None
        fee_committed = (
            locked.refunds.exclude(status=Refund.Status.FAILED).aggregate(total=Sum("fee_refunded_minor"))["total"] or 0
        )
        if not refund_application_fee:
            fee = 0
        elif (committed or 0) + amount_minor == locked.amount_minor:
            fee = locked.application_fee_minor - fee_committed  # the last refund takes the rounding rest
        else:
            fee = fee_share(
                fee_minor=locked.application_fee_minor, part_minor=amount_minor, whole_minor=locked.amount_minor
            )
        refund = Refund.objects.create(
            payment=locked,
            amount_minor=amount_minor,
            fee_refunded_minor=max(0, min(fee, locked.application_fee_minor - fee_committed)),
            reverse_transfer=reverse_transfer,
            refund_application_fee=refund_application_fee,
            reason=reason[:200],
            idempotency_key=key,
            next_attempt_at=timezone.now(),
        )
        transaction.on_commit(lambda: _enqueue("execute_refund", refund.pk))
    return refund


def _refund_backoff(attempts: int) -> timedelta:
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), MAX_REFUND_BACKOFF)


def execute_refund(*, refund_id: int, now: datetime | None = None) -> str:
    """Send one pending refund to the provider (its idempotency key makes a repeat harmless)."""
    now = now or timezone.now()
    with transaction.atomic():
        # SKIP LOCKED: a re-delivered task and the retry sweep never send the same refund at once.
        refund = (
            Refund.objects.select_for_update(skip_locked=True)
            .filter(pk=refund_id, status=Refund.Status.PENDING, provider_reference="")
            .first()
        )
        if refund is None:
            return "not pending"
        refund.attempts += 1
        # Claimed: if this process dies mid-call, the sweep tries again after the pause.
        refund.next_attempt_at = now + _refund_backoff(refund.attempts)
        refund.save(update_fields=["attempts", "next_attempt_at", "updated_at"])
    payment = Payment.objects.get(pk=refund.payment_id)
    try:
        result = get_provider().create_refund(
            payment_intent_id=payment.provider_reference,
            amount_minor=refund.amount_minor,
            reverse_transfer=refund.reverse_transfer,
            refund_application_fee=refund.refund_application_fee,
            metadata={"refund_id": str(refund.pk), "payment_id": str(payment.pk), **_booking_metadata(payment)},
            idempotency_key=refund.idempotency_key,
        )
    except ProviderError as error:
        give_up = refund.attempts >= MAX_REFUND_ATTEMPTS
        Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(
            last_error=error.message[:300],
            status=Refund.Status.FAILED if give_up else Refund.Status.PENDING,
            next_attempt_at=None if give_up else refund.next_attempt_at,
            updated_at=now,
        )
        logger.warning("refund %s attempt %s failed: %s", refund.pk, refund.attempts, error.message)
        return "failed for good" if give_up else "will retry"
    return apply_refund_result(
        refund_id=refund.pk, provider_reference=result.id, provider_status=result.status, now=now
    )


def _booking_metadata(payment: Payment) -> dict[str, str]:
    return {"booking_id": str(payment.booking_id)} if payment.booking_id else {}


def apply_refund_result(*, refund_id: int, provider_reference: str, provider_status: str, now: datetime) -> str:
    """Record what the provider says about one of our refunds (API answer or refund event)."""
    found = Refund.objects.select_related("payment").get(pk=refund_id)
    handler = hooks.handler_for(found.payment.kind)
    with transaction.atomic():
        handler.lock(found.payment)
        payment = Payment.objects.select_for_update().get(pk=found.payment_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status == Refund.Status.SUCCEEDED:
            return "already refunded"
        refund.provider_reference = provider_reference or refund.provider_reference
        if provider_status in ("failed", "canceled"):
            refund.status = Refund.Status.FAILED
            refund.last_error = f"The provider reports the refund {provider_status}."
            refund.next_attempt_at = None
            refund.save()
            return "refund failed"
        if provider_status != "succeeded":
            refund.save()  # pending at the provider: its refund.updated event finishes it
            return "refund pending"
        refund.status = Refund.Status.SUCCEEDED
        refund.succeeded_at = now
        refund.next_attempt_at = None
        refund.last_error = ""
        refund.save()
        payment.refunded_minor = min(payment.amount_minor, payment.refunded_minor + refund.amount_minor)
        payment.fee_refunded_minor = min(
            payment.application_fee_minor, payment.fee_refunded_minor + refund.fee_refunded_minor
        )
        if payment.is_paid:
            payment.status = _status_after_refunds(payment)
        payment.save(update_fields=["refunded_minor", "fee_refunded_minor", "status", "updated_at"])
        handler.refunded(payment, refund)
    return "refunded"


def retry_due_refunds(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send again every pending refund whose pause is over; returns how many the provider accepted."""
    now = now or timezone.now()
    due = list(
        Refund.objects.filter(status=Refund.Status.PENDING, provider_reference="")
        .filter(Q(next_attempt_at__lte=now) | Q(next_attempt_at__isnull=True))
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    accepted = 0
    for refund_id in due:
        try:
            accepted += int(execute_refund(refund_id=refund_id, now=now) in ("refunded", "refund pending"))
        except Exception:
            logger.exception("refund %s could not be sent; it stays pending", refund_id)
    return accepted


def _apply_refund_object(obj: dict[str, Any], *, now: datetime) -> str:
    """A refund object from an event: ours (by metadata or id) is updated; an unknown one recorded."""
    provider_refund = refund_from_object(obj)
    refund_id = str((obj.get("metadata") or {}).get("refund_id", ""))
    refund = None
    if refund_id.isdigit():
        refund = Refund.objects.filter(pk=int(refund_id)).first()
    if refund is None:
        refund = Refund.objects.filter(provider_reference=provider_refund.id).first()
    if refund is None:
        refund = _record_outside_refund(obj)
        if refund is None:
            return "unknown payment"
    return apply_refund_result(
        refund_id=refund.pk, provider_reference=provider_refund.id, provider_status=provider_refund.status, now=now
    )


def _record_outside_refund(obj: dict[str, Any]) -> Refund | None:
    """A refund made at the provider (e.g. in Stripe's dashboard): recorded so the totals stay true."""
    intent_id = str(obj.get("payment_intent") or "")
    payment = Payment.objects.filter(provider_reference=intent_id).first() if intent_id else None
    if payment is None:
        return None
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        refund, _created = Refund.objects.get_or_create(
            idempotency_key=f"outside:{obj['id']}",
            defaults={
                "payment": locked,
                "amount_minor": min(int(obj.get("amount") or 0), locked.refundable_minor),
                "fee_refunded_minor": 0,
                "reason": "Refunded at the payment provider",
                "provider_reference": str(obj["id"]),
            },
        )
    return refund


# --- Webhook events -----------------------------------------------------------------------------


def record_event(*, provider: str, event: ProviderEvent) -> WebhookEvent | None:
    """Store an event once by its id and queue its processing; repeats and unknown types do nothing."""
    if event.type not in HANDLED_EVENT_TYPES:
        return None
    with transaction.atomic():
        stored, created = WebhookEvent.objects.get_or_create(
            event_id=event.id, defaults={"provider": provider, "type": event.type, "payload": event.payload}
        )
        if created:
            transaction.on_commit(lambda: _enqueue("process_webhook_event", stored.pk))
    return stored


def receive_stripe_webhook(*, payload: bytes, signature_header: str) -> tuple[WebhookEvent | None, bool]:
    """Verify and record a Stripe webhook: (stored event or None if ignored, whether it is new).

    Raises WebhookSignatureError for a bad, missing or stale signature.
    """
    from payments.providers.stripe_provider import parse_webhook

    event = parse_webhook(payload=payload, signature_header=signature_header)
    before = WebhookEvent.objects.filter(event_id=event.id).exists()
    stored = record_event(provider="stripe", event=event)
    return stored, stored is not None and not before


def process_event(*, webhook_event_id: int, now: datetime | None = None) -> str:
    """Apply one stored event, once: a processed event is never applied again."""
    now = now or timezone.now()
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=webhook_event_id)
        if event.status == WebhookEvent.Status.PROCESSED:
            return "duplicate"
        event.attempts += 1
        try:
            with transaction.atomic():
                outcome = _apply(event.type, event.payload, now=now)
        except Exception as error:
            event.status = WebhookEvent.Status.FAILED
            event.error = f"{type(error).__name__}: {error}"[:300]
            event.save(update_fields=["status", "error", "attempts"])
            logger.exception("event %s (%s) failed; it will be tried again", event.event_id, event.type)
            return "failed"
        event.status = WebhookEvent.Status.PROCESSED
        event.processed_at = now
        event.error = ""
        event.save(update_fields=["status", "processed_at", "error", "attempts"])
    return outcome


def _apply(event_type: str, payload: dict[str, Any], *, now: datetime) -> str:
    obj = (payload.get("data") or {}).get("object") or {}
    created = payload.get("created")
    if event_type == "payment_intent.succeeded":
        return apply_intent_succeeded(intent_from_object(obj))
    if event_type == "payment_intent.payment_failed":
        return apply_intent_failed(intent_from_object(obj), cancelled=False)
    if event_type == "payment_intent.canceled":
        return apply_intent_failed(intent_from_object(obj), cancelled=True)
    if event_type == "account.updated":
        as_of = datetime.fromtimestamp(int(created), tz=UTC) if created else now
        return _apply_account(str(obj["id"]), account_from_object(obj), as_of=as_of)
    if event_type in ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated"):
        return _apply_refund_object(obj, now=now)
    if event_type == "charge.refunded":
        # Older API versions list the refunds on the charge; newer ones send refund.* events too.
        refunds = (obj.get("refunds") or {}).get("data") or []
        outcomes = [
            _apply_refund_object({**item, "payment_intent": obj.get("payment_intent")}, now=now) for item in refunds
        ]
        return ", ".join(outcomes) or "no refunds listed"
    return "ignored"


def process_pending_events(*, now: datetime | None = None, older_than: timedelta = timedelta(seconds=30)) -> int:
    """Run events whose task was lost or failed (a crash, a bug since fixed); returns how many ran."""
    now = now or timezone.now()
    stuck = list(
        WebhookEvent.objects.filter(
            status__in=(WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED),
            received_at__lte=now - older_than,
            attempts__lt=20,
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:200]
    )
    for event_id in stuck:
        process_event(webhook_event_id=event_id, now=now)
    return len(stuck)


# --- Test mode ----------------------------------------------------------------------------------


def _test_provider() -> Any:
    from payments.providers.test_mode import TestModeProvider

    provider = get_provider()
    if not isinstance(provider, TestModeProvider):
        raise PaymentError("Only the test-mode provider can be paid from this page.", code="not_test_mode")
    return provider


def complete_test_payment(*, payment: Payment, succeed: bool = True) -> WebhookEvent | None:
    """The TEST MODE page's Pay (or Decline) button: the test provider emits the event Stripe would."""
    provider = _test_provider()
    if not payment.provider_reference:
        raise PaymentError("This payment was never started; book again.", code="not_started")
    try:
        event = provider.confirm_intent(intent_id=payment.provider_reference, succeed=succeed)
    except ProviderError as error:
        raise PaymentError(error.message, code=error.code) from None
    return record_event(provider=provider.name, event=event)


def complete_test_onboarding(*, account: GuidePaymentAccount) -> WebhookEvent | None:
    """The TEST MODE onboarding page's button: the account is enabled through ``account.updated``."""
    provider = _test_provider()
    return record_event(provider=provider.name, event=provider.complete_onboarding(account_id=account.account_id))


def connect_test_mode_account(*, guide: GuideProfile) -> GuidePaymentAccount:
    """A ready test-mode account for a demo guide (seed_demo), through the same events."""
    account = GuidePaymentAccount.objects.filter(guide=guide, provider="test").first()
    if account is not None and account.is_ready:
        return account
    start_onboarding(guide=guide, refresh_url="/", return_url="/")
    account = GuidePaymentAccount.objects.get(guide=guide, provider="test")
    event = complete_test_onboarding(account=account)
    if event is not None:
        process_event(webhook_event_id=event.pk)
    account.refresh_from_db()
    return account
