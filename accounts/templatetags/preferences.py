"""Template tags for the time-zone/language detection contract with static/src/site.ts.

base.html renders ``<body data-timezone-known="{% timezone_known %}" ...>``; when it says "0",
site.ts POSTs the browser's zone and language to ``{% url 'accounts:detect_preferences' %}``.
"""

from __future__ import annotations

from django import template
from django.middleware.csrf import get_token
from django.template import Context

from accounts.middleware import timezone_for

register = template.Library()


@register.simple_tag(takes_context=True)
def timezone_known(context: Context) -> str:
    """ "1" when the server already knows the visitor's zone, else "0".

    Signed in, that means the profile has one: a zone left in the session from before logging in
    is still used for display (middleware), but the browser should report once more so that the
    profile gets filled.
    """
    request = context.get("request")
    if request is None:
        return "1"  # no request (e-mail rendering): nothing could report a zone anyway
    user = getattr(request, "user", None)
    known = bool(user.timezone) if user is not None and user.is_authenticated else bool(timezone_for(request))
    if known:
        return "1"
    # The detect POST is CSRF-protected and site.ts reads the token from the csrftoken cookie;
    # pages without a form would not set that cookie, so ask for it here.
    get_token(request)
    return "0"
