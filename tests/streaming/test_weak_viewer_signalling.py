"""The weak-viewer path on the live WebSocket: the `rendition` event and keyframe requests of a low viewer.

Through the real consumer stack of test_consumer.py (its helpers and its per-test SFU registry).
"""

from __future__ import annotations

import asyncio

import pytest

from streaming import registry
from streaming.rules import Role
from streaming.sfu import Rendition, SfuRoom
from tests.streaming.test_consumer import _fresh_loop_state, join, live_now, receive_until
from tests.support.live_loop import run

pytestmark = pytest.mark.usefixtures(_fresh_loop_state.__name__)


def the_room(session_id: int) -> SfuRoom:
    current = registry.get_registry().get(str(session_id))
    assert current is not None
    return current


def test_a_viewer_is_told_when_its_video_moves_to_the_low_rendition_and_back() -> None:
    given = live_now()

    async def scenario() -> None:
        comm, _ = await join(given.session, given.guest, Role.VIEWER)
        await comm.send_json_to({"type": "subscribe"})
        await receive_until(comm, "subscribe.offer")
        room = the_room(given.session.pk)
        (viewer,) = room._viewers.values()

        # What the room does when the viewer's switch lands on a keyframe of the other stream.
        room._switched(viewer, Rendition.LOW)
        assert await receive_until(comm, "rendition") == {"type": "rendition", "rendition": "low"}
        room._switched(viewer, Rendition.HIGH)
        assert await receive_until(comm, "rendition") == {"type": "rendition", "rendition": "high"}
        await comm.disconnect()

    run(scenario())


def test_a_low_viewers_keyframe_request_goes_to_the_low_encoder_not_to_the_guide() -> None:
    given = live_now()

    async def scenario() -> None:
        comm, _ = await join(given.session, given.guest, Role.VIEWER)
        await comm.send_json_to({"type": "subscribe"})
        await receive_until(comm, "subscribe.offer")
        room = the_room(given.session.pk)
        (viewer_id,) = room._viewers
        room.pin_rendition(viewer_id, Rendition.LOW)
        await asyncio.sleep(room.config.switch_down_drain + 0.1)
        low = room._low
        assert low is not None
        assert low.running
        low._force_keyframe.clear()
        upstream = room.stats().keyframe_requests

        await comm.send_json_to({"type": "keyframe"})
        await comm.send_json_to({"type": "ping", "client_time": 1})
        await receive_until(comm, "pong")  # handled in order: the keyframe request went first

        assert low._force_keyframe.is_set(), "the low encoder's next frame is a keyframe"
        assert room.stats().keyframe_requests == upstream, "no PLI to the guide for it"
        await comm.disconnect()

    run(scenario())
