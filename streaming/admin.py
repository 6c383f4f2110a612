from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from streaming.models import LiveSession, SessionBan, ViewerPresence


class SessionBanInline(admin.TabularInline):  # type: ignore[type-arg]
    model = SessionBan
    fk_name = "session"
    extra = 0
    fields = ("user", "by", "reason", "created_at")
    readonly_fields = ("by", "created_at")
    autocomplete_fields = ("user",)


@admin.register(LiveSession)
class LiveSessionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("slot", "status", "ended_reason", "started_at", "ended_at", "publisher_epoch", "grace_minutes")
    list_filter = ("status", "ended_reason")
    list_select_related = ("slot", "slot__tour")
    search_fields = ("slot__tour__title", "slot__guide__display_name", "slot__guide__user__email")
    date_hierarchy = "created_at"
    # The lifecycle moves only through streaming.services (row lock, checks); staff read it here.
    readonly_fields = (
        "slot",
        "status",
        "ended_reason",
        "started_at",
        "ended_at",
        "publisher_epoch",
        "created_at",
        "updated_at",
    )
    inlines = (SessionBanInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Sessions are created on demand for a slot (services.session_for_slot), never by hand.
        return False

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for ban in formset.save(commit=False):
            if ban.by_id is None:
                ban.by = request.user
            ban.save()
        for deleted in formset.deleted_objects:
            deleted.delete()


@admin.register(SessionBan)
class SessionBanAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "session", "by", "reason", "created_at")
    list_select_related = ("user", "session", "session__slot", "by")
    search_fields = ("user__email", "reason", "session__slot__tour__title")
    autocomplete_fields = ("user",)
    raw_id_fields = ("session",)
    readonly_fields = ("by", "created_at")

    def save_model(self, request: HttpRequest, obj: SessionBan, form: Any, change: bool) -> None:
        if obj.by_id is None:
            obj.by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(ViewerPresence)
class ViewerPresenceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "session", "first_joined_at", "last_seen_at", "total_seconds")
    list_select_related = ("user", "session", "session__slot")
    search_fields = ("user__email",)
    readonly_fields = ("session", "user", "first_joined_at", "last_seen_at", "total_seconds")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
