"""A tip's payment outcome: marked paid once, the guide and the room told once, a receipt once,
whatever the number of deliveries of the provider's event; a declined tip stays unpaid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from chat import realtime
from notifications.models import Notification, OutboundEmail
from payments import services as payments
from payments.models import Payment, WebhookEvent
from payments.providers import ProviderEvent
from payments.tips import services
from payments.tips.models import Tip
from tests.tips.conftest import TipScene, make_scene

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, dict[str, Any]]]:
    """What reached the live room's bus: (session id, decoded envelope)."""
    sent: list[tuple[int, dict[str, Any]]] = []
    monkeypatch.setattr(
        realtime, "publish_now", lambda session_id, payload: sent.append((session_id, json.loads(payload)))
    )
    return sent


def start(
    scene: TipScene, *, amount: int = 1000, show_in_room: bool = True, key: str = "k1", message: str = "Bravissima!"
) -> Tip:
    return services.start_tip(
        tipper=scene.guest,
        slot_id=scene.slot.pk,
        amount_minor=amount,
        message=message,
        show_in_room=show_in_room,
        key=key,
    )


def deliver(event: WebhookEvent | None, capture: Any) -> str:
    assert event is not None
    with capture(execute=True):
        return payments.process_event(webhook_event_id=event.pk)


