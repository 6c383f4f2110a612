"""The live signalling consumer through the real WebSocket stack (origin check, auth, URL router).

Each test runs its scenario with ``asyncio.run`` (no pytest-asyncio); rows are committed first
(``transactional_db``) because the consumer reads them from another thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.utils import timezone

from accounts.models import User
from bookings.models import Booking
from italycouch.routing import websocket_application
from streaming import registry, services
from streaming.consumers import FATAL_CLOSE_CODE, LiveConsumer
from streaming.models import LiveSession
from streaming.rules import Role
from streaming.sfu import SfuConfig, SfuRegistry
from streaming.signalling import MAX_MESSAGE_BYTES
from streaming.tokens import issue_join_token
from tests.streaming.conftest import make_booking, make_session, make_slot, make_user
from tests.support.live_loop import run

ORIGIN = (b"origin", b"http://testserver")
STEP_TIMEOUT = 5.0


def application() -> Any:
    """The websocket half of italycouch/asgi.py, with the streaming routes."""
    return websocket_application()


@dataclass
class LiveNow:
    """A session whose slot started 5 minutes ago (inside everyone's join window)."""

    session: LiveSession
    guide: User
    guest: User
    booking: Booking


def live_now() -> LiveNow:
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    slot = make_slot(start=start, end=start + timedelta(minutes=90))
    session = make_session(slot=slot)
    guest = make_user()
    booking = make_booking(user=guest, slot=slot)
    return LiveNow(session=session, guide=slot.guide.user, guest=guest, booking=booking)


def token_for(user: User, session: LiveSession, role: Role, **kwargs: Any) -> str:
    return issue_join_token(user=user, session=session, role=role, **kwargs)


def communicator(session_id: int, token: str | None, *, origin: tuple[bytes, bytes] = ORIGIN) -> WebsocketCommunicator:
    query = f"?token={token}" if token is not None else ""
    return WebsocketCommunicator(application(), f"/ws/live/{session_id}/{query}", headers=[origin])


async def receive_until(
    comm: WebsocketCommunicator, kind: str, *, within: float = STEP_TIMEOUT, seen: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The next message of ``kind``; the others on the way are appended to ``seen``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no {kind!r} within {within} s; saw {[m.get('type') for m in seen or []]}")
        message: dict[str, Any] = await comm.receive_json_from(timeout=remaining)
        if message.get("type") == kind:
            return message
        if seen is not None:
            seen.append(message)


async def join(session: LiveSession, user: User, role: Role) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A connected socket past its welcome and first session.state; returns the welcome."""
    comm = communicator(session.pk, token_for(user, session, role))
    connected, _ = await comm.connect(timeout=STEP_TIMEOUT)
    assert connected
    welcome = await comm.receive_json_from(timeout=STEP_TIMEOUT)
    assert welcome["type"] == "welcome", welcome
    state = await comm.receive_json_from(timeout=STEP_TIMEOUT)
    assert state["type"] == "session.state", state
    return comm, welcome


async def expect_fatal_close(comm: WebsocketCommunicator, event_type: str, code: str) -> dict[str, Any]:
    message = await receive_until(comm, event_type)
    assert message["code"] == code, message
    close = await comm.receive_output(timeout=STEP_TIMEOUT)
    assert close == {"type": "websocket.close", "code": FATAL_CLOSE_CODE}
    return message


@pytest.fixture(autouse=True)
def _fresh_loop_state(transactional_db: None) -> Iterator[None]:
    """Each asyncio.run is a new event loop: a new SFU registry (loopback only) and channel layer."""
    registry.reset_registry(SfuRegistry(SfuConfig(host_addresses=("127.0.0.3",))))
    channel_layers.backends = {}
    yield
    registry.reset_registry(None)
    channel_layers.backends = {}


# -- refusals -------------------------------------------------------------------------------------


def _refused(session_id: int, token: str | None, code: str) -> None:
    async def scenario() -> None:
        comm = communicator(session_id, token)
        connected, _ = await comm.connect(timeout=STEP_TIMEOUT)
        assert connected
        message = await expect_fatal_close(comm, "error", code)
        assert message["fatal"] is True
        assert message["message"]

    run(scenario())


def test_a_socket_without_a_token_gets_a_fatal_bad_token_error_and_close_4403() -> None:
    given = live_now()
    _refused(given.session.pk, None, "bad_token")


def test_a_forged_token_is_refused_as_bad_token() -> None:
    given = live_now()
    token = token_for(given.guest, given.session, Role.VIEWER)
    _refused(given.session.pk, token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"), "bad_token")


def test_an_expired_token_is_refused_as_bad_token() -> None:
    given = live_now()
    token = token_for(given.guest, given.session, Role.VIEWER, now=timezone.now() - timedelta(minutes=11))
    _refused(given.session.pk, token, "bad_token")


def test_a_token_for_another_session_is_refused_as_bad_token() -> None:
    given = live_now()
    other = live_now()
    _refused(other.session.pk, token_for(given.guest, given.session, Role.VIEWER), "bad_token")


def test_a_viewer_without_a_booking_is_refused_as_not_booked() -> None:
    given = live_now()
    stranger = make_user()
    _refused(given.session.pk, token_for(stranger, given.session, Role.VIEWER), "not_booked")


def test_a_banned_viewer_is_refused_as_banned() -> None:
    given = live_now()
    services.ban_viewer(by=given.guide, session_id=given.session.pk, user=given.guest)
    _refused(given.session.pk, token_for(given.guest, given.session, Role.VIEWER), "banned")


def test_a_viewer_before_the_room_opens_is_refused_as_too_early() -> None:
    start = timezone.now().replace(microsecond=0) + timedelta(hours=3)
    slot = make_slot(start=start, end=start + timedelta(minutes=90))
    session = make_session(slot=slot)
    guest = make_user()
    make_booking(user=guest, slot=slot)
    _refused(session.pk, token_for(guest, session, Role.VIEWER), "too_early")


def test_a_viewer_token_cannot_publish_as_someone_not_the_guide() -> None:
    given = live_now()
    _refused(given.session.pk, token_for(given.guest, given.session, Role.PUBLISHER), "not_guide")


def test_a_socket_from_a_foreign_origin_is_rejected_before_the_consumer() -> None:
    given = live_now()

    async def scenario() -> None:
        comm = communicator(
            given.session.pk,
            token_for(given.guest, given.session, Role.VIEWER),
            origin=(b"origin", b"https://evil.example"),
        )
        connected, _ = await comm.connect(timeout=STEP_TIMEOUT)
        assert not connected

    run(scenario())


# -- welcome, state, ping, malformed input ---------------------------------------------------------


def test_a_booked_viewer_is_welcomed_with_the_session_and_its_state() -> None:
    given = live_now()

    async def scenario() -> None:
        comm = communicator(given.session.pk, token_for(given.guest, given.session, Role.VIEWER))
        assert (await comm.connect(timeout=STEP_TIMEOUT))[0]
        welcome = await comm.receive_json_from(timeout=STEP_TIMEOUT)
        state = await comm.receive_json_from(timeout=STEP_TIMEOUT)
        await comm.disconnect()

        slot = given.session.slot
        assert welcome["type"] == "welcome"
        assert welcome["role"] == "viewer"
        assert welcome["session"] == {
            "id": given.session.pk,
            "status": "scheduled",
            "epoch": 0,
            "tour_title": slot.tour.title,
            "slot_start": slot.start.isoformat().replace("+00:00", "Z"),
            "slot_end": slot.end.isoformat().replace("+00:00", "Z"),
            "grace_seconds": 300,
        }
        assert abs(welcome["server_time"] - timezone.now().timestamp() * 1000) < 5000
        assert state["type"] == "session.state"
        assert state["status"] == "scheduled"
        assert state["epoch"] == 0
        assert state["viewers"] == 0
        assert state["countdown"]["phase"] == "live"
        assert state["countdown"]["warning"] is False
        assert 84 * 60 < state["countdown"]["remaining_seconds"] <= 85 * 60 + 1

    run(scenario())
    presence = given.session.presences.get()
    assert presence.user_id == given.guest.pk


def test_ping_is_answered_with_the_client_time_and_the_server_time() -> None:
    given = live_now()

    async def scenario() -> None:
        comm, _ = await join(given.session, given.guest, Role.VIEWER)
        await comm.send_json_to({"type": "ping", "client_time": 1234567890123})
        pong = await comm.receive_json_from(timeout=STEP_TIMEOUT)
        await comm.disconnect()
        assert pong["type"] == "pong"
        assert pong["client_time"] == 1234567890123
        assert abs(pong["server_time"] - timezone.now().timestamp() * 1000) < 5000

    run(scenario())


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_json"),
        ("[1, 2, 3]", "not_object"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"no": "type"}', "unknown_type"),
        ('{"type": "publish", "sdp": "v=0"}', "not_allowed"),
        ('{"type": "subscribe.answer", "sdp": 42}', "bad_field"),
        ('{"type": "ping", "client_time": "noon"}', "bad_field"),
        ('{"type": "subscribe.answer", "sdp": "v=0"}', "not_subscribed"),
        ('{"type": "ping", "pad": "' + "x" * MAX_MESSAGE_BYTES + '"}', "too_large"),
        (b"\x00\x01", "binary"),
    ],
)
def test_a_bad_message_gets_a_non_fatal_error_and_the_socket_stays_usable(frame: str | bytes, code: str) -> None:
    given = live_now()

    async def scenario() -> None:
        comm, _ = await join(given.session, given.guest, Role.VIEWER)
        if isinstance(frame, bytes):
            await comm.send_to(bytes_data=frame)
        else:
            await comm.send_to(text_data=frame)
        error = await comm.receive_json_from(timeout=STEP_TIMEOUT)
        await comm.send_json_to({"type": "ping", "client_time": 7})
        pong = await receive_until(comm, "pong")
        await comm.disconnect()
        assert error["type"] == "error"
        assert error["code"] == code
        assert error["fatal"] is False
        assert pong["client_time"] == 7

    run(scenario())


# -- staying inside ---------------------------------------------------------------------------------


def _kicked_after(change: Callable[[LiveNow], None], code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    given = live_now()
    monkeypatch.setattr(LiveConsumer, "recheck_seconds", 0.2)

    async def scenario() -> None:
        comm, _ = await join(given.session, given.guest, Role.VIEWER)
        state = await receive_until(comm, "session.state")  # the periodic re-check runs
        assert state["status"] == "scheduled"
        await database_sync_to_async(change)(given)
        message = await expect_fatal_close(comm, "kicked", code)
        assert message["message"]

    run(scenario())


def test_a_viewer_whose_booking_is_cancelled_is_kicked_at_the_next_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    def cancel(given: LiveNow) -> None:
        Booking.objects.filter(pk=given.booking.pk).update(status=Booking.Status.CANCELLED)

    _kicked_after(cancel, "booking_cancelled", monkeypatch)


def test_a_viewer_banned_while_inside_is_kicked_at_the_next_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    def ban(given: LiveNow) -> None:
        services.ban_viewer(by=given.guide, session_id=given.session.pk, user=given.guest)

    _kicked_after(ban, "banned", monkeypatch)


def test_the_guide_ending_the_session_tells_everyone_and_closes_their_sockets() -> None:
    given = live_now()

    async def scenario() -> None:
        guide, welcome = await join(given.session, given.guide, Role.PUBLISHER)
        assert welcome["role"] == "publisher"
        viewer, _ = await join(given.session, given.guest, Role.VIEWER)
        await guide.send_json_to({"type": "end"})
        for comm in (guide, viewer):
            state = await receive_until(comm, "session.state")
            assert state["status"] == "ended"
            assert state["countdown"]["phase"] == "over"
            await expect_fatal_close(comm, "kicked", "session_ended")

    run(scenario())
    session = LiveSession.objects.get(pk=given.session.pk)
    assert session.status == LiveSession.Status.ENDED
    assert session.ended_reason == LiveSession.EndedReason.GUIDE_ENDED


def test_the_overdue_sweep_task_ends_the_session_and_kicks_its_sockets() -> None:
    from streaming.tasks import end_overdue_sessions

    given = live_now()

    async def scenario() -> None:
        viewer, _ = await join(given.session, given.guest, Role.VIEWER)
        # The slot ended long ago: the sweep (a Celery task) ends it.
        await database_sync_to_async(lambda: LiveSession.objects.filter(pk=given.session.pk).update(grace_minutes=0))()
        from bookings.models import Slot

        past = timezone.now() - timedelta(minutes=1)
        await database_sync_to_async(lambda: Slot.objects.filter(pk=given.session.slot_id).update(end=past))()

        # A plain thread, as the embedded scheduler's timer (not one of asgiref's worker threads).
        def sweep() -> list[int]:
            try:
                return end_overdue_sessions()
            finally:
                connections.close_all()

        ended = await asyncio.to_thread(sweep)
        assert ended == [given.session.pk]
        await expect_fatal_close(viewer, "kicked", "session_ended")

    run(scenario())
    assert LiveSession.objects.get(pk=given.session.pk).ended_reason == LiveSession.EndedReason.AUTO_ENDED


def test_a_token_used_in_a_browser_logged_in_as_someone_else_is_refused() -> None:
    from django.test import Client

    given = live_now()

    def login_cookie(user: User) -> tuple[bytes, bytes]:
        client = Client()
        client.force_login(user)
        return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())

    someone_else, the_guest = login_cookie(make_user()), login_cookie(given.guest)
    path = f"/ws/live/{given.session.pk}/?token={token_for(given.guest, given.session, Role.VIEWER)}"

    async def scenario() -> None:
        comm = WebsocketCommunicator(application(), path, headers=[ORIGIN, someone_else])
        assert (await comm.connect(timeout=STEP_TIMEOUT))[0]
        await expect_fatal_close(comm, "error", "bad_token")
        # The same token in the guest's own logged-in browser is fine.
        comm = WebsocketCommunicator(application(), path, headers=[ORIGIN, the_guest])
        assert (await comm.connect(timeout=STEP_TIMEOUT))[0]
        assert (await comm.receive_json_from(timeout=STEP_TIMEOUT))["type"] == "welcome"
        await comm.disconnect()

    run(scenario())
