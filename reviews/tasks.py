"""Periodic review jobs: thin callers of reviews.services.

Nothing is scheduled for the future (Celery's eager mode ignores eta, and a Redis broker may
re-deliver long-delayed jobs): beat (production) or the embedded timer runs this every minute, and
it sends what is due by then.
"""

from __future__ import annotations

from celery import shared_task

from reviews import services

__all__ = ["send_review_requests"]


@shared_task(acks_late=True)
def send_review_requests(limit: int = 500) -> int:
    """Send the review requests and reminders that are due; returns how many were sent."""
    return services.send_due_review_requests(limit=limit)
