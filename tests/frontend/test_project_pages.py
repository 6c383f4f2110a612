"""The layout on the project's real pages, through the real URLconf (not the stubs)."""

import pytest
from django.urls import reverse

from tests.frontend.html import parse
from tests.frontend.test_security import inline_code

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _project_urls(settings):
    settings.ROOT_URLCONF = "italycouch.urls"


@pytest.mark.parametrize(("name", "status"), [("bookings:home", 200), ("bookings:tour_list", 200)])
def test_real_pages_use_the_layout_without_inline_code(client, name, status):
    response = client.get(reverse(name))

    assert response.status_code == status
    document = parse(response.content)
    assert document.find("nav", aria_label="Main")
    assert document.find("main").attrs["id"] == "main"
    assert document.find("body").attrs["data-detect-url"] == reverse("accounts:detect_preferences")
    assert inline_code(document) == []
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_real_unknown_url_renders_the_layout_404(client):
    response = client.get("/certainly-not-a-page/")

    assert response.status_code == 404
    assert parse(response.content).find("h1").text == "We couldn't find that page"
