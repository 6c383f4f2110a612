"""WebSocket routes of the streaming app (included by italycouch/routing.py)."""

from typing import Any

from django.urls import path

from streaming.consumers import LiveConsumer

websocket_urlpatterns: list[Any] = [
    path("ws/live/<int:session_id>/", LiveConsumer.as_asgi()),
]
