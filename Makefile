# Vigil: `make run` starts it, `make test` checks it. Both work on a fresh machine:
# they create .venv and install what they need first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export VIGIL_HOME ?= $(CURDIR)/.vigil

.PHONY: run tour test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	bash scripts/run.sh

tour: $(STAMP)
	bash scripts/tour.sh

test: $(STAMP) lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder -q

bench: $(STAMP)
	$(BIN)/python benchmarks/scratch.py

clean:
	rm -rf $(VENV) .vigil .pytest_cache .mypy_cache .ruff_cache
