# Two commands set everything up on a fresh machine with Python 3.11+:
#   make run    the service, its worker, a private PostgreSQL and Redis, demo data
#   make test   the whole suite on its own throwaway PostgreSQL and Redis
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-stamp

.PHONY: install run test check lint format bench schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[embedded,dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/oms dev

test: install
	$(BIN)/pytest

# Static checks: lint, format, types, dependency direction, committed SDL up to date.
# (That migrations match the models is checked by the suite, on its real database.)
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/oms schema | diff -u schema.graphql - || (echo "schema.graphql is stale: run 'make schema'" && exit 1)

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: install
	$(BIN)/oms schema > schema.graphql

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
