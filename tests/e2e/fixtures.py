"""Browser-test fixtures: the live site served by uvicorn (as in production), and headless Chromium through Playwright.

Registered for the whole suite in tests/conftest.py (``pytest_plugins``). Mark every test that
uses them ``@pytest.mark.browser`` (the ``browser`` fixture refuses to run otherwise).

- ``live_site``: the project's ASGI app (HTTP + WebSocket) in a uvicorn process on 127.0.0.1,
  shared by the session (one per xdist worker), against pytest-django's test database. Requesting
  it makes the test transactional: the server only sees committed rows. ``.url``, ``.ws_url``.
- ``live_site_settings``: session-scoped, ``{}`` by default; override it to pass settings to the
  server process (``{"EMAIL_TRANSPORT": "smtp", "EMAIL_PORT": smtp.port}``).
- ``new_page(*, user=None, **context_options)``: a page in a fresh browser context (own cookies)
  whose ``base_url`` is the live site; ``user`` logs that user in; ``context_options`` go to
  ``Browser.new_context`` (``timezone_id="America/New_York"``, ``locale="it-IT"``, ...).
- ``page``: ``new_page()`` with the defaults of ``browser_context_args`` (override per module).
- ``browser_problems``: console errors, uncaught page errors and CSP violations seen by the
  test's pages. Any left at teardown fail the test, unless it is marked ``allow_console_errors``;
  a test that provokes one on purpose claims it with ``browser_problems.expect(regex)``.
- ``browser``: the shared Chromium (Debian's /usr/bin/chromium with the flags of
  shared/notes/media-plane.md); one per run of consecutive browser tests.

Failed tests leave screenshots of their open pages and the server log of the test in
test-results/ (named after the test).

While Playwright's sync API is running, asyncio considers an event loop to be running in the
main thread (playwright/_impl/_greenlets.py marks it so between calls). Django would then refuse
ORM calls from the test, so DJANGO_ALLOW_ASYNC_UNSAFE is set for exactly that time (the calls are
in fact synchronous, in the test's own thread). ``asyncio.run`` and ``async_to_sync`` cannot be
used in that thread either: run such code in a worker thread. Chromium is stopped before a test
that does not use it runs in the same process, so other tests never see the loop. For the same
reason a process can run only one Playwright: use the ``browser`` fixture rather than starting
another one in a conftest.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.live_server import LiveSite, run_live_site

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, WebError

CHROMIUM = Path("/usr/bin/chromium")
# shared/notes/media-plane.md; Playwright adds --headless. --disable-features is merged below.
CHROMIUM_ARGS = (
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
CHROMIUM_DISABLED_FEATURES = ("WebRtcHideLocalIpsWithMdns",)
DEFAULT_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 15_000

_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const violation = {
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: `${event.sourceFile}:${event.lineNumber}`,
    sample: event.sample,
  };
  window.__cspViolations.push(violation);
  if (typeof window.__reportCspViolation === "function") window.__reportCspViolation(violation);
});
"""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_console_errors: do not fail on browser console errors/CSP violations")
    chromium = _Chromium()
    config.stash[_CHROMIUM] = chromium
    config.add_cleanup(chromium.stop)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    if report.when == "call" and report.failed:
        factory = item.stash.get(_PAGES, None)
        if factory is not None and factory.problems:
            report.sections.append(("browser problems", "\n".join(factory.problems.messages)))
        artifacts = _save_artifacts(item)
        if artifacts:
            report.sections.append(("browser test artifacts", "\n".join(map(str, artifacts))))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        # Playwright keeps an event loop marked as running in this thread: stop it before a test
        # that does not expect one (asyncio.run, async_to_sync, Django's async-safety checks, or
        # a Playwright of its own).
        if nextitem is None or not _uses_shared_chromium(nextitem):
            item.config.stash[_CHROMIUM].stop()


# --- The live site -----------------------------------------------------------------------------

LOOPBACK_SFU_ADDRESS = "127.0.0.2"


@pytest.fixture(scope="session")
def live_site_settings() -> dict[str, Any]:
    """Settings for the server process, on top of those it inherits (override at session scope).

    The media relay offers only a loopback address (aioice skips the literal 127.0.0.1): WebRTC in
    tests never uses this machine's other interfaces.
    """
    return {"SFU_HOST_ADDRESSES": [LOOPBACK_SFU_ADDRESS]}


@pytest.fixture(scope="session")
def _live_site_process(django_db_setup: None, live_site_settings: dict[str, Any]) -> Iterator[LiveSite]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    # Not waiting here lets the server start (about 2.5 s) while Chromium launches.
    with run_live_site(
        log_path=_results_dir() / f"live-server-{worker}.log", settings_overrides=live_site_settings, wait=False
    ) as site:
        yield site


