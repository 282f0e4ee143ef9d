# Two commands for a fresh machine: `make demo` and `make test`. CI runs `make test` unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test lint typecheck pytest fast explore bench chromium jsdeps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/rtdata demo

# Debian's chromium for the browser tests; never a browser download. Skipped when it can't be installed.
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
				|| echo "chromium could not be installed: browser tests will be skipped"; \
		else echo "chromium missing and not installable here: browser tests will be skipped"; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy --strict rtdata

# The official JavaScript client (vsn 2.0.0 tests); skipped when npm is missing.
jsdeps: tests/js/node_modules/.package-lock.json

tests/js/node_modules/.package-lock.json: tests/js/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/js --no-audit --no-fund --loglevel=error; \
	else echo "npm missing: JavaScript client tests will be skipped"; fi

pytest: $(STAMP) chromium jsdeps
	$(BIN)/python -m pytest

# Unit, integration and pages (every test under tests/browser and tests/e2e is marked slow by
# tests/conftest.py), one worker per core: most integration time is waiting on sockets.
fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' -q -n auto

test: lint typecheck pytest

# The property tests with fresh random examples, 2,000 each, and 200 generated REST requests
# per operation (the gate runs a fixed set).
explore: $(STAMP)
	HYPOTHESIS_PROFILE=explore RTDATA_FUZZ_EXAMPLES=200 $(BIN)/python -m pytest -q -n auto -m 'not slow' \
		-p no:cacheprovider --timeout 3600 \
		$$(grep -rl --include='*.py' '@given' tests)

bench: $(VENV)/.installed
	$(BIN)/rtdata bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/artifacts
