"""Review state changes: write, moderate, reply; send the review requests that are due.

Authorization is checked here, not only in views: every function takes the acting person and
re-checks under a row lock what the pages only offer. Messages (e-mail and in-app rows) are written
in the same transaction as the change and delivered after commit (reviews.messaging).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from bookings.models import Booking
from reviews import messaging, rules
from reviews.models import Review, ReviewRequest
from reviews.selectors import ReviewError, ReviewNotAllowed, access_booking_for_review
from streaming import attendance

__all__ = [
    "approve_review",
    "approve_reviews",
    "reject_review",
    "reject_reviews",
    "reply_to_review",
    "send_due_review_requests",
    "submit_review",
]

logger = logging.getLogger(__name__)


def _check_rating(rating: int) -> None:
    if not rules.MIN_RATING <= rating <= rules.MAX_RATING:
        raise ReviewError("bad_rating", _("Choose between 1 and 5 stars."))


def _check_text(text: str) -> None:
    problem = rules.text_problem(text)
    if problem == "too_short":
        raise ReviewError(
            "too_short",
            _("Write at least %(count)d characters, or leave the text empty.") % {"count": rules.TEXT_MIN_LENGTH},
        )
    if problem == "too_long":
        raise ReviewError("too_long", _("Keep it under %(count)d characters.") % {"count": rules.TEXT_MAX_LENGTH})


def submit_review(*, author: User, booking_id: int, rating: int, text: str = "") -> Review:
    """``author`` rates (and may describe) the tour of one of their attended bookings, once.

    The review waits for moderation (``pending``). Raises ReviewNotAllowed (not theirs, not
    attended, already reviewed) or ReviewError (bad rating or text).
    """
    text = text.strip()
    _check_rating(rating)
    _check_text(text)
    try:
        with transaction.atomic():
            # FOR UPDATE on the booking: two tabs submitting at once are serialised, and the
            # second one finds the first review; the unique booking column is the last word.
            Booking.objects.select_for_update().filter(pk=booking_id).first()
            booking = access_booking_for_review(user=author, booking_id=booking_id)
            return Review.objects.create(
                booking=booking,
                tour=booking.slot.tour,
                guide=booking.slot.guide,
                author=author,
                rating=rating,
                text=text,
            )
    except IntegrityError:
        if Review.objects.filter(booking_id=booking_id).exists():
            raise ReviewNotAllowed("already_reviewed", _("You have already reviewed this tour.")) from None
        raise


def _check_moderator(user: User) -> None:
    if not (user.is_active and user.is_staff and user.has_perm("reviews.change_review")):
        raise ReviewNotAllowed("not_staff", _("Only staff can moderate reviews."))


def _moderate(*, review_id: int, by: User, status: Review.Status, reason: str, now: datetime) -> Review | None:
    """Set the decision on one review under its row lock; None when it already had that status."""
    with transaction.atomic():
        review = (
            Review.objects.select_for_update(of=("self",))
            .select_related("author", "tour", "guide__user")
            .get(pk=review_id)
        )
        if review.status == status:
            return None  # a double click, or a bulk action over reviews already decided
        was_published = review.is_published
        review.status = status
        review.moderated_at = now
        review.moderated_by = by
        review.rejection_reason = reason if status == Review.Status.REJECTED else ""
        review.save(update_fields=["status", "moderated_at", "moderated_by", "rejection_reason"])
        messaging.send_moderation_outcome(review)
        if review.is_published and not was_published:
            messaging.notify_guide_of_published_review(review)
    return review


def approve_review(*, review_id: int, by: User, now: datetime | None = None) -> Review | None:
    """Publish a review (pending, or rejected earlier and reconsidered); the author is told."""
    _check_moderator(by)
    return _moderate(review_id=review_id, by=by, status=Review.Status.APPROVED, reason="", now=now or timezone.now())


def reject_review(*, review_id: int, by: User, reason: str, now: datetime | None = None) -> Review | None:
    """Refuse (or take down) a review; the author is told the reason, which is required."""
    _check_moderator(by)
    reason = reason.strip()
    if not reason:
        raise ReviewError("reason_required", _("Give the author a reason for the rejection."))
    return _moderate(
        review_id=review_id, by=by, status=Review.Status.REJECTED, reason=reason[:500], now=now or timezone.now()
    )


def approve_reviews(*, review_ids: Iterable[int], by: User) -> int:
    """Bulk approve; each review in its own transaction. Returns how many changed."""
    _check_moderator(by)
    now = timezone.now()
    return sum(approve_review(review_id=review_id, by=by, now=now) is not None for review_id in sorted(set(review_ids)))


def reject_reviews(*, review_ids: Iterable[int], by: User, reason: str) -> int:
    _check_moderator(by)
    now = timezone.now()
    return sum(
        reject_review(review_id=review_id, by=by, reason=reason, now=now) is not None
        for review_id in sorted(set(review_ids))
    )


def reply_to_review(*, by: User, review_id: int, text: str, now: datetime | None = None) -> Review:
    """The guide of the review's tour answers it, once, after it is published; the author is told."""
    text = text.strip()
    if len(text) < rules.REPLY_MIN_LENGTH:
        raise ReviewError("reply_too_short", _("Write a reply first."))
    if len(text) > rules.REPLY_MAX_LENGTH:
        raise ReviewError(
            "reply_too_long", _("Keep it under %(count)d characters.") % {"count": rules.REPLY_MAX_LENGTH}
        )
    with transaction.atomic():
        # FOR UPDATE: two replies sent at once (two tabs) must leave exactly the first.
        review = (
            Review.objects.select_for_update(of=("self",))
            .select_related("guide__user", "author", "tour")
            .filter(pk=review_id)
            .first()
        )
        if review is None or not (review.is_published or by.is_staff or review.author_id == by.pk):
            raise ReviewNotAllowed("not_found", _("No such review."))
        if review.guide.user_id != by.pk:
            raise ReviewNotAllowed("not_guide", _("Only the guide of this tour can reply to its reviews."))
        if not review.is_published:
            raise ReviewNotAllowed("not_published", _("A review can be answered once it is published."))
        if review.replied_at is not None:
            raise ReviewNotAllowed("already_replied", _("You have already replied to this review."))
        review.guide_reply = text
        review.replied_at = now or timezone.now()
        review.save(update_fields=["guide_reply", "replied_at"])
        messaging.notify_author_of_reply(review)
    return review


