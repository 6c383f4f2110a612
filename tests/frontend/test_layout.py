"""The shared layout (templates/base.html and partials): landmarks, navigation, messages, footer."""

import pytest
from django.urls import reverse

from tests.factories import GuideFactory, UserFactory

pytestmark = pytest.mark.django_db


def nav_labels(document):
    nav = document.find("nav", aria_label="Main")
    return [node.text for node in nav.iter() if node.tag in {"a", "button"}]


def test_home_page_has_header_nav_main_and_footer_landmarks(page):
    document = page("/")

    html = document.find("html")
    assert html.attrs["lang"] == "en"
    assert document.find("meta", name="viewport").attrs["content"] == "width=device-width, initial-scale=1"
    assert document.find("title").text == "Home · Italy From Couch"
    header = document.find("header")
    assert header.find("a", **{"class": "brand"}).text == "Italy From Couch"
    assert header.find("nav", aria_label="Main")
    main = document.find("main")
    assert main.attrs["id"] == "main"
    assert main.attrs["tabindex"] == "-1"
    assert len(document.find_all("main")) == 1
    assert document.find("footer")


def test_stylesheet_and_module_script_come_from_static(page):
    document = page("/")

    assert [link.attrs["href"] for link in document.find_all("link", rel="stylesheet")] == ["/static/css/site.css"]
    scripts = document.find_all("script")
    assert [(script.attrs.get("type"), script.attrs.get("src")) for script in scripts] == [
        ("module", "/static/build/site.js")
    ]
    assert document.find("link", rel="icon").attrs["href"] == "/static/img/favicon.svg"


def test_skip_link_is_the_first_focusable_element_and_targets_main(page):
    document = page("/")

    focusable = [node for node in document.iter() if node.is_focusable()]
    assert focusable[0].tag == "a"
    assert focusable[0].attrs["href"] == "#main"
    assert focusable[0].text == "Skip to content"


def test_menu_button_controls_the_nav_and_stays_hidden_until_the_script_runs(page):
    document = page("/")

    toggle = document.find("button", **{"data-nav-toggle": ""})
    nav = document.find("nav", aria_label="Main")
    assert toggle.attrs["aria-controls"] == nav.attrs["id"] == "site-nav"
    assert toggle.attrs["aria-expanded"] == "false"
    assert "hidden" in toggle.attrs  # without JS there is no button, and the nav is open
    assert "data-state" not in nav.attrs


def test_anonymous_visitor_sees_tours_log_in_and_sign_up(page, settings):
    settings.SHOW_DEV_OUTBOX = False

    document = page("/")

    assert nav_labels(document) == ["Tours", "Calendar", "Log in", "Sign up"]
    nav = document.find("nav", aria_label="Main")
    assert [node.attrs["href"] for node in nav.find_all("a")] == [
        reverse("bookings:tour_list"),
        reverse("bookings:calendar"),
        reverse("account_login"),
        reverse("account_signup"),
    ]


def test_customer_sees_profile_and_a_log_out_button_that_posts(client, page, settings):
    settings.SHOW_DEV_OUTBOX = False
    client.force_login(UserFactory(role="customer"))

    document = page("/")

    assert nav_labels(document) == ["Tours", "Calendar", "My bookings", "Notifications", "Profile", "Log out"]
    form = document.find("nav", aria_label="Main").find("form")
    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == reverse("account_logout")
    assert form.find("input", name="csrfmiddlewaretoken")


def test_guide_sees_the_dashboard(client, page, settings):
    settings.SHOW_DEV_OUTBOX = False
    client.force_login(GuideFactory())

    assert nav_labels(page("/")) == [
        "Tours",
        "Calendar",
        "Dashboard",
        "Schedule",
        "My bookings",
        "Notifications",
        "Profile",
        "Log out",
    ]


def test_staff_sees_admin(client, page, settings):
    settings.SHOW_DEV_OUTBOX = False
    client.force_login(UserFactory(role="staff", is_staff=True))

    assert nav_labels(page("/")) == ["Tours", "Calendar", "My bookings", "Notifications", "Profile", "Admin", "Log out"]


