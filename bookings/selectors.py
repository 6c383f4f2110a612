"""Reads of the tour catalogue. ``access_*`` functions fetch and check permission in one step."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from accounts.models import GuideProfile, Language, User
from bookings.models import Tour


@dataclass(frozen=True)
class TourFilters:
    q: str = ""
    category: str = ""
    city: str = ""
    language: str = ""
    guide: str = ""


@dataclass(frozen=True)
class FilterOptions:
    cities: list[str]
    languages: list[Language]
    guides: list[tuple[str, str]]  # (slug, display name)


def published_tours() -> QuerySet[Tour]:
    return Tour.objects.filter(status=Tour.Status.PUBLISHED)


def _for_cards(tours: QuerySet[Tour]) -> QuerySet[Tour]:
    # A card shows the guide's name and the languages: two queries for a page, whatever its length.
    return tours.select_related("guide").prefetch_related("languages")


def search_tours(*, filters: TourFilters) -> QuerySet[Tour]:
    """Published tours matching every given filter; ``q`` looks in the text and the guide's name."""
    tours = published_tours()
    if filters.category:
        tours = tours.filter(category=filters.category)
    if filters.city:
        tours = tours.filter(city__iexact=filters.city)
    if filters.language:
        tours = tours.filter(languages__code=filters.language)
    if filters.guide:
        tours = tours.filter(guide__slug=filters.guide)
    if filters.q:
        # Plain icontains keeps SQLite and PostgreSQL behaving the same; the catalogue is small.
        tours = tours.filter(
            Q(title__icontains=filters.q)
            | Q(summary__icontains=filters.q)
            | Q(description__icontains=filters.q)
            | Q(city__icontains=filters.q)
            | Q(guide__display_name__icontains=filters.q)
        )
    return _for_cards(tours).order_by("title", "pk")


def featured_tours(*, limit: int = 6) -> list[Tour]:
    return list(_for_cards(published_tours()).order_by("-created_at", "-pk")[:limit])


def filter_options() -> FilterOptions:
    """The values the filter form offers: only those that lead to at least one published tour."""
    published = published_tours()
    cities = list(published.order_by("city").values_list("city", flat=True).distinct())
    languages = list(Language.objects.filter(tours__in=published).distinct().order_by("name"))
    guides = list(
        GuideProfile.objects.filter(tours__in=published)
        .distinct()
        .order_by("display_name")
        .values_list("slug", "display_name")
    )
    return FilterOptions(cities=cities, languages=languages, guides=guides)


def can_see_unpublished(*, user: AbstractBaseUser | AnonymousUser, tour: Tour) -> bool:
    """Drafts and cancelled tours stay visible to their own guide and to staff."""
    if not isinstance(user, User):
        return False
    return user.is_staff or tour.guide.user_id == user.pk


def tour_for_viewer(*, slug: str, user: AbstractBaseUser | AnonymousUser) -> Tour:
    tour = Tour.objects.select_related("guide").prefetch_related("languages", "photos").filter(slug=slug).first()
    if tour is None or (tour.status != Tour.Status.PUBLISHED and not can_see_unpublished(user=user, tour=tour)):
        # The same 404 as for a slug that never existed: drafts do not leak their existence.
        raise Http404(_("No such tour."))
    return tour


def access_guide_profile(*, user: AbstractBaseUser | AnonymousUser) -> GuideProfile:
    """The signed-in guide's profile; PermissionDenied for anyone who is not a guide with one."""
    if not isinstance(user, User) or not user.is_guide:
        raise PermissionDenied(_("Only guides can manage tours."))
    try:
        return user.guide_profile
    except GuideProfile.DoesNotExist:
        raise PermissionDenied(_("Your guide profile is not set up yet.")) from None


def access_tour_for_edit(*, user: AbstractBaseUser | AnonymousUser, slug: str) -> Tour:
    guide = access_guide_profile(user=user)
    tour = Tour.objects.select_related("guide").filter(slug=slug).first()
    if tour is None:
        raise Http404(_("No such tour."))
    if tour.guide_id != guide.pk:
        raise PermissionDenied(_("You can only edit your own tours."))
    return tour


def tours_of_guide(*, guide: GuideProfile) -> QuerySet[Tour]:
    return guide.tours.order_by("title", "pk")
