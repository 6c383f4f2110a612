import io

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image

from accounts.models import GuideProfile, Language
from bookings import demo
from bookings.models import Tour, TourPhoto

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
    }


@pytest.fixture
def quick_pictures(monkeypatch):
    """For tests about accounts, not pictures: skip drawing 50 postcards."""
    tiny = io.BytesIO()
    Image.new("RGB", (8, 8), "orange").save(tiny, "JPEG")
    monkeypatch.setattr(demo, "draw_scene", lambda **kwargs: tiny.getvalue())
    monkeypatch.setattr(demo, "draw_portrait", lambda **kwargs: tiny.getvalue())


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


def test_demo_guides_have_profiles_with_bio_languages_and_portrait(quick_pictures):
    run_seed()

    guides = list(GuideProfile.objects.select_related("user").prefetch_related("languages"))
    assert len(guides) >= 4
    for guide in guides:
        assert guide.user.role == User.Role.GUIDE
        assert guide.bio
        assert guide.languages.exists()
        assert default_storage.exists(str(guide.photo.name))


def test_every_demo_user_has_a_verified_primary_address_and_staff_is_a_superuser(quick_pictures):
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
def test_demo_users_can_log_in_through_the_login_form(client, quick_pictures, email, password):
    run_seed()

    response = client.post("/accounts/login/", {"login": email, "password": password})

    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == User.objects.get(email=email).pk


def test_a_rerun_keeps_a_password_the_user_changed(quick_pictures):
    run_seed()
    customer = User.objects.get(email=demo.CUSTOMERS[0].email)
    customer.set_password("my-own-secret-2026")
    customer.save()

    run_seed()

    customer.refresh_from_db()
    assert customer.check_password("my-own-secret-2026")


def test_missing_picture_files_are_drawn_again(quick_pictures):
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
