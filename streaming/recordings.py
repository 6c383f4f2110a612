"""Session recordings, the Django side: where the files go, the Recording row, who may replay.

The SFU room writes the file (streaming.sfu.recording: forwarded packets muxed into WebM, no
transcoding) to ``MEDIA_ROOT/recordings/<session_id>.webm``. :func:`ensure_recording` attaches a
recorder to a session's room (idempotent: a republish keeps the same file) and marks the row
RECORDING; whoever closes the room (the guide's end, the auto-end, shutdown) closes the recorder,
which finishes the file and marks the row READY (or FAILED). Replays go through
:func:`replayable_recording`: the people who could watch the session live, after it ended.
"""

from __future__ import annotations

import logging
import weakref
from pathlib import Path

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from accounts.models import User
from bookings.models import Booking
from streaming.models import LiveSession, Recording, SessionBan
from streaming.selectors import LiveAccessDenied
from streaming.sfu import SfuRoom
from streaming.sfu.recording import WebmRecorder

__all__ = [
    "SessionRecorder",
    "begin_recording",
    "ensure_recording",
    "finish_recording",
    "recording_file_name",
    "recording_path",
    "replayable_recording",
]

logger = logging.getLogger(__name__)

RECORDINGS_DIR = "recordings"

# The recorder attached to each room of this process (at most one per room).
_recorders: weakref.WeakKeyDictionary[SfuRoom, SessionRecorder] = weakref.WeakKeyDictionary()


def recording_file_name(session_id: int) -> str:
    """The file's name relative to MEDIA_ROOT."""
    return f"{RECORDINGS_DIR}/{int(session_id)}.webm"


def recording_path(session_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / recording_file_name(session_id)


def begin_recording(session_id: int) -> Recording:
    """Mark the session as being recorded (a new file replaces an earlier one of the session)."""
    recording, _ = Recording.objects.update_or_create(
        session_id=session_id,
        defaults={
            "status": Recording.Status.RECORDING,
            "file_name": recording_file_name(session_id),
            "started_at": timezone.now(),
            "finished_at": None,
            "size_bytes": 0,
            "duration_ms": 0,
        },
    )
    return recording


def finish_recording(session_id: int, *, duration_ms: int, failed: bool = False) -> Recording | None:
    """The file is closed: READY when it holds media, FAILED otherwise. None if there is no row."""
    recording = Recording.objects.filter(session_id=session_id).first()
    if recording is None:
        return None
    path = Path(settings.MEDIA_ROOT) / recording.file_name
    size = path.stat().st_size if path.is_file() else 0
    recording.status = Recording.Status.FAILED if failed or size == 0 else Recording.Status.READY
    recording.size_bytes = size
    recording.duration_ms = max(0, duration_ms)
    recording.finished_at = timezone.now()
    recording.save(update_fields=["status", "size_bytes", "duration_ms", "finished_at"])
    return recording


class SessionRecorder(WebmRecorder):
    """A room's recorder that updates the session's Recording row when the file is finished."""

    def __init__(self, session_id: int, room: SfuRoom) -> None:
        super().__init__(recording_path(session_id), request_keyframe=room.request_keyframe)
        self.session_id = session_id

    async def close(self) -> None:
        if self._closed:
            return
        await super().close()
        failed = self.error is not None or not self.started
        try:
            await database_sync_to_async(finish_recording)(
                self.session_id, duration_ms=self.stats.duration_ms, failed=failed
            )
        except Exception:
            logger.exception("live session %s: the recording's row could not be finished", self.session_id)


async def ensure_recording(room: SfuRoom, session_id: int) -> SessionRecorder:
    """Record the room from now on; the same recorder if it already records (republish)."""
    recorder = _recorders.get(room)
    if recorder is not None:
        return recorder
    await database_sync_to_async(begin_recording)(session_id)
    recorder = SessionRecorder(session_id, room)
    room.add_sink(recorder)
    recorder.start()
    _recorders[room] = recorder
    return recorder


def replayable_recording(*, user: User, session_id: int) -> Recording:
    """The session's finished recording if ``user`` may replay it; else LiveAccessDenied.

    Who: the slot's guide, staff, and guests with a confirmed booking who were not banned from
    the session. What: a READY recording of an ended session. Codes: not_found (404: no such
    session, or nothing to replay), not_booked and banned (403).
    """
    session = LiveSession.objects.select_related("slot", "slot__guide", "slot__tour").filter(pk=session_id).first()
    if session is None:
        raise LiveAccessDenied("not_found", "There is no such live tour.")
    slot = session.slot
    if not (user.is_staff or slot.guide.user_id == user.pk):
        if not Booking.objects.filter(user=user, slot=slot, status=Booking.Status.CONFIRMED).exists():
            raise LiveAccessDenied("not_booked", "Only guests with a booking for this tour can watch its recording.")
        if SessionBan.objects.filter(session=session, user=user).exists():
            raise LiveAccessDenied("banned", "You have been removed from this live tour.")
    recording = Recording.objects.select_related("session__slot__tour").filter(session=session).first()
    if recording is None or recording.status != Recording.Status.READY or not session.is_ended:
        raise LiveAccessDenied("not_found", "There is no recording of this tour.")
    return recording
