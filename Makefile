# The one entry point: `make demo` and `make test` set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup demo sandbox inputs screenshot messages test lint audit soak bench clean

help:  ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "robotlib needs Python 3.11 or newer; '$(PYTHON)' is older. Run: make PYTHON=python3.12 ..."; exit 2; }
	$(PYTHON) -m venv $(VENV)

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)  ## Create .venv, install robotlib with its dev extra, a Chromium and Xvfb.
	@scripts/ensure-browser.sh $(BIN)
	@scripts/ensure-desktop.sh

demo: setup  ## Start the sandbox, run the example robots on it, print what happened.
	$(BIN)/python scripts/demo.py

sandbox: setup  ## Start the sandbox clinical system alone (Ctrl+C stops it).
	$(BIN)/rpa sandbox

inputs: setup  ## Write the example robots' input files again (robots/inputs).
	$(BIN)/python scripts/make_example_inputs.py

screenshot: setup  ## Run the example robots, save the console dashboard to docs/images.
	$(BIN)/python scripts/console_screenshot.py

messages: setup  ## Extract the console's texts again and update its catalogues (Danish: locale/da).
	$(BIN)/pybabel -q extract -F babel.cfg --no-location --sort-output \
		--project robotlib --copyright-holder "robotlib contributors" \
		-o robotlib/console/locale/messages.pot .
	$(BIN)/pybabel -q update --no-fuzzy-matching --ignore-obsolete \
		-i robotlib/console/locale/messages.pot -d robotlib/console/locale

lint: setup  ## ruff (lint and format check) and mypy --strict.
	$(BIN)/ruff check robotlib sandbox robots scripts tests benchmarks
	$(BIN)/ruff format --check robotlib sandbox robots scripts tests benchmarks
	$(BIN)/mypy

test: lint  ## Lint, type-check, then run every test (browser tests included).
	$(BIN)/pytest

# The reliability tests at full size (docs/reliability.md): the chaos and kill
# batches of tests/chaos at SOAK_ROWS rows, the queue's property tests with the
# soak budget. make test runs the same tests at CI size.
SOAK_ROWS ?= 500
soak: setup  ## The long reliability runs: 500-row chaos and kill batches, queue properties.
	RPA_CHAOS_ROWS=$(SOAK_ROWS) RPA_TEST_HYPOTHESIS_PROFILE=soak $(BIN)/pytest -q -rP \
		--timeout=7200 tests/chaos \
		tests/queue/test_queue_properties.py tests/queue/test_handoff_kills.py

# scripts/audit.py: pip-audit --strict (a dependency it cannot look up fails, never
# passes unchecked), after probing that pypi.org serves its lookups (AUDIT_ARGS:
# --allow-unreachable lets a machine without them pass, saying it did not audit).
audit: $(STAMP)  ## Check the installed dependencies for known vulnerabilities (pip-audit).
	$(BIN)/python -m pip install --quiet pip-audit
	$(BIN)/python scripts/audit.py $(AUDIT_ARGS)

bench: setup  ## Run the benchmarks (minutes); print the table, write benchmarks/RESULTS.md.
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run.py

clean:  ## Remove the virtual environment and caches.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