@pytest.fixture
def live_site(
    request: pytest.FixtureRequest, _live_site_process: LiveSite, transactional_db: None
) -> Iterator[LiveSite]:
    """The running site, with its per-process caches cleared for this test.

    Afterwards (the test's pages are closed by then) the server is quiesced before pytest-django
    flushes the database: no room bookkeeping may still be writing.
    """
    _live_site_process.wait_until_ready()
    _live_site_process.reset()
    request.node.stash[_LOG_MARK] = (_live_site_process, _live_site_process.log_size())
    yield _live_site_process
    _live_site_process.quiesce()


# --- The browser -------------------------------------------------------------------------------


class BrowserProblems:
    """What the browser reported during one test: console errors, page errors, CSP violations."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, kind: str, text: str) -> None:
        self.messages.append(f"[{kind}] {text}")

    def expect(self, pattern: str) -> list[str]:
        """Claim the problems matching ``pattern`` (re.search): they no longer fail the test."""
        matched = [message for message in self.messages if re.search(pattern, message)]
        assert matched, f"no browser problem matches {pattern!r}; reported: {self.messages}"
        self.messages = [message for message in self.messages if message not in matched]
        return matched

    def __bool__(self) -> bool:
        return bool(self.messages)


class PageFactory:
    """``new_page(*, user=None, **context_options)``; keeps the contexts it made, for teardown."""

    def __init__(self, browser: Browser, site: LiveSite, problems: BrowserProblems, defaults: dict[str, Any]) -> None:
        self.browser = browser
        self.site = site
        self.problems = problems
        self.defaults = defaults
        self.contexts: list[BrowserContext] = []

    def __call__(self, *, user: Any = None, **context_options: Any) -> Page:
        context = self.browser.new_context(**{"base_url": self.site.url, **self.defaults, **context_options})
        self.contexts.append(context)
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        context.on("console", self._on_console)
        context.on("weberror", self._on_web_error)
        context.expose_binding("__reportCspViolation", self._on_csp_violation)
        context.add_init_script(_CSP_LISTENER)
        if user is not None:
            self.log_in(context, user)
        return context.new_page()

    def log_in(self, context: BrowserContext, user: Any) -> None:
        """Give ``context`` a session cookie for ``user`` (the session row is committed)."""
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": self.site.url}])

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            self.problems.add("console", f"{message.text} ({where['url']}:{where['lineNumber']})")

    def _on_web_error(self, error: WebError) -> None:
        self.problems.add("uncaught", str(error.error))

    def _on_csp_violation(self, source: Any, violation: dict[str, str]) -> None:
        self.problems.add(
            "CSP", f"{violation['directive']} blocked {violation['blocked'] or 'inline'} at {violation['source']}"
        )

    def screenshots(self, stem: str) -> list[Path]:
        pages = [page for context in self.contexts for page in context.pages if not page.is_closed()]
        paths = []
        for number, page in enumerate(pages, start=1):
            path = _results_dir() / (f"{stem}.png" if len(pages) == 1 else f"{stem}-{number}.png")
            try:
                page.screenshot(path=path, full_page=True, timeout=5_000)
            except Exception as error:  # a crashed page must not hide the test's own failure
                path = path.with_suffix(".txt")
                path.write_text(f"no screenshot: {error}\n")
            paths.append(path)
        return paths

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        self.contexts.clear()


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Browser:
    """The shared headless Chromium (launched on first use; contexts are the test's to close)."""
    if request.node.get_closest_marker("browser") is None:
        pytest.fail(f"{request.node.nodeid} drives Chromium: mark it @pytest.mark.browser", pytrace=False)
    return request.config.stash[_CHROMIUM].get()


@pytest.fixture
def browser_context_args() -> dict[str, Any]:
    """Defaults for every new context; override the fixture in a module or pass them to new_page."""
    return {"locale": "en-US", "timezone_id": "UTC", "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


@pytest.fixture
def new_page(
    request: pytest.FixtureRequest,
    browser: Browser,
    live_site: LiveSite,
    browser_problems: BrowserProblems,
    browser_context_args: dict[str, Any],
) -> Iterator[PageFactory]:
    factory = PageFactory(browser, live_site, browser_problems, browser_context_args)
    request.node.stash[_PAGES] = factory
    yield factory
    reports = request.node.stash.get(_REPORTS, {})
    call_failed = "call" in reports and reports["call"].failed
    allowed = request.node.get_closest_marker("allow_console_errors") is not None
    screenshots = [] if call_failed or allowed or not browser_problems else _save_artifacts(request.node)
    factory.close()  # also delivers events still in flight
    del request.node.stash[_PAGES]
    if browser_problems and not allowed and not call_failed:
        pytest.fail(
            "the browser reported problems (mark the test allow_console_errors or claim them with"
            " browser_problems.expect(...) if they are intended):\n  "
            + "\n  ".join(browser_problems.messages)
            + "".join(f"\nsaved {path}" for path in screenshots),
            pytrace=False,
        )


@pytest.fixture
def page(new_page: PageFactory) -> Page:
    return new_page()


# --- Internals ---------------------------------------------------------------------------------


class _Chromium:
    """One Playwright driver and Chromium, started on first use, shared by consecutive browser tests."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._async_unsafe_before: str | None = None

    def get(self) -> Browser:
        if self._browser is None or not self._browser.is_connected():
            self.stop()
            self._start()
        assert self._browser is not None
        return self._browser

    def _start(self) -> None:
        if not os.access(CHROMIUM, os.X_OK):
            pytest.fail(
                f"{CHROMIUM} is missing: browser tests drive Debian's Chromium (Playwright's own browser"
                " download does not work here). Install it with: scripts/system-deps.sh test",
                pytrace=False,
            )
        import asyncio

        from playwright.sync_api import sync_playwright

        if asyncio._get_running_loop() is not None:
            pytest.fail(
                "an event loop is already running in the test thread, probably another Playwright (a"
                " browser fixture of its own?): one process can run only one; use the `browser`"
                " fixture of tests/e2e/fixtures.py",
                pytrace=False,
            )
        self._async_unsafe_before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        try:
            self._playwright = sync_playwright().start()
        except BaseException:
            self._restore_async_unsafe()
            raise
        self._browser = self._launch(self._playwright)

    def _launch(self, playwright: Playwright) -> Browser:
        # Chromium honours only the last --disable-features switch, and Playwright passes its own
        # list: replace it with one switch holding both lists, or one of them would be lost.
        own = self._playwright_disabled_features(playwright)
        features = ",".join(dict.fromkeys(filter(None, [*own.split(","), *CHROMIUM_DISABLED_FEATURES])))
        return playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, f"--disable-features={features}"],
            ignore_default_args=[f"--disable-features={own}"] if own else None,
        )

    @staticmethod
    def _playwright_disabled_features(playwright: Playwright) -> str:
        """Playwright's own --disable-features value: asked of a probe browser once per Playwright version."""
        from importlib.metadata import version

        cache = _results_dir() / f".playwright-{version('playwright')}-disabled-features"
        if cache.exists():
            return cache.read_text().strip()
        # --enable-automation lets the DevTools protocol report the browser's command line.
        probe = playwright.chromium.launch(executable_path=CHROMIUM, args=["--enable-automation"])
        try:
            arguments = probe.new_browser_cdp_session().send("Browser.getBrowserCommandLine")["arguments"]
        finally:
            probe.close()
        values = [arg.partition("=")[2] for arg in arguments if arg.startswith("--disable-features=")]
        features = values[-1] if values else ""
        partial = cache.with_name(f"{cache.name}.{os.getpid()}")  # xdist workers may race: write, then rename
        partial.write_text(features + "\n")
        partial.replace(cache)
        return features

    def stop(self) -> None:
        browser, playwright = self._browser, self._playwright
        if playwright is None:
            return
        self._browser = self._playwright = None
        try:
            if browser is not None and browser.is_connected():
                browser.close()
        finally:
            try:
                playwright.stop()
            finally:
                self._restore_async_unsafe()

    def _restore_async_unsafe(self) -> None:
        if self._async_unsafe_before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = self._async_unsafe_before


_CHROMIUM = pytest.StashKey[_Chromium]()
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_PAGES = pytest.StashKey[PageFactory]()
_LOG_MARK = pytest.StashKey[tuple[LiveSite, int]]()


def _results_dir() -> Path:
    from django.conf import settings

    path = Path(settings.BASE_DIR) / "test-results"
    path.mkdir(exist_ok=True)
    return path


def _artifact_stem(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", item.nodeid).strip("-")[-150:]


def _save_artifacts(item: pytest.Item) -> list[Path]:
    """Screenshots of the test's open pages and the server log written during the test."""
    stem = _artifact_stem(item)
    paths: list[Path] = []
    factory = item.stash.get(_PAGES, None)
    if factory is not None:
        paths += factory.screenshots(stem)
    mark = item.stash.get(_LOG_MARK, None)
    if mark is not None:
        site, offset = mark
        log = site.log_since(offset)
        if log.strip():
            path = _results_dir() / f"{stem}.server.log"
            path.write_text(log)
            paths.append(path)
    return paths


def _uses_shared_chromium(item: pytest.Item) -> bool:
    """Whether ``item`` gets its ``browser`` fixture from this module (not from a conftest of its own)."""
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.get("browser", ()) if info is not None else ()
    return bool(definitions) and definitions[-1].func.__module__ == __name__
