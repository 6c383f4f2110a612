"""``{% recent_keepsakes guide %}``: the guide's recent tours with links to their summary and edit page.

The guide's dashboard includes it, so the highlights and photos of a finished tour are one click
away (the schedule lists only dates to come).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.db.models import Count
from django.utils import timezone

from accounts.models import GuideProfile
from streaming.models import LiveSession

register = template.Library()

RECENT = timedelta(days=30)


@register.inclusion_tag("streaming/_recent_keepsakes.html")
def recent_keepsakes(guide: GuideProfile, limit: int = 10) -> dict[str, Any]:
    sessions = list(
        LiveSession.objects.filter(
            slot__guide=guide,
            started_at__isnull=False,
            started_at__gte=timezone.now() - RECENT,
        )
        .exclude(ended_reason=LiveSession.EndedReason.CANCELLED)
        .select_related("slot__tour")
        .annotate(photo_count=Count("keepsake_photos"))
        .order_by("-started_at")[:limit]
    )
    return {"sessions": sessions}
