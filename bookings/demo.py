"""Demo data for ``manage.py seed_demo``: guides, tours with generated photos, customers, staff,
weekly availability with dates two months ahead, a few bookings and one date starting soon.

Everything is keyed by natural keys (e-mail, slug, language code, booking idempotency key), so
running the seed again changes nothing. Pictures are drawn here with Pillow (no downloads: the site
works offline). Dates and bookings go through the same services as the site (bookings.scheduling,
bookings.reservations), so the demo never holds a clash or an oversold date.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import cache, partial

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils import timezone as django_timezone
from PIL import Image, ImageDraw, ImageFont

from accounts.models import GuideProfile, Language, User
from bookings import reservations, rules, scheduling
from bookings.models import Booking, Slot, Tour, TourPhoto, TourScheduling
from payments import services as payments
from payments.models import Payment

GUIDE_PASSWORD = "guide-demo-2026"  # noqa: S105 - published demo credentials, never used in production
CUSTOMER_PASSWORD = "customer-demo-2026"  # noqa: S105
STAFF_PASSWORD = "staff-demo-2026"  # noqa: S105

LANGUAGES = {"en": "English", "it": "Italian", "es": "Spanish", "fr": "French", "de": "German"}


@dataclass(frozen=True)
class DemoGuide:
    email: str
    name: str
    city: str
    languages: tuple[str, ...]
    bio: str


@dataclass(frozen=True)
class DemoCustomer:
    email: str
    name: str
    timezone: str
    country: str


@dataclass(frozen=True)
class DemoTour:
    slug: str
    title: str
    guide_email: str
    category: str
    languages: tuple[str, ...]
    price: Decimal
    duration_minutes: int
    max_group_size: int
    summary: str
    description: str
    captions: tuple[str, ...]


GUIDES = (
    DemoGuide(
        "giulia.rossi@italyfromcouch.example",
        "Giulia Rossi",
        "Rome",
        ("it", "en", "es"),
        "Archaeologist by training, Roman by birth. I have spent fifteen years walking people through "
        "two thousand years of history, and I still stop at the same corner of the Forum every morning.",
    ),
    DemoGuide(
        "lorenzo.bianchi@italyfromcouch.example",
        "Lorenzo Bianchi",
        "Florence",
        ("it", "en", "de"),
        "Art historian and restorer. I grew up above a bookbinder's shop in Oltrarno and love showing "
        "the small workshops that keep the Renaissance alive.",
    ),
    DemoGuide(
        "chiara.ferraro@italyfromcouch.example",
        "Chiara Ferraro",
        "Venice",
        ("it", "en", "fr"),
        "Born on the Giudecca, rower of a sandolo, and a guide for ten years. Venice is best seen from "
        "the water and from the quiet canals tourists never find.",
    ),
    DemoGuide(
        "marco.esposito@italyfromcouch.example",
        "Marco Esposito",
        "Naples",
        ("it", "en", "es"),
        "Neapolitan, pizzaiolo's son and volcanologist. Between Vesuvius and the bay I will show you "
        "the city's loud streets and its silent underground.",
    ),
)

CUSTOMERS = (
    DemoCustomer("anna.schmidt@example.com", "Anna Schmidt", "Europe/Berlin", "Germany"),
    DemoCustomer("ben.carter@example.com", "Ben Carter", "America/New_York", "United States"),
    DemoCustomer("mei.tanaka@example.com", "Mei Tanaka", "Asia/Tokyo", "Japan"),
)

STAFF_EMAIL = "staff@italyfromcouch.example"

_ROME, _FLORENCE, _VENICE, _NAPLES = (guide.email for guide in GUIDES)

TOURS = (
    DemoTour(
        "colosseum-and-roman-forum-at-dawn",
        "Colosseum and the Roman Forum at Dawn",
        _ROME,
        Tour.Category.HISTORY,
        ("en", "it", "es"),
        Decimal("25.00"),
        90,
        15,
        "Walk the arena and the Forum before the crowds, as the first light turns the travertine gold.",
        "We meet under the Arch of Constantine while the city is still asleep.\n\n"
        "Inside the Colosseum we look at how 50,000 spectators got in and out in minutes, then cross "
        "to the Forum to follow the Sacred Way from the Senate house to the temple of Vesta.",
        ("Arch of Constantine", "The arena floor", "Along the Sacred Way"),
    ),
    DemoTour(
        "trastevere-street-food-walk",
        "Trastevere Street Food Walk",
        _ROME,
        Tour.Category.FOOD,
        ("en", "it"),
        Decimal("35.00"),
        120,
        12,
        "Supplì, pizza bianca and a maritozzo: taste Rome with the families who have cooked it for decades.",
        "Trastevere's bakeries and friggitorie open their doors for us.\n\n"
        "Bring a snack of your own and eat along: I will explain every recipe so you can cook it at home.",
        ("The bakery at dawn", "Supplì straight from the fryer"),
    ),
    DemoTour(
        "secrets-of-the-vatican-museums",
        "Secrets of the Vatican Museums",
        _ROME,
        Tour.Category.MUSEUM,
        ("en", "es"),
        Decimal("45.00"),
        150,
        20,
        "From the Laocoön to the Sistine Chapel, with the stories the audio guide leaves out.",
        "A long, rich visit through the Pio-Clementino, the map gallery and Raphael's rooms.\n\n"
        "We end under Michelangelo's ceiling, looking at it the way he painted it: from below.",
        ("The spiral staircase", "Gallery of Maps", "Raphael's rooms"),
    ),
    DemoTour(
        "uffizi-masterpieces-in-one-hour",
        "Uffizi Masterpieces in One Hour",
        _FLORENCE,
        Tour.Category.ART,
        ("en", "it", "de"),
        Decimal("30.00"),
        60,
        25,
        "Botticelli, Leonardo, Caravaggio: the paintings everyone should see once, explained in an hour.",
        "A brisk and joyful route through the Uffizi's essential rooms.\n\n"
        "Ask anything in the chat; I keep the last ten minutes for your questions.",
        ("The Birth of Venus", "The long corridor"),
    ),
    DemoTour(
        "brunelleschis-dome-step-by-step",
        "Brunelleschi's Dome Step by Step",
        _FLORENCE,
        Tour.Category.HISTORY,
        ("en", "it"),
        Decimal("0.00"),
        45,
        40,
        "463 steps between the two shells of the largest brick dome ever built. A free climb, live.",
        "We climb between the inner and outer shells and look at the herringbone bricks that let "
        "Brunelleschi build without scaffolding.\n\nAt the top: all of Florence.",
        ("Between the two shells", "Florence from the lantern"),
    ),
    DemoTour(
        "chianti-hills-at-golden-hour",
        "Chianti Hills at Golden Hour",
        _FLORENCE,
        Tour.Category.NATURE,
        ("en", "de"),
        Decimal("20.00"),
        75,
        15,
        "Cypress lanes, vineyards and a farmhouse terrace as the sun sets over the Chianti.",
        "A slow walk from Greve along the vineyards to a family farm.\n\n"
        "We finish with the owner explaining this year's harvest. Pour yourself a glass.",
        ("Cypress lane", "The vineyard at sunset", "Farmhouse terrace"),
    ),
    DemoTour(
        "hidden-canals-of-cannaregio",
        "Hidden Canals of Cannaregio",
        _VENICE,
        Tour.Category.WALKING,
        ("en", "it", "fr"),
        Decimal("0.00"),
        60,
        30,
        "The quiet Venice of washing lines, boatyards and the oldest ghetto in the world. Free.",
        "Away from San Marco, Cannaregio is where Venetians still live.\n\n"
        "We walk the Fondamenta della Misericordia, stop at a squero where gondolas are built, and "
        "end in the Campo del Ghetto Novo.",
        ("Fondamenta della Misericordia", "A squero at work"),
    ),
    DemoTour(
        "murano-glass-workshop-visit",
        "Murano Glass: a Workshop Visit",
        _VENICE,
        Tour.Category.ART,
        ("en", "fr"),
        Decimal("25.00"),
        90,
        12,
        "Watch a master glassblower shape a vase from a drop of molten sand, and ask him anything.",
        "A vaporetto ride to Murano and an hour in a working furnace.\n\n"
        "The maestro explains colours, tools and the tricks of a craft guarded for seven centuries.",
        ("The furnace", "Colours of Murano", "A finished vase"),
    ),
    DemoTour(
        "rialto-market-and-cicchetti",
        "Rialto Market and Cicchetti",
        _VENICE,
        Tour.Category.FOOD,
        ("en", "it"),
        Decimal("15.00"),
        75,
        15,
        "Fish stalls at the Rialto, then the little bars where Venetians eat standing up.",
        "Morning at the Pescheria, where the day's catch comes in by boat.\n\n"
        "Then a giro di ombre: three bacari, three cicchetti, and the stories of the people behind the counter.",
        ("The Pescheria", "Cicchetti on the counter"),
    ),
    DemoTour(
        "underground-naples",
        "Underground Naples",
        _NAPLES,
        Tour.Category.HISTORY,
        ("en", "it", "es"),
        Decimal("20.00"),
        90,
        20,
        "Forty metres below the old town: Greek cisterns, Roman theatre walls and wartime shelters.",
        "Naples was built with the stone dug from under it.\n\n"
        "We go down by candlelight through tunnels used for 2,400 years, from Greek aqueducts to the "
        "shelters of 1943.",
        ("The Greek cisterns", "Candlelit tunnel"),
    ),
    DemoTour(
        "pizza-napoletana-masterclass",
        "Pizza Napoletana Masterclass",
        _NAPLES,
        Tour.Category.FOOD,
        ("en", "it"),
        Decimal("40.00"),
        120,
        10,
        "Knead along with a third-generation pizzaiolo in his kitchen in the Sanità district.",
        "Get flour, water, salt and yeast ready: we make the dough together, live.\n\n"
        "While it rises we visit the oven and the market next door, then bake a margherita each.",
        ("The wood oven", "Stretching the dough", "Margherita, done"),
    ),
    DemoTour(
        "vesuvius-and-the-bay-at-sunset",
        "Vesuvius and the Bay at Sunset",
        _NAPLES,
        Tour.Category.NATURE,
        ("en", "es"),
        Decimal("0.00"),
        60,
        50,
        "From the crater rim of Vesuvius, watch the sun go down over the Bay of Naples. Free.",
        "A short hike to the rim of the most watched volcano in the world.\n\n"
        "A volcanologist's view of the 79 AD eruption, and the whole bay from Capri to Sorrento.",
        ("The crater rim", "The bay from above"),
    ),
)


# --- Availability ---------------------------------------------------------------------------------

MO, TU, WE, TH, FR, SA, SU = range(7)
HORIZON_DAYS = 60  # demo tours open two months ahead (the site's default is 90 days)


@dataclass(frozen=True)
class DemoAvailability:
    """Weekly start times of a demo tour, in Rome time. One guide's tours never overlap (buffer included)."""

    weekdays: tuple[int, ...]
    start_times: tuple[str, ...]


