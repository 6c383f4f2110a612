"""Review sections other apps' pages include: the tour page, the guide page, a booking's page.

``{% load review_tags %}`` then ``{% tour_reviews tour %}``, ``{% guide_reviews guide %}`` or
``{% booking_review_links booking %}``. The sort, the "with text only" filter and the page number
come from the request's query string (``sort``, ``with_text``, ``page``), so the lists work
without JavaScript and every state has its own address.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.core.paginator import Paginator
from django.http import HttpRequest
from django.template import Context
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import GuideProfile, User
from bookings.models import Booking, Tour
from reviews import rules, selectors
from reviews.forms import ReviewListForm
from reviews.models import Review

register = template.Library()

REVIEWS_PER_PAGE = 10


def _request(context: Context) -> HttpRequest | None:
    request = context.get("request")
    return request if isinstance(request, HttpRequest) else None


def review_section(
    request: HttpRequest | None, *, tour: Tour | None = None, guide: GuideProfile | None = None
) -> dict[str, Any]:
    """Everything ``reviews/_section.html`` shows: summary, one sorted page, the viewer's own reviews."""
    user = request.user if request is not None else None
    params = request.GET if request is not None else {}
    list_form = ReviewListForm(params)
    sort, with_text = list_form.options()
    reviews = selectors.sorted_reviews(
        selectors.published_reviews(tour=tour, guide=guide), sort=sort, with_text=with_text
    )
    page = Paginator(reviews, REVIEWS_PER_PAGE).get_page(params.get("page"))
    person = user if isinstance(user, User) else None
    staff_pending = 0
    if person is not None and person.is_staff:
        pending = Review.objects.filter(status=Review.Status.PENDING)
        staff_pending = (pending.filter(tour=tour) if tour else pending.filter(guide=guide)).count()
    return {
        "request": request,
        "summary": selectors.rating_summary_of(tour=tour, guide=guide),
        "page_obj": page,
        "list_form": list_form,
        "with_text": with_text,
        "own_reviews": selectors.own_unpublished_reviews(user=person, tour=tour, guide=guide) if person else [],
        "reviewable": selectors.reviewable_bookings(user=person, tour=tour) if person and tour else [],
        "staff_pending": staff_pending,
        "tour": tour,
        "guide": guide,
        "show_tour": tour is None,
    }


@register.inclusion_tag("reviews/_section.html", takes_context=True)
def tour_reviews(context: Context, tour: Tour) -> dict[str, Any]:
    return review_section(_request(context), tour=tour)


@register.inclusion_tag("reviews/_section.html", takes_context=True)
def guide_reviews(context: Context, guide: GuideProfile) -> dict[str, Any]:
    return review_section(_request(context), guide=guide)


@register.inclusion_tag("reviews/_booking_links.html", takes_context=True)
def booking_review_links(context: Context, booking: Booking) -> dict[str, Any]:
    """After the tour, on the guest's booking page: rate it (or see the review), see the keepsakes."""
    from streaming import keepsake_selectors  # streaming imports reviews for its similar tours

    request = _request(context)
    user = request.user if request is not None else None
    person = user if isinstance(user, User) and booking.user_id == user.pk else None
    if person is None:
        return {"show": False}
    review = Review.objects.filter(booking=booking).first()
    can_review = review is None and selectors.may_review(user=person, booking=booking)
    session = keepsake_selectors.keepsake_session_for(user=person, booking=booking)
    return {
        "show": bool(review or can_review or session),
        "review": review,
        "can_review": can_review,
        "booking": booking,
        "keepsake_session": session,
    }


@register.simple_tag
def stars(rating: float | int | None) -> SafeString:
    """Five stars, filled to ``rating`` (rounded to the nearest whole star), with a spoken label."""
    if rating is None:
        return format_html("")
    filled = max(rules.MIN_RATING - 1, min(rules.MAX_RATING, round(float(rating))))
    value = float(rating)
    shown = str(int(value)) if value.is_integer() else number_format(value, decimal_pos=1)
    label = _("%(rating)s out of 5 stars") % {"rating": shown}
    return format_html(
        '<span class="stars" role="img" aria-label="{}"><span class="stars__on" aria-hidden="true">{}</span>'
        '<span class="stars__off" aria-hidden="true">{}</span></span>',
        label,
        "★" * filled,
        "☆" * (rules.MAX_RATING - filled),
    )


@register.simple_tag
def review_count_text(count: int) -> str:
    return ngettext("%(count)d review", "%(count)d reviews", count) % {"count": count}
