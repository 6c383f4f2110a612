from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from notifications import services
from notifications.models import OutboundEmail


# Unparameterised: Django's classes are not subscriptable at run time without django_stubs_ext.
@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: a row is a record of what was sent; the only change staff make is a re-send."""

    list_display = ("created_at", "subject", "recipient_list", "status", "attempts", "sent_at")
    list_filter = ("status",)
    # "to" is a JSON list; icontains matches against its text on SQLite and PostgreSQL alike.
    search_fields = ("subject", "to")
    ordering = ("-created_at", "-id")
    actions = ("resend_failed",)
    fields = (
        "status",
        "attempts",
        "last_error",
        "created_at",
        "last_attempt_at",
        "sent_at",
        "user",
        "from_email",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "subject",
        "message_id",
        "idempotency_key",
        "headers",
        "body_text",
        "body_html",
        "attachment_list",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboundEmail | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboundEmail | None = None) -> bool:
        return False

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.change_outboundemail")

    @admin.display(description=_("to"))
    def recipient_list(self, obj: OutboundEmail) -> str:
        return ", ".join(obj.to)

    @admin.display(description=_("attachments"))
    def attachment_list(self, obj: OutboundEmail) -> str:
        # The base64 content is not worth showing; the names and types are.
        return ", ".join(f"{item.filename or '-'} ({item.mimetype})" for item in obj.stored_attachments())

    @admin.action(description=_("Re-send failed e-mails"), permissions=["resend"])
    def resend_failed(self, request: HttpRequest, queryset: QuerySet[OutboundEmail]) -> None:
        count = services.resend_failed(outbound_emails=queryset, now=timezone.now())
        self.message_user(
            request,
            ngettext(
                "%(count)d failed e-mail queued again.",
                "%(count)d failed e-mails queued again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
