"""Periodic streaming jobs: thin callers of streaming.services."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

from streaming import services
from streaming.registry import close_room_threadsafe, run_on_registry_loop

__all__ = ["end_overdue_sessions"]

logger = logging.getLogger(__name__)


@shared_task
def end_overdue_sessions() -> list[int]:
    """End sessions past their deadline (the database), then tell their sockets and close their rooms.

    The sockets of an ended session, in any process, hear it through the session's control group
    and close that process's SFU room; a room in this process is also closed directly, best effort.
    """
    ended = services.end_overdue_sessions()
    if not ended:
        return ended
    # Imported here: the consumer module pulls in aiortc, which a worker without rooms need not load.
    from streaming.consumers import control_group

    layer = get_channel_layer()
    for session_id in ended:
        try:
            if layer is not None:
                event = {"type": "live.ended"}
                # In the web process (embedded scheduler thread) on the sockets' own loop; in a
                # worker through the layer (Redis) from here.
                if not run_on_registry_loop(layer.group_send(control_group(session_id), event)):
                    async_to_sync(layer.group_send)(control_group(session_id), event)
            close_room_threadsafe(session_id)
        except Exception:
            logger.exception("live session %s ended, but its sockets or room could not be closed", session_id)
    return ended
