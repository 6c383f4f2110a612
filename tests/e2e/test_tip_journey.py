"""A guest tips the guide during a live tour in TEST MODE; the guide's broadcast page acknowledges
it at once, the room sees the thank-you moment, and the guide's tips and earnings pages show it.

Real parts throughout: uvicorn with the live socket and the room, PostgreSQL (when DATABASE_URL
names it), Chromium with its fake camera, the test-mode payment provider whose "Pay" button emits
the event Stripe would send, processed by the same code as Stripe's webhooks.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from payments.models import Payment
from payments.tips import services
from payments.tips.models import Tip
from streaming.models import LiveSession
from tests.e2e.test_live_pages import broadcast_url, open_session, wait_for_playing_video, watch_url
from tests.e2e.test_live_room import ROOM_TIMEOUT_MS, booked_guest, drop_connection, wait_joined
from tests.factories import GuidePaymentAccountFactory
from tests.support.payments import pay

pytestmark = pytest.mark.browser


def test_a_guest_tips_during_the_live_tour_and_the_guide_sees_it_at_once(new_page: Any) -> None:
    session = open_session()
    guide = session.slot.guide
    GuidePaymentAccountFactory(guide=guide)
    ada = booked_guest(session, name="Ada")
    ben = booked_guest(session, name="Ben")
    guide_page = new_page(user=guide.user)
    guide_page.goto(broadcast_url(session))
    wait_for_playing_video(guide_page, "#live-preview")
    guide_page.locator("#live-go").click(timeout=15_000)
    wait_joined(guide_page)
    expect(guide_page.locator("#tips-total")).to_have_text("0.00 EUR")
    ada_page = new_page(user=ada)
    ben_page = new_page(user=ben, reduced_motion="reduce")
    for page in (ada_page, ben_page):
        page.goto(watch_url(session))
        wait_for_playing_video(page, "#live-video")
        wait_joined(page)

    # The tip form opens in a new tab: the tour keeps playing in this one.
    with ada_page.context.expect_page() as opened:
        ada_page.locator("#tip-button").click()
    tip_tab = opened.value
    tip_tab.wait_for_load_state()
    expect(tip_tab.locator("[data-test-mode-notice]")).to_contain_text("TEST MODE — no money moves.")
    tip_tab.get_by_label("10.00 EUR").check()
    tip_tab.get_by_label("A message for your guide (optional)").fill("Grazie <b>Giulia</b>!")
    tip_tab.get_by_label(re.compile("Show a short “thank you”")).check()
    tip_tab.get_by_role("button", name="Continue to payment").click()

    expect(tip_tab).to_have_url(re.compile(r"/payments/\d+/pay/$"))
    expect(tip_tab.locator("[data-pay-page] [data-test-mode-notice]")).to_contain_text("TEST MODE — no money moves.")
    expect(tip_tab.locator("[data-pay-page] h1")).to_have_text(f"Your tip for {guide.display_name}")
    expect(tip_tab.locator("[data-amount]")).to_have_text("10.00 EUR")
    tip_tab.get_by_role("button", name="Pay 10.00 EUR (test)").click()

    tip = Tip.objects.get()
    expect(tip_tab).to_have_url(re.compile(rf"/tips/{tip.pk}/$"))
    expect(tip_tab.locator("[data-tip-paid]")).to_contain_text("Thank you!")

    # The guide's page: a toast with the name, amount and message (as text), and the running total.
    toast = guide_page.locator(f"#tips-toasts li[data-tip-id='{tip.pk}']")
    expect(toast).to_contain_text("Ada tipped 10.00 EUR", timeout=ROOM_TIMEOUT_MS)
    expect(toast.locator(".live-tips__message")).to_have_text("Grazie <b>Giulia</b>!")
    expect(toast.locator("b")).to_have_count(0)
    expect(guide_page.locator("#tips-total")).to_have_text("10.00 EUR")
    # Everyone else: the thank-you moment over the video, with the name and no amount.
    for page in (ben_page, ada_page):
        banner = page.locator("#live-stage .tip-thanks")
        expect(banner).to_have_text("Thank you, Ada, for the tip!", timeout=ROOM_TIMEOUT_MS)
    assert (
        ben_page.evaluate("() => getComputedStyle(document.querySelector('#live-stage .tip-thanks')).animationName")
        == "none"
    )  # reduced motion: nothing moves
    expect(ben_page.locator("#tips-toasts")).to_have_count(0)  # guests get no acknowledgement list
    # The video never stopped for the guest who tipped.
    wait_for_playing_video(ada_page, "#live-video")

    paid = Tip.objects.get()
    assert (paid.status, paid.amount_minor, paid.show_in_room, paid.during_live) == ("paid", 1000, True, True)
    assert Payment.objects.get(pk=paid.payment_id).status == Payment.Status.SUCCEEDED

    # The guide's tips page (a second tab: the broadcast goes on) lists it, ready to be thanked.
    tips_tab = guide_page.context.new_page()
    tips_tab.goto("/dashboard/tips/")
    row = tips_tab.locator(f"[data-tip-row='{tip.pk}']")
    expect(row.locator("[data-tipper]")).to_have_text("Ada")
    expect(row.locator("[data-tip-amount]")).to_have_text("10.00 EUR")
    expect(row.locator("[data-tip-message]")).to_have_text("Grazie <b>Giulia</b>!")
    row.get_by_label("Your thank-you message").fill("Grazie Ada, a presto!")
    row.get_by_role("button", name="Send thank-you").click()
    expect(tips_tab.locator(f"[data-tip-row='{tip.pk}'] [data-thank-you-sent]")).to_contain_text(
        "Grazie Ada, a presto!"
    )
    tips_tab.goto("/dashboard/earnings/")
    expect(tips_tab.locator("tbody tr[data-currency='EUR'] [data-tips]").first).to_contain_text("10.00")
    tips_tab.close()

    tip_tab.reload()
    expect(tip_tab.locator("[data-tip-thanks] blockquote")).to_have_text("Grazie Ada, a presto!")


def test_a_tip_paid_while_the_guides_socket_was_down_is_acknowledged_after_the_reconnect(new_page: Any) -> None:
    session = open_session()
    LiveSession.objects.filter(pk=session.pk).update(status="live", started_at=timezone.now())
    GuidePaymentAccountFactory(guide=session.slot.guide)
    ada = booked_guest(session, name="Ada")
    guide_page = new_page(user=session.slot.guide.user)
    # Between the page and the real server: the tip's live event is lost on the way down.
    state = {"lose_tips": True}
    sockets: dict[str, Any] = {}

    def route(page_side: Any) -> None:
        server_side = page_side.connect_to_server()
        sockets["guide"] = (page_side, server_side)

        def to_page(message: str | bytes) -> None:
            if state["lose_tips"] and isinstance(message, str) and '"tip.received"' in message:
                return
            page_side.send(message)

        page_side.on_message(lambda message: server_side.send(message))
        server_side.on_message(to_page)

    guide_page.route_web_socket(re.compile(r"/ws/live/"), route)
    guide_page.goto(broadcast_url(session))
    wait_joined(guide_page)
    expect(guide_page.locator("#tips-total")).to_have_text("0.00 EUR")

    tip = services.start_tip(
        tipper=ada, slot_id=session.slot_id, amount_minor=500, message="Da lontano", show_in_room=False, key="away-1"
    )
    assert tip.payment is not None
    pay(tip.payment)
    assert Tip.objects.get(pk=tip.pk).status == Tip.Status.PAID
    guide_page.wait_for_timeout(1_000)
    expect(guide_page.locator("#tips-toasts li")).to_have_count(0)  # nothing arrived

    # The connection drops and comes back: the page catches up from the tips feed.
    state["lose_tips"] = False
    drop_connection(sockets["guide"])
    toast = guide_page.locator(f"#tips-toasts li[data-tip-id='{tip.pk}']")
    expect(toast).to_contain_text("Ada tipped 5.00 EUR", timeout=ROOM_TIMEOUT_MS)
    expect(toast.locator(".live-tips__message")).to_have_text("Da lontano")
    expect(guide_page.locator("#tips-total")).to_have_text("5.00 EUR")
    expect(guide_page.locator("#tips-toasts li")).to_have_count(1)
