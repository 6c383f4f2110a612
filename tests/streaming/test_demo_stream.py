"""``manage.py demo_stream``: the synthetic guide publishes through a real Daphne, a viewer decodes it.

Everything stays on loopback: the server's SFU offers 127.0.0.3 only (settings), the demo publisher
127.0.0.2 (``--host-address``), and the viewer's aiortc sees only 127.0.0.2 (aioice patched as in
tests/media/conftest.py).
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

import aioice.ice
import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from streaming.demo import SignallingClient, websocket_url
from streaming.rules import Role
from streaming.tokens import issue_join_token
from tests.media.clients import TestViewer, wait_until
from tests.streaming.conftest import make_booking, make_session, make_slot, make_user
from tests.support.live_server import LiveSite, run_live_site

pytestmark = pytest.mark.django_db(transaction=True)  # the server process sees committed rows only

CLIENT_ADDRESS = "127.0.0.2"
SFU_ADDRESS = "127.0.0.3"


@pytest.fixture(scope="module")
def site(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    with (
        django_db_blocker.unblock(),
        run_live_site(
            log_path=tmp_path_factory.mktemp("demo") / "live-server.log",
            settings_overrides={"SFU_HOST_ADDRESSES": [SFU_ADDRESS], "SFU_ICE_SERVERS": ""},
        ) as live,
    ):
        yield live


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: [CLIENT_ADDRESS])


class _SignalledRoom:
    """What TestViewer.join needs from an SfuRoom, over the real WebSocket."""

    def __init__(self, client: SignallingClient) -> None:
        self.client = client

    async def _until(self, kind: str) -> dict[str, Any]:
        while True:
            message = await self.client.receive(within=15)
            assert message is not None, f"socket closed before {kind}"
            if message["type"] == kind:
                return message

    async def subscribe(self, viewer_id: str) -> str:
        await self.client.send({"type": "subscribe"})
        return str((await self._until("subscribe.offer"))["sdp"])

    async def accept_answer(self, viewer_id: str, answer_sdp: str) -> None:
        await self.client.send({"type": "subscribe.answer", "sdp": answer_sdp})


def test_demo_stream_publishes_frames_a_booked_viewer_decodes(
    site: LiveSite, capsys: pytest.CaptureFixture[str]
) -> None:
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    slot = make_slot(start=start, end=start + timedelta(minutes=90))
    session = make_session(slot=slot)
    guest = make_user()
    make_booking(user=guest, slot=slot)
    viewer_token = issue_join_token(user=guest, session=session, role=Role.VIEWER)
    failure: list[BaseException] = []

    def demo() -> None:
        try:
            call_command("demo_stream", str(session.pk), url=site.url, duration=6.0, host_address=[CLIENT_ADDRESS])
        except BaseException as error:  # reported by the main thread
            failure.append(error)
        finally:
            connections.close_all()

    publisher = threading.Thread(target=demo)
    publisher.start()

    async def watch() -> TestViewer:
        client = await SignallingClient.connect(websocket_url(site.url, session.pk, viewer_token), origin=site.url)
        room = _SignalledRoom(client)
        await room._until("welcome")
        viewer = TestViewer("demo-viewer")
        try:
            # Wait for the guide to be live, then subscribe (an earlier subscription also works).
            while True:
                message = await client.receive(within=15)
                assert message is not None, failure
                if message["type"] == "session.state" and message["status"] == "live":
                    break
            await viewer.join(room)  # type: ignore[arg-type]
            await wait_until(lambda: viewer.unreadable + len(viewer.frames) >= 30, 10)
        finally:
            await viewer.close()
            await client.close()
        return viewer

    viewer = asyncio.run(watch())
    publisher.join(timeout=30)
    assert not failure, failure
    decoded = viewer.unreadable + len(viewer.frames)  # the test pattern carries no stamps
    assert decoded >= 30, decoded
    assert viewer.audio_frames > 0
    out = capsys.readouterr().out
    assert f"{site.url}/live/{session.pk}/" in out
    assert "Live (epoch 1)" in out


def test_unknown_session_is_a_clear_error() -> None:
    with pytest.raises(CommandError, match="no live session 999999"):
        call_command("demo_stream", "999999")


def test_a_refused_connection_prints_the_servers_message(site: LiveSite) -> None:
    # A session whose slot ended long ago: the server refuses the guide with a fatal error.
    start = timezone.now().replace(microsecond=0) - timedelta(days=2)
    session = make_session(slot=make_slot(start=start, end=start + timedelta(minutes=60)))
    with pytest.raises(CommandError) as refused:
        call_command("demo_stream", str(session.pk), url=site.url, duration=2.0, host_address=[CLIENT_ADDRESS])
    assert "(" in str(refused.value), refused.value  # "<server message> (<code>)"
    print(refused.value)


def test_slot_option_creates_the_session(site: LiveSite) -> None:
    slot = make_slot(start=timezone.now() - timedelta(days=2), end=timezone.now() - timedelta(days=2, hours=-1))
    with pytest.raises(CommandError):
        call_command("demo_stream", slot=slot.pk, url=site.url, duration=1.0, host_address=[CLIENT_ADDRESS])
    assert slot.live_session.pk


def test_end_option_ends_the_session(site: LiveSite) -> None:
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    session = make_session(slot=make_slot(start=start, end=start + timedelta(minutes=90)))
    call_command("demo_stream", str(session.pk), url=site.url, duration=1.0, end=True, host_address=[CLIENT_ADDRESS])
    session.refresh_from_db()
    assert session.status == "ended"


def test_no_server_is_a_clear_error() -> None:
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    session = make_session(slot=make_slot(start=start, end=start + timedelta(minutes=90)))
    with pytest.raises(CommandError, match="cannot connect"):
        call_command("demo_stream", str(session.pk), url="http://127.0.0.1:9", duration=1.0)
