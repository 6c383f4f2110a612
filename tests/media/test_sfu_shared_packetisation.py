"""Each forwarded frame is packetised once for every viewer; each viewer still gets its own RTP stream.

aiortc's stock sender ran the VP8 payloader (and built every packet) once per frame *per viewer*.
The room now wraps each frame in a ``forwarding.SharedFrame`` whose payloads every viewer's sender
shares, and each sender only writes its own header (SSRC, sequence number, timestamp offset,
header extensions) and VP8 picture id. These tests count the payloader's runs against a real
aiortc publisher, SFU and decoding viewers on loopback, read the raw RTP each viewer receives, and
check that a viewer's NACKs are still answered (now from the lean sender's own history).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import pytest
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RtpPacket

from streaming.sfu import AdaptationConfig, SfuConfig, SfuRoom

from .clients import SOURCE_FPS, TestPublisher, TestViewer, wait_until
from .stamps import now_ms

VIEWERS = 4
MEASURE_SECONDS = 3.0


def run(scenario: Awaitable[None], timeout: float = 40) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario, timeout)

    asyncio.run(bounded())


@dataclass(frozen=True)
class Rtp:
    ssrc: int
    sequence_number: int
    timestamp: int
    marker: int
    picture_id: int | None = None
    mid: str | None = None
    abs_send_time: int | None = None


def picture_id(payload: bytes) -> int | None:
    """The 15-bit picture id of a VP8 payload descriptor (RFC 7741), if it carries one."""
    if len(payload) >= 4 and payload[0] & 0x80 and payload[1] & 0x80 and payload[2] & 0x80:
        return ((payload[2] & 0x7F) << 8) | payload[3]
    return None


class VideoCapture:
    """Records the VP8 RTP packets reaching a viewer (before its jitter buffer) and can drop every
    ``drop_every``-th one of the media SSRC, as a lossy link would (0: none)."""

    def __init__(self, viewer: TestViewer, *, media_ssrc: int, drop_every: int = 0) -> None:
        assert viewer.pc is not None
        receiver = next(r for r in viewer.pc.getReceivers() if r.track.kind == "video")
        self._handle = receiver._handle_rtp_packet
        self._media_ssrc = media_ssrc
        self.drop_every = drop_every
        self.seen: list[Rtp] = []
        self.dropped: list[int] = []
        receiver._handle_rtp_packet = self._handle_rtp_packet  # type: ignore[method-assign]

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if packet.ssrc == self._media_ssrc:
            if self.drop_every and len(self.seen) % self.drop_every == self.drop_every - 1:
                self.dropped.append(packet.sequence_number)
                self.seen.append(Rtp(packet.ssrc, packet.sequence_number, packet.timestamp, packet.marker))
                return
            self.seen.append(
                Rtp(
                    ssrc=packet.ssrc,
                    sequence_number=packet.sequence_number,
                    timestamp=packet.timestamp,
                    marker=packet.marker,
                    picture_id=picture_id(packet.payload),
                    mid=packet.extensions.mid,
                    abs_send_time=packet.extensions.abs_send_time,
                )
            )
        await self._handle(packet, arrival_time_ms=arrival_time_ms)


def sfu_video_sender(room: SfuRoom, viewer_id: str) -> Any:
    return next(s for s in room._viewers[viewer_id].pc.getSenders() if s.kind == "video")


def test_each_frame_is_packetised_once_however_many_viewers_and_every_viewer_decodes_it(
    sfu_config: SfuConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"payloader": 0, "vp8 pack": 0, "vp8 encode": 0, "opus pack": 0}
    payloader = Vp8Encoder._packetize.__func__
    vp8_pack, vp8_encode, opus_pack = Vp8Encoder.pack, Vp8Encoder.encode, OpusEncoder.pack

    def counting(name: str, function: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return function(*args, **kwargs)

        return counted

    # The payloader is also what the publisher's own sender runs (once per frame it encodes):
    # counted from the SFU's side only by subtracting the publisher's frames below.
    monkeypatch.setattr(Vp8Encoder, "_packetize", classmethod(counting("payloader", payloader)))
    monkeypatch.setattr(Vp8Encoder, "pack", counting("vp8 pack", vp8_pack))
    monkeypatch.setattr(OpusEncoder, "pack", counting("opus pack", opus_pack))

    async def scenario() -> None:
        room = SfuRoom("tour-shared", sfu_config)
        publisher = TestPublisher(room=1)  # VP8 and Opus
        viewers = [TestViewer(f"viewer-{n}") for n in range(VIEWERS)]
        try:
            await publisher.publish(room)
            for viewer in viewers:
                await viewer.join(room)
            assert await wait_until(lambda: all(len(v.frames) >= 10 for v in viewers), within=8)
            captures = {
                v.viewer_id: VideoCapture(v, media_ssrc=sfu_video_sender(room, v.viewer_id)._ssrc).seen for v in viewers
            }
            monkeypatch.setattr(Vp8Encoder, "encode", counting("vp8 encode", vp8_encode))

            before = room.stats()
            published_before = publisher.video.index
            calls_before = dict(calls)
            start = now_ms()
            await asyncio.sleep(MEASURE_SECONDS)
            end = now_ms()
            stats = room.stats()
            published = publisher.video.index - published_before
            during = {name: calls[name] - calls_before[name] for name in calls}

            # The publisher's encoder packetises each frame it sends once (its own sender); the SFU
            # adds one run per frame it forwards, not one per viewer (stock aiortc: VIEWERS runs).
            sfu_runs = during["payloader"] - published
            packetized = stats.media.frames_packetized - before.media.frames_packetized
            print(f"{VIEWERS} viewers: publisher {published} frames, SFU payloader runs {sfu_runs}")
            assert abs(sfu_runs - published) <= 3, (sfu_runs, published)
            assert sfu_runs < 1.5 * published < VIEWERS * published
            assert packetized >= published - 3  # the room's count: video and Opus frames, once each
            # No viewer's sender packs, let alone encodes: the lean sender never calls aiortc's encoder.
            assert during["vp8 pack"] == during["opus pack"] == 0
            assert abs(during["vp8 encode"] - published) <= 3, "only the publisher encodes"
            assert stats.media.decodes == stats.media.encodes == 0

            for viewer in viewers:
                window = [r for r in viewer.frames if start <= r.at_ms < end]
                indices = [r.stamp.index for r in viewer.frames]
                assert indices == sorted(set(indices)), "frames arrive once each, in order"
                assert {r.stamp.room for r in viewer.frames} == {1}
                assert len(window) >= 0.85 * SOURCE_FPS * MEASURE_SECONDS, (viewer.viewer_id, len(window))
                assert viewer.unreadable == 0
                assert viewer.audio_frames > 0, "Opus is forwarded through the same shared path"

            # Each viewer's RTP stream is its own: its SSRC, contiguous sequence numbers,
            # continuous picture ids, one marker per frame, the mid and abs-send-time extensions.
            ssrcs = set()
            for viewer in viewers:
                packets = captures[viewer.viewer_id]
                assert len(packets) > SOURCE_FPS
                ssrcs |= {p.ssrc for p in packets}
                sequence = [p.sequence_number for p in packets]
                assert all((b - a) & 0xFFFF == 1 for a, b in itertools.pairwise(sequence)), viewer
                frames = [p for p in packets if p.marker]
                ids = [p.picture_id for p in frames]
                assert None not in ids
                assert all((b - a) & 0x7FFF == 1 for a, b in itertools.pairwise(ids)), ids  # type: ignore[operator]
                steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(frames)]
                assert all(0 < step < 90_000 for step in steps)
                assert {p.mid for p in packets} == {packets[0].mid}
                assert packets[0].mid is not None
                assert all(p.abs_send_time is not None for p in packets)
            assert len(ssrcs) == VIEWERS, "one SSRC per viewer"
        finally:
            for viewer in viewers:
                await viewer.close()
            await publisher.close()
            await room.close()

    run(scenario())


def test_a_viewers_lost_packets_are_retransmitted_by_the_sfu(sfu_config: SfuConfig) -> None:
    # The loss below would (rightly) move this viewer to the low rendition: hold it on the full one.
    config = dataclasses.replace(sfu_config, adaptation=AdaptationConfig(enabled=False))

    async def scenario() -> None:
        room = SfuRoom("tour-nack", config)
        publisher = TestPublisher(room=1, audio=False)
        lossy = TestViewer("lossy")
        try:
            await publisher.publish(room)
            await lossy.join(room)
            assert await wait_until(lambda: len(lossy.frames) >= 10, within=5)
            sender = sfu_video_sender(room, "lossy")
            retransmit = sender._retransmit
            answered: list[int] = []

            async def counting_retransmit(sequence_number: int) -> None:
                answered.append(sequence_number)
                await retransmit(sequence_number)

            sender._retransmit = counting_retransmit
            link = VideoCapture(lossy, media_ssrc=sender._ssrc, drop_every=7)
            start_index = lossy.frames[-1].stamp.index
            await asyncio.sleep(MEASURE_SECONDS)
            link.drop_every = 0
            end_index = lossy.frames[-1].stamp.index

            assert len(link.dropped) >= 5
            # aiortc's receiver NACKs each hole (seen when the next packet arrives); the SFU's
            # sender answers from its own history, as RTX.
            assert await wait_until(lambda: set(link.dropped) <= set(answered), within=3), (
                sorted(set(link.dropped) - set(answered)),
                len(link.dropped),
            )
            assert await wait_until(lambda: lossy.frames[-1].stamp.index > end_index + 10, within=3)
            indices = [r.stamp.index for r in lossy.frames if start_index < r.stamp.index <= end_index]
            assert indices == sorted(set(indices))
            # Every frame came through whole although one packet in seven was lost on the way.
            assert len(indices) >= 30
            assert indices[-1] - indices[0] + 1 - len(indices) <= 2, "frames missing despite retransmission"
            assert lossy.unreadable == 0
        finally:
            await lossy.close()
            await publisher.close()
            await room.close()

    run(scenario())
