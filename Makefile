# Rapport: `make run` runs the whole system locally, `make test` runs every check.
# Both install what they need on a fresh machine (uv, the locked Python packages, Kafka's jars,
# PostgreSQL if missing) and start what they need on loopback.

SHELL := /bin/bash
.DEFAULT_GOAL := help
UV_VERSION := 0.13.8
UV := python3 -m uv
VENV := .venv/bin
WITH_INFRA := deploy/local/with-infra.sh

.PHONY: help setup tools run test lint typecheck unit pytest schema eval bench faults infra-up infra-down

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

setup:  ## install uv, the locked dependencies into .venv and the test browser (chromium)
	@python3 -m uv --version 2>/dev/null | grep -q "$(UV_VERSION)" || \
		python3 -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	@$(UV) sync --frozen --all-packages --quiet
	@deploy/local/browser.sh

tools: setup  ## pinned kustomize and checkov in .cache/ for the offline deploy checks
	@deploy/tools/install.sh

run: setup  ## run Kafka, PostgreSQL and the three services; Ctrl-C stops it all
	@deploy/local/run.sh

test: setup tools lint typecheck  ## ruff, mypy and every test against real Kafka and PostgreSQL
	@$(WITH_INFRA) $(VENV)/pytest -m "not slow"

lint: setup  ## ruff: lint and formatting
	@$(VENV)/ruff check .
	@$(VENV)/ruff format --check .

typecheck: setup  ## mypy, strict on our packages
	@$(VENV)/mypy

unit: setup  ## only the fast tests that need neither broker nor database
	@$(VENV)/pytest -m "not integration and not e2e"

schema: setup  ## write the JSON Schema of the event contract
	@$(VENV)/rapport-schema > libs/events/schema/touchpoint-event.schema.json
	@echo "wrote libs/events/schema/touchpoint-event.schema.json"

EVAL_DATA ?= ../shared/data/online_retail.csv.gz
EVAL_SPLITS ?= 2011-07-01 2011-09-01

eval: setup  ## offline evaluation of the recommender on the UCI Online Retail data (both splits)
	@mkdir -p bench
	@for split in $(EVAL_SPLITS); do \
		$(VENV)/rapport-eval --data $(EVAL_DATA) --split-date $$split --out bench/eval-$$split.json || exit 1; \
	done

bench: setup  ## speed against same-run references: bench/report.md (SCALE=0.1 for a quick run)
	@$(WITH_INFRA) $(VENV)/python -m bench --scale $(or $(SCALE),1.0)

faults: setup  ## the fault suite in full: kill -9, broker and database outages, rolling restart, fuzz
	@$(WITH_INFRA) $(VENV)/pytest tests/faults -m slow -p no:cacheprovider

infra-up: setup  ## start Kafka and PostgreSQL on loopback (unless the environment names them)
	@deploy/local/infra.sh up
	@cat .local/infra.env

infra-down:  ## stop the local Kafka and PostgreSQL
	@deploy/local/infra.sh down
