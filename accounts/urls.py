from django.urls import URLPattern, URLResolver, path

from accounts import views

app_name = "accounts"
urlpatterns: list[URLPattern | URLResolver] = [
    path("preferences/detect/", views.detect_preferences, name="detect_preferences"),
    path("profile/", views.profile, name="profile"),
    path("profile/guide/", views.guide_profile_edit, name="guide_profile_edit"),
    path("guides/<slug:slug>/", views.guide_detail, name="guide_detail"),
]
