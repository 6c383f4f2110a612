from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from streaming import rules

MAX_GRACE_MINUTES = int(rules.MAX_GRACE.total_seconds() // 60)


class LiveSession(models.Model):
    """The live broadcast of one slot; created on demand (``services.session_for_slot``).

    The row is the lock for every state change of the session (``select_for_update``).
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        LIVE = "live", _("Live")
        ENDED = "ended", _("Ended")

    class EndedReason(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        GUIDE_ENDED = "guide_ended", _("Ended early by the guide")
        CANCELLED = "cancelled", _("Cancelled")
        AUTO_ENDED = "auto_ended", _("Ended automatically")

    slot = models.OneToOneField(
        "bookings.Slot", on_delete=models.PROTECT, related_name="live_session", verbose_name=_("slot")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    ended_reason = models.CharField(_("ended because"), max_length=16, choices=EndedReason.choices, blank=True)
    started_at = models.DateTimeField(_("went live at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    # Raised on every (re)publish by the guide: a viewer holding an older epoch resubscribes.
    publisher_epoch = models.PositiveIntegerField(_("publisher epoch"), default=0)
    grace_minutes = models.PositiveSmallIntegerField(
        _("grace (minutes)"),
        default=MAX_GRACE_MINUTES,
        validators=[MaxValueValidator(MAX_GRACE_MINUTES)],
        help_text=_("How long the tour may run past the slot's end before it is ended automatically."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(grace_minutes__lte=MAX_GRACE_MINUTES), name="live_session_grace_at_most_5_minutes"
            ),
            # An ended session always says why and when; any other status says neither.
            models.CheckConstraint(
                condition=(
                    models.Q(status="ended", ended_at__isnull=False) & ~models.Q(ended_reason="")
                    | ~models.Q(status="ended") & models.Q(ended_at__isnull=True, ended_reason="")
                ),
                name="live_session_ended_has_reason_and_time",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="live") | models.Q(started_at__isnull=False),
                name="live_session_live_has_start",
            ),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"Live session of {self.slot}"

    @property
    def grace(self) -> timedelta:
        return timedelta(minutes=self.grace_minutes)

    @property
    def is_ended(self) -> bool:
        return self.status == self.Status.ENDED


class SessionBan(models.Model):
    """A viewer removed from a session by its guide or staff; they may not join it again."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="session_bans")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="one_ban_per_session_and_user")]

    def __str__(self) -> str:
        return f"{self.user} banned from session {self.session_id}"


class ViewerPresence(models.Model):
    """How long one person watched one session (heartbeats), the basis for "attended" later."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    first_joined_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    total_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["first_joined_at"]
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="one_presence_per_session_and_user")]

    def __str__(self) -> str:
        return f"{self.user} in session {self.session_id}: {self.total_seconds}s"


class Recording(models.Model):
    """The WebM file of one session, written by the SFU while it forwards (streaming.recordings).

    ``file_name`` is relative to MEDIA_ROOT (``recordings/<session_id>.webm``); only a READY
    recording is replayed, and only to the people who could watch the session live.
    """

    class Status(models.TextChoices):
        RECORDING = "recording", _("Recording")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    session = models.OneToOneField(
        LiveSession, on_delete=models.CASCADE, related_name="recording", verbose_name=_("live session")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECORDING)
    file_name = models.CharField(_("file"), max_length=255)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Recording of session {self.session_id} ({self.status})"


# The keepsakes (guide's highlights and photos of a session) live in their own module.
from streaming.keepsake_models import Keepsake, KeepsakePhoto  # noqa: E402, F401
