# Two commands: `make run` (the embedded stack on ./data) and `make test` (lint, types, the whole suite).
# Both first build the environment from uv.lock; a fresh machine needs only python3 (3.11) with pip and venv.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
# Inside .venv, so deleting .venv also forgets that it was synced.
SYNCED := $(VENV)/.synced

.DEFAULT_GOAL := help
.PHONY: help run test lint env demo bench

help:
	@echo "make run   start Temporal, the worker and the API on ./data (Ctrl-C stops them)"
	@echo "make test  ruff, mypy and the whole pytest suite"
	@echo "make demo  load a realistic demo district into the running stack (start make run first)"
	@echo "make bench the benchmark suite (at most 20 minutes; results in bench/results/, docs/benchmarks.md)"

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --disable-pip-version-check --quiet uv==$(UV_VERSION)

$(SYNCED): pyproject.toml uv.lock | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen
	@touch $@

env: $(SYNCED)

run: $(SYNCED)
	$(VENV)/bin/python stack.py $(ARGS)

lint: $(SYNCED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

test: lint
	$(VENV)/bin/pytest

demo: $(SYNCED)
	$(VENV)/bin/python cli.py demo $(ARGS)

bench: $(SYNCED)
	$(VENV)/bin/python -m bench
