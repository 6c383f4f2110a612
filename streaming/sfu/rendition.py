"""The session's one low rendition: the guide's video decoded once, shrunk, encoded once.

Viewers on a weak link (streaming/sfu/adaptation.py decides who) get this instead of the guide's
own encoding. However many viewers need it, a room runs at most one :class:`LowRendition`: one
VP8 decode of the publisher's stream, one downscale, one VP8 encode; its packets are fanned out to
those viewers exactly like the publisher's (each viewer's sender only re-packetises them), so the
per-viewer cost stays forwarding and ``MediaCounters.encodes`` stays 0 (docs/adr/0010).

Threading: the room's pump calls :meth:`LowRendition.push` on the event loop; it copies the
encoded frame into a bounded queue and returns. A worker thread decodes (PyAV ``libvpx``, the
decoder aiortc itself uses), drops frames down to ``fps``, scales to fit ``width`` x ``height``
(aspect kept, never enlarged) and encodes (PyAV ``libvpx``, CBR at ``bitrate``, real-time, no
lag); each encoded frame goes back to the loop through ``call_soon_threadsafe``. Timestamps are the
room's (90 kHz): a low frame carries the pts of the source frame it was made from, so a viewer
moved between renditions keeps one RTP timeline and its audio stays in sync.

Keyframes: the decoder starts on a source keyframe (requested upstream when the rendition starts,
after a republish, after a decode error or a full queue); the encoder makes one when asked
(:meth:`request_keyframe`: a viewer switching to it, joining it, or losing its picture), at the
start, on a size change, and every ``keyframe_seconds`` as a safety net on lossy links.
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
from typing import Any

import av
from av.frame import Frame

__all__ = ["LowRendition", "RenditionConfig", "RenditionStats", "fit_within"]

logger = logging.getLogger(__name__)

VIDEO_CLOCK = 90_000
_TIME_BASE = Fraction(1, VIDEO_CLOCK)


@dataclass(frozen=True)
class RenditionConfig:
    """The low rendition's shape. 320x180 at 15 fps and 200 kbit/s: stamps and faces stay
    legible (tests/streaming/test_weak_viewer.py reads stamps out of it), about a fifth of a
    typical phone's 640x360 stream at 0.5-1.5 Mbit/s."""

    enabled: bool = True
    width: int = 320
    height: int = 180
    fps: int = 15
    bitrate: int = 200_000
    keyframe_seconds: float = 10.0
    queue_frames: int = 30  # one second of the publisher's video
    # Seconds the rendition keeps running after its last viewer left it (a viewer going back up
    # may come straight back down).
    linger_seconds: float = 10.0


@dataclass
class RenditionStats:
    """Cumulative over every start of a room's low rendition."""

    running: bool = False
    starts: int = 0
    frames_in: int = 0
    frames_decoded: int = 0
    frames_encoded: int = 0
    frames_dropped: int = 0
    keyframes: int = 0
    decode_errors: int = 0
    bytes_encoded: int = 0
    cpu_seconds: float = 0.0  # worker thread CPU (decode + scale + encode)
    width: int = 0
    height: int = 0


def fit_within(width: int, height: int, box_width: int, box_height: int) -> tuple[int, int]:
    """The largest even size with the source's aspect that fits the box, never larger than the source."""
    scale = min(1.0, box_width / width, box_height / height)
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


@dataclass(frozen=True)
class _Job:
    data: bytes
    pts: int
    keyframe: bool


