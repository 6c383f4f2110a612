"""The Celery app. Without CELERY_BROKER_URL the tasks run in-process (embedded default)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "italycouch.settings")

app = Celery("italycouch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
