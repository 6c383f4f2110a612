#!/usr/bin/env bash
# Install (only when missing) and start the Debian packages the project needs.
#   scripts/system-deps.sh run    what `make run` needs: Python venv support, Node.js and npm
#   scripts/system-deps.sh test   plus PostgreSQL, Redis, Chromium and docker-compose (config check)
# Idempotent: a machine that already has everything installs nothing.
set -euo pipefail
mode="${1:-run}"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

want=()
need() { dpkg -s "$1" >/dev/null 2>&1 || want+=("$1"); }
command -v python3 >/dev/null 2>&1 || need python3
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || need python3-venv
command -v node >/dev/null 2>&1 || need nodejs
command -v npm >/dev/null 2>&1 || need npm
if [ "$mode" = test ]; then
    command -v pg_ctlcluster >/dev/null 2>&1 || need postgresql
    command -v redis-server >/dev/null 2>&1 || need redis-server
    [ -x /usr/bin/chromium ] || need chromium
    command -v docker-compose >/dev/null 2>&1 || need docker-compose
    command -v ip >/dev/null 2>&1 || need iproute2
fi
if [ "${#want[@]}" -gt 0 ]; then
    echo "system-deps: installing ${want[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
fi

if [ "$mode" = test ]; then
    # PostgreSQL: start the cluster if it is down, and give the current OS user a superuser role
    # (tests create and drop their own database over the Unix socket, peer-authenticated).
    if ! pg_isready -q 2>/dev/null; then
        version="$(ls /etc/postgresql | sort -n | tail -1)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
        for _ in $(seq 1 30); do pg_isready -q && break; sleep 0.5; done
    fi
    me="$(id -un)"
    if ! as_root su postgres -c "psql -tAc \"select 1 from pg_roles where rolname='$me'\"" | grep -q 1; then
        as_root su postgres -c "createuser --superuser '$me'"
    fi
    if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
        as_root mkdir -p /var/lib/redis /var/log/redis
        as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
            --dir /var/lib/redis --logfile /var/log/redis/ci.log
        for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.5; done
    fi
fi
