"""Issue 2's "done when": a guide can log in and edit a tour; a visitor can find it; staff can
manage all in the admin (and what they unpublish leaves the public catalogue)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from bookings.models import Tour
from tests.factories import (
    DEMO_PASSWORD,
    GuideProfileFactory,
    LanguageFactory,
    TourFactory,
    UserFactory,
    VerifiedUserFactory,
)

pytestmark = pytest.mark.browser


def _log_in_through_the_form(page: Page, *, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label(re.compile(r"^Email:?$")).fill(email)
    page.get_by_label(re.compile(r"^Password:?$")).fill(password)
    page.locator("main form").get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def _cover_photo(directory: Path) -> Path:
    """A real photo-sized PNG (wider than any screen), made with Pillow."""
    path = directory / "pantheon-cover.png"
    image = Image.new("RGB", (2400, 1350), (166, 67, 42))
    image.paste((29, 90, 133), (0, 900, 2400, 1350))  # a sea-blue band: not a blank image
    image.save(path, format="PNG")
    return path


def test_guide_edits_a_tour_with_a_new_cover_and_a_visitor_finds_it_by_its_new_title(new_page, tmp_path):
    guide_user = VerifiedUserFactory(email="giulia@example.com", role="guide")
    giulia = GuideProfileFactory(user=guide_user, display_name="Giulia Rossi")
    LanguageFactory(code="en", name="English")
    tour = TourFactory(guide=giulia, title="Pantheon Stroll", city="Rome", category="history", price=Decimal("10.00"))
    TourFactory(guide=giulia, title="Aventine Keyhole", city="Rome")
    TourFactory(title="Someone Else's Tour", city="Venice")  # another guide's: not on her dashboard
    original_slug = tour.slug

    page = new_page()
    _log_in_through_the_form(page, email="giulia@example.com", password=DEMO_PASSWORD)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.locator("h1")).to_have_text("Your tours")
    rows = page.locator("table tbody tr")
    expect(rows.locator("th")).to_have_text(["Aventine Keyhole", "Pantheon Stroll"])
    page.get_by_role("link", name="Edit Pantheon Stroll").click()

    expect(page.locator("h1")).to_have_text("Edit “Pantheon Stroll”")
    form = page.locator("main form.form")
    form.get_by_label("Title").fill("Pantheon by Night")
    form.get_by_label("Price").fill("39.50")
    form.get_by_label("Cover photo").set_input_files(_cover_photo(tmp_path))
    form.get_by_role("button", name="Save changes").click()

    expect(page.get_by_text("Tour “Pantheon by Night” saved.")).to_be_visible()
    expect(page.locator("h1")).to_have_text("Edit “Pantheon by Night”")
    current_cover = page.locator("main form figure img")
    expect(current_cover).to_have_count(1)
    # The upload was re-encoded (longest side at most 1600 px) and is served back.
    assert current_cover.evaluate("(image) => image.complete && image.naturalWidth") == 1600
    saved = Tour.objects.get(pk=tour.pk)
    assert (saved.title, saved.price, saved.slug) == ("Pantheon by Night", Decimal("39.50"), original_slug)
    assert (saved.cover_photo.name or "").startswith("tours/covers/")

    # --- A visitor, in a browser of their own, finds it by the new title with the new price.
    visitor = new_page()
    visitor.goto("/tours/")
    search = visitor.get_by_role("search")
    search.get_by_label("Search").fill("by night")
    search.get_by_role("button", name="Show tours").click()
    expect(visitor.locator(".card__title")).to_have_text(["Pantheon by Night"])
    card = visitor.locator(".card").filter(has_text="Pantheon by Night")
    expect(card.locator(".price")).to_have_text("39.50 EUR")
    expect(card.locator("img.card__media")).to_have_attribute("src", re.compile(r"^/media/tours/covers/"))
    card.locator("img.card__media").scroll_into_view_if_needed()  # lazy-loaded
    expect(card.locator("img.card__media")).to_have_js_property("complete", True)
    assert card.locator("img.card__media").evaluate("(image) => image.naturalWidth") == 1600
    # The old title no longer finds anything.
    search.get_by_label("Search").fill("Pantheon Stroll")
    search.get_by_role("button", name="Show tours").click()
    expect(visitor.locator(".card__title")).to_have_count(0)

    # Its address did not change with the title: links shared earlier still work.
    response = visitor.goto(f"/tours/{original_slug}/")
    assert response is not None
    assert response.status == 200
    expect(visitor.locator("h1")).to_have_text("Pantheon by Night")
    expect(visitor.locator(".tour-detail dd.price")).to_have_text("39.50 EUR")


def test_staff_find_a_tour_in_the_admin_set_it_to_draft_and_it_leaves_the_public_list(new_page, browser_problems):
    UserFactory(email="staff@example.com", role="staff", is_staff=True, is_superuser=True)
    venice = GuideProfileFactory(display_name="Chiara Venier", city="Venice")
    TourFactory(guide=venice, title="Grand Canal by Gondola", city="Venice", category="walking")
    murano = TourFactory(guide=venice, title="Murano Glass Workshop", city="Venice", category="art")
    TourFactory(title="Vatican Museums", city="Rome", category="museum")

    visitor = new_page()
    visitor.goto("/tours/")
    expect(visitor.locator(".card__title")).to_have_text(
        ["Grand Canal by Gondola", "Murano Glass Workshop", "Vatican Museums"]
    )

    admin = new_page()
    admin.goto("/admin/")
    expect(admin).to_have_url(re.compile(r"/admin/login/"))
    admin.locator("#id_username").fill("staff@example.com")
    admin.locator("#id_password").fill(DEMO_PASSWORD)
    admin.get_by_role("button", name="Log in").click()
    expect(admin.locator("#site-name")).to_be_visible()

    admin.get_by_role("link", name="Tours", exact=True).click()
    expect(admin).to_have_url(re.compile(r"/admin/bookings/tour/$"))
    result_titles = admin.locator("#result_list tbody th a")
    expect(result_titles).to_have_text(["Grand Canal by Gondola", "Murano Glass Workshop", "Vatican Museums"])

    # Filter by city in the sidebar, then search within it.
    admin.locator("#changelist-filter").get_by_role("link", name="Venice").click()
    expect(result_titles).to_have_text(["Grand Canal by Gondola", "Murano Glass Workshop"])
    admin.locator("#searchbar").fill("glass")
    admin.locator("#changelist-search").get_by_role("button", name="Search").click()
    expect(result_titles).to_have_text(["Murano Glass Workshop"])
    expect(admin).to_have_url(re.compile(r"[?&]city=Venice(&|$)"))

    result_titles.first.click()
    expect(admin).to_have_url(re.compile(rf"/admin/bookings/tour/{murano.pk}/change/"))
    admin.locator("#id_status").select_option("draft")
    admin.locator("input[name=_save]").click()
    expect(admin.locator(".messagelist .success")).to_contain_text("was changed successfully")

    murano.refresh_from_db()
    assert murano.status == Tour.Status.DRAFT

    # The public catalogue and the tour page no longer show it to visitors.
    visitor.goto("/tours/")
    expect(visitor.locator(".card__title")).to_have_text(["Grand Canal by Gondola", "Vatican Museums"])
    response = visitor.goto(f"/tours/{murano.slug}/")
    assert response is not None
    assert response.status == 404
    browser_problems.expect(rf"status of 404 .*/tours/{murano.slug}/")

    # Staff still see it on the site, marked as a draft.
    admin.goto(f"/tours/{murano.slug}/")
    expect(admin.get_by_role("status").filter(has_text="This tour is a draft")).to_be_visible()