AVAILABILITY = {
    # Giulia, Rome: mornings at the Colosseum, lunchtime in Trastevere, afternoons at the Vatican.
    "colosseum-and-roman-forum-at-dawn": DemoAvailability((MO, WE, FR), ("08:00",)),
    "trastevere-street-food-walk": DemoAvailability((TU, TH, SA), ("11:00",)),
    "secrets-of-the-vatican-museums": DemoAvailability((MO, FR), ("15:00",)),
    # Lorenzo, Florence.
    "uffizi-masterpieces-in-one-hour": DemoAvailability((TU, TH), ("10:00", "15:30")),
    "brunelleschis-dome-step-by-step": DemoAvailability((MO, WE, SA), ("09:00",)),
    "chianti-hills-at-golden-hour": DemoAvailability((FR, SU), ("18:00",)),
    # Chiara, Venice.
    "hidden-canals-of-cannaregio": DemoAvailability((MO, TH), ("10:00", "16:00")),
    "murano-glass-workshop-visit": DemoAvailability((TU, FR), ("14:00",)),
    "rialto-market-and-cicchetti": DemoAvailability((WE, SA), ("09:00",)),
    # Marco, Naples.
    "underground-naples": DemoAvailability((MO, WE, FR), ("11:00",)),
    "pizza-napoletana-masterclass": DemoAvailability((TU, SA), ("17:00",)),
    "vesuvius-and-the-bay-at-sunset": DemoAvailability((TH, SU), ("18:30",)),
}

