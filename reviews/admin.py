"""The moderation queue: staff approve or reject reviews here, one by one or in bulk.

Decisions go through reviews.services (row lock, the author told by e-mail and in-app), never by
editing the status field, which is read-only. The list shows waiting reviews first, oldest first,
with hints: a link or e-mail address in the text, and blocked words found in it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.db.models.expressions import Combinable
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import User
from reviews import selectors, services
from reviews.forms import RejectionForm
from reviews.models import Review, ReviewRequest
from reviews.rules import ModerationHints
from reviews.selectors import ReviewError


class ReviewAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """Staff edit only the rejection reason (used by the Reject button) and an existing reply."""

    class Meta:
        model = Review
        fields = ("rejection_reason", "guide_reply")
        widgets = {"rejection_reason": forms.Textarea(attrs={"rows": 3, "cols": 60})}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "_reject" in self.data and not (cleaned.get("rejection_reason") or "").strip():
            self.add_error("rejection_reason", _("Give the author a reason for the rejection."))
        reply = (cleaned.get("guide_reply") or "").strip()
        if reply and self.instance.replied_at is None:
            self.add_error("guide_reply", _("Only the guide writes a reply; staff may edit or remove one."))
        cleaned["guide_reply"] = reply
        return cleaned


class HintFilter(admin.SimpleListFilter):
    title = _("moderation hints")
    parameter_name = "hints"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("text", _("With text")), ("rating_only", _("Rating only"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Review]) -> QuerySet[Review]:
        if self.value() == "text":
            return queryset.exclude(text="")
        if self.value() == "rating_only":
            return queryset.filter(text="")
        return queryset


# Unparameterised: Django's classes are not subscriptable at run time without django_stubs_ext.
@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ReviewAdminForm
    change_form_template = "admin/reviews/review/change_form.html"
    # The hints sit beside the text they are about, before the columns that make the row wide.
    list_display = (
        "created_at",
        "status",
        "rating",
        "excerpt",
        "contains_link",
        "blocked_words_found",
        "tour",
        "author",
    )
    list_display_links = ("created_at", "excerpt")
    list_filter = ("status", "rating", HintFilter, "tour__city")
    list_select_related = ("tour", "author")
    search_fields = ("text", "tour__title", "author__email", "author__name", "guide__display_name")
    actions = ("approve_selected", "reject_selected")
    list_per_page = 50
    fields = (
        "status",
        "moderation_hints",
        "rating",
        "text",
        "tour",
        "guide",
        "author",
        "booking",
        "created_at",
        "moderated_at",
        "moderated_by",
        "rejection_reason",
        "guide_reply",
        "replied_at",
    )
    readonly_fields = (
        "status",
        "moderation_hints",
        "rating",
        "text",
        "tour",
        "guide",
        "author",
        "booking",
        "created_at",
        "moderated_at",
        "moderated_by",
        "replied_at",
    )

    def get_ordering(self, request: HttpRequest) -> tuple[str | Combinable, ...]:
        # The queue: waiting reviews first, oldest first (first written, first read), then the rest.
        waiting_first = Case(
            When(status=Review.Status.PENDING, then=Value(0)), default=Value(1), output_field=IntegerField()
        )
        return (waiting_first.asc(), "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # only guests write reviews, through the site

    # --- Columns and hints -----------------------------------------------------------------

    def _hints(self, review: Review) -> ModerationHints:
        return selectors.moderation_hints_for(review)

    @admin.display(description=_("review"))
    def excerpt(self, review: Review) -> str:
        return Truncator(review.text).chars(80) if review.text else str(_("(rating only)"))

    @admin.display(description=_("contains a link"), boolean=True)
    def contains_link(self, review: Review) -> bool:
        return self._hints(review).has_link

    @admin.display(description=_("blocked words"))
    def blocked_words_found(self, review: Review) -> str:
        return ", ".join(self._hints(review).blocked_words)

    @admin.display(description=_("hints"))
    def moderation_hints(self, review: Review) -> SafeString:
        hints = self._hints(review)
        if not hints.any:
            return format_html("{}", _("Nothing to flag."))
        parts = []
        if hints.has_link:
            parts.append(str(_("Contains a link or an e-mail address.")))
        if hints.blocked_words:
            parts.append(str(_("Blocked words: %(words)s.")) % {"words": ", ".join(hints.blocked_words)})
        return format_html("<strong>{}</strong>", " ".join(parts))

    # --- Decisions --------------------------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: Review, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        user = request.user
        assert isinstance(user, User)
        try:
            if "_approve" in request.POST:
                services.approve_review(review_id=obj.pk, by=user)
                self.message_user(request, _("Review approved and published; the author has been told."))
            elif "_reject" in request.POST:
                services.reject_review(review_id=obj.pk, by=user, reason=form.cleaned_data["rejection_reason"])
                self.message_user(request, _("Review rejected; the author has been told why."))
            else:
                if not obj.guide_reply:
                    obj.replied_at = None
                obj.save(update_fields=["guide_reply", "replied_at"])
        except ReviewError as error:
            self.message_user(request, error.message, level=messages.ERROR)
        obj.refresh_from_db()

    @admin.action(description=_("Approve the selected reviews"), permissions=["change"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Review]) -> None:
        user = request.user
        assert isinstance(user, User)
        count = services.approve_reviews(review_ids=queryset.values_list("pk", flat=True), by=user)
        self.message_user(
            request,
            ngettext("%(count)d review approved.", "%(count)d reviews approved.", count) % {"count": count},
            level=messages.SUCCESS,
        )

    @admin.action(description=_("Reject the selected reviews…"), permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Review]) -> HttpResponse | None:
        """Asks for one reason (an intermediate page), then rejects every selected review with it."""
        user = request.user
        assert isinstance(user, User)
        form = RejectionForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            count = services.reject_reviews(
                review_ids=queryset.values_list("pk", flat=True), by=user, reason=form.cleaned_data["reason"]
            )
            self.message_user(
                request,
                ngettext("%(count)d review rejected.", "%(count)d reviews rejected.", count) % {"count": count},
                level=messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reject reviews"),
            "reviews": queryset.select_related("tour", "author"),
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/reviews/review/reject_selected.html", context)


@admin.register(ReviewRequest)
class ReviewRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: a record of the review requests and reminders that were sent."""

    list_display = ("sent_at", "kind", "booking", "due_at")
    list_filter = ("kind",)
    list_select_related = ("booking",)
    search_fields = ("booking__user__email", "booking__slot__tour__title")
    readonly_fields = ("booking", "kind", "due_at", "sent_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ReviewRequest | None = None) -> bool:
        return False
