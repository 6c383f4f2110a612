"""Recording a room: the forwarded VP8/Opus packets muxed into WebM as they are, never transcoded.

The test publishes stamped frames on loopback through SfuRoom with a WebmRecorder attached, then
decodes the file (decoding here, in the test, is fine) and reads the stamps back.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import av

from streaming.sfu import SfuConfig, SfuRoom
from streaming.sfu.recording import WebmRecorder, vp8_keyframe_size

from .clients import TestPublisher, wait_until
from .stamps import HEIGHT, WIDTH, read
from .test_sfu_forwarding import run

RECORD_SECONDS = 3.0


def test_the_recorder_writes_the_forwarded_packets_to_a_playable_webm(sfu_config: SfuConfig, tmp_path: Path) -> None:
    path = tmp_path / "recordings" / "42.webm"

    async def scenario() -> None:
        room = SfuRoom("tour-rec", sfu_config)
        publisher = TestPublisher(room=4)
        recorder = WebmRecorder(path, request_keyframe=room.request_keyframe)
        try:
            await publisher.publish(room)
            room.add_sink(recorder)
            recorder.start()
            assert await wait_until(lambda: recorder.started, within=5), "recording starts on a keyframe"
            await asyncio.sleep(RECORD_SECONDS)
            await room.remove_sink(recorder)
            assert recorder.error is None
            assert recorder.stats.audio_packets > 0, "Opus audio is recorded too"
            stats = room.stats()
            assert stats.media.decodes == 0
            assert stats.media.encodes == 0
            assert stats.media.packets_received > 0
            assert stats.keyframe_requests >= 1, "the recorder asked for its first keyframe"
        finally:
            await publisher.close()
            await room.close()

    run(scenario())

    with av.open(str(path)) as container:
        assert container.format.name.startswith("matroska")
        video = container.streams.video[0]
        assert video.codec_context.name == "vp8"
        assert (video.codec_context.width, video.codec_context.height) == (WIDTH, HEIGHT)
        assert [s.codec_context.name for s in container.streams.audio] == ["opus"]
        assert container.duration is not None
        duration = container.duration / av.time_base
        frames = list(container.decode(video=0))
    stamps = [read(frame) for frame in frames]
    indices = [stamp.index for stamp in stamps if stamp is not None]
    print(f"recording: {len(frames)} frames, {duration:.2f} s, {path.stat().st_size} bytes")
    assert len(frames) >= 60
    assert abs(duration - RECORD_SECONDS) <= 0.7
    assert len(indices) == len(frames), "every recorded frame decodes to a readable stamp"
    assert indices == sorted(set(indices)), "stamped frame indices increase"
    assert {stamp.room for stamp in stamps if stamp is not None} == {4}


def test_room_close_finishes_an_attached_recording(sfu_config: SfuConfig, tmp_path: Path) -> None:
    path = tmp_path / "closed.webm"

    async def scenario() -> None:
        room = SfuRoom("tour-rec-close", sfu_config)
        publisher = TestPublisher(room=5, audio=False)
        recorder = WebmRecorder(path, request_keyframe=room.request_keyframe, audio=False)
        try:
            await publisher.publish(room)
            room.add_sink(recorder)
            recorder.start()
            assert await wait_until(lambda: recorder.stats.packets_written >= 10, within=5)
        finally:
            await publisher.close()
            await room.close()  # closes the recorder with it
        assert recorder.error is None

    run(scenario())

    with av.open(str(path)) as container:
        assert not container.streams.audio
        assert sum(1 for _ in container.decode(video=0)) >= 10


def test_vp8_keyframe_size_reads_the_header() -> None:
    keyframe = bytes([0x50, 0x42, 0x00, 0x9D, 0x01, 0x2A]) + (640).to_bytes(2, "little") + (360).to_bytes(2, "little")
    assert vp8_keyframe_size(keyframe) == (640, 360)
    assert vp8_keyframe_size(bytes([0x51]) + keyframe[1:]) is None  # an interframe
    assert vp8_keyframe_size(b"") is None


def test_a_full_queue_drops_and_waits_for_a_keyframe(tmp_path: Path) -> None:
    requests: list[int] = []
    recorder = WebmRecorder(tmp_path / "x.webm", request_keyframe=lambda: requests.append(1), capacity=2)
    # No writer thread is started: nothing empties the queue, as with a stuck disk.
    recorder._thread = object()  # type: ignore[assignment]
    key = av.Packet(bytes([0x50, 0, 0, 0x9D, 0x01, 0x2A, 64, 1, 240, 0]))
    key.pts = 0
    delta = av.Packet(b"\x51\x00\x00")
    delta.pts = 3000
    recorder.push("video", delta, keyframe=False)
    assert (recorder.started, recorder.stats.packets_dropped, len(requests)) == (False, 1, 1)
    recorder.push("video", key, keyframe=True)
    recorder.push("video", delta, keyframe=False)
    recorder.push("video", delta, keyframe=False)  # queue full: dropped, back to waiting
    assert recorder.stats.packets_dropped == 2
    assert recorder.stats.keyframe_waits == 1
    recorder.push("video", delta, keyframe=False)
    assert recorder.stats.packets_dropped == 3, "no delta frame after a gap until a keyframe"


def test_a_republish_continues_the_same_file_from_a_keyframe(sfu_config: SfuConfig, tmp_path: Path) -> None:
    path = tmp_path / "republished.webm"

    async def scenario() -> None:
        room = SfuRoom("tour-rec-republish", sfu_config)
        first = TestPublisher(room=8, source=1, audio=False)
        second = TestPublisher(room=8, source=2, audio=False)
        recorder = WebmRecorder(path, request_keyframe=room.request_keyframe, audio=False)
        try:
            await first.publish(room)
            room.add_sink(recorder)
            recorder.start()
            assert await wait_until(lambda: recorder.stats.video_packets >= 20, within=5)
            await second.publish(room)  # the guide's phone switched networks
            await first.close()
            written = recorder.stats.video_packets
            assert await wait_until(lambda: recorder.stats.video_packets >= written + 20, within=5)
        finally:
            await first.close()
            await second.close()
            await room.close()
        assert recorder.error is None
        assert room.stats().media.decodes == room.stats().media.encodes == 0

    run(scenario())

    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    times = [frame.time for frame in frames]
    stamps = [read(frame) for frame in frames]
    sources = [stamp.source for stamp in stamps if stamp is not None]
    assert all(stamp is not None for stamp in stamps), "no corrupt frame at the switch"
    assert times == sorted(times)
    assert sources == sorted(sources), "the first publisher's frames, then the second's"
    assert set(sources) == {1, 2}
