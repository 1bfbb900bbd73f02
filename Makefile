# Telemetra — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup system-deps kube-bin frontend demo stack test lint format schemas crd golden kafka kube cluster cluster-deploy images kind-up kind-images deploy kind-demo bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup: $(STAMP) ## install every Python part (editable) with its dev tools into .venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

# Debian packages the tests use (servers run as local processes started by the tests). Installed only when
# missing; needs root (or sudo) the first time.
DEBIAN_PACKAGES := openjdk-17-jre-headless:java maven:mvn postgresql:pg_ctlcluster redis-server:redis-server \
	chromium:chromium fonts-dejavu-core:fc-list openssl:openssl \
	containerd:containerd runc:runc containernetworking-plugins:/usr/lib/cni/bridge iptables:iptables \
	iproute2:ip util-linux:nsenter procps:sysctl
system-deps: ## install the Debian packages the tests need (Java, Maven, PostgreSQL, Redis, Chromium, containerd), if missing
	@missing=""; for pair in $(DEBIAN_PACKAGES); do \
		command -v "$${pair#*:}" >/dev/null 2>&1 || missing="$$missing $${pair%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok and helm, built from the Go module
# proxy once per version into ~/.cache/telemetra (15-25 min on a cold 2-core machine; a no-op afterwards).
kube-bin: setup ## build the local Kubernetes control plane and helm from the Go module proxy (cached)
	$(BIN)/python -m telemetra.dev.kube.binaries

NPM_STAMP := frontend/node_modules/.installed
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1  # browser tests use Debian's Chromium; never download one

$(NPM_STAMP): frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	@touch $@

frontend: $(NPM_STAMP) ## build the dashboard into frontend/dist (served at / by the demo)
	cd frontend && npm run build

# The dashboard is built when Node is available; without it the demo still runs and serves the API docs.
demo: setup ## run the embedded platform: producer, engine, API and dashboard (Ctrl-C stops)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory frontend; \
	else echo "npm not found: the dashboard is not built; the API docs will be served"; fi
	$(BIN)/telemetra demo

stack: setup system-deps ## the demo on real parts: Kafka (KRaft), Spark (local mode), PostgreSQL, Redis (Ctrl-C stops)
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory frontend; \
	else echo "npm not found: the dashboard is not built; the API docs will be served"; fi
	$(BIN)/python -m telemetra.dev.stack

# Tests that mostly wait on a wall clock (the demo's schedule: its chat spike comes after a 2-minute warm-up, then
# a 60 s outage) run in a second pytest next to the rest; their report follows the main one.
ALONGSIDE := e2e/test_demo_alerts.py

test: setup system-deps kube-bin images $(NPM_STAMP) ## everything: Python suites (own Kafka, PostgreSQL, Redis, a real node), then the dashboard's
	@log=$$(mktemp); \
	$(BIN)/pytest -p no:cacheprovider $(ALONGSIDE) >$$log 2>&1 & side=$$!; \
	$(BIN)/pytest $(addprefix --ignore=,$(ALONGSIDE)); main=$$?; \
	wait $$side; side=$$?; echo "== alongside: $(ALONGSIDE) =="; cat $$log; rm -f $$log; \
	test $$main -eq 0 && test $$side -eq 0
	cd frontend && npm run openapi:check && npm test && npm run e2e

lint: setup $(NPM_STAMP) ## ruff (lint + format check), mypy, the import contracts (layers), eslint and tsc
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	cd frontend && npm run lint && npm run typecheck

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: setup ## regenerate pipeline/schemas/*.schema.json from the models
	$(BIN)/telemetra contract export

crd: setup ## regenerate the TelemetraStream and TelemetraPool CRDs in the chart from the operator's models
	$(BIN)/python -m telemetra.operator crd TelemetraStream > charts/telemetra/crds/telemetrastreams.telemetra.io.yaml
	$(BIN)/python -m telemetra.operator crd TelemetraPool > charts/telemetra/crds/telemetrapools.telemetra.io.yaml

golden: setup ## regenerate the chart's golden snapshots (review the diff)
	UPDATE_GOLDEN=1 $(BIN)/pytest charts/tests/test_golden.py

kafka: setup ## run a local single-node Kafka broker in the foreground (prints KAFKA_BOOTSTRAP)
	$(BIN)/python -m telemetra.dev.localstack.kafka

kube: kube-bin ## run a local Kubernetes control plane (etcd, apiserver, kcm, scheduler, kwok); prints KUBECONFIG
	$(BIN)/python -m telemetra.dev.kube

cluster: kube-bin system-deps images ## a real one-node Kubernetes with the images loaded (containerd, kubelet, CoreDNS; root)
	$(BIN)/python -m telemetra.dev.kube.node --images

cluster-deploy: setup ## install the Spark operator and the chart on `make cluster`'s node (with the images of `make images`)
	$(BIN)/python -m telemetra.dev.kube.deploy

# Every image the platform runs, built with podman without a registry (bases made with mmdebstrap), tagged by
# content; installs podman & co. with apt-get when missing. Tags in ~/.cache/telemetra/images/tags.json.
images: setup ## build all images with podman, tagged by content (cached; no Docker, no registry)
	$(BIN)/python -m telemetra.dev.kube.images

# Kubernetes with kind (needs Docker or Podman, kind, helm and kubectl); see charts/README.md.
kind-up: ## create the local kind cluster (charts/kind/cluster.yaml)
	charts/scripts/kind-up.sh

kind-images: ## docker build the four telemetra images (tag dev) and load them into kind
	charts/scripts/images.sh

deploy: setup ## install the pinned operators, then the telemetra chart (VALUES=file, WITH_CNPG=1, WITH_MONITORING=1)
	charts/scripts/deploy.sh

kind-demo: ## apply the example streams, wait for Ready, print the dashboard URL
	charts/scripts/kind-demo.sh

# The peers the benchmarks compare with (the `bench` extra: quixstreams) get a venv of their own inside .venv:
# quixstreams pins pydantic below the project's, and the project's venv stays as `make setup` made it.
BENCH_VENV := $(VENV)/bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml | $(STAMP)
	@test -x $(BENCH_VENV)/bin/python || $(BIN)/python -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e '.[bench]'
	@touch $@

bench: setup $(BENCH_STAMP) ## run the benchmarks (results and their commands are recorded in bench/results/)
	$(BIN)/python bench/kafka_producer.py
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/engine.py throughput
	$(BIN)/python bench/engine.py memory
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/api_load.py
	$(BIN)/python bench/operator_scale.py
	$(BIN)/python bench/spark_pipeline.py throughput
	$(BIN)/python bench/spark_pipeline.py freshness
	$(BIN)/python bench/pool_throughput.py --engine spark --engine quix --engine quix-panes --peer-python $(BENCH_VENV)/bin/python
	$(BIN)/python bench/pool_live.py
	$(BIN)/python bench/sentiment_quality.py --write
	$(BIN)/python bench/twitch_ingest.py

clean: ## remove the virtualenv and caches of this checkout
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
