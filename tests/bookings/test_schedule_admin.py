"""Staff see rules, dates, bookings and reminders in the admin; changes go through the services."""

from decimal import Decimal
from typing import cast

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, path, reverse
from django.utils import timezone

import bookings.schedule_admin  # noqa: F401 - registers the models (bookings/admin.py imports it too)
from accounts.models import User
from bookings import scheduling
from bookings.models import AvailabilityRule, Blackout, Booking, Reminder, Slot, Tour, TourScheduling
from italycouch import urls as project_urls
from payments.models import Refund
from tests.factories import SlotFactory, TourFactory, UserFactory
from tests.support.payments import book_and_pay

# The project's URLs with the admin's built after the registrations above, whatever the import order.
urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    *[pattern for pattern in project_urls.urlpatterns if str(pattern.pattern) != "admin/"],
]
pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]


def make_user(**fields) -> User:
    # factory-boy is untyped: the services take a User, and so does this.
    return cast(User, UserFactory(**fields))


def make_tour(**fields) -> Tour:
    return cast(Tour, TourFactory(**fields))


@pytest.fixture
def staff_client(client):
    client.force_login(make_user(is_staff=True, is_superuser=True, role="staff"))
    return client


@pytest.fixture
def booked_slot():
    slot = SlotFactory(tour=make_tour(title="Appian Way by Bike", price=Decimal("30.00")))
    customer = make_user(name="Carla Verdi", email="carla@example.com")
    book_and_pay(user=customer, slot_id=slot.pk, seats=2, idempotency_key="carla")
    return slot


@pytest.mark.parametrize(
    "model", [AvailabilityRule, Blackout, Slot, Booking, Reminder, TourScheduling], ids=lambda model: model.__name__
)
def test_every_scheduling_model_has_an_admin_list(staff_client, booked_slot, model):
    url = reverse(f"admin:bookings_{model._meta.model_name}_changelist")

    assert staff_client.get(url).status_code == 200


def test_a_slot_shows_its_bookings_inline_and_nothing_can_be_edited_or_added(staff_client, booked_slot):
    detail = staff_client.get(reverse("admin:bookings_slot_change", args=[booked_slot.pk]))

    page = detail.content.decode()
    assert detail.status_code == 200
    assert "carla@example.com" in page
    assert 'name="booked_seats"' not in page
    assert 'name="bookings-0-seats"' not in page
    assert staff_client.get(reverse("admin:bookings_slot_add")).status_code == 403
    assert staff_client.get(reverse("admin:bookings_booking_add")).status_code == 403
    assert staff_client.post(reverse("admin:bookings_slot_delete", args=[booked_slot.pk])).status_code == 403


def test_the_cancel_action_cancels_refunds_and_empties_the_date(staff_client, booked_slot):
    response = staff_client.post(
        reverse("admin:bookings_slot_changelist"),
        {"action": "cancel_slots", "_selected_action": [booked_slot.pk]},
        follow=True,
    )

    booked_slot.refresh_from_db()
    assert response.status_code == 200
    assert booked_slot.status == Slot.Status.CANCELLED
    assert booked_slot.booked_seats == 0
    assert Booking.objects.get(slot=booked_slot).status == Booking.Status.CANCELLED
    assert Refund.objects.get().amount_minor == 6000
    assert "1 date cancelled, 1 booking refunded." in response.content.decode()


def test_the_stop_action_deactivates_a_rule_through_the_service(staff_client):
    tour = make_tour()
    rule = scheduling.create_rule(
        user=tour.guide.user, tour=tour, rrule="FREQ=WEEKLY;BYDAY=MO;BYHOUR=10", valid_from=timezone.localdate()
    ).rule

    staff_client.post(
        reverse("admin:bookings_availabilityrule_changelist"), {"action": "stop_rules", "_selected_action": [rule.pk]}
    )

    rule.refresh_from_db()
    assert not rule.is_active
    assert not Slot.objects.filter(rule=rule).exists()


def test_a_bad_refund_policy_is_refused_in_the_admin(staff_client):
    tour = make_tour()
    scheduling_row = TourScheduling.objects.create(tour=tour)
    url = reverse("admin:bookings_tourscheduling_change", args=[scheduling_row.pk])
    data = {"tour": tour.pk, "min_notice_minutes": 120, "horizon_days": 90, "buffer_minutes": 30}

    refused = staff_client.post(url, data | {"refund_policy": "[[48, 50], [24, 100]]"})
    accepted = staff_client.post(url, data | {"refund_policy": "[[24, 50], [72, 100]]"})

    assert refused.status_code == 200
    assert "Cancelling later cannot refund more" in refused.content.decode()
    assert accepted.status_code == 302
    scheduling_row.refresh_from_db()
    assert scheduling_row.refund_policy == [[72, 100], [24, 50]]
