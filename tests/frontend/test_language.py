"""The footer language switcher: a plain form to Django's set_language view, usable without JS."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_language_switcher_posts_to_set_language_with_every_language(page):
    form = page("/tours/").find("footer").find("form")

    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == reverse("set_language") == "/i18n/setlang/"
    assert form.find("input", name="csrfmiddlewaretoken")
    assert form.find("input", name="next").attrs["value"] == "/tours/"
    select = form.find("select", name="language")
    assert form.find("label").attrs["for"] == select.attrs["id"]
    options = [(option.attrs["value"], option.text, "selected" in option.attrs) for option in select.find_all("option")]
    assert options == [("en", "English", True), ("it", "Italiano", False)]
    assert form.find("button").attrs["type"] == "submit"


def test_switching_to_italian_serves_pages_in_italian(client):
    response = client.post(reverse("set_language"), {"language": "it", "next": "/tours/"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/tours/"
    page = client.get("/")
    assert page.headers["Content-Language"] == "it"
    assert '<html lang="it"' in page.content.decode()


def test_switcher_marks_the_active_language(client, page):
    client.post(reverse("set_language"), {"language": "it", "next": "/"})

    select = page("/").find("footer").find("select", name="language")

    assert [option.attrs["value"] for option in select.find_all("option") if "selected" in option.attrs] == ["it"]


def test_switching_language_wins_over_a_signed_in_users_profile_language(client):
    client.force_login(UserFactory(language="en"))

    client.post(reverse("set_language"), {"language": "it", "next": "/"})

    assert client.get("/").headers["Content-Language"] == "it"
