from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThanOrEqual, LessThanOrEqual
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from reviews import rules


class Review(models.Model):
    """A guest's rating (and optional text) of one attended booking; public only once approved.

    ``tour`` and ``guide`` are copied from the booking's slot when the review is written, so the
    tour and guide pages aggregate without joining through bookings (and a review stays with the
    guide who gave that tour).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for moderation")
        APPROVED = "approved", _("Published")
        REJECTED = "rejected", _("Rejected")

    booking = models.OneToOneField(
        "bookings.Booking", on_delete=models.PROTECT, related_name="review", verbose_name=_("booking")
    )
    tour = models.ForeignKey("bookings.Tour", on_delete=models.PROTECT, related_name="reviews", verbose_name=_("tour"))
    guide = models.ForeignKey(
        "accounts.GuideProfile", on_delete=models.PROTECT, related_name="reviews", verbose_name=_("guide")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews", verbose_name=_("author")
    )
    rating = models.PositiveSmallIntegerField(
        _("rating"), validators=[MinValueValidator(rules.MIN_RATING), MaxValueValidator(rules.MAX_RATING)]
    )
    text = models.TextField(_("review"), max_length=rules.TEXT_MAX_LENGTH, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(_("written at"), auto_now_add=True)
    moderated_at = models.DateTimeField(_("moderated at"), null=True, blank=True)
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("moderated by"),
    )
    rejection_reason = models.CharField(_("reason for rejection"), max_length=500, blank=True)
    guide_reply = models.TextField(_("guide's reply"), max_length=rules.REPLY_MAX_LENGTH, blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__gte=rules.MIN_RATING, rating__lte=rules.MAX_RATING),
                name="review_rating_1_to_5",
            ),
            # Rating alone, or a text of 20 to 2,000 characters: the database agrees with the form.
            models.CheckConstraint(
                condition=models.Q(text="")
                | models.Q(
                    GreaterThanOrEqual(Length("text"), rules.TEXT_MIN_LENGTH),
                    LessThanOrEqual(Length("text"), rules.TEXT_MAX_LENGTH),
                ),
                name="review_text_empty_or_20_to_2000",
            ),
            models.CheckConstraint(
                condition=models.Q(guide_reply="", replied_at__isnull=True)
                | (~models.Q(guide_reply="") & models.Q(replied_at__isnull=False)),
                name="review_reply_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["tour", "status", "created_at"], name="review_tour_status_created"),
            models.Index(fields=["guide", "status", "created_at"], name="review_guide_status_created"),
            models.Index(fields=["status", "created_at"], name="review_queue"),
        ]

    def __str__(self) -> str:
        return f"{self.rating}★ review of {self.tour} by {self.author}"

    def get_absolute_url(self) -> str:
        return reverse("reviews:detail", kwargs={"pk": self.pk})

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.APPROVED

    @property
    def author_public_name(self) -> str:
        return rules.public_name(self.author.name) or str(_("A guest"))


class ReviewRequest(models.Model):
    """A review request (or its one reminder) sent for a booking: the row is the "sent once" record.

    It is written in the same transaction as the e-mail row and the in-app notice, so a request is
    either fully sent (all three) or not at all, and the unique constraint keeps it to one of each
    kind per booking whatever retries or parallel dispatchers do.
    """

    class Kind(models.TextChoices):
        REQUEST = "request", _("Review request")
        REMINDER = "reminder", _("Reminder")

    booking = models.ForeignKey(
        "bookings.Booking", on_delete=models.CASCADE, related_name="review_requests", verbose_name=_("booking")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    due_at = models.DateTimeField(_("due at"))
    sent_at = models.DateTimeField(_("sent at"))

    class Meta:
        ordering = ["-sent_at", "-id"]
        verbose_name = _("review request")
        verbose_name_plural = _("review requests")
        constraints = [models.UniqueConstraint(fields=["booking", "kind"], name="one_review_request_per_kind")]
        indexes = [models.Index(fields=["kind", "sent_at"], name="review_request_kind_sent")]

    def __str__(self) -> str:
        return f"{self.kind} for booking {self.booking_id}"

    @property
    def idempotency_key(self) -> str:
        return f"review-{self.kind}:booking:{self.booking_id}"
