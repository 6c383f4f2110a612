"""Stamped VP8 frames from an aiortc publisher, through SfuRoom, to decoding aiortc viewers.

Every peer is on loopback (see conftest.py). Latency is publisher stamp to viewer decode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import pytest
from aiortc import RTCRtpSender
from aiortc.exceptions import OperationError

from streaming.sfu import SfuConfig, SfuRegistry, SfuRoom

from .clients import (
    SOURCE_FPS,
    TestPublisher,
    TestViewer,
    all_loopback,
    candidate_addresses,
    percentile,
    wait_until,
)
from .conftest import CLIENT_ADDRESS, SFU_ADDRESS
from .stamps import now_ms

MEASURE_SECONDS = 3.0


def run(scenario: Awaitable[None], timeout: float = 30) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario, timeout)

    asyncio.run(bounded())


def report(label: str, viewer: TestViewer, start_ms: int, end_ms: int) -> dict[str, float]:
    window = [r for r in viewer.frames if start_ms <= r.at_ms < end_ms]
    latencies = [r.latency_ms for r in window]
    figures = {
        "fps": viewer.fps_between(start_ms, end_ms),
        "p50_ms": percentile(latencies, 0.5),
        "p95_ms": percentile(latencies, 0.95),
        "max_ms": max(latencies),
    }
    print(f"{label} {viewer.viewer_id}: {figures}")
    return figures


def test_three_viewers_get_advancing_frames_fast_and_the_sfu_never_transcodes(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-1", sfu_config)
        publisher = TestPublisher(room=1)
        viewers = [TestViewer(f"viewer-{n}") for n in range(3)]
        try:
            await publisher.publish(room)
            for viewer in viewers:
                await viewer.join(room)
            assert await wait_until(lambda: all(len(v.frames) >= 10 for v in viewers), within=5)

            start = now_ms()
            await asyncio.sleep(MEASURE_SECONDS)
            end = now_ms()

            for viewer in viewers:
                figures = report("3 viewers", viewer, start, end)
                indices = [r.stamp.index for r in viewer.frames]
                assert indices == sorted(set(indices)), "frames arrive once each, in order"
                assert {r.stamp.room for r in viewer.frames} == {1}
                assert figures["p95_ms"] < 300
                assert figures["fps"] >= 0.85 * SOURCE_FPS
                assert viewer.unreadable == 0
                assert viewer.audio_frames > 0, "Opus audio is forwarded too"
            stats = room.stats()
            assert stats.viewer_count == 3
            assert stats.media.decodes == 0
            assert stats.media.encodes == 0
            assert stats.media.packets_received > 0
            assert all(v.packets_forwarded > 0 for v in stats.viewers.values())
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_candidates_are_loopback_only(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-ice", sfu_config)
        publisher = TestPublisher(room=1, audio=False)
        viewer = TestViewer("viewer-ice")
        try:
            await publisher.publish(room)
            await viewer.join(room)
            sfu_sides = [publisher.answer_sdp, viewer.offer_sdp]
            client_sides = [publisher.offer_sdp, viewer.answer_sdp]
            sfu_addresses = [a for sdp in sfu_sides for a in candidate_addresses(sdp)]
            client_addresses = [a for sdp in client_sides for a in candidate_addresses(sdp)]
            assert sfu_addresses
            assert client_addresses
            assert all_loopback(sfu_addresses + client_addresses)
            assert set(sfu_addresses) == {SFU_ADDRESS}, "the SFU offers only its configured addresses"
            assert set(client_addresses) == {CLIENT_ADDRESS}
            assert await wait_until(lambda: len(viewer.frames) >= 3, within=5)
        finally:
            await viewer.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_late_viewer_gets_a_keyframe_and_a_first_frame_within_one_second(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-late", sfu_config)
        publisher = TestPublisher(room=1, audio=False)
        early = TestViewer("early")
        late = TestViewer("late")
        try:
            await publisher.publish(room)
            await early.join(room)
            assert await wait_until(lambda: len(early.frames) >= 30, within=5)
            # aiortc's encoder makes a keyframe every 3000 frames: only a PLI gets one now.
            sent_before = room.stats().keyframe_requests_sent
            await late.join(room)
            assert await wait_until(lambda: bool(late.frames), within=2)
            time_to_first_frame = (late.frames[0].at_ms - late.joined_ms) & 0xFFFFFFFF
            print(f"late viewer time to first frame: {time_to_first_frame} ms")
            assert time_to_first_frame < 1000
            assert room.stats().keyframe_requests_sent > sent_before
            assert late.unreadable == 0
            await asyncio.sleep(0.5)
            assert late.frames[-1].stamp.index > late.frames[0].stamp.index
        finally:
            await late.close()
            await early.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_viewer_that_disconnects_and_resubscribes_gets_frames_again(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-resubscribe", sfu_config)
        publisher = TestPublisher(room=1, audio=False)
        first = TestViewer("same-viewer")
        second = TestViewer("same-viewer")
        try:
            await publisher.publish(room)
            await first.join(room)
            assert await wait_until(lambda: len(first.frames) >= 5, within=5)
            await first.close()
            await room.unsubscribe("same-viewer")
            assert room.stats().viewer_count == 0

            await second.join(room)
            assert await wait_until(lambda: len(second.frames) >= 5, within=2)
            assert room.stats().viewer_count == 1
            assert second.frames[0].stamp.index > first.frames[-1].stamp.index
        finally:
            await second.close()
            await first.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_slow_viewers_do_not_slow_the_others(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-slow", sfu_config)
        publisher = TestPublisher(room=1, audio=False)
        normal = [TestViewer("normal-1"), TestViewer("normal-2")]
        sleepy = TestViewer("sleepy", consumer_delay=0.2)  # the viewer's own decode loop lags
        stalled = TestViewer("stalled")  # the SFU's sends to this viewer take 0.25 s each
        viewers = [*normal, sleepy, stalled]
        try:
            await publisher.publish(room)
            for viewer in viewers:
                await viewer.join(room)
            assert await wait_until(lambda: all(v.frames for v in viewers), within=5)

            # As if this viewer's packets went through a slow relay: aioice awaits the pair's
            # send_data, so the SFU's sender to it can only go as fast as these sends return.
            stalled_sender = room._viewers["stalled"].pc.getSenders()[0]
            stalled_pair = stalled_sender.transport.transport._connection._nominated[1]
            send_data = stalled_pair.protocol.send_data

            async def slow_send_data(data: bytes, addr: tuple[str, int]) -> None:
                await asyncio.sleep(0.25)
                await send_data(data, addr)

            stalled_pair.protocol.send_data = slow_send_data  # type: ignore[method-assign]
            before = room.stats()

            start = now_ms()
            await asyncio.sleep(MEASURE_SECONDS)
            end = now_ms()
            for viewer in normal:
                figures = report("slow neighbours", viewer, start, end)
                assert figures["fps"] >= 0.85 * SOURCE_FPS
                assert figures["p95_ms"] < 300
            stats = room.stats()
            received = stats.media.packets_received - before.media.packets_received

            def during(viewer_id: str, counter: str) -> int:
                return int(getattr(stats.viewers[viewer_id], counter) - getattr(before.viewers[viewer_id], counter))

            assert during("stalled", "packets_dropped") > 0
            assert room.queued("stalled") <= sfu_config.video_queue_frames
            # Isolation, counted by the SFU over the same window: each of the others was sent
            # every frame the publisher sent (but those still in its queue) and lost none; the
            # stalled viewer's losses are its own.
            for viewer in [*normal, sleepy]:
                forwarded = during(viewer.viewer_id, "packets_forwarded")
                assert forwarded + room.queued(viewer.viewer_id) >= received, (viewer.viewer_id, forwarded, received)
                assert during(viewer.viewer_id, "packets_dropped") == 0, viewer.viewer_id
            assert during("stalled", "packets_forwarded") < received / 2
            assert stats.media.decodes == stats.media.encodes == 0
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_republish_from_a_new_connection_resumes_every_viewer_within_3_seconds(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-republish", sfu_config)
        wifi = TestPublisher(room=1, source=1)
        mobile = TestPublisher(room=1, source=2)
        viewers = [TestViewer(f"viewer-{n}") for n in range(3)]
        try:
            await wifi.publish(room)
            for viewer in viewers:
                await viewer.join(room)
            assert await wait_until(lambda: all(len(v.frames) >= 5 for v in viewers), within=5)

            switched_at = now_ms()
            await mobile.publish(room)  # the guide's phone moved networks: new RTCPeerConnection
            await wifi.close()
            assert await wait_until(lambda: all(v.frames_since(switched_at, source=2) for v in viewers), within=3)
            for viewer in viewers:
                resumed_ms = (viewer.frames_since(switched_at, source=2)[0].at_ms - switched_at) & 0xFFFFFFFF
                print(f"republish {viewer.viewer_id}: frames again after {resumed_ms} ms")
            await asyncio.sleep(0.5)
            for viewer in viewers:
                after = viewer.frames_since(switched_at, source=2)
                assert len(after) >= 10
                assert [r.stamp.index for r in after] == sorted({r.stamp.index for r in after})
            stats = room.stats()
            assert stats.publisher_generation == 2
            assert stats.viewer_count == 3
            assert stats.media.decodes == stats.media.encodes == 0
        finally:
            for viewer in viewers:
                await viewer.close()
            await wifi.close()
            await mobile.close()
            await room.close()

    run(scenario())


def test_two_rooms_at_once_do_not_mix_streams(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        registry = SfuRegistry(sfu_config)
        publishers = {room: TestPublisher(room=room, audio=False) for room in (1, 2)}
        viewers = {room: [TestViewer(f"r{room}-a"), TestViewer(f"r{room}-b")] for room in (1, 2)}
        try:
            for room_number, publisher in publishers.items():
                await publisher.publish(registry.room(f"session-{room_number}"))
            for room_number, room_viewers in viewers.items():
                for viewer in room_viewers:
                    await viewer.join(registry.room(f"session-{room_number}"))
            everyone = [v for room_viewers in viewers.values() for v in room_viewers]
            assert await wait_until(lambda: all(len(v.frames) >= 20 for v in everyone), within=5)
            assert len(registry) == 2
            for room_number, room_viewers in viewers.items():
                for viewer in room_viewers:
                    assert {r.stamp.room for r in viewer.frames} == {room_number}
                assert registry.room(f"session-{room_number}").stats().viewer_count == 2
        finally:
            for room_viewers in viewers.values():
                for viewer in room_viewers:
                    await viewer.close()
            for publisher in publishers.values():
                await publisher.close()
            await registry.close()
        assert len(registry) == 0

    run(scenario())


def test_a_viewers_picture_loss_indication_reaches_the_publisher(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-pli", sfu_config)
        publisher = TestPublisher(room=1, audio=False)
        viewer = TestViewer("viewer-pli")
        try:
            await publisher.publish(room)
            await viewer.join(room)
            assert await wait_until(lambda: len(viewer.frames) >= 5, within=5)
            await asyncio.sleep(0.6)  # past the coalescing interval of the join's own request
            before = room.stats()
            assert viewer.pc is not None
            receiver = next(r for r in viewer.pc.getReceivers() if r.track.kind == "video")
            sfu_ssrc = receiver.getSynchronizationSources()[0].source
            await receiver._send_rtcp_pli(sfu_ssrc)  # what a browser sends when its decoder fails
            sent_before = before.keyframe_requests_sent
            assert await wait_until(lambda: room.stats().keyframe_requests_sent > sent_before, within=1)
            assert room.stats().keyframe_requests > before.keyframe_requests
        finally:
            await viewer.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_a_refused_republish_leaves_the_current_stream_running(sfu_config: SfuConfig) -> None:
    async def scenario() -> None:
        room = SfuRoom("tour-refused", sfu_config)
        publisher = TestPublisher(room=1, audio=False)
        h264_only = TestPublisher(room=1, source=2, audio=False)
        viewer = TestViewer("viewer-refused")
        try:
            await publisher.publish(room)
            await viewer.join(room)
            assert await wait_until(lambda: len(viewer.frames) >= 5, within=5)
            h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
            h264_only.pc.getTransceivers()[0].setCodecPreferences(h264)
            with pytest.raises(OperationError):
                await h264_only.publish(room)  # H.264 cannot be forwarded to VP8 viewers

            refused_at = now_ms()
            assert await wait_until(lambda: len(viewer.frames_since(refused_at, source=1)) >= 10, within=2)
            assert room.stats().publisher_generation == 1
        finally:
            await viewer.close()
            await h264_only.close()
            await publisher.close()
            await room.close()

    run(scenario())
