from django.urls import path

from chat import views

app_name = "chat"

urlpatterns = [
    path("live/<int:session_id>/transcript/", views.transcript, name="transcript"),
]
