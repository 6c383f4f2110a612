from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone as django_timezone
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _


def validate_timezone(value: str) -> None:
    if value and value not in zoneinfo.available_timezones():
        raise ValidationError(_("%(value)s is not a known time zone."), params={"value": value})


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An e-mail address is required")
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("role", User.Role.STAFF)
        return self._create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    class Role(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        GUIDE = "guide", _("Guide")
        STAFF = "staff", _("Staff")

    email = models.EmailField(_("e-mail address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.CUSTOMER)
    # Empty until the browser reports it on the first visit; then editable in the profile.
    timezone = models.CharField(_("time zone"), max_length=64, blank=True, validators=[validate_timezone])
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, blank=True)
    country = models.CharField(_("country"), max_length=64, blank=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=django_timezone.now)

    objects: ClassVar[UserManager] = UserManager()
    # The role as last read from or written to the database (not a field).
    _stored_role: str | None = None

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Remember the role as loaded so that save() can tell a demotion from "was never staff".
        self._stored_role = self.__dict__.get("role")

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Role and the admin flag must not drift apart, whoever saves (admin, shell, a service):
        # the staff role always opens the admin; leaving it closes the admin again, except for
        # superusers, who keep access whatever their role says.
        stored_role = None if self._state.adding else self._stored_role
        flag_before = self.is_staff
        if self.role == self.Role.STAFF:
            self.is_staff = True
        elif stored_role == self.Role.STAFF and not self.is_superuser:
            self.is_staff = False
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and self.is_staff != flag_before:
            kwargs["update_fields"] = {*update_fields, "is_staff"}
        super().save(*args, **kwargs)
        self._stored_role = self.role

    def get_full_name(self) -> str:
        return self.name or self.email.split("@")[0]

    def get_short_name(self) -> str:
        return self.get_full_name()

    @property
    def is_guide(self) -> bool:
        return self.role == self.Role.GUIDE

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone or "UTC")


class Language(models.Model):
    """A language a tour is given in or a guide speaks (ISO 639-1 code)."""

    code = models.CharField(max_length=8, primary_key=True)
    name = models.CharField(max_length=64)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GuideProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guide_profile")
    display_name = models.CharField(_("display name"), max_length=100)
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    bio = models.TextField(_("bio"), blank=True)
    city = models.CharField(_("city"), max_length=80)
    languages = models.ManyToManyField(Language, blank=True, verbose_name=_("languages"))
    photo = models.ImageField(_("photo"), upload_to="guides/", blank=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The slug is set once and kept: renaming a guide must not break links already shared.
        if not self.slug:
            self.slug = self._unique_slug()
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("accounts:guide_detail", kwargs={"slug": self.slug})

    def _unique_slug(self) -> str:
        base = slugify(self.display_name)[:110] or f"guide-{self.user_id}"
        slug, counter = base, 2
        # Two guides called "Marco Rossi" must both get a page, not an IntegrityError.
        while GuideProfile.objects.filter(slug=slug).exclude(pk=self.pk).exists():
            slug, counter = f"{base}-{counter}", counter + 1
        return slug
