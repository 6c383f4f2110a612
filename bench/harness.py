"""What the benchmarks share: a throw-away database, Django set-up, web server subprocesses, figures.

bench/booking.py and bench/chat.py import it; it has no state beyond the log's name
(:func:`set_log_name`).
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

HOST = "127.0.0.1"
_log_name = "bench"


def set_log_name(name: str) -> None:
    global _log_name
    _log_name = name


def log(message: str) -> None:
    print(f"[{_log_name} {datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """The benchmark cannot run (bad arguments, database or server trouble)."""


# --- Database -----------------------------------------------------------------------------------


def _database_config(url: str) -> dict[str, Any]:
    import dj_database_url

    return dict(dj_database_url.parse(url))


def _pg_client_args(config: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    args: list[str] = []
    env = dict(os.environ)
    if config.get("HOST"):
        args += ["-h", str(config["HOST"])]
    if config.get("PORT"):
        args += ["-p", str(config["PORT"])]
    if config.get("USER"):
        args += ["-U", str(config["USER"])]
    if config.get("PASSWORD"):
        env["PGPASSWORD"] = str(config["PASSWORD"])
    return args, env


def create_database(url: str) -> None:
    """Start from an empty database: drop the previous bench database, create a new one."""
    config = _database_config(url)
    name = str(config["NAME"])
    if "bench" not in Path(name).name:
        raise BenchError(f"refusing to drop and recreate {name!r}: a created database's name must contain 'bench'")
    if config["ENGINE"] == "django.db.backends.postgresql":
        args, env = _pg_client_args(config)
        for command in (["dropdb", "--if-exists", "--force", *args, name], ["createdb", *args, name]):
            completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                raise BenchError(f"{' '.join(command)} failed: {completed.stderr.strip()}")
    elif config["ENGINE"] == "django.db.backends.sqlite3":
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)
    else:
        raise BenchError(f"unsupported database engine {config['ENGINE']}")


def drop_database(url: str) -> None:
    config = _database_config(url)
    name = str(config["NAME"])
    if config["ENGINE"] == "django.db.backends.postgresql":
        args, env = _pg_client_args(config)
        completed = subprocess.run(
            ["dropdb", "--if-exists", "--force", *args, name], env=env, capture_output=True, text=True, check=False
        )
        if completed.returncode != 0:
            log(f"could not drop {name}: {completed.stderr.strip()}")
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)


@contextlib.contextmanager
def bench_database(url: str, *, use_existing: bool, keep: bool, redis_url: str | None = None) -> Iterator[None]:
    """The run's database, with Django set up on it: dropped, created afresh and migrated (unless
    ``use_existing``: seed into a migrated one), and dropped again at the end unless ``keep``."""
    created = False
    try:
        if not use_existing:
            create_database(url)
            created = True
        setup_django(url, migrate=created, redis_url=redis_url)
        yield
    finally:
        if created and not keep:
            with contextlib.suppress(Exception):
                from django.db import connections

                connections.close_all()
            drop_database(url)


def bench_environment(database_url: str, *, redis_url: str | None = None) -> dict[str, str]:
    """The settings of the bench process and of the server: the embedded default on this database.

    DEBUG off (no query log, production-like error handling); no background scheduler. Without
    ``redis_url`` no Redis or broker either, so no task leaks into a queue that a worker of another
    run could pick up; with it, the channel layer and cache are on that Redis database (several
    server processes share a live room through it).
    """
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "italycouch.settings",
            "ITALYCOUCH_ENV": "embedded",
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "EMBEDDED_SCHEDULER": "false",
            "ALLOWED_HOSTS": f"{HOST},localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def setup_django(database_url: str, *, migrate: bool, redis_url: str | None = None) -> None:
    os.environ.clear()
    os.environ.update(bench_environment(database_url, redis_url=redis_url))
    import django

    django.setup()
    if migrate:
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", interactive=False, verbosity=0)
        log(f"migrated in {time.perf_counter() - started:.1f} s")


# --- Server -------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    # Runs in the child before exec: if the benchmark is killed, Linux stops the server too.
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            # PR_SET_PDEATHSIG. SIGKILL, not SIGTERM: after a SIGTERM Daphne can wait for ever on
            # its idle worker threads, and an orphan would hold the database open.
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


@dataclass(frozen=True)
class Server:
    port: int
    pids: list[int]

    def cpu_seconds(self) -> float:
        """User + system CPU time the server processes have used so far (Linux /proc)."""
        total = 0
        for pid in self.pids:
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return total / os.sysconf("SC_CLK_TCK")


def server_command(server: str, fd: int) -> list[str]:
    """The command line serving the project's ASGI app on the inherited listening socket ``fd``:
    the production web process (italycouch/server.py, uvicorn), or Daphne for comparison."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "--verbosity", "0", "--fd", str(fd), "italycouch.asgi:application"]
    return [sys.executable, "-m", "italycouch.server", "--fd", str(fd), "--log-level", "warning"]


@contextlib.contextmanager
def running_server(env: dict[str, str], *, processes: int, log_path: Path, server: str = "uvicorn") -> Iterator[Server]:
    """The web server (``server``: uvicorn as in production, or daphne) in ``processes``
    subprocesses accepting on one socket bound here (127.0.0.1, free port).

    ``env`` is the servers' environment (:func:`bench_environment`).
    """
    listener = socket.create_server((HOST, 0), backlog=1024)
    port = listener.getsockname()[1]
    servers: list[subprocess.Popen[bytes]] = []
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with listener, log_path.open("wb") as log_file:
            for _index in range(processes):
                servers.append(
                    subprocess.Popen(
                        server_command(server, listener.fileno()),
                        cwd=PROJECT_DIR,
                        env=env,
                        pass_fds=[listener.fileno()],
                        stdin=subprocess.DEVNULL,
                        stdout=log_file,
                        stderr=subprocess.STDOUT,
                        preexec_fn=_die_with_parent,  # started before any client thread exists
                    )
                )
        _wait_until_ready(port, servers, log_path)
        log(f"{processes} {server} process(es) on http://{HOST}:{port} (log: {log_path})")
        yield Server(port=port, pids=[process.pid for process in servers])
    finally:
        stopping = time.perf_counter()
        for process in servers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in servers:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                log(f"server {process.pid} still running 10 s after SIGTERM: killed")
                process.kill()
                process.wait()
        log(f"server stopped in {time.perf_counter() - stopping:.1f} s")


def _log_tail(log_path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log_path.read_text("utf-8", "replace").splitlines()[-lines:])
    return ""


def _wait_until_ready(port: int, servers: list[subprocess.Popen[bytes]], log_path: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        for server in servers:
            if server.poll() is not None:
                raise BenchError(f"the server exited with {server.returncode}:\n{_log_tail(log_path)}")
        try:
            connection = http.client.HTTPConnection(HOST, port, timeout=5)
            connection.request("GET", "/")
            status = connection.getresponse().status
            connection.close()
        except OSError:
            status = 0
        if 0 < status < 500:
            return
        if time.monotonic() > deadline:
            raise BenchError(f"the server did not answer within 60 s (last status {status}):\n{_log_tail(log_path)}")
        time.sleep(0.2)


# --- Figures ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], percent: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least ``percent`` % of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


def machine() -> dict[str, Any]:
    from django.db import connection

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), cpu)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
        else:
            cursor.execute("SELECT sqlite_version()")
        database_version = str(cursor.fetchone()[0])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "database": f"{connection.vendor} {database_version}",
    }


def git_commit() -> str | None:
    completed = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, check=False
    )
    return completed.stdout.strip() or None
