"""Issue 2's first browser journey: a visitor finds a tour, signs up through the outbox e-mail, and
sets the time zone and language of the new profile.

Everything happens through the pages a person sees after ``make run``: the verification e-mail is
read on /dev/outbox/ (SHOW_DEV_OUTBOX is on in the embedded default the live server runs).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, Page, expect

from accounts.models import User
from notifications.models import OutboundEmail
from tests.factories import GuideProfileFactory, LanguageFactory, TourFactory

pytestmark = pytest.mark.browser

VISITOR_EMAIL = "new.visitor@example.com"
VISITOR_PASSWORD = "Gelato-al-pistacchio-42"


@pytest.fixture
def catalogue() -> dict[str, object]:
    """Two guides, four published tours across cities, categories and languages, one draft."""
    english = LanguageFactory(code="en", name="English")
    italian = LanguageFactory(code="it", name="Italian")
    giulia = GuideProfileFactory(display_name="Giulia Rossi", city="Rome")
    marco = GuideProfileFactory(display_name="Marco Bianchi", city="Florence")
    TourFactory(guide=giulia, title="Colosseum at Dawn", city="Rome", category="history", languages=[english])
    trastevere = TourFactory(
        guide=giulia,
        title="Trastevere Food Crawl",
        summary="Supplì, cacio e pepe and a glass of Frascati.",
        city="Rome",
        category="food",
        price=Decimal("25.00"),
        languages=[english, italian],
    )
    TourFactory(
        guide=marco,
        title="Uffizi Highlights",
        summary="Botticelli's Venus up close.",
        city="Florence",
        category="art",
        languages=[english],
    )
    TourFactory(guide=marco, title="Chianti Vineyard Walk", city="Florence", category="food", languages=[italian])
    TourFactory(guide=marco, title="Secret Draft Tour", city="Florence", category="food", status="draft")
    return {"giulia": giulia, "trastevere": trastevere}


def _card_titles(page: Page) -> Locator:
    return page.locator(".card__title")


def test_visitor_filters_tours_signs_up_through_the_outbox_and_sets_time_zone(new_page, live_site, catalogue):
    page = new_page(timezone_id="America/New_York", locale="en-US")

    # --- Home: the browser reports its zone once, while the server does not know it yet.
    with page.expect_response(lambda response: "/preferences/detect/" in response.url) as detected:
        page.goto("/")
    assert detected.value.status == 204
    expect(page.locator("h1")).to_have_text("Italy, live, from your couch")

    # --- Tours: every published tour, alphabetical; the draft is not listed.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tours").click()
    expect(page).to_have_url(re.compile(r"/tours/$"))
    expect(_card_titles(page)).to_have_text(
        ["Chianti Vineyard Walk", "Colosseum at Dawn", "Trastevere Food Crawl", "Uffizi Highlights"]
    )
    expect(page.locator("#results-heading")).to_have_text("4 tours")

    search = page.get_by_role("search")
    search.get_by_label("Category").select_option(label="Food & wine")
    search.get_by_role("button", name="Show tours").click()
    expect(_card_titles(page)).to_have_text(["Chianti Vineyard Walk", "Trastevere Food Crawl"])
    expect(page.locator("#results-heading")).to_have_text("2 tours")

    # The chosen category stays selected after the reload, so a second filter narrows the first.
    expect(search.get_by_label("Category")).to_have_value("food")
    search.get_by_label("City").select_option("Rome")
    search.get_by_role("button", name="Show tours").click()
    expect(_card_titles(page)).to_have_text(["Trastevere Food Crawl"])
    expect(page).to_have_url(re.compile(r"[?&]category=food(&|$)"))
    expect(page).to_have_url(re.compile(r"[?&]city=Rome(&|$)"))

    search.get_by_role("link", name="Clear filters").click()
    expect(_card_titles(page)).to_have_count(4)
    search.get_by_label("Search").fill("botticelli")
    search.get_by_label("Search").press("Enter")
    expect(_card_titles(page)).to_have_text(["Uffizi Highlights"])

    search.get_by_label("Search").fill("no such tour anywhere")
    search.get_by_label("Search").press("Enter")
    expect(_card_titles(page)).to_have_count(0)
    expect(page.get_by_text("No tours match your search.")).to_be_visible()

    # Search by the guide's name, then open the tour from its card.
    search.get_by_label("Search").fill("giulia")
    search.get_by_label("Search").press("Enter")
    expect(_card_titles(page)).to_have_text(["Colosseum at Dawn", "Trastevere Food Crawl"])
    page.get_by_role("link", name="Trastevere Food Crawl").click()

    # --- Tour page: title, facts and the guide's page.
    trastevere = catalogue["trastevere"]
    expect(page).to_have_url(re.compile(rf"/tours/{trastevere.slug}/$"))
    expect(page.locator("h1")).to_have_text("Trastevere Food Crawl")
    expect(page.locator(".tour-detail dd.price")).to_have_text("25.00 EUR")
    guide_link = page.get_by_role("complementary").get_by_role("link", name="Giulia Rossi")
    expect(guide_link).to_have_attribute("href", f"/guides/{catalogue['giulia'].slug}/")

    # --- Sign up.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign up").click()
    expect(page.locator("h1")).to_have_text("Create your account")
    page.get_by_label("Email").fill(VISITOR_EMAIL)
    page.get_by_label(re.compile(r"^Password:?$")).fill(VISITOR_PASSWORD)
    page.get_by_label("Password (again)").fill(VISITOR_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("h1")).to_have_text("Check your e-mail")
    # Mandatory verification: signed up, but not signed in yet.
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

    # The zone and language the browser reported on the first visit became the new profile's.
    signed_up = User.objects.get(email=VISITOR_EMAIL)
    assert (signed_up.timezone, signed_up.language) == ("America/New_York", "en")

    # The e-mail is a stored row (the pipeline's first step), one, addressed to the new account only.
    confirmations = [email for email in OutboundEmail.objects.all() if VISITOR_EMAIL in email.to]
    assert [email.to for email in confirmations] == [[VISITOR_EMAIL]]

    # --- Read it in the developer outbox, as a newcomer after `make run` would.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Outbox (dev)").click()
    expect(page.locator("h1")).to_have_text("Outbox")
    message_row = page.get_by_role("row").filter(has_text=VISITOR_EMAIL)
    expect(message_row).to_have_count(1)
    message_row.get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text("Confirm")
    confirmation_link = page.locator(".outbox-body a").filter(has_text="/accounts/confirm-email/")
    expect(confirmation_link).to_have_count(1)
    # The link points at the site the visitor is on (built from the request's host).
    assert (confirmation_link.get_attribute("href") or "").startswith(f"{live_site.url}/accounts/confirm-email/")
    confirmation_link.click()

    # --- Confirm (a GET only shows the form: ACCOUNT_CONFIRM_EMAIL_ON_GET is off).
    expect(page.locator("h1")).to_have_text("Confirm your e-mail address")
    expect(page.locator("main strong")).to_have_text(VISITOR_EMAIL)
    page.get_by_role("button", name="Confirm").click()

    # Confirmed in the browser that signed up: logged in at once (ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION).
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    user = User.objects.get(email=VISITOR_EMAIL)
    assert user.emailaddress_set.get().verified is True

    # --- Profile: the zone the browser reported on the first visit was copied at sign-up.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    expect(page.locator("h1")).to_have_text("Your profile")
    profile_form = page.locator("main form.form")
    expect(profile_form.get_by_label("Time zone")).to_have_value("America/New_York")
    expect(profile_form.get_by_label("Language")).to_have_value("en")
    expect(page.locator(".site-footer__timezone")).to_contain_text("Times shown in America/New_York")

    profile_form.get_by_label("Name").fill("Ada Visitor")
    profile_form.get_by_label("Time zone").select_option("Asia/Kathmandu")
    profile_form.get_by_label("Language").select_option("it")
    before = datetime.now(ZoneInfo("Asia/Kathmandu"))
    profile_form.get_by_role("button", name="Save").click()

    # Saved: the page now speaks Italian and prints the local time in Kathmandu (UTC+5:45).
    expect(page.locator("html")).to_have_attribute("lang", "it")
    expect(page.locator("main form.form select[name=timezone]")).to_have_value("Asia/Kathmandu")
    expect(page.locator("main form.form select[name=language]")).to_have_value("it")
    expect(page.locator(".site-footer__timezone")).to_contain_text("Asia/Kathmandu")
    local_time = page.locator("main p").filter(has_text="(Asia/Kathmandu)").locator("strong")
    after = datetime.now(ZoneInfo("Asia/Kathmandu"))
    shown = re.search(r"(\d{2}):(\d{2})$", local_time.inner_text())
    assert shown is not None, local_time.inner_text()
    # Between the two clocks read around the request (the minute may tick over in between).
    candidates = {moment.strftime("%H:%M") for moment in (before, after, before + timedelta(minutes=1))}
    assert f"{shown[1]}:{shown[2]}" in candidates
    user.refresh_from_db()
    assert (user.name, user.timezone, user.language) == ("Ada Visitor", "Asia/Kathmandu", "it")

    # --- Log out (a POST form in the nav), then log in again with the form.
    # Text selectors stop here: the page is Italian now (and fully translated once .mo files exist).
    page.locator("form.site-nav__form button[type=submit]").click()
    expect(page.locator("form.site-nav__form")).to_have_count(0)
    page.goto("/accounts/login/")
    page.locator("input[name=login]").fill(VISITOR_EMAIL)
    page.locator("input[name=password]").fill(VISITOR_PASSWORD)
    page.locator("main form.form button[type=submit]").click()
    expect(page.locator("form.site-nav__form")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".site-footer__timezone")).to_contain_text("Asia/Kathmandu")
