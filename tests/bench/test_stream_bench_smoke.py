"""bench/stream.py still runs: 2 viewers (one decoding, one counting) for a few seconds, on loopback.

The figures of real runs are in docs/performance.md; this only proves the script starts the SFU
process, the publisher and the viewers, and prints the promised JSON with a forwarding SFU.
"""

import json
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {
    "viewers",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_max_ms",
    "fps_min",
    "ttff_p95_ms",
    "sfu_cpu_per_viewer_pct",
    "encodes_per_viewer",
}


def test_two_viewers_get_frames_through_a_forwarding_sfu_and_the_figures_are_reported():
    completed = subprocess.run(
        [
            sys.executable,
            "bench/stream.py",
            *("--viewers", "2", "--decoding-viewers", "1"),
            *("--measure", "3", "--baseline", "1", "--settle", "1"),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    figures = json.loads(completed.stdout)
    assert figures.keys() >= REQUIRED_KEYS, REQUIRED_KEYS - figures.keys()
    assert figures["viewers"] == 2
    assert figures["encodes_per_viewer"] == 0
    assert figures["decodes"] == 0
    assert figures["viewers_without_frames"] == 0
    assert figures["latency_samples"] > 0
    assert figures["fps_min"] > 0
