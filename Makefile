# Everything runs from the project's own virtualenv; it is created and (re)installed on demand.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install only when pyproject.toml changes (or the venv is new).
STAMP := $(VENV)/.installed-dev

HOST ?= 127.0.0.1
PORT ?= 8000
RUN_DATABASE_URL ?= sqlite://milestones.sqlite3

TEST_PG_HOST ?= 127.0.0.1
TEST_PG_PORT ?= 5432
TEST_PG_USER ?= postgres
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` / `make test-postgres` (0: one process). Most tests wait
# on sockets and servers, so two workers on two cores nearly halve the time.
TEST_WORKERS ?= 2
BENCH_ARGS ?=
# Pytest's exit status 5 means it collected nothing: a broken suite, said out loud.
PYTEST := $(BIN)/python -m pytest
# $(call run_pytest,WORKERS,ARGUMENTS)
define run_pytest
$(PYTEST) -n $(1) $(2) $(PYTEST_ARGS) || { status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests (exit status 5)" >&2; fi; \
	exit $$status; }
endef

.PHONY: help venv run test test-postgres chaos lint schema bench clean

help:
	@echo "make run            serve on http://$(HOST):$(PORT)/graphql (SQLite file, in-process broadcast)"
	@echo "make test           run the tests on in-memory SQLite"
	@echo "make test-postgres  run the tests on a fresh, throw-away PostgreSQL database"
	@echo "make chaos          the fault-injection suite (PostgreSQL, redis-server): prints its table"
	@echo "make lint           ruff check, ruff format --check, mypy --strict"
	@echo "make schema         regenerate schema.graphql from the code"
	@echo "make bench          run the benchmarks (bench/; BENCH_ARGS='--quick' for a smoke run)"
	@echo "make clean          remove the venv and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

run: $(STAMP)
	DATABASE_URL='$(RUN_DATABASE_URL)' $(BIN)/milestones serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	export MILESTONES_TEST_DATABASE_URL='sqlite://:memory:'; \
	$(call run_pytest,$(TEST_WORKERS))

# A database of its own per run, dropped afterwards whatever the outcome.
test-postgres: $(STAMP)
	db="milestones_test_$$(od -An -N4 -tx4 /dev/urandom | tr -d ' \n')"; \
	pg=(-h '$(TEST_PG_HOST)' -p '$(TEST_PG_PORT)' -U '$(TEST_PG_USER)'); \
	createdb "$${pg[@]}" "$$db"; \
	trap 'dropdb "$${pg[@]}" --if-exists --force "$$db"; \
		for name in "$$db"_gw{0..3}; do dropdb "$${pg[@]}" --if-exists --force "$$name" 2>/dev/null; done' EXIT; \
	echo "test database: $$db"; \
	export MILESTONES_TEST_DATABASE_URL="postgres://$(TEST_PG_USER)@$(TEST_PG_HOST):$(TEST_PG_PORT)/$$db"; \
	export MILESTONES_STATEFUL_EXAMPLES="$${MILESTONES_STATEFUL_EXAMPLES:-25}"; \
	$(call run_pytest,$(TEST_WORKERS),-m 'not chaos and not same_on_every_database')

# Fault injection (tests/chaos, marker `chaos`, deselected from the runs above): real servers on
# fresh PostgreSQL databases of their own and a private redis-server on a free port.
chaos: $(STAMP)
	$(call run_pytest,0,-m chaos -q tests/chaos)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict milestones bench

schema: $(STAMP)
	$(BIN)/milestones export-schema --output schema.graphql

# Needs PostgreSQL and Redis on 127.0.0.1 (see bench/__main__.py) and wrk (installed here).
bench: $(STAMP)
	@command -v wrk >/dev/null 2>&1 || { \
		sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		echo "installing wrk (apt-get)"; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq wrk; }
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
