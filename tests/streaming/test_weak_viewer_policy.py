"""The weak-viewer path without a network: the switching policy (pure) and the low rendition's codec loop."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import av
import pytest

from streaming.sfu import forwarding
from streaming.sfu.adaptation import AdaptationConfig, Rendition, ViewerAdaptation
from streaming.sfu.rendition import LowRendition, RenditionConfig, fit_within
from tests.media.stamps import Stamp, draw, read

CONFIG = AdaptationConfig(
    loss_threshold=0.05, heavy_loss=0.20, stable_loss=0.02, probe_after=15, max_probe_after=60, probe_grace=20
)
LOW, HIGH = Rendition.LOW, Rendition.HIGH


def feed(policy: ViewerAdaptation, reports: list[tuple[float, float]]) -> list[Rendition | None]:
    """(seconds, fraction lost) reports in order; the decision after each."""
    return [policy.on_loss_report(loss, at) for at, loss in reports]


# -- going down: fast, but not on one unlucky report ----------------------------------------------


def test_a_good_viewer_with_one_moderately_lossy_report_stays_on_the_full_stream() -> None:
    policy = ViewerAdaptation(CONFIG)
    assert feed(policy, [(1, 0.0), (2, 0.08), (3, 0.0), (4, 0.10), (5, 0.01)]) == [None] * 5
    assert policy.rendition is HIGH
    assert policy.switches_down == 0


def test_two_lossy_reports_in_a_row_move_the_viewer_down() -> None:
    policy = ViewerAdaptation(CONFIG)
    assert feed(policy, [(1, 0.06), (2, 0.05)]) == [None, LOW]
    assert policy.rendition is LOW
    assert policy.switches_down == 1


def test_one_heavily_lossy_report_moves_the_viewer_down_at_once() -> None:
    policy = ViewerAdaptation(CONFIG)
    assert policy.on_loss_report(0.20, 1) is LOW


def test_loss_below_the_threshold_never_moves_anyone() -> None:
    policy = ViewerAdaptation(CONFIG)
    assert feed(policy, [(t, 0.049) for t in range(100)]) == [None] * 100


# -- going up: after a clean period, as a probe, with back-off ------------------------------------


def test_the_viewer_goes_back_up_after_a_clean_period_on_the_low_rendition() -> None:
    policy = ViewerAdaptation(CONFIG)
    policy.on_loss_report(0.5, 0)
    decisions = feed(policy, [(t, 0.0) for t in range(1, 15)])
    assert decisions == [None] * 14, "not before probe_after seconds"
    assert policy.on_loss_report(0.02, 15) is HIGH, "stable_loss or less counts as clean"
    assert policy.switches_up == 1


def test_loss_on_the_low_rendition_restarts_the_clean_period() -> None:
    policy = ViewerAdaptation(CONFIG)
    policy.on_loss_report(0.5, 0)
    assert feed(policy, [(10, 0.0), (12, 0.03), (20, 0.0), (26, 0.0)]) == [None] * 4
    assert policy.on_loss_report(0.0, 27) is HIGH  # 15 s after the lossy report at 12


def test_a_failed_probe_doubles_the_wait_up_to_the_maximum() -> None:
    policy = ViewerAdaptation(CONFIG)
    policy.on_loss_report(0.5, 0)
    now = 0.0
    waits = []
    for _ in range(4):
        now += policy.probe_wait
        waits.append(policy.probe_wait)
        assert policy.on_loss_report(0.0, now) is HIGH
        now += 2  # the full stream does not fit: loss within the probe grace
        assert policy.on_loss_report(0.4, now) is LOW
    assert waits == [15, 30, 60, 60]
    assert (policy.switches_down, policy.switches_up) == (5, 4)


def test_a_probe_that_holds_resets_the_wait() -> None:
    policy = ViewerAdaptation(CONFIG)
    policy.on_loss_report(0.5, 0)
    assert policy.on_loss_report(0.0, 15) is HIGH
    assert policy.on_loss_report(0.5, 16) is LOW  # failed: next wait 30 s
    assert policy.probe_wait == 30
    assert policy.on_loss_report(0.0, 46) is HIGH
    assert feed(policy, [(50, 0.0), (66, 0.0)]) == [None, None]  # held for the 20 s grace
    assert policy.probe_wait == 15
    assert policy.on_loss_report(0.5, 200) is LOW  # much later: a new episode, wait stays 15
    assert policy.probe_wait == 15


# -- the low rendition's shape ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [((640, 360), (320, 180)), ((1280, 720), (320, 180)), ((320, 240), (240, 180)), ((240, 160), (240, 160))],
)
def test_the_low_rendition_fits_the_box_keeps_the_aspect_and_never_enlarges(
    source: tuple[int, int], expected: tuple[int, int]
) -> None:
    assert fit_within(*source, 320, 180) == expected


def encoded_source(count: int) -> list[tuple[bytes, int, bool]]:
    """``count`` stamped 320x240 frames at 30 fps encoded as a publisher would (VP8, 90 kHz pts)."""
    encoder: Any = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height = 320, 240
    encoder.pix_fmt = "yuv420p"
    encoder.time_base = Fraction(1, 90_000)
    encoder.framerate = Fraction(30)
    encoder.bit_rate = 500_000
    encoder.gop_size = 1 << 30
    encoder.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets = []
    for index in range(count):
        frame = draw(Stamp(room=7, source=1, index=index, sent_ms=index))
        frame.pts = index * 3000
        frame.time_base = Fraction(1, 90_000)
        for packet in encoder.encode(frame):
            data = bytes(packet)
            packets.append((data, index * 3000, forwarding.is_vp8_keyframe(data)))
    return packets


def test_the_low_rendition_decodes_once_and_encodes_half_the_frames_smaller_with_the_same_timestamps() -> None:
    async def scenario() -> None:
        out: list[tuple[av.Packet[Any], bool]] = []
        source_keyframe_requests: list[None] = []
        low = LowRendition(
            RenditionConfig(width=160, height=120, fps=15),
            deliver=lambda packet, keyframe: out.append((packet, keyframe)),
            request_source_keyframe=lambda: source_keyframe_requests.append(None),
        )
        low.start()
        assert len(source_keyframe_requests) == 1, "it asks the publisher for a keyframe to start from"
        source = encoded_source(60)
        assert source[0][2], "the publisher's first frame is a keyframe"
        for data, pts, keyframe in source:
            packet = av.Packet(data)
            packet.pts = pts
            low.push(packet, keyframe=keyframe)
            await asyncio.sleep(0.002)
        low.request_keyframe()  # a viewer switches to it
        for data, pts, keyframe in encoded_source(70)[60:]:
            packet = av.Packet(data)
            packet.pts = pts
            low.push(packet, keyframe=keyframe)
            await asyncio.sleep(0.002)
        for _ in range(200):
            if low.stats.frames_decoded == 70:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        await low.close()

        assert low.stats.frames_decoded == 70
        assert len(out) == low.stats.frames_encoded == 35, "15 of 30 fps"
        assert [int(p.pts or 0) for p, _key in out] == [index * 6000 for index in range(35)]
        keyframes = [n for n, (_p, key) in enumerate(out) if key]
        assert keyframes[0] == 0
        assert len(keyframes) == 2, "the first frame, and the one after the request"
        decoder: Any = av.CodecContext.create("libvpx", "r")
        pictures = [frame for packet, _key in out for frame in decoder.decode(packet)]
        assert {(p.width, p.height) for p in pictures} == {(160, 120)}
        stamps = [read(p.reformat(width=320, height=240, format="yuv420p")) for p in pictures]
        assert [s.index if s else None for s in stamps] == list(range(0, 70, 2))
        assert not low.running
        assert low.stats.cpu_seconds > 0

    asyncio.run(scenario())


def test_the_low_rendition_waits_for_a_source_keyframe_and_asks_for_one() -> None:
    async def scenario() -> None:
        out: list[av.Packet[Any]] = []
        requests: list[None] = []
        low = LowRendition(
            RenditionConfig(),
            deliver=lambda packet, _key: out.append(packet),
            request_source_keyframe=lambda: requests.append(None),
        )
        low.start()
        source = encoded_source(10)
        for data, pts, _keyframe in source[1:4]:  # joined mid-stream: delta frames only
            packet = av.Packet(data)
            packet.pts = pts
            low.push(packet, keyframe=False)
        assert low.stats.frames_dropped == 3
        assert len(requests) == 4, "one at the start, one for each useless delta frame (the room coalesces)"
        assert low.stats.frames_in == 0
        await low.close()
        assert out == []

    asyncio.run(scenario())
