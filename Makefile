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
# rustup's cargo, for a shell that did not source ~/.cargo/env (libs/native is built with it)
export PATH := $(HOME)/.cargo/bin:$(PATH)

.PHONY: up down test test-unit infra infra-down deps lint typecheck status bench chaos

$(UV):
	@python3 -m venv $(CACHE)/tools
	@$(CACHE)/tools/bin/pip install -q "uv==$(UV_VERSION)"

deps: $(UV)  ## install the locked Python dependencies into .venv (and build libs/native)
	@command -v cargo >/dev/null || { echo "make deps needs Rust's cargo to build libs/native (the compiled batch path and projector rows): install it with rustup (https://rustup.rs)"; exit 1; }
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

bench: deps infra  ## measure against anchors; writes docs/benchmarks.md (BENCH_ARGS=--quick for a short run)
	@$(PY) -m bench.run $(BENCH_ARGS)

CHAOS_READINGS ?= 100000
chaos: deps infra  ## the fault tests at 100k readings each (11–16 min here); writes docs/chaos.md
	@rm -f $(ROOT)/docs/chaos-results.json
	@BATTERYHUB_CHAOS_READINGS=$(CHAOS_READINGS) BATTERYHUB_CHAOS_RESULTS=$(ROOT)/docs/chaos-results.json \
		$(PY) -m pytest tests/chaos -v; status=$$?; \
		$(PY) -m tests.chaos.report $(ROOT)/docs/chaos-results.json $(ROOT)/docs/chaos.md; \
		echo "wrote docs/chaos.md"; exit $$status

lint: deps
	@$(ROOT)/.venv/bin/ruff check libs services tests deploy bench
	@$(ROOT)/.venv/bin/ruff format --check libs services tests deploy bench
	@cd $(ROOT)/libs/native && cargo fmt --check && cargo clippy --release -q -- -D warnings

typecheck: deps
	@$(ROOT)/.venv/bin/mypy libs/contracts/src libs/platform/src services/*/src

# --- Kubernetes packaging (deploy/helm/battery-hub, services/*/Dockerfile) ---------------

HELM_VERSION := v3.19.0
HELM := $(CACHE)/tools/bin/helm
IMAGE_REGISTRY ?= ghcr.io/battery-hub
IMAGE_TAG ?= $(shell git -C $(ROOT) describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGES := webhook-gateway error-decoder notifier query-api
ASYNCAPI_OUT ?= $(ROOT)/docs/asyncapi
# document name -> the factory `faststream docs gen` builds it from
ASYNCAPI_DOCS := \
	webhook-gateway=webhook_gateway.entrypoints.asyncapi:create_spec \
	error-decoder=error_decoder.entrypoints.asyncapi:create_spec \
	notifier=notifier.entrypoints.asyncapi:create_spec \
	query-api=query_api.entrypoints.asyncapi:create_api_spec \
	query-projector=query_api.entrypoints.asyncapi:create_projector_spec

# FastStream keeps publishers in a WeakSet, so their order varies from run to run: sort keys.
export ASYNCAPI_SORT := import sys, yaml; p = sys.argv[1]; d = yaml.safe_load(open(p)); yaml.safe_dump(d, open(p, "w"), sort_keys=True)

.PHONY: images helm chart-test asyncapi

images:  ## build the four service images (needs a Docker engine)
	@docker info >/dev/null 2>&1 || { echo "make images: no Docker engine answers here (docker info failed); build the images on a machine with one: docker build -f services/<service>/Dockerfile -t $(IMAGE_REGISTRY)/<service>:$(IMAGE_TAG) ." >&2; exit 1; }
	@for svc in $(IMAGES); do \
		echo "building $(IMAGE_REGISTRY)/$$svc:$(IMAGE_TAG)"; \
		docker build -f services/$$svc/Dockerfile -t $(IMAGE_REGISTRY)/$$svc:$(IMAGE_TAG) $(ROOT) || exit 1; \
	done

helm: $(HELM)  ## build helm from the Go module proxy into .cache/tools/bin (once)

$(HELM):
	@echo "building helm $(HELM_VERSION) into $(HELM) (a few minutes, once)"
	@GOPATH=$(CACHE)/go GOMODCACHE=$(CACHE)/go/mod GOCACHE=$(CACHE)/go/build GOBIN=$(CACHE)/tools/bin \
		GOFLAGS=-mod=mod go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

chart-test: deps helm  ## lint, render and validate the chart; Dockerfiles; AsyncAPI drift
	@$(PY) -m pytest tests/deploy -q

asyncapi: deps  ## write docs/asyncapi/*.yaml from the services' AsyncAPI factories
	@mkdir -p $(ASYNCAPI_OUT)
	@for doc in $(ASYNCAPI_DOCS); do \
		$(ROOT)/.venv/bin/faststream docs gen --factory --yaml \
			--out $(ASYNCAPI_OUT)/$${doc%%=*}.yaml $${doc#*=} >/dev/null || exit 1; \
		$(PY) -c "$$ASYNCAPI_SORT" $(ASYNCAPI_OUT)/$${doc%%=*}.yaml || exit 1; \
		echo "$(ASYNCAPI_OUT)/$${doc%%=*}.yaml"; \
	done
