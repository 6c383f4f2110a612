"""The Stripe provider drives the real Stripe SDK against the local Stripe-like server.

What Stripe receives is asserted from the server's record of requests: Express accounts,
destination charges with the application fee, refunds reversing the transfer, and an idempotency
key on every call that creates something (a repeated key gets Stripe's replay, not a new object).
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.providers import ProviderError, WebhookSignatureError, get_provider
from payments.providers.stripe_provider import StripeProvider


@pytest.fixture
def provider(stripe_mode):
    chosen = get_provider()
    assert isinstance(chosen, StripeProvider)
    return chosen


def test_an_express_account_is_created_with_the_idempotency_key_and_an_onboarding_link(provider, stripe_mode):
    account = provider.create_account(
        email="giulia@example.com", country="IT", metadata={"guide_id": "7"}, idempotency_key="guide:7:account"
    )
    link = provider.create_account_link(
        account_id=account.id,
        refresh_url="https://tours.example.com/payments/onboarding/refresh/",
        return_url="https://tours.example.com/payments/onboarding/return/",
        idempotency_key="guide:7:link:1",
    )

    assert account.id.startswith("acct_")
    assert (account.charges_enabled, account.payouts_enabled, account.details_submitted) == (False, False, False)
    (created,) = stripe_mode.calls("POST", "/v1/accounts")
    assert created.idempotency_key == "guide:7:account"
    assert created.params["type"] == "express"
    assert created.params["country"] == "IT"
    assert created.params["capabilities"] == {
        "card_payments": {"requested": "true"},
        "transfers": {"requested": "true"},
    }
    assert created.params["metadata"] == {"guide_id": "7"}
    (linked,) = stripe_mode.calls("POST", "/v1/account_links")
    assert linked.idempotency_key == "guide:7:link:1"
    assert linked.params == {
        "account": account.id,
        "refresh_url": "https://tours.example.com/payments/onboarding/refresh/",
        "return_url": "https://tours.example.com/payments/onboarding/return/",
        "type": "account_onboarding",
    }
    assert link.url.startswith(f"{stripe_mode.url}/setup/e/{account.id}/")
    assert link.expires_at is not None


def test_the_same_idempotency_key_gets_the_same_account_back(provider, stripe_mode):
    first = provider.create_account(email="a@example.com", country="IT", metadata={}, idempotency_key="same")
    again = provider.create_account(email="a@example.com", country="IT", metadata={}, idempotency_key="same")

    assert again.id == first.id
    assert len([obj for obj in stripe_mode.objects.values() if obj["object"] == "account"]) == 1


def test_a_payment_intent_is_a_destination_charge_with_the_platform_fee(provider, stripe_mode):
    account = provider.create_account(email="g@example.com", country="IT", metadata={}, idempotency_key="acct")

    intent = provider.create_payment_intent(
        amount_minor=10000,
        currency="EUR",
        destination_account=account.id,
        application_fee_minor=1500,
        metadata={"booking_id": "12", "kind": "booking"},
        description="Colosseum at night",
        idempotency_key="booking:12:charge",
    )

    (call,) = stripe_mode.calls("POST", "/v1/payment_intents")
    assert call.idempotency_key == "booking:12:charge"
    assert call.params["amount"] == "10000"
    assert call.params["currency"] == "eur"
    assert call.params["transfer_data"] == {"destination": account.id}
    assert call.params["application_fee_amount"] == "1500"
    assert call.params["metadata"] == {"booking_id": "12", "kind": "booking"}
    assert call.params["automatic_payment_methods"] == {"enabled": "true"}
    assert call.stripe_version  # the SDK pins its API version on every call
    assert (intent.status, intent.amount_minor, intent.currency) == ("requires_payment_method", 10000, "EUR")
    assert (intent.destination, intent.application_fee_minor) == (account.id, 1500)
    assert intent.client_secret.startswith(f"{intent.id}_secret_")


def test_a_retried_create_with_the_same_key_is_replayed_not_charged_twice(provider, stripe_mode):
    account = provider.create_account(email="g@example.com", country="IT", metadata={}, idempotency_key="acct")
    arguments = {
        "amount_minor": 2500,
        "currency": "EUR",
        "destination_account": account.id,
        "application_fee_minor": 375,
        "metadata": {},
        "description": "x",
        "idempotency_key": "booking:1:charge",
    }

    first = provider.create_payment_intent(**arguments)
    again = provider.create_payment_intent(**arguments)

    assert again.id == first.id
    assert len([obj for obj in stripe_mode.objects.values() if obj["object"] == "payment_intent"]) == 1
    with pytest.raises(ProviderError) as misuse:
        provider.create_payment_intent(**{**arguments, "amount_minor": 9999})
    assert "same parameters" in misuse.value.message
    assert misuse.value.retryable is False


def test_a_refund_reverses_the_transfer_and_refunds_the_fee_with_its_key(provider, stripe_mode):
    account = provider.create_account(email="g@example.com", country="IT", metadata={}, idempotency_key="acct")
    intent = provider.create_payment_intent(
        amount_minor=10000,
        currency="EUR",
        destination_account=account.id,
        application_fee_minor=1500,
        metadata={},
        description="",
        idempotency_key="pay",
    )
    stripe_mode.set_intent_status(intent.id, "succeeded")

    refund = provider.create_refund(
        payment_intent_id=intent.id,
        amount_minor=5000,
        reverse_transfer=True,
        refund_application_fee=True,
        metadata={"refund_id": "3"},
        idempotency_key="booking:12:refund:1",
    )

    (call,) = stripe_mode.calls("POST", "/v1/refunds")
    assert call.idempotency_key == "booking:12:refund:1"
    assert call.params == {
        "payment_intent": intent.id,
        "amount": "5000",
        "reverse_transfer": "true",
        "refund_application_fee": "true",
        "metadata": {"refund_id": "3"},
    }
    assert (refund.status, refund.amount_minor) == ("succeeded", 5000)


def test_cancel_retrieve_and_list_recent_intents(provider, stripe_mode):
    account = provider.create_account(email="g@example.com", country="IT", metadata={}, idempotency_key="acct")
    intents = [
        provider.create_payment_intent(
            amount_minor=1000 + n,
            currency="EUR",
            destination_account=account.id,
            application_fee_minor=150,
            metadata={"n": str(n)},
            description="",
            idempotency_key=f"pay:{n}",
        )
        for n in range(3)
    ]

    cancelled = provider.cancel_payment_intent(intent_id=intents[0].id, idempotency_key="payment:1:cancel")
    listed = provider.list_recent_payment_intents(created_after=timezone.now() - timedelta(days=2))

    assert cancelled.status == "canceled"
    assert provider.retrieve_payment_intent(intent_id=intents[0].id).status == "canceled"
    assert sorted(intent.id for intent in listed) == sorted(intent.id for intent in intents)
    (cancel_call,) = stripe_mode.calls("POST", r"/v1/payment_intents/pi_\w+/cancel")
    assert cancel_call.idempotency_key == "payment:1:cancel"


def test_the_list_is_paged_through_when_there_are_more_than_a_page(provider, stripe_mode, monkeypatch):
    monkeypatch.setattr("payments.providers.stripe_provider.LIST_PAGE_SIZE", 2)
    account = provider.create_account(email="g@example.com", country="IT", metadata={}, idempotency_key="acct")
    for n in range(5):
        provider.create_payment_intent(
            amount_minor=1000,
            currency="EUR",
            destination_account=account.id,
            application_fee_minor=150,
            metadata={},
            description="",
            idempotency_key=f"pay:{n}",
        )

    listed = provider.list_recent_payment_intents(created_after=timezone.now() - timedelta(hours=1))

    assert len({intent.id for intent in listed}) == 5
    assert len(stripe_mode.calls("GET", "/v1/payment_intents")) == 3


def test_a_stripe_outage_is_a_retryable_provider_error(provider, stripe_mode):
    stripe_mode.fail_next("POST", "/v1/accounts", status=500, times=3)  # the SDK's own 2 retries included

    with pytest.raises(ProviderError) as failure:
        provider.create_account(email="g@example.com", country="IT", metadata={}, idempotency_key="acct")

    assert failure.value.retryable is True
    calls = stripe_mode.calls("POST", "/v1/accounts")
    assert len(calls) == 3
    assert {call.idempotency_key for call in calls} == {"acct"}  # the SDK retried with the same key


def test_a_wrong_api_key_is_refused(settings, provider):
    settings.STRIPE_SECRET_KEY = "sk_test_wrong"

    with pytest.raises(ProviderError) as failure:
        get_provider().retrieve_account(account_id="acct_123")

    assert "Invalid API Key" in failure.value.message


def test_a_webhook_signed_with_another_secret_is_refused(provider, stripe_mode):
    payload, _header, _event = stripe_mode.signed_event("account.updated", {"id": "acct_1", "object": "account"})

    with pytest.raises(WebhookSignatureError):
        provider.parse_webhook(payload=payload, signature_header=stripe_mode.sign(payload, secret="whsec_other"))
    event = provider.parse_webhook(payload=payload, signature_header=stripe_mode.sign(payload))
    assert (event.type, event.object["id"]) == ("account.updated", "acct_1")
