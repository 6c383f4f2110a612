"""ASGI entry point: HTTP through Django, WebSockets through Channels routing (origin-checked)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "italycouch.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from italycouch.routing import websocket_application  # noqa: E402
from italycouch.scheduler import start_embedded_scheduler  # noqa: E402

start_embedded_scheduler()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": websocket_application(),
    }
)
