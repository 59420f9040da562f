# Two commands on a fresh machine:  make run   |   make test
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test install system-deps lint bench clean audit

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

## Install everything and start the embedded demo on http://127.0.0.1:8050
run: install
	$(PY) app.py

## Install everything (system packages too) and run the whole suite, browser and PostgreSQL tests included
test: system-deps install
	$(VENV)/bin/pytest --headless -q

## Chromium + chromedriver for browser tests, PostgreSQL server binaries for store tests
system-deps:
	@if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver poppler-utils; fi
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql; fi

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) var

## Pinned versions of everything the suite ran with (production installs can use it)
requirements.lock: install
	$(VENV)/bin/pip freeze --exclude-editable | grep -v '^command-centre' > $@

## Dependency audit (needs PyPI's vulnerability service; see docs/security.md)
audit: install
	$(VENV)/bin/pip install --quiet pip-audit
	$(VENV)/bin/pip-audit --requirement requirements.lock --progress-spinner off
