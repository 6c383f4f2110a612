from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest

from accounts.middleware import SESSION_LANGUAGE_KEY, SESSION_TIMEZONE_KEY


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request: HttpRequest, user: Any, form: Any, commit: bool = True) -> Any:
        # What the browser reported before sign-up becomes the new profile's starting point.
        user = super().save_user(request, user, form, commit=False)
        user.timezone = user.timezone or request.session.get(SESSION_TIMEZONE_KEY, "")
        user.language = user.language or request.session.get(SESSION_LANGUAGE_KEY, "")
        if commit:
            user.save()
        return user
