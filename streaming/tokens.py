"""Short-lived join credentials for the signalling WebSocket.

The live page (an ordinary authenticated view) runs ``access_live_session`` and hands the browser
a token; the signalling consumer verifies it. A token proves who was let in, for which session and
in which role, within the last ``MAX_AGE_SECONDS``; it does not replace the access check, which
the consumer repeats on connect (a booking may have been cancelled in between).

Signed with Django's signing (``SECRET_KEY``, salt ``streaming.join``): nothing is stored.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing

from accounts.models import User
from streaming.models import LiveSession
from streaming.rules import Role

__all__ = ["MAX_AGE_SECONDS", "SALT", "InvalidJoinToken", "JoinClaims", "issue_join_token", "verify_join_token"]

SALT = "streaming.join"
MAX_AGE_SECONDS = 600
# A token stamped a little in the future (clocks of two processes disagree) is still accepted.
CLOCK_SKEW_SECONDS = 30


class InvalidJoinToken(Exception):
    """``reason``: bad_signature, expired, wrong_session, wrong_role or malformed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class JoinClaims:
    user_id: int
    session_id: int
    role: Role


class _JoinSigner(signing.TimestampSigner):
    """A TimestampSigner whose clock can be set (``now``), for issuing and checking at an instant."""

    def __init__(self, *, now: datetime | None = None) -> None:
        super().__init__(salt=SALT)
        self._now = now

    def _clock(self) -> float:
        return self._now.timestamp() if self._now is not None else time.time()

    def timestamp(self) -> str:
        return signing.b62_encode(int(self._clock()))

    def unsign(self, value: str, max_age: Any = None) -> str:
        # Signer.unsign checks the signature; the age check is ours so that ``now`` applies.
        result = signing.Signer.unsign(self, value)
        payload, stamp = result.rsplit(self.sep, 1)
        age = self._clock() - signing.b62_decode(stamp)
        if max_age is not None and age > max_age:
            raise signing.SignatureExpired(f"Signature age {age} > {max_age} seconds")
        if age < -CLOCK_SKEW_SECONDS:
            raise signing.BadSignature("Signature timestamp is in the future")
        return payload


def issue_join_token(*, user: User, session: LiveSession, role: Role, now: datetime | None = None) -> str:
    """A token for ``user`` to enter ``session`` as ``role``; call only after the access check."""
    return _JoinSigner(now=now).sign_object({"u": user.pk, "s": session.pk, "r": str(Role(role))}, compress=False)


def verify_join_token(
    token: str,
    *,
    session_id: int,
    role: Role | None = None,
    max_age: int = MAX_AGE_SECONDS,
    now: datetime | None = None,
) -> JoinClaims:
    """The claims of a valid token for ``session_id`` (and ``role``, when given); else InvalidJoinToken."""
    if not 0 < max_age <= MAX_AGE_SECONDS:
        raise ValueError(f"max_age must be between 1 and {MAX_AGE_SECONDS} seconds")
    try:
        data = _JoinSigner(now=now).unsign_object(token, max_age=max_age)
    except signing.SignatureExpired:
        raise InvalidJoinToken("expired") from None
    except signing.BadSignature:
        raise InvalidJoinToken("bad_signature") from None
    except ValueError:
        # Signed by us but not the shape we sign (cannot happen without the secret key).
        raise InvalidJoinToken("malformed") from None
    try:
        claims = JoinClaims(user_id=int(data["u"]), session_id=int(data["s"]), role=Role(data["r"]))
    except (KeyError, TypeError, ValueError):
        raise InvalidJoinToken("malformed") from None
    if claims.session_id != session_id:
        raise InvalidJoinToken("wrong_session")
    if role is not None and claims.role != role:
        raise InvalidJoinToken("wrong_role")
    return claims
