"""Time zone and language detection: the pure rules, the endpoint, and what the site does with it."""

import json

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse
from django.template import Context, Template
from django.test import Client, RequestFactory
from django.urls import reverse

from accounts.middleware import SESSION_LANGUAGE_KEY, SESSION_TIMEZONE_KEY
from accounts.rules import grouped_timezones, supported_language
from accounts.views import DETECT_RATE_LIMIT
from tests.factories import UserFactory

DETECT_URL = "/preferences/detect/"
SUPPORTED = ["en", "it"]


@pytest.mark.parametrize(
    ("reported", "expected"),
    [
        ("it-IT", "it"),
        ("en-US", "en"),
        ("IT", "it"),
        ("en_GB", "en"),
        ("fr-FR", ""),
        ("de-CH,it;q=0.8,en;q=0.5", "it"),
        ("", ""),
        (" , ;q=1", ""),
    ],
)
def test_browser_languages_map_to_a_supported_code_or_nothing(reported, expected):
    assert supported_language(reported, SUPPORTED) == expected


def test_time_zone_list_is_grouped_by_area_without_legacy_aliases():
    groups = dict(grouped_timezones(["Europe/Rome", "America/Argentina/Buenos_Aires", "US/Eastern", "UTC", "EST5EDT"]))

    assert groups["Europe"] == [("Europe/Rome", "Rome")]
    assert groups["America"] == [("America/Argentina/Buenos_Aires", "Argentina / Buenos Aires")]
    assert groups["Other"] == [("UTC", "UTC")]
    assert "US/Eastern" not in json.dumps(groups)


def test_time_zone_list_keeps_a_legacy_zone_that_is_in_use():
    groups = dict(grouped_timezones(["Europe/Rome", "US/Eastern", "UTC"], include="US/Eastern"))

    assert ("US/Eastern", "US/Eastern") in groups["Other"]


def test_url_name_matches_the_front_end_contract():
    assert reverse("accounts:detect_preferences") == DETECT_URL


@pytest.mark.django_db
class TestDetectEndpoint:
    def test_anonymous_visitor_gets_zone_and_language_stored_in_the_session(self, client):
        response = client.post(DETECT_URL, {"timezone": "Asia/Tokyo", "language": "it-IT"})

        assert response.status_code == 204
        assert client.session[SESSION_TIMEZONE_KEY] == "Asia/Tokyo"
        assert client.session[SESSION_LANGUAGE_KEY] == "it"

    def test_unknown_time_zone_is_a_400_with_a_json_error(self, client):
        response = client.post(DETECT_URL, {"timezone": "Mars/Olympus_Mons", "language": "en"})

        assert response.status_code == 400
        assert response["Content-Type"] == "application/json"
        assert "Mars/Olympus_Mons" in response.json()["error"]
        assert SESSION_TIMEZONE_KEY not in client.session
        assert SESSION_LANGUAGE_KEY not in client.session

    def test_overlong_time_zone_is_a_400_not_a_crash(self, client):
        response = client.post(DETECT_URL, {"timezone": "A" * 5000})

        assert response.status_code == 400
        assert response.json()["error"]

    def test_unsupported_language_is_ignored(self, client):
        response = client.post(DETECT_URL, {"timezone": "Europe/Paris", "language": "fr-FR"})

        assert response.status_code == 204
        assert client.session[SESSION_TIMEZONE_KEY] == "Europe/Paris"
        assert SESSION_LANGUAGE_KEY not in client.session

    def test_get_is_not_allowed(self, client):
        assert client.get(DETECT_URL).status_code == 405

    def test_post_without_csrf_token_is_refused(self):
        browser = Client(enforce_csrf_checks=True)

        response = browser.post(DETECT_URL, {"timezone": "Asia/Tokyo"})

        assert response.status_code == 403
        assert SESSION_TIMEZONE_KEY not in browser.session

    def test_post_with_the_cookie_token_in_the_header_is_accepted(self):
        browser = Client(enforce_csrf_checks=True)
        browser.get(reverse("account_login"))  # any page with a form sets the csrftoken cookie
        token = browser.cookies[settings.CSRF_COOKIE_NAME].value

        response = browser.post(DETECT_URL, {"timezone": "Asia/Tokyo"}, headers={"X-CSRFToken": token})

        assert response.status_code == 204
        assert browser.session[SESSION_TIMEZONE_KEY] == "Asia/Tokyo"

    def test_more_than_the_limit_per_minute_is_a_429(self, client):
        statuses = [client.post(DETECT_URL, {"timezone": "Asia/Tokyo"}).status_code for _ in range(DETECT_RATE_LIMIT)]
        over = client.post(DETECT_URL, {"timezone": "Asia/Tokyo"})

        assert statuses == [204] * DETECT_RATE_LIMIT
        assert over.status_code == 429
        assert over.json()["error"]

    def test_the_limit_counts_per_address(self, client):
        for _ in range(DETECT_RATE_LIMIT + 1):
            client.post(DETECT_URL, {"timezone": "Asia/Tokyo"}, REMOTE_ADDR="203.0.113.7")

        elsewhere = Client(REMOTE_ADDR="198.51.100.20").post(DETECT_URL, {"timezone": "Asia/Tokyo"})

        assert elsewhere.status_code == 204

    def test_dropping_the_session_cookie_does_not_reset_the_limit(self, client):
        statuses = [
            Client().post(DETECT_URL, {"timezone": "Asia/Tokyo"}).status_code for _ in range(DETECT_RATE_LIMIT + 1)
        ]

        assert statuses[-1] == 429

    def test_signed_in_user_gets_only_empty_fields_filled(self, client):
        user = UserFactory(timezone="", language="")
        client.force_login(user)

        response = client.post(DETECT_URL, {"timezone": "Asia/Tokyo", "language": "it-IT"})

        assert response.status_code == 204
        user.refresh_from_db()
        assert (user.timezone, user.language) == ("Asia/Tokyo", "it")

    def test_signed_in_user_keeps_what_they_chose(self, client):
        user = UserFactory(timezone="Europe/Rome", language="en")
        client.force_login(user)

        client.post(DETECT_URL, {"timezone": "Asia/Tokyo", "language": "it-IT"})

        user.refresh_from_db()
        assert (user.timezone, user.language) == ("Europe/Rome", "en")

    def test_signed_in_user_with_a_chosen_zone_still_gets_an_empty_language_filled(self, client):
        user = UserFactory(timezone="Europe/Rome", language="")
        client.force_login(user)

        client.post(DETECT_URL, {"timezone": "Asia/Tokyo", "language": "it"})

        assert get_user_model().objects.values_list("timezone", "language").get(pk=user.pk) == ("Europe/Rome", "it")


