"""Who may enter a live session, as what, and when: access_live_session and viewer_may_stay."""

from datetime import timedelta

import pytest

from bookings.models import Booking, Slot
from streaming.models import LiveSession, SessionBan
from streaming.rules import Role
from streaming.selectors import LiveAccessDenied, access_live_session, refusal_for, refusals_for_many, viewer_may_stay
from tests.streaming.conftest import DEADLINE, END, START, make_booking, make_slot, make_user

pytestmark = pytest.mark.django_db


def _denied(user, session_id, role=Role.VIEWER, now=START) -> LiveAccessDenied:
    with pytest.raises(LiveAccessDenied) as caught:
        access_live_session(user=user, session_id=session_id, role=role, now=now)
    return caught.value


def test_a_guest_with_a_confirmed_booking_may_enter_nine_minutes_early(live):
    session = access_live_session(
        user=live.guest, session_id=live.session.pk, role=Role.VIEWER, now=START - timedelta(minutes=9)
    )

    assert session == live.session
    assert session.slot == live.slot


def test_eleven_minutes_early_the_guest_is_told_when_the_room_opens(live):
    refusal = _denied(live.guest, live.session.pk, now=START - timedelta(minutes=11))

    assert (refusal.code, refusal.message) == (
        "too_early",
        "The live room opens 10 minutes before the start, in 1 minute.",
    )
    assert refusal.details == {"opens_at": START - timedelta(minutes=10)}
    assert refusal.status_code == 403


def test_a_customer_without_a_booking_is_refused(live):
    refusal = _denied(make_user(), live.session.pk)

    assert (refusal.code, refusal.message) == (
        "not_booked",
        "Only guests with a booking for this tour can watch it live.",
    )


def test_a_booking_for_another_date_of_the_same_tour_does_not_open_this_one(live):
    other_date = make_slot(tour=live.slot.tour, start=START + timedelta(days=1), end=END + timedelta(days=1))
    customer = make_booking(slot=other_date).user

    assert _denied(customer, live.session.pk).code == "not_booked"


def test_a_cancelled_booking_is_refused(live):
    Booking.objects.filter(pk=live.booking.pk).update(status=Booking.Status.CANCELLED)

    refusal = _denied(live.guest, live.session.pk)

    assert (refusal.code, refusal.message) == ("not_booked", "Your booking for this tour was cancelled.")


def test_a_booking_awaiting_payment_is_refused(live):
    Booking.objects.filter(pk=live.booking.pk).update(status=Booking.Status.PENDING_PAYMENT)

    refusal = _denied(live.guest, live.session.pk)

    assert (refusal.code, refusal.message) == ("not_booked", "Your booking for this tour is waiting for payment.")


def test_a_cancelled_then_rebooked_guest_may_enter(live):
    Booking.objects.filter(pk=live.booking.pk).update(status=Booking.Status.CANCELLED)
    make_booking(user=live.guest, slot=live.slot)

    assert access_live_session(user=live.guest, session_id=live.session.pk, role=Role.VIEWER, now=START)


def test_just_before_end_plus_grace_the_guest_may_enter_and_at_it_is_refused(live):
    assert access_live_session(
        user=live.guest, session_id=live.session.pk, role=Role.VIEWER, now=DEADLINE - timedelta(seconds=1)
    )

    refusal = _denied(live.guest, live.session.pk, now=DEADLINE)

    assert (refusal.code, refusal.message) == ("ended", "This live tour is over.")
    assert refusal.details == {}


def test_a_session_the_guide_ended_is_closed_even_inside_the_window(live):
    LiveSession.objects.filter(pk=live.session.pk).update(
        status=LiveSession.Status.ENDED, ended_reason=LiveSession.EndedReason.GUIDE_ENDED, ended_at=START
    )

    assert _denied(live.guest, live.session.pk, now=START + timedelta(minutes=1)).code == "ended"
    assert _denied(live.guide, live.session.pk, role=Role.PUBLISHER).code == "ended"


def test_a_banned_guest_is_refused(live):
    SessionBan.objects.create(session=live.session, user=live.guest, by=live.guide, reason="Spam in the chat")

    refusal = _denied(live.guest, live.session.pk)

    assert (refusal.code, refusal.message) == ("banned", "You have been removed from this live tour.")


def test_a_cancelled_date_refuses_everyone_with_the_same_reason(live, staff):
    Slot.objects.filter(pk=live.slot.pk).update(status=Slot.Status.CANCELLED)

    for user, role in [(live.guest, Role.VIEWER), (staff, Role.VIEWER), (live.guide, Role.PUBLISHER)]:
        refusal = _denied(user, live.session.pk, role=role)
        assert (refusal.code, refusal.message) == ("cancelled", "This tour date has been cancelled.")


def test_the_guide_may_publish_from_fifteen_minutes_before_the_start(live):
    assert access_live_session(
        user=live.guide, session_id=live.session.pk, role=Role.PUBLISHER, now=START - timedelta(minutes=15)
    )
    refusal = _denied(live.guide, live.session.pk, role=Role.PUBLISHER, now=START - timedelta(minutes=16))
    assert refusal.code == "too_early"
    assert refusal.details == {"opens_at": START - timedelta(minutes=15)}


