"""Keepsake changes: the guide's highlights and gallery of one session.

Every function re-checks, through ``keepsake_selectors.access_keepsake_for_edit``, that the person
is the slot's guide or staff: the pages only offer what this allows.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from streaming.keepsake_models import MAX_PHOTOS_PER_SESSION, Keepsake, KeepsakePhoto
from streaming.keepsake_selectors import access_keepsake_for_edit
from streaming.models import LiveSession
from streaming.selectors import LiveError

__all__ = ["add_photos", "remove_photo", "save_highlights", "set_caption"]


def save_highlights(*, by: User, session_id: int, highlights: str) -> Keepsake:
    session = access_keepsake_for_edit(user=by, session_id=session_id)
    keepsake, _created = Keepsake.objects.update_or_create(session=session, defaults={"highlights": highlights.strip()})
    return keepsake


def add_photos(
    *, by: User, session_id: int, images: Sequence[ContentFile[bytes]], caption: str = ""
) -> list[KeepsakePhoto]:
    """Store already re-encoded images (``keepsake_forms.KeepsakePhotosField``) in the gallery.

    All or nothing: past the gallery's limit none is added, and if saving fails midway the files
    already written are removed with the rolled-back rows.
    """
    session = access_keepsake_for_edit(user=by, session_id=session_id)
    created: list[KeepsakePhoto] = []
    try:
        with transaction.atomic():
            # FOR UPDATE on the session: two uploads at once must not both pass the limit.
            LiveSession.objects.select_for_update().filter(pk=session.pk).first()
            existing = KeepsakePhoto.objects.filter(session=session).count()
            if existing + len(images) > MAX_PHOTOS_PER_SESSION:
                raise LiveError(
                    "too_many_photos",
                    _("A tour's gallery holds at most %(limit)d photos; it has %(count)d.")
                    % {"limit": MAX_PHOTOS_PER_SESSION, "count": existing},
                )
            for image in images:
                photo = KeepsakePhoto(session=session, caption=caption.strip(), uploaded_by=by)
                photo.image.save(image.name or "keepsake.jpg", image, save=False)
                photo.save()
                created.append(photo)
    except Exception:
        for photo in created:
            photo.image.delete(save=False)
        raise
    return created


def _photo_for_edit(*, by: User, photo_id: int) -> KeepsakePhoto:
    photo = KeepsakePhoto.objects.filter(pk=photo_id).first()
    if photo is None:
        raise LiveError("not_found", _("There is no such photo."))
    access_keepsake_for_edit(user=by, session_id=photo.session_id)
    return photo


def set_caption(*, by: User, photo_id: int, caption: str) -> KeepsakePhoto:
    photo = _photo_for_edit(by=by, photo_id=photo_id)
    photo.caption = caption.strip()
    photo.save(update_fields=["caption"])
    return photo


def remove_photo(*, by: User, photo_id: int) -> None:
    photo = _photo_for_edit(by=by, photo_id=photo_id)
    storage, name = photo.image.storage, photo.image.name
    photo.delete()
    # The file goes only once the row is gone for good.
    transaction.on_commit(lambda: storage.delete(name) if name else None)
