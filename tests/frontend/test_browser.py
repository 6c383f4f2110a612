"""site.ts in a real browser, under the real CSP: nav toggle, preference detection, local times."""

import pytest
from playwright.sync_api import expect

from tests.frontend import urls as layout_urls

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def open_page(browser, live_server):
    contexts = []

    def open_(path="/", **context_options):
        context = browser.new_context(**context_options)
        contexts.append(context)
        page = context.new_page()
        page.problems = []  # console errors, including CSP violations, and uncaught exceptions
        page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
        page.on("pageerror", lambda error: page.problems.append(str(error)))
        page.goto(live_server.url + path)
        page.wait_for_load_state("networkidle")
        return page

    layout_urls.DETECT_REQUESTS.clear()
    yield open_
    for context in contexts:
        context.close()


def test_phone_menu_opens_closes_with_escape_and_returns_focus(open_page):
    page = open_page(viewport=PHONE, timezone_id="Europe/Rome")
    toggle = page.locator("[data-nav-toggle]")
    nav = page.get_by_role("navigation", name="Main")

    assert toggle.is_visible()
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not nav.is_visible()

    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true"
    assert nav.get_by_role("link", name="Tours").is_visible()

    nav.get_by_role("link", name="Tours").focus()
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not nav.is_visible()
    assert page.evaluate("document.activeElement.hasAttribute('data-nav-toggle')")
    assert page.problems == []


def test_desktop_shows_the_nav_without_a_menu_button(open_page):
    page = open_page(viewport=DESKTOP, timezone_id="Europe/Rome")

    assert not page.locator("[data-nav-toggle]").is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").is_visible()
    assert page.problems == []


def test_without_javascript_the_phone_nav_is_open_and_reachable(open_page):
    page = open_page(viewport=PHONE, java_script_enabled=False)

    assert not page.locator("[data-nav-toggle]").is_visible()
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign up").is_visible()


def test_skip_link_is_reached_first_and_moves_focus_to_main(open_page):
    page = open_page(viewport=DESKTOP, timezone_id="Europe/Rome")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    assert skip.is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_browser_zone_and_language_are_reported_once_then_times_render_in_that_zone(open_page):
    page = open_page(viewport=DESKTOP, timezone_id="Asia/Tokyo", locale="it-IT")

    # The home page shows times ([data-local-times]), so after a 204 it reloads once.
    # (Waiting through a locator: wait_for_function would need eval, which the CSP blocks.)
    page.locator("body[data-timezone-known='1']").wait_for(state="attached")
    # The reloaded page speaks the detected language and names the detected zone.
    expect(page.locator("footer")).to_contain_text("Orari indicati nel fuso orario Asia/Tokyo")
    assert layout_urls.DETECT_REQUESTS == [{"timezone": "Asia/Tokyo", "language": "it-IT"}]
    page.reload()
    page.wait_for_load_state("networkidle")
    assert len(layout_urls.DETECT_REQUESTS) == 1
    assert page.problems == []


def test_local_time_gets_a_tooltip_in_the_browser_zone(open_page):
    page = open_page(viewport=DESKTOP, timezone_id="America/New_York", locale="en-US")

    title = page.locator("time[data-local]").get_attribute("title")

    # 2031-05-04 16:00 UTC is 12:00 in New York (EDT).
    assert "May 4, 2031" in title
    assert "12:00" in title
    assert "EDT" in title


def test_real_detect_endpoint_accepts_what_site_ts_sends(open_page, settings):
    settings.ROOT_URLCONF = "italycouch.urls"
    page = open_page(viewport=DESKTOP, timezone_id="Asia/Tokyo", locale="en-GB")

    page.reload()  # the home page may not show times, so site.ts does not reload it itself

    expect(page.locator("footer")).to_contain_text("Times shown in Asia/Tokyo")
    assert page.locator("body").get_attribute("data-timezone-known") == "1"
    assert page.problems == []
