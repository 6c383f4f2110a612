"""State changes of the tour catalogue. Views call these; each checks who may do it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from accounts.models import User
from bookings.models import Tour, TourPhoto
from bookings.selectors import access_guide_profile

# The plain fields a guide edits; languages and photos are handled separately below.
EDITABLE_FIELDS = (
    "title",
    "summary",
    "description",
    "city",
    "category",
    "duration_minutes",
    "price",
    "currency",
    "max_group_size",
    "timezone",
    "status",
)


def create_tour(*, by: User, data: Mapping[str, Any]) -> Tour:
    """Create a tour owned by the guide ``by``.

    ``data`` is a validated TourForm's cleaned_data: images are already re-encoded ContentFiles.
    """
    guide = access_guide_profile(user=by)
    with transaction.atomic():
        tour = Tour(guide=guide, **{field: data[field] for field in EDITABLE_FIELDS})
        cover = data.get("cover_photo")
        if isinstance(cover, ContentFile):
            tour.cover_photo = cover
        tour.save()
        tour.languages.set(data["languages"])
        _add_photos(tour=tour, images=data.get("gallery") or ())
    return tour


def update_tour(*, tour: Tour, by: User, data: Mapping[str, Any]) -> Tour:
    """Apply a validated TourForm's cleaned_data to ``tour``; only its own guide may.

    ``cover_photo`` may be a new ContentFile, False (the "clear" box was ticked) or the current file.
    """
    with transaction.atomic():
        # Work on a fresh row: a bound ModelForm has already written the new values onto the
        # instance it was given, so the stored cover photo's name is only known to the database.
        locked = Tour.objects.select_for_update().select_related("guide").get(pk=tour.pk)
        _check_can_edit(tour=locked, by=by)
        for field in EDITABLE_FIELDS:
            setattr(locked, field, data[field])
        old_cover = locked.cover_photo.name
        cover = data.get("cover_photo")
        if isinstance(cover, ContentFile):
            locked.cover_photo = cover
        elif cover is False:
            locked.cover_photo = ""
        locked.save()
        if old_cover and locked.cover_photo.name != old_cover:
            _delete_files_on_commit(locked.cover_photo.storage, [old_cover])
        locked.languages.set(data["languages"])
        _remove_photos(tour=locked, photos=data.get("remove_photos") or ())
        _add_photos(tour=locked, images=data.get("gallery") or ())
    return locked


def _check_can_edit(*, tour: Tour, by: User) -> None:
    # Checked here as well as in the view: a service must be safe to call from anywhere.
    if not by.is_guide or tour.guide.user_id != by.pk:
        raise PermissionDenied(_("You can only edit your own tours."))


def _add_photos(*, tour: Tour, images: Iterable[ContentFile[bytes]]) -> None:
    position = (tour.photos.aggregate(last=Max("position"))["last"] or 0) + 1
    for offset, image in enumerate(images):
        TourPhoto.objects.create(tour=tour, image=image, position=position + offset)


def _remove_photos(*, tour: Tour, photos: Iterable[TourPhoto]) -> None:
    # Filter by tour again: the photo ids come from a request.
    doomed = list(tour.photos.filter(pk__in=[photo.pk for photo in photos]))
    if not doomed:
        return
    storage = doomed[0].image.storage
    names = [photo.image.name for photo in doomed if photo.image.name]
    TourPhoto.objects.filter(pk__in=[photo.pk for photo in doomed]).delete()
    _delete_files_on_commit(storage, names)


def _delete_files_on_commit(storage: Storage, names: list[str]) -> None:
    # Files are not transactional: remove them only once the rows that pointed at them are gone.
    def delete() -> None:
        for name in names:
            storage.delete(name)

    transaction.on_commit(delete)
