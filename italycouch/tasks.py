"""Ending background tasks on close without trusting that a cancellation is never lost.

A cancellation can be swallowed below our code: in the test suite (Python 3.11, redis-py 8.1),
the room's ticker was cancelled while ``await client.set(...)`` was in flight, the call returned
its reply normally and the ticker went on; the room's close, awaiting it, waited for ever
(docs/adr/0016). So a loop that runs until its owner closes also checks a flag, and
:func:`cancel_and_wait` bounds the wait and says which task did not end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

__all__ = ["CLOSE_GRACE_SECONDS", "cancel_and_wait"]

logger = logging.getLogger(__name__)

# Longer than any one step of the tasks cancelled here (a database call, a Redis round trip).
CLOSE_GRACE_SECONDS = 5.0


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any] | None], *, owner: str, grace: float = CLOSE_GRACE_SECONDS
) -> bool:
    """Cancel ``tasks`` and wait up to ``grace`` seconds for them to end; True when all did.

    Their failures were theirs (logged where they ran, if at all): they are read here so that
    asyncio does not report them again, and not raised into the close. A task still running
    after ``grace`` is logged and left to end by its own loop's flag.
    """
    pending = [task for task in tasks if task is not None and not task.done()]
    for task in pending:
        task.cancel()
    if not pending:
        return True
    done, still_running = await asyncio.wait(pending, timeout=grace)
    for task in done:
        if not task.cancelled():
            task.exception()
    for task in still_running:
        logger.error("%s: %r did not end within %.1f s of being cancelled", owner, task, grace)
    return not still_running
