"""Four tabs submitting the same tip form at the same instant: one tip, one payment, one intent."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from payments import models as payment_models
from payments.models import Payment
from payments.tips import services
from payments.tips.models import Tip
from tests.tips.conftest import make_scene

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_form_submitted_at_once_from_four_tabs_makes_one_tip_and_one_payment() -> None:
    scene = make_scene()
    tabs = 4
    gate = threading.Barrier(tabs)

    def submit(_index: int) -> tuple[int, int | None]:
        gate.wait(timeout=30)
        try:
            tip = services.start_tip(
                tipper=scene.guest,
                slot_id=scene.slot.pk,
                amount_minor=1000,
                message="Once!",
                show_in_room=False,
                key="same-form",
            )
            return tip.pk, tip.payment_id
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=tabs) as pool:
        outcomes = set(pool.map(submit, range(tabs)))

    tip = Tip.objects.get()
    payment = Payment.objects.get()
    assert outcomes == {(tip.pk, payment.pk)}
    assert tip.payment_id == payment.pk
    assert payment_models.TestModeObject.objects.filter(object_type="payment_intent").count() == 1
    assert (
        payment.provider_reference == payment_models.TestModeObject.objects.get(object_type="payment_intent").object_id
    )
