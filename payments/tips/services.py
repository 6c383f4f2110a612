"""Tip state changes: start a tip, react to its payment, thank the tipper, save the guide's text.

The path of a tip:
1. ``start_tip`` checks who may tip and the amount, writes the Tip row (once per form key) and
   asks payments.services.start_payment for a Payment of kind TIP (a destination charge to the
   guide's account; its idempotency key is the tip's, so a resubmitted form gets the same payment).
   The person then pays on the payment page, which returns to the tip's page.
2. The payment's succeeded event reaches ``tip_payment_succeeded`` (registered in apps.py), once,
   inside the event's transaction: the tip is marked paid and, on commit, the guide's live page
   hears ``tip.received``, the room sees ``tip.thanks`` if the tipper allowed it, the guide gets
   an in-app notice and the tipper a receipt (rows first, delivered after commit).
3. ``send_thank_you``: the guide thanks a paid tip once (e-mail and in-app notice to the tipper).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts import ratelimit
from chat import realtime
from payments import services as payments
from payments.models import Payment
from payments.tips import messaging, rules, selectors
from payments.tips.models import GuideTipSettings, Tip
from streaming.models import LiveSession

if TYPE_CHECKING:
    from accounts.models import GuideProfile, User

logger = logging.getLogger(__name__)


def _limits() -> tuple[int, int]:
    return settings.TIP_MIN_MINOR, settings.TIP_MAX_MINOR


def start_tip(
    *,
    tipper: User,
    slot_id: int,
    amount_minor: int,
    message: str,
    show_in_room: bool,
    key: str,
    now: datetime | None = None,
) -> Tip:
    """A pending tip with its payment opened at the provider (call it outside any transaction).

    The same ``key`` (one per tip form) returns the first tip untouched: a double click or a
    resubmitted form never makes a second tip or a second payment. Raises rules.TipRefused (who,
    when, amount, message, rate limit) or payments.services.PaymentError (GuideNotReadyError: the
    guide cannot receive payments; anything else: the provider refused, nothing was charged).
    """
    now = now or timezone.now()
    if not key or len(key) > 64 or not key.isprintable():
        raise rules.TipRefused("bad_key", "The form expired; please open it again.")
    scoped_key = f"{tipper.pk}:{key}"
    existing = selectors.tip_by_key(idempotency_key=scoped_key)
    if existing is None:
        target = selectors.access_tip_target(user=tipper, slot_id=slot_id, now=now)
        minimum, maximum = _limits()
        rules.check_amount(amount_minor, minimum=minimum, maximum=maximum)
        cleaned = rules.clean_text(message, max_chars=rules.MESSAGE_MAX_CHARS)
        # Refused before anything is written, with the payments app's own words for it.
        payments.check_guide_can_be_paid(guide=target.guide)
        if not ratelimit.consume(
            key=f"tips:{tipper.pk}", limit=rules.RATE_LIMIT_TIPS, window_seconds=rules.RATE_LIMIT_WINDOW_SECONDS
        ):
            raise rules.TipRefused("rate_limited", "You have sent many tips in a short time; please wait a while.")
        try:
            with transaction.atomic():
                existing = Tip.objects.create(
                    tipper=tipper,
                    guide=target.guide,
                    booking=target.booking,
                    slot=target.slot,
                    session=target.session,
                    amount_minor=amount_minor,
                    currency=target.currency.upper(),
                    message=cleaned,
                    show_in_room=show_in_room,
                    during_live=target.session.status == LiveSession.Status.LIVE,
                    idempotency_key=scoped_key,
                )
        except IntegrityError:
            # The same form submitted twice at once: the first request's tip is the answer.
            existing = Tip.objects.get(idempotency_key=scoped_key)
    return _open_payment(existing)


def _open_payment(tip: Tip) -> Tip:
    """Start (or find again) the tip's payment; the provider call happens outside any lock."""
    if tip.payment_id is not None or tip.status != Tip.Status.PENDING:
        return tip
    tour_title = tip.slot.tour.title
    try:
        payment = payments.start_payment(
            kind=Payment.Kind.TIP,
            payer=tip.tipper,
            guide=tip.guide,
            amount_minor=tip.amount_minor,
            currency=tip.currency,
            metadata={
                "tip_id": str(tip.pk),
                "slot_id": str(tip.slot_id),
                "session_id": str(tip.session_id),
                "return_path": reverse("tips:tip_detail", kwargs={"tip_id": tip.pk}),
            },
            key=f"tip:{tip.pk}",
            description=f"Tip for {tip.guide.display_name} ({tour_title})"[:200],
            expires_at=tip.created_at + rules.PAYMENT_EXPIRES_AFTER,
        )
    except payments.PaymentError as error:
        Tip.objects.filter(pk=tip.pk, status=Tip.Status.PENDING).update(
            status=Tip.Status.FAILED, failure_message=error.message[:300], updated_at=timezone.now()
        )
        raise
    with transaction.atomic():
        locked = Tip.objects.select_for_update().get(pk=tip.pk)
        if locked.payment_id is None:
            locked.payment = payment
            locked.save(update_fields=["payment", "updated_at"])
    locked.payment = payment
    return locked


# --- The payment's outcome (payments.hooks; in the event's transaction, payment row locked) ---------


