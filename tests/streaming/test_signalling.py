"""The signalling protocol as pure functions: what a client may send, what the server builds."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streaming.rules import Countdown, Phase, Role
from streaming.signalling import (
    MAX_MESSAGE_BYTES,
    MAX_SDP_CHARS,
    End,
    Keyframe,
    Ping,
    Publish,
    SignallingError,
    Subscribe,
    SubscribeAnswer,
    error,
    kicked,
    parse_client_message,
    pong,
    session_state,
    welcome,
)


def parse(message: object, role: Role = Role.VIEWER) -> object:
    return parse_client_message(json.dumps(message), None, role=role)


def refusal(text: str | None, binary: bytes | None = None, role: Role = Role.VIEWER) -> str:
    with pytest.raises(SignallingError) as raised:
        parse_client_message(text, binary, role=role)
    return raised.value.code


@pytest.mark.parametrize(
    ("message", "role", "parsed"),
    [
        ({"type": "publish", "sdp": "v=0\r\n"}, Role.PUBLISHER, Publish(sdp="v=0\r\n")),
        ({"type": "end"}, Role.PUBLISHER, End()),
        ({"type": "subscribe"}, Role.VIEWER, Subscribe()),
        ({"type": "subscribe.answer", "sdp": "v=0\r\n"}, Role.VIEWER, SubscribeAnswer(sdp="v=0\r\n")),
        ({"type": "keyframe"}, Role.VIEWER, Keyframe()),
        ({"type": "ping", "client_time": 1700000000000}, Role.VIEWER, Ping(client_time=1700000000000)),
        ({"type": "ping"}, Role.PUBLISHER, Ping(client_time=None)),
        ({"type": "subscribe", "extra": "ignored"}, Role.VIEWER, Subscribe()),
    ],
)
def test_every_client_message_of_the_contract_parses(message: dict[str, object], role: Role, parsed: object) -> None:
    assert parse(message, role) == parsed


@pytest.mark.parametrize(
    ("kind", "role"),
    [
        ("publish", Role.VIEWER),
        ("end", Role.VIEWER),
        ("subscribe", Role.PUBLISHER),
        ("subscribe.answer", Role.PUBLISHER),
        ("keyframe", Role.PUBLISHER),
    ],
)
def test_a_message_of_the_other_role_is_not_allowed(kind: str, role: Role) -> None:
    assert refusal(json.dumps({"type": kind, "sdp": "v=0"}), role=role) == "not_allowed"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "bad_json"),
        ("{", "bad_json"),
        ('"publish"', "not_object"),
        ("null", "not_object"),
        ("{}", "unknown_type"),
        ('{"type": 3}', "unknown_type"),
        ('{"type": "chat.message"}', "unknown_type"),
        ('{"type": "subscribe.answer"}', "bad_field"),
        ('{"type": "subscribe.answer", "sdp": "  "}', "bad_field"),
        ('{"type": "subscribe.answer", "sdp": ["v=0"]}', "bad_field"),
        ('{"type": "ping", "client_time": true}', "bad_field"),
        ('{"type": "ping", "client_time": "12"}', "bad_field"),
    ],
)
def test_malformed_messages_are_refused_with_a_stable_code(text: str, code: str) -> None:
    assert refusal(text) == code


def test_an_sdp_over_60_kib_is_refused_and_one_at_the_limit_is_accepted() -> None:
    at_limit = "a" * MAX_SDP_CHARS
    assert parse({"type": "subscribe.answer", "sdp": at_limit}) == SubscribeAnswer(sdp=at_limit)
    assert refusal(json.dumps({"type": "subscribe.answer", "sdp": at_limit + "a"})) == "bad_field"


def test_messages_over_64_kib_are_refused_counting_utf8_bytes() -> None:
    padding = MAX_MESSAGE_BYTES - len('{"type":"ping","pad":""}')
    assert parse_client_message('{"type":"ping","pad":"' + "x" * padding + '"}', None, role=Role.VIEWER) == Ping(None)
    assert refusal('{"type":"ping","pad":"' + "x" * (padding + 1) + '"}') == "too_large"
    # 2-byte characters: fewer characters than the limit, more bytes.
    assert refusal('{"type":"ping","pad":"' + "é" * (MAX_MESSAGE_BYTES // 2) + '"}') == "too_large"


def test_binary_frames_are_refused() -> None:
    assert refusal(None, b"{}") == "binary"
    assert refusal(None, b"x" * (MAX_MESSAGE_BYTES + 1)) == "too_large"


def test_server_messages_have_the_fields_of_the_contract() -> None:
    now = datetime(2026, 12, 10, 9, 0, 1, tzinfo=UTC)
    assert welcome(
        role=Role.VIEWER,
        session_id=5,
        status="live",
        epoch=2,
        tour_title="Rome at dawn",
        slot_start=datetime(2026, 12, 10, 9, 0, tzinfo=UTC),
        slot_end=datetime(2026, 12, 10, 10, 30, tzinfo=UTC),
        grace_seconds=300,
        now=now,
    ) == {
        "type": "welcome",
        "role": "viewer",
        "session": {
            "id": 5,
            "status": "live",
            "epoch": 2,
            "tour_title": "Rome at dawn",
            "slot_start": "2026-12-10T09:00:00Z",
            "slot_end": "2026-12-10T10:30:00Z",
            "grace_seconds": 300,
        },
        "server_time": 1796893201000,
    }
    assert session_state(
        status="live", epoch=2, viewers=3, countdown=Countdown(60, warning=True, phase=Phase.GRACE)
    ) == {
        "type": "session.state",
        "status": "live",
        "epoch": 2,
        "viewers": 3,
        "countdown": {"remaining_seconds": 60, "warning": True, "phase": "grace"},
    }
    assert pong(client_time=12, now=now) == {"type": "pong", "client_time": 12, "server_time": 1796893201000}
    assert kicked(code="banned", message="m") == {"type": "kicked", "code": "banned", "message": "m"}
    assert error(code="bad_json", message="m") == {"type": "error", "code": "bad_json", "message": "m", "fatal": False}
