"""Payment jobs: webhook events, refunds, expired holds, reconciliation.

Each is a thin caller of payments.services, idempotent (the row it works on says whether the work
is done) and safe to run twice at once (row locks, SKIP LOCKED). The periodic ones are in
CELERY_BEAT_SCHEDULE (beat in production, the embedded scheduler otherwise).
"""

from __future__ import annotations

from celery import shared_task

from payments import services
from payments.providers import ProviderError


@shared_task(acks_late=True)
def process_webhook_event(webhook_event_id: int) -> str:
    return services.process_event(webhook_event_id=webhook_event_id)


@shared_task(acks_late=True)
def execute_refund(refund_id: int) -> str:
    return services.execute_refund(refund_id=refund_id)


@shared_task(acks_late=True, autoretry_for=(ProviderError,), retry_backoff=30, max_retries=10)
def cancel_payment_intent(payment_id: int) -> str:
    return services.cancel_intent_at_provider(payment_id=payment_id)


@shared_task(acks_late=True)
def expire_payment_holds() -> int:
    """Periodic: release the seats of bookings not paid in time (and cancel their intents)."""
    return services.expire_due_payments()


@shared_task(acks_late=True)
def retry_due_refunds() -> int:
    """Periodic: send again the refunds the provider has not accepted yet."""
    return services.retry_due_refunds()


@shared_task(acks_late=True)
def process_pending_events() -> int:
    """Periodic: events whose task was lost or failed are processed again."""
    return services.process_pending_events()


@shared_task(acks_late=True)
def reconcile_payments() -> int:
    """Periodic: ask the provider for recent payments so a missed webhook is caught."""
    return services.reconcile_recent_payments()
