"""What the benchmark smoke tests share: the URL of pytest-django's test database."""

from urllib.parse import quote

import pytest
from django.db import connection


@pytest.fixture
def test_database_url() -> str:
    """The test database as a DATABASE_URL, for a benchmark run with ``--use-existing-db``."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings["HOST"] or ""
    if settings["PORT"]:
        host += f":{settings['PORT']}"
    return f"postgres://{credentials + '@' if credentials else ''}{host}/{settings['NAME']}"
