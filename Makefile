# The two quick-start commands (README.md): `make serve` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test lint bench help system-packages
.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.serve: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[serve]'
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

serve: $(VENV)/.serve  ## install the service and start it on the releases in weights/ (port 8000)
	$(BIN)/python -m app

system-packages:  ## Chromium (studio tests) and docker-compose (compose-file check), from Debian
	@if ! command -v chromium >/dev/null || ! command -v docker-compose >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium docker-compose >/dev/null; \
	  else \
	    echo "note: install chromium and docker-compose (apt) to run the browser and compose tests; they skip without them"; \
	  fi; \
	fi

test: $(VENV)/.dev system-packages  ## install everything the tests need, lint, and run the whole suite
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(VENV)/.dev  ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(VENV)/.dev  ## the load benchmark of docs/benchmarks.md
	$(BIN)/python -m bench
