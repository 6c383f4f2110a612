"""The main pages as a keyboard, screen-reader or phone user meets them, on the live site.

Checks that hold on every page: each form control and button has an accessible name, one h1,
every image an alt attribute, a skip link that moves focus to <main>, nothing wider than a phone
screen. The pages are also saved as screenshots (phone and desktop) in test-results/screenshots/
for a person to look at; that folder is not committed.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from pprint import pformat
from typing import Any

import pytest
from django.core.files.base import ContentFile
from PIL import Image
from playwright.sync_api import Page, expect

from tests.factories import (
    GuideProfileFactory,
    LanguageFactory,
    OutboundEmailFactory,
    TourFactory,
    TourPhotoFactory,
    VerifiedUserFactory,
)

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-results" / "screenshots"

# Names as assistive technology would compute them, in the order that matters here: a control
# named by aria-labelledby, aria-label, its <label>s or a title; a button or link by its text
# (including images' alt text) when it has no aria name.
_UNNAMED_CONTROLS = """
() => {
  const text = (node) => (node ? node.textContent || "" : "");
  const ariaName = (element) => {
    const ids = (element.getAttribute("aria-labelledby") || "").split(/\\s+/).filter(Boolean);
    const referenced = ids.map((id) => text(document.getElementById(id))).join(" ");
    return `${referenced} ${element.getAttribute("aria-label") || ""}`;
  };
  const visibleText = (element) => {
    const alts = [...element.querySelectorAll("img[alt]")].map((image) => image.alt).join(" ");
    return `${element.innerText || element.textContent || ""} ${alts} ${element.value || ""}`;
  };
  const describe = (element) => element.outerHTML.slice(0, 160);
  const unnamed = [];
  for (const control of document.querySelectorAll("input, select, textarea")) {
    if (control.type === "hidden") continue;
    const labels = [...(control.labels || [])].map(text).join(" ");
    if (!`${ariaName(control)} ${labels} ${control.title || ""}`.trim()) unnamed.push(describe(control));
  }
  for (const element of document.querySelectorAll("button, a[href]")) {
    if (!`${ariaName(element)} ${visibleText(element)} ${element.title || ""}`.trim()) unnamed.push(describe(element));
  }
  return unnamed;
}
"""


@dataclass(frozen=True)
class SiteContent:
    tour_path: str
    guide_path: str
    edit_path: str
    outbox_path: str
    guide: Any


def _photo(width: int, height: int) -> ContentFile[bytes]:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (29, 90, 133)).save(buffer, format="JPEG")
    return ContentFile(buffer.getvalue(), name="photo.jpg")


@pytest.fixture
def site_content() -> SiteContent:
    """A catalogue that looks like the real one: a photo-sized cover, a gallery, long texts."""
    english, italian = LanguageFactory(code="en", name="English"), LanguageFactory(code="it", name="Italian")
    guide_user = VerifiedUserFactory(email="giulia@example.com", role="guide", name="Giulia Rossi")
    giulia = GuideProfileFactory(user=guide_user, display_name="Giulia Rossi", city="Rome")
    tour = TourFactory(
        guide=giulia,
        title="Trastevere Food Crawl: supplì, cacio e pepe and the best gelato south of the Tiber",
        summary="Three hours of Roman street food, live from the cobblestones, with a local who grew up here.",
        description="We start at Piazza di Santa Maria.\n\nThen we eat. A lot.",
        category="food",
        price=25,
        languages=[english, italian],
    )
    tour.cover_photo.save("cover.jpg", _photo(1600, 900))
    for caption in ("Piazza di Santa Maria", "Supplì at the counter"):
        TourPhotoFactory(tour=tour, caption=caption, image__width=800, image__height=600)
    for title, city, category in (("Uffizi Highlights", "Florence", "art"), ("Grand Canal", "Venice", "walking")):
        TourFactory(title=title, city=city, category=category, languages=[english])
    email = OutboundEmailFactory(
        to=["new.visitor@example.com"],
        subject="[Italy From Couch] Please confirm your e-mail address",
        body_text="To confirm the address and finish signing up, open this link:\n\n"
        "http://127.0.0.1:8000/accounts/confirm-email/MQ:1vAbCd:averyveryverylongsignedkeythatdoesnotbreakanywhere0123456789/\n",
    )
    return SiteContent(
        tour_path=tour.get_absolute_url(),
        guide_path=giulia.get_absolute_url(),
        edit_path=f"/dashboard/tours/{tour.slug}/edit/",
        outbox_path=f"/dev/outbox/{email.pk}/",
        guide=guide_user,
    )


def _problems_on(page: Page) -> dict[str, Any]:
    """What this page gets wrong, keyed by check; empty when it passes all of them."""
    problems: dict[str, Any] = {}
    unnamed = page.evaluate(_UNNAMED_CONTROLS)
    if unnamed:
        problems["controls without an accessible name"] = unnamed
    h1_count = page.locator("h1").count()
    if h1_count != 1:
        problems["h1 elements"] = h1_count
    without_alt = page.locator("img:not([alt])").evaluate_all("(images) => images.map((image) => image.src)")
    if without_alt:
        problems["images without alt"] = without_alt
    return problems


def _skip_link_problems(page: Page) -> list[str]:
    """Tab from the top of the page, press Enter on the skip link: focus must land on <main>."""
    page.locator("body").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.className + ' ' + document.activeElement.textContent")
    if "skip-link" not in focused:
        return [f"first Tab focuses {focused.strip()!r}, not the skip link"]
    problems = []
    box = page.locator(".skip-link").bounding_box()
    if box is None or box["y"] < 0:
        problems.append(f"the focused skip link is off screen ({box})")
    page.keyboard.press("Enter")
    if page.evaluate("() => document.activeElement.id") != "main":
        problems.append("Enter on the skip link does not move focus to <main>")
    # The next Tab continues inside the content, not back in the header.
    page.keyboard.press("Tab")
    if not page.evaluate("() => document.getElementById('main').contains(document.activeElement)"):
        problems.append("Tab after the skip link leaves <main>")
    return problems


def test_main_pages_name_their_controls_have_one_h1_alt_texts_and_a_working_skip_link(new_page, site_content):
    page = new_page()
    found = {}
    for path in ("/", "/tours/", site_content.tour_path, "/accounts/login/", "/accounts/signup/"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        problems = _problems_on(page)
        skip_link = _skip_link_problems(page)
        if skip_link:
            problems["skip link"] = skip_link
        if problems:
            found[path] = problems

    assert not found, pformat(found)


def test_signed_in_guide_pages_name_their_controls_and_have_one_h1(new_page, site_content):
    page = new_page(user=site_content.guide)
    found = {}
    for path in ("/profile/", "/dashboard/", site_content.edit_path, "/profile/guide/"):
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        problems = _problems_on(page)
        if problems:
            found[path] = problems

    assert not found, pformat(found)


def test_phone_nav_opens_and_closes_with_the_menu_button_and_escape(new_page, site_content):
    page = new_page(viewport=PHONE)
    page.goto("/")
    toggle = page.get_by_role("button", name="Menu")
    tours_link = page.get_by_role("navigation", name="Main").get_by_role("link", name="Tours")

    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_have_attribute("aria-controls", "site-nav")
    expect(tours_link).to_be_hidden()

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(tours_link).to_be_visible()
    box = tours_link.bounding_box()
    assert box is not None
    assert box["height"] >= 44  # a comfortable tap target

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(tours_link).to_be_hidden()

    # Keyboard: open, walk into the menu, Escape closes it and puts focus back on the button.
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    expect(tours_link).to_be_focused()
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    expect(tours_link).to_be_hidden()

    # The open menu leads somewhere: the link works from the phone layout.
    toggle.click()
    tours_link.click()
    expect(page.locator("h1")).to_have_text("Tours")
    expect(page.get_by_role("button", name="Menu")).to_have_attribute("aria-expanded", "false")


def test_desktop_shows_the_nav_without_a_menu_button(new_page, site_content):
    page = new_page(viewport=DESKTOP)
    page.goto("/")

    expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Tours")).to_be_visible()


def _overflow(page: Page) -> dict[str, Any] | None:
    """Elements that stick out of the viewport sideways (so the page scrolls horizontally)."""
    found: dict[str, Any] | None = page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          if (document.documentElement.scrollWidth <= width) return null;
          // The innermost elements that stick out (their parents stick out because of them).
          const sticksOut = (element) => element.getBoundingClientRect().right > width + 1;
          const culprits = [...document.querySelectorAll("body *")]
            .filter((element) => sticksOut(element) && ![...element.children].some(sticksOut))
            .map((element) => {
              const position = getComputedStyle(element).position;
              const name = `${element.tagName.toLowerCase()}.${element.className}`.slice(0, 60);
              return position === "static" ? name : `${name} (position: ${position})`;
            });
          return {scrollWidth: document.documentElement.scrollWidth, width, culprits: culprits.slice(0, 5)};
        }"""
    )
    return found


