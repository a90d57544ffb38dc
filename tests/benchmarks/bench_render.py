"""Benchmark: the batch with notebooks rendering stored runs, and the dask render stage.

Run with ``python tests/benchmarks/bench_render.py`` (``make bench``); options
``--portfolios N`` (default 200) and ``--skip-demo`` / ``--skip-dask``.

1. The full demo batch (3 portfolios x 9 engines + market data + report, HTML
   included), each on its own freshly seeded SQLite database, measured in this run.
   The reference is papermill's default: the 31 notebooks executed one after the
   other by papermill's default engine (a fresh kernel per notebook), each computing
   its engine live (no stored run exists for the run id), each rendered to HTML —
   what ``batch run --executor inline --kernel fresh`` did before the layers. Against
   it, the batch as it runs now (``run_batch(executor="processes", workers=2)``: every
   engine through the layers first, stored; then the notebooks on 2 processes with
   warm kernels, rendering the stored runs). Goal: >= 8x. Also shown, without a goal:
   today's batch with papermill's default engine (``--executor inline --kernel
   fresh``: the layers, then fresh-kernel notebooks rendering the stored runs).
2. The render stage on dask: ``N`` synthetic portfolios (50 positions, seed 1) are
   computed and stored first (``run_batch(render="none", jobs=["valuation"])``, not
   timed); then each portfolio's valuation notebook (one per portfolio: it loads the
   stored run and writes the executed notebook and its HTML page) runs on a
   ``dask.distributed.LocalCluster`` of 1 worker, then of 2 workers (one thread each,
   warm kernels; cluster start-up included). Notebooks per second; goal: 2 workers
   >= 1.8x 1 worker.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

try:
    from ._harness import environment, info_row, report, speedup_row
except ImportError:  # run as a script
    from _harness import environment, info_row, report, speedup_row

from sigmasight_lib.batch.plan import MARKET_DATA_JOB, PORTFOLIO_JOBS
from sigmasight_lib.batch.runner import (
    JobOutcome,
    NotebookTask,
    _environment,
    _run_tasks,
    execute_job,
    page_title,
    run_batch,
    scoped_environ,
)
from sigmasight_lib.batch.tracking import start_run
from sigmasight_lib.db.models import Portfolio
from sigmasight_lib.db.session import dispose_engine, session_scope
from sigmasight_lib.marketdata import get_provider
from sigmasight_lib.marketdata.cache import sync_market_data

try:
    from .bench_batch import seeded_settings
except ImportError:  # run as a script
    from bench_batch import seeded_settings

AS_OF = dt.date(2017, 3, 29)
BATCH_GOAL = 8.0
DASK_GOAL = 1.8


def timed_demo_batch(**options: object) -> float:
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        settings = seeded_settings(Path(tmp))
        start = time.perf_counter()
        result = run_batch(settings, **options)
        seconds = time.perf_counter() - start
        dispose_engine(settings)
        if result.status != "succeeded":
            raise SystemExit(f"batch {options} did not succeed: {result.status}")
        return seconds


def timed_papermill_default() -> float:
    """Seconds for the reference of goal 1: sync, then every notebook in batch order by
    papermill's default engine, computing live (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        settings = seeded_settings(Path(tmp))
        outcomes = []
        start = time.perf_counter()
        provider = get_provider(settings)
        with session_scope(settings) as session:
            run_id = start_run(session, AS_OF, provider.name, {"reference": "papermill"}).id
            sync_market_data(session, provider, as_of=AS_OF)
            rows = [(p.id, p.name, p.slug) for p in session.query(Portfolio).order_by(Portfolio.id)]
        notebooks = [(None, "all portfolios", "market-data", MARKET_DATA_JOB)] + [
            (pid, name, slug, job) for pid, name, slug in rows for job in PORTFOLIO_JOBS
        ]
        with scoped_environ(_environment(settings)):
            for pid, name, slug, job in notebooks:
                outcomes.append(execute_job(
                    job, {"portfolio": pid, "as_of": AS_OF.isoformat(), "run_id": run_id},
                    settings.outputs_dir / AS_OF.isoformat() / slug, settings.notebooks_dir,
                    "fresh", title=page_title(job, name, AS_OF),
                ))  # fmt: skip
        seconds = time.perf_counter() - start
        dispose_engine(settings)
        failed = [
            (o.job, (o.error or {}).get("evalue")) for o in outcomes if o.status != "succeeded"
        ]
        if failed or len(outcomes) != 31:
            raise SystemExit(f"papermill default: {len(outcomes)} notebooks, failed: {failed}")
        return seconds