def test_outbox_link_shows_only_when_the_dev_outbox_is_on(page, settings):
    settings.SHOW_DEV_OUTBOX = True
    assert "Outbox (dev)" in nav_labels(page("/"))

    settings.SHOW_DEV_OUTBOX = False
    assert "Outbox (dev)" not in nav_labels(page("/"))


def test_current_page_is_marked_in_the_nav(page):
    home = page("/")
    assert home.find("a", **{"class": "brand"}).attrs["aria-current"] == "page"
    assert "aria-current" not in home.find("a", href=reverse("bookings:tour_list")).attrs

    tours = page(reverse("bookings:tour_list"))
    assert "aria-current" not in tours.find("a", **{"class": "brand"}).attrs
    assert tours.find("a", href=reverse("bookings:tour_list")).attrs["aria-current"] == "page"


def test_test_mode_ribbon_shows_only_with_test_payments(page, settings):
    settings.PAYMENTS_PROVIDER = "test"
    ribbons = page("/").find_all("p", **{"data-test-mode": ""})
    assert [ribbon.text for ribbon in ribbons] == ["TEST MODE — no real payments"]
    assert any(node.tag == "header" for node in ribbons[0].ancestors())

    settings.PAYMENTS_PROVIDER = "stripe"
    assert page("/").find_all("p", **{"data-test-mode": ""}) == []


def test_messages_render_escaped_inside_a_polite_live_region(page):
    document = page("/__test__/messages/")

    region = document.find("div", **{"data-messages": ""})
    assert region.attrs["role"] == "status"
    assert region.attrs["aria-live"] == "polite"
    assert [(item.attrs["class"], item.text) for item in region.find_all("li")] == [
        ("notice notice--success", "Booking confirmed <b>for two</b>"),
        ("notice notice--error", "Payment failed"),
    ]
    assert any(node.tag == "main" for node in region.ancestors())


def test_empty_live_region_is_present_for_later_messages(page):
    region = page("/").find("div", **{"data-messages": ""})
    assert region.find_all("li") == []


class TestTimezoneDetectionHooks:
    def test_anonymous_visitor_without_a_detected_zone_asks_the_browser(self, page):
        body = page("/").find("body")
        assert body.attrs["data-timezone-known"] == "0"
        assert body.attrs["data-detect-url"] == reverse("accounts:detect_preferences")

    def test_zone_detected_earlier_in_the_session_is_known(self, client, page):
        session = client.session
        session["detected_timezone"] = "America/New_York"
        session.save()

        document = page("/")

        assert document.find("body").attrs["data-timezone-known"] == "1"
        assert "Times shown in America/New_York" in document.find("footer").text

    def test_user_with_a_saved_zone_is_known(self, client, page):
        client.force_login(UserFactory(timezone="Asia/Tokyo"))
        assert page("/").find("body").attrs["data-timezone-known"] == "1"

    def test_user_without_a_saved_zone_asks_the_browser(self, client, page):
        client.force_login(UserFactory(timezone=""))
        assert page("/").find("body").attrs["data-timezone-known"] == "0"


def test_footer_names_the_active_time_zone_and_links_signed_in_users_to_their_profile(client, page):
    client.force_login(UserFactory(timezone="Europe/Rome"))

    footer = page("/").find("footer")

    assert "Times shown in Europe/Rome — change" in footer.text
    assert footer.find("a", href=reverse("accounts:profile")).text == "change"


def test_anonymous_footer_shows_the_default_zone_without_a_profile_link(page):
    footer = page("/").find("footer")

    assert "Times shown in UTC" in footer.text
    assert footer.find_all("a", href=reverse("accounts:profile")) == []


def test_csrf_cookie_is_set_for_scripts_that_post(client):
    response = client.get("/")

    assert response.cookies["csrftoken"].value
    assert not response.cookies["csrftoken"]["httponly"]
