"""Every hook the SFU needs into aiortc/aioice private internals, and nothing else.

aiortc (pinned exactly in requirements) has no public API to receive encoded frames, to ask a
remote sender for a keyframe or to read a viewer's feedback, and its sender re-packetises every
frame for every viewer, so this module reaches into it in five places:

1. ``aiortc.rtcrtpreceiver.decoder_worker``: for receivers registered with :func:`forward_encoded`,
   the worker hands out ``av.Packet`` objects (the re-assembled encoded frame, RTP timestamp as
   pts) instead of decoded frames. ``RTCRtpSender._next_encoded_frame`` only re-packetises
   (``Encoder.pack``) anything that is not a decoded frame, so the SFU never decodes or encodes.
   Unregistered receivers (the rest of the process) keep the stock worker.
2. ``RTCRtpReceiver._send_rtcp_pli`` and its private RTX map: a keyframe request upstream.
3. ``RTCRtpSender._handle_rtcp_packet`` (and ``RTCRtpSender._ssrc``): a viewer's PLI/FIR, and the
   loss in its receiver reports, are reported to the room (the low rendition's switching policy).
4. ``aioice.Connection.gather_candidates``: host candidates limited to configured addresses.
5. ``RTCRtpSender._run_rtp`` and ``_retransmit`` of each viewer's sender (:func:`send_shared_frames`):
   a lean send loop for frames packetised once per room (:class:`StreamPacketizer`, running
   aiortc's own ``Vp8Encoder._packetize``) and shared by every viewer (:class:`SharedFrame`). Per
   viewer it writes only the RTP header (its SSRC, sequence numbers, timestamp origin, mid and
   abs-send-time) and its VP8 picture id, SRTP-protects (pylibsrtp's session, its per-call
   allocation skipped) and sends on the socket of the ICE pair aioice nominated
   (``Connection._nominated``); it keeps the sender's RTCP sender-report counters and a NACK
   history answered with RTX. The room's track calls it synchronously while it waits
   (:meth:`_ViewerSender.send_now`), so there is no task switch per frame and viewer either.
   The stock loop spent its time (profiled: docs/performance.md, "Live streaming") on an
   ``RtpPacket``, two ``datetime`` clock reads, a header-extension build and four nested
   coroutines per packet and viewer, plus a ``Fraction`` conversion and the payloader per frame
   and viewer.

tests/media/ exercises each of them (and tests/streaming/test_weak_viewer.py the loss reports;
tests/media/test_sfu_shared_packetisation.py the fifth, down to the RTP each viewer receives);
an aiortc upgrade that breaks one fails those tests.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import queue
import struct
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any, TypeAlias

import av
from aioice.ice import StunProtocol, TransportPolicy
from aiortc import RTCPeerConnection, RTCRtpCodecParameters, RTCRtpReceiver, RTCRtpSender
from aiortc import rtcrtpreceiver as _aiortc_receiver
from aiortc.codecs import get_decoder, get_encoder
from aiortc.codecs.base import Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, convert_timebase
from aiortc.rtcdtlstransport import State as DtlsState
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTP_HISTORY_SIZE,
    HeaderExtensions,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpSrPacket,
    RtpPacket,
    wrap_rtx,
)
from aiortc.utils import random16, random32
from av.frame import Frame
from pylibsrtp import SRTP_MAX_TRAILER_LEN
from pylibsrtp import Error as SrtpError
from pylibsrtp import Session as SrtpSession

logger = logging.getLogger(__name__)
# pylibsrtp's cffi binding (no type stubs): libsrtp's own srtp_protect, for _Protector.
_srtp_binding: Any = importlib.import_module("pylibsrtp._binding")
_srtp_ffi, _srtp_lib = _srtp_binding.ffi, _srtp_binding.lib

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


def frames_waiting(track: MediaStreamTrack) -> int:
    """Frames an aiortc remote track holds that nobody has read yet (how far its reader is behind)."""
    output_q = getattr(track, "_queue", None)
    return output_q.qsize() if isinstance(output_q, asyncio.Queue) else 0


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


def on_loss_report(sender: RTCRtpSender, callback: Callable[[float], None]) -> None:
    """Call ``callback(fraction_lost)`` (0 to 1) for each RTCP report block about ``sender``'s stream.

    Receivers (browsers, aiortc) send one about every second: the share of this stream's packets
    lost since their previous report (RFC 3550 6.4.1), before any retransmission.
    """
    stock_handler = sender._handle_rtcp_packet

    async def handle_rtcp_packet(packet: Any) -> None:
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            for report in packet.reports:
                if report.ssrc == sender._ssrc:
                    callback(report.fraction_lost / 256)
        await stock_handler(packet)

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


# --- 5. Viewer senders: each frame packetised once, a lean send loop per viewer ------------------

_CLOCK_RATES = {"video": 90_000, "audio": 48_000}
_MIME_TYPES = {"video": "video/vp8", "audio": "audio/opus"}
_NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
_RTP_HEADER = struct.Struct("!BBHLL")  # V/P/X/CC, M/PT, sequence number, timestamp, SSRC
_PICTURE_ID = struct.Struct("!H")
# One RTP payload, split around where each viewer's VP8 picture id goes (Opus: nothing goes there).
Pieces: TypeAlias = list[tuple[bytes, bytes]]


def ntp_now() -> int:
    """64-bit NTP time now, as ``aiortc.clock.current_ntp_time`` but without building a datetime."""
    now = time.time() + _NTP_UNIX_OFFSET
    seconds = int(now)
    return (seconds << 32) | int((now - seconds) * (1 << 32))


def _vp8_pieces(data: bytes) -> Pieces:
    """aiortc's VP8 payloads of one frame, each split around its 2-byte picture id."""
    pieces = []
    for payload in Vp8Encoder._packetize(data, 0):
        # aiortc always writes the extended descriptor with a 15-bit picture id: X|S|PID, I, M|id.
        if len(payload) < 4 or payload[1] != 0x80 or payload[2:4] != b"\x80\x00":
            raise RuntimeError("aiortc's VP8 payload descriptor changed; see streaming/sfu/forwarding.py")
        pieces.append((payload[:2], payload[4:]))
    return pieces


