"""Staff views of tips: read-only (the money is changed through payments, not here)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from payments.tips.models import GuideTipSettings, Tip


@admin.register(Tip)
class TipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "pk",
        "guide",
        "tipper",
        "amount_minor",
        "currency",
        "status",
        "during_live",
        "paid_at",
        "thanked_at",
    )
    list_filter = ("status", "during_live", "show_in_room", "currency")
    search_fields = ("guide__display_name", "tipper__email", "tipper__name", "message")
    raw_id_fields = ("tipper", "guide", "booking", "slot", "session", "payment")
    readonly_fields = (
        "tipper",
        "guide",
        "booking",
        "slot",
        "session",
        "payment",
        "amount_minor",
        "currency",
        "message",
        "show_in_room",
        "during_live",
        "status",
        "failure_message",
        "idempotency_key",
        "paid_at",
        "thank_you_text",
        "thanked_at",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(GuideTipSettings)
class GuideTipSettingsAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("guide", "updated_at")
    search_fields = ("guide__display_name",)
    raw_id_fields = ("guide",)
