"""WebSocket routes of every app (each app adds its own list here)."""

from typing import Any

websocket_urlpatterns: list[Any] = []
