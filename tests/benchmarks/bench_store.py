"""Benchmark: bulk result writes, ``store.replace_results_many`` before and after the
driver-level writer (SQLite ``executemany`` of tuples, PostgreSQL ``COPY``).

Run with ``python tests/benchmarks/bench_store.py`` (``make bench``). Writes 300,000
position factor-exposure rows (1,000 portfolios × 50 positions × 6 factors) and
50,000 position valuation rows (1,000 × 50), each replacing the rows of the previous
run (one DELETE per chunk of portfolios, inserts, commit), on a temporary SQLite
database and on PostgreSQL (``pgserver``, as ``tests/conftest.py`` starts it; skipped
when it cannot start, or with ``--no-postgres``).

Before: SQLAlchemy Core executemany of dicts, 5,000 rows per call (the store until
this change, kept below as :func:`replace_before`). The ratio is printed without a
goal (issue 15 sets none for bulk writes): the ≥ 4× once set here rested on a 4.9×
measured while another job shared the cores and slowed the reference more; on a quiet
machine the writer of that commit and today's both measure 3.0–3.3× on SQLite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

try:
    from ._harness import Row, environment, info_row, measure, offline_sqlite_settings, report
except ImportError:  # run as a script
    from _harness import Row, environment, info_row, measure, offline_sqlite_settings, report

from sigmasight_lib.config import REPO_DIR, load_settings, parse_database_url
from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    FactorDefinition,
    Owner,
    Portfolio,
    Position,
    PositionFactorExposure,
    PositionValuation,
)
from sigmasight_lib.db.session import dispose_engine, session_scope, upgrade
from sigmasight_lib.engines.valuation import VALUATION_COLUMNS

AS_OF = dt.date(2017, 3, 29)
PORTFOLIOS = 1_000
POSITIONS = 50
FACTORS = 6
TEXT_COLUMNS = ("price_source", "expired", "reason")


def replace_before(session, model, as_of, portfolio_ids, rows, batch_run_id=None) -> int:  # noqa: ANN001
    """``replace_results_many`` before the bulk writer (the reference)."""
    ids = sorted({int(i) for i in portfolio_ids})
    for start in range(0, len(ids), store.IN_CHUNK):
        session.execute(
            sa.delete(model).where(
                model.portfolio_id.in_(ids[start : start + store.IN_CHUNK]), model.as_of == as_of
            )
        )
    records = store.result_records(rows)
    extra = {"as_of": as_of, "batch_run_id": batch_run_id, "computed_at": dt.datetime.now(dt.UTC)}
    for r in records:
        r.update(extra)
    for start in range(0, len(records), store.EXECUTEMANY_ROWS):
        session.execute(sa.insert(model), records[start : start + store.EXECUTEMANY_ROWS])
    return len(records)


def seed(settings) -> tuple[list[int], list[int], list[int]]:  # noqa: ANN001
    """Portfolios, positions and factors for the foreign keys (ids)."""
    upgrade(settings)
    with session_scope(settings) as session:
        owner = Owner(email="bench@example.com")
        session.add(owner)
        session.flush()
        store.bulk_insert(
            session,
            Portfolio,
            pd.DataFrame({"name": [f"B{i}" for i in range(PORTFOLIOS)]}).assign(
                slug=lambda f: f["name"].str.lower(), owner_id=owner.id
            ),
        )
        pids = session.scalars(sa.select(Portfolio.id).order_by(Portfolio.id)).all()
        positions = pd.DataFrame(
            {"portfolio_id": np.repeat(pids, POSITIONS), "symbol": "AAPL", "underlying": "AAPL"}
        ).assign(position_type="LONG", quantity=10.0)
        store.bulk_insert(session, Position, positions)
        pos = session.scalars(sa.select(Position.id).order_by(Position.id)).all()
        store.bulk_insert(
            session,
            FactorDefinition,
            pd.DataFrame({"name": [f"F{i}" for i in range(FACTORS)], "factor_type": "style"}),
        )
        fids = session.scalars(sa.select(FactorDefinition.id).order_by(FactorDefinition.id)).all()
    return list(pids), list(pos), list(fids)


def frames(pids: list[int], pos: list[int], fids: list[int]) -> dict[type, pd.DataFrame]:
    rng = np.random.default_rng(1)
    n = len(pos)
    owner = np.repeat(pids, POSITIONS)
    valuation = pd.DataFrame(
        {"portfolio_id": owner, "position_id": pos}
        | {c: rng.normal(100, 10, n) for c in VALUATION_COLUMNS if c not in TEXT_COLUMNS}
        | {"price_source": "market", "expired": False, "reason": None}
    )
    m = n * len(fids)
    exposures = pd.DataFrame(
        {
            "portfolio_id": np.repeat(owner, len(fids)),
            "position_id": np.repeat(pos, len(fids)),
            "factor_id": np.tile(fids, n),
            "beta": rng.normal(1, 0.3, m),
            "beta_uncapped": rng.normal(1, 0.3, m),
            "t_stat": rng.normal(3, 1, m),
            "exposure_usd": rng.normal(1e4, 1e3, m),
            "r_squared": rng.uniform(0, 1, m),
            "observations": 250,
            "capped": False,
            "reason": None,
        }
    )
    return {PositionFactorExposure: exposures, PositionValuation: valuation}


def bench(settings, label: str, repeats: int) -> list[Row]:  # noqa: ANN001
    pids, pos, fids = seed(settings)
    rows: list[Row] = []
    for model, frame in frames(pids, pos, fids).items():

        def write(fn, model=model, frame=frame):  # noqa: ANN001, ANN202
            with session_scope(settings) as session:
                return fn(session, model, AS_OF, pids, frame)

        before = measure(lambda w=write: w(replace_before), repeats=repeats)
        after = measure(lambda w=write: w(store.replace_results_many), repeats=repeats)
        name = f"{label} {model.__tablename__} ({len(frame):,} rows)"
        rows.append(Row(f"{name}, rows/s", len(frame) / after.median,
                        len(frame) / before.median, None, unit="/s"))  # fmt: skip
        rows.append(info_row(f"{name}, seconds after", after.median, "s"))
        rows.append(info_row(f"{name}, seconds before", before.median, "s"))
    return rows


def postgres_settings(folder: Path):  # noqa: ANN201
    """A new database on a pgserver started in ``folder`` (None when it cannot start)."""
    try:
        import pgserver

        server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 (depends on the machine)
        print(f"PostgreSQL skipped: {exc}")
        return None, None
    admin = parse_database_url(server.get_uri())
    name = f"sigmasight_bench_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    url = admin.set(database=name).render_as_string(hide_password=False)
    settings = load_settings({
        "SIGMASIGHT_DATABASE_URL": url,
        "SIGMASIGHT_OUTPUTS_DIR": str(folder / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(REPO_DIR / "params"),
        "SIGMASIGHT_MARKET_DATA": "offline",
    })  # fmt: skip
    return settings, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(environment())
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sigmasight-store-") as tmp:
        settings = offline_sqlite_settings(Path(tmp))
        rows += bench(settings, "sqlite", args.repeats)
        dispose_engine(settings)
        if not args.no_postgres:
            pg, server = postgres_settings(Path(tmp))
            if pg is not None:
                try:
                    rows += bench(pg, "postgresql", args.repeats)
                finally:
                    dispose_engine(pg)
                    server.cleanup()
    return 0 if report(rows, title="bulk result writes (replace_results_many)") else 1


if __name__ == "__main__":
    raise SystemExit(main())
