"""Test settings: the project's settings with faster hashing and throw-away media/SQLite files."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from italycouch.settings import *  # noqa: F403
from italycouch.settings import DATABASES, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_TMP = Path(tempfile.mkdtemp(prefix="italycouch-test-"))
MEDIA_ROOT = _TMP / "media"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so that threads in concurrency tests share one database.
    DATABASES["default"]["TEST"] = {"NAME": str(_TMP / "test.sqlite3")}

# Tests call the periodic tasks themselves (or run a real worker); no background timer.
EMBEDDED_SCHEDULER = False

# Each xdist process gets its own Redis database for the cache and channel layer: the suite clears
# the cache between tests (FLUSHDB), which must not wipe another process's rate-limit counters.
# Odd numbers counting down from 15 (gw0 → 15, gw1 → 13, …); 14 stays free for the Celery broker.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_worker_index = int(_xdist_worker[2:]) if _xdist_worker[2:].isdigit() else 0
if REDIS_URL:
    _parsed = urlsplit(REDIS_URL)
    _base_db = int(_parsed.path.lstrip("/") or 15)
    _worker_redis_url = urlunsplit(_parsed._replace(path=f"/{(_base_db - 2 * _worker_index) % 16}"))
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _worker_redis_url}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # As in italycouch/settings.py: no read timeout (redis-py 8's 5 s default kills idle consumers).
            "CONFIG": {"hosts": [{"address": _worker_redis_url, "socket_timeout": None, "socket_connect_timeout": 5}]},
        }
    }

# Tasks run in-process unless a test asks for the real worker (the celery_worker_on_redis fixture
# switches to the Redis broker): with REDIS_URL set, nothing else would consume the queue.
CELERY_TASK_ALWAYS_EAGER = True
