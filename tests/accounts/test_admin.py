"""Django admin for users, guide profiles and languages; role and is_staff stay coherent."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.factories import GuideProfileFactory, LanguageFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root@example.com", "root-pass-phrase"))
    return client


def _change_data(user, **overrides):
    data = {
        "email": user.email,
        "name": user.name,
        "country": user.country,
        "timezone": user.timezone,
        "language": user.language,
        "role": user.role,
        "is_active": "on" if user.is_active else "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "10:00:00",
        # The guide-profile inline's management form (present only for guides, harmless otherwise).
        "guide_profile-TOTAL_FORMS": "0",
        "guide_profile-INITIAL_FORMS": "0",
        "guide_profile-MIN_NUM_FORMS": "0",
        "guide_profile-MAX_NUM_FORMS": "1",
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


class TestRoleAndStaffFlag:
    def test_the_staff_role_opens_the_admin(self):
        user = UserFactory(role="customer")

        user.role = "staff"
        user.save()

        user.refresh_from_db()
        assert user.is_staff

    def test_creating_a_staff_user_opens_the_admin(self):
        assert UserFactory(role="staff").is_staff

    def test_leaving_the_staff_role_closes_the_admin(self):
        user = UserFactory(role="staff")

        user.role = "guide"
        user.save()

        user.refresh_from_db()
        assert not user.is_staff

    def test_superusers_keep_the_admin_whatever_their_role(self):
        user = User.objects.create_superuser("boss@example.com", "pass-phrase-123")

        user.role = "guide"
        user.save()

        user.refresh_from_db()
        assert user.is_staff

    def test_a_customer_flagged_staff_by_hand_keeps_the_flag(self):
        # Only the role change drives the flag; an explicit flag on another role is left alone.
        user = User.objects.get(pk=UserFactory(role="customer", is_staff=True).pk)

        user.name = "Renamed"
        user.save()

        assert User.objects.get(pk=user.pk).is_staff

    def test_saving_only_the_role_also_saves_the_flag(self):
        user = UserFactory(role="customer")

        user.role = "staff"
        user.save(update_fields=["role"])

        assert User.objects.values_list("is_staff", flat=True).get(pk=user.pk) is True


class TestUserAdmin:
    def test_list_shows_users_by_email_and_searches_by_name(self, admin_client):
        UserFactory(email="ada@example.com", name="Ada Lovelace", role="guide")
        UserFactory(email="bob@example.com", name="Bob Builder")

        response = admin_client.get(reverse("admin:accounts_user_changelist"), {"q": "Lovelace"})

        assert response.status_code == 200
        html = response.content.decode()
        assert "ada@example.com" in html
        assert "bob@example.com" not in html

    def test_list_filters_by_role(self, admin_client):
        UserFactory(email="ada@example.com", role="guide")
        UserFactory(email="bob@example.com", role="customer")

        response = admin_client.get(reverse("admin:accounts_user_changelist"), {"role__exact": "guide"})

        assert list(response.context["cl"].queryset.values_list("email", flat=True)) == ["ada@example.com"]

    def test_add_form_creates_an_email_keyed_user_with_a_password(self, admin_client):
        response = admin_client.post(
            reverse("admin:accounts_user_add"),
            {
                "email": "new.guide@example.com",
                "role": "guide",
                "usable_password": "true",
                "password1": "a-long-pass-phrase-9",
                "password2": "a-long-pass-phrase-9",
            },
        )

        assert response.status_code == 302
        user = User.objects.get(email="new.guide@example.com")
        assert user.role == "guide"
        assert user.check_password("a-long-pass-phrase-9")
        assert not user.is_staff

    def test_giving_the_staff_role_in_the_admin_sets_is_staff(self, admin_client):
        user = UserFactory(role="customer")

        response = admin_client.post(
            reverse("admin:accounts_user_change", args=[user.pk]), _change_data(user, role="staff")
        )

        assert response.status_code == 302
        user.refresh_from_db()
        assert (user.role, user.is_staff) == ("staff", True)

    def test_taking_the_staff_role_away_in_the_admin_clears_is_staff(self, admin_client):
        user = UserFactory(role="staff")

        response = admin_client.post(
            reverse("admin:accounts_user_change", args=[user.pk]), _change_data(user, role="customer")
        )

        assert response.status_code == 302
        user.refresh_from_db()
        assert (user.role, user.is_staff) == ("customer", False)

    def test_change_page_of_a_guide_includes_the_guide_profile(self, admin_client):
        profile = GuideProfileFactory(display_name="Giulia Romano")

        response = admin_client.get(reverse("admin:accounts_user_change", args=[profile.user.pk]))

        assert response.status_code == 200
        assert "Giulia Romano" in response.content.decode()

    def test_change_page_of_a_customer_has_no_guide_profile_form(self, admin_client):
        user = UserFactory(role="customer")

        response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))

        assert response.status_code == 200
        assert "guide_profile-TOTAL_FORMS" not in response.content.decode()


class TestGuideProfileAndLanguageAdmin:
    def test_guide_profiles_filter_by_city_and_search(self, admin_client):
        GuideProfileFactory(display_name="Giulia", city="Florence")
        GuideProfileFactory(display_name="Marco", city="Rome")

        by_city = admin_client.get(reverse("admin:accounts_guideprofile_changelist"), {"city": "Florence"})
        by_search = admin_client.get(reverse("admin:accounts_guideprofile_changelist"), {"q": "Marco"})

        assert [p.display_name for p in by_city.context["cl"].queryset] == ["Giulia"]
        assert [p.display_name for p in by_search.context["cl"].queryset] == ["Marco"]

    def test_guide_profile_change_page_renders(self, admin_client):
        profile = GuideProfileFactory()

        response = admin_client.get(reverse("admin:accounts_guideprofile_change", args=[profile.pk]))

        assert response.status_code == 200

    def test_photo_uploaded_by_staff_is_reencoded_too(self, admin_client):
        from django.core.files.uploadedfile import SimpleUploadedFile

        from tests.accounts.test_guide_profile_edit import _jpeg_with_exif

        profile = GuideProfileFactory(display_name="Giulia")
        response = admin_client.post(
            reverse("admin:accounts_guideprofile_change", args=[profile.pk]),
            {
                "user": profile.user.pk,
                "display_name": "Giulia",
                "slug": profile.slug,
                "city": "Rome",
                "bio": "",
                "photo": SimpleUploadedFile("IMG_1.jpg", _jpeg_with_exif(), "image/jpeg"),
            },
        )

        assert response.status_code == 302
        profile.refresh_from_db()
        assert "IMG_1" not in profile.photo.name
        assert b"Guide's phone" not in profile.photo.read()

    def test_languages_are_listed_and_searchable(self, admin_client):
        LanguageFactory(code="it", name="Italian")
        LanguageFactory(code="en", name="English")

        response = admin_client.get(reverse("admin:accounts_language_changelist"), {"q": "Ital"})

        assert response.status_code == 200
        assert [language.code for language in response.context["cl"].queryset] == ["it"]


def test_non_staff_users_cannot_open_the_admin(client):
    client.force_login(UserFactory(role="guide"))

    response = client.get(reverse("admin:accounts_user_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
