"""factory-boy factories shared by every app's tests."""

import factory
from django.contrib.auth import get_user_model

from accounts.models import GuideProfile, Language

DEMO_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("email",)
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    timezone = "Europe/Rome"
    language = "en"
    password = factory.PostGenerationMethodCall("set_password", DEMO_PASSWORD)

    @factory.post_generation
    def _save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class LanguageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Language
        django_get_or_create = ("code",)

    code = "en"
    name = "English"


class GuideFactory(UserFactory):
    role = "guide"


class GuideProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GuideProfile

    user = factory.SubFactory(GuideFactory)
    display_name = factory.Sequence(lambda n: f"Guide {n}")
    city = "Rome"
    bio = "Born and raised between the Tiber and the hills."
