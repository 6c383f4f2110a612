from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class StoredAttachment:
    """One attachment as kept in ``OutboundEmail.attachments`` (content decoded back to bytes)."""

    filename: str
    content: bytes
    mimetype: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredAttachment:
        return cls(
            filename=str(data.get("filename") or ""),
            content=base64.b64decode(data["content"]),
            mimetype=str(data.get("mimetype") or "application/octet-stream"),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "filename": self.filename,
            "content": base64.b64encode(self.content).decode("ascii"),
            "mimetype": self.mimetype,
        }


class OutboundEmail(models.Model):
    """An e-mail as it will be (or was) sent: written before delivery, so a crash loses nothing.

    Delivery is a task (``notifications.tasks.deliver_email``) that may run more than once; the
    status, the lease in ``redeliver_after`` and the unique ``idempotency_key`` make it send once.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="outbound_emails",
    )
    to = models.JSONField(_("to"), default=list)
    cc = models.JSONField(_("cc"), default=list, blank=True)
    bcc = models.JSONField(_("bcc"), default=list, blank=True)
    reply_to = models.JSONField(_("reply to"), default=list, blank=True)
    from_email = models.CharField(_("from"), max_length=512)
    subject = models.CharField(_("subject"), max_length=998, blank=True)
    body_text = models.TextField(_("text body"), blank=True)
    body_html = models.TextField(_("HTML body"), blank=True)
    # [{"filename": ..., "content": <base64>, "mimetype": ...}]; see StoredAttachment.
    attachments = models.JSONField(_("attachments"), default=list, blank=True)
    headers = models.JSONField(_("extra headers"), default=dict, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255, unique=True)
    # Generated once and sent on every attempt, so a receiver can drop a duplicate delivery.
    message_id = models.CharField(_("Message-ID"), max_length=255)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    # Queued: when the periodic dispatcher may assume the delivery task was lost and enqueue it
    # again. Sending: when the claim of the worker that is sending it expires (it may have died).
    redeliver_after = models.DateTimeField(_("redeliver after"))

    class Meta:
        verbose_name = _("outbound e-mail")
        verbose_name_plural = _("outbound e-mails")
        ordering = ("-created_at", "-id")
        indexes = [
            # The dispatcher's query (status in queued/sending and due); also serves status filters.
            models.Index(fields=["status", "redeliver_after"], name="notif_email_status_due"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} -> {', '.join(self.to)}"

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]

    def stored_attachments(self) -> list[StoredAttachment]:
        return [StoredAttachment.from_json(item) for item in self.attachments]


class Notification(models.Model):
    """An in-app notice in a person's feed (booking confirmed, reminder, cancellation…)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=300, blank=True)
    # The same event never lands twice in a feed, whatever retries happen.
    idempotency_key = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "idempotency_key"], name="unique_notification_per_user_and_key")
        ]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}: {self.title}"
