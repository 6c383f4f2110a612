"""Who may open the guide's scheduling pages: the tour's own guide and staff; others get 403."""

import pytest
from django.urls import reverse

from bookings.models import AvailabilityRule, Slot
from tests.factories import GuideProfileFactory, SlotFactory, TourFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def slot():
    return SlotFactory()


def page_urls(slot):
    return {
        "availability": reverse("bookings:tour_availability", kwargs={"slug": slot.tour.slug}),
        "schedule": reverse("bookings:guide_schedule"),
        "cancel": reverse("bookings:slot_cancel", kwargs={"pk": slot.pk}),
    }


@pytest.mark.parametrize("page", ["availability", "schedule", "cancel"])
def test_anonymous_visitors_are_sent_to_log_in(client, slot, page):
    url = page_urls(slot)[page]

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


@pytest.mark.parametrize("page", ["availability", "schedule", "cancel"])
def test_customers_get_403(client, slot, page):
    client.force_login(UserFactory(role="customer"))

    assert client.get(page_urls(slot)[page]).status_code == 403


@pytest.mark.parametrize("page", ["availability", "cancel"])
def test_another_guide_gets_403_on_someone_elses_tour_and_date(client, slot, page):
    client.force_login(GuideProfileFactory().user)

    assert client.get(page_urls(slot)[page]).status_code == 403


def test_another_guide_cannot_add_weekly_times_or_cancel_by_posting(client, slot):
    client.force_login(GuideProfileFactory().user)
    urls = page_urls(slot)

    weekly = client.post(
        urls["availability"],
        {"form": "weekly", "weekly-weekdays": ["0"], "weekly-start_times": "10:00", "weekly-valid_from": "2030-01-01"},
    )
    cancel = client.post(urls["cancel"], {"reason": "Mine now"})

    assert weekly.status_code == 403
    assert cancel.status_code == 403
    assert not AvailabilityRule.objects.exists()
    assert Slot.objects.get(pk=slot.pk).status == Slot.Status.SCHEDULED


def test_another_guide_cannot_open_someone_elses_schedule_by_slug(client, slot):
    client.force_login(GuideProfileFactory().user)

    response = client.get(reverse("bookings:guide_schedule"), {"guide": slot.guide.slug})

    assert response.status_code == 403


@pytest.mark.parametrize("page", ["availability", "schedule", "cancel"])
def test_the_tours_own_guide_opens_every_page(client, slot, page):
    client.force_login(slot.guide.user)

    assert client.get(page_urls(slot)[page]).status_code == 200


def test_staff_open_any_tours_dates_and_any_guides_schedule(client, slot):
    client.force_login(UserFactory(role="staff"))
    urls = page_urls(slot)

    availability = client.get(urls["availability"])
    schedule = client.get(urls["schedule"], {"guide": slot.guide.slug})
    cancel = client.get(urls["cancel"])

    assert availability.status_code == 200
    assert schedule.status_code == 200
    assert slot.tour.title in schedule.content.decode()
    assert cancel.status_code == 200


def test_staff_without_a_guide_named_choose_one_from_a_list(client, slot):
    client.force_login(UserFactory(role="staff"))

    response = client.get(reverse("bookings:guide_schedule"))

    assert response.status_code == 200
    assert f"?guide={slot.guide.slug}" in response.content.decode()


def test_missing_tour_and_date_are_404_for_a_guide(client):
    client.force_login(GuideProfileFactory().user)

    assert client.get(reverse("bookings:tour_availability", kwargs={"slug": "no-such-tour"})).status_code == 404
    assert client.get(reverse("bookings:slot_cancel", kwargs={"pk": 999999})).status_code == 404


def test_an_unknown_form_name_is_a_400(client):
    tour = TourFactory()
    client.force_login(tour.guide.user)

    response = client.post(reverse("bookings:tour_availability", kwargs={"slug": tour.slug}), {"form": "nonsense"})

    assert response.status_code == 400
