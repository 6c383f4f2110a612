from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from accounts.models import User
from bookings import selectors, services
from bookings.forms import TourFilterForm, TourForm

TOURS_PER_PAGE = 12


def _signed_in_user(request: HttpRequest) -> User:
    # login_required has already redirected anonymous visitors; this narrows the type.
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "bookings/home.html", {"featured_tours": selectors.featured_tours()})


@require_safe
def tour_list(request: HttpRequest) -> HttpResponse:
    options = selectors.filter_options()
    form = TourFilterForm(request.GET, cities=options.cities, languages=options.languages, guides=options.guides)
    if form.is_valid():
        tours = selectors.search_tours(filters=selectors.TourFilters(**form.cleaned_data))
    else:
        tours = selectors.published_tours().none()
    page = Paginator(tours, TOURS_PER_PAGE).get_page(request.GET.get("page"))
    filtered = any(request.GET.get(name) for name in form.fields)
    return render(request, "bookings/tour_list.html", {"form": form, "page_obj": page, "filtered": filtered})


@require_safe
def tour_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tour = selectors.tour_for_viewer(slug=slug, user=request.user)
    is_owner = isinstance(request.user, User) and tour.guide.user_id == request.user.pk
    return render(request, "bookings/tour_detail.html", {"tour": tour, "is_owner": is_owner})


@login_required
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    guide = selectors.access_guide_profile(user=request.user)
    tours = selectors.tours_of_guide(guide=guide)
    return render(request, "bookings/dashboard.html", {"guide": guide, "tours": tours})


@login_required
@require_http_methods(["GET", "POST"])
def tour_create(request: HttpRequest) -> HttpResponse:
    user = _signed_in_user(request)
    selectors.access_guide_profile(user=user)
    form = TourForm(request.POST, request.FILES) if request.method == "POST" else TourForm()
    if form.is_bound and form.is_valid():
        tour = services.create_tour(by=user, data=form.cleaned_data)
        messages.success(request, _("Tour “%(title)s” created.") % {"title": tour.title})
        return redirect("bookings:tour_edit", slug=tour.slug)
    return render(request, "bookings/tour_form.html", {"form": form, "tour": None})


@login_required
@require_http_methods(["GET", "POST"])
def tour_edit(request: HttpRequest, slug: str) -> HttpResponse:
    user = _signed_in_user(request)
    tour = selectors.access_tour_for_edit(user=user, slug=slug)
    form = TourForm(request.POST, request.FILES, instance=tour) if request.method == "POST" else TourForm(instance=tour)
    if form.is_bound and form.is_valid():
        tour = services.update_tour(tour=tour, by=user, data=form.cleaned_data)
        messages.success(request, _("Tour “%(title)s” saved.") % {"title": tour.title})
        return redirect("bookings:tour_edit", slug=tour.slug)
    return render(request, "bookings/tour_form.html", {"form": form, "tour": tour})
