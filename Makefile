# Two commands on a fresh machine: `make run` (set up and run everything) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench model-long clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livefeed needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

run: install
	$(VENV)/bin/livefeed up

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The reference-model test (tests/model) with many more examples and steps, shrinking failures.
model-long: install
	LIVEFEED_MODEL_EXAMPLES=$${LIVEFEED_MODEL_EXAMPLES:-200} LIVEFEED_MODEL_STEPS=$${LIVEFEED_MODEL_STEPS:-30} \
	LIVEFEED_MODEL_SHRINK=$${LIVEFEED_MODEL_SHRINK:-1} $(PY) -m pytest tests/model -x -p no:cacheprovider

bench: install
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .livefeed .pytest_cache .mypy_cache .ruff_cache
