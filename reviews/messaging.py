"""What reviews tell people: review requests and reminders, moderation outcomes, guide replies.

Like bookings.messaging: each message is written as rows (e-mail, in-app notice) inside the
caller's transaction and delivered after commit; each is rendered in the recipient's language and
time zone and carries an idempotency key, so a retry never sends it twice.
"""

from __future__ import annotations

import logging
import zoneinfo

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from bookings import rules as booking_rules
from bookings.models import Booking
from notifications import services as notifications
from reviews.models import Review, ReviewRequest

logger = logging.getLogger(__name__)


def _zone_of(user: User) -> zoneinfo.ZoneInfo:
    try:
        return booking_rules.get_zone(user.timezone or "UTC")
    except booking_rules.InvalidTimeZone:
        logger.warning("user %s has an unknown time zone %r; writing times in UTC", user.pk, user.timezone)
        return zoneinfo.ZoneInfo("UTC")


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def _render(user: User, kind: str, context: dict[str, object]) -> tuple[str, str]:
    """(subject, body) of ``reviews/email/<kind>`` in the recipient's language and zone."""
    zone = _zone_of(user)
    with translation.override(user.language or settings.LANGUAGE_CODE), timezone.override(zone):
        full_context = {"user": user, "user_timezone": zone.key, **context}
        subject = render_to_string(f"reviews/email/{kind}_subject.txt", full_context).strip()
        body = render_to_string(f"reviews/email/{kind}.txt", full_context)
    return subject, body


def _first_paragraph(body: str, fallback: str) -> str:
    text = body.strip()
    return text.split("\n\n")[0][:300] if text else fallback


def _send(*, user: User, kind: str, key: str, url: str, context: dict[str, object], email: bool = True) -> None:
    subject, body = _render(user, kind, context)
    if email:
        notifications.queue_email(to=[user.email], subject=subject, body_text=body, idempotency_key=key, user=user)
    notifications.notify(
        user=user, kind=kind, title=subject, body=_first_paragraph(body, subject), url=url, idempotency_key=key
    )


def send_review_request(request: ReviewRequest) -> None:
    """The request (2 h after the tour) or its reminder (3 days later); called with the row written."""
    booking: Booking = request.booking
    slot = booking.slot
    review_path = reverse("reviews:write", kwargs={"booking_id": booking.pk})
    session = getattr(slot, "live_session", None)
    keepsake_url = (
        _absolute(reverse("streaming:keepsake", kwargs={"session_id": session.pk})) if session is not None else ""
    )
    context: dict[str, object] = {
        "booking": booking,
        "slot": slot,
        "tour": slot.tour,
        "guide": slot.guide,
        "review_url": _absolute(review_path),
        "keepsake_url": keepsake_url,
    }
    kind = "review_request" if request.kind == ReviewRequest.Kind.REQUEST else "review_reminder"
    _send(user=booking.user, kind=kind, key=request.idempotency_key, url=review_path, context=context)


def send_moderation_outcome(review: Review) -> None:
    """Tell the author their review was published or rejected (and why); once per decision."""
    assert review.moderated_at is not None
    kind = "review_approved" if review.status == Review.Status.APPROVED else "review_rejected"
    key = f"review:{review.pk}:{review.status}:{int(review.moderated_at.timestamp())}"
    context: dict[str, object] = {
        "review": review,
        "tour": review.tour,
        "review_url": _absolute(review.get_absolute_url()),
        "tour_url": _absolute(review.tour.get_absolute_url()),
    }
    _send(user=review.author, kind=kind, key=key, url=review.get_absolute_url(), context=context)


def notify_guide_of_published_review(review: Review) -> None:
    """An in-app notice to the guide: a review of their tour is public and can be answered."""
    key = f"review:{review.pk}:published-to-guide"
    context: dict[str, object] = {"review": review, "tour": review.tour}
    _send(
        user=review.guide.user,
        kind="review_published_guide",
        key=key,
        url=review.get_absolute_url(),
        context=context,
        email=False,
    )


def notify_author_of_reply(review: Review) -> None:
    key = f"review:{review.pk}:reply"
    context: dict[str, object] = {"review": review, "tour": review.tour, "guide": review.guide}
    _send(
        user=review.author,
        kind="review_reply",
        key=key,
        url=review.get_absolute_url(),
        context=context,
        email=False,
    )
