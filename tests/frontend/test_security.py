"""Every page works under the strict CSP: no inline scripts, styles or event handlers."""

import pytest
from django.test import Client

from tests.factories import GuideFactory
from tests.frontend.html import parse

pytestmark = pytest.mark.django_db


def inline_code(document):
    """Everything a strict CSP (script-src/style-src 'self') would block."""
    problems = []
    for node in document.iter():
        if node.tag == "script" and ("src" not in node.attrs or node.text):
            problems.append(f"inline <script> {node.text[:40]!r}")
        if node.tag == "style":
            problems.append("<style> block")
        for name, value in node.attrs.items():
            if name == "style":
                problems.append(f"style attribute on <{node.tag}>")
            if name.startswith("on"):
                problems.append(f"{name} handler on <{node.tag}>")
            if name in {"href", "src", "action"} and value.strip().lower().startswith("javascript:"):
                problems.append(f"javascript: URL on <{node.tag}>")
    return problems


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/", 200),
        ("/__test__/messages/", 200),
        ("/no-such-page/", 404),
        ("/__test__/403/", 403),
        ("/__test__/400/", 400),
        ("/__test__/500/", 500),
    ],
)
def test_pages_have_no_inline_scripts_styles_or_handlers(url, status, settings):
    settings.SHOW_DEV_OUTBOX = True
    client = Client(raise_request_exception=False)
    client.force_login(GuideFactory.create(is_staff=True))

    response = client.get(url)

    assert response.status_code == status
    assert inline_code(parse(response.content)) == []


def test_anonymous_home_page_has_no_inline_code(client):
    assert inline_code(parse(client.get("/").content)) == []


def test_csp_header_allows_only_own_scripts_and_styles(client):
    policy = client.get("/").headers["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert "script-src 'self'" in policy
