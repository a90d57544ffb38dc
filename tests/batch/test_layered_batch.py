"""``run_batch(render="none")``: every engine for every portfolio without notebooks."""

from __future__ import annotations

from sqlalchemy import func, select

from sigmasight_lib.batch.plan import PORTFOLIO_JOBS
from sigmasight_lib.batch.runner import run_batch
from sigmasight_lib.db.models import BatchJob, PositionFactorExposure, PositionValuation
from sigmasight_lib.db.session import session_scope


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
