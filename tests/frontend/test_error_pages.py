"""Error pages: 400, 403 and 404 inside the layout; 500 standalone (no request, no lookups)."""

import pytest
from django.template import Context, Template, loader
from django.test import Client

pytestmark = pytest.mark.django_db


def test_unknown_url_renders_the_404_page_in_the_layout(page, settings):
    assert settings.DEBUG is False

    document = page("/no-such-page/", expected_status=404)

    assert document.find("h1").text == "We couldn't find that page"
    assert document.find("main").attrs["id"] == "main"
    assert document.find("nav", aria_label="Main")
    assert document.find("footer").find("form").attrs["action"] == "/i18n/setlang/"
    assert document.find("a", **{"class": "button button--primary"}).attrs["href"] == "/tours/"


def test_permission_denied_renders_the_403_page_with_a_log_in_link(page):
    document = page("/__test__/403/", expected_status=403)

    assert document.find("h1").text == "You can't open this page"
    assert document.find("main").find("a", **{"class": "button button--primary"}).attrs["href"] == (
        "/accounts/login/?next=/__test__/403/"
    )


def test_bad_request_renders_the_400_page_in_the_layout(page):
    document = page("/__test__/400/", expected_status=400)

    assert document.find("h1").text == "Something in that request didn't look right"
    assert document.find("nav", aria_label="Main")
    assert document.find("main").attrs["id"] == "main"


def test_server_error_renders_the_standalone_500_page():
    response = Client(raise_request_exception=False).get("/__test__/500/")

    assert response.status_code == 500
    content = response.content.decode()
    assert "Sorry, something went wrong on our side" in content
    assert 'href="/static/css/site.css"' in content
    assert 'id="main"' in content


def test_500_template_renders_with_an_empty_context_and_no_url_lookups():
    source = loader.get_template("500.html").template.source

    assert "{% url" not in source
    assert "{{" not in source  # no variables: nothing to look up
    assert "{% extends" not in source
    assert "{% include" not in source
    html = Template(source).render(Context())
    assert "Sorry, something went wrong on our side" in html
