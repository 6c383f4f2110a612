"""The live pages in Chromium: the guide's camera preview, a refusal, and a guest watching the guide live.

Real parts throughout: uvicorn with the signalling consumer and the aiortc SFU in-process, Chromium
with its fake camera. WebRTC stays on loopback: the shared live server's SFU offers only a loopback
address (fixtures.py: live_site_settings; Chromium's flags there allow loopback candidates), never this machine's eth0.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import Slot
from streaming.models import LiveSession

pytestmark = pytest.mark.browser

# --- Data ----------------------------------------------------------------------------------------


def _make(factory_name: str, **fields: Any) -> Any:
    from tests import factories

    return getattr(factories, factory_name)(**fields)


def open_session() -> LiveSession:
    """A session whose room is open: the slot starts in 5 minutes."""
    start = timezone.now() + timedelta(minutes=5)
    slot: Slot = _make("SlotFactory", start=start, end=start + timedelta(minutes=90))
    session: LiveSession = _make("LiveSessionFactory", slot=slot)
    return session


def broadcast_url(session: LiveSession) -> str:
    return reverse("streaming:broadcast", kwargs={"session_id": session.pk})


def watch_url(session: LiveSession) -> str:
    return reverse("streaming:watch", kwargs={"session_id": session.pk})


# Counts the frames the element presents (requestVideoFrameCallback) and remembers where it started.
COUNT_FRAMES = """
(selector) => {
  const video = document.querySelector(selector);
  window.__frames = window.__frames || {};
  const counter = { count: 0, startTime: video.currentTime };
  window.__frames[selector] = counter;
  const tick = () => { counter.count += 1; video.requestVideoFrameCallback(tick); };
  video.requestVideoFrameCallback(tick);
}
"""

FRAMES_ADVANCED = """
(selector) => {
  const video = document.querySelector(selector);
  const counter = window.__frames[selector];
  return video.readyState >= 2 && video.videoWidth > 0 && counter.count >= 10 && video.currentTime > counter.startTime;
}
"""


def wait_for_playing_video(page: Any, selector: str, timeout: float = 20_000) -> None:
    """Frames decoded and presented, and the playback position moving: the video really plays."""
    page.evaluate(COUNT_FRAMES, selector)
    page.wait_for_function(FRAMES_ADVANCED, arg=selector, timeout=timeout, polling=200)


# --- Tests ---------------------------------------------------------------------------------------


def test_the_guide_sees_the_camera_preview_playing_without_csp_violations(new_page: Any) -> None:
    session = open_session()
    page = new_page(user=session.slot.guide.user)

    page.goto(broadcast_url(session))

    wait_for_playing_video(page, "#live-preview")
    assert page.evaluate("() => document.querySelector('#live-preview').readyState") >= 2
    assert page.evaluate("() => window.__cspViolations") == []
    # The socket is open (welcome arrived): the guide may go live.
    page.wait_for_function("() => !document.querySelector('#live-go').disabled")


def test_on_a_phone_both_pages_fit_the_screen_and_the_controls_are_reachable(new_page: Any) -> None:
    session = open_session()
    guest = _make("UserFactory")
    _make("BookingFactory", user=guest, slot=session.slot)
    phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
    guide_page = new_page(user=session.slot.guide.user, **phone)
    guest_page = new_page(user=guest, **phone)

    guide_page.goto(broadcast_url(session))
    guest_page.goto(watch_url(session))

    wait_for_playing_video(guide_page, "#live-preview")
    for page, controls in ((guide_page, ("#live-go", "#live-switch", "#live-mute")), (guest_page, ("#live-sound",))):
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        for selector in controls:
            box = page.locator(selector).bounding_box()
            assert box is not None
            assert box["height"] >= 44  # a thumb-sized target


def test_a_customer_without_a_booking_sees_the_refusal(new_page: Any, browser_problems: Any) -> None:
    session = open_session()
    page = new_page(user=_make("UserFactory"))

    response = page.goto(watch_url(session))

    assert response is not None
    assert response.status == 403
    assert page.locator("#live-refusal").inner_text() == "Only guests with a booking for this tour can watch it live."
    assert page.locator("[data-tour-link]").get_attribute("href") == session.slot.tour.get_absolute_url()
    assert page.locator("video").count() == 0
    # Chromium reports the 403 of the document itself on the console: that status is the point here.
    browser_problems.expect(r"status of 403 \(Forbidden\)")


def test_a_booked_guest_sees_the_guide_live_and_the_end(new_page: Any) -> None:
    session = open_session()
    guest = _make("UserFactory")
    _make("BookingFactory", user=guest, slot=session.slot)
    guide_page = new_page(user=session.slot.guide.user)
    guide_page.goto(broadcast_url(session))
    wait_for_playing_video(guide_page, "#live-preview")
    guide_page.locator("#live-go").click(timeout=15_000)
    guide_page.wait_for_function(
        "() => document.querySelector('#live-quality').dataset.quality === 'good'", timeout=20_000
    )

    guest_page = new_page(user=guest)
    guest_page.goto(watch_url(session))

    wait_for_playing_video(guest_page, "#live-video", timeout=30_000)
    assert guest_page.evaluate("() => document.querySelector('#live-video').videoWidth") > 0
    assert guest_page.evaluate("() => document.querySelector('#live-video').muted") is True
    guest_page.wait_for_function(
        "() => /^about \\d+ ms$/.test(document.querySelector('#live-delay').textContent)", timeout=10_000
    )
    session.refresh_from_db()
    assert session.status == LiveSession.Status.LIVE

    guest_page.locator("#live-sound").click()
    assert guest_page.evaluate("() => document.querySelector('#live-video').muted") is False

    guide_page.once("dialog", lambda dialog: dialog.accept())
    guide_page.locator("#live-end").click()

    guest_page.wait_for_function(
        "() => document.querySelector('#live-overlay').textContent.includes('This live tour is over.')", timeout=15_000
    )
    session.refresh_from_db()
    assert session.status == LiveSession.Status.ENDED
    assert session.ended_reason == LiveSession.EndedReason.GUIDE_ENDED


def test_a_guest_who_arrives_before_the_guide_starts_watching_when_the_guide_goes_live(new_page: Any) -> None:
    session = open_session()
    guest = _make("UserFactory")
    _make("BookingFactory", user=guest, slot=session.slot)
    guest_page = new_page(user=guest)
    guest_page.goto(watch_url(session))
    guest_page.wait_for_function(
        "() => document.querySelector('#live-overlay').textContent.includes('Waiting for the guide')"
    )
    guide_page = new_page(user=session.slot.guide.user)
    guide_page.goto(broadcast_url(session))
    wait_for_playing_video(guide_page, "#live-preview")

    guide_page.locator("#live-go").click(timeout=15_000)

    # publisher.changed reaches the waiting guest, who subscribes again and gets the media.
    wait_for_playing_video(guest_page, "#live-video", timeout=30_000)
    guest_page.wait_for_function("() => document.querySelector('#live-status').classList.contains('badge--live')")


def test_after_a_network_change_the_guide_republishes_and_the_guest_keeps_watching_without_a_reload(
    new_page: Any,
) -> None:
    session = open_session()
    guest = _make("UserFactory")
    _make("BookingFactory", user=guest, slot=session.slot)
    guide_page = new_page(user=session.slot.guide.user)
    guide_page.goto(broadcast_url(session))
    wait_for_playing_video(guide_page, "#live-preview")
    guide_page.locator("#live-go").click(timeout=15_000)
    guest_page = new_page(user=guest)
    guest_page.goto(watch_url(session))
    wait_for_playing_video(guest_page, "#live-video", timeout=30_000)
    guest_page.evaluate("() => { window.__firstStream = document.querySelector('#live-video').srcObject; }")
    guide_page.evaluate("() => { window.__samePage = true; }")
    session.refresh_from_db()
    epoch_before = session.publisher_epoch

    # The phone changes network: the browser goes offline, then online again.
    guide_page.context.set_offline(True)
    guide_page.context.set_offline(False)

    guest_page.wait_for_function(
        "() => document.querySelector('#live-video').srcObject !== window.__firstStream", timeout=20_000
    )
    wait_for_playing_video(guest_page, "#live-video", timeout=30_000)
    session.refresh_from_db()
    assert session.publisher_epoch > epoch_before
    assert guide_page.evaluate("() => window.__samePage") is True  # a reload would have dropped it


def test_a_guest_whose_signalling_connection_drops_reconnects_and_watches_again_without_a_reload(
    new_page: Any,
) -> None:
    session = open_session()
    guest = _make("UserFactory")
    _make("BookingFactory", user=guest, slot=session.slot)
    guide_page = new_page(user=session.slot.guide.user)
    guide_page.goto(broadcast_url(session))
    wait_for_playing_video(guide_page, "#live-preview")
    guide_page.locator("#live-go").click(timeout=15_000)
    guest_page = new_page(user=guest)
    # Every socket of the guest passes through the test, which can cut it like a network drop would.
    sockets: list[tuple[Any, Any]] = []

    def pass_through(route: Any) -> None:
        sockets.append((route, route.connect_to_server()))

    guest_page.route_web_socket(re.compile(r"/ws/live/"), pass_through)
    token_requests: list[str] = []
    guest_page.on("request", lambda request: token_requests.append(request.url) if "/token/" in request.url else None)
    guest_page.goto(watch_url(session))
    wait_for_playing_video(guest_page, "#live-video", timeout=30_000)
    guest_page.evaluate(
        "() => { window.__samePage = true; window.__firstStream = document.querySelector('#live-video').srcObject; }"
    )
    assert len(sockets) == 1
    assert token_requests == []  # the first connect uses the token in the page

    page_side, server_side = sockets[0]
    server_side.close()
    page_side.close(code=1012, reason="service restart")

    guest_page.wait_for_function(
        "() => document.querySelector('#live-video').srcObject !== window.__firstStream", timeout=20_000
    )
    wait_for_playing_video(guest_page, "#live-video", timeout=30_000)
    assert len(sockets) == 2
    assert token_requests == [f"{guest_page.url.split('/live/')[0]}/live/{session.pk}/token/?role=viewer"]
    assert guest_page.evaluate("() => window.__samePage") is True


def test_a_guest_removed_by_the_guide_is_told_why_and_the_page_does_not_reconnect(new_page: Any) -> None:
    from streaming.services import ban_viewer

    session = open_session()
    guest = _make("UserFactory")
    _make("BookingFactory", user=guest, slot=session.slot)
    guest_page = new_page(user=guest)
    sockets: list[Any] = []
    guest_page.on("websocket", lambda socket: sockets.append(socket))
    with guest_page.expect_websocket() as opened:
        guest_page.goto(watch_url(session))
    opened.value.wait_for_event("framereceived")  # welcome: the guest is in

    ban_viewer(by=session.slot.guide.user, session_id=session.pk, user=guest)

    # The consumer re-checks every 15 s: the kick (fatal, close 4403) arrives within that.
    error = guest_page.locator("#live-error")
    error.wait_for(state="visible", timeout=25_000)
    assert error.inner_text() == "You have been removed from this live tour."
    guest_page.wait_for_timeout(3_000)  # longer than the first backoff step (1 s)
    assert len(sockets) == 1
