"""Live streaming benchmark: one stamped publisher, N viewers, the SFU in its own process.

Prints one JSON object on standard output (progress goes to standard error). What it does:

1. SFU: a fresh interpreter (``bench/stream.py --serve-sfu``) hosts ``streaming.sfu.SfuRoom``
   directly, with host candidates on 127.0.0.3 only, behind a tiny signalling shim: JSON lines
   over TCP on 127.0.0.1 (publish / subscribe / answer / stats), no Django, no database. It is the
   code the Channels consumer drives (the consumer only adds access checks and JSON framing on
   the WebSocket), so the SFU process's CPU is the media plane's cost. Its CPU is read from
   ``/proc/<pid>/stat`` (user + system, all threads; 1 core = 100%).
2. Publisher: another process (``multiprocessing``, spawn) runs the stamped publisher of
   tests/media (``TestPublisher``: 320x240 VP8 frames at 30 fps carrying frame index and send
   time as luma blocks, plus Opus), candidates on 127.0.0.2 only. ``--publisher wide``: the
   640x360 one of tests/streaming/test_weak_viewer.py (the stamp plus a panning texture, so the
   encoder spends a camera's bitrate).
3. Baseline: the SFU's CPU with the publisher connected and no viewer (``--baseline`` s).
4. Viewers: more processes, candidates on 127.0.0.4 only. The ``--decoding-viewers`` (default
   5) run in a process of their own and decode every frame and read its stamp (latency = decode
   time - stamped send time, both CLOCK_MONOTONIC, one machine); the others, dealt round-robin
   over ``--viewer-processes`` processes (default one per 25, 1 to 4), do
   not decode: their receiver hands out the encoded frames (the SFU's own
   ``forwarding.forward_encoded`` hook, used here on the client side) and they count frames and
   keyframes. On one 2-core machine N decoding aiortc viewers would measure the clients, not the
   SFU. Every viewer counts towards ``fps_min`` and ``ttff_*``: time from asking to subscribe to
   the first decoded frame (decoding viewers) or the first encoded keyframe (the others).
5. Measurement: after every viewer has joined and ``--settle`` s, for ``--measure`` s (default
   15): latency percentiles over every frame the decoding viewers decoded in the window, each
   viewer's frame rate in the window, the SFU's CPU. ``sfu_cpu_per_viewer_pct`` =
   (SFU CPU - baseline) / N. ``encodes_per_viewer`` and ``decodes`` come from the room's
   ``MediaCounters`` (forwarding means both are 0). The SFU's CPU is also split into user and
   system time, and ``sfu_cpu_us_per_forwarded_frame`` divides the CPU above the baseline by the
   frames (video frames and Opus packets) the room handed viewers' senders in the window: on a
   loaded machine fewer frames flow and the per-viewer percentage falls with them, this does
   not, so it is the figure to compare runs at different loads by. ``frames_packetized`` in
   ``sfu_counters``: the payloader runs once per frame, not once per viewer.
6. Weak path (``--low-viewers K``, default 0): K of the counting viewers are held on the session's
   low rendition (``SfuRoom.pin_rendition``) once everyone has joined, as if their links were weak.
   ``low_rendition_encoders`` is how many low encoders the room runs (1 however large K is),
   ``low_rendition_cpu_pct`` that encoder thread's own CPU (decode + scale + encode, from
   ``time.thread_time``) over the window, ``low_fps_min`` the low viewers' frame rate (15
   nominal); ``fps_min`` and ``encodes_per_viewer`` stay about every viewer's own stream.

All WebRTC traffic stays on 127.0.0.x; nothing is offered on another interface.

    .venv/bin/python bench/stream.py --viewers 50 > /tmp/stream-50.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import math
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

SFU_ADDRESS = "127.0.0.3"
PUBLISHER_ADDRESS = "127.0.0.2"
VIEWER_ADDRESS = "127.0.0.4"
SIGNAL_HOST = "127.0.0.1"
FPS = 30
TARGETS = {
    "latency_p95_ms": 150,
    "fps_min": 29,
    "ttff_p95_ms": 500,
    "sfu_cpu_per_viewer_pct": 0.6,
    "encodes_per_viewer": 0,
}


def log(message: str) -> None:
    print(f"[stream {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def now_ms() -> int:
    return int(time.monotonic() * 1000) & 0xFFFFFFFF


# --- The SFU process -----------------------------------------------------------------------------


async def serve_sfu(keyframe_interval: float | None) -> None:
    from streaming.sfu import Rendition, SfuConfig, SfuRoom

    config = SfuConfig(host_addresses=(SFU_ADDRESS,))
    if keyframe_interval is not None:
        config = dataclasses.replace(config, keyframe_request_interval=keyframe_interval)
    room = SfuRoom("bench", config)

    async def answer(request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        if op == "publish":
            return {"sdp": await room.publish(request["sdp"])}
        if op == "subscribe":
            return {"sdp": await room.subscribe(request["id"])}
        if op == "answer":
            await room.accept_answer(request["id"], request["sdp"])
            return {}
        if op == "pin":
            room.pin_rendition(request["id"], Rendition(request["rendition"]))
            return {}
        if op == "stats":
            stats = room.stats()
            return {
                "viewers": stats.viewer_count,
                "publisher_connected": stats.publisher_connected,
                "decodes": stats.media.decodes,
                "encodes": stats.media.encodes,
                "packets_received": stats.media.packets_received,
                # RTP payloader runs: once per frame forwarded, not once per viewer.
                "frames_packetized": stats.media.frames_packetized,
                "packets_forwarded": sum(v.packets_forwarded for v in stats.viewers.values()),
                "packets_dropped": sum(v.packets_dropped for v in stats.viewers.values()),
                "keyframe_requests": stats.keyframe_requests,
                "keyframe_requests_sent": stats.keyframe_requests_sent,
                "low_rendition_running": stats.low_rendition.running,
                "low_rendition_starts": stats.low_rendition.starts,
                "low_rendition_viewers": stats.low_rendition_viewers,
                "low_rendition_frames_encoded": stats.low_rendition.frames_encoded,
                "low_rendition_cpu_s": round(stats.low_rendition.cpu_seconds, 3),
                # Moves made by the automatic policy (pinned viewers are not counted).
                "switches_down": sum(v.switches_down for v in stats.viewers.values()),
                "switches_up": sum(v.switches_up for v in stats.viewers.values()),
            }
        raise ValueError(f"unknown op {op!r}")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                try:
                    response = await answer(json.loads(line))
                except Exception as error:
                    response = {"error": repr(error)}
                writer.write(json.dumps(response).encode() + b"\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, SIGNAL_HOST, 0, limit=1 << 20)
    print(server.sockets[0].getsockname()[1], flush=True)
    # Runs until the parent closes our standard input.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()
    await room.close()


class Shim:
    """Looks like SfuRoom to the tests/media clients; every call is a line to the SFU process."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()

    @classmethod
    async def connect(cls, port: int) -> Shim:
        reader, writer = await asyncio.open_connection(SIGNAL_HOST, port, limit=1 << 20)
        return cls(reader, writer)

    async def call(self, **request: Any) -> dict[str, Any]:
        async with self.lock:
            self.writer.write(json.dumps(request).encode() + b"\n")
            await self.writer.drain()
            response: dict[str, Any] = json.loads(await self.reader.readline())
        if "error" in response:
            raise RuntimeError(f"SFU: {response['error']}")
        return response

    async def publish(self, offer_sdp: str) -> str:
        return str((await self.call(op="publish", sdp=offer_sdp))["sdp"])

    async def subscribe(self, viewer_id: str) -> str:
        return str((await self.call(op="subscribe", id=viewer_id))["sdp"])

    async def accept_answer(self, viewer_id: str, answer_sdp: str) -> None:
        await self.call(op="answer", id=viewer_id, sdp=answer_sdp)


