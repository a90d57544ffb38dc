# SigmaSight developer targets. `make demo` and `make test` are the two set-up commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SIGMASIGHT := $(BIN)/sigmasight


.PHONY: demo test bench lint format install dev clean help

help:
	@echo "make demo    .venv, install, SQLite db, offline data, demo portfolios, the full notebook batch, verify"
	@echo "make test    install dev extras and run the whole suite (SQLite + PostgreSQL + notebooks)"
	@echo "make bench   benchmarks against the reference implementations (ratios printed)"
	@echo "make lint    ruff check and format check"
	@echo "make format  ruff format and autofix"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

demo: install
	$(SIGMASIGHT) db upgrade
	$(SIGMASIGHT) demo seed
	$(SIGMASIGHT) market-data sync
	$(SIGMASIGHT) market-data coverage > /dev/null
	@for p in 1 2 3; do $(SIGMASIGHT) -q engine snapshot --portfolio $$p --backfill 90 > /dev/null || exit 1; done
	$(SIGMASIGHT) batch run --all
	$(SIGMASIGHT) verify
	@echo "open $$($(BIN)/python -c 'from sigmasight_lib.config import load_settings; print((load_settings().outputs_dir / "index.html").resolve())')"

test: dev
	$(BIN)/python -m pytest

bench: dev
	$(BIN)/python tests/benchmarks/bench_greeks.py
	$(BIN)/python tests/benchmarks/bench_factors.py

lint: dev
	$(BIN)/ruff check sigmasight_lib tests scripts
	$(BIN)/ruff format --check sigmasight_lib tests scripts

format: dev
	$(BIN)/ruff format sigmasight_lib tests scripts
	$(BIN)/ruff check --fix sigmasight_lib tests scripts

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
