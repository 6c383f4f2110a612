"""A slot on Thursday 10 December 2026, 09:00-10:30 UTC, its live session, its guide and a guest."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from accounts.models import User
from bookings.models import Booking, Slot
from streaming.models import LiveSession
from tests.factories import BookingFactory, LiveSessionFactory, SlotFactory, UserFactory

START = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
END = START + timedelta(minutes=90)
DEADLINE = END + timedelta(minutes=5)  # the default grace


def make_user(**fields: Any) -> User:
    return cast(User, UserFactory(**fields))


def make_slot(**fields: Any) -> Slot:
    return cast(Slot, SlotFactory(**fields))


def make_session(**fields: Any) -> LiveSession:
    return cast(LiveSession, LiveSessionFactory(**fields))


def make_booking(**fields: Any) -> Booking:
    return cast(Booking, BookingFactory(**fields))


@dataclass
class Live:
    slot: Slot
    session: LiveSession
    guide: User
    guest: User
    booking: Booking

    def reload(self) -> LiveSession:
        self.session.refresh_from_db()
        return self.session


@pytest.fixture
def live(db) -> Live:
    slot = make_slot(start=START, end=END)
    session = make_session(slot=slot)
    guest = make_user()
    booking = make_booking(user=guest, slot=slot)
    return Live(slot=slot, session=session, guide=slot.guide.user, guest=guest, booking=booking)


@pytest.fixture
def staff(db) -> User:
    return make_user(role="staff")


@pytest.fixture
def other_guide(db) -> User:
    return make_slot().guide.user
