"""Tip histories for guests and guides, and the guide's thank-you: a saved text or a personal one,
sent once per tip by e-mail (a real SMTP server) and in-app."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from notifications.models import Notification, OutboundEmail
from payments.tips import services
from payments.tips.models import GuideTipSettings, Tip
from tests.factories import UserFactory
from tests.support.payments import pay
from tests.tips.conftest import TipScene, make_scene


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def paid_tip(
    scene: TipScene, *, amount: int = 1000, key: str = "k1", message: str = "Grazie!", tipper: Any = None
) -> Tip:
    tip = services.start_tip(
        tipper=tipper or scene.guest,
        slot_id=scene.slot.pk,
        amount_minor=amount,
        message=message,
        show_in_room=False,
        key=key,
    )
    assert tip.payment is not None
    # "duplicate" in a transactional test: the on-commit task already processed the event.
    assert pay(tip.payment) in ("paid", "duplicate")
    tip.refresh_from_db()
    assert tip.status == Tip.Status.PAID
    return tip


def thank(client: Client, tip: Tip, text: str) -> Any:
    return client.post(reverse("tips:thank_tip", kwargs={"tip_id": tip.pk}), {"text": text})


@pytest.mark.django_db(transaction=True)
def test_the_guide_thanks_a_tip_once_and_the_tipper_gets_it_by_email_and_in_app(smtp_transport: Any) -> None:
    scene = make_scene()
    tip = paid_tip(scene)
    smtp_transport.wait_for(1)  # the receipt
    smtp_transport.clear()
    guide = logged_in(scene.guide_user)

    first = thank(guide, tip, "Grazie Ada, a presto a Roma!")
    second = thank(guide, tip, "Thanks again!")

    assert first.status_code == second.status_code == 302
    tip.refresh_from_db()
    assert tip.thank_you_text == "Grazie Ada, a presto a Roma!"
    assert tip.thanked_at is not None
    (received,) = smtp_transport.wait_for(1)
    assert received.envelope_to == (scene.guest.email,)
    assert received.message["Subject"] == "Giulia Romano says thank you"
    assert "Grazie Ada, a presto a Roma!" in received.message.get_content()
    assert OutboundEmail.objects.filter(idempotency_key=f"tip:{tip.pk}:thanks").count() == 1
    notice = Notification.objects.get(user=scene.guest, kind="tip_thanks")
    assert notice.body == "Grazie Ada, a presto a Roma!"
    page = guide.get(reverse("tips:tips_received")).content.decode()
    assert "You have already thanked this guest for this tip." in page  # the second attempt's message
    assert "Thanks again!" not in page
    # The guest's history shows the thanks.
    history = logged_in(scene.guest).get(reverse("tips:my_tips")).content.decode()
    assert "Grazie Ada, a presto a Roma!" in history
    assert 'data-tip-thanked="yes"' in history


@pytest.mark.django_db
def test_the_saved_text_is_offered_for_each_tip_and_can_be_changed_per_tip() -> None:
    scene = make_scene()
    first = paid_tip(scene, key="a")
    second = paid_tip(scene, key="b", amount=2000)
    guide = logged_in(scene.guide_user)

    saved = guide.post(reverse("tips:save_thank_you_text"), {"thank_you_text": "Grazie di cuore <3"})
    page = guide.get(reverse("tips:tips_received")).content.decode()
    thank(guide, first, "Grazie di cuore <3")
    thank(guide, second, "Ada, you asked the best questions. Grazie!")

    assert saved.status_code == 302
    assert GuideTipSettings.objects.get(guide=scene.guide).thank_you_text == "Grazie di cuore <3"
    # Offered (escaped) in each unthanked tip's form.
    assert page.count(">Grazie di cuore &lt;3</textarea>") == 2
    assert Tip.objects.get(pk=first.pk).thank_you_text == "Grazie di cuore <3"
    assert Tip.objects.get(pk=second.pk).thank_you_text == "Ada, you asked the best questions. Grazie!"
    assert Notification.objects.filter(user=scene.guest, kind="tip_thanks").count() == 2


@pytest.mark.django_db
def test_only_the_tips_guide_can_thank_and_only_a_paid_tip() -> None:
    scene = make_scene()
    tip = paid_tip(scene)
    unpaid = services.start_tip(
        tipper=scene.guest, slot_id=scene.slot.pk, amount_minor=500, message="", show_in_room=False, key="unpaid"
    )
    other_guide = make_scene(guest_name="Someone").guide_user

    assert thank(logged_in(other_guide), tip, "Not my tip").status_code == 302
    assert thank(logged_in(scene.guide_user), unpaid, "Too early").status_code == 302
    assert thank(logged_in(scene.guest), tip, "I am no guide").status_code == 403

    assert Tip.objects.get(pk=tip.pk).thanked_at is None
    assert Tip.objects.get(pk=unpaid.pk).thanked_at is None
    assert not Notification.objects.filter(kind="tip_thanks").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "error"), [("   ", "Write a thank-you message"), ("x" * 1001, "at most 1000 characters")]
)
def test_an_empty_or_too_long_thank_you_is_refused_with_a_message(text: str, error: str) -> None:
    scene = make_scene()
    tip = paid_tip(scene)
    guide = logged_in(scene.guide_user)

    response = thank(guide, tip, text)

    assert response.status_code == 302
    assert error in guide.get(response["Location"]).content.decode()
    assert Tip.objects.get(pk=tip.pk).thanked_at is None


@pytest.mark.django_db
def test_each_history_shows_only_its_own_tips() -> None:
    scene = make_scene()
    other = make_scene(guest_name="Ben Bellini")
    mine = paid_tip(scene, message="From Ada")
    theirs = paid_tip(other, message="From Ben")
    pending = services.start_tip(
        tipper=scene.guest, slot_id=scene.slot.pk, amount_minor=700, message="pending one", show_in_room=False, key="p"
    )

    guest_page = logged_in(scene.guest).get(reverse("tips:my_tips")).content.decode()
    guide_page = logged_in(scene.guide_user).get(reverse("tips:tips_received")).content.decode()

    assert f'data-tip-row="{mine.pk}"' in guest_page
    assert f'data-tip-row="{pending.pk}"' in guest_page  # the guest sees a tip still to pay
    assert f'data-tip-row="{theirs.pk}"' not in guest_page
    assert "10.00 EUR" in guest_page
    assert f'data-tip-row="{mine.pk}"' in guide_page
    assert f'data-tip-row="{pending.pk}"' not in guide_page  # not money yet
    assert f'data-tip-row="{theirs.pk}"' not in guide_page
    assert "From Ada" in guide_page
    assert "Ada Lovelace" in guide_page
    assert "From Ben" not in guide_page


@pytest.mark.django_db
def test_the_guides_pages_are_for_guides_only() -> None:
    customer = UserFactory()
    client = logged_in(customer)
    for name in ("tips:tips_received", "tips:earnings"):
        assert client.get(reverse(name)).status_code == 403
        assert Client().get(reverse(name)).status_code == 302
    assert client.post(reverse("tips:save_thank_you_text"), {"thank_you_text": "x"}).status_code == 403
