"""A URLconf that tests the site layout on its own.

base.html links to pages other apps own (tour list, dashboard, profile, outbox, the
preference-detect endpoint). Here each of those names is a stub, so the layout tests neither wait
for those views nor break while they change. The stable third-party routes (admin, allauth,
set_language) are the real ones. A few views raise, to exercise the error pages.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template import engines
from django.urls import URLPattern, URLResolver, include, path

# What a page with times looks like to the layout: content inside base.html.
HOME_TEMPLATE = """{% extends "base.html" %}
{% block title %}Home · Italy From Couch{% endblock %}
{% block content %}<h1>Live tours of Italy</h1>
<p data-local-times>Next tour: <time datetime="2031-05-04T16:00:00+00:00" data-local>4 May, 18:00</time></p>
{% endblock %}"""
STUB_TEMPLATE = """{% extends "base.html" %}{% block content %}<h1>Stub page</h1>{% endblock %}"""


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(engines["django"].from_string(HOME_TEMPLATE).render({}, request))


def stub(request: HttpRequest) -> HttpResponse:
    """Stands in for a page another app owns, inside the layout."""
    return HttpResponse(engines["django"].from_string(STUB_TEMPLATE).render({}, request))


# What site.ts reported, for the browser tests (the real endpoint belongs to accounts).
DETECT_REQUESTS: list[dict[str, str]] = []


def detect_preferences(request: HttpRequest) -> HttpResponse:
    """Like accounts:detect_preferences: CSRF-checked POST, zone kept in the session, 204."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    DETECT_REQUESTS.append(request.POST.dict())
    request.session["detected_timezone"] = request.POST["timezone"]
    return HttpResponse(status=204)


def page_with_messages(request: HttpRequest) -> HttpResponse:
    messages.success(request, "Booking confirmed <b>for two</b>")
    messages.error(request, "Payment failed")
    return home(request)


def raise_bad_request(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("bad request for the test")


def raise_permission_denied(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def raise_server_error(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom for the test")


accounts_patterns: list[URLPattern | URLResolver] = [
    path("profile/", stub, name="profile"),
    path("preferences/detect/", detect_preferences, name="detect_preferences"),
]
bookings_patterns: list[URLPattern | URLResolver] = [
    path("", home, name="home"),
    path("tours/", stub, name="tour_list"),
    path("calendar/", stub, name="calendar"),
    path("bookings/", stub, name="my_bookings"),
    path("guide/dashboard/", stub, name="dashboard"),
    path("guide/schedule/", stub, name="guide_schedule"),
]
notifications_patterns: list[URLPattern | URLResolver] = [
    path("dev/outbox/", stub, name="outbox"),
    path("notifications/", stub, name="feed"),
]

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include((accounts_patterns, "accounts"))),
    path("", include((notifications_patterns, "notifications"))),
    path("", include((bookings_patterns, "bookings"))),
    path("__test__/messages/", page_with_messages),
    path("__test__/400/", raise_bad_request),
    path("__test__/403/", raise_permission_denied),
    path("__test__/500/", raise_server_error),
]
