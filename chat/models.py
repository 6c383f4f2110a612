"""The live room's data: chat messages with a per-session sequence, Q&A, moderation, participants.

Everything hangs off ``streaming.LiveSession``. ``RoomState`` is both the room's settings (slow
mode, pinned question) and the lock that hands out chat sequence numbers: every insert of a
message takes the row ``FOR UPDATE``, raises ``last_seq`` and commits, so sequence numbers are
unique, gap-free among committed rows, and committed in order (chat/services.py).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from chat import rules


class RoomState(models.Model):
    """Per-session room settings and the chat sequence counter (the row is the sequence lock)."""

    session = models.OneToOneField(
        "streaming.LiveSession",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="room_state",
        verbose_name=_("live session"),
    )
    # The highest sequence number handed out; every committed message has one <= this.
    last_seq = models.PositiveBigIntegerField(_("last sequence number"), default=0)
    slow_mode_seconds = models.PositiveSmallIntegerField(_("slow mode (seconds)"), default=0)
    pinned_question = models.ForeignKey(
        "Question",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("pinned question"),
    )
    # Emoji totals as last flushed from the room store (Redis or memory); the live totals are there.
    reaction_totals = models.JSONField(_("reaction totals"), default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("room state")
        verbose_name_plural = _("room states")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(slow_mode_seconds__lte=rules.SLOW_MODE_MAX_SECONDS), name="room_slow_mode_in_range"
            )
        ]

    def __str__(self) -> str:
        return f"Room of session {self.session_id}"


class ChatMessage(models.Model):
    class Status(models.TextChoices):
        VISIBLE = "visible", _("Visible")
        HELD = "held", _("Held for review")
        DELETED = "deleted", _("Deleted")
        REJECTED = "rejected", _("Rejected")

    session = models.ForeignKey(
        "streaming.LiveSession", on_delete=models.CASCADE, related_name="chat_messages", verbose_name=_("live session")
    )
    # Unique per session, assigned under the RoomState lock at insert (and again when a held
    # message is approved, so that a reader resuming "after seq N" never misses it).
    seq = models.PositiveBigIntegerField(_("sequence number"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages", verbose_name=_("author")
    )
    # The sending client's own id for the message: a retry with the same id is stored once.
    client_id = models.CharField(_("client id"), max_length=rules.CLIENT_ID_MAX_CHARS)
    text = models.TextField(_("text"), max_length=rules.MESSAGE_MAX_CHARS)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.VISIBLE)
    created_at = models.DateTimeField(_("sent at"))
    moderated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("moderated by"),
    )
    moderated_at = models.DateTimeField(_("moderated at"), null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["session", "seq"]
        verbose_name = _("chat message")
        verbose_name_plural = _("chat messages")
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="chat_message_seq_unique_per_session"),
            models.UniqueConstraint(
                fields=["session", "author", "client_id"], name="chat_message_client_id_unique_per_author"
            ),
        ]
        indexes = [models.Index(fields=["session", "status", "seq"], name="chat_message_session_status")]

    def __str__(self) -> str:
        return f"#{self.seq} in session {self.session_id}"


class Question(models.Model):
    class Status(models.TextChoices):
        VISIBLE = "visible", _("Visible")
        DELETED = "deleted", _("Deleted")

    session = models.ForeignKey(
        "streaming.LiveSession", on_delete=models.CASCADE, related_name="questions", verbose_name=_("live session")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="live_questions", verbose_name=_("author")
    )
    client_id = models.CharField(_("client id"), max_length=rules.CLIENT_ID_MAX_CHARS)
    text = models.TextField(_("text"), max_length=rules.QUESTION_MAX_CHARS)
    # Private: seen only by its author, the slot's guide and staff.
    private = models.BooleanField(_("private"), default=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.VISIBLE)
    votes = models.PositiveIntegerField(_("votes"), default=0)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("asked at"))

    class Meta:
        ordering = ["session", "-votes", "created_at"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        constraints = [
            models.UniqueConstraint(fields=["session", "author", "client_id"], name="question_client_id_unique")
        ]

    def __str__(self) -> str:
        return self.text[:60]


class QuestionVote(models.Model):
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="vote_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["question", "user"], name="one_vote_per_question_and_user")]

    def __str__(self) -> str:
        return f"{self.user_id} +1 question {self.question_id}"


class ChatTimeout(models.Model):
    """The person may not write in this session's chat (or ask) until ``until``."""

    session = models.ForeignKey(
        "streaming.LiveSession", on_delete=models.CASCADE, related_name="chat_timeouts", verbose_name=_("live session")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    until = models.DateTimeField(_("until"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-until"]
        verbose_name = _("chat timeout")
        verbose_name_plural = _("chat timeouts")
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="one_timeout_per_session_and_user")]

    def __str__(self) -> str:
        return f"{self.user} quiet until {self.until:%Y-%m-%d %H:%M}"


class BlockedWord(models.Model):
    """A word or phrase whose messages are held for the guide's approval (staff keep the list).

    Matched case-insensitively on whole words, after Unicode NFKC normalisation and case folding
    (``rules.normalise_for_matching``), so full-width or upper-case spellings of "bad" match "bad" too.
    """

    word = models.CharField(_("word or phrase"), max_length=100, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["word"]
        verbose_name = _("blocked word")
        verbose_name_plural = _("blocked words")

    def __str__(self) -> str:
        return self.word

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Stored normalised: the unique index then catches "Bad" beside "bad".
        self.word = rules.normalise_for_matching(self.word).strip()
        super().save(*args, **kwargs)


class Participant(models.Model):
    """One person in one session's room: when they came, when last seen, what they did."""

    class Role(models.TextChoices):
        GUIDE = "guide", _("Guide")
        VIEWER = "viewer", _("Viewer")
        STAFF = "staff", _("Staff")

    session = models.ForeignKey(
        "streaming.LiveSession", on_delete=models.CASCADE, related_name="participants", verbose_name=_("live session")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.VIEWER)
    joined_at = models.DateTimeField(_("joined at"))
    # Raised on connect, every heartbeat and on disconnect: "reconnecting" is measured from it.
    last_seen_at = models.DateTimeField(_("last seen at"))
    messages = models.PositiveIntegerField(_("messages"), default=0)
    reactions = models.PositiveIntegerField(_("reactions"), default=0)

    class Meta:
        ordering = ["session", "joined_at"]
        verbose_name = _("participant")
        verbose_name_plural = _("participants")
        constraints = [models.UniqueConstraint(fields=["session", "user"], name="one_participant_per_session_and_user")]

    def __str__(self) -> str:
        return f"{self.user} in session {self.session_id}"


class RoomConnection(models.Model):
    """One open socket in a session's room, in any ASGI process (presence lives here, not in memory).

    Deleted on disconnect; a process that dies leaves rows whose ``last_seen_at`` stops moving,
    and they count as gone after ``rules.CONNECTION_STALE_AFTER``.
    """

    session = models.ForeignKey("streaming.LiveSession", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    socket_id = models.CharField(max_length=64, unique=True)
    connected_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["session", "last_seen_at"], name="room_connection_fresh")]

    def __str__(self) -> str:
        return self.socket_id
