"""A live session's life: created on demand, goes live (epochs), ends, auto-ends, bans, presence."""

from datetime import timedelta

import pytest

from bookings.models import Slot
from streaming.models import LiveSession, SessionBan, ViewerPresence
from streaming.rules import Countdown, Phase, Role
from streaming.selectors import LiveAccessDenied, LiveError, access_live_session, countdown_for, viewer_may_stay
from streaming.services import (
    ban_viewer,
    end_overdue_sessions,
    end_session,
    go_live,
    lift_ban,
    record_presence,
    session_for_slot,
)
from tests.streaming.conftest import DEADLINE, END, START, make_session, make_slot, make_user

pytestmark = pytest.mark.django_db

Reason = LiveSession.EndedReason


def test_session_for_slot_creates_one_scheduled_session_and_then_finds_it():
    slot = make_slot(start=START, end=END)

    first = session_for_slot(slot)
    second = session_for_slot(slot)

    assert first.pk == second.pk
    assert LiveSession.objects.filter(slot=slot).count() == 1
    assert (first.status, first.publisher_epoch, first.grace_minutes) == ("scheduled", 0, 5)
    assert (first.started_at, first.ended_at, first.ended_reason) == (None, None, "")


# --- going live -----------------------------------------------------------------------------


def test_going_live_starts_the_session_at_epoch_one(live):
    at = START - timedelta(minutes=12)

    outcome = go_live(user=live.guide, session_id=live.session.pk, now=at)

    assert (outcome.went_live, outcome.epoch_raised) == (True, True)
    session = live.reload()
    assert (session.status, session.started_at, session.publisher_epoch) == ("live", at, 1)


def test_going_live_twice_changes_nothing_the_second_time(live):
    go_live(user=live.guide, session_id=live.session.pk, now=START)

    again = go_live(user=live.guide, session_id=live.session.pk, now=START + timedelta(minutes=1))

    assert (again.went_live, again.epoch_raised) == (False, False)
    session = live.reload()
    assert (session.status, session.started_at, session.publisher_epoch) == ("live", START, 1)
    assert LiveSession.objects.filter(slot=live.slot).count() == 1


def test_each_republish_raises_the_epoch_and_keeps_the_start(live):
    go_live(user=live.guide, session_id=live.session.pk, now=START)

    second = go_live(user=live.guide, session_id=live.session.pk, republish=True, now=START + timedelta(minutes=3))
    third = go_live(user=live.guide, session_id=live.session.pk, republish=True, now=START + timedelta(minutes=4))

    assert (second.went_live, second.epoch_raised, second.session.publisher_epoch) == (False, True, 2)
    assert third.session.publisher_epoch == 3
    session = live.reload()
    assert (session.status, session.started_at, session.publisher_epoch) == ("live", START, 3)


def test_a_first_publish_marked_as_republish_still_starts_at_epoch_one(live):
    outcome = go_live(user=live.guide, session_id=live.session.pk, republish=True, now=START)

    assert (outcome.went_live, outcome.epoch_raised) == (True, True)
    assert live.reload().publisher_epoch == 1


def test_another_guide_cannot_go_live_and_the_row_is_untouched(live, other_guide):
    with pytest.raises(LiveAccessDenied) as caught:
        go_live(user=other_guide, session_id=live.session.pk, now=START)

    assert caught.value.code == "not_guide"
    session = live.reload()
    assert (session.status, session.publisher_epoch) == ("scheduled", 0)


def test_going_live_sixteen_minutes_early_is_refused(live):
    with pytest.raises(LiveAccessDenied) as caught:
        go_live(user=live.guide, session_id=live.session.pk, now=START - timedelta(minutes=16))

    assert caught.value.code == "too_early"
    assert live.reload().status == "scheduled"


