from django.urls import URLPattern, path

from bookings import booking_views

urlpatterns: list[URLPattern] = [
    path("slots/<int:slot_id>/book/", booking_views.book_slot, name="book_slot"),
    path("bookings/", booking_views.my_bookings, name="my_bookings"),
    path("bookings/<int:pk>/", booking_views.booking_detail, name="booking_detail"),
    path("bookings/<int:pk>/invite.ics", booking_views.booking_ics, name="booking_ics"),
    path("bookings/<int:pk>/cancel/", booking_views.cancel_booking, name="cancel_booking"),
    path("bookings/<int:pk>/reschedule/", booking_views.reschedule_booking, name="reschedule_booking"),
]