# One tour per guide can take bookings up to 15 minutes before the start, so the date seeded to
# start soon (for the live-streaming demo) can be booked; tried in this order.
LIVE_DEMO_TOURS = (
    "colosseum-and-roman-forum-at-dawn",
    "brunelleschis-dome-step-by-step",
    "hidden-canals-of-cannaregio",
    "underground-naples",
)
LIVE_DEMO_NOTICE_MINUTES = 5
# The soon date starts 6 minutes to 3 hours from now, on a 5-minute mark, where the guide is free:
# right after `make run` the guide may already go live (15 minutes early) and guests join (10).
LIVE_DEMO_EARLIEST = timedelta(minutes=6)
LIVE_DEMO_LATEST = timedelta(hours=3)
LIVE_DEMO_CUSTOMERS = ("anna.schmidt@example.com", "ben.carter@example.com")


@dataclass(frozen=True)
class DemoBooking:
    customer_email: str
    tour_slug: str
    nth_date: int  # 0 = the first date at least two days ahead
    seats: int


BOOKINGS = (
    DemoBooking("anna.schmidt@example.com", "colosseum-and-roman-forum-at-dawn", 2, 2),
    DemoBooking("anna.schmidt@example.com", "murano-glass-workshop-visit", 1, 1),
    DemoBooking("ben.carter@example.com", "uffizi-masterpieces-in-one-hour", 1, 1),
    DemoBooking("ben.carter@example.com", "colosseum-and-roman-forum-at-dawn", 2, 3),
    DemoBooking("mei.tanaka@example.com", "pizza-napoletana-masterclass", 0, 2),
    DemoBooking("mei.tanaka@example.com", "hidden-canals-of-cannaregio", 3, 1),
)


