# The two commands of the README, and the developer tasks behind them.
#   make demo   install everything, index a documentation folder offline, answer a question
#   make test   the whole test suite (lint, types, layers, unit, integration on real services)

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
DOCS ?= $(firstword $(wildcard ../shared/corpora/fastapi-docs) docs)
ifeq ($(DOCS),docs)
QUESTION ?= How do I run a Hatchet engine without Docker?
else
QUESTION ?= How do I declare an optional query parameter?
endif

.PHONY: install demo test lint serve benchmarks hatchet-up hatchet-down clean

# One pip command resolves every dependency together (chromadb and hatchet-sdk must agree on protobuf).
$(BIN)/repochat: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/repochat

demo: install
	$(BIN)/repochat index $(DOCS)
	$(BIN)/repochat ask "$(QUESTION)"

test: install
	scripts/test.sh

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

serve: install
	$(BIN)/repochat serve

benchmarks: install
	$(BIN)/python benchmarks/indexing.py
	$(BIN)/python benchmarks/github_sync.py
	$(BIN)/python benchmarks/workers.py
	$(BIN)/python benchmarks/load.py
	$(BIN)/python benchmarks/retrieval.py
	$(BIN)/python benchmarks/refs.py
	$(BIN)/python benchmarks/keys.py

hatchet-up:
	scripts/hatchet-dev.sh up

hatchet-down:
	scripts/hatchet-dev.sh down

clean:
	rm -rf $(VENV) .repochat .pytest_cache .mypy_cache .ruff_cache
