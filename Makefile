# make dev   - set up, then run the whole system on the embedded defaults
#              (other ports: make dev ARGS='--port 3300 --ifs-port 8671 --st-port 8672 --webhook-port 8690')
# make test  - set up, then lint and run the full suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: dev test lint format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)
	$(BIN)/connector-dagster dev $(ARGS)

test: $(STAMP) lint
	$(BIN)/pytest -n 4 --dist loadfile --no-loadscope-reorder -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
