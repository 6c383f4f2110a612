"""The clearly labelled test-mode provider of the embedded default: no money moves.

It answers like a provider that accepts every charge and refund, with references that say what
they are, so a newcomer can book paid demo tours offline. Every page that takes payment shows a
"TEST MODE" notice while it is active.
"""

from __future__ import annotations

import hashlib

from payments.providers import ChargeResult, RefundResult


def _reference(prefix: str, key: str) -> str:
    # Same key, same reference: a retried call is recognisably the same operation.
    return f"{prefix}_test_{hashlib.sha256(key.encode()).hexdigest()[:20]}"


class TestModeProvider:
    name = "test"

    def charge(self, *, amount_minor: int, currency: str, description: str, idempotency_key: str) -> ChargeResult:
        return ChargeResult(succeeded=True, reference=_reference("ch", idempotency_key))

    def refund(self, *, charge_reference: str, amount_minor: int, idempotency_key: str) -> RefundResult:
        return RefundResult(succeeded=True, reference=_reference("re", idempotency_key))
