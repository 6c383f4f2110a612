"""Stripe Connect through the official SDK: the only module of the project that imports ``stripe``.

- Guides have Express accounts; onboarding is an account link (Stripe hosts the forms).
- Paid bookings and tips are destination charges: the PaymentIntent's ``transfer_data.destination``
  is the guide's account and ``application_fee_amount`` the platform's commission.
- Refunds reverse the transfer and, as the caller says, refund the application fee (Stripe does
  both proportionally to the amount refunded).
- Every call that creates something carries an idempotency key; the SDK's own network retries reuse
  it, so a retried call never creates a second object.
- Webhooks are verified with ``stripe.Webhook.construct_event`` (HMAC-SHA256 signature and a
  timestamp tolerance of WEBHOOK_TOLERANCE_SECONDS).

``STRIPE_API_BASE`` points the SDK elsewhere (the tests' local Stripe-like server).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, NoReturn

import stripe
from django.conf import settings

from payments.providers import (
    AccountLink,
    ConnectedAccount,
    Intent,
    ProviderError,
    ProviderEvent,
    ProviderRefund,
    WebhookSignatureError,
    account_from_object,
    intent_from_object,
    refund_from_object,
)

logger = logging.getLogger(__name__)

# Stripe's own default, and what shared/notes/failure-modes.md asks for: older than 5 minutes is refused.
WEBHOOK_TOLERANCE_SECONDS = 300
# Recent intents asked for per page when reconciling; the SDK pages through the rest.
LIST_PAGE_SIZE = 100


def _as_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict(for_json=True)
    return dict(obj)


def _raise(error: stripe.StripeError) -> NoReturn:
    """Turn an SDK error into a ProviderError, keeping whether trying again may help."""
    status = error.http_status or 0
    retryable = isinstance(error, stripe.APIConnectionError | stripe.RateLimitError) or status >= 500
    message = error.user_message or str(error) or "The payment provider refused the request."
    logger.warning("stripe call failed (status %s, code %s): %s", status, error.code, message)
    raise ProviderError(str(message), retryable=retryable, code=str(error.code or "")) from error


class StripeProvider:
    name = "stripe"

    def __init__(self) -> None:
        base = settings.STRIPE_API_BASE.rstrip("/")
        self.client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": base, "files": base, "connect": base},
            max_network_retries=2,
        )

    # --- Connected accounts ---------------------------------------------------------------------

    def create_account(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> ConnectedAccount:
        try:
            account = self.client.v1.accounts.create(
                params={
                    "type": "express",
                    "country": country,
                    "email": email,
                    "capabilities": {"card_payments": {"requested": True}, "transfers": {"requested": True}},
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        return account_from_object(_as_dict(account))

    def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> AccountLink:
        try:
            link = self.client.v1.account_links.create(
                params={
                    "account": account_id,
                    "refresh_url": refresh_url,
                    "return_url": return_url,
                    "type": "account_onboarding",
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        data = _as_dict(link)
        expires = data.get("expires_at")
        return AccountLink(
            url=str(data["url"]), expires_at=datetime.fromtimestamp(int(expires), tz=UTC) if expires else None
        )

    def retrieve_account(self, *, account_id: str) -> ConnectedAccount:
        try:
            account = self.client.v1.accounts.retrieve(account_id)
        except stripe.StripeError as error:
            _raise(error)
        return account_from_object(_as_dict(account))

    # --- Payment intents ------------------------------------------------------------------------

    def create_payment_intent(
        self,
        *,
        amount_minor: int,
        currency: str,
        destination_account: str,
        application_fee_minor: int,
        metadata: dict[str, str],
        description: str,
        idempotency_key: str,
    ) -> Intent:
        try:
            intent = self.client.v1.payment_intents.create(
                params={
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "automatic_payment_methods": {"enabled": True},
                    "application_fee_amount": application_fee_minor,
                    "transfer_data": {"destination": destination_account},
                    "metadata": metadata,
                    "description": description[:1000],
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        return intent_from_object(_as_dict(intent))

    def retrieve_payment_intent(self, *, intent_id: str) -> Intent:
        try:
            intent = self.client.v1.payment_intents.retrieve(intent_id)
        except stripe.StripeError as error:
            _raise(error)
        return intent_from_object(_as_dict(intent))

    def cancel_payment_intent(self, *, intent_id: str, idempotency_key: str) -> Intent:
        try:
            intent = self.client.v1.payment_intents.cancel(
                intent_id,
                params={"cancellation_reason": "abandoned"},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        return intent_from_object(_as_dict(intent))

    def list_recent_payment_intents(self, *, created_after: datetime) -> list[Intent]:
        try:
            page = self.client.v1.payment_intents.list(
                params={"created": {"gte": int(created_after.timestamp())}, "limit": LIST_PAGE_SIZE}
            )
            return [intent_from_object(_as_dict(item)) for item in page.auto_paging_iter()]
        except stripe.StripeError as error:
            _raise(error)

    # --- Refunds --------------------------------------------------------------------------------

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        reverse_transfer: bool,
        refund_application_fee: bool,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ProviderRefund:
        try:
            refund = self.client.v1.refunds.create(
                params={
                    "payment_intent": payment_intent_id,
                    "amount": amount_minor,
                    "reverse_transfer": reverse_transfer,
                    "refund_application_fee": refund_application_fee,
                    "metadata": metadata,
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            _raise(error)
        return refund_from_object(_as_dict(refund))

    # --- Webhooks -------------------------------------------------------------------------------

    def parse_webhook(self, *, payload: bytes, signature_header: str) -> ProviderEvent:
        return parse_webhook(payload=payload, signature_header=signature_header)


def parse_webhook(*, payload: bytes, signature_header: str) -> ProviderEvent:
    """Verify a webhook as Stripe signs it (needs no API key) and return its event."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise WebhookSignatureError("STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified.")
    try:
        event = stripe.Webhook.construct_event(payload, signature_header, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureError(str(error.user_message or error)) from None
    except ValueError:
        raise WebhookSignatureError("The payload is not a JSON event.") from None
    data = json.loads(payload)
    obj = (data.get("data") or {}).get("object") or {}
    return ProviderEvent(
        id=str(event.id), type=str(event.type), created=int(data.get("created") or 0), object=obj, payload=data
    )
