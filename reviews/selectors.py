"""Reads of reviews. ``access_*`` functions fetch and check permission in one step.

The visibility rule lives here and nowhere else: a review is public once approved; before that
(pending or rejected) only its author and staff may see it, not even the guide it is about.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Avg, Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import GuideProfile, User
from bookings.models import Booking, Tour
from reviews import rules
from reviews.models import Review
from reviews.rules import ModerationHints, RatingSummary, ReviewSort
from streaming import attendance

__all__ = [
    "ReviewError",
    "ReviewNotAllowed",
    "access_booking_for_review",
    "access_review_for_reply",
    "blocked_words",
    "guide_reviews_to_answer",
    "may_review",
    "moderation_hints_for",
    "own_unpublished_reviews",
    "published_reviews",
    "rating_summary_of",
    "review_for_viewer",
    "reviewable_bookings",
    "sorted_reviews",
    "tour_rating_subqueries",
]


class ReviewError(Exception):
    """A review request that cannot be honoured; ``code`` is stable, ``message`` is for people."""

    status_code = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ReviewNotAllowed(ReviewError):
    """Codes: not_found (404), not_yours, not_attended, own_tour, not_guide (403), already_reviewed,
    already_replied, not_published (409)."""

    status_code = 403


def _signed_in(user: AbstractBaseUser | AnonymousUser) -> User | None:
    return user if isinstance(user, User) and user.is_authenticated else None


def access_booking_for_review(*, user: AbstractBaseUser | AnonymousUser, booking_id: int) -> Booking:
    """The booking ``user`` may review now; else ReviewNotAllowed saying why.

    Checked in the order that matters to the person: someone else's (or no) booking looks like no
    booking at all; then a review already written; then attendance (``streaming.attendance``).
    """
    person = _signed_in(user)
    booking = (
        Booking.objects.select_related("slot__tour", "slot__guide", "user").filter(pk=booking_id).first()
        if person is not None
        else None
    )
    if person is None or booking is None or booking.user_id != person.pk:
        raise ReviewNotAllowed("not_found", _("There is no such booking."))
    if Review.objects.filter(booking=booking).exists():
        raise ReviewNotAllowed("already_reviewed", _("You have already reviewed this tour."))
    if booking.slot.guide.user_id == person.pk:
        raise ReviewNotAllowed("own_tour", _("Guides cannot review their own tours."))
    if not attendance.has_attended(booking=booking):
        raise ReviewNotAllowed(
            "not_attended", _("Only guests who took part in the tour can review it, once it is over.")
        )
    return booking


def reviewable_bookings(*, user: AbstractBaseUser | AnonymousUser, tour: Tour | None = None) -> list[Booking]:
    """``user``'s attended bookings without a review yet (of ``tour`` if given), latest tour first."""
    person = _signed_in(user)
    if person is None:
        return []
    bookings = (
        attendance.attended_bookings()
        .filter(user=person, review__isnull=True)
        .exclude(slot__guide__user=person)
        .select_related("slot__tour")
    )
    if tour is not None:
        bookings = bookings.filter(slot__tour=tour)
    return list(bookings.order_by("-slot__start", "-pk")[:5])


def may_review(*, user: AbstractBaseUser | AnonymousUser, booking: Booking) -> bool:
    """Whether ``access_booking_for_review`` would let ``user`` review ``booking`` (one query)."""
    person = _signed_in(user)
    if person is None or booking.user_id != person.pk:
        return False
    return (
        attendance.attended_bookings()
        .filter(pk=booking.pk, review__isnull=True)
        .exclude(slot__guide__user=person)
        .exists()
    )


def published_reviews(*, tour: Tour | None = None, guide: GuideProfile | None = None) -> QuerySet[Review]:
    """Approved reviews of a tour or of a guide (every tour they gave), with what a list shows."""
    reviews = Review.objects.filter(status=Review.Status.APPROVED)
    if tour is not None:
        reviews = reviews.filter(tour=tour)
    if guide is not None:
        reviews = reviews.filter(guide=guide)
    return reviews.select_related("author", "tour", "guide", "booking__slot")


def sorted_reviews(reviews: QuerySet[Review], *, sort: ReviewSort, with_text: bool) -> QuerySet[Review]:
    if with_text:
        reviews = reviews.exclude(text="")
    ordering = {
        ReviewSort.RECENT: ("-created_at", "-pk"),
        ReviewSort.HIGHEST: ("-rating", "-created_at", "-pk"),
        ReviewSort.LOWEST: ("rating", "-created_at", "-pk"),
    }[ReviewSort(sort)]
    return reviews.order_by(*ordering)


