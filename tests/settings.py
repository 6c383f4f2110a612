"""Test settings: the project's settings with faster hashing and throw-away media/SQLite files."""

import tempfile
from pathlib import Path

from italycouch.settings import *  # noqa: F403
from italycouch.settings import DATABASES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_TMP = Path(tempfile.mkdtemp(prefix="italycouch-test-"))
MEDIA_ROOT = _TMP / "media"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that threads in concurrency tests share one database.
    DATABASES["default"]["TEST"] = {"NAME": str(_TMP / "test.sqlite3")}

# Tests call the periodic tasks themselves (or run a real worker); no background timer.
EMBEDDED_SCHEDULER = False
