import re
from html.parser import HTMLParser

import pytest

from tests.factories import VerifiedUserFactory


class _PageParser(HTMLParser):
    """Collects what the accessibility asserts need: h1 count, labels, inputs and ids."""

    def __init__(self):
        super().__init__()
        self.h1_count = 0
        self.label_targets: set[str] = set()
        self.inputs: list[dict[str, str | None]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if attributes.get("id"):
            self.ids.add(attributes["id"])
        if tag == "h1":
            self.h1_count += 1
        elif tag == "label" and attributes.get("for"):
            self.label_targets.add(attributes["for"])
        elif tag in ("input", "select", "textarea") and attributes.get("type") not in ("hidden", "submit"):
            self.inputs.append(attributes)


def parse_page(response) -> _PageParser:
    parser = _PageParser()
    parser.feed(response.content.decode())
    return parser


def assert_accessible_form_page(response):
    """One h1, every visible control labelled, every aria-describedby pointing at a real element."""
    page = parse_page(response)
    assert page.h1_count == 1
    assert page.inputs, "the page should have a form"
    for control in page.inputs:
        assert control.get("id") in page.label_targets, f"unlabelled control {control}"
        for described_by in (control.get("aria-describedby") or "").split():
            assert described_by in page.ids, f"{control.get('name')} describedby {described_by} is missing"
    return page


def link_in(message, path_fragment: str) -> str:
    match = re.search(rf"https?://testserver(\S*{re.escape(path_fragment)}\S*)", message.body)
    assert match, f"no link containing {path_fragment!r} in:\n{message.body}"
    return match.group(1)


@pytest.fixture
def verified_user(db):
    """A customer whose e-mail is confirmed, so allauth lets them log in with a password."""
    return VerifiedUserFactory(email="verified@example.com")
