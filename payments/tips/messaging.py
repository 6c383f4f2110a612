"""What tips tell people: the guide's in-app notice of a tip, the tipper's receipt and the guide's thanks.

Rows first, inside the caller's transaction (notifications.services): a committed change always
has its messages and a rolled-back one none; delivery starts after commit. Each message carries an
idempotency key made of the tip's id, so a retry never sends it twice. Rendered in the recipient's
language; e-mails are plain text (autoescape off) and in-app notices are escaped by the feed page.
"""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from accounts.models import User
from notifications import services as notifications
from payments.tips import rules, selectors
from payments.tips.models import Tip


def _context(tip: Tip, **extra: Any) -> dict[str, Any]:
    return {
        "tip": tip,
        "tour": tip.slot.tour,
        "guide": tip.guide,
        "tipper_name": selectors.display_name(tip.tipper),
        "amount": rules.format_minor(tip.amount_minor),
        "currency": tip.currency,
        "site_url": settings.SITE_URL,
        **extra,
    }


def _zone_of(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.timezone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _render(user: User, kind: str, context: dict[str, Any]) -> tuple[str, str]:
    with translation.override(user.language or settings.LANGUAGE_CODE), timezone.override(_zone_of(user)):
        subject = render_to_string(f"tips/email/{kind}_subject.txt", context).strip()
        body = render_to_string(f"tips/email/{kind}.txt", context)
    return subject, body


def _first_paragraph(body: str, fallback: str) -> str:
    text = body.strip()
    return text.split("\n\n")[0][:300] if text else fallback


def notify_guide_of_tip(tip: Tip) -> None:
    """In-app notice to the guide; their live page hears of it too while the tour is live."""
    guide_user = tip.guide.user
    url = reverse("tips:tips_received")
    subject, body = _render(guide_user, "tip_received", _context(tip, url=f"{settings.SITE_URL}{url}"))
    notifications.notify(
        user=guide_user,
        kind="tip_received",
        title=subject,
        body=_first_paragraph(body, subject),
        url=url,
        idempotency_key=f"tip:{tip.pk}:received",
    )


def queue_tip_receipt(tip: Tip) -> None:
    """The tipper's receipt, by e-mail and in-app."""
    tipper = tip.tipper
    url = reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})
    subject, body = _render(tipper, "tip_receipt", _context(tip, url=f"{settings.SITE_URL}{url}"))
    key = f"tip:{tip.pk}:receipt"
    notifications.queue_email(to=[tipper.email], subject=subject, body_text=body, idempotency_key=key, user=tipper)
    notifications.notify(
        user=tipper,
        kind="tip_receipt",
        title=subject,
        body=_first_paragraph(body, subject),
        url=url,
        idempotency_key=key,
    )


def queue_thank_you(tip: Tip) -> None:
    """The guide's thank-you to the tipper, by e-mail and in-app (once per tip: the key)."""
    tipper = tip.tipper
    url = reverse("tips:tip_detail", kwargs={"tip_id": tip.pk})
    subject, body = _render(tipper, "thank_you", _context(tip, url=f"{settings.SITE_URL}{url}"))
    key = f"tip:{tip.pk}:thanks"
    notifications.queue_email(to=[tipper.email], subject=subject, body_text=body, idempotency_key=key, user=tipper)
    notifications.notify(
        user=tipper, kind="tip_thanks", title=subject, body=tip.thank_you_text[:300], url=url, idempotency_key=key
    )
