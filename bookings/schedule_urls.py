from django.urls import URLPattern, path

from bookings import schedule_views

urlpatterns: list[URLPattern] = [
    path("dashboard/tours/<slug:slug>/availability/", schedule_views.tour_availability, name="tour_availability"),
    path("dashboard/schedule/", schedule_views.guide_schedule, name="guide_schedule"),
    path("dashboard/slots/<int:pk>/cancel/", schedule_views.slot_cancel, name="slot_cancel"),
]
