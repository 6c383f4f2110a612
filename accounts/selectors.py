"""Reads for accounts: public guide pages, profile data, the time-zone list."""

from __future__ import annotations

import functools
import zoneinfo

from django.db.models import QuerySet

from accounts.models import GuideProfile, User
from accounts.rules import TimezoneGroup, grouped_timezones
from bookings.models import Tour


def public_guide_profile(*, slug: str) -> GuideProfile:
    """The guide behind ``/guides/<slug>/``; raises GuideProfile.DoesNotExist otherwise.

    Only active accounts that are still guides have a public page: a suspended or former guide's
    page disappears without deleting their profile (their past bookings still point to it).
    """
    return (
        GuideProfile.objects.select_related("user")
        .prefetch_related("languages")
        .get(slug=slug, user__is_active=True, user__role=User.Role.GUIDE)
    )


def published_tours_of(*, guide: GuideProfile) -> QuerySet[Tour]:
    return (
        Tour.objects.filter(guide=guide, status=Tour.Status.PUBLISHED).prefetch_related("languages").order_by("title")
    )


def guide_profile_of(*, user: User) -> GuideProfile | None:
    return GuideProfile.objects.filter(user=user).prefetch_related("languages").first()


@functools.cache
def _available_timezones() -> frozenset[str]:
    # Reading the tz database walks the tzdata package; once per process is enough.
    return frozenset(zoneinfo.available_timezones())


def is_known_timezone(name: str) -> bool:
    return name in _available_timezones()


def timezone_choices(*, include: str = "") -> list[TimezoneGroup]:
    return grouped_timezones(_available_timezones(), include=include)
