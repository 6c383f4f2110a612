"""Sequence numbers under real concurrency (PostgreSQL): unique, gap-free, committed in order;
simultaneous retries of one message store it once."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connections

from chat import services
from chat.models import ChatMessage, RoomState
from chat.rules import RuleViolation
from tests.chat.support import live_room

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="SQLite serialises every writer; the row lock is what is under test",
    ),
]

THREADS = 12
PER_THREAD = 4


def _all_at_once(calls):
    gate = threading.Barrier(len(calls))

    def attempt(call):
        try:
            gate.wait(timeout=30)
            return call()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(attempt, calls))


def test_concurrent_senders_get_unique_gap_free_sequence_numbers():
    room = live_room(guests=THREADS)

    def sender(user):
        def send():
            return [
                services.send_message(
                    user=user, session_id=room.session.pk, client_id=f"{user.pk}-{n}", text=f"m{n}"
                ).message.seq
                for n in range(PER_THREAD)
            ]

        return send

    results = _all_at_once([sender(user) for user in room.guests])

    seqs = sorted(seq for per_user in results for seq in per_user)
    assert seqs == list(range(1, THREADS * PER_THREAD + 1))
    for per_user in results:
        assert per_user == sorted(per_user)  # each sender's own messages keep their order
    assert RoomState.objects.get(session=room.session).last_seq == THREADS * PER_THREAD
    # Numbered in commit order: a higher number was never committed before a lower one, so the
    # ids (taken at insert, under the same lock) rise with the numbers.
    rows = list(ChatMessage.objects.filter(session=room.session).order_by("seq").values_list("pk", flat=True))
    assert rows == sorted(rows)


def test_simultaneous_retries_of_one_message_store_it_once():
    room = live_room(guests=1)

    def retry():
        outcome = services.send_message(user=room.guest, session_id=room.session.pk, client_id="flaky", text="hello")
        return outcome.message.pk, outcome.message.seq, outcome.created

    # As many as the rate limit lets through at once (5 per 10 s): each must find the one row.
    results = _all_at_once([retry] * 5)

    assert len({(pk, seq) for pk, seq, _created in results}) == 1
    assert sum(created for _pk, _seq, created in results) == 1
    assert ChatMessage.objects.count() == 1


def test_simultaneous_retries_use_up_no_sequence_number():
    room = live_room(guests=2)

    def retry():
        return services.send_message(user=room.guest, session_id=room.session.pk, client_id="flaky", text="hello")

    _all_at_once([retry] * 5)

    # A duplicate that got as far as the insert rolled its number back: the next message is 2, not 6.
    assert RoomState.objects.get(session=room.session).last_seq == 1
    later = services.send_message(user=room.guests[1], session_id=room.session.pk, client_id="next", text="hi")
    assert later.message.seq == 2


def test_slow_mode_lets_one_of_simultaneous_messages_of_one_person_through():
    room = live_room(guests=1)
    services.set_slow_mode(by=room.guide, session_id=room.session.pk, seconds=60)

    def send(n):
        def attempt():
            try:
                return services.send_message(
                    user=room.guest, session_id=room.session.pk, client_id=f"m{n}", text="hello"
                ).message.seq
            except RuleViolation as refused:
                return refused.code

        return attempt

    results = _all_at_once([send(n) for n in range(5)])  # as many as the rate limit lets through

    assert sorted(results, key=str) == [1, "slow_mode", "slow_mode", "slow_mode", "slow_mode"]
    assert ChatMessage.objects.count() == 1
    assert RoomState.objects.get(session=room.session).last_seq == 1
