# battery-hub: two commands. `make up` runs the whole system; `make test` runs every test
# against real Kafka and PostgreSQL. Everything downloaded is cached under .cache/.

SHELL := /bin/bash
ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
CACHE := $(ROOT)/.cache
UV_VERSION := 0.9.7
UV := $(CACHE)/tools/bin/uv
export UV_CACHE_DIR := $(CACHE)/uv
export UV_PYTHON_DOWNLOADS := never
export UV_LINK_MODE := copy
PY := $(ROOT)/.venv/bin/python

.PHONY: up down test test-unit infra infra-down deps lint typecheck status

$(UV):
	@python3 -m venv $(CACHE)/tools
	@$(CACHE)/tools/bin/pip install -q "uv==$(UV_VERSION)"

deps: $(UV)  ## install the locked Python dependencies into .venv
	@$(UV) sync --frozen --python python3.11 -q

infra:  ## start (installing if needed) Kafka and PostgreSQL
	@bash deploy/local/infra.sh up

infra-down:
	@bash deploy/local/infra.sh down

up: deps infra  ## the whole system, locally
	@$(PY) -m deploy.local.run up

down:  ## stop what `make up` started
	-@$(PY) -m deploy.local.run down
	@bash deploy/local/infra.sh down

status:
	@$(PY) -m deploy.local.run status

test: deps infra lint typecheck  ## every test, against the real servers
	@$(PY) -m pytest

test-unit: deps
	@$(PY) -m pytest -m "not integration and not e2e"

lint: deps
	@$(ROOT)/.venv/bin/ruff check libs services tests deploy
	@$(ROOT)/.venv/bin/ruff format --check libs services tests deploy

typecheck: deps
	@$(ROOT)/.venv/bin/mypy libs/contracts/src libs/platform/src services/*/src