def test_another_guide_cannot_publish(live, other_guide):
    refusal = _denied(other_guide, live.session.pk, role=Role.PUBLISHER)

    assert (refusal.code, refusal.message) == ("not_guide", "Only the guide of this tour can broadcast it.")


def test_neither_a_booked_guest_nor_staff_can_publish(live, staff):
    assert _denied(live.guest, live.session.pk, role=Role.PUBLISHER).code == "not_guide"
    assert _denied(staff, live.session.pk, role=Role.PUBLISHER).code == "not_guide"


def test_the_slot_guide_publishes_even_when_the_tour_belongs_to_another_guide(live, other_guide):
    # A substitute guide: the slot's guide broadcasts, the tour's owner does not.
    Slot.objects.filter(pk=live.slot.pk).update(guide=other_guide.guide_profile)

    assert access_live_session(user=other_guide, session_id=live.session.pk, role=Role.PUBLISHER, now=START)
    assert _denied(live.guide, live.session.pk, role=Role.PUBLISHER).code == "not_guide"


def test_staff_can_watch_without_a_booking_but_not_outside_the_window(live, staff):
    assert access_live_session(user=staff, session_id=live.session.pk, role=Role.VIEWER, now=START)
    assert _denied(staff, live.session.pk, now=START - timedelta(minutes=11)).code == "too_early"


def test_the_guide_can_open_the_viewer_page_of_their_own_session(live):
    assert access_live_session(user=live.guide, session_id=live.session.pk, role=Role.VIEWER, now=START)


def test_an_unknown_session_is_not_found(live):
    refusal = _denied(live.guest, live.session.pk + 1000)

    assert (refusal.code, refusal.message) == ("not_found", "There is no such live tour.")


def test_the_outsider_hears_not_booked_before_any_timing(live):
    # Someone without a booking learns nothing about the room's hours.
    assert _denied(make_user(), live.session.pk, now=START - timedelta(hours=5)).code == "not_booked"


def test_a_viewer_may_stay_until_their_booking_is_cancelled(live):
    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=START + timedelta(minutes=30)) is True

    Booking.objects.filter(pk=live.booking.pk).update(status=Booking.Status.CANCELLED)

    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=START + timedelta(minutes=30)) is False
    refusal = refusal_for(user=live.guest, session_id=live.session.pk, now=START + timedelta(minutes=30))
    assert refusal is not None
    assert refusal.code == "not_booked"


def test_a_viewer_may_not_stay_once_banned_or_once_the_session_is_over(live):
    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=DEADLINE) is False
    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=END) is True

    SessionBan.objects.create(session=live.session, user=live.guest)

    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=END) is False
    refusal = refusal_for(user=live.guest, session_id=live.session.pk, now=END)
    assert refusal is not None
    assert refusal.code == "banned"


# --- The same check for everyone in a session at once (the consumers' periodic re-check) --------


def test_refusals_for_many_gives_each_person_the_reason_refusal_for_gives(live, django_assert_max_num_queries):
    """The batched re-check must never let in (or keep out) anyone the one-by-one check would not."""
    cancelled = make_booking(slot=live.slot, status=Booking.Status.CANCELLED).user
    pending = make_booking(slot=live.slot, status=Booking.Status.PENDING_PAYMENT).user
    banned = make_booking(slot=live.slot).user
    SessionBan.objects.create(session=live.session, user=banned)
    staff = make_user(is_staff=True)
    people = [
        (person, role)
        for person in (live.guest, live.guide, cancelled, pending, banned, staff, make_user())
        for role in (Role.VIEWER, Role.PUBLISHER)
    ]
    moments = (START - timedelta(minutes=30), START, END + timedelta(minutes=2), DEADLINE + timedelta(minutes=1))

    for now in moments:
        # A fixed number of queries, plus one per person refused for their booking (for the reason).
        with django_assert_max_num_queries(3 + 3 * 2):
            many = refusals_for_many(session_id=live.session.pk, people=people, now=now)
        for person, role in people:
            one = refusal_for(user=person, session_id=live.session.pk, role=role, now=now)
            got = many.get((person.pk, role))
            assert ((got.code, got.message) if got else None) == ((one.code, one.message) if one else None), (
                person,
                role,
                now,
            )
    # During the tour: exactly the confirmed guest (viewer), the guide (both roles) and staff (viewer) may be in.
    allowed = {
        key
        for key in ((p.pk, r) for p, r in people)
        if key not in refusals_for_many(session_id=live.session.pk, people=people, now=START)
    }
    assert allowed == {
        (live.guest.pk, Role.VIEWER),
        (live.guide.pk, Role.VIEWER),
        (live.guide.pk, Role.PUBLISHER),
        (staff.pk, Role.VIEWER),
    }


def test_refusals_for_many_after_the_date_is_cancelled_refuses_everyone(live):
    Slot.objects.filter(pk=live.slot.pk).update(status=Slot.Status.CANCELLED)

    many = refusals_for_many(
        session_id=live.session.pk, people=[(live.guest, Role.VIEWER), (live.guide, Role.PUBLISHER)]
    )

    assert {refusal.code for refusal in many.values()} == {"cancelled"}
    assert len(many) == 2
