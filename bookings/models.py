from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _

from accounts.models import Language, validate_timezone


class Tour(models.Model):
    class Category(models.TextChoices):
        MUSEUM = "museum", _("Museum")
        FOOD = "food", _("Food & wine")
        WALKING = "walking", _("Walking")
        HISTORY = "history", _("History")
        ART = "art", _("Art & architecture")
        NATURE = "nature", _("Nature")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        CANCELLED = "cancelled", _("Cancelled")

    guide = models.ForeignKey(
        "accounts.GuideProfile", on_delete=models.PROTECT, related_name="tours", verbose_name=_("guide")
    )
    title = models.CharField(_("title"), max_length=140)
    slug = models.SlugField(_("slug"), max_length=160, unique=True)
    summary = models.CharField(_("summary"), max_length=280, blank=True)
    description = models.TextField(_("description"), blank=True)
    city = models.CharField(_("city"), max_length=80)
    category = models.CharField(_("category"), max_length=16, choices=Category.choices)
    languages = models.ManyToManyField(Language, related_name="tours", verbose_name=_("languages"))
    duration_minutes = models.PositiveIntegerField(
        _("duration (minutes)"), validators=[MinValueValidator(15), MaxValueValidator(8 * 60)]
    )
    price = models.DecimalField(
        _("price"), max_digits=8, decimal_places=2, default=Decimal("0"), validators=[MinValueValidator(0)]
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    max_group_size = models.PositiveIntegerField(
        _("maximum group size"), default=20, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    # The zone the guide's schedule is written in; slots are stored as UTC instants.
    timezone = models.CharField(
        _("time zone"), max_length=64, default=settings.TOUR_DEFAULT_TIMEZONE, validators=[validate_timezone]
    )
    cover_photo = models.ImageField(_("cover photo"), upload_to="tours/covers/", blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PUBLISHED)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title"]
        indexes = [models.Index(fields=["status", "city", "category"])]

    def __str__(self) -> str:
        return self.title

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.slug:
            self.slug = unique_slug(Tour, self.title)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("bookings:tour_detail", kwargs={"slug": self.slug})

    @property
    def is_free(self) -> bool:
        return self.price == 0


class TourPhoto(models.Model):
    tour = models.ForeignKey(Tour, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(_("image"), upload_to="tours/gallery/")
    caption = models.CharField(_("caption"), max_length=200, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.caption or f"Photo {self.pk} of {self.tour}"


def unique_slug(model: type[models.Model], text: str, *, max_length: int = 150) -> str:
    base = slugify(text)[:max_length] or "tour"
    slug, counter = base, 2
    while model._default_manager.filter(slug=slug).exists():
        slug, counter = f"{base}-{counter}", counter + 1
    return slug


def default_refund_policy() -> list[list[int]]:
    """[hours before start, percent refunded]: full refund up to 48 h, half up to 24 h, none after."""
    return [[48, 100], [24, 50]]


class TourScheduling(models.Model):
    """How a tour may be booked: notice, horizon, buffer and refund policy (one row per tour)."""

    tour = models.OneToOneField(Tour, on_delete=models.CASCADE, related_name="scheduling")
    min_notice_minutes = models.PositiveIntegerField(
        _("minimum notice (minutes)"), default=120, help_text=_("Bookings close this long before the start.")
    )
    horizon_days = models.PositiveIntegerField(
        _("booking horizon (days)"),
        default=90,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("How far ahead customers may book."),
    )
    buffer_minutes = models.PositiveIntegerField(
        _("buffer after the tour (minutes)"),
        default=30,
        validators=[MaxValueValidator(24 * 60)],
        help_text=_("Time the guide keeps free after this tour before another may start."),
    )
    refund_policy = models.JSONField(_("refund policy"), default=default_refund_policy)

    def __str__(self) -> str:
        return f"Scheduling of {self.tour}"


class AvailabilityRule(models.Model):
    """A recurring set of start times, written in the tour's zone as an RFC 5545 RRULE."""

    tour = models.ForeignKey(Tour, on_delete=models.CASCADE, related_name="availability_rules")
    rrule = models.CharField(_("recurrence (RRULE)"), max_length=300)
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    capacity = models.PositiveIntegerField(
        _("seats per slot"), null=True, blank=True, help_text=_("Empty: the tour's maximum group size.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["valid_from", "id"]

    def __str__(self) -> str:
        return f"{self.tour}: {self.rrule}"


class Blackout(models.Model):
    """A day (in the tour's zone) when a tour does not run, whatever its rules say."""

    tour = models.ForeignKey(Tour, on_delete=models.CASCADE, related_name="blackouts")
    date = models.DateField(_("date"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["tour", "date"], name="unique_blackout_per_tour_day")]

    def __str__(self) -> str:
        return f"{self.tour} closed on {self.date}"


class Slot(models.Model):
    """One bookable start of a tour. The row is the lock that keeps seats from being oversold."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CANCELLED = "cancelled", _("Cancelled")

    tour = models.ForeignKey(Tour, on_delete=models.CASCADE, related_name="slots")
    rule = models.ForeignKey(AvailabilityRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="slots")
    guide = models.ForeignKey("accounts.GuideProfile", on_delete=models.PROTECT, related_name="slots")
    start = models.DateTimeField(_("start (UTC)"), db_index=True)
    end = models.DateTimeField(_("end (UTC)"))
    capacity = models.PositiveIntegerField(_("seats"), validators=[MinValueValidator(1)])
    # Kept equal to the sum of active bookings' seats; only changed while the row is locked.
    booked_seats = models.PositiveIntegerField(_("booked seats"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    cancelled_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        constraints = [
            models.UniqueConstraint(fields=["tour", "start"], name="unique_slot_start_per_tour"),
            models.CheckConstraint(
                condition=models.Q(booked_seats__lte=models.F("capacity")), name="slot_not_oversold"
            ),
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="slot_ends_after_start"),
        ]
        indexes = [models.Index(fields=["guide", "start"])]

    def __str__(self) -> str:
        return f"{self.tour} at {self.start:%Y-%m-%d %H:%M} UTC"

    @property
    def seats_left(self) -> int:
        return max(self.capacity - self.booked_seats, 0)


class Booking(models.Model):
    class Status(models.TextChoices):
        PENDING_PAYMENT = "pending_payment", _("Awaiting payment")
        CONFIRMED = "confirmed", _("Confirmed")
        CANCELLED = "cancelled", _("Cancelled")
        # Not paid in time (or the payment failed): the held seats went back on sale.
        EXPIRED = "expired", _("Not paid, released")

    ACTIVE_STATUSES = (Status.PENDING_PAYMENT, Status.CONFIRMED)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings")
    slot = models.ForeignKey(Slot, on_delete=models.PROTECT, related_name="bookings")
    seats = models.PositiveIntegerField(_("seats"), validators=[MinValueValidator(1)])
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.CONFIRMED)
    # A client-supplied key (one per booking form): a resubmitted form finds the first booking.
    idempotency_key = models.CharField(max_length=64)
    amount_minor = models.PositiveIntegerField(_("amount paid (minor units)"), default=0)
    currency = models.CharField(max_length=3, default="EUR")
    refunded_minor = models.PositiveIntegerField(_("refunded (minor units)"), default=0)
    # A paid booking holds its seats while the customer pays; past this instant the hold is released.
    hold_expires_at = models.DateTimeField(_("seats held until"), null=True, blank=True)
    # iTIP: the calendar event keeps its UID for life and SEQUENCE rises with every change.
    ics_sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancel_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="unique_booking_idempotency_key"),
            # Two tabs, one seat-holder: at most one active booking per user and slot.
            models.UniqueConstraint(
                fields=["user", "slot"],
                condition=models.Q(status__in=["pending_payment", "confirmed"]),
                name="one_active_booking_per_user_and_slot",
            ),
        ]

    def __str__(self) -> str:
        return f"Booking {self.pk} by {self.user} for {self.slot}"

    def get_absolute_url(self) -> str:
        return reverse("bookings:booking_detail", kwargs={"pk": self.pk})

    @property
    def ics_uid(self) -> str:
        return f"booking-{self.pk}@italyfromcouch"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES


class Reminder(models.Model):
    """A reminder due before a booked tour: a row first, sent once by the periodic dispatcher."""

    class Kind(models.TextChoices):
        DAY_BEFORE = "24h", _("24 hours before")
        HOUR_BEFORE = "1h", _("1 hour before")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    due_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "kind", "due_at"], name="unique_reminder_per_booking_kind_and_time"
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.kind} reminder for booking {self.booking_id}"

    @property
    def idempotency_key(self) -> str:
        return f"reminder:{self.pk}"
