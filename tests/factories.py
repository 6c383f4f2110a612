"""factory-boy factories shared by every app's tests."""

import factory
from django.contrib.auth import get_user_model

from accounts.models import GuideProfile, Language
from bookings.models import Tour, TourPhoto

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


class TourFactory(factory.django.DjangoModelFactory[Tour]):
    class Meta:
        model = Tour
        skip_postgeneration_save = True

    guide = factory.SubFactory(GuideProfileFactory)
    title = factory.Sequence(lambda n: f"Tour {n}")
    summary = "A live walk with a local guide."
    city = "Rome"
    category = "walking"
    duration_minutes = 90
    price = 0
    max_group_size = 10
    status = "published"

    @factory.post_generation
    def languages(obj, create, extracted, **kwargs):
        # TourFactory(languages=[...]) sets them; otherwise every tour is given in English.
        if create:
            obj.languages.set(extracted if extracted is not None else [LanguageFactory()])


class TourPhotoFactory(factory.django.DjangoModelFactory[TourPhoto]):
    class Meta:
        model = TourPhoto

    tour = factory.SubFactory(TourFactory)
    image = factory.django.ImageField(width=64, height=48, color="blue", format="JPEG")
    caption = factory.Sequence(lambda n: f"Photo {n}")
    position = factory.Sequence(lambda n: n)


def _redeliver_after():
    from django.utils import timezone

    from notifications.services import REDELIVER_AFTER

    return timezone.now() + REDELIVER_AFTER


class OutboundEmailFactory(factory.django.DjangoModelFactory):
    """A stored e-mail row as the pipeline writes it (queued unless told otherwise)."""

    class Meta:
        model = "notifications.OutboundEmail"

    to = factory.Sequence(lambda n: [f"guest{n}@example.com"])
    from_email = "Italy From Couch <tours@italyfromcouch.example>"
    subject = factory.Sequence(lambda n: f"Message {n}")
    body_text = "Ciao! See you on the tour."
    idempotency_key = factory.Sequence(lambda n: f"test:{n}")
    message_id = factory.Sequence(lambda n: f"<test.{n}@italyfromcouch.example>")
    redeliver_after = factory.LazyFunction(_redeliver_after)


class VerifiedUserFactory(UserFactory):
    """A user who can log in through allauth's form (mandatory e-mail verification is done)."""

    @factory.post_generation
    def verified_email(obj, create, extracted, **kwargs):
        if create:
            from allauth.account.models import EmailAddress

            EmailAddress.objects.update_or_create(
                user=obj, email=obj.email, defaults={"primary": True, "verified": True}
            )


def _slot_start():
    from datetime import timedelta

    from django.utils import timezone

    return (timezone.now() + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)


def _slot_end(start, duration_minutes):
    from datetime import timedelta

    return start + timedelta(minutes=duration_minutes)


class SlotFactory(factory.django.DjangoModelFactory):
    """A scheduled date of a tour, 3 days ahead by default (inside the default booking window)."""

    class Meta:
        model = "bookings.Slot"

    tour = factory.SubFactory(TourFactory)
    guide = factory.LazyAttribute(lambda slot: slot.tour.guide)
    start = factory.LazyFunction(_slot_start)
    end = factory.LazyAttribute(lambda slot: _slot_end(slot.start, slot.tour.duration_minutes))
    capacity = factory.LazyAttribute(lambda slot: slot.tour.max_group_size)


class BookingFactory(factory.django.DjangoModelFactory):
    """A booking row written directly (no payment, no messages); active ones take seats on the slot."""

    class Meta:
        model = "bookings.Booking"
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    slot = factory.SubFactory(SlotFactory)
    seats = 1
    status = "confirmed"
    idempotency_key = factory.Sequence(lambda n: f"test-booking-{n}")

    @factory.post_generation
    def _take_seats(obj, create, extracted, **kwargs):
        # Keeps slot.booked_seats equal to the active bookings' seats, as the booking service does.
        if create and obj.status in ("pending_payment", "confirmed"):
            from django.db.models import F

            type(obj.slot).objects.filter(pk=obj.slot_id).update(booked_seats=F("booked_seats") + obj.seats)
            obj.slot.refresh_from_db(fields=["booked_seats"])


class LiveSessionFactory(factory.django.DjangoModelFactory):
    """The (scheduled) live session of a slot."""

    class Meta:
        model = "streaming.LiveSession"
        django_get_or_create = ("slot",)

    slot = factory.SubFactory(SlotFactory)


class GuidePaymentAccountFactory(factory.django.DjangoModelFactory):
    """A guide's connected payout account; ready (charges and payouts enabled) unless told otherwise."""

    class Meta:
        model = "payments.GuidePaymentAccount"
        django_get_or_create = ("guide",)

    guide = factory.SubFactory(GuideProfileFactory)
    provider = "test"
    account_id = factory.Sequence(lambda n: f"acct_test_factory{n:06d}")
    charges_enabled = True
    payouts_enabled = True
    details_submitted = True