def rating_summary_of(*, tour: Tour | None = None, guide: GuideProfile | None = None) -> RatingSummary:
    """Count, average and star distribution of the published reviews, in one query."""
    reviews = Review.objects.filter(status=Review.Status.APPROVED)
    if tour is not None:
        reviews = reviews.filter(tour=tour)
    if guide is not None:
        reviews = reviews.filter(guide=guide)
    per_star: dict[str, Any] = {
        f"stars_{stars}": Count("pk", filter=Q(rating=stars)) for stars in range(rules.MIN_RATING, rules.MAX_RATING + 1)
    }
    counts = reviews.aggregate(**per_star)
    return rules.rating_summary(
        {stars: counts[f"stars_{stars}"] or 0 for stars in range(rules.MIN_RATING, rules.MAX_RATING + 1)}
    )


def own_unpublished_reviews(
    *, user: AbstractBaseUser | AnonymousUser, tour: Tour | None = None, guide: GuideProfile | None = None
) -> list[Review]:
    """The signed-in author's reviews still waiting (or rejected): shown to them alone."""
    person = _signed_in(user)
    if person is None:
        return []
    reviews = Review.objects.filter(author=person).exclude(status=Review.Status.APPROVED)
    if tour is not None:
        reviews = reviews.filter(tour=tour)
    if guide is not None:
        reviews = reviews.filter(guide=guide)
    return list(reviews.select_related("tour", "booking__slot").order_by("-created_at"))


def _may_see_unpublished(user: User | None, review: Review) -> bool:
    return user is not None and (user.is_staff or review.author_id == user.pk)


def review_for_viewer(*, user: AbstractBaseUser | AnonymousUser, review_id: int) -> Review:
    """The review behind ``/reviews/<id>/``; a 404 unless it is published or ``user`` may see it."""
    review = (
        Review.objects.select_related("author", "tour", "guide", "guide__user", "booking__slot")
        .filter(pk=review_id)
        .first()
    )
    # The same 404 as for an id that never existed: an unpublished review does not leak.
    if review is None or not (review.is_published or _may_see_unpublished(_signed_in(user), review)):
        raise Http404(_("No such review."))
    return review


def access_review_for_reply(*, user: AbstractBaseUser | AnonymousUser, review_id: int) -> Review:
    """A published review the signed-in guide may answer (once)."""
    review = review_for_viewer(user=user, review_id=review_id)
    person = _signed_in(user)
    if person is None or review.guide.user_id != person.pk:
        raise ReviewNotAllowed("not_guide", _("Only the guide of this tour can reply to its reviews."))
    if not review.is_published:
        raise ReviewNotAllowed("not_published", _("A review can be answered once it is published."))
    if review.replied_at is not None:
        raise ReviewNotAllowed("already_replied", _("You have already replied to this review."))
    return review


def guide_reviews_to_answer(*, guide: GuideProfile) -> QuerySet[Review]:
    """The guide's published reviews for their dashboard: unanswered first, then newest."""
    return published_reviews(guide=guide).order_by(F("replied_at").asc(nulls_first=True), "-created_at", "-pk")


def blocked_words() -> tuple[str, ...]:
    """The words staff are warned about: the one list staff keep for the live chat (admin, "Blocked
    words"), or reviews.rules.DEFAULT_BLOCKED_WORDS while that list is still empty."""
    # Imported here: the chat app's reads pull in its real-time modules, which only this needs.
    from chat.selectors import blocked_words as staff_blocked_words

    return staff_blocked_words() or rules.DEFAULT_BLOCKED_WORDS


def moderation_hints_for(review: Review, *, words: tuple[str, ...] | None = None) -> ModerationHints:
    return rules.moderation_hints(review.text, blocked_words() if words is None else words)


def tour_rating_subqueries() -> dict[str, Any]:
    """Annotations for a Tour queryset: ``review_count`` and ``review_average`` (published only).

    Subqueries, not joins: a tour's slots or languages joined in the same query would multiply the
    rows the averages are taken over.
    """
    published = Review.objects.filter(tour=OuterRef("pk"), status=Review.Status.APPROVED).values("tour")
    return {
        "review_average": Subquery(published.annotate(value=Avg("rating")).values("value")[:1]),
        "review_count": Coalesce(Subquery(published.annotate(value=Count("pk")).values("value")[:1]), 0),
    }
