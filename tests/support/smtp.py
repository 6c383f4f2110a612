"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, collecting what it receives.

Fixtures (registered in tests/conftest.py through ``pytest_plugins``):

- ``smtp_server``: a started ``SmtpSink``. ``.messages`` is what arrived so far (each a
  ``ReceivedEmail`` with the parsed ``message`` and the envelope), ``.wait_for(count, timeout)``
  blocks until that many have arrived, ``.stop()`` / ``.start()`` take it down and bring it back on
  the same port (to test delivery failures and recovery).
- ``smtp_transport``: the same sink, with the settings pointing the e-mail pipeline at it
  (``EMAIL_TRANSPORT="smtp"``, ``EMAIL_HOST``/``EMAIL_PORT``) and ``queued_email_backend`` on.
  Settings are process-wide, so a Celery worker started by ``celery_worker_on_redis`` in the same
  test delivers there too.
- ``queued_email_backend``: puts ``EMAIL_BACKEND`` back to the project's
  ``notifications.email.QueuedEmailBackend``. Django's test set-up replaces EMAIL_BACKEND with the
  locmem backend (``mail.outbox``) for every test, so without this ``send_mail`` and allauth
  never create an OutboundEmail row in tests. (``queue_email`` does not go through EMAIL_BACKEND.)
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedEmail:
    message: EmailMessage
    envelope_from: str
    envelope_to: tuple[str, ...]

    def __getitem__(self, header: str) -> Any:
        return self.message[header]


class _CollectingHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self._sink._received(
            ReceivedEmail(
                message=parsed,
                envelope_from=str(envelope.mail_from),
                envelope_to=tuple(str(address) for address in envelope.rcpt_tos),
            )
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server in its own thread; thread-safe view of what it has received."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = _free_port(host)
        self._messages: list[ReceivedEmail] = []
        self._condition = threading.Condition()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[ReceivedEmail]:
        with self._condition:
            return list(self._messages)

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is not None:
            return
        controller = Controller(_CollectingHandler(self), hostname=self.host, port=self.port, ready_timeout=10)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        with self._condition:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[ReceivedEmail]:
        """Block until at least ``count`` messages arrived; fail the test after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    subjects = [str(item["Subject"]) for item in self._messages]
                    raise AssertionError(
                        f"expected {count} e-mail(s) at the SMTP server within {timeout} s, got "
                        f"{len(self._messages)}: {subjects}"
                    )
                self._condition.wait(remaining)
            return list(self._messages)

    def _received(self, item: ReceivedEmail) -> None:
        with self._condition:
            self._messages.append(item)
            self._condition.notify_all()


def _free_port(host: str) -> int:
    # The port is reserved only until the socket closes; aiosmtpd binds it right after. Keeping a
    # fixed port (rather than 0) is what lets stop()/start() come back where the settings point.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    # aiosmtpd logs every SMTP command at INFO; that buries a failing test's own output.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def queued_email_backend(settings: Any) -> None:
    settings.EMAIL_BACKEND = "notifications.email.QueuedEmailBackend"


@pytest.fixture
def smtp_transport(settings: Any, queued_email_backend: None, smtp_server: SmtpSink) -> SmtpSink:
    settings.EMAIL_TRANSPORT = "smtp"
    settings.EMAIL_HOST = smtp_server.host
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    return smtp_server
