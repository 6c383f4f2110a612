"""docker-compose.yml, Dockerfile and .dockerignore describe the production deployment correctly.

Docker cannot run on the development machines or in CI, so these tests check the files themselves:
the compose file is parsed (and validated by `docker-compose config` when it is installed) and the
Dockerfile's instructions are read one by one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
APP_SERVICES = ("migrate", "web", "worker", "beat")
SECRETS = {"SECRET_KEY", "POSTGRES_PASSWORD"}

_YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"


def load_yaml(text: str) -> Any:
    """Parse YAML with PyYAML; without it in the venv, with the interpreter docker-compose runs on."""
    try:
        import yaml
    except ImportError:
        compose = shutil.which("docker-compose")
        first_line = Path(compose).read_bytes()[:200].split(b"\n")[0].decode(errors="replace") if compose else ""
        if not first_line.startswith("#!"):
            pytest.fail("parsing YAML needs PyYAML in the venv, or Debian's docker-compose (a Python script)")
        interpreter = first_line.removeprefix("#!").split()
        converted = subprocess.run(
            [*interpreter, "-c", _YAML_TO_JSON], input=text, capture_output=True, text=True, check=True
        )
        return json.loads(converted.stdout)
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    parsed = load_yaml(COMPOSE_FILE.read_text())
    assert isinstance(parsed, dict)
    return parsed


def settings_variables() -> set[str]:
    source = (PROJECT_ROOT / "italycouch" / "settings.py").read_text()
    return set(re.findall(r'env\.(?:get_\w+|is_set)\(\s*"([A-Z][A-Z0-9_]*)"', source))


def command_line(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else " ".join(command)


# --- docker-compose.yml -----------------------------------------------------------------------------


def test_compose_defines_database_redis_web_worker_beat_and_a_migrate_step(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert compose["services"]["db"]["image"] == "postgres:15"
    assert compose["services"]["redis"]["image"] == "redis:7"


def test_application_services_share_one_build_and_image(compose: dict[str, Any]) -> None:
    services = compose["services"]

    builds = {json.dumps(services[name]["build"], sort_keys=True) for name in APP_SERVICES}
    images = {services[name]["image"] for name in APP_SERVICES}

    assert builds == {json.dumps(".")}
    assert len(images) == 1


def test_commands_run_the_web_server_celery_worker_celery_beat_and_migrate(compose: dict[str, Any]) -> None:
    services = compose["services"]

    # The production web process (uvicorn as measured, italycouch/server.py), behind the proxy.
    assert command_line(services["web"]).startswith("python -m italycouch.server --host 0.0.0.0 --port 8000")
    assert "--proxy-headers" in command_line(services["web"])
    assert command_line(services["worker"]).startswith("celery -A italycouch worker")
    assert command_line(services["beat"]).startswith("celery -A italycouch beat")
    assert command_line(services["migrate"]) == "python manage.py migrate --noinput"
    assert services["migrate"]["restart"] == "no"


def test_web_starts_after_healthy_database_and_redis_and_finished_migrations(compose: dict[str, Any]) -> None:
    services = compose["services"]

    for name in ("web", "worker"):
        assert services[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert services["beat"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_database_keeps_its_data_in_a_named_volume(compose: dict[str, Any]) -> None:
    assert "pgdata:/var/lib/postgresql/data" in compose["services"]["db"]["volumes"]
    assert "pgdata" in compose["volumes"]


def test_application_services_run_in_production_mode_without_debug(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["ITALYCOUCH_ENV"] == "production"
        assert "DEBUG" not in environment
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        assert environment["DATABASE_URL"].endswith("@db:5432/italycouch")


def test_secrets_are_required_from_the_environment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    app_environment = services["web"]["environment"]

    assert app_environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "${POSTGRES_PASSWORD:?" in app_environment["DATABASE_URL"]
    assert services["db"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_application_environment_names_only_variables_the_settings_read(compose: dict[str, Any]) -> None:
    # A misspelt name would be silently ignored by the settings.
    passed = set(compose["services"]["web"]["environment"])

    assert sorted(passed - settings_variables()) == []


def test_web_and_worker_share_the_media_volume_at_media_root(compose: dict[str, Any]) -> None:
    services = compose["services"]

    for name in ("web", "worker"):
        assert "media:/data/media" in services[name]["volumes"]
        assert services[name]["environment"]["MEDIA_ROOT"] == "/data/media"
    assert "media" in compose["volumes"]


def compose_config(env: dict[str, str], *options: str) -> subprocess.CompletedProcess[str]:
    compose = shutil.which("docker-compose")
    assert compose is not None
    # Only the two secrets are set: every optional variable falls back to the file's own default.
    base = {name: value for name, value in os.environ.items() if name not in settings_variables() | SECRETS}
    return subprocess.run(
        [compose, "-f", str(COMPOSE_FILE), "config", *options],
        cwd=PROJECT_ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


needs_docker_compose = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not on PATH")


@needs_docker_compose
def test_docker_compose_config_accepts_the_file() -> None:
    # Exactly what `make lint` runs.
    result = compose_config({"SECRET_KEY": "x", "POSTGRES_PASSWORD": "x"}, "-q")

    assert result.returncode == 0, result.stderr


@needs_docker_compose
@pytest.mark.parametrize("missing", ["SECRET_KEY", "POSTGRES_PASSWORD"])
def test_docker_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    env = {"SECRET_KEY": "x", "POSTGRES_PASSWORD": "x"}
    del env[missing]

    result = compose_config(env, "-q")

    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


@needs_docker_compose
def test_compose_environment_passes_the_production_deployment_checks(tmp_path: Path) -> None:
    # The environment web really gets, with every optional variable left at the file's default.
    stripe_keys = {
        "STRIPE_SECRET_KEY": "sk_test_compose",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_compose",
        "STRIPE_WEBHOOK_SECRET": "whsec_compose",
    }
    resolved = compose_config({"SECRET_KEY": secrets.token_urlsafe(64), "POSTGRES_PASSWORD": "x", **stripe_keys})
    assert resolved.returncode == 0, resolved.stderr
    environment = {
        name: str(value) for name, value in load_yaml(resolved.stdout)["services"]["web"]["environment"].items()
    }
    environment["MEDIA_ROOT"] = str(tmp_path / "media")
    base = {name: value for name, value in os.environ.items() if name not in settings_variables()}

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "italycouch.settings", **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


# --- Dockerfile -----------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def test_dockerfile_builds_assets_with_node_in_a_separate_stage() -> None:
    instructions = dockerfile_instructions()
    stages = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]

    assert stages == ["node:20-slim AS assets", "python:3.11-slim"]
    assert any(run.startswith("npm ci") for run in runs)
    assert "npm run build" in runs
    assert ("COPY", "--from=assets /src/static/build static/build") in instructions


def test_dockerfile_installs_the_locked_requirements_and_collects_static_files() -> None:
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]

    assert "pip install -r requirements.lock" in runs
    collectstatic = [run for run in runs if "manage.py collectstatic" in run]
    assert len(collectstatic) == 1
    # The manifest storage is production's: collectstatic must run with production settings.
    assert "ITALYCOUCH_ENV=production" in collectstatic[0]


def test_dockerfile_runs_the_web_server_as_a_non_root_user() -> None:
    instructions = dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]
    cmds = [arguments for keyword, arguments in instructions if keyword == "CMD"]

    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    # All interfaces of the container: the port is published (to 127.0.0.1 only) by compose.
    all_interfaces = "0.0.0.0"  # noqa: S104
    assert [json.loads(cmd) for cmd in cmds] == [
        ["python", "-m", "italycouch.server", "--host", all_interfaces, "--port", "8000"]
    ]


def test_dockerfile_bakes_in_no_environment_or_secrets() -> None:
    env_lines = [arguments for keyword, arguments in dockerfile_instructions() if keyword in {"ENV", "ARG"}]

    for arguments in env_lines:
        for name in ("ITALYCOUCH_ENV", "SECRET_KEY", "DATABASE_URL", "DEBUG"):
            assert name not in arguments


def test_dockerignore_keeps_local_state_out_of_the_build_context() -> None:
    ignored = set((PROJECT_ROOT / ".dockerignore").read_text().split())

    assert {".git", ".venv", "node_modules", ".env", "var", "static/build", "staticfiles"} <= ignored