class StreamPacketizer:
    """Makes the RTP payloads of one stream's frames once, for every viewer.

    One per stream a room fans out: the guide's video, the guide's audio, the low rendition.
    VP8 goes through aiortc's own payloader (``Vp8Encoder._packetize``: RFC 7741 descriptor with a
    15-bit picture id, 1300-byte packets), Opus is one payload per frame; so the bytes on the wire
    are what each viewer's stock sender made. ``frames_packetized`` counts the payloader's runs.
    """

    def __init__(self, kind: str) -> None:
        if kind not in _MIME_TYPES:
            raise ValueError(f"no forwarding packetizer for {kind!r}")
        self.kind = kind
        self.mime_type = _MIME_TYPES[kind]
        self.clock_rate = _CLOCK_RATES[kind]
        self._time_base = Fraction(1, self.clock_rate)
        self.frames_packetized = 0

    def frame(self, packet: av.Packet[Any], *, keyframe: bool) -> SharedFrame:
        return SharedFrame(packet, keyframe=keyframe, packetizer=self)

    def packetize(self, packet: av.Packet[Any]) -> tuple[Pieces, int]:
        """The frame's RTP payloads (split for the picture id) and RTP timestamp (stream clock)."""
        self.frames_packetized += 1
        data = bytes(packet)
        pieces = _vp8_pieces(data) if self.kind == "video" else [(b"", data)]
        pts = int(packet.pts or 0)
        time_base = packet.time_base
        if time_base is not None and time_base != self._time_base:
            pts = convert_timebase(pts, time_base, self._time_base)
        return pieces, pts


class SharedFrame:
    """One encoded frame on its way to many viewers: what their queues hold.

    The payloads are made on first use (a frame no viewer is sent is never packetised) and shared
    by every viewer's sender; each sender writes only its own RTP header and, for VP8, its own
    picture id into the payload descriptor, so a viewer sees one continuous picture-id sequence
    across frames, drops and rendition switches, exactly as when its sender packetised alone.
    It quacks like the ``av.Packet`` it wraps (``pts``, ``time_base``, ``bytes()``), so a stock
    aiortc sender would still ``Encoder.pack`` it correctly.
    """

    __slots__ = ("_packetized", "keyframe", "packet", "packetizer", "pts")

    def __init__(self, packet: av.Packet[Any], *, keyframe: bool, packetizer: StreamPacketizer) -> None:
        self.packet = packet
        self.pts: int | None = packet.pts  # the room's timestamp, final once wrapped
        self.keyframe = keyframe
        self.packetizer = packetizer
        self._packetized: tuple[Pieces, int] | None = None

    @property
    def time_base(self) -> Fraction | None:
        return self.packet.time_base

    def __bytes__(self) -> bytes:
        return bytes(self.packet)

    def packetized(self) -> tuple[Pieces, int]:
        if self._packetized is None:
            self._packetized = self.packetizer.packetize(self.packet)
        return self._packetized


