import os
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from hypothesis import settings as hypothesis_settings

from chat.selectors import forget_cached_sessions
from italycouch.live_db import close_live_db_sync

# CI must be repeatable: the same examples every run (explore freely on a developer machine).
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

pytest_plugins = ["tests.support.smtp", "tests.support.celery", "tests.e2e.fixtures", "tests.support.stripe_server"]


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Rate-limit counters, cached pages and the live room's cached sessions must not leak from
    one test into the next."""
    cache.clear()
    forget_cached_sessions()
    yield
    cache.clear()
    forget_cached_sessions()


@pytest.fixture(autouse=True)
def _live_db_pool_closed() -> Iterator[None]:
    """The live sockets' database threads (italycouch/live_db.py) outlive a test's event loop:
    their connections close after each test, or PostgreSQL could not drop the test database."""
    yield
    close_live_db_sync()
