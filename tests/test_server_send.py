"""italycouch/server_send.py under a real uvicorn (the production options) and a real WebSocket client.

The fan-out writes a frame built once (``text_frame``) straight to each socket's transport
(``Wire``). These tests hold it to what uvicorn's own ``send`` would have done: the client reads
the same messages in the same order, and the wire refuses whenever ``send`` would not have
written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import uvicorn
import uvloop
from websockets.asyncio.client import connect

from italycouch.server import uvicorn_options
from italycouch.server_send import SERVER_SEND, WIRE, KeepServerSend, Wire, text_frame

TIMEOUT = 10.0
LONG = "Ponte Vecchio 🌉 " * 5000  # over 64 KiB once encoded: the 8-byte length header


class App:
    """A WebSocket app that reports what the wire said at each step, then writes a script of frames."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}
        self.done = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        wire: Wire | None = scope[WIRE]
        self.seen["wire"] = wire
        self.seen["server_send"] = scope[SERVER_SEND]
        assert (await receive())["type"] == "websocket.connect"
        if wire is None:
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1000})
            self.done.set()
            return
        self.seen["before_accept"] = wire.write(text_frame("too early"))
        await send({"type": "websocket.accept"})
        # Interleaved with uvicorn's own send, in order; ASCII, emoji, 126..65535 and longer.
        self.seen["after_accept"] = wire.write(text_frame('{"n":1}'))
        await send({"type": "websocket.send", "text": '{"n":2}'})
        wire.write(text_frame("Grazie 🙏 " * 20))
        wire.write(text_frame(LONG))
        # A paused transport (the client is not reading): the wire leaves it to send, which waits.
        protocol = scope[SERVER_SEND].__self__
        protocol.pause_writing()
        self.seen["paused"] = wire.write(text_frame("held back"))
        protocol.resume_writing()
        self.seen["resumed"] = wire.write(text_frame("last"))
        await send({"type": "websocket.close", "code": 1000})
        self.seen["after_close"] = wire.write(text_frame("after close"))
        self.done.set()


class Wrapped:
    """A middleware that wraps ``send`` (as some do): then there is no wire, only ``send``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def wrapped_send(message: dict[str, Any]) -> None:
            await send(message)

        await self.app(scope, receive, wrapped_send)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **uvicorn_options())
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    try:
        async with asyncio.timeout(TIMEOUT):
            while not server.started:  # noqa: ASYNC110 (uvicorn has no event for it)
                await asyncio.sleep(0.01)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await task


def test_frames_built_once_reach_a_real_client_in_order_and_only_when_send_would_have_written():
    async def scenario() -> None:
        app = App()
        async with (
            serving(KeepServerSend(app)) as port,
            asyncio.timeout(TIMEOUT),
            connect(f"ws://127.0.0.1:{port}/", max_size=None) as client,
        ):
            received = [message async for message in client]
            await app.done.wait()
        assert received == ['{"n":1}', '{"n":2}', "Grazie 🙏 " * 20, LONG, "last"]
        assert isinstance(app.seen["wire"], Wire)
        assert (app.seen["before_accept"], app.seen["after_accept"]) == (False, True)
        assert (app.seen["paused"], app.seen["resumed"]) == (False, True)
        assert app.seen["after_close"] is False

    uvloop.run(scenario())


def test_there_is_no_wire_when_send_is_not_uvicorns_own():
    async def scenario() -> None:
        app = App()
        async with (
            serving(Wrapped(KeepServerSend(app))) as port,
            asyncio.timeout(TIMEOUT),
            connect(f"ws://127.0.0.1:{port}/") as client,
        ):
            assert [message async for message in client] == []
            await app.done.wait()
        assert app.seen["wire"] is None
        assert Wire.of(app.seen["server_send"]) is None
        assert Wire.of(print) is None

    uvloop.run(scenario())


def test_a_text_frame_is_whole_and_unmasked():
    for text in ("", "ciao", "é" * 200, LONG):
        framed = text_frame(text)
        assert framed[0] == 0x81  # FIN, text
        assert framed.endswith(text.encode())
        assert framed[1] & 0x80 == 0  # not masked: the same bytes serve every socket
