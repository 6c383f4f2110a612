from django.urls import path

from bookings import booking_urls, calendar_urls, schedule_urls, views

app_name = "bookings"
urlpatterns = [
    path("", views.home, name="home"),
    path("tours/", views.tour_list, name="tour_list"),
    path("tours/<slug:slug>/", views.tour_detail, name="tour_detail"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/tours/new/", views.tour_create, name="tour_create"),
    path("dashboard/tours/<slug:slug>/edit/", views.tour_edit, name="tour_edit"),
]
# Each part of the booking flow keeps its routes beside its views.
urlpatterns += booking_urls.urlpatterns + calendar_urls.urlpatterns + schedule_urls.urlpatterns
