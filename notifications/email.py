"""Placeholder until the outbox pipeline lands."""

from django.core.mail.backends.locmem import EmailBackend as OutboxTransport  # noqa: F401
from django.core.mail.backends.locmem import EmailBackend as QueuedEmailBackend  # noqa: F401
