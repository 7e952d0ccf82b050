# make demo: set up .venv with the pinned dependencies, then run the demo.
# make test: the same set-up, then ruff, mypy and the whole pytest suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/crownwatch demo

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src

test: lint
	$(BIN)/pytest -q -n 2

bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) crownwatch-data .pytest_cache .mypy_cache .ruff_cache