@pytest.mark.django_db
class TestWhatTheSiteDoesWithIt:
    def test_detected_zone_is_active_on_the_next_page(self, client):
        client.post(DETECT_URL, {"timezone": "Asia/Tokyo"})

        response = client.get(reverse("account_login"))

        assert "Times shown in Asia/Tokyo" in response.content.decode()

    def test_detected_language_is_used_for_the_next_page(self, client):
        client.post(DETECT_URL, {"timezone": "Europe/Rome", "language": "it-IT"})

        response = client.get(reverse("account_login"))

        assert response["Content-Language"] == "it"

    def test_the_language_switcher_beats_the_detected_language(self, client):
        client.post(DETECT_URL, {"timezone": "Europe/Rome", "language": "it-IT"})
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

        response = client.get(reverse("account_login"))

        assert response["Content-Language"] == "en"

    def test_the_profile_language_beats_the_detected_language(self, client):
        client.force_login(UserFactory(language="en"))
        session = client.session
        session[SESSION_LANGUAGE_KEY] = "it"
        session.save()

        response = client.get(reverse("accounts:profile"))

        assert response["Content-Language"] == "en"


@pytest.mark.django_db
class TestTimezoneKnownTag:
    def _render(self, request):
        return Template("{% load preferences %}{% timezone_known %}").render(Context({"request": request}))

    def _request(self, user=None, session_zone=None):
        from django.contrib.auth.models import AnonymousUser

        request = RequestFactory().get("/")
        SessionMiddleware(lambda _request: HttpResponse()).process_request(request)
        request.user = user or AnonymousUser()
        if session_zone:
            request.session[SESSION_TIMEZONE_KEY] = session_zone
        return request

    def test_unknown_zone_renders_0_and_asks_for_the_csrf_cookie(self):
        request = self._request()

        assert self._render(request) == "0"
        # get_token() marks the cookie to be set, so site.ts has a token for its POST.
        assert request.META.get("CSRF_COOKIE_NEEDS_UPDATE") is True

    def test_zone_from_the_session_renders_1(self):
        assert self._render(self._request(session_zone="Asia/Tokyo")) == "1"

    def test_zone_from_the_profile_renders_1(self):
        assert self._render(self._request(user=UserFactory(timezone="Europe/Rome"))) == "1"

    def test_signed_in_user_without_a_zone_renders_0_even_with_one_in_the_session(self):
        # The browser must report again so that the detect endpoint fills the empty profile.
        request = self._request(user=UserFactory(timezone=""), session_zone="Asia/Tokyo")

        assert self._render(request) == "0"
