"""What other apps do when one of their payments changes state, registered per payment kind.

payments/ knows nothing of bookings or tips: bookings registers what a paid booking does on
success (confirm the held seats), failure (release them) and refund (show it on the booking), the
tips app does the same for tips. Handlers run inside the transaction that changes the payment,
with the payment row locked, at most once per transition (succeeded is terminal: a late "failed"
never follows it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from payments.models import Payment, Refund


def _nothing(*_args: object) -> None:
    return None


@dataclass(frozen=True)
class PaymentHandler:
    """``lock`` runs first in every transaction that changes a payment of this kind, before the
    payment row is locked: bookings lock the slot and the booking there, the order their own
    services use, so a webhook and a cancellation can never deadlock."""

    lock: Callable[[Payment], None] = _nothing
    succeeded: Callable[[Payment], None] = _nothing
    failed: Callable[[Payment], None] = _nothing
    refunded: Callable[[Payment, Refund], None] = _nothing


_handlers: dict[str, PaymentHandler] = {}


def register_handler(kind: str, handler: PaymentHandler) -> None:
    """Call from an AppConfig.ready(); registering a kind again replaces its handler."""
    _handlers[kind] = handler


def handler_for(kind: str) -> PaymentHandler:
    return _handlers.get(kind, PaymentHandler())
