"""Staff see and act on the live rooms here: the same services as the guide's moderation tools,
so an action in the admin reaches the open rooms too (events after commit)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.models import User
from chat import services
from chat.models import BlockedWord, ChatMessage, ChatTimeout, Participant, Question, RoomState
from chat.rules import RuleViolation
from streaming.models import ViewerPresence


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _report(request: HttpRequest, done: int, refused: list[str]) -> None:
    if done:
        messages.success(
            request, ngettext("%(count)d item changed.", "%(count)d items changed.", done) % {"count": done}
        )
    for reason in refused[:5]:
        messages.warning(request, reason)


@admin.register(ChatMessage)
class ChatMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("session", "seq", "author", "excerpt", "status", "created_at", "moderated_by")
    list_filter = ("status",)
    list_select_related = ("session", "session__slot", "author", "moderated_by")
    # Searching "12" finds the messages of live session 12 (exact match on the id).
    search_fields = ("=session__id", "text", "author__email", "author__name")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ("delete_for_everyone", "approve_held", "reject_held")
    readonly_fields = (
        "session",
        "seq",
        "author",
        "client_id",
        "text",
        "status",
        "created_at",
        "moderated_by",
        "moderated_at",
        "deleted_by",
    )

    @admin.display(description=_("text"))
    def excerpt(self, message: ChatMessage) -> str:
        return message.text[:80]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Rows are never removed: a soft delete keeps the sequence and tells the open rooms.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _each(self, request: HttpRequest, queryset: QuerySet[ChatMessage], call: Any) -> None:
        done, refused = 0, []
        for message in queryset:
            try:
                call(message)
                done += 1
            except RuleViolation as refusal:
                refused.append(f"#{message.seq} (session {message.session_id}): {refusal.message}")
        _report(request, done, refused)

    @admin.action(description=_("Delete for everyone"))
    def delete_for_everyone(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        by = _staff(request)
        self._each(
            request,
            queryset,
            lambda message: services.delete_message(by=by, session_id=message.session_id, message_id=message.pk),
        )

    @admin.action(description=_("Approve held messages"))
    def approve_held(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        by = _staff(request)
        self._each(
            request,
            queryset.filter(status=ChatMessage.Status.HELD),
            lambda message: services.resolve_held(
                by=by, session_id=message.session_id, message_id=message.pk, approve=True
            ),
        )

    @admin.action(description=_("Reject held messages"))
    def reject_held(self, request: HttpRequest, queryset: QuerySet[ChatMessage]) -> None:
        by = _staff(request)
        self._each(
            request,
            queryset.filter(status=ChatMessage.Status.HELD),
            lambda message: services.resolve_held(
                by=by, session_id=message.session_id, message_id=message.pk, approve=False
            ),
        )


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("session", "__str__", "author", "private", "votes", "answered_at", "status", "created_at")
    list_filter = ("private", "status")
    list_select_related = ("session", "author")
    search_fields = ("=session__id", "text", "author__email")
    readonly_fields = (
        "session",
        "author",
        "client_id",
        "text",
        "private",
        "votes",
        "answered_at",
        "answered_by",
        "status",
        "created_at",
    )
    actions = ("mark_answered",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Mark answered"))
    def mark_answered(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        by = _staff(request)
        done, refused = 0, []
        for question in queryset:
            try:
                services.answer_question(by=by, session_id=question.session_id, question_id=question.pk)
                done += 1
            except RuleViolation as refusal:
                refused.append(f"{question}: {refusal.message}")
        _report(request, done, refused)


@admin.register(ChatTimeout)
class ChatTimeoutAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "session", "until", "by", "created_at")
    list_select_related = ("user", "session", "by")
    search_fields = ("=session__id", "user__email")
    raw_id_fields = ("session", "user")
    readonly_fields = ("by", "created_at")

    def save_model(self, request: HttpRequest, obj: ChatTimeout, form: Any, change: bool) -> None:
        if obj.by_id is None:
            obj.by = _staff(request)
        super().save_model(request, obj, form, change)


@admin.register(BlockedWord)
class BlockedWordAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("word", "created_by", "created_at")
    search_fields = ("word",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request: HttpRequest, obj: BlockedWord, form: Any, change: bool) -> None:
        if obj.created_by_id is None:
            obj.created_by = _staff(request)
        super().save_model(request, obj, form, change)


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Who was in a room and what they did (filled live; read after the tour)."""

    list_display = ("user", "session", "role", "joined_at", "last_seen_at", "watched", "messages", "reactions")
    list_filter = ("role",)
    list_select_related = ("user", "session", "session__slot")
    search_fields = ("=session__id", "user__email", "user__name")
    readonly_fields = ("session", "user", "role", "joined_at", "last_seen_at", "messages", "reactions")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("watched (seconds)"))
    def watched(self, participant: Participant) -> int:
        seconds = (
            ViewerPresence.objects.filter(session_id=participant.session_id, user_id=participant.user_id)
            .values_list("total_seconds", flat=True)
            .first()
        )
        return int(seconds or 0)


@admin.register(RoomState)
class RoomStateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("session", "last_seq", "slow_mode_seconds", "pinned_question", "updated_at")
    list_select_related = ("session", "session__slot", "pinned_question")
    search_fields = ("=session__id",)
    fields = ("session", "last_seq", "slow_mode_seconds", "pinned_question", "reaction_totals", "updated_at")
    readonly_fields = ("session", "last_seq", "pinned_question", "reaction_totals", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RoomState, form: Any, change: bool) -> None:
        # Through the service: the open room hears of the new slow mode at once.
        try:
            services.set_slow_mode(by=_staff(request), session_id=obj.session_id, seconds=obj.slow_mode_seconds)
        except RuleViolation as refusal:
            messages.error(request, refusal.message)
