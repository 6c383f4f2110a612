"""Production mode fails fast on unsafe settings and passes Django's deployment checks.

Each case runs ``manage.py`` (or a short Django script) in a fresh interpreter, because settings are
read once per process. The environment is this process's minus every variable the settings read,
so a developer's or CI's DATABASE_URL/REDIS_URL (`make test-postgres`) cannot leak in.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from italycouch.config import Config, ImproperlyConfiguredError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_SOURCE = (PROJECT_ROOT / "italycouch" / "settings.py").read_text()
# Every `env.get_*("NAME", ...)` / `env.is_set("NAME")` in settings.py.
SETTINGS_VARIABLES = sorted(set(re.findall(r'env\.(?:get_\w+|is_set)\(\s*"([A-Z][A-Z0-9_]*)"', SETTINGS_SOURCE)))

PROPER_SECRET_KEY = secrets.token_urlsafe(64)
PRODUCTION_ENV = {
    "ITALYCOUCH_ENV": "production",
    "SECRET_KEY": PROPER_SECRET_KEY,
    # Needn't exist: `check` and the settings never connect.
    "DATABASE_URL": "postgres:///italycouch_prodcheck",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "tours.example.com",
    # Production takes payments through Stripe (PAYMENTS_PROVIDER defaults to stripe there).
    "STRIPE_SECRET_KEY": "sk_test_prodcheck",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_prodcheck",
    "STRIPE_WEBHOOK_SECRET": "whsec_prodcheck",
}


def clean_environment() -> dict[str, str]:
    removed = {*SETTINGS_VARIABLES, "DJANGO_SETTINGS_MODULE"}
    return {name: value for name, value in os.environ.items() if name not in removed}


def run_django(args: list[str], env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=PROJECT_ROOT,
        env={**clean_environment(), "DJANGO_SETTINGS_MODULE": "italycouch.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def manage(*args: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return run_django(["manage.py", *args], env)


def test_settings_variables_are_found_in_settings_source() -> None:
    # Guards the regex above: if it stopped matching, the environment would not be cleaned.
    assert {"ITALYCOUCH_ENV", "SECRET_KEY", "DEBUG", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"} <= set(
        SETTINGS_VARIABLES
    )


# --- Refusing to start ----------------------------------------------------------------------------


@pytest.mark.parametrize("debug", ["true", "1", "on"])
def test_production_refuses_to_start_with_debug_on(debug: str) -> None:
    result = manage("check", env={**PRODUCTION_ENV, "DEBUG": debug})

    assert result.returncode != 0
    assert "ImproperlyConfiguredError" in result.stderr
    assert "DEBUG" in result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [
        pytest.param(None, id="unset-falls-back-to-default"),
        pytest.param("embedded-default-not-secret-change-me-in-production", id="the-default"),
        pytest.param("short-but-random-Zq8vR3", id="short"),
        pytest.param("x" * 49, id="49-characters"),
    ],
)
def test_production_refuses_to_start_with_default_or_short_secret_key(secret_key: str | None) -> None:
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != "SECRET_KEY"}
    if secret_key is not None:
        env["SECRET_KEY"] = secret_key

    result = manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfiguredError" in result.stderr
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize("missing", ["DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_required_variable(missing: str) -> None:
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != missing}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert f"ITALYCOUCH_ENV=production needs {missing}" in result.stderr


@pytest.mark.parametrize("missing", ["STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY", "STRIPE_WEBHOOK_SECRET"])
def test_production_with_stripe_refuses_to_start_without_its_keys(missing: str) -> None:
    env = {name: value for name, value in PRODUCTION_ENV.items() if name != missing}

    result = manage("check", env=env)

    assert result.returncode != 0
    assert f"PAYMENTS_PROVIDER=stripe in production needs {missing}" in result.stderr


def test_unknown_environment_name_is_refused() -> None:
    result = manage("check", env={"ITALYCOUCH_ENV": "prod"})

    assert result.returncode != 0
    assert "ITALYCOUCH_ENV must be one of embedded, production, got 'prod'" in result.stderr


# --- Deployment checks and headers ----------------------------------------------------------------


def test_check_deploy_is_clean_in_production() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_values() -> None:
    script = """
import json
import django
from django.conf import settings
django.setup()
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "SECURE_SSL_REDIRECT": settings.SECURE_SSL_REDIRECT,
    "SECURE_HSTS_SECONDS": settings.SECURE_HSTS_SECONDS,
    "SECURE_PROXY_SSL_HEADER": list(settings.SECURE_PROXY_SSL_HEADER),
    "DATABASE_ENGINE": settings.DATABASES["default"]["ENGINE"],
    "CHANNEL_LAYER": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "EMAIL_TRANSPORT": settings.EMAIL_TRANSPORT,
    "PAYMENTS_PROVIDER": settings.PAYMENTS_PROVIDER,
    "SHOW_DEV_OUTBOX": settings.SHOW_DEV_OUTBOX,
}))
"""
    result = run_django(["-c", script], PRODUCTION_ENV)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "DATABASE_ENGINE": "django.db.backends.postgresql",
        "CHANNEL_LAYER": "channels_redis.core.RedisChannelLayer",
        "CELERY_TASK_ALWAYS_EAGER": False,
        "EMAIL_TRANSPORT": "outbox",
        "PAYMENTS_PROVIDER": "stripe",
        "SHOW_DEV_OUTBOX": False,
    }


REQUEST_SCRIPT = """
import json
import django
django.setup()
from django.test import Client

