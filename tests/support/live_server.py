"""A real web server for browser tests: the production ASGI app on uvicorn, as italycouch/server.py
runs it, in its own process.

Adapted from ``channels.testing.ChannelsLiveServerTestCase`` (which forks a ``DaphneProcess``),
with three changes that make it safe to share for a whole pytest(-xdist) session:

- The server is a fresh interpreter (``python -m tests.support.live_server``), not a fork: a fork
  of the test process would inherit its threads, its open database connections and Playwright's
  pipes to the browser driver. The settings the child cannot work out by itself (the test
  database pytest-django created, MEDIA_ROOT in this process's temporary directory, ...) are
  handed over explicitly as JSON.
- The parent binds the listening socket on 127.0.0.1:0 and passes the descriptor to uvicorn
  (``fd=N``), so the port is known before the child starts and no other process can take
  it in between.
- ``/__live_site__/reset`` (served by this wrapper only, never by the project) clears the state a
  server process keeps between requests: caches (rate-limit counters), the ContentType and Site
  caches (a transactional test's flush recreates those rows with new ids), and the in-memory
  channel layer. The ``live_site`` fixture calls it before every test.
- ``/__live_site__/quiesce`` waits (at most a few seconds) until the test's WebSockets have left,
  closes the live rooms (chat hub, SFU rooms) and lets queued database work finish, so that the
  test database is not flushed while the server still writes to it (PostgreSQL would detect a
  deadlock between TRUNCATE and a room's bookkeeping). The ``live_site`` fixture calls it after
  every test.

Static files are served from STATICFILES_DIRS through Django's ``ASGIStaticFilesHandler`` (as the
Channels live server does), since tests do not run ``collectstatic``; media through the project's
own ``/media/`` route (MEDIA_ROOT is passed on).
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESET_PATH = "/__live_site__/reset"
QUIESCE_PATH = "/__live_site__/quiesce"
_SETTINGS_ENV = "ITALYCOUCH_LIVE_SITE_SETTINGS"
_HOST = "127.0.0.1"
_PROJECT_DIR = Path(__file__).resolve().parents[2]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class LiveSiteError(RuntimeError):
    """The server process did not start, or is no longer answering."""


@dataclass
class LiveSite:
    """A running server: ``url`` and ``ws_url`` have no trailing slash."""

    host: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] = field(repr=False)
    _ready: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Return once the server answers (at once after the first time); raise if it died."""
        if self._ready:
            return
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise LiveSiteError(f"live server exited with {self.process.returncode}\n{self.log_tail()}")
            try:
                self.reset(timeout=max(deadline - time.monotonic(), 0.1))
            except LiveSiteError:
                if time.monotonic() > deadline:
                    raise LiveSiteError(
                        f"live server did not answer within {timeout:.0f} s\n{self.log_tail()}"
                    ) from None
                time.sleep(0.05)
            else:
                self._ready = True
                return

    def reset(self, timeout: float = 10.0) -> None:
        """Clear the per-process state of the server (see the module docstring)."""
        try:
            status = _get_status(self.host, self.port, RESET_PATH, timeout)
        except OSError as error:
            raise LiveSiteError(f"live server is not answering ({error!r})\n{self.log_tail()}") from error
        if status != 204:
            raise LiveSiteError(f"live server answered {status} to {RESET_PATH}\n{self.log_tail()}")

    def quiesce(self, timeout: float = 15.0) -> None:
        """Let the server finish what the test's connections left behind (see the module docstring)."""
        try:
            status = _get_status(self.host, self.port, QUIESCE_PATH, timeout)
        except OSError as error:
            raise LiveSiteError(f"live server is not answering ({error!r})\n{self.log_tail()}") from error
        if status != 204:
            raise LiveSiteError(f"live server answered {status} to {QUIESCE_PATH}\n{self.log_tail()}")

    def log_size(self) -> int:
        """A mark in the server log, for ``log_since``."""
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, mark: int) -> str:
        with contextlib.suppress(FileNotFoundError), self.log_path.open("rb") as log:
            log.seek(mark)
            return log.read().decode("utf-8", "replace")
        return ""

    def log_tail(self, lines: int = 40) -> str:
        tail = self.log_since(0).splitlines()[-lines:]
        return f"--- last lines of {self.log_path} ---\n" + "\n".join(tail)


def inherited_settings() -> dict[str, Any]:
    """Settings the server must take from this (test) process rather than from the settings module.

    Call this after pytest-django has set up the test databases: DATABASES then names them (with
    the xdist worker suffix), and tests/settings.py's temporary MEDIA_ROOT differs per process.
    """
    from django.conf import settings

    allowed_hosts = list(settings.ALLOWED_HOSTS)
    allowed_hosts += [host for host in (_HOST, "localhost") if host not in allowed_hosts]
    return {
        "DATABASES": copy.deepcopy(settings.DATABASES),
        "MEDIA_ROOT": os.fspath(settings.MEDIA_ROOT),
        "SECRET_KEY": settings.SECRET_KEY,  # sessions made by the test (force_login) must verify
        "ALLOWED_HOSTS": allowed_hosts,
        "DEBUG": False,  # as in the test process (pytest-django's test environment)
        # Nothing is collected in tests: /static/ comes from STATICFILES_DIRS through Django's
        # static handler, and WhiteNoise would only warn that STATIC_ROOT does not exist.
        "STATIC_ROOT": None,
    }


