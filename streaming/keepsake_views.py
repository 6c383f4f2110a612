"""The tour's keepsakes: the summary page for attendees, its public postcard, the guide's edit page.

Share links point to the postcard (``/live/<id>/postcard/``): the summary itself is private, and a
link preview (Open Graph) is fetched by a crawler that is not signed in. Both pages carry the same
Open Graph tags, with absolute URLs built from SITE_URL. Sharing needs no third-party script:
plain links, ``mailto:``, and the Web Share API from static/src/keepsake.ts where there is one.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_safe

from accounts.models import User
from reviews import selectors as review_selectors
from streaming import keepsake_selectors, keepsake_services
from streaming.keepsake_forms import HighlightsForm, PhotoCaptionForm, PhotoUploadForm
from streaming.keepsake_models import MAX_PHOTOS_PER_SESSION, Keepsake, KeepsakePhoto
from streaming.keepsake_selectors import KeepsakeSummary
from streaming.models import LiveSession
from streaming.selectors import LiveAccessDenied, LiveError

__all__ = ["keepsake", "keepsake_edit", "postcard"]

_REFUSAL_TEXT: dict[str, Promise] = {
    "not_attended": gettext_lazy("The summary of a tour is for the guests who took part in it."),
    "banned": gettext_lazy("You have been removed from this live tour."),
    "not_guide": gettext_lazy("Only the guide of this tour can add its highlights and photos."),
    "cancelled": gettext_lazy("This tour date has been cancelled."),
}


@dataclass(frozen=True)
class ShareLink:
    name: str
    url: str
    key: str


@dataclass(frozen=True)
class Share:
    """The Open Graph description of a session and the links that share its postcard."""

    title: str
    description: str
    url: str
    image: str
    image_alt: str
    image_width: int
    image_height: int
    links: list[ShareLink]


def _absolute(path: str) -> str:
    return path if path.startswith(("http://", "https://")) else f"{settings.SITE_URL}{path}"


def _share_for(summary: KeepsakeSummary) -> Share:
    tour = summary.tour
    url = _absolute(reverse("streaming:keepsake_postcard", kwargs={"session_id": summary.session.pk}))
    # In the tour's own zone: a link preview is the same for everyone who sees it.
    when = date_format(timezone.localtime(summary.slot.start, zoneinfo.ZoneInfo(tour.timezone)), "DATE_FORMAT")
    title = _("%(title)s, live from %(city)s") % {"title": tour.title, "city": tour.city}
    description = _("A live virtual tour with %(guide)s on %(date)s. %(summary)s") % {
        "guide": tour.guide.display_name,
        "date": when,
        "summary": tour.summary,
    }
    description = Truncator(description.strip()).chars(200)
    photo = summary.cover_photo
    if photo is not None:
        image, width, height, alt = photo.image.url, photo.width, photo.height, photo.caption or title
    elif tour.cover_photo:
        image, width, height, alt = tour.cover_photo.url, 0, 0, title
    else:
        image, width, height, alt = static("img/logo.svg"), 0, 0, "Italy From Couch"
    text = f"{title}: {url}"
    links = [
        ShareLink(_("E-mail"), f"mailto:?{urlencode({'subject': title, 'body': text}, quote_via=quote)}", "email"),
        ShareLink("WhatsApp", f"https://wa.me/?{urlencode({'text': text}, quote_via=quote)}", "whatsapp"),
        ShareLink("Facebook", f"https://www.facebook.com/sharer/sharer.php?{urlencode({'u': url})}", "facebook"),
        ShareLink("X", f"https://x.com/intent/post?{urlencode({'text': title, 'url': url})}", "x"),
    ]
    return Share(
        title=title,
        description=description,
        url=url,
        image=_absolute(image),
        image_alt=alt,
        image_width=width,
        image_height=height,
        links=links,
    )


def _refused(request: HttpRequest, refusal: LiveAccessDenied | LiveError) -> HttpResponse:
    if refusal.code == "not_found":
        raise Http404(refusal.message)
    text = _REFUSAL_TEXT.get(refusal.code)
    context = {"code": refusal.code, "reason": str(text) if text is not None else refusal.message}
    return render(request, "streaming/keepsake_refused.html", context, status=403)


def _signed_in_user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


@require_safe
@login_required
def keepsake(request: HttpRequest, session_id: int) -> HttpResponse:
    """The tour summary: duration, attendance, highlights, gallery, replay, sharing, what next."""
    user = _signed_in_user(request)
    try:
        session = keepsake_selectors.access_keepsake(user=user, session_id=session_id)
    except LiveAccessDenied as refusal:
        return _refused(request, refusal)
    summary = keepsake_selectors.summary_of(session)
    own_bookings = [
        booking
        for booking in review_selectors.reviewable_bookings(user=user, tour=summary.tour)
        if booking.slot_id == summary.slot.pk
    ]
    context = {
        "summary": summary,
        "share": _share_for(summary),
        "similar_tours": keepsake_selectors.similar_tours(tour=summary.tour, now=timezone.now()),
        "may_edit": user.is_staff or summary.slot.guide.user_id == user.pk,
        "review_booking": own_bookings[0] if own_bookings else None,
        "scheduled_minutes": round((summary.slot.end - summary.slot.start).total_seconds() / 60),
    }
    return render(request, "streaming/keepsake.html", context)


@require_safe
def postcard(request: HttpRequest, session_id: int) -> HttpResponse:
    """The public page share links point to: the tour, its date and guide, the first photo."""
    try:
        session = keepsake_selectors.postcard_session(session_id=session_id)
    except LiveAccessDenied as refusal:
        raise Http404(refusal.message) from None
    summary = keepsake_selectors.summary_of(session)
    return render(request, "streaming/keepsake_postcard.html", {"summary": summary, "share": _share_for(summary)})


def _edit_context(session: LiveSession, **forms: object) -> dict[str, object]:
    keepsake_row = Keepsake.objects.filter(session=session).first()
    photos = list(KeepsakePhoto.objects.filter(session=session).order_by("created_at", "pk"))
    return {
        "session": session,
        "slot": session.slot,
        "tour": session.slot.tour,
        "photos": photos,
        "max_photos": MAX_PHOTOS_PER_SESSION,
        "highlights_form": forms.get("highlights_form")
        or HighlightsForm(initial={"highlights": keepsake_row.highlights if keepsake_row else ""}),
        "upload_form": forms.get("upload_form") or PhotoUploadForm(),
        "caption_errors": forms.get("caption_errors") or {},
    }


@login_required
@require_http_methods(["GET", "POST"])
def keepsake_edit(request: HttpRequest, session_id: int) -> HttpResponse:
    """The guide writes highlights and uploads photos, during or after the tour (403 for others)."""
    user = _signed_in_user(request)
    try:
        session = keepsake_selectors.access_keepsake_for_edit(user=user, session_id=session_id)
    except LiveAccessDenied as refusal:
        return _refused(request, refusal)
    if request.method == "GET":
        return render(request, "streaming/keepsake_edit.html", _edit_context(session))

    action = request.POST.get("action", "")
    here = reverse("streaming:keepsake_edit", kwargs={"session_id": session.pk})
    try:
        if action == "highlights":
            highlights_form = HighlightsForm(request.POST)
            if not highlights_form.is_valid():
                context = _edit_context(session, highlights_form=highlights_form)
                return render(request, "streaming/keepsake_edit.html", context, status=400)
            keepsake_services.save_highlights(
                by=user, session_id=session.pk, highlights=highlights_form.cleaned_data["highlights"]
            )
            messages.success(request, _("Highlights saved."))
        elif action == "upload":
            upload_form = PhotoUploadForm(request.POST, request.FILES)
            if not upload_form.is_valid():
                context = _edit_context(session, upload_form=upload_form)
                return render(request, "streaming/keepsake_edit.html", context, status=400)
            added = keepsake_services.add_photos(
                by=user,
                session_id=session.pk,
                images=upload_form.cleaned_data["photos"],
                caption=upload_form.cleaned_data["caption"],
            )
            messages.success(
                request,
                ngettext("%(count)d photo added.", "%(count)d photos added.", len(added)) % {"count": len(added)},
            )
        elif action in ("caption", "remove"):
            photo_id = _int(request.POST.get("photo", ""))
            if action == "remove":
                keepsake_services.remove_photo(by=user, photo_id=photo_id)
                messages.success(request, _("Photo removed."))
            else:
                caption_form = PhotoCaptionForm(request.POST)
                if not caption_form.is_valid():
                    errors = {photo_id: caption_form.errors.get("caption")}
                    context = _edit_context(session, caption_errors=errors)
                    return render(request, "streaming/keepsake_edit.html", context, status=400)
                keepsake_services.set_caption(by=user, photo_id=photo_id, caption=caption_form.cleaned_data["caption"])
                messages.success(request, _("Caption saved."))
        else:
            messages.error(request, _("Nothing was changed."))
            return render(request, "streaming/keepsake_edit.html", _edit_context(session), status=400)
    except LiveAccessDenied as refusal:
        return _refused(request, refusal)
    except LiveError as error:
        if error.code == "not_found":
            raise Http404(error.message) from None
        upload_form = PhotoUploadForm()
        messages.error(request, error.message)
        return render(
            request, "streaming/keepsake_edit.html", _edit_context(session, upload_form=upload_form), status=400
        )
    return redirect(here)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Http404(_("There is no such photo.")) from None
