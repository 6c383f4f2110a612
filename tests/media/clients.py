"""aiortc peers that play the guide's phone and the viewers' browsers in media tests."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.sfu import SfuRoom

from .stamps import Stamp, draw, now_ms, read

SOURCE_FPS = 30
_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ (\S+)", re.MULTILINE)


def candidate_addresses(sdp: str) -> list[str]:
    return [match.group(1) for match in _CANDIDATE.finditer(sdp)]


def all_loopback(addresses: list[str]) -> bool:
    return all(ipaddress.ip_address(address) in ipaddress.ip_network("127.0.0.0/8") for address in addresses)


def new_peer_connection() -> RTCPeerConnection:
    # No STUN server: aiortc's default would send packets to a public server.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class StampedVideoTrack(VideoStreamTrack):
    """30 fps frames carrying room, source, index and send time; aiortc's VP8 encoder encodes them."""

    def __init__(self, room: int, source: int) -> None:
        super().__init__()
        self.room = room
        self.source = source
        self.index = 0

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        frame = draw(Stamp(room=self.room, source=self.source, index=self.index, sent_ms=now_ms()))
        frame.pts = pts
        frame.time_base = time_base
        self.index += 1
        return frame


class TestPublisher:
    __test__ = False

    def __init__(self, *, room: int, source: int = 1, audio: bool = True) -> None:
        self.pc = new_peer_connection()
        self.video = StampedVideoTrack(room, source)
        self.pc.addTrack(self.video)
        if audio:
            self.pc.addTrack(AudioStreamTrack())
        self.offer_sdp = ""
        self.answer_sdp = ""

    async def publish(self, sfu: SfuRoom) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.offer_sdp = self.pc.localDescription.sdp
        self.answer_sdp = await sfu.publish(self.offer_sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=self.answer_sdp, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


@dataclass(frozen=True)
class Received:
    at_ms: int
    stamp: Stamp

    @property
    def latency_ms(self) -> int:
        return (self.at_ms - self.stamp.sent_ms) & 0xFFFFFFFF


@dataclass
class TestViewer:
    __test__ = False

    viewer_id: str
    consumer_delay: float = 0.0
    frames: list[Received] = field(default_factory=list)
    audio_frames: int = 0
    unreadable: int = 0
    joined_ms: int = 0
    offer_sdp: str = ""
    answer_sdp: str = ""
    pc: RTCPeerConnection | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def join(self, sfu: SfuRoom) -> None:
        self.joined_ms = now_ms()
        self.pc = pc = new_peer_connection()

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.ensure_future(self._consume(track)))

        self.offer_sdp = await sfu.subscribe(self.viewer_id)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=self.offer_sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        self.answer_sdp = pc.localDescription.sdp
        await sfu.accept_answer(self.viewer_id, self.answer_sdp)

    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "audio":
                self.audio_frames += 1
                continue
            at_ms = now_ms()
            stamp = read(frame)  # type: ignore[arg-type]
            if stamp is None:
                self.unreadable += 1
            else:
                self.frames.append(Received(at_ms=at_ms, stamp=stamp))
            if self.consumer_delay:
                await asyncio.sleep(self.consumer_delay)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self.pc is not None:
            await self.pc.close()

    # -- measurements ----------------------------------------------------------------------

    def frames_since(self, start_ms: int, *, source: int | None = None) -> list[Received]:
        return [
            received
            for received in self.frames
            if (received.at_ms - start_ms) & 0xFFFFFFFF < 1 << 31
            and (source is None or received.stamp.source == source)
        ]

    def fps_between(self, start_ms: int, end_ms: int) -> float:
        count = sum(1 for received in self.frames if start_ms <= received.at_ms < end_ms)
        return count * 1000 / (end_ms - start_ms)


def percentile(values: list[int], fraction: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


async def wait_until(predicate: Callable[[], bool], within: float, step: float = 0.01) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(step)
    return True
