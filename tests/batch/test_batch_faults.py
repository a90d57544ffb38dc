"""Issue 12 items 8 and 10: portfolios by id in batches and resume; batch bookkeeping
that survives a locked database, a dead process and a broken worker."""

from __future__ import annotations

import datetime as dt
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
    first = run_batch(settings, portfolios=[ann, bob], jobs=["valuation", "greeks"],
                      kernel_mode="fresh")  # fmt: skip
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
    resumed = run_batch(settings, resume=first.run_id, kernel_mode="fresh")  # today: blocked
    assert resumed.status == "succeeded"
    assert {(o.portfolio_id, o.job) for o in resumed.outcomes} == {(ann, "greeks"), (bob, "greeks")}


def test_ambiguous_name_lists_the_candidates(sqlite_demo_db, monkeypatch, capsys):
    ann, bob = _two_cores(sqlite_demo_db)
    run = cli_runner(sqlite_demo_db, monkeypatch, capsys)
    code, out, err = run("portfolio", "show", "core")
    assert code == 1
    assert err == (
        f"error: portfolio name 'core' matches 2 portfolios (id {ann}: Core (ann@example.com); "
        f"id {bob}: Core (bob@example.com)); use the id\n"
    )
    code, out, err = run("portfolio", "show", str(bob))
    assert code == 0 and "bob@example.com" in out