def dask_render(n_portfolios: int) -> dict[int, tuple[int, float]]:
    """workers -> (notebooks rendered, seconds) of the render stage."""
    from sigmasight_lib.portfolios.synthetic import generate_synthetic_portfolios, snapshot_universe
    from sigmasight_lib.portfolios.synthetic_store import save_synthetic

    figures = {}
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        settings = seeded_settings(Path(tmp))
        with session_scope(settings) as session:
            save_synthetic(
                session,
                generate_synthetic_portfolios(snapshot_universe(AS_OF), n_portfolios, 50, 1),
            )
            rows = [
                (p.id, p.name, p.slug)
                for p in session.query(Portfolio).filter(Portfolio.synthetic.is_(True))
            ]
        ids = [pid for pid, _, _ in rows]
        stored = run_batch(settings, portfolios=ids, jobs=["valuation"], render="none")
        if stored.status != "succeeded":
            raise SystemExit(f"layered valuation for {len(ids)} portfolios: {stored.status}")
        env = _environment(settings)
        for workers in (1, 2):
            tasks = [
                NotebookTask(stored.run_id, pid, name, f"{slug}-w{workers}", AS_OF,
                             "valuation", "warm", str(settings.outputs_dir), env)
                for pid, name, slug in rows
            ]  # fmt: skip
            done: list = []
            start = time.perf_counter()
            with scoped_environ(env):
                _run_tasks(tasks, "dask", workers, None, done.append,
                           lambda task, status, error: JobOutcome(
                               task.portfolio_id, task.job, status, error=error))  # fmt: skip
            seconds = time.perf_counter() - start
            ok = sum(1 for o in done if getattr(o, "status", None) == "succeeded")
            if ok != len(tasks):
                raise SystemExit(f"dask x{workers}: {ok} of {len(tasks)} notebooks succeeded")
            figures[workers] = (ok, seconds)
        dispose_engine(settings)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=200)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args(argv)
    print(environment())
    rows = []
    if not args.skip_demo:
        reference = timed_papermill_default()
        fresh = timed_demo_batch(executor="inline", kernel_mode="fresh")
        ours = timed_demo_batch(executor="processes", workers=2, kernel_mode="warm")
        rows += [
            info_row("demo batch, papermill default: 31 notebooks computing live (s)", reference),
            info_row("demo batch, layered + stored runs, inline, fresh kernels (s)", fresh),
            info_row("demo batch, layered + stored runs, processes x2, warm (s)", ours),
            speedup_row(
                "demo batch with HTML, ours vs papermill default",
                1 / ours,
                1 / reference,
                BATCH_GOAL,
                unit="/s",
            ),  # fmt: skip
        ]
    if not args.skip_dask:
        figures = dask_render(args.portfolios)
        rates = {w: n / s for w, (n, s) in figures.items()}
        for w, (n, s) in figures.items():
            rows.append(info_row(f"dask render stage, {w} worker(s): {n} notebooks (s)", s))
            rows.append(info_row(f"dask render stage, {w} worker(s) (notebooks/s)", rates[w]))
        rows.append(speedup_row("dask render stage, 2 workers vs 1", rates[2], rates[1], DASK_GOAL))
    return 0 if report(rows, title="render: stored runs, warm kernels, dask") else 1


if __name__ == "__main__":
    sys.exit(main())
