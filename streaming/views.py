"""The live pages: the guide's broadcast page, the guests' watch page, their join tokens.

Every page and token goes through ``selectors.access_live_session``; a refusal is a page (or JSON)
with status 403 that says why, in the person's language, never a bare error.
"""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import User
from bookings.models import Slot
from streaming import rules
from streaming.models import LiveSession
from streaming.rules import Role
from streaming.selectors import LiveAccessDenied, access_live_session, countdown_for
from streaming.services import session_for_slot
from streaming.tokens import MAX_AGE_SECONDS, issue_join_token

__all__ = ["broadcast", "slot_live", "token", "watch"]

# The selectors' messages are English and stable; these are the texts people read (translatable).
_REFUSAL_TEXT: dict[str, Promise] = {
    "not_found": gettext_lazy("There is no such live tour."),
    "cancelled": gettext_lazy("This tour date has been cancelled."),
    "not_guide": gettext_lazy("Only the guide of this tour can broadcast it."),
    "not_booked": gettext_lazy("Only guests with a booking for this tour can watch it live."),
    "banned": gettext_lazy("You have been removed from this live tour."),
    "ended": gettext_lazy("This live tour is over."),
    "too_early": gettext_lazy("The live room is not open yet."),
}
# not_booked says more when the person has a booking that does not count (yet).
_NOT_BOOKED_DETAIL: dict[str, Promise] = {
    "Your booking for this tour is waiting for payment.": gettext_lazy(
        "Your booking for this tour is waiting for payment."
    ),
    "Your booking for this tour was cancelled.": gettext_lazy("Your booking for this tour was cancelled."),
}


def refusal_text(refusal: LiveAccessDenied) -> str:
    if refusal.code == "not_booked" and refusal.message in _NOT_BOOKED_DETAIL:
        return str(_NOT_BOOKED_DETAIL[refusal.message])
    text = _REFUSAL_TEXT.get(refusal.code)
    return str(text) if text is not None else refusal.message


def _server_time_ms() -> int:
    return int(time.time() * 1000)


def _ws_path(session_id: int) -> str:
    return f"/ws/live/{session_id}/"


def _page_strings() -> dict[str, str]:
    """Texts the page scripts show, translated here (the scripts hold no English of their own)."""
    return {
        "connecting": gettext("Connecting…"),
        "reconnecting": gettext("Connection lost. Reconnecting…"),
        "connected": gettext("Connected"),
        "waiting": gettext("Waiting for the guide to go live…"),
        "starting": gettext("Starting the video…"),
        "ended": gettext("This live tour is over."),
        "kicked": gettext("You have left the live tour."),
        "quality_good": gettext("Good"),
        "quality_fair": gettext("Unstable"),
        "quality_poor": gettext("Poor"),
        "quality_offline": gettext("Offline"),
        "delay": gettext("about {ms} ms"),
        "bitrate": gettext("{kbps} kbit/s, {loss}% lost"),
        "starts_in": gettext("Starts in {time}"),
        "ends_in": gettext("{time} left"),
        "grace": gettext("Overtime: ends in {time}"),
        "over": gettext("Time is up"),
        "warning": gettext("Less than 5 minutes left."),
        "sound_on": gettext("Sound on"),
        "tap_for_sound": gettext("Tap for sound"),
        "mute": gettext("Mute microphone"),
        "unmute": gettext("Unmute microphone"),
        "go_live": gettext("Go live"),
        "live": gettext("Live"),
        "end_confirm": gettext("End the live tour for everyone? This cannot be undone."),
        "camera_error": gettext("The camera or microphone could not be started: {reason}"),
        "publish_error": gettext("Could not go live. Trying again…"),
        "wake_lock_off": gettext("Keep the screen on yourself: this browser cannot."),
        # Fatal codes of the signalling protocol (error/kicked), shown instead of the server's English.
        **{f"refused_{code}": str(message) for code, message in _REFUSAL_TEXT.items()},
        "refused_booking_cancelled": gettext("Your booking for this tour was cancelled."),
        "refused_session_ended": gettext("This live tour is over."),
        "refused_bad_token": gettext("Your access to the live tour expired. Please reload the page."),
        "refused_login_required": gettext("Please log in again."),
    }


