from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from bookings.demo import GUIDES, TOURS, seed


class Command(BaseCommand):
    help = "Create demo languages, guides, tours (with generated photos), customers and a staff user. Idempotent."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            # The demo accounts have published passwords, one of them a superuser.
            raise CommandError("seed_demo refuses to run with ITALYCOUCH_ENV=production.")
        result = seed()
        self.stdout.write(f"Demo data ready: {len(GUIDES)} guides, {len(TOURS)} tours ({result.created_tours} new).")
        if not result.created_accounts:
            self.stdout.write("Demo accounts already existed; their passwords were printed when they were created.")
            return
        self.stdout.write("Demo accounts created (log in at /accounts/login/; passwords shown only this once):")
        for role, email, password in result.created_accounts:
            self.stdout.write(f"  {role:<9} {email:<42} {password}")
