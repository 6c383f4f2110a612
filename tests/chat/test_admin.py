"""Staff see the rooms in the admin and act through the same services (the open rooms hear of it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.cache import cache
from django.urls import reverse

from chat import realtime, selectors
from chat.models import BlockedWord, ChatMessage, Participant, RoomState
from tests.chat.support import Room, live_room
from tests.chat.test_services import Published

pytestmark = pytest.mark.django_db(transaction=True)

SENT = datetime(2026, 11, 22, 9, 5, tzinfo=UTC)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Published:
    sink = Published()
    monkeypatch.setattr(realtime, "_current_hub", sink)
    monkeypatch.setattr("chat.backends.redis_url", lambda: None)
    return sink


@pytest.fixture
def room() -> Room:
    return live_room()


@pytest.fixture
def staff_client(client, room):
    room.staff.is_superuser = True
    room.staff.save()
    client.force_login(room.staff)
    return client


def _message(room: Room, seq: int, status: str = "visible", text: str = "hello") -> ChatMessage:
    RoomState.objects.update_or_create(session=room.session, defaults={"last_seq": seq})
    return ChatMessage.objects.create(
        session=room.session, seq=seq, author=room.guest, client_id=f"c{seq}", text=text, status=status, created_at=SENT
    )


def test_staff_delete_a_message_for_everyone_from_the_list(staff_client, room, published):
    message = _message(room, 1)
    url = reverse("admin:chat_chatmessage_changelist")

    listing = staff_client.get(url, {"q": str(room.session.pk)})
    assert [m.pk for m in listing.context["cl"].result_list] == [message.pk]
    actions = [name for name, _label in listing.context["action_form"].fields["action"].choices]
    assert "delete_for_everyone" in actions
    assert "delete_selected" not in actions  # rows are never removed, only marked deleted
    response = staff_client.post(url, {"action": "delete_for_everyone", "_selected_action": [message.pk]})

    assert response.status_code == 302
    message.refresh_from_db()
    assert (message.status, message.deleted_by) == ("deleted", room.staff)
    assert published.types() == ["chat.deleted"]
    assert published.events[0]["session_id"] == room.session.pk


def test_staff_approve_and_reject_held_messages(staff_client, room, published):
    held = _message(room, 1, status="held")
    other = _message(room, 2, status="held")
    url = reverse("admin:chat_chatmessage_changelist")

    staff_client.post(url, {"action": "approve_held", "_selected_action": [held.pk]})
    staff_client.post(url, {"action": "reject_held", "_selected_action": [other.pk]})

    held.refresh_from_db()
    other.refresh_from_db()
    assert (held.status, held.seq, held.moderated_by) == ("visible", 3, room.staff)
    assert other.status == "rejected"
    assert published.types() == ["chat.message", "moderation.resolved", "moderation.resolved"]


def test_slow_mode_set_in_the_admin_reaches_the_room(staff_client, room, published):
    RoomState.objects.create(session=room.session)
    url = reverse("admin:chat_roomstate_change", args=[room.session.pk])

    staff_client.post(url, {"slow_mode_seconds": "20"})

    assert RoomState.objects.get(session=room.session).slow_mode_seconds == 20
    assert published.types() == ["moderation.slow_mode"]


def test_blocked_words_are_stored_normalised_and_take_effect_at_once(staff_client, room):
    assert selectors.blocked_words() == ()  # cached now
    full_width_spoiler = "  \uff33\uff30\uff2f\uff29\uff2c\uff25\uff32 "
    response = staff_client.post(reverse("admin:chat_blockedword_add"), {"word": full_width_spoiler})
    assert response.status_code == 302
    word = BlockedWord.objects.get()
    assert (word.word, word.created_by) == ("spoiler", room.staff)
    assert selectors.blocked_words() == ("spoiler",)
    word.delete()
    assert cache.get(selectors.BLOCKED_WORDS_CACHE_KEY) is None


def test_participants_and_their_stats_are_listed_after_the_tour(staff_client, room):
    Participant.objects.create(
        session=room.session, user=room.guest, joined_at=SENT, last_seen_at=SENT, messages=4, reactions=9
    )
    from streaming.models import ViewerPresence

    ViewerPresence.objects.create(
        session=room.session, user=room.guest, first_joined_at=SENT, last_seen_at=SENT, total_seconds=1800
    )
    response = staff_client.get(reverse("admin:chat_participant_changelist"), {"q": str(room.session.pk)})
    assert response.status_code == 200
    html = response.content.decode()
    assert "1800" in html
    assert room.guest.email in html


def test_the_admin_pages_render(staff_client, room):
    _message(room, 1)
    for name in ("chatmessage", "question", "chattimeout", "blockedword", "participant", "roomstate"):
        assert staff_client.get(reverse(f"admin:chat_{name}_changelist")).status_code == 200
    message = ChatMessage.objects.get()
    assert staff_client.get(reverse("admin:chat_chatmessage_change", args=[message.pk])).status_code == 200
