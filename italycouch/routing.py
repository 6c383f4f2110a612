"""WebSocket routes of every app (each app adds its own list here), and the stack that serves them."""

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator

from italycouch.server_send import KeepServerSend
from streaming.routing import websocket_urlpatterns as streaming_websocket_urlpatterns

__all__ = ["websocket_application", "websocket_urlpatterns"]

websocket_urlpatterns: list[Any] = [*streaming_websocket_urlpatterns]


def websocket_application() -> Any:
    """The WebSocket half of italycouch/asgi.py: origin check, session and login, the routes."""
    return KeepServerSend(AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))))
