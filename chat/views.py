"""The read-only transcript of a live room, after the tour, for the people who were there."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_safe

from accounts.models import User
from chat import selectors
from chat.rules import RuleViolation

__all__ = ["transcript"]

MESSAGES_PER_PAGE = 500

_REFUSAL_TEXT: dict[str, Promise] = {
    "not_found": gettext_lazy("The chat of this tour can be read here once the tour is over."),
    "not_allowed": gettext_lazy("Only the people who attended this tour can read its chat."),
}


@require_safe
@login_required
def transcript(request: HttpRequest, session_id: int) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    try:
        record = selectors.transcript(user=user, session_id=session_id)
    except RuleViolation as refusal:
        status = 404 if refusal.code == "not_found" else 403
        refused = {"reason": _REFUSAL_TEXT.get(refusal.code, refusal.message), "code": refusal.code}
        return render(request, "chat/transcript_refused.html", refused, status=status)
    session = record.session
    page = Paginator(record.messages, MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    names = selectors.display_names(
        [message.author for message in page.object_list] + [question.author for question in record.questions],
        session=session,
    )
    context: dict[str, Any] = {
        "session": session,
        "slot": session.slot,
        "tour": session.slot.tour,
        "page": page,
        "messages_page": [(message, names[message.author_id]) for message in page.object_list],
        "questions": [(question, names[question.author_id]) for question in record.questions],
        "guide_user_id": session.slot.guide.user_id,
    }
    response = render(request, "chat/transcript.html", context)
    response["Cache-Control"] = "private, no-store"
    return response
