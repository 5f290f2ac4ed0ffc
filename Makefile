# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
DATA_DIR ?= ./data

.PHONY: install run test lint typecheck unit bench clean system-deps

$(BIN)/hub: pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/hub

install: $(BIN)/hub

run: install
	$(BIN)/hub serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: install
	$(BIN)/ruff check hub tests bench scripts
	$(BIN)/ruff format --check hub tests bench scripts

typecheck: install
	$(BIN)/mypy --strict hub

system-deps:
	bash scripts/system-deps.sh

test: lint typecheck system-deps
	$(BIN)/pytest -q

bench: install
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
