"""Benchmark: the snapshot engine with the notebook batch's backfill, layered vs per portfolio.

Run with ``python tests/benchmarks/bench_snapshot.py`` (``make bench``). On a freshly
seeded SQLite database (the 3 demo portfolios, offline data, as-of 2017-03-29, no
snapshot stored: every session of the window is written), times

* the layered snapshot with a backfill of
  :data:`~sigmasight_lib.notebook.SNAPSHOT_BACKFILL_SESSIONS` sessions for every
  portfolio (``layer_snapshot`` and its save), the security layer built beforehand
  with that backfill;
* ``run_snapshot(..., backfill=...)`` of each portfolio, one after the other (what the
  batch ran before the layered snapshot had a backfill).

Each is timed in a transaction rolled back afterwards, so every repeat writes the
whole window (median of 3). Goal: the layered snapshot at most 1.5 s.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

try:
    from ._harness import environment, info_row, measure, report, tolerance_row
    from .bench_batch import seeded_settings
except ImportError:  # run as a script
    from _harness import environment, info_row, measure, report, tolerance_row
    from bench_batch import seeded_settings

from sigmasight_lib.db import store
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.notebook import SNAPSHOT_BACKFILL_SESSIONS
from sigmasight_lib.params import load_engine_params
from sigmasight_lib.runs import run_snapshot
from sigmasight_lib.runs.portfolio_layer import layer_snapshot
from sigmasight_lib.runs.security_layer import SecurityLayer

GOAL_SECONDS = 1.5
BACKFILL = SNAPSHOT_BACKFILL_SESSIONS


def main() -> int:
    import datetime as dt

    print(environment())
    as_of, provider = dt.date(2017, 3, 29), OfflineSnapshotProvider()
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-") as tmp:
        settings = seeded_settings(Path(tmp))
        params = load_engine_params(settings.params_dir)
        with session_scope(settings) as session:
            ids = [p.id for p in store.load_portfolios(session)]
            build = measure(
                lambda: SecurityLayer.build(
                    session, provider, params, as_of, ids, snapshot_backfill=BACKFILL
                ),
                repeats=3,
            )
            plain = measure(
                lambda: SecurityLayer.build(session, provider, params, as_of, ids), repeats=3
            )
        layer = build.result

        def layered() -> int:
            with session_scope(settings) as session:
                written = layer_snapshot(layer, session, backfill=BACKFILL).save(session)
                session.rollback()
            return written

        def per_portfolio() -> int:
            return sum(
                run_snapshot(
                    settings, p, as_of, provider=provider, save=False, backfill=BACKFILL
                ).summary["written_days"]
                for p in ids
            )

        fast = measure(layered, repeats=3)
        slow = measure(per_portfolio, repeats=3, warmup=0)
    assert fast.result == slow.result == len(ids) * (BACKFILL + 1), (fast.result, slow.result)
    rows = [
        info_row("portfolios x days written", fast.result),
        info_row("security layer build, as-of only (s)", plain.median),
        info_row(f"security layer build, backfill {BACKFILL} (s)", build.median),
        info_row(f"run_snapshot x {len(ids)}, backfill {BACKFILL} (s)", slow.median),
        tolerance_row(
            f"layered snapshot + save, backfill {BACKFILL} (s)", fast.median, GOAL_SECONDS
        ),
    ]
    return 0 if report(rows, title=f"snapshot, backfill {BACKFILL}: 3 demo portfolios") else 1


if __name__ == "__main__":
    sys.exit(main())
