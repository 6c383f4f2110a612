from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AdminFileWidget

from bookings.forms import ReencodedImageField
from bookings.models import Tour, TourPhoto


# Unparameterised: Django's classes are not subscriptable at run time without django_stubs_ext.
class TourAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    # Staff uploads are re-encoded too: EXIF from a guide's phone must not reach the site by this door.
    cover_photo = ReencodedImageField(required=False, widget=AdminFileWidget)

    class Meta:
        model = Tour
        # The admin shows every field; a narrower list here would hide the rest from it.
        fields = "__all__"  # noqa: DJ007


class TourPhotoAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    image = ReencodedImageField(widget=AdminFileWidget)

    class Meta:
        model = TourPhoto
        fields = "__all__"  # noqa: DJ007


class TourPhotoInline(admin.TabularInline):  # type: ignore[type-arg]
    model = TourPhoto
    form = TourPhotoAdminForm
    extra = 1
    fields = ("image", "caption", "position")


@admin.register(Tour)
class TourAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = TourAdminForm
    list_display = ("title", "guide", "city", "category", "price", "currency", "status")
    list_filter = ("status", "category", "city", "languages")
    list_select_related = ("guide",)
    search_fields = ("title", "summary", "city", "guide__display_name", "guide__user__email")
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("languages",)
    readonly_fields = ("created_at", "updated_at")
    inlines = (TourPhotoInline,)
    date_hierarchy = "created_at"


@admin.register(TourPhoto)
class TourPhotoAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = TourPhotoAdminForm
    list_display = ("__str__", "tour", "position")
    list_select_related = ("tour",)
    search_fields = ("caption", "tour__title")
    raw_id_fields = ("tour",)


# Registers the scheduling models (rules, blackouts, slots, bookings, reminders) on import.
import bookings.schedule_admin  # noqa: E402, F401
