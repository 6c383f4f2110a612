from collections.abc import Iterator

import pytest
from django.core.cache import cache

pytest_plugins = ["tests.support.smtp", "tests.support.celery", "tests.e2e.fixtures"]


@pytest.fixture(autouse=True)
def _isolated_cache() -> Iterator[None]:
    """Rate-limit counters and cached pages must not leak from one test into the next."""
    cache.clear()
    yield
    cache.clear()
