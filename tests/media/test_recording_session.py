"""A session's recording end to end on the Django side: ensure_recording, room close, the row, replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import av
import pytest
from asgiref.sync import sync_to_async
from django.db import connections

from streaming import recordings
from streaming.models import Recording
from streaming.sfu import SfuConfig, SfuRoom
from tests.streaming.conftest import make_session

from .clients import TestPublisher, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def run(scenario: Any, timeout: float = 30) -> None:
    async def bounded() -> None:
        try:
            await asyncio.wait_for(scenario, timeout)
        finally:
            await sync_to_async(connections.close_all)()

    asyncio.run(bounded())


def test_closing_the_room_finishes_the_recording_and_marks_it_ready(
    sfu_config: SfuConfig, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    session = make_session()

    async def scenario() -> None:
        room = SfuRoom(str(session.pk), sfu_config)
        publisher = TestPublisher(room=6)
        try:
            await publisher.publish(room)
            recorder = await recordings.ensure_recording(room, session.pk)
            assert await recordings.ensure_recording(room, session.pk) is recorder, "one recorder per room"
            assert await wait_until(lambda: recorder.stats.video_packets >= 30, within=5)
            row = await sync_to_async(Recording.objects.get)(session_id=session.pk)
            assert row.status == Recording.Status.RECORDING
        finally:
            await publisher.close()
            await room.close()
        assert room.stats().media.decodes == room.stats().media.encodes == 0

    run(scenario())

    recording = Recording.objects.get(session=session)
    path = tmp_path / "media" / "recordings" / f"{session.pk}.webm"
    assert recording.status == Recording.Status.READY
    assert recording.file_name == f"recordings/{session.pk}.webm"
    assert recording.size_bytes == path.stat().st_size > 0
    assert recording.duration_ms >= 900
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "vp8"
        assert sum(1 for _ in container.decode(video=0)) >= 30