@contextlib.contextmanager
def run_live_site(
    *,
    log_path: Path,
    settings_overrides: Mapping[str, Any] | None = None,
    wait: bool = True,
) -> Iterator[LiveSite]:
    """Start uvicorn serving ``settings.ASGI_APPLICATION`` on 127.0.0.1 and a free port; stop it on exit.

    ``settings_overrides`` are applied in the server process on top of ``inherited_settings()``;
    values must be JSON-serialisable (paths are converted). With ``wait=False`` it returns while
    the server is still starting (about 2.5 s: Django, Celery, aiortc imports); call
    ``wait_until_ready()`` before use.
    """
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.db import connections

    for connection in connections.all(initialized_only=False):
        if connection.vendor == "sqlite" and connection.is_in_memory_db():
            raise ImproperlyConfigured(
                "the live server runs in another process and cannot share an in-memory SQLite database"
            )

    overrides = {**inherited_settings(), **(settings_overrides or {})}
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": settings.SETTINGS_MODULE,
            _SETTINGS_ENV: json.dumps(overrides, default=os.fspath),
            "PYTHONUNBUFFERED": "1",
        }
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.create_server((_HOST, 0), backlog=128)
    with listener, log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.live_server", str(listener.fileno()), str(os.getpid())],
            cwd=_PROJECT_DIR,
            env=env,
            pass_fds=[listener.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        site = LiveSite(host=_HOST, port=listener.getsockname()[1], log_path=log_path, process=process)
    # The child holds the only copy of the listening socket now: if it dies, connecting fails at once.
    try:
        if wait:
            site.wait_until_ready()
        yield site
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # uvicorn closes open connections (2 s at most), then exits
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _get_status(host: str, port: int, path: str, timeout: float) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


# --- The server process ------------------------------------------------------------------------


class _LiveSiteApplication:
    """The project's application, plus the reset endpoint."""

    def __init__(self, application: Callable[..., Awaitable[None]]) -> None:
        self.application = application

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == RESET_PATH:
            await self._reset(send)
        elif scope["type"] == "http" and scope["path"] == QUIESCE_PATH:
            await self._quiesce(send)
        else:
            await self.application(scope, receive, send)

    async def _reset(self, send: Send) -> None:
        from asgiref.sync import sync_to_async
        from channels.layers import InMemoryChannelLayer, get_channel_layer

        await sync_to_async(_clear_process_caches)()
        layer = get_channel_layer()
        if isinstance(layer, InMemoryChannelLayer):
            await layer.flush()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def _quiesce(self, send: Send) -> None:
        import asyncio

        from channels.db import database_sync_to_async

        from chat import fanout
        from italycouch.live_db import close_live_db
        from streaming import registry

        hub = fanout.get_hub()
        deadline = asyncio.get_running_loop().time() + 5
        # The browser has closed the test's pages; their sockets leave as the server notices.
        while hub.stats()["sockets"] and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)  # polled: the hub has no "emptied" event to wait on
        await fanout.close_hub()  # stops the rooms' tickers after their last write
        await registry.get_registry().close()  # SFU rooms and their recordings
        registry.reset_registry(None)
        await database_sync_to_async(_no_op)()  # after every database call queued before it
        await close_live_db()  # the live sockets' pool too; its connections close
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def _no_op() -> None:
    return None


def _clear_process_caches() -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.contrib.sites.models import SITE_CACHE
    from django.core.cache import caches

    for cache in caches.all(initialized_only=True):
        cache.clear()
    ContentType.objects.clear_cache()
    SITE_CACHE.clear()


def _serve(file_descriptor: int, parent_pid: int) -> None:
    import asyncio

    import django
    import uvicorn
    import uvloop
    from django.conf import settings

    for name, value in json.loads(os.environ[_SETTINGS_ENV]).items():
        setattr(settings, name, value)
    django.setup(set_prefix=False)

    from channels.routing import get_default_application
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from italycouch.server import uvicorn_options

    application = _LiveSiteApplication(ASGIStaticFilesHandler(get_default_application()))
    options = {**uvicorn_options(), "timeout_graceful_shutdown": 2}
    server = uvicorn.Server(uvicorn.Config(application, fd=file_descriptor, log_level="warning", **options))

    async def serve() -> None:
        watcher = asyncio.ensure_future(_exit_with(parent_pid, server))
        try:
            await server.serve()
        finally:
            watcher.cancel()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())


async def _exit_with(parent_pid: int, server: Any) -> None:
    """Stop when the test process is gone (even killed): an orphan would keep the test database open."""
    import asyncio

    while os.getppid() == parent_pid:  # noqa: ASYNC110  (polled: no event tells of a parent's death)
        await asyncio.sleep(1.0)
    server.should_exit = True


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
