"""Activate each visitor's language and time zone.

Signed-in users carry both on their profile; anonymous visitors get what their browser reported
(stored in the session by the detect endpoint). Nothing here uses a fixed offset: only IANA names.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.deprecation import MiddlewareMixin

SESSION_TIMEZONE_KEY = "detected_timezone"
SESSION_LANGUAGE_KEY = "detected_language"
_LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}


def timezone_for(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.timezone:
        return str(user.timezone)
    return str(request.session.get(SESSION_TIMEZONE_KEY, "")) if hasattr(request, "session") else ""


def language_for(request: HttpRequest) -> str:
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    user = getattr(request, "user", None)
    profile = str(user.language) if user is not None and user.is_authenticated else ""
    detected = str(request.session.get(SESSION_LANGUAGE_KEY, "")) if hasattr(request, "session") else ""
    for language in (chosen, profile, detected):
        if language in _LANGUAGE_CODES:
            return language
    return translation.get_language_from_request(request)


class UserTimezoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name = timezone_for(request)
        try:
            timezone.activate(zoneinfo.ZoneInfo(name)) if name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


class UserLocaleMiddleware(MiddlewareMixin):
    """Like Django's LocaleMiddleware, with the profile and the detected language in the chain.

    Precedence: the language picked in the site's language switcher (Django's language cookie,
    the latest explicit choice in this browser), then the profile, then what the browser reported
    on the first visit (session), then Accept-Language. Detection must never undo a choice.
    """

    def process_request(self, request: HttpRequest) -> None:
        translation.activate(language_for(request))
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("Content-Language", translation.get_language())
        return response
