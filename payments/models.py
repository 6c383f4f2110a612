"""Money as the provider reported it: guides' connected accounts, payments, refunds, webhook events.

Amounts are integers in minor units (cents). A row is written before the provider is asked to do
anything, and carries the idempotency key that every provider call creating something sends, so a
retried call can never create a second charge or refund.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class GuidePaymentAccount(models.Model):
    """A guide's connected (Stripe Express) account; its status is kept from ``account.updated``."""

    guide = models.OneToOneField("accounts.GuideProfile", on_delete=models.CASCADE, related_name="payment_account")
    provider = models.CharField(max_length=16)
    account_id = models.CharField(max_length=100, unique=True)
    charges_enabled = models.BooleanField(default=False)
    payouts_enabled = models.BooleanField(default=False)
    details_submitted = models.BooleanField(default=False)
    # The provider's time of the snapshot applied last: an older event arriving late changes nothing.
    status_as_of = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["guide_id"]

    def __str__(self) -> str:
        return f"{self.account_id} ({self.guide_id})"

    @property
    def is_ready(self) -> bool:
        """Whether paid bookings and tips may be sent to this account."""
        return self.charges_enabled and self.details_submitted


class Payment(models.Model):
    """Money received for a booking or a tip: a destination charge to the guide's account."""

    class Kind(models.TextChoices):
        BOOKING = "booking", _("Booking")
        TIP = "tip", _("Tip")

    class Status(models.TextChoices):
        PENDING = "pending", _("Awaiting payment")
        SUCCEEDED = "succeeded", _("Paid")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        REFUNDED = "refunded", _("Refunded")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")

    PAID_STATUSES = (Status.SUCCEEDED, Status.REFUNDED, Status.PARTIALLY_REFUNDED)

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BOOKING)
    booking = models.ForeignKey("bookings.Booking", on_delete=models.PROTECT, related_name="payments", null=True)
    payer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments")
    guide = models.ForeignKey(
        "accounts.GuideProfile", on_delete=models.PROTECT, related_name="payments", null=True, blank=True
    )
    provider = models.CharField(max_length=16)
    provider_reference = models.CharField(max_length=100, blank=True, db_index=True)
    # Handed to the payer's browser only (Stripe's Payment Element needs it); never logged.
    client_secret = models.CharField(max_length=200, blank=True)
    destination_account = models.CharField(max_length=100, blank=True)
    amount_minor = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    application_fee_minor = models.PositiveIntegerField(default=0)
    refunded_minor = models.PositiveIntegerField(default=0)
    fee_refunded_minor = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    failure_message = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Every call that creates something at the provider carries this key.
    idempotency_key = models.CharField(max_length=100, unique=True)
    # A pending payment past this instant is cancelled at the provider (a booking's seat hold).
    expires_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(refunded_minor__lte=models.F("amount_minor")), name="payment_not_over_refunded"
            ),
            models.CheckConstraint(
                condition=models.Q(application_fee_minor__lte=models.F("amount_minor")),
                name="payment_fee_within_amount",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} payment {self.pk}: {self.amount_minor} {self.currency} ({self.status})"

    @property
    def is_paid(self) -> bool:
        return self.status in self.PAID_STATUSES

    @property
    def refundable_minor(self) -> int:
        return self.amount_minor - self.refunded_minor


class Refund(models.Model):
    """Money given back: a row first, sent to the provider after commit, retried until accepted."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Refund in progress")
        SUCCEEDED = "succeeded", _("Refunded")
        FAILED = "failed", _("Refund failed")

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount_minor = models.PositiveIntegerField()
    # Our share of the application fee given back with this refund (proportional to the amount).
    fee_refunded_minor = models.PositiveIntegerField(default=0)
    reverse_transfer = models.BooleanField(default=True)
    refund_application_fee = models.BooleanField(default=True)
    reason = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    provider_reference = models.CharField(max_length=100, blank=True, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"Refund {self.pk} of {self.amount_minor} on payment {self.payment_id} ({self.status})"


class WebhookEvent(models.Model):
    """One provider event, recorded once by its id whatever the number of deliveries."""

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        PROCESSED = "processed", _("Processed")
        FAILED = "failed", _("Failed")

    event_id = models.CharField(max_length=100, unique=True)
    provider = models.CharField(max_length=16)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id} ({self.status})"


class TestModeObject(models.Model):
    """What the test-mode provider remembers (accounts, payment intents, refunds), Stripe-shaped.

    Only PAYMENTS_PROVIDER=test writes here: it lets the offline provider answer retrieve, list and
    cancel calls, and emit the same event objects Stripe would, without any network.
    """

    object_id = models.CharField(max_length=100, primary_key=True)
    object_type = models.CharField(max_length=40)
    idempotency_key = models.CharField(max_length=150, unique=True, null=True, blank=True)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.object_id
