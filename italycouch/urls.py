from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path, re_path
from django.views.static import serve

admin.site.site_header = "Italy From Couch"
admin.site.site_title = "Italy From Couch admin"

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("accounts.urls")),
    path("", include("notifications.urls")),
    path("", include("streaming.urls")),
    path("", include("chat.urls")),
    path("", include("reviews.urls")),
    path("", include("bookings.urls")),
    path("payments/", include("payments.urls")),
    path("", include("payments.tips.urls")),
]

if settings.DEBUG or settings.ENVIRONMENT == "embedded":
    # The embedded default serves uploads itself; production puts them behind the web server.
    urlpatterns += [re_path(r"^media/(?P<path>.*)$", serve, {"document_root": settings.MEDIA_ROOT})]
