"""The read-only transcript after the tour: who may read it, what it shows, escaped, in the reader's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User
from chat.models import ChatMessage, Participant, Question
from streaming import services as streaming_services
from streaming.models import LiveSession, ViewerPresence
from tests.chat.support import Room, live_room, make_user

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 11, 22, 9, 5, tzinfo=UTC)


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _url(room: Room) -> str:
    return reverse("chat:transcript", kwargs={"session_id": room.session.pk})


@pytest.fixture
def ended() -> Room:
    room = live_room()
    anna, bruno = room.guests
    for user in (anna, room.guide):
        Participant.objects.create(session=room.session, user=user, joined_at=SENT, last_seen_at=SENT)
    ViewerPresence.objects.create(session=room.session, user=anna, first_joined_at=SENT, last_seen_at=SENT)
    rows = [
        (1, anna, "Buongiorno <script>alert(1)</script>", "visible"),
        (2, room.guide, "Welcome to the Forum!\nLook left.", "visible"),
        (3, anna, "a deleted insult", "deleted"),
        (4, anna, "held and never approved", "held"),
        (5, anna, "javascript:alert(1)", "visible"),
    ]
    for seq, author, text, status in rows:
        ChatMessage.objects.create(
            session=room.session, seq=seq, author=author, client_id=f"c{seq}", text=text, status=status, created_at=SENT
        )
    Question.objects.create(
        session=room.session, author=anna, client_id="q1", text="Public <b>q</b>", votes=3, created_at=SENT
    )
    Question.objects.create(
        session=room.session, author=bruno, client_id="q2", text="Bruno's secret", private=True, created_at=SENT
    )
    streaming_services.end_session(
        user=room.guide, session_id=room.session.pk, reason=LiveSession.EndedReason.COMPLETED
    )
    return room


def test_an_attendee_reads_the_visible_messages_in_order_escaped_and_in_their_time_zone(ended):
    anna = ended.guests[0]
    anna.timezone = "Asia/Tokyo"
    anna.save(update_fields=["timezone"])

    response = _client(anna).get(_url(ended))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Buongiorno &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "Welcome to the Forum!<br>Look left." in html
    assert html.index("Buongiorno") < html.index("Welcome to the Forum") < html.index("javascript:alert(1)")
    assert "a deleted insult" not in html
    assert "held and never approved" not in html
    assert 'href="javascript' not in html  # links stay text
    assert ">18:05<" in html  # 09:05 UTC in Tokyo
    assert "Public &lt;b&gt;q&lt;/b&gt;" in html
    assert "Bruno&#x27;s secret" not in html  # another guest's private question
    assert response["Cache-Control"] == "private, no-store"


def test_the_guide_and_staff_read_it_with_every_question(ended):
    for reader in (ended.guide, ended.staff):
        response = _client(reader).get(_url(ended))
        assert response.status_code == 200
        assert "Bruno&#x27;s secret" in response.content.decode()


@pytest.mark.parametrize("who", ["booked_but_absent", "stranger", "banned"])
def test_people_who_did_not_attend_are_refused(ended, who):
    if who == "booked_but_absent":
        reader = ended.guests[1]  # booked, never in the room
    elif who == "stranger":
        reader = make_user()
    else:
        reader = ended.guests[0]
        from streaming.models import SessionBan

        SessionBan.objects.create(session=ended.session, user=reader, by=ended.guide)
    response = _client(reader).get(_url(ended))
    assert response.status_code == 403
    assert "Buongiorno" not in response.content.decode()
    assert "Only the people who attended this tour can read its chat." in response.content.decode()


def test_there_is_no_transcript_before_the_end():
    room = live_room()
    Participant.objects.create(session=room.session, user=room.guest, joined_at=SENT, last_seen_at=SENT)
    response = _client(room.guest).get(_url(room))
    assert response.status_code == 404
    assert "once the tour is over" in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(ended):
    response = _client(None).get(_url(ended))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_only_get_is_allowed(ended):
    assert _client(ended.guide).post(_url(ended)).status_code == 405
