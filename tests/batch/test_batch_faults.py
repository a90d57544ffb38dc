"""Issue 12 items 8 and 10: portfolios by id in batches and resume; batch bookkeeping
that survives a locked database, a dead process and a broken worker."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from sigmasight_lib.batch.plan import NOTEBOOKS
from sigmasight_lib.batch.runner import run_batch
from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.models import BatchRun, Portfolio, PositionValuation
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.portfolios.positions import make_position_spec
from sigmasight_lib.portfolios.service import write_portfolio
from tests.batch.test_batch import break_notebook, jobs_of
from tests.conftest import cli_runner

AS_OF = dt.date(2017, 3, 29)


@pytest.fixture
def notebooks_copy(tmp_path) -> Path:
    target = tmp_path / "notebooks"
    shutil.copytree(REPO_DIR / "notebooks", target)
    return target


def _two_cores(settings) -> tuple[int, int]:  # noqa: ANN001
    """Two owners' portfolios both named "Core"."""
    with session_scope(settings) as session:
        for owner, symbol in (("ann@example.com", "KO"), ("bob@example.com", "PEP")):
            write_portfolio(session, name="Core", owner_email=owner,
                            positions=[make_position_spec(symbol, 10, entry_price=40.0,
                                                          entry_date=AS_OF)])  # fmt: skip
        ids = session.scalars(
            sa.select(Portfolio.id).where(Portfolio.name == "Core").order_by(Portfolio.id)
        ).all()
    return ids[0], ids[1]


def test_same_named_portfolios_of_two_owners_batch_and_resume(sqlite_demo_db, notebooks_copy):
    ann, bob = _two_cores(sqlite_demo_db)
    settings = replace(sqlite_demo_db, notebooks_dir=notebooks_copy)
    break_notebook(notebooks_copy, "greeks")
    first = run_batch(settings, portfolios=[ann, bob], jobs=["valuation", "greeks"])
    jobs = jobs_of(settings, first.run_id)
    assert jobs[(ann, "valuation")].status == "succeeded"  # today: ambiguous name "Core"
    assert jobs[(bob, "valuation")].status == "succeeded"
    assert jobs[(ann, "greeks")].status == "failed"
    with session_scope(settings) as session:
        run = session.get(BatchRun, first.run_id)
        assert run.parameters["portfolios"] == [ann, bob]
        assert run.parameters["portfolio_names"] == ["Core", "Core"]
        valued = set(session.scalars(sa.select(PositionValuation.portfolio_id).distinct()))
    assert valued == {ann, bob}

    shutil.copy(REPO_DIR / "notebooks" / NOTEBOOKS["greeks"], notebooks_copy / NOTEBOOKS["greeks"])
    resumed = run_batch(settings, resume=first.run_id)  # today: blocked
    assert resumed.status == "succeeded"
    assert {(o.portfolio_id, o.job) for o in resumed.outcomes} == {(ann, "greeks"), (bob, "greeks")}


def test_ambiguous_name_lists_the_candidates(demo_db, monkeypatch, capsys):
    ann, bob = _two_cores(demo_db)
    run = cli_runner(demo_db, monkeypatch, capsys)
    code, out, err = run("portfolio", "show", "core")
    assert code == 1
    assert err == (
        f"error: portfolio name 'core' matches 2 portfolios (id {ann}: Core (ann@example.com); "
        f"id {bob}: Core (bob@example.com)); use the id\n"
    )
    code, out, err = run("portfolio", "show", str(bob))
    assert code == 0 and "bob@example.com" in out


# --------------------------------------------------------------------------- item 10

BALANCED = "Balanced Individual Investor"


def _locked() -> sa.exc.OperationalError:
    import sqlite3

    return sa.exc.OperationalError(
        "UPDATE batch_jobs", {}, sqlite3.OperationalError("database is locked")
    )


