"""The developer outbox: /dev/outbox/ lists every stored e-mail, /dev/outbox/<id>/ shows one.

Access: the pages exist only when ``settings.SHOW_DEV_OUTBOX`` is True, and then they are open to
anyone, signed in or not. That setting is True only in the embedded default (``make run``), a
local development tool whose first use is a newcomer reading the sign-up confirmation e-mail, and
so following its link, before they have any account. Production sets it False and every outbox
URL is a 404, for staff too: staff read outbound e-mail in the admin, which has its own
permissions. (Requiring staff here would only lock the newcomer out of their own sign-up.)
"""

from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from notifications import selectors
from notifications.models import OutboundEmail

PAGE_SIZE = 50


@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    _ensure_dev_outbox_enabled()
    page = Paginator(selectors.outbox_emails(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "notifications/outbox.html", {"page": page})


@require_GET
def outbox_detail(request: HttpRequest, outbound_email_id: int) -> HttpResponse:
    outbound_email = _outbox_email(outbound_email_id)
    attachments = [
        {"index": index, "filename": item.filename, "mimetype": item.mimetype, "size": len(item.content)}
        for index, item in enumerate(outbound_email.stored_attachments())
    ]
    return render(
        request,
        "notifications/outbox_detail.html",
        {"email": outbound_email, "attachments": attachments},
    )


@require_GET
def outbox_attachment(request: HttpRequest, outbound_email_id: int, index: int) -> HttpResponse:
    attachments = _outbox_email(outbound_email_id).stored_attachments()
    if index >= len(attachments):
        raise Http404
    attachment = attachments[index]
    response = HttpResponse(attachment.content, content_type=attachment.mimetype)
    # Always a download, never rendered: the content came from whoever built the e-mail.
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=attachment.filename or f"attachment-{index + 1}"
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _ensure_dev_outbox_enabled() -> None:
    if not settings.SHOW_DEV_OUTBOX:
        raise Http404


def _outbox_email(outbound_email_id: int) -> OutboundEmail:
    _ensure_dev_outbox_enabled()
    outbound_email = selectors.outbox_email(outbound_email_id=outbound_email_id)
    if outbound_email is None:
        raise Http404
    return outbound_email
