# Telemetra — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup system-deps demo test lint format schemas kafka bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## install every Python part (editable) with its dev tools into .venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

# Debian packages the tests use (servers run as local processes started by the tests). Installed only when
# missing; needs root (or sudo) the first time.
DEBIAN_PACKAGES := openjdk-17-jre-headless:java maven:mvn postgresql:pg_ctlcluster redis-server:redis-server \
	chromium:chromium fonts-dejavu-core:fc-list
system-deps: ## install the Debian packages the tests need (Java, Maven, PostgreSQL, Redis, Chromium), if missing
	@missing=""; for pair in $(DEBIAN_PACKAGES); do \
		command -v "$${pair#*:}" >/dev/null 2>&1 || missing="$$missing $${pair%%:*}"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi

demo: setup ## run the embedded platform: producer, engine, API, dashboard (Ctrl-C stops)
	$(BIN)/telemetra demo

test: setup system-deps ## the whole test suite (starts its own Kafka, PostgreSQL and Redis)
	$(BIN)/pytest

lint: setup ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: setup ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: setup ## regenerate pipeline/schemas/*.schema.json from the models
	$(BIN)/telemetra contract export

kafka: setup ## run a local single-node Kafka broker in the foreground (prints KAFKA_BOOTSTRAP)
	$(BIN)/python -m telemetra.localstack.kafka

bench: setup ## run the benchmarks (results and their commands are recorded in bench/results/)
	$(BIN)/python bench/kafka_producer.py
	$(BIN)/python bench/sentiment.py
	$(BIN)/python bench/engine.py throughput
	$(BIN)/python bench/engine.py memory
	$(BIN)/python bench/detection.py

clean: ## remove the virtualenv and caches of this checkout
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
