"""bench/chat.py still runs: a tiny live room against the test database, end to end.

The figures of real runs are in docs/performance.md; this proves that the script seeds a live
session, serves it with uvicorn (italycouch/server.py), drives real WebSocket viewers through the room's protocol and
counts every delivery (nothing lost or duplicated) in the promised JSON.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)  # the bench and its server see committed rows

PROJECT_DIR = Path(__file__).resolve().parents[2]
REQUIRED_KEYS = {
    "viewers",
    "messages_per_s",
    "deliveries_per_s",
    "latency_p50_ms",
    "latency_p99_ms",
    "lost",
    "duplicated",
}


def test_tiny_room_delivers_every_message_to_every_viewer_once(test_database_url):
    completed = subprocess.run(
        [
            sys.executable,
            "bench/chat.py",
            *("--viewers", "6", "--rate", "4", "--senders", "2", "--reactions", "20"),
            *("--duration", "3", "--warmup", "0.5", "--drain", "1.5"),
            *("--use-existing-db", "--database-url", test_database_url),
        ],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    figures = json.loads(completed.stdout)
    assert figures.keys() >= REQUIRED_KEYS
    assert figures["viewers"] == 6
    assert figures["lost"] == 0
    assert figures["duplicated"] == 0
    # About 12 messages in 3 s, each delivered to all 6 viewers (the sender included).
    assert figures["messages_acked"] >= 8
    assert figures["deliveries"] == figures["messages_acked"] * 6
    assert 0 < figures["latency_p50_ms"] <= figures["latency_p99_ms"]
    # Reactions arrive as batches with running totals, far fewer batches than reactions.
    assert figures["reactions_sent"] >= 40
    assert 0 < figures["reaction_broadcasts"] < figures["reactions_sent"]
    assert sum(figures["reaction_totals"].values()) > 0