def _tip_of(payment: Payment) -> Tip | None:
    tip = Tip.objects.select_for_update().filter(payment=payment).first()
    if tip is None:
        # Paid before the link was saved (a crash between the provider's answer and our write):
        # the payment's metadata names its tip.
        tip_id = str(payment.metadata.get("tip_id", ""))
        if tip_id.isdigit():
            tip = Tip.objects.select_for_update().filter(pk=int(tip_id), payment__isnull=True).first()
            if tip is not None:
                tip.payment = payment
    if tip is None:
        logger.error("tip payment %s has no tip", payment.pk)
    return tip


def tip_payment_succeeded(payment: Payment) -> None:
    """Mark the tip paid and tell the guide, the room and the tipper; the payments app calls this
    once per payment, and a paid tip is never announced twice whatever calls it."""
    tip = _tip_of(payment)
    if tip is None or tip.status == Tip.Status.PAID:
        return
    tip.status = Tip.Status.PAID
    tip.paid_at = payment.paid_at or timezone.now()
    tip.failure_message = ""
    tip.save(update_fields=["payment", "status", "paid_at", "failure_message", "updated_at"])
    tip = Tip.objects.select_related("tipper", "guide__user", "slot__tour", "session").get(pk=tip.pk)
    session = tip.session
    if session.status == LiveSession.Status.LIVE:
        _announce_in_room(tip)
    messaging.notify_guide_of_tip(tip)
    messaging.queue_tip_receipt(tip)


def tip_payment_failed(payment: Payment) -> None:
    tip = _tip_of(payment)
    if tip is None or tip.status != Tip.Status.PENDING:
        return
    tip.status = Tip.Status.FAILED
    tip.failure_message = payment.failure_message[:300]
    tip.save(update_fields=["payment", "status", "failure_message", "updated_at"])


def tip_received_frame(tip: Tip, *, total_minor: int) -> dict[str, object]:
    """``tip.received`` for the guide's and staff's sockets (docs/events.md, "Tips")."""
    return {
        "type": "tip.received",
        "id": tip.pk,
        "name": selectors.display_name(tip.tipper),
        "amount_minor": tip.amount_minor,
        "amount": rules.format_minor(tip.amount_minor),
        "currency": tip.currency,
        "message": tip.message,
        "show_in_room": tip.show_in_room,
        "total_minor": total_minor,
        "total": rules.format_minor(total_minor),
        "paid_at": (tip.paid_at or timezone.now()).isoformat().replace("+00:00", "Z"),
    }


def tip_thanks_frame(tip: Tip) -> dict[str, object]:
    """``tip.thanks`` for every socket of the room: the tipper's name only, no amount, no message."""
    return {"type": "tip.thanks", "id": tip.pk, "name": selectors.display_name(tip.tipper)}


def _announce_in_room(tip: Tip) -> None:
    # After commit (publish_on_commit): nothing is announced for a tip that was not stored as paid.
    total = selectors.session_tips_total(session_id=tip.session_id)
    realtime.publish_on_commit(
        tip.session_id, realtime.encode(tip_received_frame(tip, total_minor=total), audience=realtime.MODERATORS)
    )
    if tip.show_in_room:
        realtime.publish_on_commit(tip.session_id, realtime.encode(tip_thanks_frame(tip)))


# --- Thanks ---------------------------------------------------------------------------------------


class ThankYouRefused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def send_thank_you(*, guide: GuideProfile, tip_id: int, text: str, now: datetime | None = None) -> Tip:
    """The guide thanks one paid tip, once: the tipper gets the text by e-mail and in-app.

    Raises ThankYouRefused: not_found (not this guide's paid tip), already_thanked, empty, too_long.
    """
    now = now or timezone.now()
    try:
        cleaned = rules.clean_text(text, max_chars=rules.THANK_YOU_MAX_CHARS, field="thank-you message")
    except rules.TipRefused as refusal:
        raise ThankYouRefused(refusal.code, refusal.message) from None
    if not cleaned:
        raise ThankYouRefused("empty", "Write a thank-you message first.")
    with transaction.atomic():
        # FOR UPDATE: two clicks (or two tabs) must not both send a thank-you.
        tip = Tip.objects.select_for_update().filter(pk=tip_id, guide=guide, status=Tip.Status.PAID).first()
        if tip is None:
            raise ThankYouRefused("not_found", "There is no such tip.")
        if tip.thanked_at is not None:
            raise ThankYouRefused("already_thanked", "You have already thanked this guest for this tip.")
        tip.thank_you_text = cleaned
        tip.thanked_at = now
        tip.save(update_fields=["thank_you_text", "thanked_at", "updated_at"])
        messaging.queue_thank_you(Tip.objects.select_related("tipper", "guide", "slot__tour").get(pk=tip.pk))
    return tip


def save_thank_you_text(*, guide: GuideProfile, text: str) -> GuideTipSettings:
    """Keep the guide's default thank-you text (it may be empty: no default)."""
    try:
        cleaned = rules.clean_text(text, max_chars=rules.THANK_YOU_MAX_CHARS, field="thank-you message")
    except rules.TipRefused as refusal:
        raise ThankYouRefused(refusal.code, refusal.message) from None
    saved, _created = GuideTipSettings.objects.update_or_create(guide=guide, defaults={"thank_you_text": cleaned})
    return saved
