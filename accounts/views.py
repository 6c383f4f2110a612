from __future__ import annotations

from typing import cast

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import ratelimit, selectors, services
from accounts.forms import DetectPreferencesForm, GuideProfileForm, ProfileForm
from accounts.middleware import timezone_for
from accounts.models import GuideProfile, User

# Browsers report once per page load until the zone is known; 30 a minute leaves room for many
# tabs (or a family behind one address) and none for a flood.
DETECT_RATE_LIMIT = 30
DETECT_RATE_WINDOW_SECONDS = 60


def _client_key(request: HttpRequest) -> str:
    """Who a rate limit counts against: the account when signed in, else the client address.

    Not the session: a client that drops its cookie would get a fresh bucket on every request.
    The address comes from allauth's adapter, which honours ALLAUTH_TRUSTED_PROXY_COUNT behind a
    proxy, so this limit and allauth's own login limits see the same client.
    """
    if request.user.is_authenticated:
        return f"user:{request.user.pk}"
    try:
        return f"ip:{get_account_adapter(request).get_client_ip(request)}"
    except PermissionDenied:
        return "ip:unknown"


@require_POST
def detect_preferences(request: HttpRequest) -> HttpResponse:
    """Store the time zone and language the browser reported (called once by static/src/site.ts)."""
    key = f"detect-preferences:{_client_key(request)}"
    if not ratelimit.consume(key=key, limit=DETECT_RATE_LIMIT, window_seconds=DETECT_RATE_WINDOW_SECONDS):
        return JsonResponse({"error": _("Too many requests; try again in a minute.")}, status=429)
    form = DetectPreferencesForm(request.POST)
    if not form.is_valid():
        message = next(iter(form.errors.values()))[0]
        return JsonResponse({"error": message}, status=400)
    user = request.user if request.user.is_authenticated else None
    try:
        services.record_detected_preferences(
            user=user,
            session=request.session,
            timezone=form.cleaned_data["timezone"],
            language=form.cleaned_data["language"],
        )
    except ValidationError as error:
        return JsonResponse({"error": error.messages[0]}, status=400)
    return HttpResponse(status=204)


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    initial = {
        # Until the person picks one, start from what the browser reported (or the site default).
        "timezone": user.timezone or timezone_for(request) or "UTC",
        "language": user.language or translation.get_language(),
    }
    # A copy for the form: validating writes accepted values onto the instance even when another
    # field fails, and request.user must keep describing what is saved.
    form = ProfileForm(request.POST or None, instance=User.objects.get(pk=user.pk), initial=initial)
    if request.method == "POST" and form.is_valid():
        services.update_profile(
            user=user,
            name=form.cleaned_data["name"],
            timezone=form.cleaned_data["timezone"],
            language=form.cleaned_data["language"],
            country=form.cleaned_data["country"],
        )
        # Activate the new language right away so the confirmation reads in it.
        translation.activate(user.language)
        messages.success(request, _("Your profile has been saved."))
        response = redirect("accounts:profile")
        # The language switcher's cookie outranks the profile (middleware.language_for); align it
        # with the choice just made so an older switch does not hide it.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            user.language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
        return response
    zone_name = user.timezone or str(initial["timezone"])
    context = {
        "form": form,
        "zone_name": zone_name,
        "now": timezone.now(),
        "guide_profile": selectors.guide_profile_of(user=user) if user.is_guide else None,
    }
    return render(request, "accounts/profile.html", context)


@login_required
def guide_profile_edit(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    # Raises PermissionDenied (403) for customers and staff: only guides have a public page.
    services.check_can_have_guide_profile(user)
    guide_profile = selectors.guide_profile_of(user=user)
    # The form validates against its own copy, so a rejected submission leaves the profile shown
    # on the page (its current photo above all) as it is saved.
    instance = selectors.guide_profile_of(user=user) or GuideProfile(user=user, display_name=user.name)
    form = GuideProfileForm(request.POST or None, request.FILES or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        saved = services.save_guide_profile(
            user=user,
            display_name=form.cleaned_data["display_name"],
            city=form.cleaned_data["city"],
            bio=form.cleaned_data["bio"],
            languages=form.cleaned_data["languages"],
            photo=form.new_photo,
            remove_photo=form.remove_photo,
        )
        messages.success(request, _("Your guide page has been saved."))
        return redirect(saved.get_absolute_url())
    context = {"form": form, "guide_profile": guide_profile}
    return render(request, "accounts/guide_profile_form.html", context)


def guide_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        guide = selectors.public_guide_profile(slug=slug)
    except GuideProfile.DoesNotExist:
        raise Http404(_("No guide has this address.")) from None
    context = {"guide": guide, "tours": selectors.published_tours_of(guide=guide)}
    return render(request, "accounts/guide_detail.html", context)
