"""Real media through the signalling consumer: aiortc peers negotiate over WebSocketCommunicators.

The guide's phone (an aiortc publisher sending stamped VP8 frames) and the viewers' browsers
(aiortc viewers that decode and read the stamps) talk only the contract of docs/events.md; the
consumer drives the process's SFU room. Every peer is on loopback (see conftest.py).
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from channels.testing import WebsocketCommunicator

from streaming import registry
from streaming.models import LiveSession, Recording
from streaming.rules import Role
from streaming.sfu import SfuRoom
from tests.streaming.test_consumer import (
    STEP_TIMEOUT,
    _fresh_loop_state,  # noqa: F401  (autouse: fresh loopback-only registry and channel layer)
    communicator,
    expect_fatal_close,
    join,
    live_now,
    receive_until,
    token_for,
)
from tests.support.live_loop import run

from . import conftest as media
from .clients import TestPublisher, TestViewer, all_loopback, candidate_addresses, wait_until
from .stamps import now_ms


class Signalled:
    """Looks like SfuRoom to the media test clients, but every call is a WebSocket message."""

    def __init__(self, comm: WebsocketCommunicator) -> None:
        self.comm = comm
        self.seen: list[dict[str, Any]] = []
        self.epoch = 0

    async def publish(self, offer_sdp: str) -> str:
        await self.comm.send_json_to({"type": "publish", "sdp": offer_sdp})
        answer = await receive_until(self.comm, "publish.answer", within=10, seen=self.seen)
        self.epoch = answer["epoch"]
        return cast(str, answer["sdp"])

    async def subscribe(self, viewer_id: str) -> str:
        await self.comm.send_json_to({"type": "subscribe"})
        offer = await receive_until(self.comm, "subscribe.offer", within=10, seen=self.seen)
        self.epoch = offer["epoch"]
        return cast(str, offer["sdp"])

    async def accept_answer(self, viewer_id: str, answer_sdp: str) -> None:
        await self.comm.send_json_to({"type": "subscribe.answer", "sdp": answer_sdp})

    def as_room(self) -> SfuRoom:
        return cast(SfuRoom, self)


@pytest.fixture(autouse=True)
def _sfu_on_loopback(_fresh_loop_state: None, settings: Any) -> None:  # noqa: F811
    # The registry built from settings, as in production, here on loopback only.
    settings.SFU_HOST_ADDRESSES = media.SFU_ADDRESS
    settings.SFU_ICE_SERVERS = ""
    registry.reset_registry(None)
    assert registry.get_registry().config.host_addresses == (media.SFU_ADDRESS,)


def test_two_viewers_decode_the_guides_frames_and_see_them_again_after_the_guide_republishes() -> None:
    given = live_now()

    async def scenario() -> None:
        guide_ws, _ = await join(given.session, given.guide, Role.PUBLISHER)
        guide = Signalled(guide_ws)
        publisher = TestPublisher(room=7, source=1)
        viewers = [TestViewer(f"v{n}") for n in range(2)]
        sockets: list[Signalled] = []
        try:
            await publisher.publish(guide.as_room())
            assert guide.epoch == 1
            assert all_loopback(candidate_addresses(publisher.answer_sdp))
            assert media.SFU_ADDRESS in candidate_addresses(publisher.answer_sdp)

            second_guest = given.guest
            third_guest = await _booked_guest(given)
            for viewer, guest in zip(viewers, (second_guest, third_guest), strict=True):
                ws, welcome = await join(given.session, guest, Role.VIEWER)
                assert welcome["session"]["status"] == "live"
                signalled = Signalled(ws)
                sockets.append(signalled)
                await viewer.join(signalled.as_room())
                assert signalled.epoch == 1
                assert all_loopback(candidate_addresses(viewer.offer_sdp))

            start = now_ms()
            assert await wait_until(lambda: all(len(v.frames_since(start, source=1)) >= 10 for v in viewers), 10)
            for viewer in viewers:
                assert {r.stamp.room for r in viewer.frames} == {7}
                indices = [r.stamp.index for r in viewer.frames]
                assert indices == sorted(set(indices)), "frames arrive once each, in order"

            # The guide's phone changes network: new peer connection, new WebSocket.
            await publisher.close()
            await guide_ws.disconnect()
            publisher = TestPublisher(room=7, source=2)
            guide_ws, welcome = await join(given.session, given.guide, Role.PUBLISHER)
            assert welcome["session"]["epoch"] == 1
            guide = Signalled(guide_ws)
            republished_ms = now_ms()
            await publisher.publish(guide.as_room())
            assert guide.epoch == 2
            for signalled in sockets:
                changed = await receive_until(signalled.comm, "publisher.changed", seen=signalled.seen)
                assert changed == {"type": "publisher.changed", "epoch": 2}
                state = await receive_until(signalled.comm, "session.state", seen=signalled.seen)
                assert (state["status"], state["epoch"], state["viewers"]) == ("live", 2, 2)
            assert await wait_until(
                lambda: all(len(v.frames_since(republished_ms, source=2)) >= 5 for v in viewers), 3
            ), [len(v.frames_since(republished_ms, source=2)) for v in viewers]
            print(f"republish: frames from the new publisher within {now_ms() - republished_ms} ms")
            for viewer in viewers:
                assert viewer.unreadable == 0

            # A page that always resubscribes on publisher.changed (allowed: idempotent) gets a
            # new offer for the same viewer and decodes the stream on the new connection.
            await viewers[0].close()
            resubscribed_ms = now_ms()
            await viewers[0].join(sockets[0].as_room())
            assert sockets[0].epoch == 2
            assert await wait_until(lambda: len(viewers[0].frames_since(resubscribed_ms, source=2)) >= 5, 3)
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
            for signalled in sockets:
                await signalled.comm.disconnect()
            await guide_ws.disconnect()

    run(scenario(), timeout=60)
    assert LiveSession.objects.get(pk=given.session.pk).publisher_epoch == 2
    # Publishing through the consumer starts the session's recording (finished when the room closes).
    assert Recording.objects.filter(session_id=given.session.pk).exists()


async def _booked_guest(given: Any) -> Any:
    from channels.db import database_sync_to_async

    from tests.streaming.conftest import make_booking, make_user

    def create() -> Any:
        guest = make_user()
        make_booking(user=guest, slot=given.session.slot)
        return guest

    return await database_sync_to_async(create)()


def test_a_viewer_without_a_booking_gets_no_offer_only_a_fatal_refusal() -> None:
    given = live_now()

    async def scenario() -> None:
        from channels.db import database_sync_to_async

        from tests.streaming.conftest import make_user

        stranger = await database_sync_to_async(make_user)()
        comm = communicator(given.session.pk, token_for(stranger, given.session, Role.VIEWER))
        assert (await comm.connect(timeout=STEP_TIMEOUT))[0]
        await expect_fatal_close(comm, "error", "not_booked")

    run(scenario())


def test_a_viewer_who_subscribed_before_the_guide_went_live_gets_media_when_the_guide_publishes() -> None:
    given = live_now()

    async def scenario() -> None:
        viewer_ws, welcome = await join(given.session, given.guest, Role.VIEWER)
        assert welcome["session"]["status"] == "scheduled"
        signalled = Signalled(viewer_ws)
        viewer = TestViewer("early")
        publisher = TestPublisher(room=9)
        guide_ws, _ = await join(given.session, given.guide, Role.PUBLISHER)
        try:
            await viewer.join(signalled.as_room())
            assert signalled.epoch == 0
            await publisher.publish(Signalled(guide_ws).as_room())
            changed = await receive_until(viewer_ws, "publisher.changed", seen=signalled.seen)
            assert changed["epoch"] == 1
            state = await receive_until(viewer_ws, "session.state", seen=signalled.seen)
            assert (state["status"], state["viewers"]) == ("live", 1)
            assert await wait_until(lambda: len(viewer.frames) >= 5, 5)
            assert {r.stamp.room for r in viewer.frames} == {9}
        finally:
            await viewer.close()
            await publisher.close()
            await viewer_ws.disconnect()
            await guide_ws.disconnect()

    run(scenario())