# Known sideways overflows, reported to their owners (remove an entry once it is fixed: the test
# fails when the list is out of date in either direction).
# - dashboard (phone): the visually-hidden "Edit <title>" text is position:absolute inside
#   .table-wrap, which is not positioned, so it escapes the scroll box (fix: .table-wrap
#   { position: relative; } in static/css/site.css).
# - outbox (phone): notifications/outbox.html's table is not in a .table-wrap.
# - outbox-message (phone): .outbox-body is a <pre> that never wraps long links.
KNOWN_OVERFLOWS: set[str] = set()


def test_pages_fit_a_phone_screen_and_can_be_saved_as_screenshots(new_page, site_content, browser_problems):
    """No page scrolls sideways on a phone. With E2E_SCREENSHOTS=1 every page is also saved (phone
    and desktop, full length) in test-results/screenshots/ for a person to review."""
    save_screenshots = os.environ.get("E2E_SCREENSHOTS") == "1"
    public = {
        "home": "/",
        "tours": "/tours/",
        "tours-filtered-empty": "/tours/?q=nothing-matches-this",
        "tour": site_content.tour_path,
        "guide": site_content.guide_path,
        "login": "/accounts/login/",
        "signup": "/accounts/signup/",
        "password-reset": "/accounts/password/reset/",
        "outbox": "/dev/outbox/",
        "outbox-message": site_content.outbox_path,
        "not-found": "/no-such-page/",
    }
    signed_in = {
        "profile": "/profile/",
        "dashboard": "/dashboard/",
        "tour-edit": site_content.edit_path,
        "tour-new": "/dashboard/tours/new/",
        "guide-page-edit": "/profile/guide/",
    }
    sizes = (("phone", PHONE), ("desktop", DESKTOP)) if save_screenshots else (("phone", PHONE),)
    overflowing = {}
    for size_name, viewport in sizes:
        for user, pages in ((None, public), (site_content.guide, signed_in)):
            page = new_page(user=user, viewport=viewport)
            for name, path in pages.items():
                page.goto(path)
                if save_screenshots:
                    _save_screenshot(page, SCREENSHOTS / f"{name}-{size_name}.png")
                problem = _overflow(page)
                if problem:
                    overflowing[f"{name} ({size_name})"] = problem
            page.context.close()
    browser_problems.expect(r"status of 404 .*/no-such-page/")

    assert set(overflowing) == KNOWN_OVERFLOWS, pformat(
        {
            "new": {key: overflowing[key] for key in set(overflowing) - KNOWN_OVERFLOWS},
            "fixed": KNOWN_OVERFLOWS - set(overflowing),
        }
    )


def _save_screenshot(page: Page, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Lazy images below the fold would be blank in a full-page capture: load them all first.
    page.evaluate(
        """() => Promise.all([...document.images].map((image) => {
          image.loading = "eager";
          return image.complete ? null : new Promise((done) => { image.onload = image.onerror = done; });
        }))"""
    )
    page.screenshot(path=path, full_page=True)
