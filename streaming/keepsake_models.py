"""The tour's keepsakes: what the guide leaves behind for the guests of one live session.

They live in the streaming app because everything a summary shows belongs to the session: its
duration (``LiveSession``), its attendance (``ViewerPresence``) and its replay (``Recording``);
the guide's highlights and photos are one more thing about that session. (Imported by
``streaming.models`` so that Django registers them.)
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from streaming.models import LiveSession

HIGHLIGHTS_MAX_LENGTH = 5000
CAPTION_MAX_LENGTH = 200
# A gallery, not an archive: enough for a tour, few enough to load on a phone.
MAX_PHOTOS_PER_SESSION = 40


class Keepsake(models.Model):
    """The guide's words about one session (written during or after the tour)."""

    session = models.OneToOneField(
        LiveSession, on_delete=models.CASCADE, related_name="keepsake", verbose_name=_("live session")
    )
    highlights = models.TextField(_("highlights"), max_length=HIGHLIGHTS_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("keepsake")
        verbose_name_plural = _("keepsakes")

    def __str__(self) -> str:
        return f"Keepsake of session {self.session_id}"


class KeepsakePhoto(models.Model):
    """One photo of a session's gallery; the file is always a re-encoded copy without metadata."""

    session = models.ForeignKey(
        LiveSession, on_delete=models.CASCADE, related_name="keepsake_photos", verbose_name=_("live session")
    )
    image = models.ImageField(_("photo"), upload_to="keepsakes/", width_field="width", height_field="height")
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    caption = models.CharField(_("caption"), max_length=CAPTION_MAX_LENGTH, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("keepsake photo")
        verbose_name_plural = _("keepsake photos")

    def __str__(self) -> str:
        return self.caption or f"Photo {self.pk} of session {self.session_id}"
