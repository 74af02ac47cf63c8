# FlightOnTime developer entry points. `make run` and `make test` are all a fresh machine needs.
# They only wrap hatch (pyproject.toml holds the environments and scripts); when no hatch is on
# the machine, a pinned one (requirements/hatch.lock) is bootstrapped into .venv-hatch.
SHELL := /bin/bash
PYTHON ?= python3
MODEL_DIR ?= models/default
# What `make run` serves: a bundle, or a directory of bundles (each flight by its country's).
SERVE_MODELS ?= models
HOST ?= 127.0.0.1
PORT ?= 8000

HATCH_VENV := .venv-hatch
HATCH ?= $(shell command -v hatch 2>/dev/null || echo $(HATCH_VENV)/bin/hatch)
UV ?= $(shell command -v uv 2>/dev/null || echo $(HATCH_VENV)/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
MEMBERS := packages/core/pyproject.toml packages/server/pyproject.toml packages/cli/pyproject.toml

.PHONY: help hatch install run test lint typecheck unit test-browser test-slow model-brazil lock clean

help:  ## list targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

hatch: $(HATCH)

$(HATCH_VENV)/bin/hatch: requirements/hatch.lock
	$(PYTHON) -m venv $(HATCH_VENV)
	$(HATCH_VENV)/bin/pip install --quiet --require-hashes -r requirements/hatch.lock
	@touch $@

install: $(VENV)/.installed  ## the default hatch environment at .venv (members editable, locked)

$(VENV)/.installed: pyproject.toml $(MEMBERS) requirements/dev.lock | $(HATCH)
	$(HATCH) run true
	@touch $@

run: install  ## serve every committed bundle under models/ (prints a token when none is set)
	$(HATCH) run flightontime serve --model $(SERVE_MODELS) --host $(HOST) --port $(PORT) --generate-token

lint: install  ## ruff (lint + format check)
	$(HATCH) run lint

typecheck: install  ## mypy --strict on every package
	$(HATCH) run typecheck

# The fast suites spread over every core (pytest-xdist); TEST_WORKERS=0 runs them in one process.
TEST_WORKERS ?= auto
unit: install  ## pytest (fast suites; no container engine, browser or full training)
	$(HATCH) run test -n $(TEST_WORKERS) --dist worksteal

test: lint typecheck unit  ## everything a fresh machine checks in a few minutes

test-browser: install  ## the docs page in headless Chromium (Debian's chromium, installed when missing)
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (headless browser for the docs page test)"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	$(HATCH) run test -m browser

test-slow: install  ## the slow suite: reproduce the committed default and Brazilian models from their data
	$(HATCH) run test -m slow

model-brazil: install  ## retrain models/brazil from the committed ANAC month (test-slow expects the result)
	$(HATCH) run flightontime train --source anac --input data/anac/VRA_2021-04.csv.gz --output models/brazil

# Locks: uv resolves the members (editable, left out of the files) and writes every other
# package with its hashes; the default environment installs under them (UV_CONSTRAINT), the
# tools' environments (scan, k8s: mk/tools.mk) are synced to theirs with hashes required.
LOCK_FLAGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes -q \
  --no-emit-package flightontime-core --no-emit-package flightontime-server \
  --no-emit-package flightontime-cli

lock: | $(HATCH)  ## re-resolve requirements/*.lock from the members and requirements/*.in
	for name in core serve serve-signing train scan k8s; do \
	  $(UV) pip compile requirements/$$name.in $(LOCK_FLAGS) -o requirements/$$name.lock || exit 1; \
	done
	$(UV) pip compile requirements/dev.in --group pyproject.toml:dev $(LOCK_FLAGS) -o requirements/dev.lock
	$(UV) pip compile requirements/hatch.in --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	  --generate-hashes -q -o requirements/hatch.lock

clean:  ## remove caches (keeps .venv and models)
	rm -rf .mypy_cache .ruff_cache .pytest_cache

# Each concern (benchmarks, container, operations, release) keeps its targets in its own file.
-include mk/*.mk
