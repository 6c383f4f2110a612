"""The SFU room: one publisher (the guide), many viewers, encoded packets fanned out.

Signalling contract (the Channels consumer is a thin caller of these coroutines):

* Publisher offers, the room answers: ``answer = await room.publish(offer)``. Calling it again
  (the guide's phone switched from wifi to mobile data) replaces the old connection; viewers keep
  their connections and resume on the new stream with continuous RTP timestamps.
* The room offers to viewers (usual for an SFU: the server decides the tracks and codecs):
  ``offer = await room.subscribe(viewer_id)``, then ``await room.accept_answer(viewer_id, answer)``.
  Subscribing an existing ``viewer_id`` again replaces that viewer's connection.
* aiortc gathers candidates before it returns a description, so SDP carries all candidates
  (no trickle ICE messages needed).

Fan-out: each viewer has its own bounded queue per kind. A viewer that cannot keep up loses
packets from its own queue (video: the backlog is flushed and it waits for the next keyframe,
which it asks for), so it never stalls the publisher's reader or the other viewers. aiortc's
``MediaRelay(buffered=True)`` is not used: its per-subscriber ``asyncio.Queue`` is unbounded, so a
stuck viewer grows memory and latency without limit.

Per-viewer cost: each frame is wrapped once (``forwarding.SharedFrame``) and packetised once for
every viewer; each viewer's sender (``forwarding.send_shared_frames``) only writes its own RTP
header and picture id, protects and sends, and does so straight from the push while it waits on
an empty queue (no task switch per frame and viewer). docs/adr/0009 and docs/performance.md.

Weak viewers (docs/adr/0010): each viewer's receiver reports feed its own
:class:`~streaming.sfu.adaptation.ViewerAdaptation`; a viewer losing packets is moved to the
session's one :class:`~streaming.sfu.rendition.LowRendition` (started when the first viewer needs
it, stopped ``linger_seconds`` after the last one left it) and back after a clean period. Every
switch happens on a keyframe of the stream switched to, with a later timestamp than anything the
viewer already got: down, the full stream pauses for that viewer until the low keyframe (about one
low frame); up, the low stream carries on until the publisher's next keyframe (requested).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeAlias

import av
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    sdp,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.stream import Stream

from italycouch.tasks import cancel_and_wait

from . import forwarding
from .adaptation import AdaptationConfig, Rendition, ViewerAdaptation
from .rendition import LowRendition, RenditionConfig, RenditionStats

logger = logging.getLogger(__name__)

# What flows through the room: encoded packets (forwarding), or decoded frames if the hook failed.
MediaItem: TypeAlias = "av.Packet[Stream] | Frame"
# What a viewer's queue holds: the room's frames wrapped for shared packetisation (or a decoded
# frame, which only the hook failing would produce).
ViewerItem: TypeAlias = "forwarding.SharedFrame | MediaItem"
KINDS = ("video", "audio")
# One frame of media in each codec's RTP clock, used to keep timestamps continuous when the
# publisher's connection is replaced (VP8 at 90 kHz and 30 fps, Opus at 48 kHz and 20 ms).
_FRAME_STEP = {"video": 3000, "audio": 960}
# Frames waiting for a pump before it stops sending from the push (ViewerTrack.deliver_directly)
# and hands frames to the viewers' bounded queues instead: a process short of CPU then drops
# each viewer's backlog (video restarts from a keyframe) rather than delay everyone without bound.
_DIRECT_SEND_BACKLOG = 3


class PacketSink(Protocol):
    """One more consumer of the publisher's packets besides the viewers (a recorder).

    ``push`` runs on the room's pump for every packet and must not block; ``close`` is awaited
    when the room closes.
    """

    def push(self, kind: str, item: MediaItem, *, keyframe: bool) -> None: ...

    def restart_from_keyframe(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class SfuConfig:
    """Network and buffering settings, injected so tests can stay on loopback.

    ``host_addresses``: the only local addresses offered as host candidates; None means every
    interface (aioice's default). ``ice_servers``: STUN/TURN servers; empty means none (aiortc's
    own default would be a public STUN server).
    """

    host_addresses: tuple[str, ...] | None = None
    ice_servers: tuple[RTCIceServer, ...] = ()
    video_queue_frames: int = 15  # half a second at 30 fps
    audio_queue_frames: int = 25  # half a second of 20 ms Opus frames
    # At most one PLI upstream per interval. 0.2 s: a burst of 50 joining viewers got their first
    # frame at p95 334 ms with 0.1 s and 647 ms with 0.5 s (docs/performance.md, bench/stream.py).
    keyframe_request_interval: float = 0.2
    # Weak viewers: the session's low rendition and the policy that moves viewers to it.
    low_rendition: RenditionConfig = field(default_factory=RenditionConfig)
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)
    # Moving a viewer down, the full stream stops at once but its low keyframe is taken only after
    # this pause: the viewer's link is still full of the stream it could not carry, and a keyframe
    # sent into that queue is likely lost (tbf/netem-style buffers hold 0.1 to 0.3 s).
    switch_down_drain: float = 0.3


@dataclass
class MediaCounters:
    """What the SFU did to media. Forwarding means ``decodes == encodes == 0``.

    A decoded frame coming out of a publisher receiver is a decode; a decoded frame handed to a
    viewer's sender would be encoded by aiortc, so it is counted as an encode. The low rendition's
    one decode and one encode per session are not per viewer: they are in ``RoomStats.low_rendition``.
    """

    decodes: int = 0
    encodes: int = 0
    packets_received: int = 0
    # Frames run through the RTP payloader: once per frame forwarded, however many viewers get it.
    frames_packetized: int = 0


@dataclass
class ViewerStats:
    packets_forwarded: int = 0
    packets_dropped: int = 0
    keyframe_waits: int = 0
    rendition: str = Rendition.HIGH.value  # what its video track is fed now
    switches_down: int = 0
    switches_up: int = 0
    loss_reports: int = 0
    last_fraction_lost: float = 0.0


@dataclass(frozen=True)
class RoomStats:
    viewer_count: int
    publisher_connected: bool
    publisher_generation: int
    media: MediaCounters
    keyframe_requests: int
    keyframe_requests_sent: int
    viewers: dict[str, ViewerStats] = field(default_factory=dict)
    low_rendition: RenditionStats = field(default_factory=RenditionStats)
    low_rendition_viewers: int = 0


class KeyframeRequester:
    """Coalesces keyframe requests: at most one upstream PLI per interval, none lost.

    A request inside the interval is deferred to its end; further requests until then join it.
    """

    def __init__(self, interval: float, send: Callable[[], Awaitable[bool]]) -> None:
        self._interval = interval
        self._send = send
        self._last_sent: float | None = None
        self._pending: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.requested = 0
        self.sent = 0

    def request(self) -> None:
        self.requested += 1
        if self._pending is not None:
            return
        loop = asyncio.get_running_loop()
        delay = 0.0 if self._last_sent is None else max(0.0, self._last_sent + self._interval - loop.time())
        self._pending = loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        self._pending = None
        self._last_sent = asyncio.get_running_loop().time()
        task = asyncio.ensure_future(self._deliver())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self) -> None:
        if await self._send():
            self.sent += 1

    def close(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        for task in self._tasks:
            task.cancel()


class ViewerTrack(MediaStreamTrack):
    """What one viewer's sender reads: a bounded queue of encoded packets of one kind.

    Handoff: while the viewer's sender waits on an empty queue, a pushed frame is given to the
    sender's synchronous entry point (``deliver_directly``, set by ``forwarding.send_shared_frames``)
    instead of being queued and waking its task: the same work without a task switch per frame
    and viewer. A sender that is busy, or slow, gets the queue, bounded as before.
    """

    def __init__(
        self,
        kind: str,
        *,
        capacity: int,
        stats: ViewerStats,
        counters: MediaCounters,
        request_keyframe: Callable[[], None],
    ) -> None:
        super().__init__()
        self.kind = kind
        self._capacity = capacity
        self._stats = stats
        self._counters = counters
        self._request_keyframe = request_keyframe
        self._queue: deque[ViewerItem] = deque()
        self._ready = asyncio.Event()
        # Nothing is queued until the sender starts reading (transport connected): packets
        # queued earlier would only be stale on arrival.
        self._sending = False
        self.waiting_for_keyframe = kind == "video"
        self.last_pts: int | None = None  # of the newest item queued: a switch must go forward in time
        self._direct: Callable[[ViewerItem], bool] | None = None
        self._sender_waiting = False  # the sender is parked in recv() on an empty queue

    @property
    def queued(self) -> int:
        return len(self._queue)

    def is_after(self, pts: int | None) -> bool:
        return pts is not None and (self.last_pts is None or pts > self.last_pts)

    def deliver_directly(self, send: Callable[[ViewerItem], bool] | None) -> None:
        """Hand frames to ``send`` while the sender waits on an empty queue (None: always queue).

        ``send(item)`` returns False for anything it cannot send without awaiting; that item is
        queued for the sender's own loop, so the order never changes.
        """
        self._direct = send

    def push(self, item: ViewerItem, *, keyframe: bool, direct: bool = True) -> None:
        """Queue ``item`` for the viewer (or send it now: see the class; ``direct=False`` never)."""
        if not self._sending or self.readyState != "live":
            return
        if self.waiting_for_keyframe:
            if not keyframe:
                self._stats.packets_dropped += 1
                self._request_keyframe()
                return
            self.waiting_for_keyframe = False
        if direct and self._sender_waiting and not self._queue and self._direct is not None and self._direct(item):
            self._stats.packets_forwarded += 1
            if item.pts is not None:
                self.last_pts = max(int(item.pts), self.last_pts or 0)
            return
        if len(self._queue) >= self._capacity:
            if self.kind == "video":
                # Dropping one video frame corrupts every frame until the next keyframe:
                # drop the whole backlog instead and restart from a keyframe.
                self._stats.packets_dropped += len(self._queue) + 1
                self._queue.clear()
                self.restart_from_keyframe()
                return
            self._queue.popleft()
            self._stats.packets_dropped += 1
        self._queue.append(item)
        if item.pts is not None:
            self.last_pts = max(int(item.pts), self.last_pts or 0)
        self._ready.set()

    def restart_from_keyframe(self) -> None:
        if self.kind == "video":
            self.waiting_for_keyframe = True
            self._stats.keyframe_waits += 1
            self._request_keyframe()

    async def recv(self) -> ViewerItem:  # type: ignore[override]
        if not self._sending:
            self._sending = True
            if self.waiting_for_keyframe:
                self._stats.keyframe_waits += 1
                self._request_keyframe()
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            self._sender_waiting = True
            try:
                await self._ready.wait()
            finally:
                self._sender_waiting = False
        item = self._queue.popleft()
        if isinstance(item, Frame):
            self._counters.encodes += 1
        self._stats.packets_forwarded += 1
        return item

    def stop(self) -> None:
        super().stop()
        self._queue.clear()
        self._ready.set()


@dataclass
class _Viewer:
    viewer_id: str
    pc: RTCPeerConnection
    stats: ViewerStats
    adaptation: ViewerAdaptation
    tracks: dict[str, ViewerTrack] = field(default_factory=dict)
    # ``target``: what the policy wants; ``current``: what the video track is fed. They differ
    # while a switch waits for its keyframe.
    target: Rendition = Rendition.HIGH
    current: Rendition = Rendition.HIGH
    switch_not_before: float = 0.0  # loop time: a switch down waits for the link to drain
    pinned: Rendition | None = None  # held there whatever its reports say (pin_rendition)
    on_rendition: Callable[[str], None] | None = None


@dataclass
class _Timeline:
    """Output RTP timestamps of one kind: continuous across publisher replacements."""

    generation: int = -1
    offset: int = 0
    last_pts: int | None = None

    def restamp(self, generation: int, pts: int, step: int) -> int:
        if generation != self.generation:
            self.generation = generation
            self.offset = 0 if self.last_pts is None else self.last_pts + step - pts
        self.last_pts = pts + self.offset
        return self.last_pts


class SfuRoom:
    """One live session's media: one publisher, many viewers."""

    def __init__(self, room_id: str, config: SfuConfig | None = None) -> None:
        forwarding.install()
        self.room_id = room_id
        self.config = config or SfuConfig()
        self.counters = MediaCounters()
        self._viewers: dict[str, _Viewer] = {}
        self._publisher_pc: RTCPeerConnection | None = None
        self._publisher_receivers: dict[str, RTCRtpReceiver] = {}
        self._generation = 0
        self._timelines = {kind: _Timeline() for kind in KINDS}
        self._pumps: set[asyncio.Task[None]] = set()
        self._sinks: list[PacketSink] = []
        self._lock = asyncio.Lock()
        self._closed = False
        self._keyframes = KeyframeRequester(self.config.keyframe_request_interval, self._send_pli)
        # Each stream's frames are packetised once for every viewer (forwarding.SharedFrame).
        self._packetizers = {kind: forwarding.StreamPacketizer(kind) for kind in KINDS}
        self._low_packetizer = forwarding.StreamPacketizer("video")
        self._low: LowRendition | None = None
        self._low_stats = RenditionStats()
        self._low_stop: asyncio.TimerHandle | None = None
        self._low_closing: set[asyncio.Task[None]] = set()

    # -- publisher -------------------------------------------------------------------------

    async def publish(self, offer_sdp: str) -> str:
        """Accept the guide's offer and return the answer; replaces any earlier publisher."""
        async with self._lock:
            self._check_open()
            old_pc = self._publisher_pc
            # Committed only once the answer exists: a failed republish leaves the current
            # publisher (and its pumps, which stop when the generation moves on) untouched.
            generation = self._generation + 1
            offered_kinds = _offered_media_kinds(offer_sdp)
            pc = self._new_peer_connection()
            # Created before the offer is applied so they carry the codec preferences: aiortc
            # picks the codecs of a transceiver when the remote description creates it.
            for kind in offered_kinds:
                _prefer_forwardable_codecs(pc.addTransceiver(kind, direction="recvonly"))

            @pc.on("track")
            def on_track(track: MediaStreamTrack) -> None:
                forwarding.forward_encoded(track)
                self._start_pump(generation, track)

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                if pc.connectionState == "failed" and self._publisher_pc is pc:
                    await self._drop_publisher(pc)

            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
                await self._set_local_description(pc, await pc.createAnswer())
            except Exception:
                await pc.close()
                raise
            self._generation = generation
            self._publisher_pc = pc
            self._publisher_receivers = {t.kind: t.receiver for t in pc.getTransceivers()}
            if old_pc is not None:
                await old_pc.close()
            # The new stream starts with a keyframe, but viewers must not splice its delta
            # frames onto the old picture if its first frames were lost.
            for viewer in self._viewers.values():
                viewer.tracks["video"].restart_from_keyframe()
            if self._low is not None:
                self._low.restart_from_keyframe()
            for sink in self._sinks:
                sink.restart_from_keyframe()
            return pc.localDescription.sdp

    async def unpublish(self) -> None:
        async with self._lock:
            if self._publisher_pc is not None:
                await self._drop_publisher(self._publisher_pc)

    async def _drop_publisher(self, pc: RTCPeerConnection) -> None:
        if self._publisher_pc is pc:
            self._publisher_pc = None
            self._publisher_receivers = {}
        await pc.close()

    def _start_pump(self, generation: int, track: MediaStreamTrack) -> None:
        task = asyncio.ensure_future(self._pump(generation, track))
        self._pumps.add(task)
        task.add_done_callback(self._pumps.discard)

    async def _pump(self, generation: int, track: MediaStreamTrack) -> None:
        kind = track.kind
        timeline = self._timelines[kind]
        packetizer = self._packetizers[kind]
        while True:
            try:
                item = await track.recv()
            except MediaStreamError:
                return
            if generation != self._generation:
                return  # a newer publisher owns the room
            self.counters.packets_received += 1
            if isinstance(item, Frame):
                self.counters.decodes += 1  # the forwarding hook did not engage
                keyframe = True
            else:
                keyframe = kind != "video" or forwarding.is_vp8_keyframe(bytes(item))
            if item.pts is not None:
                item.pts = timeline.restamp(generation, int(item.pts), _FRAME_STEP[kind])
            shared: ViewerItem = item if isinstance(item, Frame) else packetizer.frame(item, keyframe=keyframe)
            direct = forwarding.frames_waiting(track) <= _DIRECT_SEND_BACKLOG
            for viewer in list(self._viewers.values()):
                if kind == "video" and (viewer.current is Rendition.LOW or viewer.target is Rendition.LOW):
                    # On (or switching down to) the low rendition: the full stream only to end a
                    # switch back up, from one of its keyframes.
                    if not (viewer.target is Rendition.HIGH and keyframe and viewer.tracks[kind].is_after(item.pts)):
                        continue
                    self._switched(viewer, Rendition.HIGH)
                viewer.tracks[kind].push(shared, keyframe=keyframe, direct=direct)
            if kind == "video" and self._low is not None:
                self._low.push(item, keyframe=keyframe)
            for sink in self._sinks:
                try:
                    sink.push(kind, item, keyframe=keyframe)
                except Exception:
                    logger.exception("room %s: a packet sink failed", self.room_id)

    def add_sink(self, sink: PacketSink) -> None:
        """Hand every packet from now on to ``sink`` too (a recorder); it is closed with the room."""
        self._check_open()
        self._sinks.append(sink)

    async def remove_sink(self, sink: PacketSink) -> None:
        """Stop handing packets to ``sink`` and close it."""
        if sink in self._sinks:
            self._sinks.remove(sink)
            await sink.close()

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (coalesced: one PLI per interval at most)."""
        if not self._closed:
            self._keyframes.request()

    # -- weak viewers: the low rendition -------------------------------------------------------

    def _on_low_packet(self, packet: av.Packet[Stream], keyframe: bool) -> None:
        """One frame of the low rendition (event loop): to every viewer on it or switching to it."""
        shared = self._low_packetizer.frame(packet, keyframe=keyframe)
        for viewer in list(self._viewers.values()):
            track = viewer.tracks["video"]
            if viewer.current is Rendition.HIGH:
                if viewer.target is not Rendition.LOW or not keyframe:
                    continue
                if asyncio.get_running_loop().time() < viewer.switch_not_before:
                    continue  # a keyframe is requested when the pause ends
                if not track.is_after(packet.pts):
                    if self._low is not None:
                        self._low.request_keyframe()  # made from a frame the viewer already has
                    continue
                self._switched(viewer, Rendition.LOW)
            track.push(shared, keyframe=keyframe)

    def _on_loss_report(self, viewer: _Viewer, fraction_lost: float) -> None:
        if self._closed or self._viewers.get(viewer.viewer_id) is not viewer:
            return
        viewer.stats.loss_reports += 1
        viewer.stats.last_fraction_lost = fraction_lost
        if viewer.pinned is not None or not (self.config.adaptation.enabled and self.config.low_rendition.enabled):
            return
        decision = viewer.adaptation.on_loss_report(fraction_lost, asyncio.get_running_loop().time())
        viewer.stats.switches_down = viewer.adaptation.switches_down
        viewer.stats.switches_up = viewer.adaptation.switches_up
        if decision is not None:
            logger.info(
                "room %s: viewer %s to the %s rendition (%.0f%% lost)",
                self.room_id,
                viewer.viewer_id,
                decision,
                fraction_lost * 100,
            )
            self._retarget(viewer, decision)

    def pin_rendition(self, viewer_id: str, rendition: Rendition | None) -> None:
        """Hold a viewer on ``rendition`` whatever its reports say; None: back to automatic.

        For a viewer's explicit choice (not offered on the WebSocket yet) and for bench/stream.py,
        which measures the low rendition with viewers held on it. KeyError for an unknown viewer.
        """
        viewer = self._viewers[viewer_id]
        viewer.pinned = rendition
        if rendition is None:
            viewer.adaptation.restart(viewer.target, asyncio.get_running_loop().time())
            return
        if rendition is Rendition.LOW and not self.config.low_rendition.enabled:
            raise ValueError("the low rendition is disabled in this room's configuration")
        if viewer.target is not rendition:
            self._retarget(viewer, rendition)

    def _retarget(self, viewer: _Viewer, rendition: Rendition) -> None:
        previous, viewer.target = viewer.target, rendition
        if rendition is Rendition.LOW:
            low = self._ensure_low()
            if viewer.current is Rendition.HIGH:
                loop = asyncio.get_running_loop()
                viewer.switch_not_before = loop.time() + self.config.switch_down_drain
                loop.call_later(self.config.switch_down_drain, low.request_keyframe)
            else:
                low.request_keyframe()
        else:
            if previous is Rendition.LOW and viewer.current is Rendition.HIGH:
                # A switch down that never happened: the full stream resumes after a gap.
                viewer.tracks["video"].restart_from_keyframe()
            self.request_keyframe()
            self._schedule_low_check()

    def _switched(self, viewer: _Viewer, rendition: Rendition) -> None:
        viewer.current = rendition
        viewer.stats.rendition = rendition.value
        if viewer.on_rendition is not None:
            try:
                viewer.on_rendition(rendition.value)
            except Exception:
                logger.exception("room %s: rendition callback of %s failed", self.room_id, viewer.viewer_id)
        if rendition is Rendition.HIGH:
            self._schedule_low_check()

    def _viewer_keyframe(self, viewer: _Viewer) -> None:
        """A viewer needs a keyframe: from the stream it is on or switching to."""
        if viewer.target is Rendition.LOW and self._low is not None:
            self._low.request_keyframe()
        else:
            self.request_keyframe()

    def request_viewer_keyframe(self, viewer_id: str) -> None:
        """A keyframe for this viewer's stream (the low rendition's own, or the publisher's)."""
        viewer = self._viewers.get(viewer_id)
        if viewer is None:
            self.request_keyframe()
        else:
            self._viewer_keyframe(viewer)

    def _ensure_low(self) -> LowRendition:
        if self._low_stop is not None:
            self._low_stop.cancel()
            self._low_stop = None
        if self._low is None:
            self._low = LowRendition(
                self.config.low_rendition,
                deliver=self._on_low_packet,
                request_source_keyframe=self.request_keyframe,
                stats=self._low_stats,
                name=f"low-rendition:{self.room_id}",
            )
            self._low.start()
            logger.info("room %s: low rendition started", self.room_id)
        return self._low

    def _low_needed(self) -> bool:
        return any(v.target is Rendition.LOW or v.current is Rendition.LOW for v in self._viewers.values())

    def _schedule_low_check(self) -> None:
        if self._low is None or self._low_stop is not None or self._low_needed():
            return
        loop = asyncio.get_running_loop()
        self._low_stop = loop.call_later(self.config.low_rendition.linger_seconds, self._stop_low_if_unused)

    def _stop_low_if_unused(self) -> None:
        self._low_stop = None
        if self._low is None or self._low_needed():
            return
        low, self._low = self._low, None
        logger.info("room %s: low rendition stopped (no viewer needs it)", self.room_id)
        task = asyncio.ensure_future(low.close())
        self._low_closing.add(task)
        task.add_done_callback(self._low_closing.discard)

    async def _send_pli(self) -> bool:
        receiver = self._publisher_receivers.get("video")
        if receiver is None:
            return False
        return await forwarding.send_picture_loss_indication(receiver)

    # -- viewers ---------------------------------------------------------------------------

    async def subscribe(self, viewer_id: str, *, on_rendition: Callable[[str], None] | None = None) -> str:
        """Create (or replace) a viewer's connection and return the room's offer.

        ``on_rendition("low" | "high")`` is called whenever the viewer's video switches rendition.
        """
        async with self._lock:
            self._check_open()
            previous = self._viewers.pop(viewer_id, None)
            if previous is not None:
                await self._close_viewer(previous)
            stats = ViewerStats()
            pc = self._new_peer_connection()
            viewer = _Viewer(
                viewer_id=viewer_id,
                pc=pc,
                stats=stats,
                adaptation=ViewerAdaptation(self.config.adaptation),
                on_rendition=on_rendition,
            )
            for kind in KINDS:
                track = ViewerTrack(
                    kind,
                    capacity=self.config.video_queue_frames if kind == "video" else self.config.audio_queue_frames,
                    stats=stats,
                    counters=self.counters,
                    request_keyframe=lambda: self._viewer_keyframe(viewer),
                )
                transceiver = pc.addTransceiver(track, direction="sendonly")
                _prefer_forwardable_codecs(transceiver)
                forwarding.send_shared_frames(transceiver.sender)
                if kind == "video":
                    forwarding.on_keyframe_request(transceiver.sender, lambda: self._viewer_keyframe(viewer))
                    forwarding.on_loss_report(
                        transceiver.sender, lambda fraction: self._on_loss_report(viewer, fraction)
                    )
                viewer.tracks[kind] = track

            @pc.on("connectionstatechange")
            async def on_state() -> None:
                if pc.connectionState == "failed" and self._viewers.get(viewer_id) is viewer:
                    await self.unsubscribe(viewer_id)

            self._viewers[viewer_id] = viewer
            try:
                await self._set_local_description(pc, await pc.createOffer())
            except Exception:
                self._viewers.pop(viewer_id, None)
                await self._close_viewer(viewer)
                raise
            return pc.localDescription.sdp

    async def accept_answer(self, viewer_id: str, answer_sdp: str) -> None:
        viewer = self._viewers.get(viewer_id)
        if viewer is None:
            raise KeyError(viewer_id)
        await viewer.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def unsubscribe(self, viewer_id: str) -> None:
        viewer = self._viewers.pop(viewer_id, None)
        if viewer is not None:
            await self._close_viewer(viewer)
            self._schedule_low_check()

    async def _close_viewer(self, viewer: _Viewer) -> None:
        for track in viewer.tracks.values():
            track.stop()
        await viewer.pc.close()

    # -- room ------------------------------------------------------------------------------

    def stats(self) -> RoomStats:
        return RoomStats(
            viewer_count=len(self._viewers),
            publisher_connected=self._publisher_pc is not None and self._publisher_pc.connectionState == "connected",
            publisher_generation=self._generation,
            media=replace(
                self.counters,
                frames_packetized=sum(p.frames_packetized for p in (*self._packetizers.values(), self._low_packetizer)),
            ),
            keyframe_requests=self._keyframes.requested,
            keyframe_requests_sent=self._keyframes.sent,
            viewers={viewer_id: ViewerStats(**vars(v.stats)) for viewer_id, v in self._viewers.items()},
            low_rendition=replace(self._low_stats),
            low_rendition_viewers=sum(1 for v in self._viewers.values() if v.current is Rendition.LOW),
        )

    def queued(self, viewer_id: str, kind: str = "video") -> int:
        return self._viewers[viewer_id].tracks[kind].queued

    async def close(self) -> None:
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            self._keyframes.close()
            if self._low_stop is not None:
                self._low_stop.cancel()
                self._low_stop = None
            if self._low is not None:
                low, self._low = self._low, None
                await low.close()
            for task in list(self._low_closing):
                await task
            viewers = list(self._viewers.values())
            self._viewers.clear()
            for viewer in viewers:
                await self._close_viewer(viewer)
            if self._publisher_pc is not None:
                await self._drop_publisher(self._publisher_pc)
            await cancel_and_wait(list(self._pumps), owner=f"SFU room {self.room_id}")
            sinks, self._sinks = self._sinks, []
            for sink in sinks:
                try:
                    await sink.close()
                except Exception:
                    logger.exception("room %s: a packet sink did not close", self.room_id)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"SFU room {self.room_id} is closed")

    def _new_peer_connection(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=list(self.config.ice_servers)))

    async def _set_local_description(self, pc: RTCPeerConnection, description: RTCSessionDescription) -> None:
        if self.config.host_addresses is not None:
            forwarding.restrict_host_candidates(pc, self.config.host_addresses)
        await pc.setLocalDescription(description)