def only_address(address: str) -> None:
    """aiortc in this process offers host candidates on ``address`` alone (never eth0)."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [address]


async def wait_event(event: Any) -> None:
    await asyncio.get_running_loop().run_in_executor(None, event.wait)


# --- The publisher process ---------------------------------------------------------------------


def publisher_main(port: int, stop: Any, ready: Any, wide: bool = False) -> None:
    only_address(PUBLISHER_ADDRESS)

    async def run() -> None:
        from tests.media.clients import TestPublisher

        shim = await Shim.connect(port)
        if wide:
            from tests.streaming.test_weak_viewer import WidePublisher

            publisher: Any = WidePublisher(room=1, audio=True)
        else:
            publisher = TestPublisher(room=1, source=1, audio=True)
        await publisher.publish(shim)
        ready.put("published")
        await wait_event(stop)
        await publisher.close()

    asyncio.run(run())


# --- The viewer processes ----------------------------------------------------------------------


class PacketViewer:
    """A viewer that does not decode: its receiver hands out encoded frames, which it counts."""

    def __init__(self, viewer_id: str) -> None:
        self.viewer_id = viewer_id
        self.joined_ms = 0
        self.first_ms: int | None = None
        self.video_at: list[int] = []
        self.keyframes = 0
        self.audio_frames = 0
        self.pc: Any = None
        self.tasks: list[asyncio.Task[None]] = []

    async def join(self, sfu: Shim) -> None:
        from aiortc import RTCSessionDescription

        from streaming.sfu import forwarding
        from tests.media.clients import new_peer_connection

        self.joined_ms = now_ms()
        self.pc = pc = new_peer_connection()

        @pc.on("track")
        def on_track(track: Any) -> None:
            forwarding.forward_encoded(track)
            self.tasks.append(asyncio.ensure_future(self._consume(track)))

        offer = await sfu.subscribe(self.viewer_id)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await sfu.accept_answer(self.viewer_id, pc.localDescription.sdp)

    async def _consume(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        from streaming.sfu import forwarding

        while True:
            try:
                packet = await track.recv()
            except MediaStreamError:
                return
            if track.kind == "audio":
                self.audio_frames += 1
                continue
            at_ms = now_ms()
            keyframe = forwarding.is_vp8_keyframe(bytes(packet))
            if keyframe:
                self.keyframes += 1
                if self.first_ms is None:
                    self.first_ms = at_ms
            if self.first_ms is not None:
                self.video_at.append(at_ms)

    def result(self) -> dict[str, Any]:
        return {
            "id": self.viewer_id,
            "decodes": False,
            "joined_ms": self.joined_ms,
            "first_ms": self.first_ms,
            "video_at": self.video_at,
            "latency": [],
            "keyframes": self.keyframes,
            "audio_frames": self.audio_frames,
        }

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()


def decoding_result(viewer: Any) -> dict[str, Any]:
    return {
        "id": viewer.viewer_id,
        "decodes": True,
        "joined_ms": viewer.joined_ms,
        "first_ms": viewer.frames[0].at_ms if viewer.frames else None,
        "video_at": [received.at_ms for received in viewer.frames],
        "latency": [[received.at_ms, received.latency_ms] for received in viewer.frames],
        "unreadable": viewer.unreadable,
        "audio_frames": viewer.audio_frames,
    }


def viewer_main(port: int, specs: list[tuple[str, bool]], stop: Any, results: Any) -> None:
    only_address(VIEWER_ADDRESS)

    async def run() -> None:
        from tests.media.clients import TestViewer

        shim = await Shim.connect(port)
        viewers: list[Any] = []
        for viewer_id, decodes in specs:
            viewer = TestViewer(viewer_id) if decodes else PacketViewer(viewer_id)
            await viewer.join(shim)  # type: ignore[arg-type]
            viewers.append(viewer)
        results.put(("joined", len(viewers)))
        await wait_event(stop)
        report = [decoding_result(v) if isinstance(v, TestViewer) else v.result() for v in viewers]
        results.put(("result", report))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(v.close() for v in viewers), return_exceptions=True), 10)

    asyncio.run(run())


# --- Measuring ---------------------------------------------------------------------------------


def cpu_times(pid: int) -> tuple[float, float]:
    """User and system CPU time of a process, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads, in seconds."""
    return sum(cpu_times(pid))


def cpu_split_over(pids: Sequence[int], seconds: float) -> list[tuple[float, float]]:
    """Each process's (user %, system %) of one core over ``seconds`` of wall time."""
    before = [cpu_times(pid) for pid in pids]
    started = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - started
    after = [cpu_times(pid) for pid in pids]
    return [
        ((user - user0) / wall * 100, (system - system0) / wall * 100)
        for (user0, system0), (user, system) in zip(before, after, strict=True)
    ]


