"""The SFU's pure parts, without a network: keyframe coalescing, bounded queues, timestamps."""

from __future__ import annotations

import asyncio
import struct
from fractions import Fraction

import av
import pytest
from aiortc import RTCRtpHeaderExtensionParameters, RTCRtpParameters, VideoStreamTrack
from aiortc.clock import current_ntp_time
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap

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


def test_shared_vp8_payloads_carrying_a_viewers_picture_id_are_byte_for_byte_aiortcs_own() -> None:
    packetizer = forwarding.StreamPacketizer("video")
    data = bytes(range(256)) * 12  # three RTP packets' worth
    packet = av.Packet(data)
    packet.pts = 123_000
    packet.time_base = Fraction(1, 90_000)
    frame = packetizer.frame(packet, keyframe=False)
    pieces, timestamp = frame.packetized()
    assert frame.packetized() is frame.packetized()
    assert packetizer.frames_packetized == 1, "made once, however many viewers read it"
    assert timestamp == 123_000
    for picture_id in (0, 1, 0x1234, 0x7FFF):
        mine = [head + (0x8000 | picture_id).to_bytes(2, "big") + tail for head, tail in pieces]
        assert mine == Vp8Encoder._packetize(data, picture_id)
    assert len(pieces) == 3

    audio = forwarding.StreamPacketizer("audio")
    opus = av.Packet(b"opus frame")
    opus.pts = 960
    opus.time_base = Fraction(1, 48_000)
    assert audio.frame(opus, keyframe=True).packetized() == ([(b"", b"opus frame")], 960)


def test_the_header_extension_template_matches_aiortcs_serialisation() -> None:
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
            ]
        )
    )
    block = forwarding._ExtensionBlock(extensions_map, "0")
    for ntp in (0, forwarding.ntp_now(), (1 << 64) - 1, 0x0123456789ABCDEF):
        abs_send_time = (ntp >> 14) & 0xFFFFFF
        profile, value = extensions_map.set(HeaderExtensions(mid="0", abs_send_time=abs_send_time))
        assert block.at(ntp) == struct.pack("!HH", profile, len(value) >> 2) + value
    assert abs(forwarding.ntp_now() - current_ntp_time()) < (1 << 32) // 100, "within 10 ms of aiortc's clock"


def test_a_waiting_sender_is_handed_frames_directly_and_a_busy_one_reads_its_bounded_queue() -> None:
    async def scenario() -> None:
        track, stats, _ = make_track("video", capacity=2)
        sent: list[bytes] = []
        accept = True

        def send_now(item: object) -> bool:
            if accept:
                sent.append(payload(item))
            return accept

        track.deliver_directly(send_now)
        reading = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)  # the sender waits on an empty queue
        track.push(av.Packet(KEYFRAME), keyframe=True)
        track.push(av.Packet(DELTA), keyframe=False)
        assert sent == [KEYFRAME, DELTA], "no queue, no task switch"
        assert track.queued == 0
        assert not reading.done(), "the waiting sender was not woken"
        assert stats.packets_forwarded == 2

        # The room's pump is behind (CPU): frames go to the bounded queue even for a waiting sender.
        track.push(av.Packet(b"\x11one"), keyframe=False, direct=False)
        assert sent == [KEYFRAME, DELTA]
        assert payload(await reading) == b"\x11one"
        assert stats.packets_forwarded == 3

        reading = asyncio.ensure_future(track.recv())
        await asyncio.sleep(0)
        accept = False  # e.g. a send that has to be awaited: the sender's own loop takes it
        track.push(av.Packet(b"\x11two"), keyframe=False)
        assert payload(await reading) == b"\x11two"
        assert stats.packets_forwarded == 4

        # A sender that is not waiting (busy, or slow) gets the bounded queue, as before.
        accept = True
        for n in range(3):
            track.push(av.Packet(bytes([0x11, n])), keyframe=False)
        assert sent == [KEYFRAME, DELTA]
        assert track.queued == 0, "over capacity: the backlog is dropped"
        assert track.waiting_for_keyframe
        assert stats.packets_dropped == 3
        track.stop()

    asyncio.run(scenario())
