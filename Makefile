# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test bench lint format openapi migrate seed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.runtime

## make run: install, migrate, seed the demo data and serve on http://127.0.0.1:8000 (SQLite, in-process mock cloud)
run: $(VENV)/.runtime
	TI_DEMO=$${TI_DEMO:-true} $(BIN)/python main.py migrate
	TI_DEMO=$${TI_DEMO:-true} $(BIN)/python main.py seed
	TI_DEMO=$${TI_DEMO:-true} TI_WORKER_IN_APP=$${TI_WORKER_IN_APP:-true} $(BIN)/python main.py serve --no-migrate

## make test: install the dev extras and run the whole suite (SQLite always; PostgreSQL too when TEST_DATABASE_URL is set)
test: $(VENV)/.dev
	$(BIN)/python -m pytest

## make bench: load benchmarks against a real server (see bench/README.md)
bench: $(VENV)/.dev
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

openapi: $(VENV)/.runtime
	$(BIN)/python main.py openapi

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
