# Every target sets up what it needs on a fresh machine (Python 3.11+ is the only prerequisite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PG_VERSION = $(shell ls /etc/postgresql 2>/dev/null | head -n 1)

.PHONY: install run test test-fast conformance profiles definitions bench clean pg browser test-ui js

install: $(STAMP)

# Rebuilt only when the pinned requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=python3.x)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

# Migrate the database (embedded SQLite under instance/ unless FHIRSVC_DATABASE_URL says
# otherwise), load examples/ into an empty database, serve at http://127.0.0.1:8080/fhir, with a
# background job worker beside the server (FHIRSVC_WORKER=off: none). Ctrl-C stops both.
run: install
	$(BIN)/python -m fhirsvc serve

# The whole suite, on SQLite and PostgreSQL (PostgreSQL is started if it is installed but down).
test: install pg browser js
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

# The pages' tests alone (unit, HTTP and browser); screenshots land in build/screenshots/.
test-ui: install pg browser
	$(BIN)/python -m pytest -q tests/ui

# Debian's Chromium for the browser tests (tests/ui/test_browser.py), installed from the system
# packages when missing; Playwright (requirements.txt) drives it and never downloads a browser.
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
browser:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Debian's chromium for the browser tests"; \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; } >/dev/null || \
	  { echo "could not install chromium: run 'apt-get install -y chromium' as root" >&2; exit 1; }; }

# fhir-kit-client for tests/e2e/test_clients.py, pinned by tests/e2e/js/package-lock.json
# (node and npm from the system packages when missing).
JS_STAMP := tests/e2e/js/node_modules/.installed-stamp
js: $(JS_STAMP)
$(JS_STAMP): tests/e2e/js/package.json tests/e2e/js/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "installing Debian's nodejs and npm for the client tests"; \
	  { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; } >/dev/null || \
	  { echo "could not install nodejs: run 'apt-get install -y nodejs npm' as root" >&2; exit 1; }; }
	npm ci --prefix tests/e2e/js --no-audit --no-fund --silent
	@touch $@

pg:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
	  { [ -n "$(PG_VERSION)" ] && pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start || true; }
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && exit 0; sleep 1; done; \
	  echo "PostgreSQL is not reachable on 127.0.0.1:5432 (the storage tests need it)" >&2; exit 1

conformance: install
	$(BIN)/python -m tools.conformance

profiles:
	bash profiles/build.sh

definitions: install
	$(BIN)/python scripts/fetch_r4core.py >/dev/null
	$(BIN)/python scripts/gen_resource_types.py
	@if [ -f scripts/build_definitions.py ]; then $(BIN)/python scripts/build_definitions.py; fi
	@if [ -f scripts/build_search_params.py ]; then $(BIN)/python scripts/build_search_params.py; fi

bench: install pg
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) instance .pytest_cache