def cpu_percent_over(pids: Sequence[int], seconds: float) -> list[float]:
    return [user + system for user, system in cpu_split_over(pids, seconds)]


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": model or platform.machine(),
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "commit": commit,
    }


def sfu_call(port: int, **request: Any) -> dict[str, Any]:
    async def ask() -> dict[str, Any]:
        shim = await Shim.connect(port)
        try:
            return await shim.call(**request)
        finally:
            shim.writer.close()

    return asyncio.run(ask())


def sfu_stats(port: int) -> dict[str, Any]:
    return sfu_call(port, op="stats")


def run(args: argparse.Namespace) -> dict[str, Any]:
    viewers = args.viewers
    decoding = min(args.decoding_viewers, viewers)
    # The weak viewers are counting ones, the last joined: the decoding viewers keep measuring
    # the full stream's latency.
    low_ids = {f"v{n}" for n in range(max(decoding, viewers - args.low_viewers), viewers)}
    processes = args.viewer_processes or max(1, min(4, math.ceil(viewers / 25)))
    sfu = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--serve-sfu",
            *(["--keyframe-interval", str(args.keyframe_interval)] if args.keyframe_interval is not None else []),
        ],
        cwd=PROJECT_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    context = mp.get_context("spawn")
    stop = context.Event()
    results: Any = context.Queue()
    ready: Any = context.Queue()
    children: list[Any] = []
    try:
        assert sfu.stdout is not None
        port = int(sfu.stdout.readline())
        log(f"SFU process {sfu.pid}, signalling on {SIGNAL_HOST}:{port}, media on {SFU_ADDRESS}")
        publisher = context.Process(
            target=publisher_main, args=(port, stop, ready, args.publisher == "wide"), daemon=True
        )
        publisher.start()
        children.append(publisher)
        ready.get(timeout=30)
        time.sleep(args.settle)
        ((baseline_user, baseline_system),) = cpu_split_over([sfu.pid], args.baseline)
        baseline = baseline_user + baseline_system
        log(f"publishing; SFU baseline {baseline:.1f}% of a core with no viewer")

        # The decoding viewers get a process of their own, so the latency they measure is not
        # the wait for an event loop shared with dozens of counting viewers.
        specs: list[list[tuple[str, bool]]] = [[(f"v{n}", True) for n in range(decoding)]] if decoding else []
        counting = [(f"v{n}", False) for n in range(decoding, viewers)]
        if counting:
            specs += [counting[i::processes] for i in range(min(processes, len(counting)))]
        processes = len(specs)
        joining_started = time.monotonic()
        for chunk in specs:
            process = context.Process(target=viewer_main, args=(port, chunk, stop, results), daemon=True)
            process.start()
            children.append(process)
        joined = 0
        while joined < viewers:
            kind, count = results.get(timeout=max(60, viewers))
            assert kind == "joined"
            joined += count
        log(f"{viewers} viewers joined in {time.monotonic() - joining_started:.1f} s ({processes} processes)")
        for viewer_id in sorted(low_ids):
            sfu_call(port, op="pin", id=viewer_id, rendition="low")
        if low_ids:
            log(f"{len(low_ids)} viewers held on the low rendition")
        time.sleep(args.settle)

        before = sfu_stats(port)
        window_start = now_ms()
        pids = [sfu.pid, *(child.pid for child in children)]
        (sfu_user, sfu_system), *client_split = cpu_split_over(pids, args.measure)
        sfu_cpu = sfu_user + sfu_system
        client_cpu = [user + system for user, system in client_split]
        window_end = now_ms()
        stats = sfu_stats(port)
        stop.set()
        reports: list[dict[str, Any]] = []
        for _ in range(processes):
            kind, report = results.get(timeout=60)
            assert kind == "result"
            reports += report
        log(f"measured {args.measure:.0f} s; SFU {sfu_cpu:.1f}% of a core")
    finally:
        stop.set()
        for child in children:
            child.join(timeout=15)
            if child.is_alive():
                child.terminate()
        if sfu.stdin is not None:
            with contextlib.suppress(OSError):
                sfu.stdin.close()
        try:
            sfu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sfu.kill()

    seconds = (window_end - window_start) / 1000
    latencies = [lat for r in reports for at, lat in r["latency"] if window_start <= at < window_end]

    def window_fps(report: dict[str, Any]) -> float:
        return sum(1 for at in report["video_at"] if window_start <= at < window_end) / seconds

    fps = [window_fps(r) for r in reports if r["id"] not in low_ids]
    low_fps = [window_fps(r) for r in reports if r["id"] in low_ids]
    ttff = [(r["first_ms"] - r["joined_ms"]) & 0xFFFFFFFF for r in reports if r["first_ms"] is not None]
    without_frames = sum(1 for r in reports if r["first_ms"] is None)
    per_viewer = (sfu_cpu - baseline) / viewers if viewers else None
    # Load-independent cost: the SFU's CPU above its baseline per frame it handed a viewer's
    # sender (video frames and Opus packets). On a starved machine fewer frames flow and the
    # per-viewer percentage drops with them; this figure does not.
    forwarded = stats["packets_forwarded"] - before["packets_forwarded"]
    per_frame_us = (sfu_cpu - baseline) / 100 * seconds / forwarded * 1e6 if forwarded > 0 else None
    figures: dict[str, Any] = {
        "benchmark": "stream",
        "sfu": "SfuRoom in its own process behind a JSON-lines signalling shim (no Django)",
        "viewers": viewers,
        "decoding_viewers": decoding,
        "publisher": args.publisher,
        "viewer_processes": processes,
        "keyframe_request_interval_s": args.keyframe_interval,
        "measure_seconds": round(seconds, 1),
        "source_fps": FPS,
        "latency_p50_ms": percentile(latencies, 0.50),
        "latency_p95_ms": percentile(latencies, 0.95),
        "latency_max_ms": max(latencies) if latencies else None,
        "latency_samples": len(latencies),
        "fps_min": round(min(fps), 1) if fps else None,
        "fps_p50": round(percentile(fps, 0.5) or 0, 1),
        "ttff_p50_ms": percentile(ttff, 0.50),
        "ttff_p95_ms": percentile(ttff, 0.95),
        "ttff_max_ms": max(ttff) if ttff else None,
        "viewers_without_frames": without_frames,
        "sfu_cpu_pct": round(sfu_cpu, 1),
        "sfu_cpu_baseline_pct": round(baseline, 1),
        "sfu_cpu_per_viewer_pct": round(per_viewer, 3) if per_viewer is not None else None,
        "sfu_cpu_user_pct": round(sfu_user, 1),
        "sfu_cpu_system_pct": round(sfu_system, 1),
        "sfu_cpu_baseline_user_system_pct": [round(baseline_user, 1), round(baseline_system, 1)],
        "forwarded_frames_per_s": round(forwarded / seconds, 1),
        "sfu_cpu_us_per_forwarded_frame": round(per_frame_us, 1) if per_frame_us is not None else None,
        "client_cpu_pct": [round(value, 1) for value in client_cpu],
        "encodes_per_viewer": stats["encodes"] / viewers if viewers else 0,
        "decodes": stats["decodes"],
        "low_viewers": len(low_ids),
        "low_rendition_encoders": int(stats["low_rendition_running"]),
        "low_rendition_viewers": stats["low_rendition_viewers"],
        "low_rendition_starts": stats["low_rendition_starts"],
        "automatic_switches_down": stats["switches_down"],
        "low_rendition_cpu_pct": round(
            (stats["low_rendition_cpu_s"] - before["low_rendition_cpu_s"]) / seconds * 100, 2
        ),
        "low_rendition_fps": round(
            (stats["low_rendition_frames_encoded"] - before["low_rendition_frames_encoded"]) / seconds, 1
        ),
        "low_fps_min": round(min(low_fps), 1) if low_fps else None,
        "sfu_counters": stats,
        "unreadable_frames": sum(r.get("unreadable", 0) for r in reports),
        "machine": machine(),
        "loadavg": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    figures["targets_met"] = {
        "latency_p95_ms": (figures["latency_p95_ms"] or 1e9) <= TARGETS["latency_p95_ms"],
        "fps_min": (figures["fps_min"] or 0) >= TARGETS["fps_min"],
        "ttff_p95_ms": (figures["ttff_p95_ms"] or 1e9) <= TARGETS["ttff_p95_ms"],
        "sfu_cpu_per_viewer_pct": (per_viewer if per_viewer is not None else 1e9) <= TARGETS["sfu_cpu_per_viewer_pct"],
        "encodes_per_viewer": figures["encodes_per_viewer"] == 0,
    }
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--viewers", type=int, default=10)
    parser.add_argument("--decoding-viewers", type=int, default=5, help="viewers that decode (the rest count)")
    parser.add_argument(
        "--publisher",
        choices=["stamped", "wide"],
        default="stamped",
        help="stamped: tests/media's 320x240 frames; wide: 640x360 with a panning texture (0.5-1.5 Mbit/s)",
    )
    parser.add_argument(
        "--low-viewers", type=int, default=0, help="counting viewers held on the session's low rendition"
    )
    parser.add_argument("--viewer-processes", type=int, default=0, help="default: one per 25 viewers, 1 to 4")
    parser.add_argument("--measure", type=float, default=15.0, help="seconds measured after every viewer joined")
    parser.add_argument("--baseline", type=float, default=5.0, help="seconds of SFU CPU with no viewer")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before each measurement")
    parser.add_argument(
        "--keyframe-interval",
        type=float,
        help="SfuConfig.keyframe_request_interval: at most one PLI upstream per interval (default: the SFU's, 0.2 s)",
    )
    parser.add_argument("--serve-sfu", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sfu:
        asyncio.run(serve_sfu(args.keyframe_interval))
        return 0
    if args.viewers < 1:
        parser.error("--viewers must be at least 1")
    figures = run(args)
    print(json.dumps(figures, indent=2))
    return 0 if figures["encodes_per_viewer"] == 0 and figures["decodes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
