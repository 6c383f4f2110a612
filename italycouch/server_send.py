"""The ASGI server's own ``send``, kept in the WebSocket scope for the live room's fan-out, and
under uvicorn a way to write a text frame built once to many sockets (docs/adr/0015)."""

from __future__ import annotations

from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

__all__ = ["SERVER_SEND", "WIRE", "KeepServerSend", "Wire", "text_frame"]

# The scope key under which the ASGI server's own ``send`` reaches the consumers.
SERVER_SEND = "italycouch.server_send"
# The scope key of the socket's ``Wire`` (uvicorn with the sans-I/O websockets protocol only).
WIRE = "italycouch.wire"


def text_frame(text: str) -> bytes:
    """``text`` as one whole WebSocket text frame from the server, header included.

    A server's frames are not masked (RFC 6455 5.1) and the project runs without compression
    extensions (italycouch/server.py), so the same bytes are a valid frame on every socket: the
    fan-out encodes and frames an event once, not once per viewer."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class Wire:
    """Writes frames built by :func:`text_frame` straight to one uvicorn socket's transport.

    This is what uvicorn's own ``send`` does for a ``websocket.send`` (its sans-I/O protocol
    serialises the frame and calls ``transport.write``), minus the per-socket encoding and
    framing and the two coroutines around them, which the live room's fan-out would otherwise
    repeat for each of a thousand sockets. It writes only when that ``send`` would have written at once: handshake done,
    connection open, no close sent or received, no extension negotiated, the transport not
    paused (``pause_writing``) and not closing. Otherwise :meth:`write` returns False and the
    caller uses the ASGI ``send``, which waits, raises or refuses exactly as uvicorn decides.
    """

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, send: Any) -> Wire | None:
        """The wire under uvicorn's ``send`` (a bound method of its protocol), else None
        (Daphne, the test communicator, any middleware that wrapped ``send``)."""
        # Imported here: a process that serves with Daphne need not load uvicorn (~50 ms).
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

        protocol = getattr(send, "__self__", None)
        if type(protocol) is not WebSocketsSansIOProtocol or send.__func__ is not WebSocketsSansIOProtocol.send:
            return None
        return cls(protocol)

    def write(self, frame: bytes) -> bool:
        """Write ``frame`` now if uvicorn's ``send`` would have; False when it would not."""
        protocol = self._protocol
        conn = protocol.conn
        if (
            not protocol.handshake_complete
            or protocol.close_sent
            or protocol.disconnected
            or protocol.initial_response is not None
            or not protocol.writable.is_set()
            or conn.state is not State.OPEN
            or conn.extensions
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(frame)
        return True


class KeepServerSend:
    """Outermost WebSocket middleware: puts the server's ``send`` into the scope, and under
    uvicorn the socket's :class:`Wire`.

    The live room's fan-out (chat/fanout.py) writes each frame to a thousand sockets; with this
    ``send`` it skips the session middleware's wrapper (which only acts on HTTP responses, yet
    looks at the lazy session on every message) and the consumer's layers of ``send``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app({**scope, SERVER_SEND: send, WIRE: Wire.of(send)}, receive, send)
