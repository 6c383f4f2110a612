"""A synthetic guide: a moving test pattern and a tone, published over the live signalling protocol.

Used by ``manage.py demo_stream`` so a developer can watch a live tour without a camera. It speaks
the same WebSocket contract as the guide's broadcast page (publish, publish.answer, ping, end) and
publishes through aiortc (VP8 + Opus), so the SFU sees exactly what a phone would send.

The WebSocket client is a small RFC 6455 client on asyncio streams (see SignallingClient).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fractions
import hashlib
import json
import math
import os
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import av
from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AUDIO_PTIME, MediaStreamTrack, VideoStreamTrack

from streaming.sfu import forwarding

WIDTH, HEIGHT = 640, 360
SAMPLE_RATE = 48000
TONE_HZ = 440.0
PING_INTERVAL = 10.0
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# Colour bars (Y, U, V), BT.601 limited range: white, yellow, cyan, green, magenta, red, blue, black.
_BARS = [(235, 128, 128), (210, 16, 146), (170, 166, 16), (145, 54, 34), (106, 202, 222), (81, 90, 240)]
_BARS += [(41, 240, 110), (16, 128, 128)]


class DemoError(Exception):
    """The demo could not publish: the message is for the user (the server's, when it refused)."""


def _bar_rows(width: int) -> tuple[bytes, bytes, bytes]:
    """One row of each plane, twice as wide as the frame, so any window of it is a shifted row."""
    bar = width // len(_BARS)
    luma = b"".join(bytes([y]) * bar for y, _u, _v in _BARS)
    cb = b"".join(bytes([u]) * (bar // 2) for _y, u, _v in _BARS)
    cr = b"".join(bytes([v]) * (bar // 2) for _y, _u, v in _BARS)
    luma = luma.ljust(width, b"\x10")
    cb = cb.ljust(width // 2, b"\x80")
    cr = cr.ljust(width // 2, b"\x80")
    return luma * 2, cb * 2, cr * 2


class TestPatternTrack(VideoStreamTrack):
    """Colour bars scrolling sideways at 30 fps, with a band that sweeps down: motion for the encoder."""

    def __init__(self, width: int = WIDTH, height: int = HEIGHT) -> None:
        super().__init__()
        self.width, self.height = width, height
        self._luma, self._cb, self._cr = _bar_rows(width)
        self.frames = 0

    def _frame(self) -> av.VideoFrame:
        width, height, n = self.width, self.height, self.frames
        shift = (n * 4) % width
        luma_row = self._luma[shift : shift + width]
        band_top = (n * 3) % height
        band = bytes([128]) * width
        luma = bytearray(luma_row * height)
        for y in range(band_top, min(band_top + 16, height)):
            luma[y * width : (y + 1) * width] = band
        cb = self._cb[shift // 2 : shift // 2 + width // 2] * (height // 2)
        cr = self._cr[shift // 2 : shift // 2 + width // 2] * (height // 2)
        frame = av.VideoFrame(width, height, "yuv420p")
        for index, (plane, data) in enumerate(zip(frame.planes, (bytes(luma), cb, cr), strict=True)):
            _fill_plane(plane, data, width if index == 0 else width // 2)
        return frame

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = self._frame()
        frame.pts = pts
        frame.time_base = time_base
        self.frames += 1
        return frame


def _fill_plane(plane: Any, data: bytes, width: int) -> None:
    stride = plane.line_size
    if stride == width:
        plane.update(data)
        return
    rows = len(data) // width
    padded = b"".join(data[r * width : (r + 1) * width].ljust(stride, b"\x00") for r in range(rows))
    plane.update(padded)


class ToneTrack(MediaStreamTrack):
    """A quiet 440 Hz sine, 20 ms mono frames at 48 kHz, paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float = TONE_HZ) -> None:
        super().__init__()
        self.frequency = frequency
        self._samples = int(AUDIO_PTIME * SAMPLE_RATE)
        self._start: float | None = None
        self._timestamp = 0

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._timestamp += self._samples
            wait = self._start + self._timestamp / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        omega = 2 * math.pi * self.frequency / SAMPLE_RATE
        pcm = b"".join(
            int(3000 * math.sin(omega * (self._timestamp + i))).to_bytes(2, "little", signed=True)
            for i in range(self._samples)
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=self._samples)
        frame.planes[0].update(pcm)
        frame.pts = self._timestamp
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        return frame


# --- WebSocket signalling --------------------------------------------------------------------------


class SignallingClient:
    """One WebSocket to ``/ws/live/<id>/``: ``send`` JSON, ``receive`` JSON (None once closed).

    A small RFC 6455 client on asyncio streams (text frames, ping/pong, close): the ``websockets``
    package is not a dependency, and autobahn's asyncio flavour cannot be loaded in a process where
    Channels/Daphne already chose autobahn's Twisted flavour (txaio allows one per process).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.close_code: int | None = None
        self._closed = False
        # One reader task: a timed-out receive must never abandon a frame half read.
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._reading = asyncio.ensure_future(self._read_loop())

    async def _read_loop(self) -> None:
        while True:
            message = await self._next_message()
            self._inbox.put_nowait(message)
            if message is None:
                return

    @classmethod
    async def connect(cls, ws_url: str, *, origin: str, within: float = 10.0) -> SignallingClient:
        parts = urlsplit(ws_url)
        if parts.hostname is None or parts.scheme not in ("ws", "wss"):
            raise DemoError(f"not a WebSocket URL: {ws_url}")
        port = parts.port or (443 if parts.scheme == "wss" else 80)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(parts.hostname, port, ssl=True if parts.scheme == "wss" else None), within
            )
        except (OSError, TimeoutError) as error:
            raise DemoError(f"cannot connect to {parts.netloc}: {error}") from error
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n"
        )
        writer.write(request.encode("latin-1"))
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), within)
        except (OSError, TimeoutError, asyncio.IncompleteReadError) as error:
            writer.close()
            raise DemoError(f"no WebSocket handshake from {parts.netloc}: {error!r}") from error
        status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode("ascii")).digest()).decode("ascii")  # noqa: S324
        if " 101 " not in status_line + " " or accept.encode("ascii") not in head:
            writer.close()
            raise DemoError(f"the server refused the WebSocket: {status_line} (is the origin {origin} allowed?)")
        return cls(reader, writer)

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        header = bytearray([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header.append(0x80 | length)
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        return bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))

    async def send(self, message: dict[str, Any]) -> None:
        if self._closed:
            raise DemoError("the WebSocket is closed")
        self._writer.write(self._frame(0x1, json.dumps(message).encode("utf-8")))
        await self._writer.drain()

    async def _read_frame(self) -> tuple[int, bytes]:
        first, second = await self._reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._reader.readexactly(8))
        mask = await self._reader.readexactly(4) if second & 0x80 else b""
        payload = await self._reader.readexactly(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return first, payload

    async def _next_message(self) -> dict[str, Any] | None:
        fragments: list[bytes] = []
        while True:
            try:
                first, payload = await self._read_frame()
            except (OSError, asyncio.IncompleteReadError):
                self._closed = True
                return None
            opcode = first & 0x0F
            if opcode == 0x8:  # close: answer it and report the code
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                if not self._closed:
                    self._closed = True
                    with contextlib.suppress(OSError):
                        self._writer.write(self._frame(0x8, payload[:2]))
                return None
            if opcode == 0x9:  # ping
                self._writer.write(self._frame(0xA, payload))
                continue
            if opcode == 0xA:
                continue
            fragments.append(payload)
            if not first & 0x80:
                continue
            data, fragments = b"".join(fragments), []
            with contextlib.suppress(ValueError):
                message = json.loads(data.decode("utf-8"))
                if isinstance(message, dict):
                    return message

    async def receive(self, within: float | None = None) -> dict[str, Any] | None:
        if self._reading.done() and self._inbox.empty():
            return None
        return await asyncio.wait_for(self._inbox.get(), within)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                self._writer.write(self._frame(0x8, struct.pack("!H", 1000)))
                await self._writer.drain()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reading), 2)
        self._reading.cancel()
        self._writer.close()
        with contextlib.suppress(OSError, TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._writer.wait_closed(), 2)


# --- The demo publisher ----------------------------------------------------------------------------


@dataclass
class DemoResult:
    epoch: int = 0
    frames_sent: int = 0
    ended: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)


def websocket_url(site_url: str, session_id: int, token: str) -> str:
    parts = urlsplit(site_url.rstrip("/"))
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/ws/live/{session_id}/?token={token}"


def new_peer_connection() -> RTCPeerConnection:
    # No STUN server: aiortc's default would send packets to a public server.
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def _error_text(message: dict[str, Any]) -> str:
    return f"{message.get('message') or 'refused'} ({message.get('code', 'error')})"


async def run_demo(
    *,
    site_url: str,
    session_id: int,
    token: str,
    duration: float | None = None,
    end: bool = False,
    host_addresses: Sequence[str] = (),
    say: Callable[[str], None] = print,
    stop: asyncio.Event | None = None,
) -> DemoResult:
    """Publish the test pattern to ``session_id`` as its guide until ``duration`` or ``stop``."""
    result = DemoResult()
    stop = stop or asyncio.Event()
    origin = site_url.rstrip("/")
    client = await SignallingClient.connect(websocket_url(site_url, session_id, token), origin=origin)
    pc = new_peer_connection()
    video = TestPatternTrack()
    pc.addTrack(video)
    pc.addTrack(ToneTrack())
    try:
        welcome = await _expect(client, "welcome", result)
        session = welcome.get("session", {})
        say(f"Connected as the guide of session {session_id} ({session.get('tour_title', '')}).")
        if host_addresses:
            forwarding.restrict_host_candidates(pc, host_addresses)
        await pc.setLocalDescription(await pc.createOffer())  # returns once ICE gathering is complete
        await client.send({"type": "publish", "sdp": pc.localDescription.sdp})
        answer = await _expect(client, "publish.answer", result)
        result.epoch = int(answer.get("epoch", 0))
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        say(f"Live (epoch {result.epoch}). Watch at {origin}/live/{session_id}/ (signed in with a booking).")
        loop = asyncio.get_running_loop()
        deadline = None if duration is None else loop.time() + duration
        next_ping = loop.time()
        while not stop.is_set():
            now = loop.time()
            if deadline is not None and now >= deadline:
                break
            if now >= next_ping:
                await client.send({"type": "ping", "client_time": int(time.time() * 1000)})
                next_ping = now + PING_INTERVAL
            wake = min(next_ping, deadline if deadline is not None else next_ping)
            try:
                message = await client.receive(within=max(0.05, min(wake - now, 1.0)))
            except TimeoutError:
                continue
            if message is None:
                raise DemoError(f"the server closed the connection (code {client.close_code})")
            result.messages.append(message)
            kind = message.get("type")
            if kind in ("kicked",) or (kind == "error" and message.get("fatal")):
                raise DemoError(_error_text(message))
            if kind == "session.state" and message.get("status") == "ended":
                say("The session has ended.")
                break
        if end:
            await client.send({"type": "end"})
            # Wait for the server to confirm: closing at once could cut the handler short.
            result.ended = await _ended(client, result)
            say("The session is over." if result.ended else "Sent end; the server did not confirm it.")
        return result
    finally:
        result.frames_sent = video.frames
        await pc.close()
        await client.close()


async def _expect(client: SignallingClient, kind: str, result: DemoResult, within: float = 15.0) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise DemoError(f"no {kind} from the server within {within:.0f} s")
        message = await client.receive(within=remaining)
        if message is None:
            raise DemoError(f"the server closed the connection (code {client.close_code}) before {kind}")
        result.messages.append(message)
        if message.get("type") == kind:
            return message
        if message.get("type") in ("error", "kicked"):
            raise DemoError(_error_text(message))


async def _ended(client: SignallingClient, result: DemoResult, within: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (remaining := deadline - loop.time()) > 0:
        try:
            message = await client.receive(within=remaining)
        except TimeoutError:
            return False
        if message is None:
            return True  # closed by the server after ending the session
        result.messages.append(message)
        if message.get("type") == "kicked" or (
            message.get("type") == "session.state" and message.get("status") == "ended"
        ):
            return True
    return False
