from django.urls import URLPattern, path

from bookings import calendar_views

urlpatterns: list[URLPattern] = [
    path("calendar/", calendar_views.calendar, name="calendar"),
    path("api/slots/", calendar_views.slot_feed, name="slot_feed"),
]
