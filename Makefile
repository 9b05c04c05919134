# Hermes developer commands. `make test` is what CI runs (.ci/run).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint unit build clean bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

unit: setup
	$(PY) -m pytest tests/unit

build: setup
	$(PY) build.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build

# Benchmarks (issue 5): ~5-8 min on 2 cores; writes bench/results.md
bench: setup
	$(PY) bench/run.py
