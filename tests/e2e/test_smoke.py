"""The browser-test harness itself: uvicorn (as in production) serves the site, Chromium loads it cleanly."""

from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.factories import UserFactory

pytestmark = pytest.mark.browser


def test_home_page_comes_from_uvicorn_with_its_stylesheet_and_script(page, live_site):
    statuses: dict[str, int] = {}
    page.on("response", lambda response: statuses.setdefault(urlsplit(response.url).path, response.status))

    response = page.goto("/")

    assert response is not None
    assert response.status == 200
    assert response.headers["server"] == "uvicorn"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert statuses["/static/css/site.css"] == 200
    assert statuses["/static/build/site.js"] == 200
    # Every stylesheet and script the page links to was served, not just the two above.
    linked = page.evaluate(
        "() => [...document.querySelectorAll('link[rel=stylesheet], script[src]')]"
        ".map((element) => new URL(element.href || element.src).pathname)"
    )
    assert {path: statuses.get(path) for path in linked} == dict.fromkeys(linked, 200)
    # site.css applied (its custom properties resolve), site.js ran (it marks <html class="js">).
    assert page.evaluate("document.styleSheets.length") >= 1
    assert page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('--color-bg')").strip()
    assert "js" in (page.get_attribute("html", "class") or "").split()
    assert page.get_attribute("html", "lang") == "en"
    # No console error or CSP violation: the page fixture fails the test at teardown otherwise.


def test_server_answers_a_websocket_to_an_unknown_path_without_hanging(page, live_site, browser_problems):
    page.goto("/")

    closed = page.evaluate(
        """(url) => new Promise((resolve) => {
            const started = performance.now();
            const socket = new WebSocket(url);
            let opened = false;
            socket.onopen = () => { opened = true; };
            socket.onclose = (event) => resolve({opened, code: event.code, ms: performance.now() - started});
        })""",
        f"{live_site.ws_url}/ws/no-such-route/",
    )

    assert closed["opened"] is False
    assert closed["code"] == 1006  # the handshake was refused
    assert closed["ms"] < 5_000
    # The handshake reached the server (a refused connection reads "net::ERR_CONNECTION_REFUSED").
    browser_problems.expect(r"/ws/no-such-route/' failed: Error during WebSocket handshake: Unexpected response code")


def test_uploaded_media_are_served_from_the_test_media_root(page):
    name = default_storage.save("e2e/hello.txt", ContentFile(b"ciao from MEDIA_ROOT"))
    try:
        response = page.request.get(f"/media/{name}")

        assert response.status == 200
        assert response.body() == b"ciao from MEDIA_ROOT"
    finally:
        default_storage.delete(name)


def test_new_page_logs_in_a_user_the_test_created_in_the_zone_and_locale_asked_for(new_page):
    user = UserFactory(email="visitor@example.com")

    page = new_page(user=user, timezone_id="America/New_York", locale="en-US")
    page.goto("/")

    assert page.get_by_role("button", name="Log out").is_visible()
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "America/New_York"
    assert page.evaluate("navigator.language") == "en-US"


def test_chromium_has_a_fake_camera_and_offers_plain_ip_host_candidates(page):
    page.goto("/")

    media = page.evaluate(
        """async () => {
            const stream = await navigator.mediaDevices.getUserMedia({video: true, audio: true});
            const kinds = stream.getTracks().map((track) => track.kind).sort();
            stream.getTracks().forEach((track) => track.stop());
            const connection = new RTCPeerConnection();
            connection.createDataChannel("probe");
            const candidates = [];
            const gathered = new Promise((resolve) => {
                connection.onicecandidate = (event) => {
                    if (event.candidate) candidates.push(event.candidate.address);
                    else resolve();
                };
            });
            await connection.setLocalDescription(await connection.createOffer());
            await gathered;
            connection.close();
            return {kinds, candidates};
        }"""
    )

    assert media["kinds"] == ["audio", "video"]
    # WebRtcHideLocalIpsWithMdns is off (the --disable-features merge in tests/e2e/fixtures.py).
    assert media["candidates"]
    assert not [address for address in media["candidates"] if address.endswith(".local")]
