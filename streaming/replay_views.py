"""Replays of recorded sessions: a page with a <video>, and the WebM file with HTTP Range support.

The file is served through Django (never django.views.static) so that every request, including
each range request a video element makes while seeking, passes ``recordings.replayable_recording``:
the slot's guide, staff and guests with a confirmed booking of that session.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from accounts.models import User
from streaming.models import Recording
from streaming.recordings import replayable_recording
from streaming.selectors import LiveAccessDenied

__all__ = ["ByteRange", "RangeNotSatisfiable", "parse_range", "replay", "replay_video"]

CHUNK_SIZE = 64 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)

_REFUSAL_TEXT: dict[str, Promise] = {
    "not_found": gettext_lazy("There is no recording of this tour."),
    "not_booked": gettext_lazy("Only guests with a booking for this tour can watch its recording."),
    "banned": gettext_lazy("You have been removed from this live tour."),
}

ByteRange = tuple[int, int]  # first and last byte, inclusive


class RangeNotSatisfiable(Exception):
    """A syntactically valid range that lies outside the file: 416."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range asked for, or None to send the whole file (no header, or one we ignore).

    RFC 9110 14.1.2: ``bytes=first-last``, ``bytes=first-`` and ``bytes=-suffix``. A header that is
    not a single range in this form is ignored (200 with the whole file, which RFC 9110 allows).
    """
    if not header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # invalid: ignored
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(last, size - 1)


def _file_chunks(path: Path, first: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as file:
        file.seek(first)
        remaining = length
        while remaining > 0:
            chunk = file.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def _refusal(request: HttpRequest, session_id: int) -> tuple[Recording | None, LiveAccessDenied | None]:
    user = request.user
    assert isinstance(user, User)
    try:
        return replayable_recording(user=user, session_id=session_id), None
    except LiveAccessDenied as refusal:
        return None, refusal


def _status(refusal: LiveAccessDenied) -> int:
    return 404 if refusal.code == "not_found" else refusal.status_code


@require_safe
@login_required
def replay(request: HttpRequest, session_id: int) -> HttpResponse:
    """The replay page of a finished session."""
    recording, refusal = _refusal(request, session_id)
    if refusal is not None:
        text = _REFUSAL_TEXT.get(refusal.code)
        context = {"refusal": refusal, "reason": str(text) if text is not None else refusal.message, "tour": None}
        return render(request, "streaming/refused.html", context, status=_status(refusal))
    assert recording is not None
    session = recording.session
    context = {
        "recording": recording,
        "session": session,
        "slot": session.slot,
        "tour": session.slot.tour,
        "video_url": reverse("streaming:replay_video", kwargs={"session_id": session.pk}),
        "duration_seconds": recording.duration_ms // 1000,
        "duration_minutes": max(1, round(recording.duration_ms / 60_000)),
    }
    return render(request, "streaming/replay.html", context)


@require_safe
@login_required
def replay_video(request: HttpRequest, session_id: int) -> HttpResponseBase:
    """The recording's WebM; honours a single ``Range`` (206, or 416 outside the file)."""
    recording, refusal = _refusal(request, session_id)
    if refusal is not None:
        return HttpResponse(status=_status(refusal))
    assert recording is not None
    path = Path(settings.MEDIA_ROOT) / recording.file_name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return HttpResponse(status=404)
    try:
        byte_range = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        refused["Accept-Ranges"] = "bytes"
        return refused
    first, last = byte_range if byte_range is not None else (0, size - 1)
    length = last - first + 1 if size else 0
    body: Iterator[bytes] = iter(()) if request.method == "HEAD" else _file_chunks(path, first, length)
    response = StreamingHttpResponse(body, status=206 if byte_range is not None else 200, content_type="video/webm")
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    if byte_range is not None:
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
    # Personal content: a shared cache must not keep it for the next person.
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Disposition"] = f'inline; filename="tour-{session_id}.webm"'
    return response
