"""Bookings tests: every guide can take payments (a ready test-mode payout account) by default.

Paid tours are refused for a guide without a ready account (tests/payments covers that); these
tests are about seats, dates and policies, so each new guide profile gets a ready account. A test
that wants the refusal deletes it.
"""

from collections.abc import Iterator

import pytest
from django.db.models.signals import post_save

from accounts.models import GuideProfile


def _ready_account(sender: type[GuideProfile], instance: GuideProfile, created: bool, raw: bool = False, **_: object):
    if created and not raw:
        from tests.factories import GuidePaymentAccountFactory

        GuidePaymentAccountFactory(guide=instance)


@pytest.fixture(autouse=True)
def _guides_take_payments() -> Iterator[None]:
    post_save.connect(_ready_account, sender=GuideProfile, dispatch_uid="tests.bookings.ready_account")
    yield
    post_save.disconnect(sender=GuideProfile, dispatch_uid="tests.bookings.ready_account")
