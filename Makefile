# Two commands do all the set-up on a fresh machine (Python 3.11+ with venv):
#   make plan   - creates .venv from the development lock, then plans the example stack offline
#   make test   - creates .venv from the development lock, then lint, type-check and the test suite
# requirements.txt is the runtime lock `pulumi up` installs (no test tools), derived from requirements-dev.txt
# by scripts/runtime_lock.py; `make lock` re-derives it.
PYTHON ?= python3
VENV := .venv
STACK ?= ml-vision

$(VENV)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# What `pulumi up` needs and nothing more (the deploy workflow): the runtime lock, no test tools.
runtime:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt

.PHONY: setup runtime plan plan-all test lint standins image lock
setup: $(VENV)/.installed

lock: setup
	$(VENV)/bin/python scripts/runtime_lock.py

plan: setup
	$(VENV)/bin/teamstack plan $(STACK) --json plans/$(STACK).json

plan-all: setup
	$(VENV)/bin/teamstack plan --all --quiet --json plans

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Local stand-ins the tests start that are not Python packages: Debian's docker-registry (a real Docker
# registry), buildah (real image builds, daemonless), skopeo (reads pushed manifests) and debootstrap (the
# tests' Debian base image), installed when running as root with apt-get.
STANDIN_TOOLS := docker-registry buildah skopeo debootstrap
standins:
	@missing=""; for tool in $(STANDIN_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "note: not installed:$$missing (apt-get install$$missing): the registry and image-build tests will skip"; \
	fi

# make image SPEC=<spec file> REGISTRY=<host:port/repository> [BASE=<image@sha256:...> | BASE_REGISTRY=<mirror>]
#            [VARIANT=cpu|gpu] [INSECURE=1]
# Normalises SPEC as every producer does, then runs images/build.sh (the pipelines' script: buildah, chroot
# isolation), with the layer cache in <REGISTRY>-cache; the last line printed is the pushed image reference.
VARIANT ?= cpu
image: setup
	@if [ -z "$(SPEC)" ] || [ -z "$(REGISTRY)" ]; then \
		echo "usage: make image SPEC=<file> REGISTRY=<host:port/repo> [BASE=<image@sha256:...> | BASE_REGISTRY=<mirror>] [VARIANT=cpu|gpu] [INSECURE=1]" >&2; \
		exit 2; \
	fi
	@spec="$$(mktemp -d)/requirements.txt" && \
	$(VENV)/bin/teamstack env normalise "$(SPEC)" >"$$spec" && \
	tag="$$($(VENV)/bin/teamstack env tag "$(SPEC)" --variant "$(VARIANT)")" && \
	bash images/build.sh --spec "$$spec" --image "$(REGISTRY):$$tag" --variant "$(VARIANT)" \
		--cache "$(REGISTRY)-cache" --recipe-hash "$$($(VENV)/bin/python -c 'from teamstack.envhash import recipe_hash; print(recipe_hash("images"))')" \
		$(if $(BASE),--base "$(BASE)",--base-registry "$(BASE_REGISTRY)") $(if $(INSECURE),--insecure)

test: lint standins
	$(VENV)/bin/python -m pytest