@dataclass
class SeedResult:
    created_accounts: list[tuple[str, str, str]] = field(default_factory=list)  # (role, e-mail, password)
    created_tours: int = 0
    created_rules: int = 0
    created_slots: int = 0
    created_bookings: int = 0
    live_slot: Slot | None = None  # set only when this run created the date starting soon


@transaction.atomic
def seed() -> SeedResult:
    result = SeedResult()
    _password_hash.cache_clear()  # one hash per password and run, made with today's hasher settings
    languages = {
        code: Language.objects.get_or_create(code=code, defaults={"name": name})[0] for code, name in LANGUAGES.items()
    }

    for customer in CUSTOMERS:
        _ensure_user(
            result,
            role=User.Role.CUSTOMER,
            email=customer.email,
            password=CUSTOMER_PASSWORD,
            name=customer.name,
            timezone=customer.timezone,
            country=customer.country,
        )
    _ensure_user(
        result,
        role=User.Role.STAFF,
        email=STAFF_EMAIL,
        password=STAFF_PASSWORD,
        name="Demo Staff",
        timezone="Europe/Rome",
        country="Italy",
        is_staff=True,
        is_superuser=True,
    )

    profiles = {guide.email: _ensure_guide(result, guide, languages) for guide in GUIDES}
    tours = {
        demo_tour.slug: _ensure_tour(result, demo_tour, profiles[demo_tour.guide_email], languages)
        for demo_tour in TOURS
    }

    now = django_timezone.now()
    for slug, availability in AVAILABILITY.items():
        _ensure_availability(result, tours[slug], availability, now=now)
    # New days enter the two-month window every day; the periodic task does the same hourly.
    result.created_slots += scheduling.materialize_all_tours(now=now)
    customers = {user.email: user for user in User.objects.filter(email__in=[c.email for c in CUSTOMERS])}
    for demo_booking in BOOKINGS:
        _ensure_booking(result, demo_booking, tours[demo_booking.tour_slug], customers, now=now)
    _ensure_live_slot(result, tours, customers, now=now)
    return result


