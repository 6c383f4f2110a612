# Italy From Couch: the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The test databases: SQLite (embedded default) and PostgreSQL over the Unix socket.
TEST_PG_URL ?= postgres:///italycouch
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST := $(PY) -m pytest

.PHONY: run test install assets lint test-sqlite test-postgres test-browser lock clean messages

## make run: install what is needed, migrate, load demo data, serve http://localhost:$(PORT)
run: install assets
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 0.0.0.0:$(PORT)

## make test: lint, the suite on SQLite and on PostgreSQL, then the browser tests
test: install assets
	scripts/system-deps.sh test
	$(MAKE) lint
	$(MAKE) test-sqlite
	$(MAKE) test-postgres
	$(MAKE) test-browser

$(VENV)/.installed: requirements.lock
	scripts/system-deps.sh run
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	touch $@

node_modules/.installed: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

assets: node_modules/.installed
	npm run --silent build

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	npm run --silent typecheck
	$(PY) manage.py makemigrations --check --dry-run
	if command -v docker-compose >/dev/null; then \
		SECRET_KEY=x POSTGRES_PASSWORD=x docker-compose -f docker-compose.yml config -q; fi

test-sqlite: install
	$(PYTEST) -n 2 -m "not browser and not postgres_only"

test-postgres: install
	DATABASE_URL=$(TEST_PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(PYTEST) -n 2 -m "not browser"

test-browser: install assets
	DATABASE_URL=$(TEST_PG_URL) $(PYTEST) -m browser

messages:
	cd accounts && ../$(PY) ../manage.py makemessages -l it --ignore=node_modules
	$(PY) manage.py makemessages -l it --ignore=node_modules --ignore=.venv
	$(PY) manage.py compilemessages --ignore=.venv --ignore=node_modules

# Re-resolves pyproject.toml's ranges (the project itself is not a package: its apps sit side by
# side, so only its dependencies are installed) and pins the whole tree in $(LOCK).
LOCK ?= requirements.lock
lock:
	rm -rf /tmp/italycouch-lock && $(PYTHON) -m venv /tmp/italycouch-lock
	$(PYTHON) -c 'import tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["dev"]))' > /tmp/italycouch-lock/requirements.in
	/tmp/italycouch-lock/bin/pip install --quiet -r /tmp/italycouch-lock/requirements.in
	/tmp/italycouch-lock/bin/pip freeze | grep -v -E '^(pip|setuptools|wheel)[= @]' > $(LOCK)

clean:
	rm -rf $(VENV) node_modules static/build staticfiles
