"""Tips to guides: one row per tip (its money is a ``Payment`` of kind TIP) and a guide's saved thank-you text.

The Payment row holds the money facts (amount, fee, refunds, provider state); the Tip row holds
what the people said and did: the tipper's message and whether the room may see a "thank you"
moment, when the tip was paid (set once, by the payment's succeeded handler) and the guide's
thank-you (set once).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from payments.tips import rules


class Tip(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting payment")
        PAID = "paid", _("Paid")
        FAILED = "failed", _("Not paid")

    tipper = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tips_given")
    guide = models.ForeignKey("accounts.GuideProfile", on_delete=models.PROTECT, related_name="tips_received")
    booking = models.ForeignKey("bookings.Booking", on_delete=models.PROTECT, related_name="tips")
    slot = models.ForeignKey("bookings.Slot", on_delete=models.PROTECT, related_name="tips")
    # The live session the tip was given for (live or after it ended).
    session = models.ForeignKey("streaming.LiveSession", on_delete=models.PROTECT, related_name="tips")
    # Null only between the row's creation and the provider's answer (or when it refused).
    payment = models.OneToOneField(
        "payments.Payment", on_delete=models.PROTECT, related_name="tip", null=True, blank=True
    )
    amount_minor = models.PositiveIntegerField(_("amount (minor units)"))
    currency = models.CharField(max_length=3)
    message = models.CharField(_("message to the guide"), max_length=rules.MESSAGE_MAX_CHARS, blank=True)
    show_in_room = models.BooleanField(_("show a thank-you moment in the room"), default=False)
    # Given while the session was live: the guide's page and the room hear of it when it is paid.
    during_live = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    failure_message = models.CharField(max_length=300, blank=True)
    # "<tipper id>:<the form's key>": a resubmitted form finds the first tip (and its payment).
    idempotency_key = models.CharField(max_length=120, unique=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    thank_you_text = models.TextField(blank=True)
    thanked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["guide", "status", "paid_at"]),
            models.Index(fields=["tipper", "created_at"]),
            models.Index(fields=["session", "status"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_minor__gt=0), name="tip_amount_positive"),
            # A thank-you is only ever sent for a paid tip.
            models.CheckConstraint(
                condition=models.Q(thanked_at__isnull=True) | models.Q(status="paid"), name="tip_thanked_only_if_paid"
            ),
        ]

    def __str__(self) -> str:
        return f"Tip {self.pk}: {self.amount_minor} {self.currency} to guide {self.guide_id} ({self.status})"

    @property
    def is_thanked(self) -> bool:
        return self.thanked_at is not None


class GuideTipSettings(models.Model):
    """A guide's saved thank-you text, offered (editable) for every tip they thank."""

    guide = models.OneToOneField("accounts.GuideProfile", on_delete=models.CASCADE, related_name="tip_settings")
    thank_you_text = models.TextField(_("saved thank-you message"), max_length=rules.THANK_YOU_MAX_CHARS, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("guide's tip settings")
        verbose_name_plural = _("guides' tip settings")

    def __str__(self) -> str:
        return f"Tip settings of guide {self.guide_id}"
