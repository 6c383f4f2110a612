"""Admin for availability, dates, bookings and reminders (imported by bookings/admin.py).

Seats, refunds and clash checks live in services (bookings.scheduling, bookings.reservations), so
most rows here are read-only and changes go through actions that call those services: an admin
form saving a Slot or Booking directly would skip the row lock, the refund and the customer's e-mail.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import User
from bookings import reservations, rules, scheduling
from bookings.models import AvailabilityRule, Blackout, Booking, Reminder, Slot, TourScheduling
from bookings.schedule_services import check_buffer_keeps_slots_apart


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every field shown, none editable, no add; subclasses decide about delete."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


def _staff(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


# --- Settings and rules ------------------------------------------------------------------------


class TourSchedulingAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = TourScheduling
        fields = ("tour", "min_notice_minutes", "horizon_days", "buffer_minutes", "refund_policy")

    def clean_refund_policy(self) -> list[list[int]]:
        pairs = self.cleaned_data["refund_policy"]
        try:
            return rules.RefundPolicy.from_pairs(pairs if isinstance(pairs, list) else [pairs]).to_pairs()
        except (rules.InvalidRefundPolicy, TypeError) as error:
            raise forms.ValidationError(
                _("Write [[hours before, percent], ...], e.g. [[48, 100], [24, 50]]: %(error)s"),
                params={"error": error},
            ) from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        tour, buffer = cleaned.get("tour"), cleaned.get("buffer_minutes")
        previous = self.instance.buffer_minutes if self.instance.pk else 0
        if tour is not None and buffer is not None and buffer > previous:
            # The same check as the guide's settings form: a longer buffer must not make dates overlap.
            try:
                check_buffer_keeps_slots_apart(tour, buffer_minutes=buffer)
            except scheduling.SchedulingError as error:
                self.add_error("buffer_minutes", error.message)
        return cleaned


@admin.register(TourScheduling)
class TourSchedulingAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = TourSchedulingAdminForm
    list_display = ("tour", "min_notice_minutes", "horizon_days", "buffer_minutes", "refund_policy")
    list_select_related = ("tour",)
    search_fields = ("tour__title", "tour__slug")
    raw_id_fields = ("tour",)


@admin.register(AvailabilityRule)
class AvailabilityRuleAdmin(ReadOnlyAdmin):
    """Rules are added on the tour's Dates page (the clash check runs there); here they can be stopped."""

    list_display = ("tour", "rrule", "valid_from", "valid_until", "capacity", "is_active", "created_at")
    list_filter = ("is_active",)
    list_select_related = ("tour",)
    search_fields = ("tour__title", "rrule")
    actions = ("stop_rules",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Stop the selected rules (their unbooked future dates are removed)"))
    def stop_rules(self, request: HttpRequest, queryset: QuerySet[AvailabilityRule]) -> None:
        user, stopped, removed = _staff(request), 0, 0
        for rule in queryset.filter(is_active=True).select_related("tour", "tour__guide"):
            removed += scheduling.deactivate_rule(user=user, rule=rule)
            stopped += 1
        self.message_user(
            request,
            ngettext("%(count)d rule stopped", "%(count)d rules stopped", stopped) % {"count": stopped}
            + ", "
            + ngettext("%(count)d unbooked date removed.", "%(count)d unbooked dates removed.", removed)
            % {"count": removed},
        )


@admin.register(Blackout)
class BlackoutAdmin(ReadOnlyAdmin):
    """Days are closed on the tour's Dates page (which removes their unbooked dates). Deleting a
    row here reopens the day: dates come back at the next materialization."""

    list_display = ("tour", "date", "reason")
    list_select_related = ("tour",)
    search_fields = ("tour__title", "reason")
    date_hierarchy = "date"


# --- Dates, bookings, reminders -----------------------------------------------------------------


class BookingInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Booking
    fields = ("user", "seats", "status", "amount_minor", "refunded_minor", "currency", "created_at", "cancelled_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Slot)
class SlotAdmin(ReadOnlyAdmin):
    list_display = ("tour", "start", "end", "guide", "booked_seats", "capacity", "status")
    list_filter = ("status",)
    list_select_related = ("tour", "guide")
    search_fields = ("tour__title", "guide__display_name")
    date_hierarchy = "start"
    inlines = (BookingInline,)
    actions = ("cancel_slots",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=_("Cancel the selected dates (every booking fully refunded, customers told)"))
    def cancel_slots(self, request: HttpRequest, queryset: QuerySet[Slot]) -> None:
        user, cancelled, bookings = _staff(request), 0, 0
        for slot in queryset.filter(status=Slot.Status.SCHEDULED):
            try:
                outcomes = reservations.cancel_slot(user=user, slot_id=slot.pk, reason="Cancelled by Italy From Couch")
            except reservations.BookingError as error:
                self.message_user(request, f"{slot}: {error.message}", messages.WARNING)
                continue
            cancelled += 1
            bookings += len(outcomes)
        self.message_user(
            request,
            ngettext("%(count)d date cancelled", "%(count)d dates cancelled", cancelled) % {"count": cancelled}
            + ", "
            + ngettext("%(count)d booking refunded.", "%(count)d bookings refunded.", bookings) % {"count": bookings},
        )


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    list_display = ("pk", "user", "slot", "seats", "status", "amount_minor", "refunded_minor", "currency", "created_at")
    list_filter = ("status", "currency")
    list_select_related = ("user", "slot", "slot__tour")
    search_fields = ("user__email", "user__name", "slot__tour__title", "idempotency_key")
    date_hierarchy = "created_at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ("booking", "kind", "due_at", "status", "sent_at")
    list_filter = ("status", "kind")
    list_select_related = ("booking",)
    search_fields = ("booking__user__email", "booking__slot__tour__title")
    date_hierarchy = "due_at"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
