"""Benchmark: all nine engines for 1,000 synthetic portfolios × 50 positions, no notebooks.

Run with ``python tests/benchmarks/bench_scale.py`` (``make bench``). On a temporary
SQLite database with offline market data (as-of 2017-03-29):

* **per-portfolio path**: the nine ``run_<engine>`` (``save=True``) for a sample of
  25 portfolios, one after the other — today's cost per portfolio;
* **layered path**: :class:`~sigmasight_lib.runs.security_layer.SecurityLayer` of
  all 1,000 portfolios, then each engine of
  :data:`~sigmasight_lib.runs.portfolio_layer.LAYER_ENGINES` for all of them
  (saved in bulk), each timed (compute and save);
* **layered batch**: ``sigmasight batch run --all --render none`` as a user runs it
  (``run_batch(render="none")``: market data, the security layer, all nine engines,
  job rows, the reports of the real portfolios), end to end.

Goals: the layered path for 1,000 portfolios in at most 60 s, and at least 40× the
per-portfolio throughput measured in the same run. Exit status 1 when a goal fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

try:
    from ._harness import Row, environment, info_row, offline_sqlite_settings, report, speedup_row
except ImportError:  # run as a script
    from _harness import Row, environment, info_row, offline_sqlite_settings, report, speedup_row

from sigmasight_lib.db import store
from sigmasight_lib.db.session import session_scope, upgrade
from sigmasight_lib.engines import ENGINE_ORDER
from sigmasight_lib.marketdata.cache import sync_market_data
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.params import load_engine_params
from sigmasight_lib.portfolios.demo import seed_factor_definitions
from sigmasight_lib.portfolios.synthetic import generate_synthetic_portfolios, snapshot_universe
from sigmasight_lib.portfolios.synthetic_store import save_synthetic
from sigmasight_lib.runs import ENGINE_RUNNERS
from sigmasight_lib.runs.inputs import load_scenario_set
from sigmasight_lib.runs.portfolio_layer import LAYER_ENGINES
from sigmasight_lib.runs.security_layer import SecurityLayer

AS_OF = dt.date(2017, 3, 29)
PORTFOLIOS = 1_000
POSITIONS = 50
SAMPLE = 25
GOAL_SECONDS = 60.0
GOAL_SPEEDUP = 40.0


def build(folder: Path, portfolios: int):  # noqa: ANN201
    settings = offline_sqlite_settings(folder)
    upgrade(settings)
    with session_scope(settings) as session:
        seed_factor_definitions(session, settings.params_dir)
        sync_market_data(session, OfflineSnapshotProvider(), as_of=AS_OF)
        synthetic = generate_synthetic_portfolios(
            snapshot_universe(AS_OF), portfolios, POSITIONS, seed=1
        )
        save_synthetic(session, synthetic)
    return settings


def per_portfolio(settings, ids: list[int]) -> dict[str, float]:  # noqa: ANN001
    """Seconds per engine of ``run_<engine>`` over ``ids`` (saving)."""
    provider = OfflineSnapshotProvider()
    seconds = dict.fromkeys(ENGINE_ORDER, 0.0)
    for pid in ids:
        for engine in ENGINE_ORDER:
            start = time.perf_counter()
            ENGINE_RUNNERS[engine](settings, pid, AS_OF, provider=provider)
            seconds[engine] += time.perf_counter() - start
    return seconds


def layered(settings, ids: list[int]) -> dict[str, float]:  # noqa: ANN001
    """Seconds of the security layer and of each layered engine (compute + bulk save)."""
    provider, params = OfflineSnapshotProvider(), load_engine_params(settings.params_dir)
    seconds = {}
    start = time.perf_counter()
    with session_scope(settings) as session:
        layer = SecurityLayer.build(
            session, provider, params, AS_OF, ids,
            scenario_set=load_scenario_set(settings.params_dir),
        )  # fmt: skip
    seconds["security layer"] = time.perf_counter() - start
    for engine, fn in LAYER_ENGINES.items():
        start = time.perf_counter()
        with session_scope(settings) as session:
            result = fn(layer, session)
            result.save(session)
        seconds[engine] = time.perf_counter() - start
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--portfolios", type=int, default=PORTFOLIOS)
    args = parser.parse_args(argv)
    n = args.portfolios
    print(environment())
    with tempfile.TemporaryDirectory(prefix="sigmasight-scale-") as tmp:
        started = time.perf_counter()
        settings = build(Path(tmp), n)
        print(
            f"{n} x {POSITIONS} synthetic portfolios built in {time.perf_counter() - started:.1f} s"
        )
        with session_scope(settings) as session:
            ids = [p.id for p in store.load_portfolios(session)]
        sample = ids[:SAMPLE]
        slow = per_portfolio(settings, sample)
        slow_total = sum(slow.values())
        fast = layered(settings, ids)
        from sigmasight_lib.batch.runner import run_batch

        start = time.perf_counter()
        result = run_batch(settings, as_of=AS_OF, jobs=list(ENGINE_ORDER), render="none")
        layered_total = time.perf_counter() - start
        label = "layered batch, measured"
        if result.failed:
            print(f"{len(result.failed)} jobs failed", file=sys.stderr)
            return 1
    rows: list[Row] = [
        info_row(f"per-portfolio {engine} ({len(sample)} portfolios)", slow[engine], "s")
        for engine in ENGINE_ORDER
    ]
    rows += [
        info_row(f"layered {name} ({len(ids)} portfolios)", s, "s") for name, s in fast.items()
    ]
    layered_only = sum(fast.values())
    rows += [
        info_row(
            f"layered engines only ({', '.join(LAYER_ENGINES)}): portfolios/s",
            len(ids) / layered_only,
            "/s",
        ),  # fmt: skip
        speedup_row(
            f"layered engines vs the same engines per portfolio ({', '.join(LAYER_ENGINES)})",
            len(ids) / layered_only,
            len(sample) / sum(slow[e] for e in LAYER_ENGINES),
            GOAL_SPEEDUP,
        ),
        Row(
            f"all nine engines, {len(ids)} portfolios ({label})",
            layered_total,
            None,
            GOAL_SECONDS,
            at_least=False,
            unit="s",
        ),  # fmt: skip
        speedup_row(
            f"all nine engines: portfolios/s vs per-portfolio ({label})",
            len(ids) / layered_total,
            len(sample) / slow_total,
            GOAL_SPEEDUP,
        ),
    ]
    return 0 if report(rows, title=f"scale: {len(ids)} x {POSITIONS} positions") else 1


if __name__ == "__main__":
    sys.exit(main())
