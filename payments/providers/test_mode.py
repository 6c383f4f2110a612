"""The clearly labelled test-mode provider of the embedded default: no money moves.

It keeps Stripe-shaped objects (accounts, payment intents, refunds) in the ``TestModeObject``
table, so retrieve, cancel, list and refund calls answer as Stripe would, and it emits the same
event objects Stripe sends (``payment_intent.succeeded``, ``payment_intent.payment_failed``,
``account.updated``): the "TEST MODE" pay and onboarding pages hand those events to the very code
that handles Stripe's webhooks. Same idempotency key, same object, as with Stripe.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse

from payments.models import TestModeObject
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


def _object_id(prefix: str, key: str) -> str:
    # Same key, same id: a retried call is recognisably the same operation.
    return f"{prefix}_test_{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def _create_once(*, prefix: str, object_type: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """Store ``data`` under a new id, or return what the same key created before."""
    scoped_key = f"{object_type}:{key}"
    existing = TestModeObject.objects.filter(idempotency_key=scoped_key).first()
    if existing is not None:
        return dict(existing.data)
    object_id = _object_id(prefix, scoped_key)
    data = {"id": object_id, "object": object_type, "created": int(time.time()), "livemode": False, **data}
    try:
        with transaction.atomic():
            TestModeObject.objects.create(
                object_id=object_id, object_type=object_type, idempotency_key=scoped_key, data=data
            )
    except IntegrityError:
        # Two concurrent calls with one key: the first one's object is the answer for both.
        return dict(TestModeObject.objects.get(idempotency_key=scoped_key).data)
    return data


def _load(object_id: str, object_type: str) -> TestModeObject:
    found = TestModeObject.objects.filter(object_id=object_id, object_type=object_type).first()
    if found is None:
        raise ProviderError(f"No such {object_type}: '{object_id}'", code="resource_missing")
    return found


def _event(event_type: str, obj: dict[str, Any]) -> ProviderEvent:
    created = int(time.time())
    event_id = f"evt_test_{secrets.token_hex(12)}"
    payload = {
        "id": event_id,
        "object": "event",
        "api_version": "test-mode",
        "created": created,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    return ProviderEvent(id=event_id, type=event_type, created=created, object=obj, payload=payload)


class TestModeProvider:
    name = "test"

    # --- Connected accounts ---------------------------------------------------------------------

    def create_account(
        self, *, email: str, country: str, metadata: dict[str, str], idempotency_key: str
    ) -> ConnectedAccount:
        data = _create_once(
            prefix="acct",
            object_type="account",
            key=idempotency_key,
            data={
                "type": "express",
                "email": email,
                "country": country,
                "charges_enabled": False,
                "payouts_enabled": False,
                "details_submitted": False,
                "metadata": metadata,
            },
        )
        return account_from_object(data)

    def create_account_link(
        self, *, account_id: str, refresh_url: str, return_url: str, idempotency_key: str
    ) -> AccountLink:
        _load(account_id, "account")
        # Our own labelled page stands in for Stripe's hosted onboarding.
        return AccountLink(url=reverse("payments:test_onboarding", kwargs={"account_id": account_id}), expires_at=None)

    def retrieve_account(self, *, account_id: str) -> ConnectedAccount:
        return account_from_object(_load(account_id, "account").data)

    def complete_onboarding(self, *, account_id: str) -> ProviderEvent:
        """What Stripe does when the guide finishes its forms: the account is enabled, and says so."""
        with transaction.atomic():
            row = TestModeObject.objects.select_for_update().get(pk=_load(account_id, "account").pk)
            row.data = {**row.data, "charges_enabled": True, "payouts_enabled": True, "details_submitted": True}
            row.save(update_fields=["data"])
        return _event("account.updated", dict(row.data))

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
        if amount_minor < 50:
            # Stripe's minimum charge (in EUR and USD).
            raise ProviderError("Amount must be at least 0.50.", code="amount_too_small")
        secret = secrets.token_hex(12)
        data = _create_once(
            prefix="pi",
            object_type="payment_intent",
            key=idempotency_key,
            data={
                "amount": amount_minor,
                "amount_received": 0,
                "currency": currency.lower(),
                "application_fee_amount": application_fee_minor,
                "transfer_data": {"destination": destination_account},
                "metadata": metadata,
                "description": description,
                "status": "requires_payment_method",
                "latest_charge": None,
                "last_payment_error": None,
                "amount_refunded": 0,
            },
        )
        if "client_secret" not in data:
            data = self._update_intent(str(data["id"]), {"client_secret": f"{data['id']}_secret_{secret}"})
        return intent_from_object(data)

    def _update_intent(self, intent_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with transaction.atomic():
            row = TestModeObject.objects.select_for_update().get(pk=_load(intent_id, "payment_intent").pk)
            row.data = {**row.data, **changes}
            row.save(update_fields=["data"])
        return dict(row.data)

    def retrieve_payment_intent(self, *, intent_id: str) -> Intent:
        return intent_from_object(_load(intent_id, "payment_intent").data)

    def cancel_payment_intent(self, *, intent_id: str, idempotency_key: str) -> Intent:
        data = _load(intent_id, "payment_intent").data
        if data["status"] == "canceled":
            return intent_from_object(data)
        if data["status"] == "succeeded":
            raise ProviderError(
                "You cannot cancel this PaymentIntent because it has a status of succeeded.",
                code="payment_intent_unexpected_state",
            )
        return intent_from_object(self._update_intent(intent_id, {"status": "canceled"}))

    def confirm_intent(self, *, intent_id: str, succeed: bool) -> ProviderEvent:
        """The customer pressed "Pay" (or "Decline") on the TEST MODE page."""
        data = _load(intent_id, "payment_intent").data
        if data["status"] == "canceled":
            raise ProviderError("This payment was cancelled; book again.", code="payment_intent_unexpected_state")
        if data["status"] == "succeeded":
            return _event("payment_intent.succeeded", dict(data))
        if succeed:
            charge = _object_id("ch", f"charge:{intent_id}")
            data = self._update_intent(
                intent_id, {"status": "succeeded", "amount_received": data["amount"], "latest_charge": charge}
            )
            return _event("payment_intent.succeeded", data)
        error = {"code": "card_declined", "message": "Your card was declined (test mode).", "type": "card_error"}
        data = self._update_intent(intent_id, {"status": "requires_payment_method", "last_payment_error": error})
        return _event("payment_intent.payment_failed", data)

    def list_recent_payment_intents(self, *, created_after: datetime) -> list[Intent]:
        after = int(created_after.timestamp())
        rows = TestModeObject.objects.filter(object_type="payment_intent").order_by("-created_at")
        return [intent_from_object(row.data) for row in rows if int(row.data.get("created", 0)) >= after]

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
        existing = TestModeObject.objects.filter(idempotency_key=f"refund:{idempotency_key}").first()
        if existing is not None:
            return refund_from_object(existing.data)
        with transaction.atomic():
            intent = TestModeObject.objects.select_for_update().get(pk=_load(payment_intent_id, "payment_intent").pk)
            if intent.data["status"] != "succeeded":
                raise ProviderError("This PaymentIntent has no successful charge to refund.", code="charge_not_paid")
            refunded = int(intent.data.get("amount_refunded", 0))
            if refunded + amount_minor > int(intent.data["amount"]):
                raise ProviderError(
                    "Refund amount is greater than the unrefunded amount on the charge.", code="amount_too_large"
                )
            intent.data = {**intent.data, "amount_refunded": refunded + amount_minor}
            intent.save(update_fields=["data"])
            data = _create_once(
                prefix="re",
                object_type="refund",
                key=idempotency_key,
                data={
                    "amount": amount_minor,
                    "currency": intent.data["currency"],
                    "payment_intent": payment_intent_id,
                    "charge": intent.data.get("latest_charge"),
                    "status": "succeeded",
                    "metadata": metadata,
                    "reverse_transfer": reverse_transfer,
                    "refund_application_fee": refund_application_fee,
                },
            )
        return refund_from_object(data)

    # --- Webhooks -------------------------------------------------------------------------------

    def parse_webhook(self, *, payload: bytes, signature_header: str) -> ProviderEvent:
        raise WebhookSignatureError("The test-mode provider receives no webhooks (PAYMENTS_PROVIDER=test).")
