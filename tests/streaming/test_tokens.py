"""Join tokens: signed, bound to user, session and role, valid for at most ten minutes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import signing

from streaming.rules import Role
from streaming.tokens import InvalidJoinToken, JoinClaims, issue_join_token, verify_join_token
from tests.streaming.conftest import make_session, make_user

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 10, 8, 55, tzinfo=UTC)


@pytest.fixture
def session():
    return make_session()


@pytest.fixture
def viewer():
    return make_user()


def _reason(token: str, **kwargs) -> str:
    with pytest.raises(InvalidJoinToken) as caught:
        verify_join_token(token, **kwargs)
    return caught.value.reason


def test_a_token_carries_the_user_the_session_and_the_role(session, viewer):
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER)

    claims = verify_join_token(token, session_id=session.pk, role=Role.VIEWER)

    assert claims == JoinClaims(user_id=viewer.pk, session_id=session.pk, role=Role.VIEWER)


def test_a_token_expires_ten_minutes_after_it_was_issued(session, viewer, time_machine):
    time_machine.move_to(NOW, tick=False)
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER)

    time_machine.move_to(NOW + timedelta(minutes=10), tick=False)
    assert verify_join_token(token, session_id=session.pk).user_id == viewer.pk

    time_machine.move_to(NOW + timedelta(minutes=10, seconds=1), tick=False)
    assert _reason(token, session_id=session.pk) == "expired"


def test_the_clock_can_be_given_explicitly(session, viewer):
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER, now=NOW)

    assert verify_join_token(token, session_id=session.pk, now=NOW + timedelta(minutes=9)).session_id == session.pk
    assert _reason(token, session_id=session.pk, now=NOW + timedelta(minutes=11)) == "expired"


def test_a_shorter_max_age_expires_sooner(session, viewer):
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER, now=NOW)

    assert _reason(token, session_id=session.pk, max_age=60, now=NOW + timedelta(seconds=61)) == "expired"


@pytest.mark.parametrize("max_age", [601, 0])
def test_a_max_age_beyond_ten_minutes_is_a_programming_error(session, viewer, max_age):
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER)

    with pytest.raises(ValueError, match="max_age must be between 1 and 600 seconds"):
        verify_join_token(token, session_id=session.pk, max_age=max_age)


def test_a_token_stamped_in_the_future_is_refused(session, viewer):
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER, now=NOW + timedelta(minutes=5))

    assert _reason(token, session_id=session.pk, now=NOW) == "bad_signature"
    # Thirty seconds of disagreement between two clocks is tolerated.
    assert verify_join_token(token, session_id=session.pk, now=NOW + timedelta(minutes=4, seconds=30)).user_id


def test_a_tampered_payload_is_refused(session, viewer):
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER)
    other = issue_join_token(user=make_user(), session=session, role=Role.PUBLISHER)
    payload, stamp, signature = token.split(":")
    other_payload = other.split(":")[0]

    assert _reason(f"{other_payload}:{stamp}:{signature}", session_id=session.pk) == "bad_signature"
    assert _reason(f"{payload}:{stamp}:{signature[:-2]}xx", session_id=session.pk) == "bad_signature"
    assert _reason("not-a-token", session_id=session.pk) == "bad_signature"


def test_a_token_signed_for_another_purpose_is_refused(session, viewer):
    forged = signing.dumps({"u": viewer.pk, "s": session.pk, "r": "publisher"}, salt="another.purpose")

    assert _reason(forged, session_id=session.pk) == "bad_signature"


def test_a_token_for_another_session_is_refused(session, viewer):
    other_session = make_session()
    token = issue_join_token(user=viewer, session=other_session, role=Role.VIEWER)

    assert _reason(token, session_id=session.pk) == "wrong_session"


def test_a_viewer_token_cannot_be_used_to_publish(session, viewer):
    token = issue_join_token(user=viewer, session=session, role=Role.VIEWER)

    assert _reason(token, session_id=session.pk, role=Role.PUBLISHER) == "wrong_role"


def test_a_correctly_signed_token_of_the_wrong_shape_is_malformed(session):
    token = signing.TimestampSigner(salt="streaming.join").sign_object({"u": 1, "s": session.pk, "r": "king"})

    assert _reason(token, session_id=session.pk) == "malformed"
