# Hermes developer commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint scan unit build demo up clean bench docs js-types js-check node-example awscli

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	TF_CLI_CONFIG_FILE=/dev/null terraform fmt -check -recursive
	$(PY) docs/terraform_tables.py --check

# docs/terraform.md's inputs/outputs tables, generated from variables.tf and outputs.tf
docs: setup
	$(PY) docs/terraform_tables.py

# checkov lives in its own venv: its pins would fight the project's.
CHECKOV_VENV ?= .venv-checkov
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==3.3.30
	touch $@

scan: $(CHECKOV_VENV)/.installed
	$(CHECKOV_VENV)/bin/checkov --directory . --framework terraform --quiet --compact

# The JS client's devDependencies (TypeScript, for its .d.ts), exactly as package-lock.json pins them.
JS := clients/js
$(JS)/node_modules/.installed: $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --prefer-offline
	touch $@

# Regenerate clients/js/hermes-client.d.ts and hermes-shared.d.ts from their modules' JSDoc (commit the result).
js-types: $(JS)/node_modules/.installed
	cd $(JS) && node scripts/check-types.mjs --write

# Fails if the committed .d.ts is stale, hermes-client.js does not type-check against its own JSDoc, or
# types-test/consumer.ts (an app's view, through package.json "exports") does not compile.
js-check: $(JS)/node_modules/.installed
	cd $(JS) && node scripts/check-types.mjs

# The Node backend example's AWS SDK (tests/e2e/test_token_function.py runs it against the local stack).
NODE_EXAMPLE := examples/backend-node
$(NODE_EXAMPLE)/node_modules/.installed: $(NODE_EXAMPLE)/package.json $(NODE_EXAMPLE)/package-lock.json
	cd $(NODE_EXAMPLE) && npm ci --no-audit --no-fund --prefer-offline
	touch $@

node-example: $(NODE_EXAMPLE)/node_modules/.installed

# The AWS CLI (v1, from PyPI) in its own venv, like checkov: the README's `aws lambda invoke` lines are run by
# tests/e2e/test_token_function.py against the local stack.
AWSCLI_VENV ?= .venv-awscli
$(AWSCLI_VENV)/.installed:
	$(PYTHON) -m venv $(AWSCLI_VENV)
	$(AWSCLI_VENV)/bin/pip install --quiet --disable-pip-version-check awscli==1.46.3
	touch $@

awscli: $(AWSCLI_VENV)/.installed

# Unit tests first (fast feedback), then the slow suites side by side: they mostly wait on the AWS
# provider and the local stack, so three workers fit two cores.
test: lint scan js-check node-example awscli
	node --test clients/js/test/
	$(PY) -m pytest tests/unit
	$(PY) -m pytest -n 3 --dist loadfile tests/integration tests/e2e tests/browser

unit: setup
	$(PY) -m pytest tests/unit

build: setup
	$(PY) build.py

# Hermes end to end on this machine: moto, terraform apply, gateway, one notification, then stop.
demo: build
	$(PY) -m hermes_local.demo

# The same stack, kept running in the foreground (Ctrl-C stops it).
up: build
	$(PY) -m hermes_local.stack

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache build .hermes $(JS)/node_modules

# Benchmarks (issues 5, 12): ~8 min on 2 cores; writes bench/results.md
bench: setup
	$(PY) bench/run.py
	$(PY) bench/rooms_cost.py --out bench/rooms_cost.md
	$(PY) bench/user_cost.py --out bench/user_cost.md --results bench/results.md
