"""Under the session row lock, simultaneous go-live requests leave one consistent row (PostgreSQL)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connections

from streaming.models import LiveSession
from streaming.services import go_live
from tests.streaming.conftest import END, START, make_session, make_slot

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="SQLite has no row locks (select_for_update is a no-op there)",
    ),
]

CALLS = 12


def _all_at_once(call):
    gate = threading.Barrier(CALLS)

    def attempt(_index):
        try:
            gate.wait(timeout=30)
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=CALLS) as pool:
        return list(pool.map(attempt, range(CALLS)))


def _session():
    return make_session(slot=make_slot(start=START, end=END))


def test_twelve_simultaneous_go_live_clicks_start_the_session_once():
    session = _session()
    guide = session.slot.guide.user

    outcomes = _all_at_once(lambda: go_live(user=guide, session_id=session.pk, now=START))

    assert sum(outcome.went_live for outcome in outcomes) == 1
    assert sum(outcome.epoch_raised for outcome in outcomes) == 1
    session.refresh_from_db()
    assert (session.status, session.publisher_epoch) == ("live", 1)


def test_twelve_simultaneous_republishes_raise_the_epoch_twelve_times():
    session = _session()
    guide = session.slot.guide.user

    outcomes = _all_at_once(lambda: go_live(user=guide, session_id=session.pk, republish=True, now=START))

    assert sorted(outcome.session.publisher_epoch for outcome in outcomes) == list(range(1, CALLS + 1))
    assert LiveSession.objects.get(pk=session.pk).publisher_epoch == CALLS