def _offered_media_kinds(offer_sdp: str) -> list[str]:
    kinds = [media.kind for media in sdp.SessionDescription.parse(offer_sdp).media if media.kind in KINDS]
    if len(kinds) != len(set(kinds)):
        raise ValueError("a publisher sends at most one video and one audio track")
    return kinds


def _prefer_forwardable_codecs(transceiver: RTCRtpTransceiver) -> None:
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind)
    transceiver.setCodecPreferences(
        [
            codec
            for codec in capabilities.codecs
            if codec.mimeType.lower() in forwarding.FORWARDED_MIME_TYPES or codec.mimeType.lower().endswith("/rtx")
        ]
    )


class SfuRegistry:
    """The SFU rooms of this process, keyed by live-session id."""

    def __init__(self, config: SfuConfig | None = None) -> None:
        self.config = config or SfuConfig()
        self._rooms: dict[str, SfuRoom] = {}

    def room(self, session_id: str) -> SfuRoom:
        """The session's room, created on first use."""
        room = self._rooms.get(session_id)
        if room is None:
            room = self._rooms[session_id] = SfuRoom(session_id, self.config)
        return room

    def get(self, session_id: str) -> SfuRoom | None:
        return self._rooms.get(session_id)

    def __len__(self) -> int:
        return len(self._rooms)

    async def close_room(self, session_id: str) -> None:
        room = self._rooms.pop(session_id, None)
        if room is not None:
            await room.close()

    async def close(self) -> None:
        for session_id in list(self._rooms):
            await self.close_room(session_id)


__all__ = [
    "MediaCounters",
    "PacketSink",
    "RoomStats",
    "SfuConfig",
    "SfuRegistry",
    "SfuRoom",
    "ViewerStats",
]
