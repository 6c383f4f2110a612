"""A tip paid during the live tour reaches the live room through the real socket stack (origin
check, auth, LiveConsumer, the room's fan-out): the guide's socket gets ``tip.received`` at once,
everyone gets ``tip.thanks`` only if the tipper allowed it, and a guest never sees the amount."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels.db import database_sync_to_async
from channels.layers import channel_layers

from chat import fanout
from payments.tips import services
from payments.tips.models import Tip
from streaming import registry
from streaming.models import LiveSession
from streaming.rules import Role
from streaming.sfu import SfuConfig, SfuRegistry
from tests.chat.support import Room, join, live_room
from tests.factories import GuidePaymentAccountFactory
from tests.support.live_loop import run
from tests.support.payments import pay


@pytest.fixture
def fresh_loop_state(transactional_db: None) -> Iterator[None]:
    """As tests/chat: each asyncio.run is a new loop with a new SFU registry, channel layer and hub."""
    registry.reset_registry(SfuRegistry(SfuConfig(host_addresses=("127.0.0.3",))))
    channel_layers.backends = {}
    fanout._hub = None
    yield
    registry.reset_registry(None)
    channel_layers.backends = {}
    fanout._hub = None


pytestmark = pytest.mark.usefixtures("fresh_loop_state")


def live_tour() -> Room:
    room = live_room(guests=2)
    session = room.session
    session.status = LiveSession.Status.LIVE
    session.started_at = session.slot.start
    session.save()
    GuidePaymentAccountFactory(guide=session.slot.guide)
    return room


def tip_and_pay(room: Room, *, amount: int, show_in_room: bool, message: str = "Che bello!") -> Tip:
    tip = services.start_tip(
        tipper=room.guests[0],
        slot_id=room.session.slot_id,
        amount_minor=amount,
        message=message,
        show_in_room=show_in_room,
        key=f"live-{amount}-{show_in_room}",
    )
    assert tip.payment is not None
    pay(tip.payment)  # the TEST MODE page's Pay button: the event is processed on commit
    tip.refresh_from_db()
    assert tip.status == Tip.Status.PAID
    return tip


def test_the_guides_socket_hears_the_tip_at_once_and_the_room_sees_the_thank_you() -> None:
    room = live_tour()
    tipper_name = room.guests[0].name

    async def scenario() -> None:
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        tipper, _ = await join(room.session, room.guests[0])
        other, _ = await join(room.session, room.guests[1])

        tip: Tip = await database_sync_to_async(tip_and_pay)(room, amount=2000, show_in_room=True)

        received = await guide.expect("tip.received")
        assert received == {
            "type": "tip.received",
            "id": tip.pk,
            "name": tipper_name,
            "amount_minor": 2000,
            "amount": "20.00",
            "currency": "EUR",
            "message": "Che bello!",
            "show_in_room": True,
            "total_minor": 2000,
            "total": "20.00",
            "paid_at": received["paid_at"],
        }
        for socket in (guide, tipper, other):
            assert await socket.expect("tip.thanks") == {"type": "tip.thanks", "id": tip.pk, "name": tipper_name}
        # Guests never get the guide's acknowledgement (amount, message).
        await other.nothing("tip.received")
        await tipper.nothing("tip.received")
        await guide.nothing("tip.thanks")  # once
        for socket in (guide, tipper, other):
            await socket.close()

    run(scenario())


def test_without_consent_only_the_guide_hears_of_the_tip() -> None:
    room = live_tour()

    async def scenario() -> None:
        guide, _ = await join(room.session, room.guide, Role.PUBLISHER)
        other, _ = await join(room.session, room.guests[1])

        await database_sync_to_async(tip_and_pay)(room, amount=500, show_in_room=False)

        received = await guide.expect("tip.received")
        assert (received["amount"], received["show_in_room"], received["total"]) == ("5.00", False, "5.00")
        await other.nothing("tip.thanks", within=1.0)
        await other.nothing("tip.received", within=0.3)
        await guide.close()
        await other.close()

    run(scenario())


def test_staff_watching_hear_the_tip_like_the_guide() -> None:
    room = live_tour()

    async def scenario() -> None:
        staff, _ = await join(room.session, room.staff)
        await database_sync_to_async(tip_and_pay)(room, amount=1000, show_in_room=False)
        received = await staff.expect("tip.received")
        assert (received["amount"], received["currency"]) == ("10.00", "EUR")
        await staff.close()

    run(scenario())