class _ExtensionBlock:
    """The RTP header-extension block of one viewer sender's packets (mid, abs-send-time).

    Built by aiortc's own ``HeaderExtensionsMap.set`` (the ids this viewer negotiated), once with
    abs-send-time 0 and once with all ones: the three bytes that differ are where each frame's
    send time goes, so no extension is serialised per packet.
    """

    def __init__(self, extensions_map: HeaderExtensionsMap, mid: str | None) -> None:
        self._map = extensions_map
        self._mid = mid
        low, high = self._build(0), self._build(0xFFFFFF)
        differing = [i for i in range(min(len(low), len(high))) if low[i] != high[i]]
        self._template: tuple[bytes, bytes] | None = None
        self._constant: bytes | None = None
        if len(low) == len(high) and not differing:
            self._constant = low  # abs-send-time not negotiated
        elif len(low) == len(high) and differing == [differing[0], differing[0] + 1, differing[0] + 2]:
            self._template = (low[: differing[0]], low[differing[0] + 3 :])

    def _build(self, abs_send_time: int) -> bytes:
        profile, value = self._map.set(HeaderExtensions(mid=self._mid, abs_send_time=abs_send_time))
        return struct.pack("!HH", profile, len(value) >> 2) + value if value else b""

    def at(self, ntp: int) -> bytes:
        if self._constant is not None:
            return self._constant
        abs_send_time = (ntp >> 14) & 0xFFFFFF  # 6.18 fixed-point seconds
        if self._template is not None:
            return self._template[0] + abs_send_time.to_bytes(3, "big") + self._template[1]
        return self._build(abs_send_time)


class _Protector:
    """SRTP-protects RTP packets with one pylibsrtp ``Session``: its ``protect`` minus per-call costs.

    ``Session.protect`` allocates a C int and re-checks its argument on every call, about 1.2 us of
    Python around 3-4 us of AES-GCM here; this reuses one int and the session's own buffer (the same
    single-threaded use the session makes of it). pylibsrtp is pinned with aiortc.
    """

    def __init__(self, session: SrtpSession) -> None:
        self.session = session
        self._srtp = session._srtp[0]
        self._cdata = session._cdata
        self._buffer = session._buffer
        self._length = _srtp_ffi.new("int *")
        self._room = len(self._buffer) - SRTP_MAX_TRAILER_LEN

    def __call__(self, data: bytes) -> bytes:
        size = len(data)
        if size > self._room:
            return self.session.protect(data)  # raises its own error
        self._length[0] = size
        self._buffer[0:size] = data
        status = _srtp_lib.srtp_protect(self._srtp, self._cdata, self._length)
        if status != _srtp_lib.srtp_err_status_ok:
            raise SrtpError(f"srtp_protect failed with status {status}")
        return self._buffer[0 : self._length[0]]  # type: ignore[no-any-return]