def _ensure_user(
    result: SeedResult,
    *,
    role: str,
    email: str,
    password: str,
    name: str,
    timezone: str,
    country: str,
    is_staff: bool = False,
    is_superuser: bool = False,
) -> User:
    user, created = User.objects.get_or_create(
        email=email,
        defaults={
            "name": name,
            "role": role,
            "timezone": timezone,
            "country": country,
            "language": "en",
            "is_staff": is_staff,
            "is_superuser": is_superuser,
        },
    )
    if created:
        # Only new accounts get the demo password: a re-run must not undo a password someone changed.
        user.password = _password_hash(password)
        user.save(update_fields=["password"])
        result.created_accounts.append((role, email, password))
    # Sign-up requires a verified address (ACCOUNT_EMAIL_VERIFICATION = "mandatory").
    EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


@cache
def _password_hash(password: str) -> str:
    # Hashing is slow on purpose (about a second each on a busy machine); demo accounts sharing a
    # published password may as well share its hash, which keeps the first seed quick.
    return make_password(password)


def _ensure_guide(result: SeedResult, guide: DemoGuide, languages: dict[str, Language]) -> GuideProfile:
    user = _ensure_user(
        result,
        role=User.Role.GUIDE,
        email=guide.email,
        password=GUIDE_PASSWORD,
        name=guide.name,
        timezone="Europe/Rome",
        country="Italy",
    )
    profile, created = GuideProfile.objects.get_or_create(
        user=user, defaults={"display_name": guide.name, "city": guide.city, "bio": guide.bio}
    )
    if created:
        profile.languages.set([languages[code] for code in guide.languages])
    if settings.PAYMENTS_PROVIDER == "test":
        # Offline demo: a ready TEST MODE payout account, so paid demo tours can be booked and paid.
        payments.connect_test_mode_account(guide=profile)
    _ensure_picture(profile.photo, f"{profile.slug}.jpg", partial(draw_portrait, name=guide.name, city=guide.city))
    return profile


def _ensure_tour(result: SeedResult, demo: DemoTour, guide: GuideProfile, languages: dict[str, Language]) -> Tour:
    tour, created = Tour.objects.get_or_create(
        slug=demo.slug,
        defaults={
            "guide": guide,
            "title": demo.title,
            "summary": demo.summary,
            "description": demo.description,
            "city": guide.city,
            "category": demo.category,
            "duration_minutes": demo.duration_minutes,
            "price": demo.price,
            "currency": "EUR",
            "max_group_size": demo.max_group_size,
            "status": Tour.Status.PUBLISHED,
        },
    )
    if created:
        result.created_tours += 1
        tour.languages.set([languages[code] for code in demo.languages])
        for position, caption in enumerate(demo.captions, start=1):
            TourPhoto.objects.create(tour=tour, caption=caption, position=position)

    _ensure_picture(
        tour.cover_photo,
        f"{tour.slug}.jpg",
        partial(draw_scene, city=tour.city, title=tour.title, variant=0, size=(1200, 750)),
    )
    for photo in tour.photos.all():
        _ensure_picture(
            photo.image,
            f"{tour.slug}-{photo.position}.jpg",
            partial(draw_scene, city=tour.city, title=photo.caption, variant=photo.position, size=(1200, 800)),
        )
    return tour


