# dvtool — `make demo` runs the walk-through on fixtures/, `make test` runs the tests.
# Both build the virtual environment in .venv first (needs only Python 3.11+ and make).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The spark engine's tests run in their own environment: its extra pins pandas<3
# (pandera's pyspark backend does not import on pandas 3); the main one keeps pandas 3.
SPARK_VENV  := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed-stamp

.PHONY: help venv demo test lint format docs bench mutate clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

$(SPARK_STAMP): pyproject.toml
	$(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/python -m pip install -q --upgrade pip
	$(SPARK_VENV)/bin/python -m pip install -q -e '.[test,spark]'
	touch $(SPARK_STAMP)

venv: $(STAMP)  ## create .venv with dvtool and the test tools

demo: $(STAMP)  ## snapshot → validate → diff → query walk-through on fixtures/ in a fresh repository
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

# Browser tests (pytest -m browser) drive Debian's chromium through Playwright; without
# a chromium they are left out, and one line says what to install. The spark-marked
# tests run afterwards in .venv-spark (the spark extra pins pandas<3).
CHROMIUM := $(shell command -v chromium 2>/dev/null || ls /usr/bin/chromium 2>/dev/null)

test: $(STAMP) $(SPARK_STAMP)  ## run the test suite (browser tests when a chromium is installed; spark tests in .venv-spark)
ifeq ($(CHROMIUM),)
	@echo "browser tests skipped: no chromium found; install it with: apt-get install -y chromium"
	$(BIN)/python -m pytest -q -m "not browser and not spark"
else
	$(BIN)/python -m pytest -q -m "not spark"
endif
	$(SPARK_VENV)/bin/python -m pytest -q -m spark tests/spark

# Mutation testing (mutmut; [tool.mutmut] in pyproject.toml says which modules and tests):
# slow, so on demand only, never part of `make test`. `.venv/bin/mutmut results` lists the
# surviving mutants, `.venv/bin/mutmut show NAME` shows one; tests/MUTANTS.md accounts for them.
mutate: $(STAMP)  ## mutation testing of the core with mutmut (slow, on demand); prints the kill rate
	$(BIN)/mutmut run --max-children $$(nproc)
	$(BIN)/python scripts/mutation_score.py

lint: $(STAMP)  ## ruff (lint and format), mypy --strict and the import-layer contract (as pre-commit)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

docs: $(STAMP)  ## build the documentation site into site/ (read it live: .venv/bin/mkdocs serve)
	$(BIN)/python -m mkdocs build --strict -d site

format: $(STAMP)  ## format the code with ruff
	$(BIN)/ruff format .

ROWS ?= 10000000
bench: $(STAMP)  ## benchmarks vs peers and goals (ROWS=10000000 by default; ARGS= for run.py)
	$(BIN)/python benchmarks/run.py --rows $(ROWS) $(ARGS)

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) $(SPARK_VENV) .pytest_cache .mypy_cache .ruff_cache demo-repo mutants
