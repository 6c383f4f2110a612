"""streaming.attendance: the one definition of "attended" (module docstring there)."""

from datetime import timedelta

import pytest

from streaming import attendance
from streaming.models import LiveSession, SessionBan
from tests.reviews.helpers import make_user, mark_present, past_tour

pytestmark = pytest.mark.django_db


def attended_ids():
    return set(attendance.attended_bookings().values_list("pk", flat=True))


def test_a_guest_who_was_present_attended_whatever_the_ending():
    for reason in ("completed", "auto_ended", "guide_ended"):
        tour = past_tour(reason=reason, present=True)
        assert attendance.has_attended(booking=tour.booking), reason


def test_every_confirmed_guest_of_a_completed_or_auto_ended_tour_attended():
    completed = past_tour(reason="completed", present=False)
    ran_to_the_end = past_tour(reason="auto_ended", present=False)
    assert {completed.booking.pk, ran_to_the_end.booking.pk} <= attended_ids()


def test_a_guest_missing_from_a_tour_the_guide_stopped_early_did_not_attend():
    tour = past_tour(reason="guide_ended", present=False)
    assert not attendance.has_attended(booking=tour.booking)


def test_a_session_that_never_went_live_is_a_no_show_not_a_tour():
    # The automatic end also closes sessions the guide never started.
    tour = past_tour(reason="auto_ended", went_live=False)
    assert not attendance.has_attended(booking=tour.booking)


def test_a_cancelled_session_or_slot_or_booking_never_counts():
    cancelled_session = past_tour(reason="cancelled")
    cancelled_slot = past_tour()
    cancelled_slot.slot.status = "cancelled"
    cancelled_slot.slot.save()
    cancelled_booking = past_tour()
    cancelled_booking.add_guest(status="cancelled")
    unpaid = past_tour()
    unpaid.add_guest(status="pending_payment")

    ids = attended_ids()
    assert cancelled_session.booking.pk not in ids
    assert cancelled_slot.booking.pk not in ids
    assert cancelled_booking.bookings[1].pk not in ids
    assert unpaid.bookings[1].pk not in ids
    assert cancelled_booking.booking.pk in ids  # the other guest of that slot did attend


def test_nobody_has_attended_a_tour_that_is_still_live():
    tour = past_tour(ended=False)
    assert tour.session.status == LiveSession.Status.LIVE
    assert not attendance.has_attended(booking=tour.booking)


def test_a_heartbeat_in_the_waiting_room_only_is_not_presence():
    tour = past_tour(reason="guide_ended", present=False)
    mark_present(tour.session, tour.guest, seconds=0)
    presence = tour.session.presences.get(user=tour.guest)
    assert tour.session.started_at is not None
    presence.first_joined_at = presence.last_seen_at = tour.session.started_at - timedelta(minutes=5)
    presence.save()
    assert not attendance.has_attended(booking=tour.booking)


def test_a_banned_guest_still_attended():
    tour = past_tour()
    SessionBan.objects.create(session=tour.session, user=tour.guest, by=tour.guide)
    assert attendance.has_attended(booking=tour.booking)


def test_attendee_count_counts_distinct_viewers_seen_live_not_the_guide_nor_staff():
    tour = past_tour(guests=3, present=True)
    tour.add_guest(present=False)
    mark_present(tour.session, tour.guide)
    mark_present(tour.session, make_user(role="staff"))
    assert attendance.attendee_count(session=tour.session) == 3