def _ensure_availability(result: SeedResult, tour: Tour, availability: DemoAvailability, *, now: datetime) -> None:
    """Weekly rules from today, created once: a tour that has any rule (even stopped) is left alone."""
    TourScheduling.objects.get_or_create(
        tour=tour,
        defaults={
            "horizon_days": HORIZON_DAYS,
            "min_notice_minutes": LIVE_DEMO_NOTICE_MINUTES if tour.slug in LIVE_DEMO_TOURS else 120,
        },
    )
    if tour.availability_rules.exists():
        return
    start_times = [time.fromisoformat(text) for text in availability.start_times]
    today = now.astimezone(rules.get_zone(tour.timezone)).date()
    for rrule in rules.weekly_rrules(weekdays=availability.weekdays, start_times=start_times):
        outcome = scheduling.create_rule(user=tour.guide.user, tour=tour, rrule=rrule, valid_from=today, now=now)
        result.created_rules += 1
        result.created_slots += outcome.slots_created


def _ensure_booking(
    result: SeedResult, demo: DemoBooking, tour: Tour, customers: dict[str, User], *, now: datetime
) -> None:
    customer = customers[demo.customer_email]
    key = f"demo:{tour.slug}:{demo.nth_date}"
    if Booking.objects.filter(user=customer, idempotency_key=key).exists():
        return  # kept as it is, even if the customer cancelled or moved it since
    # Two days ahead: well past every demo tour's minimum notice, so the booking always succeeds.
    slot = (
        Slot.objects.filter(tour=tour, status=Slot.Status.SCHEDULED, start__gte=now + timedelta(days=2))
        .order_by("start")[demo.nth_date : demo.nth_date + 1]
        .first()
    )
    if slot is None:
        return
    try:
        outcome = reservations.book_seat(user=customer, slot_id=slot.pk, seats=demo.seats, idempotency_key=key, now=now)
    except reservations.BookingError:
        return  # e.g. the date filled up with real bookings: the demo does without this one
    _pay_in_test_mode(outcome)
    result.created_bookings += int(outcome.created)


def _pay_in_test_mode(outcome: reservations.BookingOutcome) -> None:
    """A demo booking of a paid tour is paid as the TEST MODE page pays: through the payment's event."""
    if outcome.payment is None or outcome.payment.status != Payment.Status.PENDING:
        return
    event = payments.complete_test_payment(payment=outcome.payment)
    if event is not None:
        # In-line: the seed runs in one transaction, so the on-commit task would come too late.
        payments.process_event(webhook_event_id=event.pk)


def _live_candidates(tour: Tour, *, now: datetime) -> list[datetime]:
    """Wall times in the tour's zone, on 5-minute marks, from 6 minutes to 3 hours ahead."""
    zone = rules.get_zone(tour.timezone)
    first = now + LIVE_DEMO_EARLIEST
    first += timedelta(minutes=-first.minute % 5, seconds=-first.second, microseconds=-first.microsecond)
    starts = []
    start = first
    while start <= now + LIVE_DEMO_LATEST:
        starts.append(start.astimezone(zone).replace(tzinfo=None))
        start += timedelta(minutes=5)
    return starts


def _ensure_live_slot(result: SeedResult, tours: dict[str, Tour], customers: dict[str, User], *, now: datetime) -> None:
    """A single date starting soon, for the live-streaming demo, with two demo customers booked.

    A one-off date of a live demo tour that has not ended and starts within the window is reused, so
    re-running the seed while it is upcoming or live changes nothing; once it is over, a new one is made.
    """
    slot = (
        Slot.objects.filter(
            tour__slug__in=LIVE_DEMO_TOURS,
            rule__isnull=True,
            status=Slot.Status.SCHEDULED,
            end__gt=now,
            start__lte=now + LIVE_DEMO_LATEST,
        )
        .order_by("start")
        .first()
    )
    if slot is None:
        slot = _create_live_slot(tours, now=now)
        if slot is None:
            return
        result.live_slot = slot
    for email in LIVE_DEMO_CUSTOMERS:
        customer = customers[email]
        if Booking.objects.filter(user=customer, slot=slot).exists():
            continue
        try:
            outcome = reservations.book_seat(
                user=customer, slot_id=slot.pk, seats=1, idempotency_key=f"demo:live:{slot.pk}", now=now
            )
        except reservations.BookingError:
            continue  # starting within the minimum notice by now: the guide can still stream it
        _pay_in_test_mode(outcome)
        result.created_bookings += int(outcome.created)


