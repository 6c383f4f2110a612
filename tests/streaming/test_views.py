"""The live pages and their join tokens: who gets in, who gets a clear refusal, and what the page carries."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from bookings.models import Slot
from streaming.models import LiveSession
from streaming.rules import Role
from streaming.tokens import MAX_AGE_SECONDS, verify_join_token
from tests.streaming.conftest import make_booking, make_session, make_slot, make_user

pytestmark = pytest.mark.django_db


def slot_starting_in(minutes: int) -> Slot:
    start = timezone.now() + timedelta(minutes=minutes)
    return make_slot(start=start, end=start + timedelta(minutes=90))


@pytest.fixture
def soon() -> LiveSession:
    """A session whose room is open: the slot starts in 5 minutes (viewers may enter 10 before)."""
    return make_session(slot=slot_starting_in(5))


def guide_of(session: LiveSession) -> User:
    return session.slot.guide.user


def booked_guest(session: LiveSession, **fields: Any) -> User:
    guest = make_user()
    make_booking(user=guest, slot=session.slot, **fields)
    return guest


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def data_attribute(html: str, name: str) -> str:
    found = re.search(rf'data-{name}="([^"]*)"', html)
    assert found is not None, f"no data-{name} in the page"
    return found.group(1)


# --- broadcast ---------------------------------------------------------------------------------


def test_the_guide_gets_the_broadcast_page_with_a_publisher_token(soon: LiveSession) -> None:
    response = client_for(guide_of(soon)).get(reverse("streaming:broadcast", kwargs={"session_id": soon.pk}))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="live-preview"' in html
    assert "build/broadcast.js" in html
    claims = verify_join_token(data_attribute(html, "token"), session_id=soon.pk)
    assert (claims.user_id, claims.role) == (guide_of(soon).pk, Role.PUBLISHER)
    assert data_attribute(html, "ws-path") == f"/ws/live/{soon.pk}/"
    assert data_attribute(html, "token-url") == f"/live/{soon.pk}/token/?role=publisher"


def test_a_booked_guest_is_refused_the_broadcast_page(soon: LiveSession) -> None:
    response = client_for(booked_guest(soon)).get(reverse("streaming:broadcast", kwargs={"session_id": soon.pk}))

    assert response.status_code == 403
    assert "Only the guide of this tour can broadcast it." in response.content.decode()
    assert "live-preview" not in response.content.decode()


# --- watch -------------------------------------------------------------------------------------


def test_a_booked_guest_gets_the_watch_page_with_a_viewer_token_that_verifies(soon: LiveSession) -> None:
    guest = booked_guest(soon)

    response = client_for(guest).get(reverse("streaming:watch", kwargs={"session_id": soon.pk}))

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r"<video[^>]*\bplaysinline\b[^>]*\bautoplay\b[^>]*\bmuted\b", html)
    assert '<aside id="live-room-side"' in html
    claims = verify_join_token(data_attribute(html, "token"), session_id=soon.pk, role=Role.VIEWER)
    assert claims.user_id == guest.pk
    assert data_attribute(html, "session-id") == str(soon.pk)
    assert data_attribute(html, "status") == "scheduled"
    assert '<script type="module"' in html
    assert "<script>" not in html  # strict CSP: no inline code


def test_a_customer_without_a_booking_gets_the_refusal_page_with_a_link_to_the_tour(soon: LiveSession) -> None:
    response = client_for(make_user()).get(reverse("streaming:watch", kwargs={"session_id": soon.pk}))

    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-refusal="not_booked"' in html
    assert "Only guests with a booking for this tour can watch it live." in html
    assert f'href="{soon.slot.tour.get_absolute_url()}"' in html
    assert "data-token" not in html


def test_a_guest_whose_booking_was_cancelled_is_told_so(soon: LiveSession) -> None:
    guest = booked_guest(soon, status="cancelled")

    response = client_for(guest).get(reverse("streaming:watch", kwargs={"session_id": soon.pk}))

    assert response.status_code == 403
    assert "Your booking for this tour was cancelled." in response.content.decode()


def test_a_booked_guest_who_comes_too_early_is_told_when_the_room_opens() -> None:
    session = make_session(slot=slot_starting_in(120))
    guest = booked_guest(session)

    response = client_for(guest).get(reverse("streaming:watch", kwargs={"session_id": session.pk}))

    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-refusal="too_early"' in html
    # The guest's zone is Europe/Rome (the factory's default): the page prints the time there.
    opens_at = timezone.localtime(session.slot.start - timedelta(minutes=10), ZoneInfo(guest.timezone))
    assert f"The room opens at {opens_at:%H:%M} (your time)." in html


def test_staff_may_watch_without_a_booking(soon: LiveSession) -> None:
    response = client_for(make_user(role="staff")).get(reverse("streaming:watch", kwargs={"session_id": soon.pk}))

    assert response.status_code == 200


def test_an_unknown_session_is_a_404_refusal_page() -> None:
    response = client_for(make_user()).get(reverse("streaming:watch", kwargs={"session_id": 999_999}))

    assert response.status_code == 404
    assert "There is no such live tour." in response.content.decode()


def test_anonymous_visitors_are_sent_to_log_in(soon: LiveSession) -> None:
    for name in ("streaming:watch", "streaming:broadcast"):
        url = reverse(name, kwargs={"session_id": soon.pk})
        response = client_for(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("account_login"))
        assert url in response["Location"]


# --- token -------------------------------------------------------------------------------------


def test_the_token_endpoint_gives_a_booked_guest_a_fresh_viewer_token(soon: LiveSession) -> None:
    guest = booked_guest(soon)

    response = client_for(guest).get(reverse("streaming:token", kwargs={"session_id": soon.pk}), {"role": "viewer"})

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    body = response.json()
    assert body["expires_in"] == MAX_AGE_SECONDS
    claims = verify_join_token(body["token"], session_id=soon.pk, role=Role.VIEWER)
    assert claims.user_id == guest.pk


def test_the_token_endpoint_refuses_a_publisher_token_to_a_guest_with_json(soon: LiveSession) -> None:
    response = client_for(booked_guest(soon)).get(
        reverse("streaming:token", kwargs={"session_id": soon.pk}), {"role": "publisher"}
    )

    assert response.status_code == 403
    assert response.json() == {"error": "Only the guide of this tour can broadcast it.", "code": "not_guide"}


def test_the_token_endpoint_refuses_a_customer_without_a_booking(soon: LiveSession) -> None:
    response = client_for(make_user()).get(
        reverse("streaming:token", kwargs={"session_id": soon.pk}), {"role": "viewer"}
    )

    assert response.status_code == 403
    assert response.json()["code"] == "not_booked"
    assert "token" not in response.json()


def test_the_token_endpoint_rejects_an_unknown_role(soon: LiveSession) -> None:
    response = client_for(guide_of(soon)).get(
        reverse("streaming:token", kwargs={"session_id": soon.pk}), {"role": "admin"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "bad_role"


def test_the_token_endpoint_refuses_anonymous_visitors_with_json(soon: LiveSession) -> None:
    response = client_for(None).get(reverse("streaming:token", kwargs={"session_id": soon.pk}), {"role": "viewer"})

    assert response.status_code == 403
    assert response.json()["code"] == "login_required"


# --- slot_live ---------------------------------------------------------------------------------


def test_slot_live_sends_the_guide_to_broadcast_and_a_guest_to_watch_creating_the_session_once() -> None:
    slot = slot_starting_in(5)
    guest = make_user()
    make_booking(user=guest, slot=slot)
    url = reverse("streaming:slot_live", kwargs={"slot_id": slot.pk})

    guide_response = client_for(slot.guide.user).get(url)
    guest_response = client_for(guest).get(url)

    session = LiveSession.objects.get(slot=slot)
    assert guide_response.status_code == 302
    assert guide_response["Location"] == reverse("streaming:broadcast", kwargs={"session_id": session.pk})
    assert guest_response.status_code == 302
    assert guest_response["Location"] == reverse("streaming:watch", kwargs={"session_id": session.pk})
    assert LiveSession.objects.filter(slot=slot).count() == 1


def test_slot_live_of_an_unknown_slot_is_404() -> None:
    response = client_for(make_user()).get(reverse("streaming:slot_live", kwargs={"slot_id": 999_999}))

    assert response.status_code == 404


def test_slot_live_sends_anonymous_visitors_to_log_in() -> None:
    slot = slot_starting_in(5)

    response = client_for(None).get(reverse("streaming:slot_live", kwargs={"slot_id": slot.pk}))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not LiveSession.objects.filter(slot=slot).exists()


# --- ways in -----------------------------------------------------------------------------------


def test_a_confirmed_booking_page_links_to_the_live_room(soon: LiveSession) -> None:
    guest = make_user()
    booking = make_booking(user=guest, slot=soon.slot)

    page = client_for(guest).get(reverse("bookings:booking_detail", kwargs={"pk": booking.pk})).content.decode()

    assert f'href="{reverse("streaming:slot_live", kwargs={"slot_id": soon.slot_id})}"' in page
    assert "Join the live tour" in page


def test_the_guides_schedule_links_each_upcoming_date_to_going_live(soon: LiveSession) -> None:
    page = client_for(guide_of(soon)).get(reverse("bookings:guide_schedule")).content.decode()

    assert f'href="{reverse("streaming:slot_live", kwargs={"slot_id": soon.slot_id})}"' in page