class LowRendition:
    """Decode once, scale, encode once; ``deliver(packet, keyframe)`` runs on the event loop.

    ``request_source_keyframe`` asks the publisher for a keyframe (the room's coalesced PLI).
    """

    def __init__(
        self,
        config: RenditionConfig,
        *,
        deliver: Callable[[av.Packet[Any], bool], None],
        request_source_keyframe: Callable[[], None],
        stats: RenditionStats | None = None,
        name: str = "low-rendition",
    ) -> None:
        self.config = config
        self.stats = stats or RenditionStats()
        self._deliver = deliver
        self._request_source_keyframe = request_source_keyframe
        self._name = name
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=config.queue_frames)
        self._waiting_for_source_keyframe = True
        self._force_keyframe = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._closed

    def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
        self._thread.start()
        self.stats.running = True
        self.stats.starts += 1
        self._request_source_keyframe()

    # -- the room's side (event loop; never blocks) ------------------------------------------

    def push(self, item: av.Packet[Any] | Frame, *, keyframe: bool) -> None:
        """One encoded video frame of the publisher, with the room's timestamp."""
        if not self.running or isinstance(item, Frame) or item.pts is None:
            return
        if self._waiting_for_source_keyframe:
            if not keyframe:
                self.stats.frames_dropped += 1
                self._request_source_keyframe()
                return
            self._waiting_for_source_keyframe = False
        self.stats.frames_in += 1
        try:
            self._queue.put_nowait(_Job(data=bytes(item), pts=int(item.pts), keyframe=keyframe))
        except queue.Full:
            # The worker is behind (CPU): its decoder would miss a reference frame. Start again
            # from the next source keyframe rather than decode garbage.
            self.stats.frames_dropped += 1
            self.restart_from_keyframe()

    def restart_from_keyframe(self) -> None:
        """The source broke (republish, loss, overflow): decode again from its next keyframe."""
        if self.running and not self._waiting_for_source_keyframe:
            self._waiting_for_source_keyframe = True
            self._request_source_keyframe()

    def request_keyframe(self) -> None:
        """Make the next encoded frame a keyframe (viewers switching to or joining this rendition)."""
        self._force_keyframe.set()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stats.running = False
        if self._thread is None:
            return
        while True:  # make room for the stop marker; queued frames are of no use any more
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(None)
        await asyncio.to_thread(self._thread.join, 10.0)
        if self._thread.is_alive():
            logger.error("%s: the worker did not stop within 10 s", self._name)

    def _on_loop(self, packet: av.Packet[Any], keyframe: bool) -> None:
        if not self._closed:
            self._deliver(packet, keyframe)

    def _on_decode_error(self) -> None:
        self.stats.decode_errors += 1
        self.restart_from_keyframe()

    # -- the worker thread -------------------------------------------------------------------

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None
        decoder: Any = av.CodecContext.create("libvpx", "r")
        encoder: Any = None
        size = (0, 0)
        interval = VIDEO_CLOCK // self.config.fps
        next_due: int | None = None
        last_pts: int | None = None
        last_keyframe_pts: int | None = None
        broken = False  # after a decode error: skip to the next source keyframe
        while True:
            job = self._queue.get()
            if job is None:
                break
            started = time.thread_time()
            try:
                if broken and not job.keyframe:
                    continue
                broken = False
                packet = av.Packet(job.data)
                packet.pts = job.pts
                packet.time_base = _TIME_BASE
                try:
                    frames = decoder.decode(packet)
                except av.FFmpegError as failure:
                    logger.info("%s: a source frame did not decode (%s); waiting for a keyframe", self._name, failure)
                    broken = True
                    loop.call_soon_threadsafe(self._on_decode_error)
                    continue
                for frame in frames:
                    self.stats.frames_decoded += 1
                    # Frame-rate reduction on the source's own timestamps: keep a frame when it is
                    # at most a quarter interval early (15 of 30 fps; about 13 of 20 fps).
                    if next_due is not None and job.pts < next_due - interval // 4:
                        continue
                    if next_due is None or job.pts > next_due + interval:
                        next_due = job.pts + interval  # the first frame, or after a gap
                    else:
                        next_due += interval
                    if last_pts is not None and job.pts <= last_pts:
                        continue  # the encoder needs increasing timestamps
                    wanted = fit_within(frame.width, frame.height, self.config.width, self.config.height)
                    if encoder is None or wanted != size:
                        size = wanted
                        encoder = self._new_encoder(size)
                        self.stats.width, self.stats.height = size
                    small = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                    small.pts = job.pts
                    small.time_base = _TIME_BASE
                    force = self._force_keyframe.is_set() or (
                        last_keyframe_pts is not None
                        and job.pts - last_keyframe_pts >= self.config.keyframe_seconds * VIDEO_CLOCK
                    )
                    if force:
                        self._force_keyframe.clear()
                        small.pict_type = av.video.frame.PictureType.I
                    last_pts = job.pts
                    for out in encoder.encode(small):
                        data = bytes(out)
                        keyframe = bool(out.is_keyframe)
                        result = av.Packet(data)
                        result.pts = job.pts
                        result.time_base = _TIME_BASE
                        self.stats.frames_encoded += 1
                        self.stats.bytes_encoded += len(data)
                        if keyframe:
                            self.stats.keyframes += 1
                            last_keyframe_pts = job.pts
                        loop.call_soon_threadsafe(self._on_loop, result, keyframe)
            except Exception:
                logger.exception("%s: a frame failed; waiting for a source keyframe", self._name)
                broken = True
                encoder = None
                loop.call_soon_threadsafe(self._on_decode_error)
            finally:
                self.stats.cpu_seconds += time.thread_time() - started

    def _new_encoder(self, size: tuple[int, int]) -> Any:
        bitrate = self.config.bitrate
        encoder: Any = av.CodecContext.create("libvpx", "w")
        encoder.width, encoder.height = size
        encoder.pix_fmt = "yuv420p"
        encoder.time_base = _TIME_BASE
        encoder.framerate = Fraction(self.config.fps)
        encoder.bit_rate = bitrate
        encoder.gop_size = 1 << 30  # keyframes when asked (and the safety net above), not by count
        encoder.qmin = 4
        encoder.qmax = 56
        encoder.thread_count = 1
        encoder.options = {
            # CBR as aiortc's own VP8 encoder does it (minrate = maxrate = bit_rate), one second
            # of buffer; real time, no look-ahead, fast (cpu-used 8 at 320x180 is about 1 ms).
            "bufsize": str(bitrate),
            "minrate": str(bitrate),
            "maxrate": str(bitrate),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",
            "static-thresh": "1",
            # Lossy links: do not let one lost frame's entropy context break the following ones.
            "error-resilient": "1",
        }
        return encoder
