# The two commands of the suite (see README.md):
#   make demo   install everything, create the SQLite demo database, serve
#   make test   the whole test suite on SQLite, then on PostgreSQL
# and `make bench` for the performance figures of docs/PERFORMANCE.md.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HERE := $(CURDIR)
TEST_DATABASE_URI ?= postgresql://postgres@127.0.0.1:5432/
DEMO_DATABASE ?= demo
# The PostgreSQL pass's database; give each working tree its own to run
# passes side by side (make test-postgresql TEST_DB_NAME=test_mine).
TEST_DB_NAME ?= test_telecom
# Restrict a pass to some paths: make test-sqlite TESTS=addons/telecom_rating
TESTS ?=

# How `make test` is organised, and what keeps it inside 20 minutes on
# this 2-core machine from a fresh clone (README.md, "make test"):
# * Three parts side by side (make -j3, each part's output printed whole
#   when it ends): the SQLite pass of addons/, the end-to-end tests of
#   tests/ (SQLite too; they drive their own PostgreSQL databases), and the
#   PostgreSQL pass of the database tests. The end-to-end part mostly waits
#   (servers, sipp, Chromium), so it fits beside the other two on 2 cores.
#   `make test-sqlite` is the first two in one process. Keep the parts
#   about even: each part prints its 15 slowest tests (--durations), the
#   place to look first when the suite nears its 20 minutes.
# * One activated database per module set, cached in $(CACHE) under a hash
#   of the modules' sources so a changed model never meets a stale cache;
#   each set is built on its largest dependency's database (telecom_sale on
#   telecom_billing's), a scenario's setup on its plain set's, and on
#   PostgreSQL restored as a template copy (tests/database_cache.py, loaded
#   by conftest.py). A new test class on an existing module set costs a
#   restore, not an activation: prefer the module sets already in use.
# * The locks a test transaction asks Tryton for are remembered per module
#   set, so a test runs once instead of once more per lock.
# * The end-to-end tests share one `make demo` database per run (conftest.py
#   demo_database; copy it, never make another) and the call-control
#   fixture's template (tests/e2e/callcontrol_fixture.py).
SOURCES_HASH = $(shell { find addons -name '*.py' -o -name '*.xml' -o -name '*.cfg' | sort; echo conftest.py tests/database_cache.py tests/fixtures.py; } | xargs cat | sha1sum | cut -c1-12)
CACHE := $(HERE)/var/cache/$(SOURCES_HASH)
# The demo database and the call-control template are kept there too.
export TELECOM_TEST_CACHE := $(CACHE)

