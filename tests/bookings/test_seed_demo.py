import io
from datetime import timedelta
from itertools import combinations

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone
from PIL import Image

from accounts.models import GuideProfile, Language
from bookings import demo
from bookings.models import AvailabilityRule, Booking, Slot, Tour, TourPhoto, TourScheduling

pytestmark = pytest.mark.django_db

User = get_user_model()


def run_seed() -> str:
    output = io.StringIO()
    call_command("seed_demo", stdout=output)
    return output.getvalue()


def row_counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "emails": EmailAddress.objects.count(),
        "languages": Language.objects.count(),
        "guides": GuideProfile.objects.count(),
        "tours": Tour.objects.count(),
        "photos": TourPhoto.objects.count(),
        "rules": AvailabilityRule.objects.count(),
        "slots": Slot.objects.count(),
        "bookings": Booking.objects.count(),
    }


@pytest.fixture
def quick_pictures(monkeypatch):
    """For tests about accounts, not pictures: skip drawing 50 postcards."""
    tiny = io.BytesIO()
    Image.new("RGB", (8, 8), "orange").save(tiny, "JPEG")
    monkeypatch.setattr(demo, "draw_scene", lambda **kwargs: tiny.getvalue())
    monkeypatch.setattr(demo, "draw_portrait", lambda **kwargs: tiny.getvalue())


@pytest.fixture
def no_schedule(monkeypatch):
    """For tests about accounts: skip the two months of dates (a few hundred rows per seed)."""
    monkeypatch.setattr(demo, "AVAILABILITY", {})
    monkeypatch.setattr(demo, "BOOKINGS", ())


def test_running_twice_creates_the_same_rows_and_prints_passwords_only_the_first_time():
    first_output = run_seed()
    after_first = row_counts()
    media_files = sorted(Tour.objects.values_list("cover_photo", flat=True))

    second_output = run_seed()

    assert row_counts() == after_first
    assert sorted(Tour.objects.values_list("cover_photo", flat=True)) == media_files
    assert after_first["users"] == 4 + 3 + 1
    assert after_first["emails"] == after_first["users"]
    assert demo.CUSTOMER_PASSWORD in first_output
    assert demo.GUIDE_PASSWORD in first_output
    assert demo.STAFF_PASSWORD in first_output
    assert demo.CUSTOMER_PASSWORD not in second_output
    assert demo.GUIDE_PASSWORD not in second_output
    assert "Availability:" in first_output
    assert "Live demo date:" in first_output
    assert "Availability:" not in second_output
    assert "Live demo date:" not in second_output
    assert after_first["slots"] > 100


def test_demo_catalogue_is_varied_and_every_tour_has_real_photos():
    run_seed()

    tours = list(Tour.objects.prefetch_related("photos", "languages"))
    assert len(tours) >= 10
    assert all(tour.status == Tour.Status.PUBLISHED for tour in tours)
    assert {tour.city for tour in tours} == {"Rome", "Florence", "Venice", "Naples"}
    assert len({tour.category for tour in tours}) >= 5
    assert any(tour.price == 0 for tour in tours)
    assert all(tour.price == 0 or 15 <= tour.price <= 45 for tour in tours)
    assert {code for tour in tours for code in tour.languages.values_list("code", flat=True)} >= {"en", "it"}
    for tour in tours:
        assert 2 <= len(tour.photos.all()) <= 3
        assert str(tour.cover_photo.name).startswith("tours/covers/")
        with tour.cover_photo.open("rb") as cover:
            assert Image.open(cover).size == (1200, 750)
        for photo in tour.photos.all():
            assert default_storage.exists(str(photo.image.name))
    assert set(Language.objects.values_list("code", flat=True)) >= {"en", "it", "es", "fr", "de"}


def test_demo_guides_have_profiles_with_bio_languages_and_portrait(quick_pictures, no_schedule):
    run_seed()

    guides = list(GuideProfile.objects.select_related("user").prefetch_related("languages"))
    assert len(guides) >= 4
    for guide in guides:
        assert guide.user.role == User.Role.GUIDE
        assert guide.bio
        assert guide.languages.exists()
        assert default_storage.exists(str(guide.photo.name))


def test_every_demo_user_has_a_verified_primary_address_and_staff_is_a_superuser(quick_pictures, no_schedule):
    run_seed()

    for user in User.objects.all():
        assert EmailAddress.objects.filter(user=user, email=user.email, verified=True, primary=True).exists()
    staff = User.objects.get(email=demo.STAFF_EMAIL)
    assert staff.is_staff
    assert staff.is_superuser


