"""Helpers for tests that need a paid booking confirmed: pay it as the TEST MODE page does.

``book_and_pay`` books through ``reservations.book_seat`` and, for a paid tour, completes the
test-mode payment: the test provider emits ``payment_intent.succeeded`` and the stored event is
processed by the same service the Celery task runs (here in-line, because a test inside a
transaction never commits, so the on-commit task would never start).
"""

from __future__ import annotations

from typing import Any

from bookings import reservations
from payments import services
from payments.models import Payment


def pay(payment: Payment, *, succeed: bool = True) -> str:
    event = services.complete_test_payment(payment=payment, succeed=succeed)
    assert event is not None
    return services.process_event(webhook_event_id=event.pk)


def book_and_pay(**kwargs: Any) -> reservations.BookingOutcome:
    outcome = reservations.book_seat(**kwargs)
    if outcome.payment is not None and outcome.payment.status == Payment.Status.PENDING:
        pay(outcome.payment)
        outcome.booking.refresh_from_db()
        outcome.payment.refresh_from_db()
    return outcome
