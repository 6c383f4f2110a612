"""Running a live-socket scenario (consumers, the room's fan-out, the SFU) on its own event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from asgiref.sync import sync_to_async
from django.db import connections

from chat import fanout
from italycouch.live_db import close_live_db
from streaming import registry

__all__ = ["run"]


def run(scenario: Awaitable[None], timeout: float = 90) -> None:
    """Run ``scenario`` within ``timeout`` seconds, then close what belonged to its loop."""

    async def bounded() -> None:
        try:
            await asyncio.wait_for(scenario, timeout)
        finally:
            # The room hub and the SFU's peer connections belong to this event loop: close them
            # before it ends.
            await fanout.close_hub()
            current = registry._registry
            if current is not None:
                await current.close()
            # The consumers' database calls ran in asgiref's worker thread, which outlives this
            # loop: close its connections, or the test database cannot be dropped (PostgreSQL).
            await sync_to_async(connections.close_all)()
            await close_live_db()  # and the live sockets' database threads, after their last call

    asyncio.run(bounded())