# --- Review requests -------------------------------------------------------------------------


def send_due_review_requests(*, now: datetime | None = None, limit: int = 500) -> int:
    """Send every review request and reminder that is due; returns how many were sent.

    Request: an attended booking (streaming.attendance) whose session ended at least
    ``REQUEST_AFTER_END`` ago, not reviewed, not asked yet. Reminder: ``REMINDER_AFTER_REQUEST``
    after its request was sent, if still not reviewed. Either is dropped once it is more than
    ``REQUEST_WINDOW`` late. Each send writes its ReviewRequest row, e-mail row and notice in one
    transaction under the booking's row lock; the row's unique (booking, kind) makes it once.
    """
    now = now or timezone.now()
    reviewed = Review.objects.filter(booking=OuterRef("pk"))
    asked = ReviewRequest.objects.filter(booking=OuterRef("pk"), kind=ReviewRequest.Kind.REQUEST)
    reminded = ReviewRequest.objects.filter(booking=OuterRef("pk"), kind=ReviewRequest.Kind.REMINDER)
    ended_before = now - rules.REQUEST_AFTER_END
    due_requests = list(
        attendance.attended_bookings()
        .filter(
            slot__live_session__ended_at__lte=ended_before,
            slot__live_session__ended_at__gt=ended_before - rules.REQUEST_WINDOW,
        )
        .exclude(Exists(reviewed))
        .exclude(Exists(asked))
        .exclude(user=F("slot__guide__user"))  # a guide on their own tour is not asked to rate it
        .order_by("slot__live_session__ended_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent_before = now - rules.REMINDER_AFTER_REQUEST
    due_reminders = list(
        Booking.objects.filter(
            review_requests__kind=ReviewRequest.Kind.REQUEST,
            review_requests__sent_at__lte=sent_before,
            review_requests__sent_at__gt=sent_before - rules.REQUEST_WINDOW,
            status=Booking.Status.CONFIRMED,
        )
        .exclude(Exists(reviewed))
        .exclude(Exists(reminded))
        .order_by("review_requests__sent_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for kind, booking_ids in ((ReviewRequest.Kind.REQUEST, due_requests), (ReviewRequest.Kind.REMINDER, due_reminders)):
        for booking_id in booking_ids:
            try:
                sent += _send_one(booking_id=booking_id, kind=kind, now=now)
            except Exception:
                # One booking whose message cannot be written must not hold back the others; its
                # transaction rolled back, so it is tried again on the next run.
                logger.exception("review %s for booking %s could not be sent; trying again later", kind, booking_id)
    return sent


def _send_one(*, booking_id: int, kind: ReviewRequest.Kind, now: datetime) -> int:
    """Send one request or reminder in its own transaction; 1 if this call sent it."""
    with transaction.atomic():
        # FOR UPDATE: a review submitted at this very moment (it takes the same lock) is either
        # seen here, and nothing is sent, or comes after the request; a parallel dispatcher waits.
        booking = (
            Booking.objects.select_for_update(of=("self",))
            .select_related("user", "slot__tour", "slot__guide", "slot__live_session")
            .filter(pk=booking_id)
            .first()
        )
        if booking is None or Review.objects.filter(booking=booking).exists():
            return 0
        if ReviewRequest.objects.filter(booking=booking, kind=kind).exists():
            return 0
        if kind == ReviewRequest.Kind.REQUEST:
            if not attendance.has_attended(booking=booking):
                return 0
            ended_at = booking.slot.live_session.ended_at
            assert ended_at is not None  # attended implies ended
            due_at = rules.request_due_at(ended_at)
        else:
            first = ReviewRequest.objects.filter(booking=booking, kind=ReviewRequest.Kind.REQUEST).first()
            if first is None or booking.status != Booking.Status.CONFIRMED:
                return 0
            due_at = rules.reminder_due_at(first.sent_at)
        if due_at > now or now - due_at > rules.REQUEST_WINDOW:
            return 0
        request = ReviewRequest.objects.create(booking=booking, kind=kind, due_at=due_at, sent_at=now)
        messaging.send_review_request(request)
    return 1
