from django.urls import URLPattern, path

from streaming import keepsake_views

# Included in streaming/urls.py (namespace "streaming"), beside the replay of the same session.
urlpatterns: list[URLPattern] = [
    path("live/<int:session_id>/summary/", keepsake_views.keepsake, name="keepsake"),
    path("live/<int:session_id>/summary/edit/", keepsake_views.keepsake_edit, name="keepsake_edit"),
    path("live/<int:session_id>/postcard/", keepsake_views.postcard, name="keepsake_postcard"),
]
