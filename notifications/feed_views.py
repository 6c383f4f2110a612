"""The signed-in person's in-app notifications."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from notifications import selectors, services


@login_required
@require_GET
def feed(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    return render(request, "notifications/feed.html", {"notifications": selectors.feed_for(user=user)})


@login_required
@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert user.is_authenticated
    services.mark_notifications_read(user=user, now=timezone.now())
    return redirect("notifications:feed")
