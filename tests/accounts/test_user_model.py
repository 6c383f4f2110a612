import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from tests.factories import DEMO_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def test_users_are_keyed_by_email_and_default_to_customer():
    user = get_user_model().objects.create_user("Ada@Example.COM", "s3cret-pass-phrase")
    assert user.email == "Ada@example.com"
    assert user.role == "customer"
    assert user.check_password("s3cret-pass-phrase")


def test_unknown_timezone_is_rejected_by_validation():
    user = UserFactory(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError) as error:
        user.full_clean()
    assert "timezone" in error.value.message_dict


def test_factory_password_works():
    assert UserFactory().check_password(DEMO_PASSWORD)
