"""Every hook the SFU needs into aiortc/aioice private internals, and nothing else.

aiortc (pinned exactly in requirements) has no public API to receive encoded frames or to ask a
remote sender for a keyframe, so this module reaches into it in four places:

1. ``aiortc.rtcrtpreceiver.decoder_worker``: for receivers registered with :func:`forward_encoded`,
   the worker hands out ``av.Packet`` objects (the re-assembled encoded frame, RTP timestamp as
   pts) instead of decoded frames. ``RTCRtpSender._next_encoded_frame`` only re-packetises
   (``Encoder.pack``) anything that is not a decoded frame, so the SFU never decodes or encodes.
   Unregistered receivers (the rest of the process) keep the stock worker.
2. ``RTCRtpReceiver._send_rtcp_pli`` and its private RTX map: a keyframe request upstream.
3. ``RTCRtpSender._handle_rtcp_packet``: a viewer's PLI/FIR is reported to the room.
4. ``aioice.Connection.gather_candidates``: host candidates limited to configured addresses.

tests/media/ exercises each of them; an aiortc upgrade that breaks one fails those tests.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import av
from aioice.ice import TransportPolicy
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc import rtcrtpreceiver as _aiortc_receiver
from aiortc.codecs import get_decoder
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket

logger = logging.getLogger(__name__)

#: Codecs whose encoded frames can be re-packetised by aiortc's ``Encoder.pack``. The SFU
#: negotiates only these, on both legs, so what a viewer's sender packs is what it negotiated.
FORWARDED_MIME_TYPES = frozenset({"video/vp8", "audio/opus"})

_stock_decoder_worker: Callable[..., None] = _aiortc_receiver.decoder_worker
# Keyed by the receiver track's output queue: the one object the worker is handed that
# identifies the receiver (RTCRtpReceiver.receive passes ``self._track._queue``).
_forwarding_queues: weakref.WeakSet[asyncio.Queue[Any]] = weakref.WeakSet()
_install_lock = threading.Lock()


def _encoded_frame_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """Stand-in for aiortc's decoder thread: passes encoded frames through as ``av.Packet``."""
    decoder_worker_fallback: Any = None
    while True:
        task = input_q.get()
        if task is None:
            # The receiver is stopping: end the track exactly as the stock worker does.
            asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
            break
        codec, encoded_frame = task
        if codec.mimeType.lower() not in FORWARDED_MIME_TYPES:
            # Never negotiated by the SFU; decode rather than forward something a viewer's
            # packetiser would mangle. Frames that come out count as decodes in the room.
            if decoder_worker_fallback is None:
                decoder_worker_fallback = get_decoder(codec)
            try:
                frames = decoder_worker_fallback.decode(encoded_frame)
            except av.FFmpegError:
                decode_error.set()
                continue
            for frame in frames:
                asyncio.run_coroutine_threadsafe(output_q.put(frame), loop)
            continue
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = Fraction(1, codec.clockRate)
        loop.call_soon_threadsafe(output_q.put_nowait, packet)


def _dispatching_decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: queue.Queue[Any],
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    if output_q in _forwarding_queues:
        _encoded_frame_worker(loop, input_q, output_q, decode_error)
    else:
        _stock_decoder_worker(loop, input_q, output_q, decode_error)


def install() -> None:
    """Route aiortc's decoder threads through the dispatcher (idempotent)."""
    with _install_lock:
        if _aiortc_receiver.decoder_worker is not _dispatching_decoder_worker:
            _aiortc_receiver.decoder_worker = _dispatching_decoder_worker


def forward_encoded(track: MediaStreamTrack) -> None:
    """Make the receiver behind ``track`` yield ``av.Packet`` (encoded) instead of decoded frames.

    Call it from the peer connection's ``track`` event: aiortc emits it during
    ``setRemoteDescription``, before ``RTCRtpReceiver.receive`` starts the decoder thread.
    """
    install()
    output_q = getattr(track, "_queue", None)
    if not isinstance(output_q, asyncio.Queue):
        raise TypeError(f"not an aiortc remote track: {track!r}")
    _forwarding_queues.add(output_q)


def is_vp8_keyframe(payload: bytes) -> bool:
    """RFC 6386 section 9.1: bit 0 of the frame tag is 0 for a key frame."""
    return bool(payload) and payload[0] & 0x01 == 0


def primary_ssrcs(receiver: RTCRtpReceiver) -> list[int]:
    """SSRCs of media (not retransmission) streams seen on this receiver recently."""
    rtx_ssrcs: dict[int, int] = getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {})
    return [source.source for source in receiver.getSynchronizationSources() if source.source not in rtx_ssrcs]


async def send_picture_loss_indication(receiver: RTCRtpReceiver) -> bool:
    """Ask the remote sender for a keyframe (RTCP PLI). False if no media SSRC is known yet."""
    ssrcs = primary_ssrcs(receiver)
    for ssrc in ssrcs:
        await receiver._send_rtcp_pli(ssrc)
    return bool(ssrcs)


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call ``callback`` whenever the viewer behind ``sender`` sends a PLI or FIR."""
    stock_handler = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            callback()
        await stock_handler(packet)

    # The DTLS transport looks the handler up on the instance for every RTCP packet.
    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]


def restrict_host_candidates(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Offer host candidates only on ``addresses`` (instead of every interface).

    Call after the transceivers exist and before ``setLocalDescription`` (which gathers).
    STUN/TURN candidates are still gathered as configured, from those host sockets.
    """
    chosen = list(addresses)
    for transceiver in pc.getTransceivers():
        connection: Any = transceiver.sender.transport.transport.iceGatherer._connection
        if getattr(connection, "_sfu_host_addresses", None) == chosen:
            continue
        connection._sfu_host_addresses = chosen
        _replace_gather(connection, chosen)


def _replace_gather(connection: Any, addresses: list[str]) -> None:
    # Mirrors aioice 0.13 Connection.gather_candidates, with the address list given
    # rather than read from aioice.ice.get_host_addresses (every interface).
    async def gather_candidates() -> None:
        if connection._local_candidates_start:
            return
        connection._local_candidates_start = True
        host_addresses = addresses if connection._transport_policy == TransportPolicy.ALL else []
        for component in sorted(connection._components):
            connection._local_candidates += await connection.get_component_candidates(
                component=component, addresses=host_addresses
            )
        connection._local_candidates_end = True

    connection.gather_candidates = gather_candidates
