"""``run_batch(render="none")``: every engine for every portfolio without notebooks."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from sigmasight_lib.batch.layered import run_layered
from sigmasight_lib.batch.plan import PORTFOLIO_JOBS
from sigmasight_lib.batch.runner import run_batch
from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    BatchJob,
    BatchRun,
    PortfolioSnapshot,
    PositionFactorExposure,
    PositionValuation,
    StoredEngineRun,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.calendar import sessions_window
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.runs import ENGINE_RUNNERS


def test_render_none_runs_every_job_and_records_them(sqlite_demo_db) -> None:  # noqa: ANN001
    result = run_batch(sqlite_demo_db, render="none")
    assert result.status == "succeeded", result.failed
    assert len(result.outcomes) == 1 + 3 * len(PORTFOLIO_JOBS)
    with session_scope(sqlite_demo_db) as session:
        jobs = session.scalars(select(BatchJob).where(BatchJob.batch_run_id == result.run_id)).all()
        assert {j.status for j in jobs} == {"succeeded"}
        assert len(jobs) == 1 + 3 * len(PORTFOLIO_JOBS)
        for model in (PositionValuation, PositionFactorExposure):
            stamped = session.scalar(
                select(func.count()).where(model.batch_run_id == result.run_id)
            )
            assert stamped > 0
    assert not list(sqlite_demo_db.outputs_dir.rglob("*.ipynb"))
    assert list(sqlite_demo_db.outputs_dir.rglob("report.json"))


def test_render_none_rerun_replaces_results(sqlite_demo_db) -> None:  # noqa: ANN001
    run_batch(sqlite_demo_db, render="none", jobs=["valuation", "factors"])
    with session_scope(sqlite_demo_db) as session:
        first = session.scalar(select(func.count()).select_from(PositionFactorExposure))
    run_batch(sqlite_demo_db, render="none", jobs=["valuation", "factors"])
    with session_scope(sqlite_demo_db) as session:
        assert session.scalar(select(func.count()).select_from(PositionFactorExposure)) == first


def test_a_snapshot_backfill_runs_through_the_layers(sqlite_demo_db, monkeypatch) -> None:  # noqa: ANN001
    """``run_layered`` with a snapshot backfill (what the notebook batch passes) writes every
    session of the window for every portfolio through the layered snapshot, stamped with
    the run; ``run_snapshot`` is not called."""

    def per_portfolio(*args, **kwargs) -> None:  # noqa: ANN002, ANN003
        raise AssertionError("run_snapshot ran per portfolio")

    monkeypatch.setitem(ENGINE_RUNNERS, "snapshot", per_portfolio)
    as_of, backfill = dt.date(2017, 3, 29), 5
    with session_scope(sqlite_demo_db) as session:
        ids = [p.id for p in store.load_portfolios(session)]
        run = BatchRun(as_of=as_of)
        session.add(run)
        session.flush()
        run_id = run.id
    outcomes = run_layered(
        sqlite_demo_db, OfflineSnapshotProvider(), as_of, run_id,
        {p: ("snapshot",) for p in ids}, ["snapshot"], snapshot_backfill=backfill,
    )  # fmt: skip
    assert {status for status, _, _ in outcomes.values()} == {"succeeded"}
    window = sessions_window(as_of, backfill + 1)
    with session_scope(sqlite_demo_db) as session:
        for pid in ids:
            rows = session.scalars(
                select(PortfolioSnapshot).where(PortfolioSnapshot.portfolio_id == pid)
            ).all()
            assert sorted(r.as_of for r in rows) == window
            assert {r.batch_run_id for r in rows} == {run_id}
        stored = session.scalars(
            select(StoredEngineRun).where(StoredEngineRun.batch_run_id == run_id)
        ).all()
        assert sorted(r.portfolio_id for r in stored) == ids
        assert {r.summary["written_days"] for r in stored} == {backfill + 1}
