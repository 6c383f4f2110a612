from django.urls import URLPattern, URLResolver, path

from reviews import views

app_name = "reviews"
urlpatterns: list[URLPattern | URLResolver] = [
    path("bookings/<int:booking_id>/review/", views.write_review, name="write"),
    path("reviews/<int:pk>/", views.review_detail, name="detail"),
    path("reviews/<int:pk>/reply/", views.reply, name="reply"),
    path("dashboard/reviews/", views.guide_reviews, name="guide_reviews"),
]
