import zoneinfo
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from bookings.demo import GUIDES, HORIZON_DAYS, TOURS, SeedResult, seed


class Command(BaseCommand):
    help = (
        "Create demo languages, guides, tours (with generated photos), customers, a staff user, weekly "
        "availability, a few bookings and a date starting soon. Idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            # The demo accounts have published passwords, one of them a superuser.
            raise CommandError("seed_demo refuses to run with ITALYCOUCH_ENV=production.")
        result = seed()
        self.stdout.write(f"Demo data ready: {len(GUIDES)} guides, {len(TOURS)} tours ({result.created_tours} new).")
        self._write_schedule(result)
        if not result.created_accounts:
            self.stdout.write("Demo accounts already existed; their passwords were printed when they were created.")
            return
        self.stdout.write("Demo accounts created (log in at /accounts/login/; passwords shown only this once):")
        for role, email, password in result.created_accounts:
            self.stdout.write(f"  {role:<9} {email:<42} {password}")

    def _write_schedule(self, result: SeedResult) -> None:
        # Only what this run created: a re-run that changed nothing prints nothing new.
        if result.created_rules:
            self.stdout.write(
                f"Availability: {result.created_rules} weekly rules, {result.created_slots} dates over the next "
                f"{HORIZON_DAYS} days, {result.created_bookings} demo bookings."
            )
        if result.live_slot is not None:
            slot = result.live_slot
            utc = timezone.localtime(slot.start, timezone.get_fixed_timezone(0)).strftime("%H:%M UTC")
            local = timezone.localtime(slot.start, zoneinfo.ZoneInfo(slot.tour.timezone)).strftime("%H:%M")
            self.stdout.write(
                f"Live demo date: “{slot.tour.title}” by {slot.tour.guide.display_name} starts at {utc} "
                f"({local} {slot.tour.timezone}; slot {slot.pk}); demo customers are booked on it."
            )
