from django.urls import URLPattern, URLResolver, path

from notifications import feed_views, views

app_name = "notifications"
urlpatterns: list[URLPattern | URLResolver] = [
    path("notifications/", feed_views.feed, name="feed"),
    path("notifications/read/", feed_views.mark_all_read, name="mark_all_read"),
    path("dev/outbox/", views.outbox, name="outbox"),
    path("dev/outbox/<int:outbound_email_id>/", views.outbox_detail, name="outbox_detail"),
    path(
        "dev/outbox/<int:outbound_email_id>/attachments/<int:index>/",
        views.outbox_attachment,
        name="outbox_attachment",
    ),
]
