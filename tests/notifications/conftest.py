import pytest


@pytest.fixture(autouse=True)
def _real_email_pipeline(celery_eager, queued_email_backend):
    """send_mail goes through the project's backend here (Django's test set-up swaps in locmem),
    and deliveries run in-process even when REDIS_URL is set; the worker tests opt out."""
