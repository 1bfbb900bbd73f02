# Telemetra — developer entry points. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint format schemas kafka bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(STAMP) ## install every Python part (editable) with its dev tools into .venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

demo: setup ## run the embedded platform: producer, engine, API (Ctrl-C stops)
	$(BIN)/telemetra demo

test: setup ## the whole test suite (starts its own Kafka and other servers)
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

bench: setup ## run the benchmarks and print their results
	$(BIN)/python bench/kafka_producer.py
	$(BIN)/python bench/bus_producer.py

clean: ## remove the virtualenv and caches of this checkout
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
