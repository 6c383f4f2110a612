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
    """Like Django's LocaleMiddleware, but the profile's or session's language comes first."""

    def process_request(self, request: HttpRequest) -> None:
        language = ""
        if hasattr(request, "session"):
            language = str(request.session.get(SESSION_LANGUAGE_KEY, ""))
        user_language = getattr(getattr(request, "user", None), "language", "")
        language = user_language or language
        if language not in _LANGUAGE_CODES:
            language = translation.get_language_from_request(request)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response.headers.setdefault("Content-Language", translation.get_language())
        return response
