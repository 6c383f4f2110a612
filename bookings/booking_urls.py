from django.urls import URLPattern, path

from bookings import booking_views

urlpatterns: list[URLPattern] = [
    path("bookings/", booking_views.my_bookings, name="my_bookings"),
    path("bookings/<int:pk>/", booking_views.booking_detail, name="booking_detail"),
]
