from django.urls import path

from streaming import views

app_name = "streaming"

urlpatterns = [
    path("live/<int:session_id>/", views.watch, name="watch"),
    path("live/<int:session_id>/broadcast/", views.broadcast, name="broadcast"),
    path("live/<int:session_id>/token/", views.token, name="token"),
    path("slots/<int:slot_id>/live/", views.slot_live, name="slot_live"),
]
