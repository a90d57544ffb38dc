"""Benchmark: the four report artifacts of one portfolio from stored results.

Run with ``python tests/benchmarks/bench_reports.py`` (``make bench``). Seeds a
temporary SQLite database (offline data, as-of 2017-03-29), runs every engine
for the hedge-fund demo portfolio (30 positions; snapshot with 90 days of
backfill, as ``make demo``), then times
:func:`~sigmasight_lib.reporting.writers.write_reports` writing report.md,
report.json, positions.csv and report.html (11 inline SVG charts: 4 risk charts and 7
of the performance section), median of 5 after one warm-up call. Goal: at most 0.5 s
(issue 15). The charts are the cost: about 30 ms each as SVG, 60 ms as a 2× PNG. For scale: QuantStats' one-call
HTML tear sheet takes about 1.5 s for one portfolio on this machine (not
installed here; the figure is context only). The parts are timed separately
below the total.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
from pathlib import Path

try:
    from ._harness import environment, info_row, measure, report, tolerance_row
except ImportError:  # run as a script
    from _harness import environment, info_row, measure, report, tolerance_row

from sigmasight_lib.config import REPO_DIR, load_settings
from sigmasight_lib.db.session import dispose_engine, session_scope, upgrade
from sigmasight_lib.portfolios.service import find_portfolio
from sigmasight_lib.reporting import writers
from sigmasight_lib.reporting.tables import load_report_data
from sigmasight_lib.runs import ENGINE_RUNNERS

GOAL_SECONDS = 0.5
QUANTSTATS_SECONDS = 1.5
AS_OF = dt.date(2017, 3, 29)
PORTFOLIO = "Long/Short Hedge Fund Style"
REPEATS = 5


def seeded_settings(folder: Path):
    from sigmasight_lib.marketdata.cache import check_coverage, sync_market_data
    from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
    from sigmasight_lib.portfolios.demo import seed_demo

    settings = load_settings({
        "SIGMASIGHT_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "SIGMASIGHT_OUTPUTS_DIR": str(folder / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(REPO_DIR / "params"),
        "SIGMASIGHT_MARKET_DATA": "offline",
    })  # fmt: skip
    upgrade(settings)
    with session_scope(settings) as session:
        seed_demo(session, settings.params_dir)
        sync_market_data(session, OfflineSnapshotProvider(), as_of=AS_OF)
        check_coverage(session, OfflineSnapshotProvider(), as_of=AS_OF, backfill=False)
    for name, runner in ENGINE_RUNNERS.items():
        runner(settings, PORTFOLIO, AS_OF, **({"backfill": 90} if name == "snapshot" else {}))
    return settings


def main() -> int:
    print(f"reports: all four artifacts of {PORTFOLIO!r} from stored results ({environment()})")
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        settings = seeded_settings(Path(tmp))
        out = Path(tmp) / "report"
        total = measure(lambda: writers.write_reports(settings, PORTFOLIO, output_dir=out),
                        repeats=REPEATS)  # fmt: skip
        with session_scope(settings) as session:
            pid = find_portfolio(session, PORTFOLIO).id
            load = measure(lambda: load_report_data(session, pid, AS_OF), repeats=REPEATS)
        data = load.result
        parts = {
            "report.md": lambda: writers.report_markdown(data),
            "report.json": lambda: writers.report_json(data),
            "positions.csv": lambda: writers.positions_csv(data),
            "report.html (11 charts)": lambda: writers.report_html(data),
            "report.html without charts": lambda: writers.report_html(data, charts=False),
        }
        timings = {name: measure(fn, repeats=REPEATS).median for name, fn in parts.items()}
        sizes = {p.name: p.stat().st_size for p in out.iterdir()}
        dispose_engine(settings)
    rows = [
        tolerance_row("all four artifacts, median of 5 (s)", total.median, GOAL_SECONDS, "s"),
        info_row("QuantStats tear sheet, context (s)", QUANTSTATS_SECONDS, "s"),
        info_row("  load_report_data (s)", load.median, "s"),
        *(info_row(f"  {name} (s)", seconds, "s") for name, seconds in timings.items()),
        *(
            info_row(f"  {name} size (kB)", size / 1000, "kB")
            for name, size in sorted(sizes.items())
        ),
    ]
    ok = report(rows, title=f"reports ({PORTFOLIO}, {AS_OF})")
    print(
        f"all four artifacts: {total.median:.3f} s median "
        f"(runs: {', '.join(f'{s:.3f}' for s in total.seconds)}); "
        f"{QUANTSTATS_SECONDS / total.median:.1f}x faster than QuantStats' ≈ 1.5 s tear sheet"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
