"""Payment state changes. Bookings call these; only payments/ talks to a provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import transaction

from payments.models import Payment, Refund
from payments.providers import get_provider

if TYPE_CHECKING:
    from accounts.models import User
    from bookings.models import Booking


class PaymentFailedError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def charge_for_booking(*, booking: Booking, payer: User, amount_minor: int, currency: str, key: str) -> Payment:
    """Charge for a booking; raises PaymentFailedError (the caller's transaction rolls back)."""
    existing = Payment.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.status == Payment.Status.SUCCEEDED:
        return existing
    provider = get_provider()
    result = provider.charge(
        amount_minor=amount_minor, currency=currency, description=str(booking), idempotency_key=key
    )
    if not result.succeeded:
        raise PaymentFailedError(result.failure_message or "The payment was declined.")
    payment, _created = Payment.objects.update_or_create(
        idempotency_key=key,
        defaults={
            "booking": booking,
            "payer": payer,
            "provider": provider.name,
            "provider_reference": result.reference,
            "amount_minor": amount_minor,
            "currency": currency,
            "status": Payment.Status.SUCCEEDED,
        },
    )
    return payment


def refund_payment(*, payment: Payment, amount_minor: int, reason: str, key: str) -> Refund | None:
    """Refund part or all of a payment, once per key; nothing to refund returns None."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        existing = Refund.objects.filter(idempotency_key=key).first()
        if existing is not None:
            return existing
        amount_minor = min(amount_minor, payment.amount_minor - payment.refunded_minor)
        if amount_minor <= 0:
            return None
        result = get_provider().refund(
            charge_reference=payment.provider_reference, amount_minor=amount_minor, idempotency_key=key
        )
        refund = Refund.objects.create(
            payment=payment,
            amount_minor=amount_minor,
            reason=reason,
            idempotency_key=key,
            provider_reference=result.reference,
            status=Refund.Status.SUCCEEDED if result.succeeded else Refund.Status.FAILED,
        )
        if result.succeeded:
            payment.refunded_minor += amount_minor
            payment.status = (
                Payment.Status.REFUNDED
                if payment.refunded_minor == payment.amount_minor
                else Payment.Status.PARTIALLY_REFUNDED
            )
            payment.save(update_fields=["refunded_minor", "status", "updated_at"])
        return refund