def test_an_ended_session_cannot_go_live_again(live):
    go_live(user=live.guide, session_id=live.session.pk, now=START)
    end_session(
        user=live.guide, session_id=live.session.pk, reason=Reason.GUIDE_ENDED, now=START + timedelta(minutes=30)
    )

    with pytest.raises(LiveAccessDenied) as caught:
        go_live(user=live.guide, session_id=live.session.pk, republish=True, now=START + timedelta(minutes=31))

    assert caught.value.code == "ended"
    assert live.reload().publisher_epoch == 1


# --- ending ---------------------------------------------------------------------------------


def test_the_guide_ends_the_session_early(live):
    go_live(user=live.guide, session_id=live.session.pk, now=START)
    at = START + timedelta(minutes=40)

    outcome = end_session(user=live.guide, session_id=live.session.pk, reason=Reason.GUIDE_ENDED, now=at)

    assert outcome.ended_now is True
    session = live.reload()
    assert (session.status, session.ended_reason, session.ended_at) == ("ended", "guide_ended", at)
    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=at) is False


def test_ending_twice_keeps_the_first_end(live):
    end_session(user=live.guide, session_id=live.session.pk, reason=Reason.COMPLETED, now=END)

    again = end_session(
        user=live.guide, session_id=live.session.pk, reason=Reason.GUIDE_ENDED, now=END + timedelta(minutes=1)
    )

    assert again.ended_now is False
    session = live.reload()
    assert (session.ended_reason, session.ended_at) == ("completed", END)


def test_staff_may_end_a_session_as_cancelled(live, staff):
    end_session(user=staff, session_id=live.session.pk, reason=Reason.CANCELLED, now=START)

    assert (live.reload().status, live.session.ended_reason) == ("ended", "cancelled")
    with pytest.raises(LiveAccessDenied) as caught:
        access_live_session(user=live.guest, session_id=live.session.pk, role=Role.VIEWER, now=START)
    assert caught.value.code == "cancelled"


def test_a_guest_or_another_guide_cannot_end_the_session(live, other_guide):
    for user in (live.guest, other_guide):
        with pytest.raises(LiveAccessDenied) as caught:
            end_session(user=user, session_id=live.session.pk, reason=Reason.GUIDE_ENDED, now=START)
        assert caught.value.code == "not_guide"
    assert live.reload().status == "scheduled"


def test_auto_ended_is_reserved_for_the_sweep(live):
    with pytest.raises(ValueError, match="auto_ended is set by the automatic end only"):
        end_session(user=live.guide, session_id=live.session.pk, reason=Reason.AUTO_ENDED, now=END)


# --- the automatic end ----------------------------------------------------------------------


def test_the_sweep_ends_sessions_past_end_plus_grace_at_their_deadline(live):
    go_live(user=live.guide, session_id=live.session.pk, now=START)
    not_yet = make_session(slot=make_slot(start=START + timedelta(minutes=1), end=END + timedelta(minutes=1)))
    never_live = make_session(slot=make_slot(start=START - timedelta(hours=3), end=END - timedelta(hours=3)))
    no_grace = make_session(slot=make_slot(start=START, end=END), grace_minutes=0)
    already_ended = make_session(slot=make_slot(start=START - timedelta(days=1), end=END - timedelta(days=1)))
    end_session(
        user=already_ended.slot.guide.user,
        session_id=already_ended.pk,
        reason=Reason.COMPLETED,
        now=END - timedelta(days=1),
    )

    ended = end_overdue_sessions(DEADLINE)

    assert ended == sorted([live.session.pk, never_live.pk, no_grace.pk])
    session = live.reload()
    assert (session.status, session.ended_reason, session.ended_at) == ("ended", "auto_ended", DEADLINE)
    never_live.refresh_from_db()
    assert (never_live.status, never_live.ended_reason, never_live.ended_at) == (
        "ended",
        "auto_ended",
        END - timedelta(hours=3) + timedelta(minutes=5),
    )
    no_grace.refresh_from_db()
    assert (no_grace.ended_reason, no_grace.ended_at) == ("auto_ended", END)
    not_yet.refresh_from_db()
    assert not_yet.status == "scheduled"
    already_ended.refresh_from_db()
    assert already_ended.ended_reason == "completed"
    assert end_overdue_sessions(DEADLINE) == []


