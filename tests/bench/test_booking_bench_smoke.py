"""bench/booking.py still runs: a tiny configuration against the test database, end to end.

The figures of a real run are in docs/performance.md; this only proves that the script drives the
real booking page and feed, reads the truth back from the database and prints the promised JSON.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)  # the bench and its server see committed rows

PROJECT_DIR = Path(__file__).resolve().parents[2]
# The figures the issue asks for, by name.
REQUIRED_KEYS = {
    "attempts",
    "seats",
    "confirmed",
    "oversold",
    "book_p50_ms",
    "book_p99_ms",
    "feed_p95_ms",
}


def test_tiny_run_sells_every_seat_exactly_once_through_the_booking_page_and_reports_the_figures(test_database_url):
    completed = subprocess.run(
        [
            sys.executable,
            "bench/booking.py",
            *("--clients", "4", "--attempts", "20", "--slots", "2", "--seats-per-slot", "5"),
            *("--feed-days", "3", "--feed-requests", "5", "--feed-warmup", "1"),
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
    assert figures["mode"] == "http"
    assert figures["attempts"] == 20
    assert figures["seats"] == 10
    assert figures["oversold"] == 0
    assert figures["errors"] == 0
    assert figures["confirmed"] == figures["confirmed_responses"] == 10
    assert figures["sold_out"] == 10
    assert figures["counter_mismatch"] == 0
    assert figures["book_p50_ms"] <= figures["book_p99_ms"]
    # Three days of two slots a day, every one of them in the feed's answer.
    assert figures["feed_via"] == "http"
    assert figures["feed_items"] == 6
    assert figures["feed_requests"] == 5
    assert figures["feed_p95_ms"] > 0