client = Client()
page = client.get("/admin/login/", secure=True, headers={"host": "tours.example.com"})
plain = client.get("/admin/login/", secure=False, headers={"host": "tours.example.com"})
print(json.dumps({
    "status": page.status_code,
    "headers": dict(page.headers),
    "csrf_cookie_secure": bool(page.cookies["csrftoken"]["secure"]),
    "plain_status": plain.status_code,
    "plain_location": plain.headers.get("Location"),
}))
"""


@pytest.fixture(scope="module")
def production_page(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """GET /admin/login/ in production mode, on a throw-away SQLite database (the page reads Site).

    collectstatic runs first because production serves static files through the manifest storage.
    """
    workdir = tmp_path_factory.mktemp("production")
    env = {
        **PRODUCTION_ENV,
        "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
        # The suite's Redis database (see the Makefile), should the page ever touch the cache.
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        "STATIC_ROOT": str(workdir / "static"),
        "MEDIA_ROOT": str(workdir / "media"),
    }
    for args in (["migrate", "--noinput"], ["collectstatic", "--noinput", "-v", "0"]):
        prepared = manage(*args, env=env)
        assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    result = run_django(["-c", REQUEST_SCRIPT], env)
    assert result.returncode == 0, result.stderr
    page: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return page


def test_production_page_sends_hsts_and_content_security_policy(production_page: dict[str, object]) -> None:
    headers = production_page["headers"]
    assert isinstance(headers, dict)

    assert production_page["status"] == 200
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    csp = headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_production_cookies_are_secure(production_page: dict[str, object]) -> None:
    assert production_page["csrf_cookie_secure"] is True


def test_production_redirects_plain_http_to_https(production_page: dict[str, object]) -> None:
    assert production_page["plain_status"] == 301
    assert production_page["plain_location"] == "https://tours.example.com/admin/login/"


# --- README documents every setting -----------------------------------------------------------------


def test_readme_settings_table_lists_every_variable_settings_reads() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", readme, flags=re.MULTILINE))

    assert sorted(set(SETTINGS_VARIABLES) - documented) == []
    assert sorted(documented - set(SETTINGS_VARIABLES)) == []


# --- italycouch.config ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("true", True), ("Yes", True), (" ON ", True), ("0", False), ("false", False), ("off", False)],
)
def test_config_bool_parses_common_spellings(raw: str, expected: bool) -> None:
    assert Config({"FLAG": raw}).get_bool("FLAG") is expected


def test_config_bool_uses_default_when_unset() -> None:
    assert Config({}).get_bool("FLAG", default=True) is True
    assert Config({}).get_bool("FLAG") is False


def test_config_bool_error_names_the_variable() -> None:
    with pytest.raises(ImproperlyConfiguredError, match=r"^DEBUG must be a boolean \(true/false\), got 'maybe'$"):
        Config({"DEBUG": "maybe"}).get_bool("DEBUG")


def test_config_int_error_names_the_variable() -> None:
    with pytest.raises(ImproperlyConfiguredError, match=r"^EMAIL_PORT must be an integer, got 'twenty-five'$"):
        Config({"EMAIL_PORT": "twenty-five"}).get_int("EMAIL_PORT", 25)


def test_config_int_uses_default_when_unset_or_blank() -> None:
    assert Config({}).get_int("EMAIL_PORT", 25) == 25
    assert Config({"EMAIL_PORT": "  "}).get_int("EMAIL_PORT", 25) == 25
    assert Config({"EMAIL_PORT": "587"}).get_int("EMAIL_PORT", 25) == 587


def test_config_choice_rejects_unknown_value() -> None:
    config = Config({"EMAIL_TRANSPORT": "carrier-pigeon"})

    with pytest.raises(
        ImproperlyConfiguredError, match=r"^EMAIL_TRANSPORT must be one of outbox, smtp, got 'carrier-pigeon'$"
    ):
        config.get_choice("EMAIL_TRANSPORT", ("outbox", "smtp"), "outbox")


def test_config_choice_accepts_known_value_and_defaults_when_unset() -> None:
    assert Config({"EMAIL_TRANSPORT": "smtp"}).get_choice("EMAIL_TRANSPORT", ("outbox", "smtp"), "outbox") == "smtp"
    assert Config({}).get_choice("EMAIL_TRANSPORT", ("outbox", "smtp"), "outbox") == "outbox"


def test_config_str_strips_and_treats_blank_as_unset() -> None:
    assert Config({"SITE_URL": "  https://tours.example.com "}).get_str("SITE_URL", "x") == "https://tours.example.com"
    assert Config({"SITE_URL": "   "}).get_str("SITE_URL", "http://localhost:8000") == "http://localhost:8000"


def test_config_list_splits_on_commas_and_drops_blanks() -> None:
    config = Config({"ALLOWED_HOSTS": " tours.example.com, ,www.example.com,"})

    assert config.get_list("ALLOWED_HOSTS") == ["tours.example.com", "www.example.com"]
    assert Config({}).get_list("ALLOWED_HOSTS", ["localhost"]) == ["localhost"]


def test_config_is_set_ignores_blank_values() -> None:
    config = Config({"REDIS_URL": "  ", "DATABASE_URL": "postgres:///x"})

    assert config.is_set("DATABASE_URL") is True
    assert config.is_set("REDIS_URL") is False
    assert config.is_set("ALLOWED_HOSTS") is False