def test_a_second_before_the_deadline_the_sweep_leaves_a_running_tour_alone(live):
    go_live(user=live.guide, session_id=live.session.pk, now=START)

    assert end_overdue_sessions(DEADLINE - timedelta(seconds=1)) == []
    assert live.reload().status == "live"


def test_the_sweep_ends_the_session_of_a_cancelled_date_as_cancelled(live):
    go_live(user=live.guide, session_id=live.session.pk, now=START)
    Slot.objects.filter(pk=live.slot.pk).update(status=Slot.Status.CANCELLED)
    at = START + timedelta(minutes=2)

    assert end_overdue_sessions(at) == [live.session.pk]

    session = live.reload()
    assert (session.status, session.ended_reason, session.ended_at) == ("ended", "cancelled", at)


# --- bans -----------------------------------------------------------------------------------


def test_the_guide_bans_a_guest_once_however_often_they_click(live):
    ban = ban_viewer(by=live.guide, session_id=live.session.pk, user=live.guest, reason="Insults in the chat")
    again = ban_viewer(by=live.guide, session_id=live.session.pk, user=live.guest, reason="Again")

    assert again.pk == ban.pk
    assert list(SessionBan.objects.values_list("session_id", "user_id", "by_id", "reason")) == [
        (live.session.pk, live.guest.pk, live.guide.pk, "Insults in the chat")
    ]
    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=START) is False


def test_staff_may_ban_and_lift_a_ban(live, staff):
    ban_viewer(by=staff, session_id=live.session.pk, user=live.guest)

    assert lift_ban(by=staff, session_id=live.session.pk, user=live.guest) is True
    assert lift_ban(by=staff, session_id=live.session.pk, user=live.guest) is False
    assert viewer_may_stay(user=live.guest, session_id=live.session.pk, now=START) is True


def test_only_the_guide_or_staff_may_ban(live, other_guide):
    bystander = make_user()
    for by in (live.guest, other_guide):
        with pytest.raises(LiveAccessDenied) as caught:
            ban_viewer(by=by, session_id=live.session.pk, user=bystander)
        assert caught.value.code == "not_guide"
    assert SessionBan.objects.count() == 0


def test_the_guide_and_staff_cannot_be_banned(live, staff):
    for target in (live.guide, staff):
        with pytest.raises(LiveError) as caught:
            ban_viewer(by=live.guide, session_id=live.session.pk, user=target)
        assert (caught.value.code, caught.value.message) == (
            "cannot_ban",
            "The guide and staff cannot be removed from a live tour.",
        )
    assert SessionBan.objects.count() == 0


# --- presence -------------------------------------------------------------------------------


def test_presence_adds_up_heartbeats_and_skips_absences(live):
    record_presence(user=live.guest, session_id=live.session.pk, now=START)
    record_presence(user=live.guest, session_id=live.session.pk, now=START + timedelta(seconds=30))
    record_presence(user=live.guest, session_id=live.session.pk, now=START + timedelta(seconds=60))
    # Gone for ten minutes (the laptop slept): that time is not counted.
    record_presence(user=live.guest, session_id=live.session.pk, now=START + timedelta(minutes=11))
    presence = record_presence(
        user=live.guest, session_id=live.session.pk, now=START + timedelta(minutes=11, seconds=20)
    )

    assert (presence.first_joined_at, presence.last_seen_at, presence.total_seconds) == (
        START,
        START + timedelta(minutes=11, seconds=20),
        80,
    )
    assert ViewerPresence.objects.count() == 1


def test_the_room_countdown_follows_the_slot_until_the_session_ends(live):
    assert countdown_for(live.session, now=END - timedelta(minutes=2)) == Countdown(120, warning=True, phase=Phase.LIVE)

    end_session(user=live.guide, session_id=live.session.pk, reason=Reason.GUIDE_ENDED, now=START)

    assert countdown_for(live.reload(), now=START) == Countdown(0, warning=True, phase=Phase.OVER)
