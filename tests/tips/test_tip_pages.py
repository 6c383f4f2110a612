"""The tip form: who may open it, which amounts pass, one tip per form, the rate limit, and the
clear refusal when the guide cannot receive payments (free tours stay bookable)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from bookings import reservations
from bookings.models import Booking, Slot
from payments.models import Payment
from payments.tips.models import Tip
from payments.tips.rules import RATE_LIMIT_TIPS
from streaming.models import LiveSession, SessionBan
from tests.factories import BookingFactory, SlotFactory, TourFactory, UserFactory
from tests.tips.conftest import TipScene, make_scene

pytestmark = pytest.mark.django_db


def tip_url(slot: Slot) -> str:
    return reverse("tips:tip", kwargs={"slot_id": slot.pk})


def logged_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_tip(client: Client, slot: Slot, **fields: Any) -> Any:
    data = {"amount": "1000", "custom_amount": "", "message": "", "key": "form-key-1", **fields}
    return client.post(tip_url(slot), data)


# --- Who may tip ------------------------------------------------------------------------------------


def test_a_booked_guest_gets_the_form_with_5_10_20_in_the_tours_currency_in_test_mode(scene: TipScene) -> None:
    response = logged_in(scene.guest).get(tip_url(scene.slot))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="500"' in page
    assert "5.00 EUR" in page
    assert 'value="1000"' in page
    assert "10.00 EUR" in page
    assert 'value="2000"' in page
    assert "20.00 EUR" in page
    assert "Between 1.00 EUR and 500.00 EUR." in page
    assert "TEST MODE — no money moves." in page
    assert 'name="show_in_room"' in page  # live: the room may see a thank-you moment


def test_after_the_tour_the_form_has_no_room_moment(db: None) -> None:
    scene = make_scene(status="ended", minutes_ago=200)
    page = logged_in(scene.guest).get(tip_url(scene.slot)).content.decode()
    assert 'name="amount"' in page
    assert 'name="show_in_room"' not in page


def _stranger(scene: TipScene) -> Any:
    return UserFactory()


def _pending_guest(scene: TipScene) -> Any:
    user = UserFactory()
    BookingFactory(user=user, slot=scene.slot, status=Booking.Status.PENDING_PAYMENT)
    return user


def _cancelled_guest(scene: TipScene) -> Any:
    user = UserFactory()
    BookingFactory(user=user, slot=scene.slot, status=Booking.Status.CANCELLED)
    return user


def _banned_guest(scene: TipScene) -> Any:
    user = scene.book()
    SessionBan.objects.create(session=scene.session, user=user, by=scene.guide_user)
    return user


def _staff_without_booking(scene: TipScene) -> Any:
    return UserFactory(role="staff")


@pytest.mark.parametrize(
    ("who", "text"),
    [
        (lambda scene: scene.guide_user, "Guides cannot tip themselves."),
        (_stranger, "Only guests with a booking for this tour can tip its guide."),
        (_staff_without_booking, "Only guests with a booking for this tour can tip its guide."),
        (_pending_guest, "Your booking for this tour is waiting for payment."),
        (_cancelled_guest, "Only guests with a booking for this tour can tip its guide."),
        (_banned_guest, "You were removed from this live tour."),
    ],
)
def test_only_confirmed_guests_other_than_the_guide_may_tip(scene: TipScene, who: Any, text: str) -> None:
    client = logged_in(who(scene))

    shown = client.get(tip_url(scene.slot))
    posted = post_tip(client, scene.slot)

    for response in (shown, posted):
        assert response.status_code == 403
        assert text in response.content.decode()
    assert not Tip.objects.exists()
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("change", "text"),
    [
        ({"status": "scheduled", "started_at": None}, "Tips open when the live tour starts."),
    ],
)
def test_before_the_tour_goes_live_tips_are_not_open(scene: TipScene, change: dict[str, Any], text: str) -> None:
    LiveSession.objects.filter(pk=scene.session.pk).update(**change)
    response = logged_in(scene.guest).get(tip_url(scene.slot))
    assert response.status_code == 403
    assert text in response.content.decode()


def test_a_cancelled_date_and_a_long_past_tour_take_no_tips(db: None) -> None:
    cancelled = make_scene(status="live")
    Slot.objects.filter(pk=cancelled.slot.pk).update(status=Slot.Status.CANCELLED)
    old = make_scene(status="ended", minutes_ago=60 * 24 * 40)
    for scene, text in ((cancelled, "was cancelled"), (old, "closed 30 days after it ended")):
        response = logged_in(scene.guest).get(tip_url(scene.slot))
        assert response.status_code == 403
        assert text in response.content.decode()


def test_an_unknown_date_is_404_and_anonymous_people_are_sent_to_log_in(scene: TipScene) -> None:
    assert logged_in(scene.guest).get(reverse("tips:tip", kwargs={"slot_id": 999_999})).status_code == 404
    response = Client().get(tip_url(scene.slot))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_form_needs_its_csrf_token(scene: TipScene) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(scene.guest)
    assert post_tip(client, scene.slot).status_code == 403
    assert not Tip.objects.exists()


# --- Amounts and the message -------------------------------------------------------------------------


def test_a_suggested_amount_opens_a_tip_payment_to_the_guide_and_goes_to_the_pay_page(scene: TipScene) -> None:
    response = post_tip(logged_in(scene.guest), scene.slot, amount="2000", message="Grazie mille!", show_in_room="on")

    tip = Tip.objects.get()
    payment = Payment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("payments:pay", kwargs={"payment_id": payment.pk})
    assert (tip.amount_minor, tip.currency, tip.message, tip.show_in_room, tip.during_live) == (
        2000,
        "EUR",
        "Grazie mille!",
        True,
        True,
    )
    assert (tip.status, tip.tipper, tip.guide, tip.booking, tip.session) == (
        "pending",
        scene.guest,
        scene.guide,
        scene.booking,
        scene.session,
    )
    assert tip.payment == payment
    assert (payment.kind, payment.payer, payment.guide, payment.amount_minor, payment.currency) == (
        "tip",
        scene.guest,
        scene.guide,
        2000,
        "EUR",
    )
    # The pay page says whom the money is for, in the reader's language (not "Pay to confirm").
    client = logged_in(scene.guest)
    page = client.get(response["Location"]).content.decode()
    assert f"<h1>Your tip for {escape(scene.guide.display_name)}</h1>" in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "it"
    page = client.get(response["Location"]).content.decode()
    assert f"<h1>La tua mancia per {escape(scene.guide.display_name)}</h1>" in page
    assert payment.application_fee_minor == 300  # PLATFORM_FEE_PERCENT (15) of 20.00
    assert payment.booking is None
    assert payment.provider_reference.startswith("pi_test_")
    assert payment.metadata["return_path"] == reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})
    assert payment.metadata["tip_id"] == str(tip.pk)


def test_the_pay_page_of_a_tip_is_labelled_test_mode(scene: TipScene) -> None:
    client = logged_in(scene.guest)
    pay_page = client.get(post_tip(client, scene.slot)["Location"])
    assert pay_page.status_code == 200
    assert "TEST MODE — no money moves." in pay_page.content.decode()
    assert "10.00 EUR" in pay_page.content.decode()


@pytest.mark.parametrize(("custom", "amount_minor"), [("12,50", 1250), ("1", 100), ("500", 50_000), ("7.5", 750)])
def test_a_custom_amount_within_the_limits_is_taken(scene: TipScene, custom: str, amount_minor: int) -> None:
    response = post_tip(logged_in(scene.guest), scene.slot, amount="custom", custom_amount=custom)
    assert response.status_code == 302
    assert Tip.objects.get().amount_minor == amount_minor
    assert Payment.objects.get().amount_minor == amount_minor


def test_an_amount_typed_in_wins_over_the_preselected_button(scene: TipScene) -> None:
    post_tip(logged_in(scene.guest), scene.slot, amount="1000", custom_amount="3")
    assert Tip.objects.get().amount_minor == 300


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        ({"amount": "custom", "custom_amount": "0.99"}, "The smallest tip is 1.00 EUR."),
        ({"amount": "custom", "custom_amount": "500.01"}, "The largest tip is 500.00 EUR."),
        ({"amount": "custom", "custom_amount": "-5"}, "Enter an amount such as 7 or 12.50."),
        ({"amount": "custom", "custom_amount": "ten"}, "Enter an amount such as 7 or 12.50."),
        ({"amount": "custom", "custom_amount": ""}, "Enter the amount you want to give."),
        ({"amount": "999"}, "Select a valid choice."),  # a tampered radio value
        ({"amount": ""}, "This field is required."),
        ({"message": "x" * 301}, "at most 300 characters"),
        ({"key": ""}, "This field is required."),
    ],
)
def test_bad_amounts_and_messages_are_form_errors_and_write_nothing(
    scene: TipScene, fields: dict[str, str], text: str
) -> None:
    response = post_tip(logged_in(scene.guest), scene.slot, **fields)

    assert response.status_code == 400
    assert text in response.content.decode()
    assert not Tip.objects.exists()
    assert not Payment.objects.exists()


@pytest.mark.parametrize("setting", [{"TIP_MIN_MINOR": 1500, "TIP_MAX_MINOR": 2500}])
def test_the_limits_come_from_settings(scene: TipScene, settings: Any, setting: dict[str, int]) -> None:
    for name, value in setting.items():
        setattr(settings, name, value)
    client = logged_in(scene.guest)
    page = client.get(tip_url(scene.slot)).content.decode()
    assert 'value="2000"' in page
    assert 'value="500"' not in page
    assert 'value="1000"' not in page
    assert post_tip(client, scene.slot, amount="1000").status_code == 400  # not offered, so not valid
    assert post_tip(client, scene.slot, amount="custom", custom_amount="14.99").status_code == 400
    assert post_tip(client, scene.slot, amount="custom", custom_amount="15").status_code == 302


def test_the_message_is_stored_as_written_and_shown_escaped(scene: TipScene) -> None:
    client = logged_in(scene.guest)
    post_tip(client, scene.slot, message='<script>alert("x")</script> Grazie!')
    tip = Tip.objects.get()
    assert tip.message == '<script>alert("x")</script> Grazie!'

    page = client.get(reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})).content.decode()
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; Grazie!" in page
    assert '<script>alert("x")' not in page


# --- One tip per form ------------------------------------------------------------------------------------


def test_a_resubmitted_form_makes_one_tip_and_one_payment(scene: TipScene) -> None:
    client = logged_in(scene.guest)
    first = post_tip(client, scene.slot, amount="500")
    again = post_tip(client, scene.slot, amount="500")
    # Even if the second submission differs, the key names the first tip.
    changed = post_tip(client, scene.slot, amount="2000")

    assert first["Location"] == again["Location"] == changed["Location"]
    assert Tip.objects.count() == 1
    assert Payment.objects.count() == 1
    assert Payment.objects.get().amount_minor == 500


def test_the_same_key_from_another_person_is_another_tip(scene: TipScene) -> None:
    other = scene.book()
    post_tip(logged_in(scene.guest), scene.slot)
    post_tip(logged_in(other), scene.slot)
    assert Tip.objects.count() == 2
    assert Payment.objects.count() == 2


def test_new_tips_are_rate_limited_but_a_resubmission_is_not(scene: TipScene) -> None:
    client = logged_in(scene.guest)
    for number in range(RATE_LIMIT_TIPS):
        assert post_tip(client, scene.slot, key=f"key-{number}").status_code == 302

    refused = post_tip(client, scene.slot, key="one-too-many")
    resubmitted = post_tip(client, scene.slot, key="key-0")

    assert refused.status_code == 429
    assert "many tips in a short time" in refused.content.decode()
    assert resubmitted.status_code == 302
    assert Tip.objects.count() == RATE_LIMIT_TIPS


# --- The guide cannot receive payments --------------------------------------------------------------------


def test_a_guide_without_a_ready_account_gets_no_tips_and_says_so_clearly(db: None) -> None:
    scene = make_scene(ready=False)
    client = logged_in(scene.guest)

    shown = client.get(tip_url(scene.slot))
    posted = post_tip(client, scene.slot)

    for response in (shown, posted):
        assert response.status_code == 409
        assert "Giulia Romano cannot receive tips yet: their payout account is not ready." in response.content.decode()
    assert not Tip.objects.exists()
    assert not Payment.objects.exists()
    # The booking page says so instead of offering the link.
    booking_page = client.get(scene.booking.get_absolute_url()).content.decode()
    assert "Giulia Romano cannot receive tips yet." in booking_page
    assert reverse("tips:tip", kwargs={"slot_id": scene.slot.pk}) not in booking_page


def test_a_guide_without_a_ready_account_still_runs_free_tours(db: None) -> None:
    scene = make_scene(ready=False)
    free_tour = TourFactory(guide=scene.guide, price=0)
    free_slot = SlotFactory(tour=free_tour, start=timezone.now() + timedelta(days=3))

    outcome = reservations.book_seat(user=scene.guest, slot_id=free_slot.pk, seats=1, idempotency_key="free-1")

    assert outcome.booking.status == Booking.Status.CONFIRMED
    assert outcome.payment is None


# --- Links to the form ------------------------------------------------------------------------------------


def test_the_booking_page_links_to_the_tip_form_during_and_after_the_tour_only(db: None) -> None:
    live = make_scene(status="live")
    later = make_scene(status="scheduled", minutes_ago=-60 * 24)
    url = reverse("tips:tip", kwargs={"slot_id": live.slot.pk})

    assert url in logged_in(live.guest).get(live.booking.get_absolute_url()).content.decode()
    later_page = logged_in(later.guest).get(later.booking.get_absolute_url()).content.decode()
    assert reverse("tips:tip", kwargs={"slot_id": later.slot.pk}) not in later_page


def test_the_tour_summary_page_offers_the_tip_after_the_tour(db: None) -> None:
    scene = make_scene(status="ended", minutes_ago=200)
    page = logged_in(scene.guest).get(reverse("streaming:keepsake", kwargs={"session_id": scene.session.pk}))
    assert page.status_code == 200
    assert reverse("tips:tip", kwargs={"slot_id": scene.slot.pk}) in page.content.decode()
    # The guide's own view of the summary offers no tip to themself.
    own = logged_in(scene.guide_user).get(reverse("streaming:keepsake", kwargs={"session_id": scene.session.pk}))
    assert reverse("tips:tip", kwargs={"slot_id": scene.slot.pk}) not in own.content.decode()


def test_the_watch_page_has_the_tip_button_in_a_new_tab_and_the_broadcast_page_the_total(scene: TipScene) -> None:
    watch = logged_in(scene.guest).get(reverse("streaming:watch", kwargs={"session_id": scene.session.pk}))
    broadcast = logged_in(scene.guide_user).get(reverse("streaming:broadcast", kwargs={"session_id": scene.session.pk}))

    watch_page = watch.content.decode()
    assert (
        f'href="{reverse("tips:tip", kwargs={"slot_id": scene.slot.pk})}" target="_blank" rel="noopener"' in watch_page
    )
    assert 'id="tip-strings"' in watch_page
    broadcast_page = broadcast.content.decode()
    assert 'id="tips-total" data-total-minor="0" data-currency="EUR">0.00 EUR<' in broadcast_page
    assert 'id="tip-button"' not in broadcast_page
    feed = reverse("tips:live_tips_feed", kwargs={"session_id": scene.session.pk})
    assert f'data-feed-url="{feed}" data-seen-tips=""' in broadcast_page