def _create_live_slot(tours: dict[str, Tour], *, now: datetime) -> Slot | None:
    for slug in LIVE_DEMO_TOURS:
        tour = tours[slug]
        for local_start in _live_candidates(tour, now=now):
            try:
                return scheduling.add_one_off_slot(user=tour.guide.user, tour=tour, local_start=local_start)
            except scheduling.SchedulingError:
                continue  # the guide has another date then (buffer included): try a quarter hour later
    return None


def _ensure_picture(field_file: FieldFile, name: str, render: Callable[[], bytes]) -> None:
    # Drawn only when missing, so a re-run is quick; a wiped media folder is drawn again.
    if field_file.name and field_file.storage.exists(field_file.name):
        return
    field_file.save(name, ContentFile(render()), save=True)


# --- Drawing --------------------------------------------------------------------------------------

RGB = tuple[int, int, int]
TERRACOTTA: RGB = (176, 74, 46)
OCHRE: RGB = (222, 165, 72)
SEA_BLUE: RGB = (28, 92, 140)
LAGOON: RGB = (46, 140, 150)
SUNSET: RGB = (236, 132, 104)
CREAM: RGB = (246, 238, 222)
NIGHT: RGB = (32, 40, 72)
FLAG = ((0, 146, 70), (244, 245, 240), (206, 43, 55))

