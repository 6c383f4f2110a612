"""italycouch/tasks.py: a close cancels its tasks and never waits for ever on one that goes on."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from italycouch.tasks import cancel_and_wait


def test_cancel_and_wait_ends_what_it_can_and_names_what_would_not_end(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        stop = asyncio.Event()

        async def loses_its_cancellations() -> None:
            while not stop.is_set():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.sleep(10)

        async def failed() -> None:
            raise ValueError("its own failure")

        async def sleeping() -> None:
            await asyncio.sleep(10)

        stubborn, failing, plain = (
            asyncio.ensure_future(coroutine) for coroutine in (loses_its_cancellations(), failed(), sleeping())
        )
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with caplog.at_level(logging.ERROR, logger="italycouch.tasks"):
            assert await cancel_and_wait([stubborn, failing, plain, None], owner="test room", grace=0.3) is False
        assert 0.3 <= loop.time() - started < 2
        assert plain.cancelled()
        assert isinstance(failing.exception(), ValueError)  # not raised into the close
        assert not stubborn.done()
        [report] = [record.getMessage() for record in caplog.records if "did not end" in record.getMessage()]
        assert report.startswith("test room: <Task")
        assert "loses_its_cancellations" in report
        assert report.endswith("did not end within 0.3 s of being cancelled")
        # Those that end when cancelled: True at once.
        assert await cancel_and_wait([asyncio.ensure_future(sleeping())], owner="test room", grace=5) is True
        stop.set()
        stubborn.cancel()
        await asyncio.wait([stubborn], timeout=1)
        assert stubborn.done()

    asyncio.run(scenario())