def test_transient_lock_in_job_tracking_is_retried(sqlite_demo_db, monkeypatch, caplog):
    from sigmasight_lib.batch import runner, tracking

    monkeypatch.setattr(tracking, "RETRY_FIRST_DELAY_SECONDS", 0.01)
    real, failures = runner.upsert_job, []

    def flaky(session, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if len(failures) < 3:  # the first three writes meet a lock held past the busy timeout
            failures.append(args)
            raise _locked()
        return real(session, *args, **kwargs)

    monkeypatch.setattr(runner, "upsert_job", flaky)
    result = run_batch(sqlite_demo_db, portfolios=[BALANCED], jobs=["valuation"])
    assert result.status == "succeeded"  # today: OperationalError crashes the run
    assert len(failures) == 3
    assert "database locked, try 2 of 6" in caplog.text
    assert {j.status for j in jobs_of(sqlite_demo_db, result.run_id).values()} == {"succeeded"}


def test_record_waits_out_a_real_lock(sqlite_demo_db, monkeypatch):
    import sqlite3
    import threading

    from sigmasight_lib.batch import tracking

    monkeypatch.setenv("SIGMASIGHT_DB_BUSY_TIMEOUT", "0.05")
    monkeypatch.setattr(tracking, "RETRY_FIRST_DELAY_SECONDS", 0.1)
    holder = sqlite3.connect(sqlite_demo_db.database_url.database, isolation_level=None,
                             check_same_thread=False)  # fmt: skip
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(0.3, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        run_id = tracking.record(
            sqlite_demo_db, lambda s: tracking.start_run(s, AS_OF, "offline", {}).id
        )
    finally:
        release.join()
        holder.close()
    with session_scope(sqlite_demo_db) as session:
        assert session.get(BatchRun, run_id).status == "running"


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_run_whose_process_died_shows_interrupted(db_settings, monkeypatch, capsys):
    import json
    import socket

    now = dt.datetime.now(dt.UTC)
    with session_scope(db_settings) as session:
        rows = [  # (pid, host, heartbeat)
            BatchRun(as_of=AS_OF, status="running", pid=_dead_pid(), host=socket.gethostname(),
                     heartbeat_at=now, parameters={}),  # killed here
            BatchRun(as_of=AS_OF, status="running", pid=1, host="elsewhere",
                     heartbeat_at=now - dt.timedelta(hours=3), parameters={}),  # silent elsewhere
            BatchRun(as_of=AS_OF, status="running", pid=1, host="elsewhere",
                     heartbeat_at=now - dt.timedelta(minutes=5), parameters={}),  # alive elsewhere
            BatchRun(as_of=AS_OF, status="running", pid=os.getpid(), host=socket.gethostname(),
                     heartbeat_at=now, parameters={}),  # this process
            BatchRun(as_of=AS_OF, status="running", pid=os.getpid(), host=socket.gethostname(),
                     heartbeat_at=now - dt.timedelta(hours=3), parameters={}),  # pid reused
            BatchRun(as_of=AS_OF, status="partial", pid=_dead_pid(), host=socket.gethostname(),
                     heartbeat_at=now, parameters={}),  # finished: kept
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        ids = [r.id for r in rows]
    run = cli_runner(db_settings, monkeypatch, capsys)
    code, out, _ = run("batch", "history", "--json")
    assert code == 0
    shown = {r["run_id"]: r["status"] for r in json.loads(out)}
    assert [shown[i] for i in ids] == [
        "interrupted",
        "interrupted",
        "running",
        "running",
        "interrupted",
        "partial",
    ]
    code, out, _ = run("batch", "status", "--run", str(ids[0]), "--json")
    assert json.loads(out)["status"] == "interrupted"


def test_missing_notebook_fails_its_job_not_the_run(sqlite_demo_db, notebooks_copy):
    settings = replace(sqlite_demo_db, notebooks_dir=notebooks_copy)
    (notebooks_copy / NOTEBOOKS["greeks"]).unlink()
    result = run_batch(
        settings,
        portfolios=[BALANCED],
        jobs=["valuation", "greeks", "correlations"],
    )  # fmt: skip   today: FileNotFoundError ends the run
    assert result.status == "partial"
    jobs = jobs_of(settings, result.run_id)
    assert jobs[(1, "valuation")].status == "succeeded"
    assert jobs[(1, "correlations")].status == "succeeded"
    failed = jobs[(1, "greeks")]
    assert failed.status == "failed"
    assert failed.error["ename"] == "FileNotFoundError"
    assert NOTEBOOKS["greeks"] in failed.error["evalue"]
    with session_scope(settings) as session:
        assert session.get(BatchRun, result.run_id).status == "partial"


def test_worker_crash_fails_its_portfolio_jobs_not_the_run(sqlite_demo_db, monkeypatch):
    from sigmasight_lib.batch import runner

    real = runner.run_notebook_task

    def crash_for_hnw(task):  # noqa: ANN001, ANN202
        if task.portfolio_id == 2:
            raise MemoryError("worker out of memory")
        return real(task)

    monkeypatch.setattr(runner, "run_notebook_task", crash_for_hnw)
    result = run_batch(sqlite_demo_db, portfolios=[BALANCED, "Sophisticated High Net Worth"],
                       jobs=["valuation"])  # fmt: skip
    assert result.status == "partial"
    jobs = jobs_of(sqlite_demo_db, result.run_id)
    assert jobs[(1, "valuation")].status == "succeeded"
    assert jobs[(2, "valuation")].status == "failed"
    assert jobs[(2, "valuation")].error["evalue"] == "worker out of memory"


def test_schedule_once_exits_non_zero_when_jobs_fail(tmp_path, monkeypatch):
    import sys
    import types

    from click.testing import CliRunner

    from sigmasight_lib.batch import schedule as schedule_module

    (tmp_path / "schedule.yaml").write_text('cron: "30 17 * * 1-5"\n')
    failed = types.SimpleNamespace(portfolio_id=1, job="greeks", status="failed")

    def run_batch_stub(settings, **kwargs):  # noqa: ANN001, ANN003, ANN202
        return types.SimpleNamespace(run_id=7, status="partial", failed=[failed])

    fake_runner = types.ModuleType("sigmasight_lib.batch.runner")
    fake_runner.run_batch = run_batch_stub
    monkeypatch.setitem(sys.modules, "sigmasight_lib.batch.runner", fake_runner)
    monkeypatch.setattr(schedule_module, "skip_reason", lambda _day: None)  # any day fires
    settings = types.SimpleNamespace(params_dir=tmp_path)
    result = CliRunner().invoke(schedule_module.schedule_command, ["--once"],
                                obj={"settings": settings})  # fmt: skip
    assert result.exit_code == 1, result.output  # today: 0
    assert "finished (run_id 7, status partial)" in result.output
    assert "error: 1 job(s) failed; see `sigmasight batch status`" in result.output
