"""Review pages: write one, read one (and reply as its guide), the guide's list of reviews.

Thin callers: permission and state checks are in reviews.selectors and reviews.services; a refusal
is a page that says why (403/404), a bad form comes back with its errors (400), never a 500.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import User
from bookings.selectors import access_guide_profile
from reviews import rules, selectors, services
from reviews.forms import ReplyForm, ReviewForm
from reviews.models import Review
from reviews.selectors import ReviewError, ReviewNotAllowed

__all__ = ["guide_reviews", "reply", "review_detail", "write_review"]

REVIEWS_PER_DASHBOARD_PAGE = 20


def _signed_in_user(request: HttpRequest) -> User:
    # login_required has already redirected anonymous visitors; this narrows the type.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _refused(request: HttpRequest, refusal: ReviewNotAllowed, *, tour: object = None) -> HttpResponse:
    if refusal.code == "not_found":
        raise Http404(refusal.message)
    context = {"code": refusal.code, "reason": refusal.message, "tour": tour}
    return render(request, "reviews/refused.html", context, status=refusal.status_code)


@login_required
@require_http_methods(["GET", "POST"])
def write_review(request: HttpRequest, booking_id: int) -> HttpResponse:
    user = _signed_in_user(request)
    try:
        booking = selectors.access_booking_for_review(user=user, booking_id=booking_id)
    except ReviewNotAllowed as refusal:
        existing = Review.objects.filter(booking_id=booking_id, author=user).first()
        if refusal.code == "already_reviewed" and existing is not None:
            messages.info(request, refusal.message)
            return redirect(existing)
        tour = existing.tour if existing is not None else None
        return _refused(request, refusal, tour=tour)
    form = ReviewForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                review = services.submit_review(
                    author=user,
                    booking_id=booking.pk,
                    rating=form.cleaned_data["rating"],
                    text=form.cleaned_data["text"],
                )
            except ReviewNotAllowed as refusal:
                return _refused(request, refusal, tour=booking.slot.tour)
            except ReviewError as error:
                form.add_error(None, error.message)
            else:
                messages.success(request, _("Thank you! Your review will be published once our team has read it."))
                return redirect(review)
        status = 400
    context = {"form": form, "booking": booking, "slot": booking.slot, "tour": booking.slot.tour}
    return render(request, "reviews/write.html", context, status=status)


def _reply_form_for(user: AbstractBaseUser | AnonymousUser, review: Review) -> ReplyForm | None:
    """An empty reply form when ``user`` is the guide who may still answer this review."""
    try:
        selectors.access_review_for_reply(user=user, review_id=review.pk)
    except ReviewNotAllowed:
        return None
    return ReplyForm()


@require_safe
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = selectors.review_for_viewer(user=request.user, review_id=pk)
    context = {"review": review, "reply_form": _reply_form_for(request.user, review)}
    return render(request, "reviews/detail.html", context)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return fallback


@login_required
@require_POST
def reply(request: HttpRequest, pk: int) -> HttpResponse:
    """The guide answers a published review once (from the review page or their dashboard)."""
    user = _signed_in_user(request)
    review = selectors.review_for_viewer(user=user, review_id=pk)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            services.reply_to_review(by=user, review_id=review.pk, text=form.cleaned_data["text"])
        except ReviewNotAllowed as refusal:
            return _refused(request, refusal, tour=review.tour)
        except ReviewError as error:
            form.add_error("text", error.message)
        else:
            messages.success(request, _("Your reply is published."))
            return redirect(_safe_next(request, review.get_absolute_url()))
    try:
        selectors.access_review_for_reply(user=user, review_id=review.pk)
    except ReviewNotAllowed as refusal:
        return _refused(request, refusal, tour=review.tour)
    return render(request, "reviews/detail.html", {"review": review, "reply_form": form}, status=400)


@login_required
@require_safe
def guide_reviews(request: HttpRequest) -> HttpResponse:
    """The signed-in guide's published reviews, unanswered first, each with a reply form."""
    guide = access_guide_profile(user=request.user)
    page = Paginator(selectors.guide_reviews_to_answer(guide=guide), REVIEWS_PER_DASHBOARD_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "guide": guide,
        "page_obj": page,
        "summary": selectors.rating_summary_of(guide=guide),
        "reply_max_length": rules.REPLY_MAX_LENGTH,
    }
    return render(request, "reviews/guide_dashboard.html", context)
