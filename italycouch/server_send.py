"""The ASGI server's own ``send``, kept in the WebSocket scope for the live room's fan-out."""

from typing import Any

__all__ = ["SERVER_SEND", "KeepServerSend"]

# The scope key under which the ASGI server's own ``send`` reaches the consumers.
SERVER_SEND = "italycouch.server_send"


class KeepServerSend:
    """Outermost WebSocket middleware: puts the server's ``send`` into the scope.

    The live room's fan-out (chat/fanout.py) writes each frame to a thousand sockets; with this
    ``send`` it skips the session middleware's wrapper (which only acts on HTTP responses, yet
    looks at the lazy session on every message) and the consumer's layers of ``send``.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.app({**scope, SERVER_SEND: send}, receive, send)
