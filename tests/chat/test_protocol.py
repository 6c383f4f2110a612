"""Parsing room frames: every type, every bad field."""

import pytest

from chat import protocol
from chat.rules import RuleViolation


@pytest.mark.parametrize(
    ("data", "parsed"),
    [
        ({"type": "room.join", "after_seq": 0}, protocol.Join(0)),
        ({"type": "chat.send", "client_id": "c1", "text": " hi "}, protocol.ChatSend("c1", " hi ")),
        ({"type": "chat.typing"}, protocol.Typing()),
        ({"type": "reaction.send", "emoji": "❤️"}, protocol.ReactionSend("❤️")),
        ({"type": "question.ask", "client_id": "q", "text": "why?"}, protocol.QuestionAsk("q", "why?", False)),
        (
            {"type": "question.ask", "client_id": "q", "text": "?", "private": True},
            protocol.QuestionAsk("q", "?", True),
        ),
        ({"type": "question.upvote", "id": 3}, protocol.QuestionUpvote(3)),
        ({"type": "question.answer", "id": 3}, protocol.QuestionAnswer(3)),
        ({"type": "question.pin", "id": 3}, protocol.QuestionPin(3)),
        ({"type": "question.pin", "id": None}, protocol.QuestionPin(None)),
        ({"type": "moderation.delete", "id": 9}, protocol.ModerationDelete(9)),
        ({"type": "moderation.timeout", "user_id": 4, "seconds": 10}, protocol.ModerationTimeout(4, 10)),
        ({"type": "moderation.ban", "user_id": 4, "reason": " spam "}, protocol.ModerationBan(4, "spam")),
        ({"type": "moderation.ban", "user_id": 4}, protocol.ModerationBan(4, "")),
        ({"type": "moderation.slow_mode", "seconds": 0}, protocol.ModerationSlowMode(0)),
        ({"type": "moderation.approve", "id": 1}, protocol.ModerationResolve(1, approve=True)),
        ({"type": "moderation.reject", "id": 1}, protocol.ModerationResolve(1, approve=False)),
    ],
)
def test_every_room_type_parses(data, parsed):
    assert data["type"] in protocol.ROOM_TYPES
    assert protocol.parse_room_message({**data, "extra": "ignored"}) == parsed


@pytest.mark.parametrize(
    "data",
    [
        {"type": "room.join"},
        {"type": "room.join", "after_seq": -1},
        {"type": "room.join", "after_seq": "5"},
        {"type": "room.join", "after_seq": True},
        {"type": "chat.send", "text": "no id"},
        {"type": "chat.send", "client_id": "", "text": "x"},
        {"type": "chat.send", "client_id": "x" * 65, "text": "x"},
        {"type": "chat.send", "client_id": "a\nb", "text": "x"},
        {"type": "chat.send", "client_id": "c", "text": 5},
        {"type": "reaction.send", "emoji": "💩"},
        {"type": "reaction.send"},
        {"type": "question.ask", "client_id": "q", "text": "?", "private": "yes"},
        {"type": "question.upvote", "id": 0},
        {"type": "question.pin"},
        {"type": "moderation.timeout", "user_id": 4, "seconds": 9},
        {"type": "moderation.timeout", "user_id": 4, "seconds": 3601},
        {"type": "moderation.ban", "user_id": 4, "reason": "x" * 301},
        {"type": "moderation.slow_mode", "seconds": 301},
        {"type": "moderation.approve", "id": 1.5},
    ],
)
def test_bad_fields_are_refused_as_bad_field(data):
    with pytest.raises(RuleViolation) as refused:
        protocol.parse_room_message(data)
    assert refused.value.code == "bad_field"
    assert refused.value.message


def test_errors_carry_the_reference_and_retry_after():
    assert protocol.error(code="slow_mode", message="wait", ref="c1", retry_after=4) == {
        "type": "error",
        "code": "slow_mode",
        "message": "wait",
        "fatal": False,
        "ref": "c1",
        "retry_after": 4,
    }
    assert protocol.ref_of({"client_id": 7}) is None
