from django.urls import path

from streaming import keepsake_urls, replay_views, views

app_name = "streaming"

urlpatterns = [
    path("live/<int:session_id>/", views.watch, name="watch"),
    path("live/<int:session_id>/broadcast/", views.broadcast, name="broadcast"),
    path("live/<int:session_id>/token/", views.token, name="token"),
    path("live/<int:session_id>/replay/", replay_views.replay, name="replay"),
    path("live/<int:session_id>/replay/video.webm", replay_views.replay_video, name="replay_video"),
    path("slots/<int:slot_id>/live/", views.slot_live, name="slot_live"),
]
# The tour's keepsakes (summary, postcard, the guide's edit page) keep their routes beside their views.
urlpatterns += keepsake_urls.urlpatterns