def test_paying_marks_the_tip_paid_and_tells_guide_room_and_tipper_once(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    tip = start(scene)
    assert tip.payment is not None

    outcome = deliver(payments.complete_test_payment(payment=tip.payment), django_capture_on_commit_callbacks)

    tip.refresh_from_db()
    assert outcome == "paid"
    assert tip.status == Tip.Status.PAID
    assert tip.paid_at is not None
    # The guide's and staff's sockets: amount, name, message and the running total.
    (received_session, received), (thanks_session, thanks) = published
    assert received_session == thanks_session == scene.session.pk
    assert received["a"] == realtime.MODERATORS
    frame = json.loads(received["f"])
    assert frame == {
        "type": "tip.received",
        "id": tip.pk,
        "name": "Ada Lovelace",
        "amount_minor": 1000,
        "amount": "10.00",
        "currency": "EUR",
        "message": "Bravissima!",
        "show_in_room": True,
        "total_minor": 1000,
        "total": "10.00",
        "paid_at": frame["paid_at"],
    }
    # Everyone: the name, never the amount or the message.
    assert thanks["a"] == realtime.ALL
    assert json.loads(thanks["f"]) == {"type": "tip.thanks", "id": tip.pk, "name": "Ada Lovelace"}
    guide_notice = Notification.objects.get(user=scene.guide_user)
    assert guide_notice.kind == "tip_received"
    assert guide_notice.title == "Ada Lovelace tipped you 10.00 EUR"
    assert guide_notice.url == reverse("tips:tips_received")
    receipt = OutboundEmail.objects.get()
    assert receipt.to == [scene.guest.email]
    assert receipt.subject == "Your tip of 10.00 EUR to Giulia Romano"
    assert "Amount: 10.00 EUR" in receipt.body_text
    assert "Your message: Bravissima!" in receipt.body_text
    assert Notification.objects.filter(user=scene.guest, kind="tip_receipt").count() == 1


def test_the_succeeded_event_delivered_again_has_no_second_effect(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    tip = start(scene)
    assert tip.payment is not None
    event = payments.complete_test_payment(payment=tip.payment)
    assert deliver(event, django_capture_on_commit_callbacks) == "paid"

    # The same event again (a webhook retry), the same id recorded again, and a second event for
    # the same intent (the TEST MODE page pressed twice), and reconciliation.
    assert deliver(event, django_capture_on_commit_callbacks) == "duplicate"
    assert event is not None
    again = payments.record_event(
        provider="test",
        event=ProviderEvent(id=event.event_id, type=event.type, created=0, object={}, payload=event.payload),
    )
    assert again is not None
    assert again.pk == event.pk
    second = payments.complete_test_payment(payment=tip.payment)
    assert second is not None
    assert second.pk != event.pk
    assert deliver(second, django_capture_on_commit_callbacks) == "already paid"
    with django_capture_on_commit_callbacks(execute=True):
        assert payments.reconcile_recent_payments() == 0
        # Even a direct second call of the handler does nothing.
        payment = Payment.objects.get(pk=tip.payment.pk)
        services.tip_payment_succeeded(payment)

    assert [json.loads(envelope["f"])["type"] for _, envelope in published] == ["tip.received", "tip.thanks"]
    assert Notification.objects.filter(user=scene.guide_user).count() == 1
    assert OutboundEmail.objects.count() == 1
    tip.refresh_from_db()
    assert tip.status == Tip.Status.PAID


def test_without_the_tippers_consent_the_room_sees_nothing_and_the_guide_still_does(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    tip = start(scene, show_in_room=False)
    assert tip.payment is not None
    deliver(payments.complete_test_payment(payment=tip.payment), django_capture_on_commit_callbacks)

    assert [json.loads(envelope["f"])["type"] for _, envelope in published] == ["tip.received"]
    assert published[0][1]["a"] == realtime.MODERATORS


def test_the_running_total_adds_up_the_sessions_paid_tips(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    other = scene.book(name="Ben")
    first = start(scene, amount=500, key="a")
    second = services.start_tip(
        tipper=other, slot_id=scene.slot.pk, amount_minor=2000, message="", show_in_room=False, key="b"
    )
    unpaid = start(scene, amount=5000, key="c")
    for tip in (first, second):
        assert tip.payment is not None
        deliver(payments.complete_test_payment(payment=tip.payment), django_capture_on_commit_callbacks)

    totals = [json.loads(envelope["f"])["total_minor"] for _, envelope in published if envelope["a"] == "mods"]
    assert totals == [500, 2500]
    assert Tip.objects.get(pk=unpaid.pk).status == Tip.Status.PENDING


def test_a_tip_paid_after_the_tour_ended_is_not_announced_in_the_room(
    db: None, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    scene = make_scene(status="ended", minutes_ago=200)
    tip = start(scene, show_in_room=True)
    assert tip.payment is not None
    assert not tip.during_live
    deliver(payments.complete_test_payment(payment=tip.payment), django_capture_on_commit_callbacks)

    assert Tip.objects.get(pk=tip.pk).status == Tip.Status.PAID
    assert published == []
    assert Notification.objects.filter(user=scene.guide_user, kind="tip_received").count() == 1
    assert OutboundEmail.objects.count() == 1


def test_a_declined_tip_stays_unpaid_and_tells_nobody(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    tip = start(scene)
    assert tip.payment is not None
    assert (
        deliver(payments.complete_test_payment(payment=tip.payment, succeed=False), django_capture_on_commit_callbacks)
        == "released"
    )

    tip.refresh_from_db()
    assert tip.status == Tip.Status.FAILED
    assert "declined" in tip.failure_message
    assert published == []
    assert not Notification.objects.exists()
    assert not OutboundEmail.objects.exists()
    client = Client()
    client.force_login(scene.guest)
    page = client.get(reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})).content.decode()
    assert "This tip was not paid, so nothing was charged." in page


def test_the_pay_page_returns_to_the_tip_page_which_says_thank_you(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(scene.guest)
    pay_url = client.post(reverse("tips:tip", kwargs={"slot_id": scene.slot.pk}), {"amount": "500", "key": "page-key"})[
        "Location"
    ]
    tip = Tip.objects.get()
    assert tip.payment is not None

    with django_capture_on_commit_callbacks(execute=True):
        paid = client.post(reverse("payments:test_pay", kwargs={"payment_id": tip.payment.pk}), {"outcome": "pay"})

    assert pay_url == reverse("payments:pay", kwargs={"payment_id": tip.payment.pk})
    assert paid["Location"] == reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})
    page = client.get(paid["Location"]).content.decode()
    assert "Thank you! Giulia Romano has been told" in page
    assert "You can close this tab and go back to the tour." in page
    # A paid tip's form key leads to its page, not to a second payment.
    again = client.post(reverse("tips:tip", kwargs={"slot_id": scene.slot.pk}), {"amount": "500", "key": "page-key"})
    assert again["Location"] == reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})


def test_another_person_cannot_see_a_tip(scene: TipScene) -> None:
    tip = start(scene)
    stranger = scene.book()
    client = Client()
    client.force_login(stranger)
    assert client.get(reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})).status_code == 404
    client.force_login(scene.guide_user)
    assert client.get(reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})).status_code == 404


