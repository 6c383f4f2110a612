from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def sync_site(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Keep the Sites row (used by allauth's e-mails) equal to SITE_URL, not example.com."""
    from urllib.parse import urlsplit

    from django.conf import settings
    from django.contrib.sites.models import Site

    domain = urlsplit(settings.SITE_URL).netloc or "localhost:8000"
    Site.objects.using(using).update_or_create(
        pk=settings.SITE_ID, defaults={"domain": domain, "name": "Italy From Couch"}
    )


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        post_migrate.connect(sync_site, sender=self)
