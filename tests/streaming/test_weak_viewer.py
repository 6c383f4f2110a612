"""A viewer on a weak link keeps continuous video from the session's one low rendition.

Real WebRTC on loopback (127.0.0.x only; aioice is restricted like in tests/media): an aiortc
publisher, the SFU and decoding aiortc viewers. One or two viewers sit behind a ConstrainedLink
(a tbf-like bottleneck on their own socket, in this process) that cannot carry the guide's stream;
the SFU learns it only from their RTCP receiver reports.

The publisher (helpers below, built on the stamped media of tests/media) draws the stamp (frame
index, send time) into the top-left corner of a 640x360 frame and a panning texture everywhere
else, so aiortc's encoder spends its whole bitrate (0.5 to 1.5 Mbit/s, following the SFU's
bandwidth estimate) as a camera would; a flat test picture needs a few tens of kbit/s and no link
would ever be too weak for it.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aioice.ice
import av
import pytest
from aiortc import AudioStreamTrack, RTCPeerConnection, VideoStreamTrack
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

from streaming.sfu import SfuConfig, SfuRoom, forwarding
from streaming.sfu.adaptation import AdaptationConfig
from streaming.sfu.rendition import RenditionConfig
from tests.media.clients import Received, TestPublisher, TestViewer, new_peer_connection, percentile, wait_until
from tests.media.conftest import CLIENT_ADDRESS, SFU_ADDRESS
from tests.media.stamps import HEIGHT as STAMP_HEIGHT
from tests.media.stamps import WIDTH as STAMP_WIDTH
from tests.media.stamps import Stamp, draw, now_ms, read

FULL = (640, 360)
STALL_MS = 500
_TEXTURE_SEED = 20261122


class WideStampedTrack(VideoStreamTrack):
    """640x360 at 30 fps: the stamp top left, a texture panning 4 pixels a frame elsewhere."""

    def __init__(self, room: int, source: int = 1) -> None:
        super().__init__()
        self.room, self.source, self.index = room, source, 0
        width, height = FULL
        generator = random.Random(_TEXTURE_SEED)
        # Twice as wide as the frame: any window of a row is the row panned sideways.
        self._texture = bytes(generator.randrange(96, 160) for _ in range(2 * width * height))
        self._chroma = bytes([128]) * (width * height // 4)

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        stamp = draw(Stamp(room=self.room, source=self.source, index=self.index, sent_ms=now_ms()))
        frame = compose(stamp, self._texture, self.index, self._chroma)
        frame.pts = pts
        frame.time_base = time_base
        self.index += 1
        return frame


def compose(stamp: av.VideoFrame, texture: bytes, index: int, chroma: bytes) -> av.VideoFrame:
    width, height = FULL
    stamp_plane = stamp.planes[0]
    stamp_luma = bytes(stamp_plane)
    shift = (index * 4) % width
    rows = []
    for y in range(height):
        row = texture[(2 * y * width) + shift : (2 * y * width) + shift + width]
        if y < STAMP_HEIGHT:
            start = y * stamp_plane.line_size
            row = stamp_luma[start : start + STAMP_WIDTH] + row[STAMP_WIDTH:]
        rows.append(row)
    frame = av.VideoFrame(width, height, "yuv420p")
    frame.planes[0].update(b"".join(rows))
    frame.planes[1].update(chroma)
    frame.planes[2].update(chroma)
    return frame


class WidePublisher(TestPublisher):
    """tests/media's publisher with the 640x360 track."""

    def __init__(self, *, room: int, audio: bool = True) -> None:
        self.pc = new_peer_connection()
        self.video = WideStampedTrack(room)  # type: ignore[assignment]
        self.pc.addTrack(self.video)
        if audio:
            self.pc.addTrack(AudioStreamTrack())
        self.offer_sdp = ""
        self.answer_sdp = ""


@dataclass(frozen=True)
class Picture:
    at_ms: int
    width: int
    height: int


class BrowserLikeJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, plus what a browser's does after a loss nobody repairs.

    aiortc's buffer hands out frames strictly in sequence: one packet lost for good (lost again
    when retransmitted, or gone from the sender's history) holds every later frame back until
    512 packets have arrived, about 7 s at the low rendition's rate. A browser assembles frames
    independently and decodes from the next complete keyframe. This buffer does the same: when
    nothing comes out and a complete VP8 keyframe waits past a hole, everything before it goes.

    A browser also drops a packet of a frame no later than the last one it decoded (a
    retransmission that came too late). aiortc's buffer instead starts over from a packet 100 or
    more behind its origin, and after a resync could then put together an old frame, of the
    full stream, among the low rendition's. The SFU is not involved; this only makes the aiortc
    viewer behave like the browsers it stands for.
    """

    resyncs = 0
    stale = 0
    last_packet_ms = 0
    last_timestamp: int | None = None  # of the last frame handed to the decoder

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        self.last_packet_ms = now_ms()
        if self.last_timestamp is not None and not _later(packet.timestamp, self.last_timestamp):
            self.stale += 1
            return False, None
        pli_flag, frame = super().add(packet)
        if frame is None and self._origin is not None:
            keyframe_at = self._complete_keyframe_past_a_hole()
            if keyframe_at is not None:
                self.remove(uint16_add(keyframe_at, -self._origin))
                self.resyncs += 1
                frame = self._remove_frame(packet.sequence_number)
        if frame is not None:
            self.last_timestamp = frame.timestamp
        return pli_flag, frame

    def _slot(self, sequence_number: int) -> RtpPacket | None:
        return self._packets[sequence_number % self._capacity]

    def _complete_keyframe_past_a_hole(self) -> int | None:
        assert self._origin is not None
        hole = next((n for n in range(self._capacity) if self._slot(uint16_add(self._origin, n)) is None), None)
        if hole is None:
            return None
        for offset in range(hole + 1, self._capacity):
            start = uint16_add(self._origin, offset)
            first = self._slot(start)
            if first is None or not _starts_vp8_keyframe(first):
                continue
            for more in range(1, self._capacity - offset):
                following = self._slot(uint16_add(start, more))
                if following is None:
                    break
                if following.timestamp != first.timestamp:
                    return start  # every packet of the keyframe is here, and the next frame began
        return None


def _later(timestamp: int, than: int) -> bool:
    """RTP timestamps, modulo 2**32 (RFC 3550)."""
    return 0 < (timestamp - than) & 0xFFFFFFFF < 0x80000000


def _starts_vp8_keyframe(packet: RtpPacket) -> bool:
    # RFC 7741: S bit set and partition 0 in the payload descriptor; RFC 6386: frame tag bit 0 clear.
    data: bytes = getattr(packet, "_data", b"")
    return bool(packet.payload) and packet.payload[0] & 0x1F == 0x10 and bool(data) and data[0] & 0x01 == 0


@dataclass
class SizedViewer(TestViewer):
    """tests/media's decoding viewer that also records each decoded picture's size.

    A smaller picture is scaled back to 640x360 before its stamp is read (the stamp shrinks with
    it). Its video receiver behaves like a browser's where aiortc's does not: a
    BrowserLikeJitterBuffer, and a keyframe request (RTCP PLI) when packets arrive but no picture
    has come out for STALL_MS (a browser asks after 200 ms to 3 s; aiortc only asks when its
    decoder fails, and here nothing reaches the decoder).
    """

    pictures: list[Picture] = field(default_factory=list)
    picture_loss_indications: int = 0

    async def join(self, sfu: SfuRoom) -> None:
        await super().join(sfu)
        assert self.pc is not None
        receiver = next(t.receiver for t in self.pc.getTransceivers() if t.kind == "video")
        # Before any packet can arrive: the SFU sends once the transport is up.
        buffer = BrowserLikeJitterBuffer(capacity=512, is_video=True)
        receiver._RTCRtpReceiver__jitter_buffer = buffer
        self._tasks.append(asyncio.ensure_future(self._repair_like_a_browser(receiver, buffer)))

    async def _repair_like_a_browser(self, receiver: Any, buffer: BrowserLikeJitterBuffer) -> None:
        asked_ms = 0
        while True:
            await asyncio.sleep(0.1)
            now = now_ms()
            last_picture = self.pictures[-1].at_ms if self.pictures else self.joined_ms
            receiving = now - buffer.last_packet_ms < 200
            if receiving and now - last_picture > STALL_MS and now - asked_ms > STALL_MS:
                await forwarding.send_picture_loss_indication(receiver)
                asked_ms = now
                self.picture_loss_indications += 1

    @property
    def resyncs(self) -> int:
        return sum(buffer.resyncs for buffer in self._video_buffers())

    @property
    def stale(self) -> int:
        return sum(buffer.stale for buffer in self._video_buffers())

    def _video_buffers(self) -> list[BrowserLikeJitterBuffer]:
        assert self.pc is not None
        return [t.receiver._RTCRtpReceiver__jitter_buffer for t in self.pc.getTransceivers() if t.kind == "video"]

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame: Any = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "audio":
                self.audio_frames += 1
                continue
            at_ms = now_ms()
            self.pictures.append(Picture(at_ms=at_ms, width=frame.width, height=frame.height))
            if (frame.width, frame.height) != FULL:
                frame = frame.reformat(width=FULL[0], height=FULL[1], format="yuv420p")
            stamp = read(frame)
            if stamp is None:
                self.unreadable += 1
            else:
                self.frames.append(Received(at_ms=at_ms, stamp=stamp))

    def pictures_between(self, start_ms: int, end_ms: int) -> list[Picture]:
        return [p for p in self.pictures if start_ms <= p.at_ms < end_ms]

    def longest_gap_ms(self, start_ms: int, end_ms: int) -> int:
        """The longest time without a decoded picture in the window (its edges included)."""
        moments = [start_ms, *(p.at_ms for p in self.pictures_between(start_ms, end_ms)), end_ms]
        return max(later - earlier for earlier, later in itertools.pairwise(moments))


class ConstrainedLink:
    """A bottleneck in front of one viewer's socket, like ``tc qdisc ... tbf rate R latency L``.

    Every datagram arriving for the viewer waits its turn at ``rate_bps`` (IP + UDP headers
    counted); one that would wait longer than ``buffer_ms`` is dropped. Installed on the viewer's
    ICE sockets (aioice's protocol objects) in this process: the SFU sends exactly as it would to
    a phone on a poor network and learns about it only from what the viewer reports.
    """

    def __init__(self, rate_bps: int, buffer_ms: int = 500) -> None:
        self.rate_bps = rate_bps
        self.buffer_ms = buffer_ms
        self.delivered = 0
        self.dropped = 0
        self._queued_bytes = 0
        self._free_at = 0.0

    @property
    def _limit_bytes(self) -> float:
        return self.rate_bps * self.buffer_ms / 8000

    def attach(self, pc: RTCPeerConnection) -> None:
        transports = {id(t.receiver.transport): t.receiver.transport for t in pc.getTransceivers()}
        for dtls in transports.values():
            connection: Any = dtls.transport.iceGatherer._connection
            for protocol in connection._protocols:
                protocol.datagram_received = self._wrap(protocol.datagram_received)

    def lift(self) -> None:
        """The link recovers (a generous rate; the queue drains in order)."""
        self.rate_bps = 100_000_000

    def _wrap(self, deliver: Callable[[bytes, Any], None]) -> Callable[[bytes, Any], None]:
        def datagram_received(data: bytes, addr: Any) -> None:
            size = len(data) + 28
            if self._queued_bytes + size > max(self._limit_bytes, 1500):
                self.dropped += 1
                return
            loop = asyncio.get_running_loop()
            self._free_at = max(loop.time(), self._free_at) + size * 8 / self.rate_bps
            self._queued_bytes += size
            loop.call_at(self._free_at, self._arrive, deliver, data, addr, size)

        return datagram_received

    def _arrive(self, deliver: Callable[[bytes, Any], None], data: bytes, addr: Any, size: int) -> None:
        self._queued_bytes -= size
        self.delivered += 1
        deliver(data, addr)


# -- fixtures -------------------------------------------------------------------------------------

WEAK_LINK_BPS = 400_000  # below the guide's stream (0.5-1.5 Mbit/s), above the low one (~0.25)
MEASURE_SECONDS = 8.0


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every aiortc client here offers 127.0.0.2 only; the SFU its configured 127.0.0.3."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: [CLIENT_ADDRESS])


@pytest.fixture
def sfu_config() -> SfuConfig:
    return SfuConfig(host_addresses=(SFU_ADDRESS,))


def run(scenario: Awaitable[None], timeout: float = 60) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario, timeout)

    asyncio.run(bounded())


async def join_behind(viewer: SizedViewer, room: SfuRoom, link: ConstrainedLink) -> None:
    await viewer.join(room)
    assert viewer.pc is not None
    link.attach(viewer.pc)


def decoding_low(viewer: SizedViewer) -> bool:
    """Its last ten pictures are all the low rendition's."""
    recent = viewer.pictures[-10:]
    return len(recent) == 10 and {(p.width, p.height) for p in recent} == {(320, 180)}


# -- tests ----------------------------------------------------------------------------------------


def test_two_weak_viewers_share_one_low_rendition_and_the_good_viewer_keeps_the_full_stream(
    sfu_config: SfuConfig,
) -> None:
    # No probe back up during the test: this one is about the weak path holding.
    config = replace(sfu_config, adaptation=AdaptationConfig(probe_after=120))

    async def scenario() -> None:
        room = SfuRoom("weak-shared", config)
        publisher = WidePublisher(room=1)
        good = SizedViewer("good")
        weak = [SizedViewer("weak-1"), SizedViewer("weak-2")]
        links = [ConstrainedLink(WEAK_LINK_BPS), ConstrainedLink(WEAK_LINK_BPS)]
        try:
            await publisher.publish(room)
            await good.join(room)
            for viewer, link in zip(weak, links, strict=True):
                await join_behind(viewer, room, link)
            joined = now_ms()

            def on_low() -> bool:
                viewers = room.stats().viewers
                return all(viewers[v.viewer_id].rendition == "low" for v in weak)

            assert await wait_until(on_low, within=15), room.stats()
            print(f"weak viewers on the low rendition {(now_ms() - joined) & 0xFFFFFFFF} ms after joining")
            assert all(link.dropped > 0 for link in links), "the guide's stream does not fit the weak link"
            # Frames of the full stream may still be in the links' buffers or repaired late.
            assert await wait_until(lambda: all(decoding_low(v) for v in weak), within=10)

            before = room.stats()
            start = now_ms()
            await asyncio.sleep(MEASURE_SECONDS)
            end = now_ms()
            after = room.stats()

            # Continuous: the target is never a second without a new picture, met with 136-375 ms at
            # load 4-6 on 2 cores. The bound is 2 s (or the good viewer's own longest stall plus
            # 1 s): publisher, SFU, viewers and the link emulation share this process, so on an
            # oversubscribed host (load 8+) each stall bursts into the weak link and costs a
            # keyframe round trip. Without the low rendition: freezes of 3.45-3.8 s (ADR 0010).
            stall_ms = good.longest_gap_ms(start, end)
            print(f"good viewer: longest gap {stall_ms} ms")
            for viewer in weak:
                pictures = viewer.pictures_between(start, end)
                gap = viewer.longest_gap_ms(start, end)
                fps = len(pictures) / MEASURE_SECONDS
                print(
                    f"{viewer.viewer_id}: {fps:.1f} fps, longest gap {gap} ms, unreadable {viewer.unreadable},"
                    f" resyncs {viewer.resyncs}, late packets dropped {viewer.stale}"
                )
                assert {(p.width, p.height) for p in pictures} == {(320, 180)}
                assert gap <= max(2000, stall_ms + 1000), "continuous video"
                assert fps >= 8, "15 fps nominal; 8 on a starved machine"
                stamps = [r for r in viewer.frames if start <= r.at_ms < end]
                assert len(stamps) >= 0.9 * len(pictures), "the pictures are the guide's, legible"
                indices = [r.stamp.index for r in stamps]
                assert indices == sorted(set(indices)), "in order, each once"
                assert after.viewers[viewer.viewer_id].switches_down == 1
            # One encoding for both: the same source frames, at the low rendition's rate.
            first, second = ({r.stamp.index for r in v.frames if start <= r.at_ms < end} for v in weak)
            assert len(first & second) >= 0.8 * min(len(first), len(second))
            encoded = after.low_rendition.frames_encoded - before.low_rendition.frames_encoded
            print(f"low rendition: {encoded / MEASURE_SECONDS:.1f} frames/s encoded, {after.low_rendition}")
            assert encoded <= 1.3 * 15 * MEASURE_SECONDS, "one encoder, not one per weak viewer"
            assert after.low_rendition.starts == 1
            assert after.low_rendition.running
            assert after.low_rendition_viewers == 2
            assert (after.low_rendition.width, after.low_rendition.height) == (320, 180)

            full = good.pictures_between(start, end)
            assert {(p.width, p.height) for p in full} == {FULL}
            assert len(full) / MEASURE_SECONDS >= 0.8 * 30
            latencies = [r.latency_ms for r in good.frames if start <= r.at_ms < end]
            assert percentile(latencies, 0.95) < 1000, "generous: the host may be oversubscribed"
            assert after.viewers["good"].rendition == "high"
            assert after.viewers["good"].switches_down == 0
            # Per viewer, the SFU still only forwards.
            assert after.media.decodes == after.media.encodes == 0
        finally:
            for viewer in [good, *weak]:
                await viewer.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_a_weak_viewer_whose_link_recovers_goes_back_to_the_full_stream_without_a_gap(
    sfu_config: SfuConfig,
) -> None:
    config = replace(
        sfu_config,
        adaptation=AdaptationConfig(probe_after=3.0),
        low_rendition=RenditionConfig(linger_seconds=1.0),
    )

    async def scenario() -> None:
        room = SfuRoom("weak-recovers", config)
        publisher = WidePublisher(room=1, audio=False)
        viewer = SizedViewer("commuter")
        link = ConstrainedLink(WEAK_LINK_BPS)
        try:
            await publisher.publish(room)
            await join_behind(viewer, room, link)
            switches: list[str] = []
            room._viewers["commuter"].on_rendition = switches.append  # what the consumer passes to subscribe
            assert await wait_until(lambda: room.stats().viewers["commuter"].rendition == "low", within=15)
            assert await wait_until(lambda: decoding_low(viewer), within=5), "it decodes the low stream steadily"

            lifted = now_ms()
            link.lift()  # the train leaves the tunnel
            assert await wait_until(lambda: room.stats().viewers["commuter"].rendition == "high", within=15)
            switched = now_ms()
            print(f"back on the full stream {(switched - lifted) & 0xFFFFFFFF} ms after the link recovered")
            await asyncio.sleep(1.5)
            end = now_ms()

            gap = viewer.longest_gap_ms(lifted, end)
            print(f"longest gap across the switch up: {gap} ms")
            assert gap <= 1000, "the low stream carries on until the full stream's keyframe"
            sizes = [(p.width, p.height) for p in viewer.pictures_between(lifted, end)]
            assert sizes[0] == (320, 180)
            assert sizes[-1] == FULL
            # A keyframe at the switch: from the first full picture on, every one is full and legible.
            first_full = sizes.index(FULL)
            assert set(sizes[first_full:]) == {FULL}
            assert await wait_until(lambda: not room.stats().low_rendition.running, within=5), "nobody needs it"
            stats = room.stats()
            assert stats.viewers["commuter"].switches_down == 1
            assert stats.viewers["commuter"].switches_up == 1
            assert switches == ["low", "high"], "the viewer's page is told at each switch"
            assert stats.low_rendition.starts == 1
            assert stats.media.decodes == stats.media.encodes == 0
        finally:
            await viewer.close()
            await publisher.close()
            await room.close()

    run(scenario())
