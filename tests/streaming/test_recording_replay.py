"""Replays of recorded sessions: who gets the page and the file, and HTTP Range on the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from streaming import recordings
from streaming.models import LiveSession, Recording
from streaming.replay_views import RangeNotSatisfiable, parse_range
from tests.streaming.conftest import Live, make_booking, make_user

pytestmark = pytest.mark.django_db

CONTENT = bytes(range(256)) * 4 + b"tail"  # 1028 bytes
SIZE = len(CONTENT)


def end(session: LiveSession) -> None:
    LiveSession.objects.filter(pk=session.pk).update(
        status=LiveSession.Status.ENDED, ended_at=timezone.now(), ended_reason=LiveSession.EndedReason.COMPLETED
    )


@pytest.fixture
def recorded(live: Live) -> Live:
    """The live fixture's session, ended, with a finished recording on disk."""
    path = recordings.recording_path(live.session.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(CONTENT)
    recordings.begin_recording(live.session.pk)
    finished = recordings.finish_recording(live.session.pk, duration_ms=3000)
    assert finished is not None
    assert finished.status == Recording.Status.READY
    end(live.session)
    return live


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page_url(live: Live) -> str:
    return reverse("streaming:replay", kwargs={"session_id": live.session.pk})


def video_url(live: Live) -> str:
    return reverse("streaming:replay_video", kwargs={"session_id": live.session.pk})


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --- where files go, the row --------------------------------------------------------------------


def test_files_go_under_media_root_recordings(settings: Any, live: Live) -> None:
    path = recordings.recording_path(live.session.pk)
    assert path == Path(settings.MEDIA_ROOT) / "recordings" / f"{live.session.pk}.webm"
    assert recordings.recording_file_name(live.session.pk) == f"recordings/{live.session.pk}.webm"


def test_a_recording_without_a_file_fails(live: Live) -> None:
    recordings.recording_path(live.session.pk).unlink(missing_ok=True)
    recordings.begin_recording(live.session.pk)
    finished = recordings.finish_recording(live.session.pk, duration_ms=0)
    assert finished is not None
    assert finished.status == Recording.Status.FAILED


def test_finishing_sets_size_and_duration(recorded: Live) -> None:
    recording = Recording.objects.get(session=recorded.session)
    assert (recording.size_bytes, recording.duration_ms) == (SIZE, 3000)
    assert recording.finished_at is not None


# --- the page -----------------------------------------------------------------------------------


def test_a_booked_guest_gets_the_replay_page(recorded: Live) -> None:
    response = client_for(recorded.guest).get(page_url(recorded))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="replay-video"' in html
    assert f'src="{video_url(recorded)}"' in html


def test_anonymous_people_are_sent_to_log_in(recorded: Live) -> None:
    for url in (page_url(recorded), video_url(recorded)):
        response = Client().get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_a_customer_without_a_booking_is_refused(recorded: Live) -> None:
    stranger = make_user()
    assert client_for(stranger).get(page_url(recorded)).status_code == 403
    assert client_for(stranger).get(video_url(recorded), HTTP_RANGE="bytes=0-99").status_code == 403


@pytest.mark.parametrize("status", ["pending_payment", "cancelled"])
def test_a_booking_that_is_not_confirmed_does_not_count(recorded: Live, status: str) -> None:
    guest = make_user()
    make_booking(user=guest, slot=recorded.slot, status=status)
    assert client_for(guest).get(video_url(recorded)).status_code == 403


def test_staff_and_the_guide_may_replay(recorded: Live, staff: User) -> None:
    for user in (staff, recorded.guide):
        assert client_for(user).get(page_url(recorded)).status_code == 200
        response = client_for(user).get(video_url(recorded))
        assert response.status_code == 200
        assert body(response) == CONTENT


def test_another_guide_is_refused(recorded: Live, other_guide: User) -> None:
    assert client_for(other_guide).get(video_url(recorded)).status_code == 403


def test_no_replay_before_the_recording_is_ready_or_the_session_ended(live: Live) -> None:
    recordings.begin_recording(live.session.pk)
    assert client_for(live.guest).get(page_url(live)).status_code == 404
    assert client_for(live.guest).get(video_url(live)).status_code == 404


def test_an_unknown_session_is_404(live: Live) -> None:
    url = reverse("streaming:replay_video", kwargs={"session_id": live.session.pk + 1000})
    assert client_for(live.guest).get(url).status_code == 404


# --- the file and Range ---------------------------------------------------------------------------


def test_the_whole_file_without_range(recorded: Live) -> None:
    response = client_for(recorded.guest).get(video_url(recorded))
    assert response.status_code == 200
    assert response["Content-Type"] == "video/webm"
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(SIZE)
    assert "Content-Range" not in response
    assert body(response) == CONTENT


def test_a_closed_range_is_206_with_exactly_those_bytes(recorded: Live) -> None:
    response = client_for(recorded.guest).get(video_url(recorded), HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 0-99/{SIZE}"
    assert response["Content-Length"] == "100"
    assert response["Accept-Ranges"] == "bytes"
    data = body(response)
    assert len(data) == 100
    assert data == CONTENT[:100]


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [
        ("bytes=1000-", 1000, SIZE - 1),  # open-ended
        ("bytes=0-", 0, SIZE - 1),
        ("bytes=-4", SIZE - 4, SIZE - 1),  # the last 4 bytes
        ("bytes=-5000", 0, SIZE - 1),  # a suffix longer than the file: all of it
        ("bytes=1020-99999", 1020, SIZE - 1),  # clipped at the end
    ],
)
def test_open_ended_suffix_and_clipped_ranges(recorded: Live, header: str, first: int, last: int) -> None:
    response = client_for(recorded.guest).get(video_url(recorded), HTTP_RANGE=header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {first}-{last}/{SIZE}"
    assert body(response) == CONTENT[first : last + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
def test_a_range_outside_the_file_is_416(recorded: Live, header: str) -> None:
    response = client_for(recorded.guest).get(video_url(recorded), HTTP_RANGE=header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["items=0-9", "bytes=0-9,20-29", "bytes=9-0", "bytes=-"])
def test_ranges_we_do_not_honour_give_the_whole_file(recorded: Live, header: str) -> None:
    response = client_for(recorded.guest).get(video_url(recorded), HTTP_RANGE=header)
    assert response.status_code == 200
    assert body(response) == CONTENT


def test_head_gives_the_length_without_a_body(recorded: Live) -> None:
    response = client_for(recorded.guest).head(video_url(recorded), HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206
    assert response["Content-Length"] == "100"
    assert body(response) == b""


def test_parse_range_units() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-5", 10) == (2, 5)
    assert parse_range("bytes=2-", 10) == (2, 9)
    assert parse_range("bytes=-3", 10) == (7, 9)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=10-", 10)
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=-1", 0)
