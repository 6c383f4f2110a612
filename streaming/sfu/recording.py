"""Recording a room to WebM: the forwarded VP8/Opus packets muxed as they are, never transcoded.

A :class:`WebmRecorder` is one more consumer of the publisher's packets (``SfuRoom.add_sink``):
the room's pump hands it each encoded packet after the viewers, :meth:`WebmRecorder.push` copies
the payload into a bounded queue and returns at once, and a writer thread muxes the queue into
the file with PyAV (``container.mux``; the streams' codec contexts are opened by the muxer for
the header, but no frame is ever decoded or encoded).

Timestamps: packets carry the room's RTP timestamps (continuous across republishes; VP8 at
90 kHz, Opus at 48 kHz). Each kind is anchored on the wall clock when its first packet arrives
after recording starts, then advances by its RTP clock, rescaled to the WebM time base (1 ms).
The recording starts on the first video keyframe (one is requested when the recorder is attached);
audio before it is skipped. When the queue is full (a slow disk) packets are dropped and logged;
a dropped video packet makes the recorder wait for the next keyframe (and request one), so the
file never holds a frame that references a missing one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from av.frame import Frame

from . import forwarding

__all__ = ["RecorderStats", "WebmRecorder"]

logger = logging.getLogger(__name__)

_CLOCK_RATE = {"video": 90_000, "audio": 48_000}
_TIME_BASE = Fraction(1, 1000)  # Matroska's own
_RTP_WRAP = 1 << 32


@dataclass
class RecorderStats:
    packets_written: int = 0
    packets_dropped: int = 0
    video_packets: int = 0
    audio_packets: int = 0
    keyframe_waits: int = 0
    bytes_written: int = 0
    duration_ms: int = 0


@dataclass(frozen=True)
class _Item:
    kind: str
    data: bytes
    rtp: int
    keyframe: bool
    arrived: float  # time.monotonic()


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """Width and height from a VP8 keyframe header (RFC 6386 9.1), or None."""
    if len(payload) < 10 or not forwarding.is_vp8_keyframe(payload) or payload[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(payload[6:8], "little") & 0x3FFF
    height = int.from_bytes(payload[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


class _Clock:
    """One kind's RTP timestamps to milliseconds since the recording started (wrap-safe)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.first_rtp: int | None = None
        self.extended = 0
        self.anchor_ms = 0
        self.last_ms = -1

    def to_ms(self, rtp: int, arrived: float, started: float) -> int:
        if self.first_rtp is None:
            self.first_rtp = rtp
            self.extended = 0
            self.anchor_ms = max(0, round((arrived - started) * 1000))
        else:
            delta = (rtp - self.first_rtp - self.extended) % _RTP_WRAP
            if delta >= _RTP_WRAP // 2:
                delta -= _RTP_WRAP  # a little back in time (reordering), not a wrap forward
            self.extended += delta
        return self.anchor_ms + self.extended * 1000 // self.rate


