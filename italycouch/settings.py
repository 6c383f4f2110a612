"""Settings for Italy From Couch.

Two ways to run, one code path (see docs/architecture.md):
- embedded default (``make run``): SQLite, in-memory channel layer, Celery tasks run in-process,
  e-mail written to the local outbox, test-mode payments;
- production (``ITALYCOUCH_ENV=production``): PostgreSQL (``DATABASE_URL``), Redis
  (``REDIS_URL``) for channels, cache and Celery, real e-mail transport, Stripe.
Production refuses to start with DEBUG on, the default secret key, or a missing database/Redis.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from italycouch.config import Config, ImproperlyConfiguredError

BASE_DIR = Path(__file__).resolve().parent.parent
env = Config()

ENVIRONMENT = env.get_choice("ITALYCOUCH_ENV", ("embedded", "production"), "embedded")
PRODUCTION = ENVIRONMENT == "production"

DEFAULT_SECRET_KEY = "embedded-default-not-secret-change-me-in-production"  # noqa: S105
SECRET_KEY = env.get_str("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env.get_bool("DEBUG", default=not PRODUCTION)

if PRODUCTION:
    # Fail fast: a production process with these would leak data or sign cookies with a known key.
    if DEBUG:
        raise ImproperlyConfiguredError("ITALYCOUCH_ENV=production refuses to start with DEBUG on")
    if SECRET_KEY == DEFAULT_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfiguredError(
            "ITALYCOUCH_ENV=production needs SECRET_KEY set to a random value of 50+ characters"
        )
    for required in ("DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"):
        if not env.is_set(required):
            raise ImproperlyConfiguredError(f"ITALYCOUCH_ENV=production needs {required}")

ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env.get_str("SITE_URL", "http://localhost:8000").rstrip("/")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "channels",
    "allauth",
    "allauth.account",
    "csp",
    "accounts",
    "bookings",
    "streaming",
    "chat",
    "reviews",
    "payments",
    "payments.tips",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLocaleMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "italycouch.urls"
ASGI_APPLICATION = "italycouch.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "italycouch.context_processors.site",
            ],
        },
    }
]

# --- Data ---------------------------------------------------------------------------------------
VAR_DIR = Path(env.get_str("ITALYCOUCH_VAR_DIR", str(BASE_DIR / "var")))
DATABASE_URL = env.get_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
# Persistent connections: the live room's sockets do their database work through one thread
# (channels.db.database_sync_to_async); a new PostgreSQL connection per call cost more than the
# queries (bench/chat.py). Checked before reuse, so a restarted database is survived.
DATABASE_CONN_MAX_AGE = env.get_int("DATABASE_CONN_MAX_AGE", 60)
# Threads for the live sockets' database calls on PostgreSQL (italycouch/live_db.py; SQLite: 1).
LIVE_DB_THREADS = env.get_int("LIVE_DB_THREADS", 4)
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=DATABASE_CONN_MAX_AGE, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # SQLite: serialise writers instead of failing with "database is locked" under concurrency.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.get_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    # No read timeout on the layer's connections (as redis-py had before 8): channels_redis waits
    # for messages with a 5 s blocking pop, and redis-py 8's default 5 s read timeout makes an idle
    # consumer's receive fail ("Timeout reading") and takes the consumer down; a shorter timeout
    # than infinite also breaks its cancellation. Connecting still times out.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None, "socket_connect_timeout": 5}]},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Jobs ---------------------------------------------------------------------------------------
# Without a broker, the same tasks run in-process (eager). Scheduled work never relies on
# eta/countdown: due rows are picked up by a periodic dispatcher (beat, or an in-process timer).
CELERY_BROKER_URL = env.get_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "dispatch-due-reminders": {"task": "bookings.tasks.dispatch_due_reminders", "schedule": 15.0},
    "materialize-upcoming-slots": {"task": "bookings.tasks.materialize_upcoming_slots", "schedule": 3600.0},
    "dispatch-queued-emails": {"task": "notifications.tasks.dispatch_queued_emails", "schedule": 60.0},
    "end-overdue-live-sessions": {"task": "streaming.tasks.end_overdue_sessions", "schedule": 30.0},
    "send-review-requests": {"task": "reviews.tasks.send_review_requests", "schedule": 60.0},
    "expire-payment-holds": {"task": "payments.tasks.expire_payment_holds", "schedule": 30.0},
    "retry-due-refunds": {"task": "payments.tasks.retry_due_refunds", "schedule": 60.0},
    "process-pending-payment-events": {"task": "payments.tasks.process_pending_events", "schedule": 60.0},
    "reconcile-payments": {"task": "payments.tasks.reconcile_payments", "schedule": 600.0},
}
# Without a broker (embedded default) a timer thread in the web process runs the schedule above.
EMBEDDED_SCHEDULER = env.get_bool("EMBEDDED_SCHEDULER", default=CELERY_TASK_ALWAYS_EAGER)

# --- Auth ---------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
SITE_ID = 1
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "bookings:home"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Italy From Couch] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
# Behind the production reverse proxy the client address is in X-Forwarded-For; rate limits key on it.
ALLAUTH_TRUSTED_PROXY_COUNT = env.get_int("ALLAUTH_TRUSTED_PROXY_COUNT", 1 if PRODUCTION else 0)
ACCOUNT_RATE_LIMITS: dict[str, str] | bool = (
    {}
    if env.get_bool("DISABLE_RATE_LIMITS")
    else {
        "login_failed": "10/m/ip,5/5m/key",
        "signup": "20/m/ip",
        "confirm_email": "1/3m/key",
        "reset_password": "20/m/ip,5/m/key",
    }
)

# --- E-mail -------------------------------------------------------------------------------------
# Every message is a row first (notifications.OutboundEmail) and is delivered by a task through
# EMAIL_TRANSPORT. The embedded default keeps it in the local outbox (/dev/outbox/) and the log.
EMAIL_BACKEND = "notifications.email.QueuedEmailBackend"
EMAIL_TRANSPORT = env.get_choice("EMAIL_TRANSPORT", ("outbox", "smtp", "sendgrid", "resend"), "outbox")
EMAIL_TRANSPORT_BACKENDS = {
    "outbox": "notifications.email.OutboxTransport",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
}
DEFAULT_FROM_EMAIL = env.get_str("DEFAULT_FROM_EMAIL", "Italy From Couch <tours@italyfromcouch.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_HOST = env.get_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.get_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.get_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env.get_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env.get_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = 15
ANYMAIL = {
    "SENDGRID_API_KEY": env.get_str("SENDGRID_API_KEY", ""),
    "RESEND_API_KEY": env.get_str("RESEND_API_KEY", ""),
}

# --- Internationalisation -----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("it", _("Italian"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True
TOUR_DEFAULT_TIMEZONE = "Europe/Rome"

# --- Static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.get_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.get_str("MEDIA_ROOT", str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Security -----------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the live pages' scripts read it to POST
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.get_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Strict CSP: no inline scripts or styles, nothing from other origins (the site works offline).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", "blob:"],
        "media-src": [SELF, "blob:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.get_str("LOG_LEVEL", "INFO")},
    # The embedded scheduler runs tasks every few seconds; their success lines would drown the log.
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "celery.app.trace": {"level": "WARNING"},
        # The Stripe SDK logs every request at INFO; failures are logged by payments/ itself.
        "stripe": {"level": "WARNING"},
    },
}

# --- Live streaming (the aiortc SFU inside the ASGI process) -------------------------------------
# Empty host addresses: every interface; tests and single-host setups restrict them.
SFU_HOST_ADDRESSES = env.get_list("SFU_HOST_ADDRESSES", [])
SFU_ICE_SERVERS = env.get_list("SFU_ICE_SERVERS", [])
SFU_ICE_USERNAME = env.get_str("SFU_ICE_USERNAME", "")
SFU_ICE_CREDENTIAL = env.get_str("SFU_ICE_CREDENTIAL", "")

# --- Product ------------------------------------------------------------------------------------
PAYMENTS_PROVIDER = env.get_choice("PAYMENTS_PROVIDER", ("test", "stripe"), "stripe" if PRODUCTION else "test")
# Stripe Connect (PAYMENTS_PROVIDER=stripe): test keys (sk_test_/pk_test_) or live keys.
STRIPE_SECRET_KEY = env.get_str("STRIPE_SECRET_KEY", "")
STRIPE_PUBLISHABLE_KEY = env.get_str("STRIPE_PUBLISHABLE_KEY", "")
STRIPE_WEBHOOK_SECRET = env.get_str("STRIPE_WEBHOOK_SECRET", "")
# Where the SDK sends API calls; the tests point it at their local Stripe-like server.
STRIPE_API_BASE = env.get_str("STRIPE_API_BASE", "https://api.stripe.com")
# The platform's commission on bookings (and tips), taken as the destination charge's application fee.
PLATFORM_FEE_PERCENT = env.get_int("PLATFORM_FEE_PERCENT", 15)
# How long a paid booking holds its seats while the customer pays.
BOOKING_HOLD_MINUTES = env.get_int("BOOKING_HOLD_MINUTES", 10)
# Tips: a custom amount must lie within these (minor units of the tour's currency; 100 = 1.00 EUR).
TIP_MIN_MINOR = env.get_int("TIP_MIN_MINOR", 100)
TIP_MAX_MINOR = env.get_int("TIP_MAX_MINOR", 50000)
if not 50 <= TIP_MIN_MINOR <= TIP_MAX_MINOR:
    raise ImproperlyConfiguredError("TIP_MIN_MINOR must be at least 50 and not above TIP_MAX_MINOR")
if not 0 <= PLATFORM_FEE_PERCENT <= 100:
    raise ImproperlyConfiguredError("PLATFORM_FEE_PERCENT must be between 0 and 100")
if BOOKING_HOLD_MINUTES < 1:
    raise ImproperlyConfiguredError("BOOKING_HOLD_MINUTES must be at least 1")
if PRODUCTION and PAYMENTS_PROVIDER == "stripe":
    # Fail fast: without these no payment could be taken and no webhook verified.
    for required in ("STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"):
        if not env.is_set(required):
            raise ImproperlyConfiguredError(f"PAYMENTS_PROVIDER=stripe in production needs {required}")
SHOW_DEV_OUTBOX = env.get_bool("SHOW_DEV_OUTBOX", default=not PRODUCTION)
