# SigmaSight developer targets. `make demo` and `make test` are the two set-up commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SIGMASIGHT := $(BIN)/sigmasight


.PHONY: demo test nbval bench lint format install dev clean help

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
	$(BIN)/python -m ipykernel install --sys-prefix --name sigmasight --display-name "SigmaSight (Python 3)" > /dev/null
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
	$(MAKE) --no-print-directory nbval

# every notebook, as committed, under nbval (lax: no stored outputs) on a fresh seeded database;
# the engines' results of the report notebook's portfolio are stored first (engine notebooks
# run without a run id compute and show but save nothing)
nbval: dev
	@tmp=$$(mktemp -d) && \
	export SIGMASIGHT_OUTPUTS_DIR=$$tmp SIGMASIGHT_DATABASE_URL=sqlite:///$$tmp/nbval.db SIGMASIGHT_MARKET_DATA=offline && \
	$(SIGMASIGHT) -q db upgrade > /dev/null && $(SIGMASIGHT) -q demo seed > /dev/null && \
	$(SIGMASIGHT) -q market-data sync > /dev/null && \
	for e in valuation greeks exposures factors market-risk stress correlations risk-metrics snapshot; do \
		$(SIGMASIGHT) -q engine $$e --portfolio 3 > /dev/null || exit 1; done && \
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks/; \
	rc=$$?; rm -rf $$tmp; exit $$rc

bench: dev
	$(BIN)/python tests/benchmarks/bench_greeks.py
	$(BIN)/python tests/benchmarks/bench_factors.py
	$(BIN)/python tests/benchmarks/bench_notebooks.py
	$(BIN)/python tests/benchmarks/bench_reports.py
	$(BIN)/python tests/benchmarks/bench_batch.py
	$(BIN)/python tests/benchmarks/bench_snapshot.py
	$(BIN)/python tests/benchmarks/bench_render.py
	$(BIN)/python tests/benchmarks/bench_import.py
	$(BIN)/python tests/benchmarks/bench_store.py
	$(BIN)/python tests/benchmarks/bench_scale.py

lint: dev
	$(BIN)/ruff check sigmasight_lib tests scripts
	$(BIN)/ruff format --check sigmasight_lib tests scripts

format: dev
	$(BIN)/ruff format sigmasight_lib tests scripts
	$(BIN)/ruff check --fix sigmasight_lib tests scripts

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
