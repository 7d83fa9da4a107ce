# Two commands do all the set-up on a fresh machine (Python 3.11+ with venv):
#   make plan   - creates .venv from the lock file, then plans the example stack offline
#   make test   - creates .venv from the lock file, then lint, type-check and the test suite
PYTHON ?= python3
VENV := .venv
STACK ?= ml-vision

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

.PHONY: setup plan plan-all test lint
setup: $(VENV)/.installed

plan: setup
	$(VENV)/bin/teamstack plan $(STACK) --json plans/$(STACK).json

plan-all: setup
	$(VENV)/bin/teamstack plan --all --quiet --json plans

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/python -m pytest