def _room_context(request: HttpRequest, session: LiveSession, role: Role) -> dict[str, Any]:
    user = request.user
    assert isinstance(user, User)
    slot = session.slot
    countdown = countdown_for(session)
    return {
        "session": session,
        "slot": slot,
        "tour": slot.tour,
        "role": str(role),
        "token": issue_join_token(user=user, session=session, role=role),
        "token_url": f"{reverse('streaming:token', kwargs={'session_id': session.pk})}?role={role}",
        "ws_path": _ws_path(session.pk),
        "server_time": _server_time_ms(),
        "countdown": countdown,
        "grace_seconds": int(session.grace.total_seconds()),
        "warning_seconds": int(rules.WARNING_BEFORE_END.total_seconds()),
        "duration_seconds": int((slot.end - slot.start).total_seconds()),
        "strings": _page_strings(),
    }


def _refusal_page(request: HttpRequest, session_id: int, refusal: LiveAccessDenied) -> HttpResponse:
    session = LiveSession.objects.select_related("slot__tour").filter(pk=session_id).first()
    context = {
        "refusal": refusal,
        "reason": refusal_text(refusal),
        "opens_at": refusal.details.get("opens_at"),
        "tour": session.slot.tour if session is not None else None,
    }
    status = 404 if refusal.code == "not_found" else refusal.status_code
    return render(request, "streaming/refused.html", context, status=status)


def _live_page(request: HttpRequest, session_id: int, role: Role, template: str) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    try:
        session = access_live_session(user=user, session_id=session_id, role=role)
    except LiveAccessDenied as refusal:
        return _refusal_page(request, session_id, refusal)
    return render(request, template, _room_context(request, session, role))


@never_cache
@require_GET
@login_required
def broadcast(request: HttpRequest, session_id: int) -> HttpResponse:
    """The guide's page: camera, microphone, go live / end."""
    return _live_page(request, session_id, Role.PUBLISHER, "streaming/broadcast.html")


@never_cache
@require_GET
@login_required
def watch(request: HttpRequest, session_id: int) -> HttpResponse:
    """A guest's page: the guide's video with under a second of delay."""
    return _live_page(request, session_id, Role.VIEWER, "streaming/watch.html")


@never_cache
@require_GET
def token(request: HttpRequest, session_id: int) -> JsonResponse:
    """A fresh join token for the signalling socket (the page asks before every reconnect)."""
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return JsonResponse({"error": gettext("Please log in again."), "code": "login_required"}, status=403)
    try:
        role = Role(request.GET.get("role", ""))
    except ValueError:
        return JsonResponse({"error": gettext("The role must be publisher or viewer."), "code": "bad_role"}, status=400)
    try:
        session = access_live_session(user=user, session_id=session_id, role=role)
    except LiveAccessDenied as refusal:
        status = 404 if refusal.code == "not_found" else refusal.status_code
        return JsonResponse({"error": refusal_text(refusal), "code": refusal.code}, status=status)
    return JsonResponse(
        {"token": issue_join_token(user=user, session=session, role=role), "expires_in": MAX_AGE_SECONDS}
    )


@require_GET
@login_required
def slot_live(request: HttpRequest, slot_id: int) -> HttpResponseBase:
    """The way in from a slot: the guide to the broadcast page, everyone else to the watch page."""
    slot = get_object_or_404(Slot.objects.select_related("guide"), pk=slot_id)
    session = session_for_slot(slot)
    name = "streaming:broadcast" if slot.guide.user_id == request.user.pk else "streaming:watch"
    return redirect(name, session_id=session.pk)
