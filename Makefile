# Two commands on a fresh machine: `make run` (set up and run everything) and `make test`.
# `make run` installs the runtime lock only (requirements.lock: what livefeed needs to run);
# test, lint, format and bench add the dev lock (requirements-dev.lock: the same runtime pins plus
# the test, lint and bench tools), so a runtime-only venv gets them on its first `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev run test lint format bench model-long docs messages screenshots clean

install: $(STAMP)

install-dev: $(DEV_STAMP)

$(STAMP): requirements.lock pyproject.toml $(wildcard shared/locale/*/LC_MESSAGES/*.po)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "livefeed needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m shared.messages --compile
	@touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.lock
	$(PY) -m pip install --quiet -r requirements-dev.lock
	$(PY) -m pip check
	@touch $(DEV_STAMP)

run: install
	$(VENV)/bin/livefeed up

# Test files run on TEST_WORKERS processes (pytest-xdist, a file stays on one worker, each
# worker its own embedded Redis and services on free ports); TEST_WORKERS=0 runs them in one.
# Three on two cores: much of the suite waits on the product's clocks (outages, intervals).
TEST_WORKERS ?= 3

test: install-dev
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The reference-model test (tests/model) with many more examples and steps, shrinking failures.
model-long: install-dev
	LIVEFEED_MODEL_EXAMPLES=$${LIVEFEED_MODEL_EXAMPLES:-200} LIVEFEED_MODEL_STEPS=$${LIVEFEED_MODEL_STEPS:-30} \
	LIVEFEED_MODEL_SHRINK=$${LIVEFEED_MODEL_SHRINK:-1} $(PY) -m pytest tests/model -x -p no:cacheprovider

bench: install-dev
	$(PY) -m bench.run_all

# docs/configuration.md from the Settings descriptions, and README's measured sizes
# (tests/test_docs.py fails while either is out of date).
docs: install-dev
	$(PY) -m shared.settings_doc
	$(PY) -m docs.sizes --write

# The interface's strings: extract them from the code (shared/locale/livefeed.pot), update every
# catalog (shared/locale/<lang>/LC_MESSAGES/livefeed.po) and compile each to .mo. `make install`
# compiles them too; a catalog without a current .mo is compiled in memory (shared/i18n.py).
messages: install
	$(PY) -m shared.messages

# The README's pictures, redrawn from the current UI in headless Chromium (Debian's chromium).
screenshots: install-dev
	$(PY) -m tests.browser.screenshot docs/screenshot.png
	$(PY) -m tests.browser.screenshot docs/screenshot-phone.png --width 390 --height 844
	$(PY) -m tests.browser.embed_screenshot docs/embed.png
	$(PY) -m tests.browser.teaser_screenshot docs/teaser.png
	$(PY) -m tests.browser.teaser_screenshot docs/teaser-phone.png --width 390
	$(PY) -m tests.browser.desk_screenshot docs/desk.png

clean:
	rm -rf $(VENV) .livefeed .pytest_cache .mypy_cache .ruff_cache