@pytest.mark.parametrize(
    ("email", "password"),
    [
        (demo.CUSTOMERS[0].email, demo.CUSTOMER_PASSWORD),
        (demo.GUIDES[0].email, demo.GUIDE_PASSWORD),
        (demo.STAFF_EMAIL, demo.STAFF_PASSWORD),
    ],
)
def test_demo_users_can_log_in_through_the_login_form(client, quick_pictures, no_schedule, email, password):
    run_seed()

    response = client.post("/accounts/login/", {"login": email, "password": password})

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == User.objects.get(email=email).pk


def test_a_rerun_keeps_a_password_the_user_changed(quick_pictures, no_schedule):
    run_seed()
    customer = User.objects.get(email=demo.CUSTOMERS[0].email)
    customer.set_password("my-own-secret-2026")
    customer.save()

    run_seed()

    customer.refresh_from_db()
    assert customer.check_password("my-own-secret-2026")


def test_missing_picture_files_are_drawn_again(quick_pictures, no_schedule):
    run_seed()
    tour = Tour.objects.get(slug=demo.TOURS[0].slug)
    default_storage.delete(str(tour.cover_photo.name))

    run_seed()

    tour.refresh_from_db()
    assert default_storage.exists(str(tour.cover_photo.name))
    assert Tour.objects.count() == len(demo.TOURS)


def test_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError):
        run_seed()
    assert not User.objects.exists()


def test_every_demo_tour_has_weekly_times_and_dates_for_the_next_60_days(quick_pictures):
    run_seed()
    now = timezone.now()

    for tour in Tour.objects.all():
        assert AvailabilityRule.objects.filter(tour=tour, is_active=True).exists(), tour.slug
        weekly = Slot.objects.filter(tour=tour, rule__isnull=False, status=Slot.Status.SCHEDULED)
        assert weekly.filter(start__lt=now + timedelta(days=14)).count() >= 2, tour.slug
        assert weekly.filter(start__gte=now + timedelta(days=53)).exists(), tour.slug
        assert not weekly.filter(start__gt=now + timedelta(days=demo.HORIZON_DAYS)).exists(), tour.slug
        assert TourScheduling.objects.get(tour=tour).horizon_days == demo.HORIZON_DAYS
    assert len({rule.rrule for rule in AvailabilityRule.objects.all()}) >= 8  # varied across tours


def test_no_demo_guide_has_two_dates_that_overlap_with_the_buffer(quick_pictures):
    run_seed()

    for guide in GuideProfile.objects.all():
        slots = list(Slot.objects.filter(guide=guide, status=Slot.Status.SCHEDULED).select_related("tour__scheduling"))
        busy = [(slot.start, slot.end + timedelta(minutes=slot.tour.scheduling.buffer_minutes)) for slot in slots]
        for (start, end), (other_start, other_end) in combinations(busy, 2):
            assert end <= other_start or other_end <= start, guide.display_name


def test_demo_customers_have_bookings_and_guides_see_their_names(client, quick_pictures):
    run_seed()

    customers = {customer.email for customer in demo.CUSTOMERS}
    booked = set(Booking.objects.filter(status=Booking.Status.CONFIRMED).values_list("user__email", flat=True))
    assert booked == customers
    for slot in Slot.objects.filter(bookings__isnull=False).distinct():
        assert slot.booked_seats == sum(booking.seats for booking in slot.bookings.filter(status="confirmed"))
    guide = User.objects.get(email=demo.GUIDES[0].email)
    client.force_login(guide)
    schedule = client.get("/dashboard/schedule/").content.decode()
    assert "Anna Schmidt" in schedule


def test_one_demo_date_starts_soon_with_demo_customers_booked_and_a_rerun_keeps_it(quick_pictures):
    run_seed()
    now = timezone.now()

    soon = Slot.objects.filter(
        rule__isnull=True, status=Slot.Status.SCHEDULED, start__gt=now, start__lte=now + demo.LIVE_DEMO_LATEST
    )
    assert soon.count() == 1
    live = soon.get()
    assert live.tour.slug in demo.LIVE_DEMO_TOURS
    assert set(live.bookings.values_list("user__email", flat=True)) == set(demo.LIVE_DEMO_CUSTOMERS)

    output = run_seed()

    assert list(Slot.objects.filter(rule__isnull=True)) == [live]
    assert "Live demo date:" not in output


def test_a_rerun_after_the_soon_date_is_over_makes_a_new_one(quick_pictures, time_machine):
    run_seed()
    first = Slot.objects.get(rule__isnull=True)
    time_machine.move_to(first.end + timedelta(minutes=5), tick=False)

    output = run_seed()

    assert "Live demo date:" in output
    second = Slot.objects.filter(rule__isnull=True).exclude(pk=first.pk).get()
    assert second.start > first.end
    assert second.bookings.count() == len(demo.LIVE_DEMO_CUSTOMERS)
