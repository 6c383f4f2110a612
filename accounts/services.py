"""State changes for accounts. Views call these; each takes keyword-only arguments."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import PurePosixPath

from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import File
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.middleware import SESSION_LANGUAGE_KEY, SESSION_TIMEZONE_KEY
from accounts.models import GuideProfile, Language, User
from accounts.selectors import is_known_timezone


def record_detected_preferences(*, user: User | None, session: SessionBase, timezone: str, language: str) -> None:
    """Keep what the browser reported; empty values mean "not reported" and change nothing.

    Anonymous visitors keep it in their session (sign-up copies it to the new profile). For a
    signed-in user it only fills profile fields that are still empty: what a person chose in the
    profile wins over what a laptop in a hotel in Tokyo reports.
    """
    if timezone and not is_known_timezone(timezone):
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": timezone})
    if user is None:
        if timezone:
            session[SESSION_TIMEZONE_KEY] = timezone
        if language:
            session[SESSION_LANGUAGE_KEY] = language
        return
    # Conditional UPDATEs: a profile edit saved a moment earlier in another tab is never overwritten.
    if timezone and not user.timezone and User.objects.filter(pk=user.pk, timezone="").update(timezone=timezone):
        user.timezone = timezone
    if language and not user.language and User.objects.filter(pk=user.pk, language="").update(language=language):
        user.language = language


def update_profile(*, user: User, name: str, timezone: str, language: str, country: str) -> User:
    if timezone and not is_known_timezone(timezone):
        raise ValidationError({"timezone": _("%(value)s is not a known time zone.") % {"value": timezone}})
    user.name = name
    user.timezone = timezone
    user.language = language
    user.country = country
    user.save(update_fields=["name", "timezone", "language", "country"])
    return user


def check_can_have_guide_profile(user: User) -> None:
    if not user.is_authenticated or user.role != User.Role.GUIDE:
        raise PermissionDenied(_("Only guides have a guide profile."))


@transaction.atomic
def save_guide_profile(
    *,
    user: User,
    display_name: str,
    city: str,
    bio: str,
    languages: Iterable[Language],
    photo: File[bytes] | None = None,
    remove_photo: bool = False,
) -> GuideProfile:
    """Create or update ``user``'s guide profile. ``photo`` must already be normalised.

    A replaced or removed photo file is deleted once the transaction commits, so a rollback never
    leaves the profile pointing at a file that is gone.
    """
    check_can_have_guide_profile(user)
    profile = GuideProfile.objects.select_for_update().filter(user=user).first() or GuideProfile(user=user)
    profile.display_name = display_name
    profile.city = city
    profile.bio = bio
    old_photo_name = profile.photo.name if profile.photo else ""
    if remove_photo and photo is None:
        profile.photo = ""
    profile.save()  # first, so that a new profile has its slug for the photo's file name
    if photo is not None:
        # Named after the page, never after the upload (whose name may say more than intended);
        # the random part makes browsers and caches fetch the new picture.
        extension = PurePosixPath(photo.name or "photo.jpg").suffix or ".jpg"
        profile.photo.save(f"{profile.slug}-{secrets.token_hex(6)}{extension}", photo, save=False)
        profile.save(update_fields=["photo"])
    profile.languages.set(languages)
    new_photo_name = profile.photo.name if profile.photo else ""
    if old_photo_name and old_photo_name != new_photo_name:
        storage = profile.photo.storage
        transaction.on_commit(lambda: storage.delete(old_photo_name))
    return profile
