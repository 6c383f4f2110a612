import pytest

from tests.frontend.html import Node, parse


@pytest.fixture(autouse=True)
def _layout_urls(settings):
    """Layout tests use stub pages for the links base.html makes (see tests/frontend/urls.py)."""
    settings.ROOT_URLCONF = "tests.frontend.urls"
    settings.DEBUG = False


@pytest.fixture
def page(client):
    """GET a URL and return its parsed HTML."""

    def get(url: str = "/", expected_status: int = 200) -> Node:
        response = client.get(url)
        assert response.status_code == expected_status, response.content[:500]
        return parse(response.content)

    return get


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium: Playwright's own build if installed, else the system's."""
    import os
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop in this thread; Django's ORM calls made here by
    # the test database fixtures are still synchronous, so allow them (the documented workaround).
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch()
        except sync_api.Error:
            executable = shutil.which("chromium") or shutil.which("chromium-browser")
            if executable is None:
                pytest.skip("no Chromium for Playwright")
            chromium = playwright.chromium.launch(executable_path=executable)
        yield chromium
        chromium.close()