class _ViewerSender:
    """Replaces one viewer ``RTCRtpSender``'s RTP loop and NACK answers (:func:`send_shared_frames`).

    Same contract as the stock ``_run_rtp``: reads ``sender.track`` (the room's bounded per-viewer
    queue), honours ``_enabled``, sets the started/exited events ``stop()`` waits on, stops the
    track when it ends, keeps the counters of the sender's RTCP sender reports and statistics.
    Anything that is not a :class:`SharedFrame` of the negotiated codec (a decoded frame, if the
    receive hook ever failed) goes through aiortc's encoder exactly as before, and is counted by
    the room as an encode. :meth:`send_now` is the same work, synchronous, for the room's track to
    call while this loop waits on it (no task switch per frame).
    """

    def __init__(self, sender: RTCRtpSender) -> None:
        self._sender: Any = sender
        self._history: list[tuple[int, bytes] | None] = [None] * RTP_HISTORY_SIZE
        self._picture_id = random16() & 0x7FFF
        self._sequence_number = random_sequence_number()
        self._timestamp_origin = random32()
        self._encoder: Encoder | None = None
        self._extensions: _ExtensionBlock | None = None
        self._payload_type = 0
        self._mime_type = ""
        self._vp8 = False
        # The route, re-resolved when the DTLS transport, its SRTP session or the ICE pair change.
        self._dtls: Any = None
        self._srtp: Any = None
        self._protect: Callable[[bytes], bytes] = _not_connected
        self._nominated: dict[int, Any] = {}
        self._pair: Any = None
        self._plain_udp = False
        self._socket: Any = None
        self._address: Any = None

    async def run_rtp(self, codec: RTCRtpCodecParameters) -> None:
        sender = self._sender
        sender._RTCRtpSender__rtp_started.set()
        self._payload_type = codec.payloadType or 0
        self._mime_type = codec.mimeType.lower()
        self._vp8 = self._mime_type == "video/vp8"
        self._extensions = _ExtensionBlock(sender._RTCRtpSender__rtp_header_extensions_map, sender._RTCRtpSender__mid)
        attached: Any = None
        try:
            while True:
                track = sender.track
                if track is not attached:
                    _deliver_directly(attached, None)
                    attached = track
                    _deliver_directly(attached, self.send_now)
                if track is None:
                    await asyncio.sleep(0.02)
                    continue
                item = await track.recv()
                if not sender._enabled:
                    continue
                if isinstance(item, SharedFrame) and item.packetizer.mime_type == self._mime_type:
                    pieces, timestamp = item.packetized()
                    picture_id = self._next_picture_id()
                else:
                    payloads, timestamp = await self._encode_or_pack(item, codec)
                    pieces, picture_id = [(b"", payload) for payload in payloads], b""
                if pieces:
                    await self._send_frame(pieces, timestamp, picture_id)
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            # stop() waits for the exited event: never leave without setting it.
            logger.exception("a viewer's RTP sender failed")
        _deliver_directly(attached, None)
        if sender.track is not None:
            sender.track.stop()
            sender._RTCRtpSender__track = None
        sender._RTCRtpSender__rtp_exited.set()

    def send_now(self, item: Any) -> bool:
        """The loop's work for one item, called by the room's track while the loop waits on it.

        False (the track queues the item for the loop instead) for anything that needs an await:
        an encode, a send through a non-UDP ICE protocol, or an error the loop must meet and end on.
        """
        if not self._sender._enabled:
            return True  # read and dropped, as the loop does
        if item.__class__ is not SharedFrame or item.packetizer.mime_type != self._mime_type:
            return False
        try:
            if not self._route():
                return False
            pieces, timestamp = item.packetized()
            if pieces:
                protect, socket_transport, address = self._protect, self._socket, self._address
                sent = 0
                packets = self._packets(pieces, timestamp, self._next_picture_id())
                for data in packets:
                    protected = protect(data)
                    socket_transport.sendto(protected, address)
                    sent += len(protected)
                self._count_sent(sent, len(packets))
        except Exception:
            # Let the loop meet it (the same error, on the queued item) and end as aiortc's does.
            _deliver_directly(self._sender.track, None)
            return False
        return True

    async def _send_frame(self, pieces: Pieces, timestamp: int, picture_id: bytes) -> None:
        direct = self._route()
        packets = self._packets(pieces, timestamp, picture_id)
        sent = 0
        for data in packets:
            protected = self._protect(data)
            if direct:
                self._socket.sendto(protected, self._address)
            else:
                await self._dtls.transport._send(protected)
            sent += len(protected)
        self._count_sent(sent, len(packets))

    async def _encode_or_pack(self, item: Any, codec: RTCRtpCodecParameters) -> tuple[list[bytes], int]:
        if self._encoder is None:
            self._encoder = get_encoder(codec)
        if isinstance(item, Frame):
            force_keyframe = bool(self._sender._RTCRtpSender__force_keyframe)
            self._sender._RTCRtpSender__force_keyframe = False
            return await asyncio.get_running_loop().run_in_executor(None, self._encoder.encode, item, force_keyframe)
        return self._encoder.pack(item.packet if isinstance(item, SharedFrame) else item)

    def _route(self) -> bool:
        """Bring the route up to date; True if packets can go straight to the UDP socket.

        The socket is the one aioice's ``Connection.send`` would use (the nominated pair). False:
        a protocol other than aioice's plain UDP one (TURN), sent through the connection, awaited.
        Raises ConnectionError where aiortc's own send path would.
        """
        dtls = self._sender._RTCRtpSender__transport
        if dtls._state is not DtlsState.CONNECTED:
            raise ConnectionError("Cannot send encrypted RTP, not connected")
        if dtls is not self._dtls or dtls._tx_srtp is not self._srtp:
            self._dtls, self._srtp, self._pair = dtls, dtls._tx_srtp, None
            self._protect = _Protector(dtls._tx_srtp)
            self._nominated = dtls.transport._connection._nominated
        pair = self._nominated.get(1)
        if pair is None:
            raise ConnectionError("Cannot send data, not connected")
        if pair is not self._pair:
            protocol = pair.protocol
            self._pair, self._socket, self._address = pair, protocol.transport, pair.remote_addr
            self._plain_udp = type(protocol).send_data is StunProtocol.send_data
        # aioice sends with ``pair.protocol.send_data``, looked up on the instance.
        return self._plain_udp and "send_data" not in pair.protocol.__dict__

    def _next_picture_id(self) -> bytes:
        if not self._vp8:
            return b""
        picture_id = self._picture_id
        self._picture_id = (picture_id + 1) & 0x7FFF
        return _PICTURE_ID.pack(0x8000 | picture_id)

    def _packets(self, pieces: Pieces, timestamp: int, picture_id: bytes) -> list[bytes]:
        """This viewer's RTP packets of one frame (before SRTP); advances its sequence numbers."""
        sender = self._sender
        assert self._extensions is not None
        ntp = ntp_now()
        extension = self._extensions.at(ntp)
        first_byte = 0x90 if extension else 0x80  # version 2, extension bit, no CSRC
        timestamp = (self._timestamp_origin + timestamp) & 0xFFFFFFFF
        payload_type, ssrc, history, header = self._payload_type, sender._ssrc, self._history, _RTP_HEADER.pack
        sequence_number = self._sequence_number
        last = len(pieces) - 1
        packets = []
        octets = 0
        for index, (head, tail) in enumerate(pieces):
            marker_and_type = payload_type | 0x80 if index == last else payload_type
            fixed = header(first_byte, marker_and_type, sequence_number, timestamp, ssrc)
            data = b"".join((fixed, extension, head, picture_id, tail))
            history[sequence_number % RTP_HISTORY_SIZE] = (sequence_number, data)
            packets.append(data)
            sequence_number = (sequence_number + 1) & 0xFFFF
            octets += len(head) + len(picture_id) + len(tail)
        self._sequence_number = sequence_number
        # What the stock loop keeps for the sender's RTCP sender reports and getStats().
        sender._RTCRtpSender__ntp_timestamp = ntp
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += octets
        sender._RTCRtpSender__packet_count += len(packets)
        return packets

    def _count_sent(self, octets: int, packets: int) -> None:
        self._dtls._RTCDtlsTransport__tx_bytes += octets
        self._dtls._RTCDtlsTransport__tx_packets += packets

    async def retransmit(self, sequence_number: int) -> None:
        """Answer a viewer's NACK from this sender's history (RTX when negotiated), as aiortc does."""
        entry = self._history[sequence_number % RTP_HISTORY_SIZE]
        if entry is None or entry[0] != sequence_number:
            return
        sender = self._sender
        data = entry[1]
        rtx_payload_type = sender._RTCRtpSender__rtx_payload_type
        if rtx_payload_type is not None:
            extensions_map = sender._RTCRtpSender__rtp_header_extensions_map
            rtx = wrap_rtx(
                RtpPacket.parse(data, extensions_map),
                payload_type=rtx_payload_type,
                sequence_number=sender._RTCRtpSender__rtx_sequence_number,
                ssrc=sender._rtx_ssrc,
            )
            sender._RTCRtpSender__rtx_sequence_number = (sender._RTCRtpSender__rtx_sequence_number + 1) & 0xFFFF
            data = rtx.serialize(extensions_map)
        await sender.transport._send_rtp(data)


def _not_connected(data: bytes) -> bytes:
    raise ConnectionError("Cannot send encrypted RTP, not connected")


def _deliver_directly(track: Any, send: Callable[[Any], bool] | None) -> None:
    """Register the sender's synchronous entry point with a room track that accepts one."""
    register = getattr(track, "deliver_directly", None)
    if register is not None:
        register(send)


def send_shared_frames(sender: RTCRtpSender) -> None:
    """Let a viewer's sender send :class:`SharedFrame` items with its own lean RTP loop.

    Call before the sender starts (``RTCRtpSender.send``, run when the viewer's answer is applied):
    aiortc starts ``self._run_rtp(codec)`` there, looked up on the instance; NACKs reach
    ``self._retransmit`` the same way. The room's track gets :meth:`_ViewerSender.send_now` through
    its ``deliver_directly`` while the loop runs.
    """
    viewer_sender = _ViewerSender(sender)
    sender._run_rtp = viewer_sender.run_rtp  # type: ignore[method-assign]
    sender._retransmit = viewer_sender.retransmit  # type: ignore[method-assign]
