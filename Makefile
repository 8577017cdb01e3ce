# Two commands: `make run` (the embedded stack on ./data) and `make test` (lint, types, the whole suite).
# Both first build the environment from uv.lock; a fresh machine needs only python3 (3.11) with pip and venv.

PYTHON ?= python3
UV_VERSION := 0.13.8
UV := .tools/bin/uv
VENV := .venv
# Inside .venv, so deleting .venv also forgets that it was synced.
SYNCED := $(VENV)/.synced

.DEFAULT_GOAL := help
.PHONY: help run test lint env demo bench reliability

help:
	@echo "make run   start Temporal, the worker and the API on ./data (Ctrl-C stops them)"
	@echo "make test  ruff, mypy and the whole pytest suite"
	@echo "make demo  load a realistic demo district into the running stack (start make run first)"
	@echo "make bench the benchmark suite (at most 20 minutes; results in bench/results/, docs/benchmarks.md)"
	@echo "make reliability  crashes, load, bad input and the rest of the reliability suite at full size (docs/reliability.md)"

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

# Two processes (pytest-xdist), each test file whole in one: the suite waits on servers and subprocesses as much as
# it computes, so it takes about two thirds of the time it takes in one. Files go out in the order tests/conftest.py
# puts them (longest first), not xdist's (most tests first). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2

test: lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

demo: $(SYNCED)
	$(VENV)/bin/python cli.py demo $(ARGS)

bench: $(SYNCED)
	$(VENV)/bin/python -m bench

# The reliability suite (issue 8; docs/reliability.md): its files at both sizes, the full ones (marked
# `reliability`: 100 worker kills, 200 racing rounds, 1,000+ generated requests, 200 clients...) being what
# `make test` leaves out; then the workflow suite again with the worker's cache off; then the figures into the doc.
RELIABILITY_TESTS := tests/test_crash_loop.py tests/test_retry_bounds.py tests/test_replay.py \
	tests/test_history_budget.py tests/test_continue_as_new.py tests/test_exactly_once.py tests/test_model_based.py \
	tests/test_api_fuzz.py tests/test_bad_input.py tests/test_load.py tests/test_backup.py \
	tests/test_authorization.py::test_racing_decisions_have_one_winner_and_a_409
WORKFLOW_TESTS := tests/test_lifecycle.py tests/test_ladder.py tests/test_rejections.py tests/test_reconcile.py \
	tests/test_reports.py tests/test_replay.py tests/test_history_budget.py tests/test_continue_as_new.py \
	tests/test_retry_bounds.py

reliability: $(SYNCED)
	rm -f test-output/reliability/figures.jsonl
	$(VENV)/bin/pytest -m "" $(RELIABILITY_TESTS)
	XIAOHAO_TEST_WORKFLOW_CACHE=0 $(VENV)/bin/pytest $(WORKFLOW_TESTS)
	$(VENV)/bin/python -m tests.reliability_report
