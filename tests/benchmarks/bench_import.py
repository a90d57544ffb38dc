"""Benchmark: ``portfolio import`` of large CSV files (issue 13 item 8, linear time).

Run with ``python tests/benchmarks/bench_import.py`` (``make bench``). Writes
fixed-seed positions files of 1,000, 10,000 and 100,000 rows (the offline
snapshot's tickers; every third row an OCC option; tags on three rows of four),
times :func:`~sigmasight_lib.portfolios.importer.import_portfolio_csv` as a dry run
into a temporary SQLite database (median of 3 runs at each size,
after a warm-up that loads the offline snapshot), then a real import of 10,000
rows followed by the strategy proposals the CLI prints
(:func:`~sigmasight_lib.portfolios.strategies.detect_and_create`), then the creation
of every proposed strategy (``strategy detect --create``, shown without a goal).

Goals: 100,000 rows dry-run at most 30 s; time per row flat from 1,000 to
100,000 rows (per-row time at 100k / per-row time at 1k at most 1.5); the real
10,000-row import with detection at most 20 s (it took 86 s before issue 13).
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

try:
    from . import _harness as bench
except ImportError:  # run as a script
    import _harness as bench

from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.session import dispose_engine, session_scope, upgrade
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.portfolios.importer import import_portfolio_csv
from sigmasight_lib.portfolios.strategies import detect_and_create

SIZES = (1_000, 10_000, 100_000)
REAL_ROWS = 10_000
GOAL_100K_SECONDS = 30.0
GOAL_FLATNESS = 1.5
GOAL_REAL_SECONDS = 20.0
SYMBOLS = REPO_DIR / "sigmasight_lib" / "marketdata" / "data" / "symbols.csv"


def write_positions(path: Path, rows: int, seed: int = 7) -> Path:
    """A positions CSV of ``rows`` rows (symbol, quantity, entry price, entry date, tags)."""
    with SYMBOLS.open(newline="") as f:
        tickers = [r["symbol"] for r in csv.DictReader(f) if r["symbol"].isalpha()]
    tickers = [t for t in tickers if len(t) <= 5]
    rng = random.Random(seed)
    start = dt.date(2016, 1, 4)
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["Symbol", "Quantity", "Entry Price", "Entry Date", "Tags"])
        for i in range(rows):
            ticker = tickers[i % len(tickers)]
            day = start + dt.timedelta(days=(i // len(tickers)) % 400)
            price = round(10 + (i % 997) * 0.13 + rng.random(), 2)
            tags = ("core", "tech;growth", "", "hedge")[i % 4]
            if i % 3 == 2:
                kind, strike = ("C" if i % 2 else "P"), 50 + 5 * (i % 20)
                symbol = f"{ticker}170616{kind}{strike * 1000:08d}"
                out.writerow([symbol, rng.choice([-2, -1, 1, 2]), round(price / 20, 2), day, tags])
            else:
                out.writerow([ticker, rng.choice([-100, 50, 100, 200]), price, day, tags])
    return path


def main() -> int:
    print(f"import: positions CSV, dry run and real import ({bench.environment()})")
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        folder = Path(tmp)
        settings = bench.offline_sqlite_settings(folder)
        upgrade(settings)
        provider = OfflineSnapshotProvider()
        files = {n: write_positions(folder / f"positions_{n}.csv", n) for n in SIZES}
        counter = iter(range(1_000_000))

        def dry_run(rows: int) -> int:
            with session_scope(settings) as session:
                result = import_portfolio_csv(
                    session, files[rows], name=f"bench {next(counter)}",
                    owner_email="bench@example.com", provider=provider, dry_run=True,
                )  # fmt: skip
            if result.report.issues or len(result.report.rows) != rows:
                raise SystemExit(f"{rows} rows: unexpected issues {result.report.issues[:3]}")
            return len(result.report.rows)

        dry = {
            n: bench.measure(
                lambda n=n: dry_run(n),
                repeats=3,
                warmup=1 if n == SIZES[0] else 0,
            ).median  # fmt: skip
            for n in SIZES
        }
        per_row_ms = {n: 1000 * seconds / n for n, seconds in dry.items()}

        start = time.perf_counter()
        with session_scope(settings) as session:
            result = import_portfolio_csv(
                session, files[REAL_ROWS], name="bench real", owner_email="bench@example.com",
                provider=provider,
            )  # fmt: skip
            imported = time.perf_counter() - start
            proposals = detect_and_create(session, result.written.portfolio_id)
        real = time.perf_counter() - start
        start = time.perf_counter()
        with session_scope(settings) as session:  # `strategy detect --create`
            created = detect_and_create(session, result.written.portfolio_id, create=True)
        create = time.perf_counter() - start
        dispose_engine(settings)

    rows: list[bench.Row] = [
        bench.info_row(f"dry run {n:,} rows: time per row", per_row_ms[n], "ms") for n in SIZES
    ]
    rows += [
        bench.tolerance_row(f"dry run {SIZES[-1]:,} rows", dry[SIZES[-1]], GOAL_100K_SECONDS, "s"),
        bench.Row(
            f"flatness: per-row time {SIZES[-1]:,} / {SIZES[0]:,} rows",
            per_row_ms[SIZES[-1]],
            per_row_ms[SIZES[0]],
            GOAL_FLATNESS,
            at_least=False,
            unit="ms",
        ),  # fmt: skip
        bench.info_row(
            f"flatness: per-row time {SIZES[1]:,} / {SIZES[0]:,} rows",
            per_row_ms[SIZES[1]] / per_row_ms[SIZES[0]],
            "x",
        ),  # fmt: skip
        bench.info_row(f"real import {REAL_ROWS:,} rows (write only)", imported, "s"),
        bench.info_row(f"strategies proposed for {REAL_ROWS:,} rows", len(proposals)),
        bench.info_row(f"creating the {len(created):,} strategies (detect --create)", create, "s"),
        bench.tolerance_row(
            f"real import {REAL_ROWS:,} rows + strategy detection", real, GOAL_REAL_SECONDS, "s"
        ),  # fmt: skip
    ]
    return 0 if bench.report(rows, title="import") else 1


if __name__ == "__main__":
    sys.exit(main())
