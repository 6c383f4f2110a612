"""WebSocket routes of every app (each app adds its own list here)."""

from typing import Any

from streaming.routing import websocket_urlpatterns as streaming_websocket_urlpatterns

websocket_urlpatterns: list[Any] = [*streaming_websocket_urlpatterns]
