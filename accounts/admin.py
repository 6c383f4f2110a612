from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from accounts.images import normalise_photo
from accounts.models import GuideProfile, Language, User


# Unparameterised: Django's classes are not subscriptable at run time without django_stubs_ext.
class UserCreationAdminForm(AdminUserCreationForm):  # type: ignore[type-arg]
    class Meta:
        model = User
        fields = ("email",)


class UserChangeAdminForm(UserChangeForm):  # type: ignore[type-arg]
    class Meta:
        model = User
        fields = "__all__"


class GuideProfileAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = GuideProfile
        fields = ("user", "display_name", "slug", "city", "bio", "languages", "photo")

    def clean_photo(self) -> Any:
        # Staff uploads go through the same re-encoding as guides' own: no EXIF reaches the site.
        photo = self.cleaned_data.get("photo")
        if isinstance(photo, UploadedFile):
            return normalise_photo(photo, name_prefix=self.instance.slug or "guide")
        return photo


class GuideProfileInline(admin.StackedInline):  # type: ignore[type-arg]
    model = GuideProfile
    form = GuideProfileAdminForm
    can_delete = False
    extra = 0
    fields = ("display_name", "slug", "city", "bio", "languages", "photo")
    filter_horizontal = ("languages",)
    verbose_name_plural = _("guide profile")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):  # type: ignore[type-arg]
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    list_display = ("email", "name", "role", "is_staff", "is_active", "date_joined")
    list_filter = ("role", "is_staff", "is_active", "is_superuser")
    search_fields = ("email", "name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined")
    inlines = (GuideProfileInline,)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("name", "country", "timezone", "language")}),
        (
            _("Role and permissions"),
            {
                "fields": ("role", "is_active", "is_staff", "is_superuser", "groups", "user_permissions"),
                "description": _(
                    "The Staff role always grants admin access; moving someone off the Staff role "
                    "removes it again (superusers keep it)."
                ),
            },
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "role", "usable_password", "password1", "password2"),
            },
        ),
    )

    def get_inlines(self, request: Any, obj: User | None) -> Any:
        # Only guides have a public profile; customers and staff would just see an empty form.
        return self.inlines if obj is not None and obj.role == User.Role.GUIDE else ()


@admin.register(GuideProfile)
class GuideProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = GuideProfileAdminForm
    list_display = ("display_name", "city", "user", "slug")
    list_filter = ("city", "languages")
    search_fields = ("display_name", "city", "user__email", "user__name")
    list_select_related = ("user",)
    autocomplete_fields = ("user",)
    filter_horizontal = ("languages",)


@admin.register(Language)
class LanguageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("code", "name")
    search_fields = ("code", "name")
    ordering = ("name",)
