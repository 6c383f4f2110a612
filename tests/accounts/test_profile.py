"""/profile/: name, time zone, language, country; the current local time in the chosen zone."""

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.accounts.conftest import assert_accessible_form_page
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()

PROFILE_URL = "/profile/"


def _post(client, **overrides):
    data = {"name": "Ada Lovelace", "timezone": "Asia/Tokyo", "language": "it", "country": "Japan"}
    data.update(overrides)
    return client.post(PROFILE_URL, data)


def test_url_name():
    assert reverse("accounts:profile") == PROFILE_URL


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(PROFILE_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


def test_profile_page_offers_every_zone_grouped_by_area(client):
    client.force_login(UserFactory(timezone="Europe/Rome"))

    response = client.get(PROFILE_URL)

    html = response.content.decode()
    assert '<optgroup label="Europe">' in html
    assert '<option value="Europe/Rome" selected>Rome</option>' in html
    assert '<option value="Pacific/Auckland">Auckland</option>' in html
    assert_accessible_form_page(response)


@time_machine.travel(dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC), tick=False)
def test_profile_shows_the_current_time_in_the_chosen_zone(client):
    client.force_login(UserFactory(timezone="Asia/Tokyo"))

    html = client.get(PROFILE_URL).content.decode()

    assert "Wednesday 1 July 2026, 19:00" in html
    assert "Asia/Tokyo" in html


def test_saving_updates_the_profile_and_switches_the_language(client):
    user = UserFactory(name="Old name", timezone="Europe/Rome", language="en", country="")
    client.force_login(user)

    response = _post(client)

    assert response.status_code == 302
    assert response.url == PROFILE_URL
    saved = User.objects.get(pk=user.pk)
    assert (saved.name, saved.timezone, saved.language, saved.country) == ("Ada Lovelace", "Asia/Tokyo", "it", "Japan")
    # The language switcher's cookie follows the profile, so an older switch cannot hide the choice.
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "it"
    assert client.get(PROFILE_URL)["Content-Language"] == "it"


@pytest.mark.parametrize("bad_zone", ["Mars/Olympus_Mons", "../../etc/passwd", "Europe/Rome\x00"])
def test_unknown_time_zone_is_a_form_error_and_nothing_is_saved(client, bad_zone):
    user = UserFactory(name="Old name", timezone="Europe/Rome")
    client.force_login(user)

    response = _post(client, timezone=bad_zone)

    assert response.status_code == 200
    assert response.context["form"].errors["timezone"]
    # The page keeps showing the saved zone, not the rejected input.
    assert response.context["zone_name"] == "Europe/Rome"
    saved = User.objects.get(pk=user.pk)
    assert (saved.name, saved.timezone) == ("Old name", "Europe/Rome")


def test_unsupported_language_is_a_form_error(client):
    client.force_login(UserFactory())

    response = _post(client, language="xx")

    assert response.context["form"].errors["language"]


def test_a_profile_without_a_zone_starts_from_the_detected_one(client):
    client.force_login(UserFactory(timezone=""))
    client.post("/preferences/detect/", {"timezone": "America/Lima"})

    html = client.get(PROFILE_URL).content.decode()

    assert '<option value="America/Lima" selected>Lima</option>' in html


def test_a_legacy_zone_on_the_profile_can_be_saved_unchanged(client):
    user = UserFactory(timezone="US/Eastern")
    client.force_login(user)

    response = _post(client, timezone="US/Eastern")

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).timezone == "US/Eastern"


def test_guides_see_a_link_to_their_guide_page_and_customers_do_not(client):
    client.force_login(UserFactory(role="guide"))
    assert reverse("accounts:guide_profile_edit") in client.get(PROFILE_URL).content.decode()

    client.force_login(UserFactory(role="customer"))
    assert reverse("accounts:guide_profile_edit") not in client.get(PROFILE_URL).content.decode()
