"""The SFU's pure parts, without a network: keyframe coalescing, bounded queues, timestamps."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc import VideoStreamTrack

from streaming.sfu import forwarding
from streaming.sfu.room import KeyframeRequester, MediaCounters, ViewerStats, ViewerTrack, _Timeline

KEYFRAME = b"\x10\x02\x00\x9d\x01\x2a"  # frame tag bit 0 clear
DELTA = b"\x11\x02\x00"


def test_vp8_keyframes_are_told_apart_from_delta_frames() -> None:
    assert forwarding.is_vp8_keyframe(KEYFRAME)
    assert not forwarding.is_vp8_keyframe(DELTA)
    assert not forwarding.is_vp8_keyframe(b"")


def test_keyframe_requests_are_coalesced_to_one_per_interval_and_none_is_lost() -> None:
    async def scenario() -> None:
        sent_at: list[float] = []
        loop = asyncio.get_running_loop()

        async def send() -> bool:
            sent_at.append(loop.time())
            return True

        requester = KeyframeRequester(0.2, send)
        for _ in range(5):
            requester.request()
        await asyncio.sleep(0.05)
        assert len(sent_at) == 1, "the first request goes out at once"
        requester.request()
        requester.request()
        await asyncio.sleep(0.3)
        assert len(sent_at) == 2, "requests inside the interval become one deferred PLI"
        assert sent_at[1] - sent_at[0] >= 0.19
        assert (requester.requested, requester.sent) == (7, 2)
        requester.close()

    asyncio.run(scenario())


def payload(item: object) -> bytes:
    assert isinstance(item, av.Packet)
    return bytes(item)


def make_track(kind: str, capacity: int) -> tuple[ViewerTrack, ViewerStats, list[None]]:
    stats = ViewerStats()
    requests: list[None] = []
    track = ViewerTrack(
        kind, capacity=capacity, stats=stats, counters=MediaCounters(), request_keyframe=lambda: requests.append(None)
    )
    return track, stats, requests


def test_a_slow_video_viewer_drops_its_backlog_and_restarts_from_a_keyframe() -> None:
    async def scenario() -> None:
        track, stats, requests = make_track("video", capacity=3)
        track.push(av.Packet(KEYFRAME), keyframe=True)
        assert track.queued == 0, "nothing is queued before the viewer's sender reads"

        first = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)
        assert len(requests) == 1, "a starting viewer asks for a keyframe"
        track.push(av.Packet(DELTA), keyframe=False)
        assert stats.packets_dropped == 1, "delta frames before a keyframe are useless"
        track.push(av.Packet(KEYFRAME), keyframe=True)
        assert payload(await first) == KEYFRAME

        for _ in range(3):
            track.push(av.Packet(DELTA), keyframe=False)
        assert track.queued == 3
        track.push(av.Packet(DELTA), keyframe=False)  # over capacity: the viewer is behind
        assert track.queued == 0
        assert track.waiting_for_keyframe
        assert stats.packets_dropped == 1 + 4
        track.push(av.Packet(DELTA), keyframe=False)
        assert track.queued == 0
        track.push(av.Packet(KEYFRAME), keyframe=True)
        assert track.queued == 1
        assert payload(await track.recv()) == KEYFRAME
        assert stats.packets_forwarded == 2
        track.stop()

    asyncio.run(scenario())


def test_a_slow_audio_viewer_loses_its_oldest_packets_only() -> None:
    async def scenario() -> None:
        track, stats, requests = make_track("audio", capacity=2)
        first = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)
        track.push(av.Packet(b"a0"), keyframe=True)
        assert payload(await first) == b"a0"
        for data in (b"a1", b"a2", b"a3"):
            track.push(av.Packet(data), keyframe=True)
        assert [payload(await track.recv()) for _ in range(2)] == [b"a2", b"a3"]
        assert stats.packets_dropped == 1
        assert requests == []
        track.stop()

    asyncio.run(scenario())


def test_timestamps_stay_continuous_when_the_publisher_is_replaced() -> None:
    timeline = _Timeline()
    assert [timeline.restamp(1, pts, 3000) for pts in (0, 3000, 6000)] == [0, 3000, 6000]
    # The new connection's receiver starts its timestamps from zero again.
    assert [timeline.restamp(2, pts, 3000) for pts in (0, 3000)] == [9000, 12000]


def test_only_aiortc_remote_tracks_can_be_switched_to_forwarding() -> None:
    with pytest.raises(TypeError):
        forwarding.forward_encoded(VideoStreamTrack())
