"""The papermill batch end to end: artifacts, failure isolation, reruns, resume, lock,
secrets, HTML escaping and the executors."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import sqlalchemy as sa

from sigmasight_lib.batch.plan import NOTEBOOKS
from sigmasight_lib.batch.runner import run_batch, validate_parameters
from sigmasight_lib.batch.tracking import BatchLockedError, batch_lock
from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.models import (
    BatchJob,
    BatchRun,
    PositionGreeks,
    PositionValuation,
    StressResult,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.portfolios.positions import make_position_spec
from sigmasight_lib.portfolios.service import write_portfolio
from tests.conftest import DemoBatch, break_notebook
from tests.reporting.test_display import find_reprs

AS_OF = dt.date(2017, 3, 29)
BALANCED = "Balanced Individual Investor"
HNW = "Sophisticated High Net Worth"
HEDGE_FUND = "Long/Short Hedge Fund Style"
FAST_JOBS = ["valuation", "greeks", "exposures", "factors", "correlations"]


@pytest.fixture
def notebooks_copy(tmp_path) -> Path:
    """A private copy of the notebooks that a test may break."""
    target = tmp_path / "notebooks"
    shutil.copytree(REPO_DIR / "notebooks", target)
    return target


def jobs_of(settings, run_id: int) -> dict[tuple[int | None, str], BatchJob]:
    with session_scope(settings) as session:
        return {(j.portfolio_id, j.job_name): j for j in session.scalars(
            sa.select(BatchJob).where(BatchJob.batch_run_id == run_id))}  # fmt: skip


def test_full_batch_writes_notebooks_html_and_index(demo_batch: DemoBatch):
    result, rerun = demo_batch.run, demo_batch.rerun
    assert result.status == "succeeded", [o for o in result.outcomes if o.status != "succeeded"]
    out = demo_batch.portfolio_dir
    for job, notebook in NOTEBOOKS.items():
        if job == "market_data":
            continue
        executed = out / "notebooks" / notebook
        html = (out / "html" / notebook).with_suffix(".html")
        assert executed.exists() and html.exists()
        page = html.read_text(encoding="utf-8")
        assert "<script" not in page.lower()  # opens from disk, no CDN
        assert "run_engine(" not in page  # code hidden
        params = [
            c
            for c in nbformat.read(executed, as_version=4).cells
            if "injected-parameters" in c.metadata.get("tags", [])
        ]
        run_id = rerun.run_id if job == "valuation" else result.run_id  # the rerun's own
        assert params and f"run_id = {run_id}" in params[0].source
    for name in ("report.md", "report.json", "positions.csv", "report.html"):
        assert (out / name).exists(), name  # the batch's last step
    with session_scope(demo_batch.settings) as session:
        run = session.get(BatchRun, result.run_id)
        assert run.code_version and len(run.market_data_hash) == 64
        assert run.parameters["portfolios"] == [1, 3]  # ids (issue 12 item 8)
        assert run.parameters["portfolio_names"] == [BALANCED, HEDGE_FUND]
        rows = session.scalars(
            sa.select(PositionValuation.batch_run_id).where(PositionValuation.portfolio_id == 1)
        ).all()
        assert rows and set(rows) == {rerun.run_id}  # the rerun replaced the batch's rows
    # no Python repr reaches a render (issue 14): every HTML the batch wrote, both portfolios
    outputs = demo_batch.settings.outputs_dir
    pages = sorted(outputs.rglob("*.html"))
    assert len(pages) >= 2 * 10 + 2, pages  # renders, report.html, market data, index
    leaks = {str(p.relative_to(outputs)): find_reprs(p.read_text("utf-8"))
             for p in pages}  # fmt: skip
    assert {p: f for p, f in leaks.items() if f} == {}
    # a long table shows its first rows and links the full CSV beside the render
    hf = outputs / "2017-03-29" / "long-short-hedge-fund-style"
    stress = (hf / "html" / "06_stress.html").read_text(encoding="utf-8")
    assert 'href="../tables/stress_by_position.csv"' in stress and " more)" in stress
    assert (hf / "tables" / "stress_by_position.csv").read_text("utf-8").count("\n") > 100
    # a partial rerun replaces only its engines' cells: the others keep their renders
    assert rerun.status == "succeeded"
    index = rerun.index_html.read_text(encoding="utf-8")
    assert "Balanced Individual Investor" in index and "html/01_valuation.html" in index
    assert "balanced-individual-investor/report.html" in index
    assert "balanced-individual-investor/positions.csv" in index
    row = next(r for r in index.split("<tr>") if "Balanced Individual Investor" in r)
    assert "html/06_stress.html" in row and "html/01_valuation.html" in row
    assert f"(run {rerun.run_id})" in row and f"(run {result.run_id})" in row
    assert row.index("report.html") < row.index("html/01_valuation.html")  # report first
    assert "<dt>net value</dt><dd>$" in row and "<dt>VaR 95</dt><dd>$" in row


@pytest.mark.slow
def test_batch_at_a_later_as_of_succeeds_with_na_reasons(sqlite_demo_db):
    # 2020-02-19 offline: SPY ended 2018-04-27 (the S&P 500 index stands for the market,
    # as params/factors.yaml lists it), the treasury curve 2017-03-29, WTI and VIX
    # 2019-01-03, every demo option has expired
    day = dt.date(2020, 2, 19)
    hf = "Long/Short Hedge Fund Style"
    result = run_batch(sqlite_demo_db, portfolios=[hf], as_of=day, kernel_mode="warm")
    assert result.status == "succeeded", [o for o in result.outcomes if o.status != "succeeded"]
    report = json.loads(
        (sqlite_demo_db.outputs_dir / "2020-02-19" / "long-short-hedge-fund-style" / "report.json")
        .read_text(encoding="utf-8")
    )  # fmt: skip
    assert report["market_risk"]["market_proxy"] == "^GSPC"
    assert report["market_risk"]["rate_reason"] == (  # N/A, not a stale yield used as current
        "proxy UST:10y: last observation 2017-03-29, 727 sessions before as-of"
    )
    assert report["market_risk"]["rates_up_50bp"] is None
    markdown = (sqlite_demo_db.outputs_dir / "2020-02-19" / "long-short-hedge-fund-style"
                / "report.md").read_text(encoding="utf-8")  # fmt: skip
    assert "(N/A: proxy UST:10y: last observation 2017-03-29" in markdown
    assert "market proxy ^GSPC" in markdown
    with session_scope(sqlite_demo_db) as session:
        notes = [n for d in session.scalars(sa.select(StressResult.details)) for n in d["notes"]]
    assert any(n.startswith("Volatility: proxy ^VIX: last observation 2019-01-03") for n in notes)


def test_failing_notebook_is_isolated_and_resume_reruns_only_what_failed(
    sqlite_demo_db, notebooks_copy
):
    settings = replace(sqlite_demo_db, notebooks_dir=notebooks_copy)
    break_notebook(notebooks_copy, "exposures")
    first = run_batch(settings, portfolios=[BALANCED, HNW], jobs=FAST_JOBS)
    assert first.status == "partial"
    index = first.index_html.read_text(encoding="utf-8")  # failures with their error text
    assert "<li>exposures: RuntimeError: forced failure for the test</li>" in index
    jobs = jobs_of(settings, first.run_id)
    for pid in (1, 2):  # both portfolios went on
        assert jobs[(pid, "valuation")].status == "succeeded"
        assert jobs[(pid, "greeks")].status == "succeeded"
        assert jobs[(pid, "correlations")].status == "succeeded"  # does not depend on exposures
        failed = jobs[(pid, "exposures")]
        assert failed.status == "failed"
        assert (
            failed.error["ename"] == "RuntimeError" and "forced failure" in failed.error["evalue"]
        )
        assert (
            isinstance(failed.error["cell_index"], int) and Path(failed.error["notebook"]).exists()
        )
        assert jobs[(pid, "factors")].status == "skipped"
        assert "exposures failed" in jobs[(pid, "factors")].error["reason"]
    valuation_html = Path(jobs[(1, "valuation")].artifact_path)
    stamp = valuation_html.stat().st_mtime_ns

    shutil.copy(
        REPO_DIR / "notebooks" / NOTEBOOKS["exposures"], notebooks_copy / NOTEBOOKS["exposures"]
    )
    resumed = run_batch(settings, resume=first.run_id)
    assert resumed.run_id == first.run_id and resumed.status == "succeeded"
    assert {(o.portfolio_id, o.job) for o in resumed.outcomes} == {
        (p, j) for p in (1, 2) for j in ("exposures", "factors")
    }
    assert valuation_html.stat().st_mtime_ns == stamp  # not rerun
    assert all(j.status == "succeeded" for j in jobs_of(settings, first.run_id).values())


def test_failed_render_shows_an_error_box_and_no_traceback(failed_render_batch: DemoBatch):
    settings, result = failed_render_batch.settings, failed_render_batch.run
    jobs = jobs_of(settings, result.run_id)
    failed = jobs[(1, "exposures")]
    assert failed.status == "failed"
    page = Path(failed.artifact_path).read_text(encoding="utf-8")
    title = "Exposures — Balanced Individual Investor — 2017-03-29"
    assert f"<title>{title}</title>" in page
    assert 'class="sigmasight-error"' in page
    assert "<strong>Exposures failed</strong>" in page
    assert "<code>RuntimeError</code>: forced failure for the test" in page
    assert "Traceback" not in page and "raise RuntimeError" not in page
    assert str(settings.notebooks_dir) not in page and str(settings.outputs_dir) not in page
    assert not re.search(r"(?:/home|/tmp|/work|/usr|site-packages)/", page)
    executed = nbformat.read(failed.error["notebook"], as_version=4)  # traceback kept there
    assert any(o.output_type == "error" for c in executed.cells for o in c.get("outputs", []))
    valuation = Path(jobs[(1, "valuation")].artifact_path).read_text(encoding="utf-8")
    assert "<title>Valuation — Balanced Individual Investor — 2017-03-29</title>" in valuation
    assert "sigmasight-error" not in valuation


def test_cli_batch_off_a_terminal_prints_no_progress_bar_and_no_warnings(sqlite_demo_db):
    """stderr is a pipe: progress goes to INFO log lines, no bar; a fresh kernel logs no
    ipykernel / setuptools / debugger warnings; ``-q`` leaves only the outcome on stdout."""
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR), "SIGMASIGHT_MARKET_DATA": "offline",
           "SIGMASIGHT_DATABASE_URL": sqlite_demo_db.database_url.render_as_string(
               hide_password=False),
           "SIGMASIGHT_OUTPUTS_DIR": str(sqlite_demo_db.outputs_dir)}  # fmt: skip
    cli = [sys.executable, "-c", "from sigmasight_lib.cli import main; main()", "batch", "run",
           "--portfolio", "1", "--jobs", "valuation,greeks", "--kernel", "fresh"]  # fmt: skip
    run = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "\r" not in run.stderr and "%|" not in run.stderr and "job/s" not in run.stderr
    # the log line instead: the market-data notebook and the two engine notebooks
    assert (
        "sigmasight_lib.progress: batch 2017-03-29: 3/3 market data + 1 portfolios x 2 jobs"
        in run.stderr
    )
    lines = run.stderr.splitlines()
    assert lines and all(" INFO " in line for line in lines), run.stderr
    assert not re.search(r"warning|IPKernelApp|XDG_RUNTIME_DIR|frozen modules", run.stderr, re.I)
    quiet = subprocess.run([*cli[:3], "-q", *cli[3:]], env=env, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert "succeeded" in quiet.stdout


def test_rerun_replaces_results_without_duplicates(sqlite_demo_db):
    first = run_batch(sqlite_demo_db, portfolios=[BALANCED], jobs=["valuation", "greeks"])
    second = run_batch(sqlite_demo_db, portfolios=[BALANCED], jobs=["valuation", "greeks"])
    assert second.run_id != first.run_id
    with session_scope(sqlite_demo_db) as session:
        for model in (PositionValuation, PositionGreeks):
            ids = session.scalars(sa.select(model.batch_run_id)).all()
            assert len(ids) == 16 and set(ids) == {second.run_id}


def test_parameters_are_validated_before_execution(tmp_path):
    notebook = REPO_DIR / "notebooks" / NOTEBOOKS["valuation"]
    with pytest.raises(ConfigError, match="'database_url' is not a parameter"):
        validate_parameters(notebook, {"database_url": "postgresql://u:p@h/db"})
    with pytest.raises(ConfigError, match="'run_id' .* must be int"):
        validate_parameters(notebook, {"run_id": "7"})


LOCK_HOLDER = textwrap.dedent(
    """
    import datetime as dt, sys, time
    from sigmasight_lib.config import load_settings
    from sigmasight_lib.batch.tracking import batch_lock
    with batch_lock(load_settings(), dt.date(2017, 3, 29)):
        print("locked", flush=True)
        time.sleep(120)
    """
)


def test_lock_blocks_a_second_run_and_dies_with_its_process(db_settings):
    env = {"PATH": "/usr/bin:/bin",
           "SIGMASIGHT_DATABASE_URL": db_settings.database_url.render_as_string(hide_password=False),
           "SIGMASIGHT_OUTPUTS_DIR": str(db_settings.outputs_dir)}  # fmt: skip
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(BatchLockedError, match="2017-03-29"), batch_lock(db_settings, AS_OF):
            pass
        with batch_lock(db_settings, dt.date(2017, 3, 28)):  # another date is free
            pass
    finally:
        holder.kill()
        holder.wait()
    with batch_lock(db_settings, AS_OF):  # released when the holder died
        pass


def test_user_text_is_escaped_in_html(sqlite_demo_db):
    hostile = '<script>alert("x")</script> & Co'
    with session_scope(sqlite_demo_db) as session:
        write_portfolio(session, name=hostile, owner_email="x@example.com",
                        positions=[make_position_spec("KO", 10, entry_price=30.0, entry_date=AS_OF)])  # fmt: skip
    result = run_batch(sqlite_demo_db, portfolios=[hostile], jobs=["valuation"])
    assert result.status == "succeeded"
    index = result.index_html.read_text(encoding="utf-8")
    assert (
        "<script>alert" not in index
        and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in index
    )
    for page in sqlite_demo_db.outputs_dir.rglob("*.html"):
        assert "<script>alert" not in page.read_text(encoding="utf-8"), page


def test_dask_executor_on_a_local_cluster(sqlite_demo_db):
    result = run_batch(sqlite_demo_db, portfolios=[BALANCED, HNW], jobs=["valuation", "greeks"],
                       executor="dask", workers=2, kernel_mode="fresh")  # fmt: skip
    assert result.status == "succeeded"
    assert {(o.portfolio_id, o.job) for o in result.outcomes if o.job != "market_data"} == {
        (p, j) for p in (1, 2) for j in ("valuation", "greeks")
    }


def test_processes_executor(sqlite_demo_db):
    result = run_batch(
        sqlite_demo_db,
        portfolios=[BALANCED, HNW],
        jobs=["valuation"],
        executor="processes",
        workers=2,
    )
    assert result.status == "succeeded"


@pytest.mark.postgres
def test_no_secret_in_outputs_or_logs(postgres_settings, capfd, caplog):
    from sigmasight_lib.config import parse_database_url
    from sigmasight_lib.db.session import upgrade
    from tests.conftest import seed_demo_database

    secret = "Sup3rS3cretPassw0rd"
    url = postgres_settings.database_url.set(password=secret)
    settings = replace(
        postgres_settings,
        database_url=parse_database_url(url.render_as_string(hide_password=False)),
    )
    upgrade(settings)
    seed_demo_database(settings, history_sessions=300)
    caplog.set_level("DEBUG")
    result = run_batch(
        settings, portfolios=[BALANCED], jobs=["valuation", "exposures"], kernel_mode="fresh"
    )
    assert result.status == "succeeded"
    leaks = [
        p
        for p in settings.outputs_dir.rglob("*")
        if p.is_file() and secret in p.read_text(errors="ignore")
    ]
    assert leaks == []
    captured = capfd.readouterr()
    assert secret not in captured.out + captured.err
    assert all(secret not in r.getMessage() for r in caplog.records)
    with session_scope(settings) as session:
        run = session.get(BatchRun, result.run_id)
        assert secret not in json.dumps(run.parameters)