# Tests that need a database (those built on Tryton's test cases) run on
# both backends; the rest (engines, simulators, the bridge, end-to-end)
# run once. The proteus scenarios run on SQLite only: they replay ORM flows
# the module tests already cover on PostgreSQL, and each activates its
# modules in a database of its own, which on PostgreSQL cost more than the
# rest of the pass (the suite must stay well inside CI's 90 minutes).
# Tryton's generic checks of the modules' definitions (fields, views,
# depends…: the same on every backend) run in the SQLite pass only
# (TELECOM_STATIC_CHECKS, conftest.py).
DB_TESTS = $(shell grep -l 'trytond.tests.test_tryton' addons/*/tests/test_*.py | grep -v '/test_scenario\.py$$')

export TRYTOND_DATABASE__PATH := $(HERE)/var/db
export TRYTOND_WEB__ROOT := $(HERE)/web/node_modules/tryton-sao
export TRYTOND_WEB__LISTEN ?= 127.0.0.1:8000

.PHONY: demo serve test test-sqlite test-sqlite-addons test-e2e test-postgresql bench install web lint clean

install: $(VENV)/.installed web/node_modules/.installed web/node_modules/tryton-sao/custom.js

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error
	# sao's index.html loads its libraries from its own node_modules.
	ln -sfn .. web/node_modules/tryton-sao/node_modules
	touch $@

# The suite's changes to sao (its name in the top bar…), loaded from sao's root.
web/node_modules/tryton-sao/custom.js: web/node_modules/.installed
	ln -sfn ../../custom.js $@

demo: install
	mkdir -p var/db
	$(VENV)/bin/telecom demo-setup -c etc/trytond.conf -d $(DEMO_DATABASE)
	$(VENV)/bin/telecom-portal -c etc/trytond.conf -d $(DEMO_DATABASE) --demo --setup-only
	@echo
	@echo "Back office: http://localhost:8000/  (database: $(DEMO_DATABASE))"
	@echo "  owner administrator    admin     / owner-demo-2026"
	@echo "  owner support (read)   support   / support-demo-2026"
	@echo "  reseller               bluebell  / bluebell-demo-2026"
	@echo "  sub-reseller           corner    / corner-demo-2026"
	@echo "Call-control API: http://127.0.0.1:8090/openapi.json"
	@echo "  switch key: Authorization: Bearer demo-switch-key"
	@echo "Customer portal: http://127.0.0.1:8010/ (brand Bluebell Voice: http://bluebell.localhost:8010/)"
	@echo "  customers  acme@ globex@ rosa@demo.example  reseller  bluebell@demo.example  / portal-demo-2026"
	@echo "Stop with Ctrl-C."
	# Both servers run until Ctrl-C, which stops both. trytond gets -d: in
	# 8.0 a database first named by a log-in is registered by the cache
	# sync before it is loaded, and that log-in fails.
	$(VENV)/bin/telecom-callcontrol -c etc/trytond.conf -d $(DEMO_DATABASE) \
		--listen 127.0.0.1:8090 & api=$$!; \
	$(VENV)/bin/telecom-portal -c etc/trytond.conf -d $(DEMO_DATABASE) \
		--listen 127.0.0.1:8010 --insecure-cookies & portal=$$!; \
	trap 'kill $$api $$portal 2>/dev/null' EXIT INT TERM; \
	$(VENV)/bin/trytond -c etc/trytond.conf -d $(DEMO_DATABASE)

test: install
	@# Caches of older sources are of no use any more.
	@find var/cache -mindepth 1 -maxdepth 1 ! -name '$(SOURCES_HASH)' -exec rm -rf {} + 2>/dev/null || true
	@if [ "$$CI" = "true" ] || $(PY) -c "import psycopg; psycopg.connect('$(TEST_DATABASE_URI)postgres', connect_timeout=3).close()" 2>/dev/null; then \
		parts="test-sqlite-addons test-e2e test-postgresql"; \
	else \
		echo "PostgreSQL does not answer at $(TEST_DATABASE_URI): its pass is skipped (mandatory under CI=true)."; \
		parts="test-sqlite-addons test-e2e"; \
	fi; \
	echo "make test: $$parts side by side, each printed when it ends"; \
	$(MAKE) --no-print-directory -j3 --output-sync=recurse $$parts

# The two parts of the SQLite pass, for make test.
test-sqlite-addons: install
	@$(MAKE) --no-print-directory test-sqlite TESTS=addons

test-e2e: install
	@$(MAKE) --no-print-directory test-sqlite TESTS=tests

test-sqlite: install
	TRYTOND_DATABASE_URI=sqlite:// DB_NAME=:memory: DB_CACHE=$(CACHE)/sqlite \
		$(PY) -m pytest -q -p no:cacheprovider --durations=15 $(or $(TESTS),addons tests)

test-postgresql: install
	TRYTOND_DATABASE_URI=$(TEST_DATABASE_URI) DB_NAME=$(TEST_DB_NAME) DB_CACHE=$(CACHE)/postgresql \
		TELECOM_STATIC_CHECKS=sqlite \
		$(PY) -m pytest -q -p no:cacheprovider --durations=15 $(or $(TESTS),$(DB_TESTS))

bench: install
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: install
	$(PY) -m flake8 --ignore=E123,E124,E126,E128,E741,W503 addons tests bench

clean:
	rm -rf var/cache var/db