class WebmRecorder:
    """Writes one room's forwarded packets to ``path`` (WebM: VP8 video, Opus audio if any).

    ``request_keyframe`` is the room's PLI path. ``capacity`` bounds the queue between the
    room's pump and the writer thread (about 4 s of video and audio at 30 fps / 50 pps).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        request_keyframe: Callable[[], None] | None = None,
        capacity: int = 300,
        audio: bool = True,
    ) -> None:
        self.path = Path(path)
        self.stats = RecorderStats()
        self._request_keyframe = request_keyframe or (lambda: None)
        self._audio = audio
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=capacity)
        self._waiting_for_keyframe = True
        self._started_at: float | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._started_at is not None

    @property
    def error(self) -> BaseException | None:
        return self._error

    def start(self) -> None:
        """Start the writer thread and ask for a keyframe; the file is opened on the first one."""
        if self._thread is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._write, name=f"webm-recorder:{self.path.name}", daemon=True)
        self._thread.start()
        self._request_keyframe()

    # -- the room's side (event loop; must never block) ------------------------------------------

    def push(self, kind: str, item: av.Packet[Any] | Frame, *, keyframe: bool) -> None:
        if self._closed or self._thread is None or self._error is not None:
            return
        if isinstance(item, Frame) or item.pts is None:
            return  # decoded frames mean the forwarding hook failed: nothing to mux without encoding
        if kind == "audio" and not self._audio:
            return
        if self._waiting_for_keyframe:
            if kind != "video":
                return
            if not keyframe:
                self.stats.packets_dropped += 1
                self._request_keyframe()
                return
            self._waiting_for_keyframe = False
        if self._started_at is None:
            self._started_at = time.monotonic()
        entry = _Item(kind=kind, data=bytes(item), rtp=int(item.pts), keyframe=keyframe, arrived=time.monotonic())
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.stats.packets_dropped += 1
            if kind == "video":
                logger.warning("recording %s: the disk is behind, waiting for the next keyframe", self.path.name)
                self._waiting_for_keyframe = True
                self.stats.keyframe_waits += 1
                self._request_keyframe()

    def restart_from_keyframe(self) -> None:
        """A new publisher connection: skip its frames until a keyframe (requested)."""
        if self.started and not self._waiting_for_keyframe:
            self._waiting_for_keyframe = True
            self.stats.keyframe_waits += 1
            self._request_keyframe()

    async def close(self) -> None:
        """Stop accepting packets, write what is queued and finish the file (a valid WebM)."""
        await asyncio.to_thread(self.close_blocking)

    def close_blocking(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is None:
            return
        self._queue.put(None)  # after the queued packets; blocks only while the writer drains
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.error("recording %s: the writer did not finish within %ss", self.path.name, timeout)

    # -- the writer thread ---------------------------------------------------------------------

    def _write(self) -> None:
        container: Any = None
        streams: dict[str, Any] = {}
        clocks = {kind: _Clock(rate) for kind, rate in _CLOCK_RATE.items()}
        last_ms = {"video": -1, "audio": -1}
        try:
            while True:
                entry = self._queue.get()
                if entry is None:
                    break
                if container is None:
                    size = vp8_keyframe_size(entry.data) if entry.kind == "video" else None
                    if size is None:
                        continue  # the first packet written must be a video keyframe
                    container, streams = self._open(size)
                stream = streams.get(entry.kind)
                if stream is None:
                    continue
                assert self._started_at is not None
                pts = clocks[entry.kind].to_ms(entry.rtp, entry.arrived, self._started_at)
                if pts <= last_ms[entry.kind]:
                    pts = last_ms[entry.kind] + 1  # Matroska needs increasing timestamps per track
                last_ms[entry.kind] = pts
                packet = av.Packet(entry.data)
                packet.pts = packet.dts = pts
                packet.time_base = _TIME_BASE
                packet.stream = stream
                packet.is_keyframe = entry.keyframe
                container.mux(packet)
                self.stats.packets_written += 1
                self.stats.bytes_written += len(entry.data)
                if entry.kind == "video":
                    self.stats.video_packets += 1
                else:
                    self.stats.audio_packets += 1
                self.stats.duration_ms = max(self.stats.duration_ms, pts)
        except Exception as failure:
            self._error = failure
            logger.exception("recording %s failed", self.path.name)
            self._drain()
        finally:
            if container is not None:
                try:
                    container.close()  # writes the cues and the duration
                except Exception as failure:
                    self._error = self._error or failure
                    logger.exception("recording %s: could not finish the file", self.path.name)

    def _open(self, size: tuple[int, int]) -> tuple[Any, dict[str, Any]]:
        container: Any = av.open(str(self.path), "w", format="webm")
        video = container.add_stream("libvpx", rate=30)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.time_base = _TIME_BASE
        streams: dict[str, Any] = {"video": video}
        if self._audio:
            audio = container.add_stream("libopus", rate=48_000)
            audio.time_base = _TIME_BASE
            streams["audio"] = audio
        return container, streams

    def _drain(self) -> None:
        # After a failure: keep emptying the queue so push never sees it full, until close.
        while self._queue.get() is not None:
            pass
