"""Benchmark: the full demo batch (3 portfolios × all engines, HTML included) per execution
mode, and the cost of one engine notebook against calling its entry point directly.

Run with ``python tests/benchmarks/bench_batch.py`` (``make bench``). Each mode runs
on its own freshly seeded SQLite database in a temporary folder (offline data,
as-of 2017-03-29), one after the other in this process:

* ``inline`` with fresh kernels (papermill's default: a kernel per notebook);
* ``inline`` with the warm kernel (one kernel, namespace reset between notebooks);
* ``processes`` with 2 workers and warm kernels (one per worker).

Goal: the fastest mode at most 30 s wall on 2 cores. Then, per notebook
(``01_valuation`` for the hedge-fund portfolio, median of 3): papermill with a
fresh kernel, with the warm kernel, and ``run_valuation`` called directly.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

try:
    from ._harness import environment, info_row, report, tolerance_row
except ImportError:  # run as a script
    from _harness import environment, info_row, report, tolerance_row

from sigmasight_lib.batch.runner import execute_job, run_batch
from sigmasight_lib.config import REPO_DIR, load_settings
from sigmasight_lib.db.session import session_scope, upgrade
from sigmasight_lib.runs import run_valuation

GOAL_SECONDS = 30.0
HF = "Long/Short Hedge Fund Style"


def seeded_settings(folder: Path):
    import datetime as dt

    from sigmasight_lib.marketdata.cache import sync_market_data
    from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
    from sigmasight_lib.portfolios.demo import seed_demo

    settings = load_settings({
        "SIGMASIGHT_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "SIGMASIGHT_OUTPUTS_DIR": str(folder / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(REPO_DIR / "params"),
    })  # fmt: skip
    upgrade(settings)
    with session_scope(settings) as session:
        seed_demo(session, settings.params_dir)
        sync_market_data(session, OfflineSnapshotProvider(), as_of=dt.date(2017, 3, 29))
    return settings


def timed_batch(executor: str, kernel_mode: str, workers: int = 2) -> float:
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        settings = seeded_settings(Path(tmp))
        start = time.perf_counter()
        result = run_batch(settings, executor=executor, workers=workers, kernel_mode=kernel_mode)
        seconds = time.perf_counter() - start
        if result.status != "succeeded":
            raise SystemExit(f"batch {executor}/{kernel_mode} did not succeed: {result.status}")
        return seconds


def per_notebook() -> dict[str, float]:
    import statistics

    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        settings = seeded_settings(Path(tmp))
        import os

        os.environ.update({
            "SIGMASIGHT_DATABASE_URL": settings.database_url.render_as_string(hide_password=False),
            "SIGMASIGHT_OUTPUTS_DIR": str(settings.outputs_dir),
            "SIGMASIGHT_PARAMS_DIR": str(settings.params_dir),
        })  # fmt: skip
        from sigmasight_lib.db.session import session_scope
        from sigmasight_lib.portfolios.service import find_portfolio

        with session_scope(settings) as session:
            hf_id = find_portfolio(session, HF).id  # notebooks take the portfolio id
        params = {"portfolio": hf_id, "as_of": "2017-03-29", "run_id": None}
        out = settings.outputs_dir / "per-notebook"
        figures = {}
        for mode in ("fresh", "warm"):
            execute_job("valuation", params, out, settings.notebooks_dir, mode)  # warm-up
            runs = []
            for _ in range(3):
                start = time.perf_counter()
                outcome = execute_job("valuation", params, out, settings.notebooks_dir, mode)
                runs.append(time.perf_counter() - start)
                assert outcome.status == "succeeded", outcome.error
            figures[mode] = statistics.median(runs)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            run_valuation(settings, HF)
            runs.append(time.perf_counter() - start)
        figures["direct"] = statistics.median(runs)
        return figures


def main() -> int:
    print(environment())
    modes = {
        "inline, fresh kernels": timed_batch("inline", "fresh"),
        "inline, warm kernel": timed_batch("inline", "warm"),
        "processes x2, warm kernels": timed_batch("processes", "warm", workers=2),
    }
    fresh = modes["inline, fresh kernels"]
    fastest = min(modes.values())
    nb = per_notebook()
    rows = [info_row(f"demo batch, {name} (s)", seconds) for name, seconds in modes.items()]
    rows += [
        info_row(f"speed-up vs inline fresh: {name} (x)", fresh / seconds)
        for name, seconds in modes.items()
    ]
    rows.append(tolerance_row("fastest full demo batch (s)", fastest, GOAL_SECONDS))
    rows += [
        info_row("one engine notebook, fresh kernel (s)", nb["fresh"]),
        info_row("one engine notebook, warm kernel (s)", nb["warm"]),
        info_row("the engine entry point called directly (s)", nb["direct"]),
        info_row("notebook overhead, fresh / direct (x)", nb["fresh"] / nb["direct"]),
        info_row("notebook overhead, warm / direct (x)", nb["warm"] / nb["direct"]),
    ]
    return (
        0
        if report(rows, title="batch: 3 demo portfolios x 9 engines + market data, HTML included")
        else 1
    )


if __name__ == "__main__":
    sys.exit(main())
