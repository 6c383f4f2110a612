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
