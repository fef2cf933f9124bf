# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA_ROOT ?= tests/data/traces
export PROFTRIAGE_STATE_DIR ?= $(CURDIR)/.state
export DAGSTER_HOME ?= $(PROFTRIAGE_STATE_DIR)/dagster_home

.PHONY: venv demo test ui clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	PROFTRIAGE_DATA_ROOT=$(DATA_ROOT) $(BIN)/python -m assets.demo

test: $(STAMP)
	$(BIN)/python -m pytest

ui: $(STAMP)
	PROFTRIAGE_DATA_ROOT=$(DATA_ROOT) $(BIN)/python -m assets.demo --prepare-only
	PROFTRIAGE_DATA_ROOT=$(DATA_ROOT) $(BIN)/dagster dev -m assets.definitions -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py
	$(BIN)/python benchmarks/triage.py

clean:
	rm -rf .state bundles
