"""Tips tests: a guide with a ready TEST MODE payout account, a tour date whose live session is
live (or ended), and a guest with a confirmed booking for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from django.utils import timezone

from accounts.models import GuideProfile, User
from bookings.models import Booking, Slot
from streaming.models import LiveSession
from tests.factories import (
    BookingFactory,
    GuidePaymentAccountFactory,
    GuideProfileFactory,
    LiveSessionFactory,
    SlotFactory,
    TourFactory,
    UserFactory,
)


@dataclass
class TipScene:
    guide: GuideProfile
    slot: Slot
    session: LiveSession
    guest: User
    booking: Booking

    @property
    def guide_user(self) -> User:
        return self.guide.user

    def book(self, **fields: Any) -> User:
        user = cast(User, UserFactory(**fields))
        BookingFactory(user=user, slot=self.slot)
        return user


def make_scene(
    *,
    status: str = "live",
    ready: bool = True,
    price: str = "30.00",
    minutes_ago: int = 10,
    guest_name: str = "Ada Lovelace",
) -> TipScene:
    guide = cast(GuideProfile, GuideProfileFactory(display_name="Giulia Romano"))
    if ready:
        GuidePaymentAccountFactory(guide=guide)
    tour = TourFactory(guide=guide, title="Trastevere by night", price=Decimal(price), currency="EUR")
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=minutes_ago)
    slot = cast(Slot, SlotFactory(tour=tour, start=start, end=start + timedelta(minutes=90)))
    session = cast(LiveSession, LiveSessionFactory(slot=slot))
    if status == "live":
        session.status = LiveSession.Status.LIVE
        session.started_at = start
    elif status == "ended":
        session.status = LiveSession.Status.ENDED
        session.started_at = start
        session.ended_at = start + timedelta(minutes=90)
        session.ended_reason = LiveSession.EndedReason.COMPLETED
    session.save()
    guest = cast(User, UserFactory(name=guest_name))
    booking = cast(Booking, BookingFactory(user=guest, slot=slot))
    return TipScene(guide=guide, slot=slot, session=session, guest=guest, booking=booking)


@pytest.fixture
def scene(db: None) -> TipScene:
    return make_scene()
