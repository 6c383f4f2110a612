"""``manage.py demo_stream <session_id>``: a synthetic guide publishes a test pattern, no camera needed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bookings.models import Slot
from streaming import services
from streaming.demo import DemoError, run_demo
from streaming.models import LiveSession
from streaming.rules import Role
from streaming.tokens import issue_join_token


class Command(BaseCommand):
    help = (
        "Act as a session's guide and publish a moving test pattern and a tone to the running site "
        "(for example after `make run`), so the live page can be watched without a camera."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session_id", nargs="?", type=int, help="the live session's id")
        parser.add_argument("--slot", type=int, help="a slot id instead: its live session (created if needed)")
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="the running site (default %(default)s)")
        parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
        parser.add_argument("--end", action="store_true", help="end the session when stopping")
        parser.add_argument(
            "--host-address",
            action="append",
            default=[],
            help="offer only this local address as ICE host candidate (repeatable; e.g. 127.0.0.2 in tests)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        session = self._session(options["session_id"], options["slot"])
        guide = session.slot.guide.user
        token = issue_join_token(user=guide, session=session, role=Role.PUBLISHER)
        url = options["url"].rstrip("/")
        self.stdout.write(f"Publishing a test pattern to {url} as {guide} (guide of session {session.pk}).")
        try:
            asyncio.run(
                self._run(
                    site_url=url,
                    session_id=session.pk,
                    token=token,
                    duration=options["duration"],
                    end=options["end"],
                    host_addresses=options["host_address"],
                )
            )
        except DemoError as error:
            raise CommandError(str(error)) from error
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")

    async def _run(self, **kwargs: Any) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGINT, stop.set)
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        result = await run_demo(**kwargs, stop=stop, say=self.stdout.write)
        self.stdout.write(f"Stopped after {result.frames_sent} frames.")

    def _session(self, session_id: int | None, slot_id: int | None) -> LiveSession:
        if (session_id is None) == (slot_id is None):
            raise CommandError("give a session id or --slot <slot id> (one of them)")
        if slot_id is not None:
            slot = Slot.objects.filter(pk=slot_id).first()
            if slot is None:
                raise CommandError(f"no slot {slot_id}")
            return services.session_for_slot(slot)
        assert session_id is not None
        session = LiveSession.objects.select_related("slot__guide__user").filter(pk=session_id).first()
        if session is None:
            raise CommandError(f"no live session {session_id} (use --slot <slot id> to create one)")
        return session