def test_a_provider_refusal_leaves_no_pending_tip_and_a_fresh_form(
    scene: TipScene, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments.providers import ProviderError
    from payments.providers.test_mode import TestModeProvider

    def refuse(self: Any, **kwargs: Any) -> Any:
        raise ProviderError("The payment service is unavailable.", retryable=True)

    monkeypatch.setattr(TestModeProvider, "create_payment_intent", refuse)
    client = Client()
    client.force_login(scene.guest)
    response = client.post(reverse("tips:tip", kwargs={"slot_id": scene.slot.pk}), {"amount": "500", "key": "k-1"})

    assert response.status_code == 503
    assert "nothing was charged" in response.content.decode()
    assert 'value="k-1"' not in response.content.decode()  # a retry is a new tip attempt
    tip = Tip.objects.get()
    assert tip.status == Tip.Status.FAILED
    assert Payment.objects.get().status == Payment.Status.FAILED


def test_an_abandoned_tip_is_cancelled_by_the_payments_expiry_and_shows_as_not_paid(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    tip = start(scene)
    assert tip.payment is not None
    assert tip.payment.expires_at == tip.created_at + timedelta(hours=24)

    with django_capture_on_commit_callbacks(execute=True):
        released = payments.expire_due_payments(now=tip.created_at + timedelta(hours=24, seconds=1))

    assert released == 1
    tip.refresh_from_db()
    assert tip.status == Tip.Status.FAILED
    assert Payment.objects.get(pk=tip.payment_id).status == Payment.Status.CANCELLED
    assert published == []


def test_the_guides_live_feed_lists_the_sessions_paid_tips_for_catching_up(
    scene: TipScene, published: list[tuple[int, dict[str, Any]]], django_capture_on_commit_callbacks: Any
) -> None:
    first = start(scene, amount=500, key="f1", message="<i>uno</i>")
    second = start(scene, amount=2000, key="f2")
    start(scene, amount=700, key="f3")  # not paid: not in the feed
    for tip in (first, second):
        assert tip.payment is not None
        deliver(payments.complete_test_payment(payment=tip.payment), django_capture_on_commit_callbacks)
    url = reverse("tips:live_tips_feed", kwargs={"session_id": scene.session.pk})
    guide = Client()
    guide.force_login(scene.guide_user)

    response = guide.get(url)

    assert response.status_code == 200
    body = response.json()
    assert (body["total_minor"], body["total"], body["currency"]) == (2500, "25.00", "EUR")
    assert [(tip["id"], tip["amount"], tip["type"]) for tip in body["tips"]] == [
        (first.pk, "5.00", "tip.received"),
        (second.pk, "20.00", "tip.received"),
    ]
    assert body["tips"][0]["message"] == "<i>uno</i>"  # JSON data: the page inserts it as text
    # The same frames the socket carried.
    live = [json.loads(envelope["f"]) for _, envelope in published if envelope["a"] == realtime.MODERATORS]
    assert [frame["id"] for frame in live] == [first.pk, second.pk]
    assert {key for frame in live for key in frame} == {key for tip in body["tips"] for key in tip}


def test_only_the_guide_and_staff_may_read_the_live_feed(scene: TipScene) -> None:
    url = reverse("tips:live_tips_feed", kwargs={"session_id": scene.session.pk})
    guest = Client()
    guest.force_login(scene.guest)
    staff = Client()
    staff.force_login(scene.book(role="staff"))

    assert guest.get(url).status_code == 403
    assert "Only the guide" in guest.get(url).json()["error"]
    assert Client().get(url).status_code == 403
    assert staff.get(url).status_code == 200
    assert staff.get(reverse("tips:live_tips_feed", kwargs={"session_id": 999_999})).status_code == 404
    assert staff.post(url).status_code == 405
