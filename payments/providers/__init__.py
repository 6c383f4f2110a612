"""Payment providers behind one interface. The rest of the code calls payments.services only.

Two implementations: ``TestModeProvider`` (the embedded default: offline, labelled, no money
moves) and ``StripeProvider`` (Stripe Connect: Express accounts, destination charges with the
platform's application fee, refunds reversing the transfer). Both describe what happened with the
same value types and the same Stripe-shaped events, so one code path handles them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from django.conf import settings


class ProviderError(Exception):
    """The provider refused a call or could not be reached.

    ``retryable`` says whether the same call (same idempotency key) may succeed later: a network
    error or a 5xx/429 may, a declined card or a bad request will not.
    """

    def __init__(self, message: str, *, retryable: bool = False, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.code = code


class WebhookSignatureError(Exception):
    """A webhook whose signature is wrong, missing, or older than the tolerance."""


@dataclass(frozen=True)
class ConnectedAccount:
    id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool


@dataclass(frozen=True)
class AccountLink:
    url: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Intent:
    """A PaymentIntent as the provider reports it (Stripe's statuses: succeeded, canceled, ...)."""

    id: str
    status: str
    amount_minor: int
    currency: str
    client_secret: str
    metadata: dict[str, str]
    destination: str
    application_fee_minor: int
    latest_charge: str
    created: datetime | None
    failure_message: str = ""


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    status: str  # succeeded, pending, requires_action, failed, canceled
    amount_minor: int


@dataclass(frozen=True)
class ProviderEvent:
    """An event as Stripe sends it: ``object`` is ``data.object``; ``payload`` the whole event."""

    id: str
    type: str
    created: int
    object: dict[str, Any]
    payload: dict[str, Any] = field(repr=False)


class PaymentProvider(Protocol):
    name: str

    def create_account(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> ConnectedAccount: ...

    def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> AccountLink: ...

    def retrieve_account(self, *, account_id: str) -> ConnectedAccount: ...

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
    ) -> Intent: ...

    def retrieve_payment_intent(self, *, intent_id: str) -> Intent: ...

    def cancel_payment_intent(self, *, intent_id: str, idempotency_key: str) -> Intent: ...

    def create_refund(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        reverse_transfer: bool,
        refund_application_fee: bool,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ProviderRefund: ...

    def list_recent_payment_intents(self, *, created_after: datetime) -> list[Intent]: ...

    def parse_webhook(self, *, payload: bytes, signature_header: str) -> ProviderEvent: ...


def get_provider() -> PaymentProvider:
    if settings.PAYMENTS_PROVIDER == "stripe":
        from payments.providers.stripe_provider import StripeProvider

        return StripeProvider()
    from payments.providers.test_mode import TestModeProvider

    return TestModeProvider()


def intent_from_object(data: dict[str, Any]) -> Intent:
    """An Intent from a Stripe-shaped ``payment_intent`` object (API response or event payload)."""
    transfer_data = data.get("transfer_data") or {}
    destination = transfer_data.get("destination") or ""
    if isinstance(destination, dict):  # expanded into the account object
        destination = destination.get("id", "")
    error = data.get("last_payment_error") or {}
    latest_charge = data.get("latest_charge") or ""
    if isinstance(latest_charge, dict):
        latest_charge = latest_charge.get("id", "")
    created = data.get("created")
    return Intent(
        id=str(data["id"]),
        status=str(data.get("status") or ""),
        amount_minor=int(data.get("amount") or 0),
        currency=str(data.get("currency") or "").upper(),
        client_secret=str(data.get("client_secret") or ""),
        metadata={str(key): str(value) for key, value in (data.get("metadata") or {}).items()},
        destination=str(destination),
        application_fee_minor=int(data.get("application_fee_amount") or 0),
        latest_charge=str(latest_charge),
        created=datetime.fromtimestamp(int(created), tz=UTC) if created else None,
        failure_message=str(error.get("message") or ""),
    )


def account_from_object(data: dict[str, Any]) -> ConnectedAccount:
    return ConnectedAccount(
        id=str(data["id"]),
        charges_enabled=bool(data.get("charges_enabled")),
        payouts_enabled=bool(data.get("payouts_enabled")),
        details_submitted=bool(data.get("details_submitted")),
    )


def refund_from_object(data: dict[str, Any]) -> ProviderRefund:
    return ProviderRefund(
        id=str(data["id"]), status=str(data.get("status") or ""), amount_minor=int(data.get("amount") or 0)
    )
