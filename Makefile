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

.PHONY: setup plan plan-all test lint standins
setup: $(VENV)/.installed

plan: setup
	$(VENV)/bin/teamstack plan $(STACK) --json plans/$(STACK).json

plan-all: setup
	$(VENV)/bin/teamstack plan --all --quiet --json plans

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Local API stand-ins the tests start that are not Python packages: Debian's docker-registry (a real Docker
# registry for the GCP environment-build tests), installed when running as root with apt-get.
standins:
	@if command -v docker-registry >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry; \
	else \
		echo "note: docker-registry is not installed (apt-get install docker-registry): the registry tests will skip"; \
	fi

test: lint standins
	$(VENV)/bin/python -m pytest
