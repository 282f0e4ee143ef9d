# Two commands for a fresh machine: `make demo` and `make test`. CI runs `make test` unchanged.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
CHROMIUM ?= /usr/bin/chromium

.PHONY: demo test lint typecheck pytest fast bench chromium clean

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

pytest: $(STAMP) chromium
	$(BIN)/python -m pytest

fast: $(STAMP)
	$(BIN)/python -m pytest -m 'not slow' -q

test: lint typecheck pytest

bench: $(VENV)/.installed
	$(BIN)/rtdata bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache tests/artifacts