# Sky gradients, from the top of the picture to the bottom, for each city.
SKIES: dict[str, tuple[RGB, RGB]] = {
    "Rome": (OCHRE, TERRACOTTA),
    "Florence": (SUNSET, OCHRE),
    "Venice": (LAGOON, SEA_BLUE),
    "Naples": (SEA_BLUE, SUNSET),
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow's bundled font: nothing to download, the same on every machine.
    return ImageFont.load_default(size=size)


def _gradient(size: tuple[int, int], top: RGB, bottom: RGB) -> Image.Image:
    # Stretch one column instead of resampling the whole square: ten times faster, same picture.
    column = Image.linear_gradient("L").resize((1, size[1]), Image.Resampling.BILINEAR)
    mask = column.resize(size, Image.Resampling.NEAREST)
    return Image.composite(Image.new("RGB", size, bottom), Image.new("RGB", size, top), mask)


def _glow(image: Image.Image, centre: tuple[int, int], radius: int, colour: RGB) -> None:
    # radial_gradient grows from 0 in the middle; inverted and steepened, it fades out well inside
    # its square, so the sun has no visible edge.
    gradient = Image.radial_gradient("L").resize((radius * 2, radius * 2), Image.Resampling.BILINEAR)
    mask = gradient.point(lambda value: max(0, 255 - value * 2))
    image.paste(Image.new("RGB", mask.size, colour), (centre[0] - radius, centre[1] - radius), mask)


def _landmark(draw: ImageDraw.ImageDraw, city: str, width: int, height: int, variant: int) -> None:
    horizon = int(height * 0.66)
    shift = (variant * 97) % max(width // 5, 1) - width // 10
    if city == "Rome":
        # Arches of an amphitheatre, two storeys.
        left, right = width // 6 + shift, width * 5 // 6 + shift
        draw.rectangle((left, horizon - 220, right, horizon), fill=(196, 110, 70))
        arch_width = (right - left) // 8
        for storey, top in enumerate((horizon - 200, horizon - 100)):
            for index in range(8):
                x = left + index * arch_width + arch_width // 5
                draw.rounded_rectangle(
                    (x, top, x + arch_width * 3 // 5, top + 80 - storey * 4), radius=arch_width // 3, fill=(92, 44, 30)
                )
    elif city == "Florence":
        # A ribbed dome with its lantern, on a drum.
        centre = width // 2 + shift
        draw.rectangle((centre - 190, horizon - 160, centre + 190, horizon), fill=CREAM)
        draw.pieslice((centre - 170, horizon - 330, centre + 170, horizon), 180, 360, fill=TERRACOTTA)
        for rib in (-90, 0, 90):
            draw.line((centre + rib // 3, horizon - 325, centre + rib, horizon - 165), fill=CREAM, width=6)
        draw.rectangle((centre - 18, horizon - 380, centre + 18, horizon - 322), fill=CREAM)
    elif city == "Venice":
        # Waves and a gondola.
        for row in range(6):
            y = horizon - 40 + row * 38
            for x in range(-60, width + 60, 120):
                draw.arc((x + row * 30, y, x + 120 + row * 30, y + 40), 200, 340, fill=CREAM, width=4)
        boat_x = width // 3 + shift
        draw.chord((boat_x, horizon - 60, boat_x + 420, horizon + 30), 0, 180, fill=NIGHT)
        draw.line((boat_x + 330, horizon - 140, boat_x + 300, horizon - 10), fill=NIGHT, width=6)
    else:
        # Vesuvius over the bay.
        peak = width // 2 + shift
        draw.polygon(
            [(peak - 420, horizon), (peak - 70, horizon - 260), (peak + 70, horizon - 250), (peak + 440, horizon)],
            fill=(84, 70, 96),
        )
        draw.rectangle((0, horizon, width, height), fill=SEA_BLUE)
        for row in range(3):
            y = horizon + 30 + row * 40
            draw.line((width // 8, y, width * 7 // 8, y), fill=LAGOON, width=4)


def _caption(image: Image.Image, text: str) -> None:
    width, height = image.size
    font = _font(max(height // 14, 14))
    measure = ImageDraw.Draw(image)
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and measure.textlength(candidate, font=font) <= width * 0.85:
            lines[-1] = candidate
        else:
            lines.append(word)
    line_height = int(font.size * 1.25) if isinstance(font, ImageFont.FreeTypeFont) else 14
    band_height = line_height * len(lines) + line_height
    # A translucent dark band keeps the text readable on any sky.
    band_top = height - band_height
    image.paste((20, 20, 30), (0, band_top, width, height), Image.new("L", (width, band_height), 140))
    for index, line in enumerate(lines):
        measure.text((width // 16, band_top + line_height // 2 + index * line_height), line, font=font, fill=CREAM)


def _flag(draw: ImageDraw.ImageDraw, width: int) -> None:
    for index, colour in enumerate(FLAG):
        draw.rectangle((width - 150 + index * 36, 32, width - 114 + index * 36, 80), fill=colour)


def _jpeg(image: Image.Image) -> bytes:
    output = io.BytesIO()
    image.save(output, "JPEG", quality=82)
    return output.getvalue()


def draw_scene(*, city: str, title: str, variant: int, size: tuple[int, int]) -> bytes:
    """A postcard of ``city``: sky gradient, a sun, the city's landmark and ``title`` written on it."""
    width, height = size
    top, bottom = SKIES.get(city, (OCHRE, TERRACOTTA))
    if variant % 2:
        top, bottom = bottom, top
    image = _gradient(size, top, bottom)
    _glow(image, (width * (2 + variant) // 7, height // 4 + variant * 20), height // 5, (255, 226, 160))
    draw = ImageDraw.Draw(image)
    _landmark(draw, city, width, height, variant)
    _flag(draw, width)
    _caption(image, title)
    return _jpeg(image)


def draw_portrait(*, name: str, city: str) -> bytes:
    """A friendly silhouette on the colours of the guide's city, with their initials."""
    size = 480
    top, bottom = SKIES.get(city, (OCHRE, TERRACOTTA))
    image = _gradient((size, size), top, bottom)
    draw = ImageDraw.Draw(image)
    draw.ellipse((size // 2 - 90, 90, size // 2 + 90, 270), fill=CREAM)
    draw.pieslice((size // 2 - 190, 290, size // 2 + 190, 670), 180, 360, fill=NIGHT)
    initials = "".join(part[0] for part in name.split()[:2]).upper()
    font = _font(72)
    text_width = draw.textlength(initials, font=font)
    draw.text(((size - text_width) / 2, 370), initials, font=font, fill=CREAM)
    return _jpeg(image)
