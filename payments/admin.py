"""Staff views of the money: payments, refunds (failed ones first to act on), events, accounts."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from payments.models import GuidePaymentAccount, Payment, Refund, WebhookEvent


@admin.register(GuidePaymentAccount)
class GuidePaymentAccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("guide", "account_id", "provider", "charges_enabled", "payouts_enabled", "details_submitted")
    list_filter = ("provider", "charges_enabled", "payouts_enabled")
    search_fields = ("account_id", "guide__display_name", "guide__user__email")
    readonly_fields = ("status_as_of", "created_at", "updated_at")


class RefundInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Refund
    extra = 0
    can_delete = False
    fields = ("amount_minor", "fee_refunded_minor", "status", "provider_reference", "attempts", "last_error")
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "pk",
        "kind",
        "payer",
        "guide",
        "amount_minor",
        "currency",
        "application_fee_minor",
        "status",
        "created_at",
    )
    list_filter = ("status", "kind", "provider")
    search_fields = ("provider_reference", "idempotency_key", "payer__email")
    readonly_fields = ("client_secret", "created_at", "updated_at", "paid_at")
    inlines = [RefundInline]


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("pk", "payment", "amount_minor", "status", "attempts", "last_error", "created_at")
    list_filter = ("status",)
    search_fields = ("provider_reference", "idempotency_key")
    actions = ["retry_now"]

    @admin.action(description=_("Send the selected refunds again now"))
    def retry_now(self, request: HttpRequest, queryset: QuerySet[Refund]) -> None:
        count = (
            queryset.exclude(status=Refund.Status.SUCCEEDED)
            .filter(provider_reference="")
            .update(status=Refund.Status.PENDING, next_attempt_at=timezone.now(), attempts=0)
        )
        self.message_user(
            request, _("%(count)d refund(s) will be sent again within a minute.") % {"count": count}, messages.SUCCESS
        )


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("event_id", "type", "provider", "status", "attempts", "received_at", "processed_at")
    list_filter = ("status", "type", "provider")
    search_fields = ("event_id",)
    readonly_fields = ("payload",)
