"""Issue 12, items 2-4: nothing stale shown as current, parameters never delete stored
results, exploration never overwrites the batch's results (SQLite and PostgreSQL).

Expectations are hand-derived: row counts from the NYSE calendar, values from the
scenario YAML, reasons from the runs the test itself records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import jsonschema
import pytest
import sqlalchemy as sa
import yaml

from sigmasight_lib.batch.tracking import run_manual
from sigmasight_lib.config import REPO_DIR, Settings
from sigmasight_lib.db.models import (
    BatchJob,
    BatchRun,
    Portfolio,
    PortfolioSnapshot,
    Position,
    PositionValuation,
    StressResult,
    StressScenario,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.notebook import run_engine
from sigmasight_lib.portfolios.edits import edit_position
from sigmasight_lib.portfolios.service import find_portfolio
from sigmasight_lib.reporting.tables import GROUPS, load_report_data
from sigmasight_lib.reporting.writers import load_schema, report_json, write_reports
from sigmasight_lib.runs import run_snapshot, run_stress
from tests.conftest import cli_runner

AS_OF = dt.date(2017, 3, 29)
HF = "Long/Short Hedge Fund Style"


def _params(settings: Settings, tmp_path: Path, old: str, new: str) -> Settings:
    """``settings`` with a copy of params/ whose engines.yaml has ``old`` replaced by ``new``."""
    folder = tmp_path / "params-edited"
    shutil.copytree(REPO_DIR / "params", folder)
    engines = folder / "engines.yaml"
    text = engines.read_text(encoding="utf-8")
    assert old in text
    engines.write_text(text.replace(old, new), encoding="utf-8")
    return dataclasses.replace(settings, params_dir=folder)


def _report(settings: Settings, **kwargs) -> dict:
    with session_scope(settings) as session:
        pid = find_portfolio(session, HF).id
        doc = report_json(load_report_data(session, pid, AS_OF, **kwargs))
    errors = list(
        jsonschema.Draft202012Validator(
            load_schema(), format_checker=jsonschema.FormatChecker()
        ).iter_errors(doc)
    )
    assert not errors, [e.message for e in errors[:5]]
    return doc


def _first_position(settings: Settings, symbol: str) -> tuple[int, float]:
    with session_scope(settings) as session:
        p = find_portfolio(session, HF)
        pos = next(x for x in p.positions if x.symbol == symbol)
        return pos.id, float(pos.quantity)


# --------------------------------------------------------------------------- item 2


def test_report_never_shows_old_stress_figures_as_current(demo_db: Settings, tmp_path: Path):
    first_val = run_manual(demo_db, "valuation", HF, AS_OF)
    first_stress = run_manual(demo_db, "stress", HF, AS_OF)
    doc = _report(demo_db)
    assert doc["stress_tests"]["status"] == "ok"
    assert doc["stress_tests"]["run_id"] == first_stress.batch_run_id
    assert doc["stress_tests"]["run_kind"] == "manual"
    assert doc["valuation"]["run_id"] == first_val.batch_run_id

    # AAPL grows 100x from before the as-of; the rerun's stress job fails on a bad parameter
    pid, qty = _first_position(demo_db, "AAPL")
    with session_scope(demo_db) as session:
        edit_position(session, pid, quantity=qty * 100, effective=dt.date(2017, 3, 1))
    second_val = run_manual(demo_db, "valuation", HF, AS_OF)
    broken = _params(demo_db, tmp_path, "decay: 0.94", "decay: 1.5")
    with pytest.raises(ValueError, match="decay"):
        run_manual(broken, "stress", HF, AS_OF)
    with session_scope(demo_db) as session:
        failed = session.scalar(sa.select(sa.func.max(BatchRun.id)))
        job = session.scalar(sa.select(BatchJob).where(BatchJob.batch_run_id == failed))
        assert (job.job_name, job.status) == ("stress", "failed")

    doc = _report(demo_db)
    stress = doc["stress_tests"]
    assert stress["status"] == "failed"
    assert stress["reason"].startswith(
        f"the latest stress job of run {failed} failed: ConfigError: "
    )
    assert "stress.decay = 1.5 is out of range; expected a number in (0, 1]" in stress["reason"]
    assert f"results from manual run {first_stress.batch_run_id} at " in stress["reason"]
    assert stress["run_id"] == first_stress.batch_run_id  # named, not shown
    assert "market_crash_35.correlated_pnl_usd" not in stress and "worst_scenario" not in stress
    # valuation was recomputed after the edit: current, with the 100x position
    assert doc["valuation"]["status"] == "ok"
    assert doc["valuation"]["run_id"] == second_val.batch_run_id
    with session_scope(demo_db) as session:
        stored_qty = session.scalar(
            sa.select(PositionValuation.market_value_usd).where(
                PositionValuation.position_id == pid, PositionValuation.as_of == AS_OF
            )
        )
        price = session.scalar(
            sa.select(PositionValuation.price).where(
                PositionValuation.position_id == pid, PositionValuation.as_of == AS_OF
            )
        )
    assert stored_qty == pytest.approx(qty * 100 * price, rel=1e-12)

    # another edit after the valuation run: its figures are stale, naming the edit
    with session_scope(demo_db) as session:
        edit_position(session, pid, quantity=qty * 50, effective=dt.date(2017, 3, 1))
    doc = _report(demo_db)
    val = doc["valuation"]
    assert val["status"] == "stale"
    assert val["reason"].startswith(f"results from manual run {second_val.batch_run_id} at ")
    assert f"predate position {pid}'s quantity edit ({qty * 100} → {qty * 50})" in val["reason"]
    assert "net_liquidation_value_usd" not in val
    # a section that never ran stays plain N/A with no run
    assert doc["correlations"]["status"] == "n/a" and doc["correlations"]["run_id"] is None


def test_report_md_names_run_and_time_of_every_section(demo_db: Settings, tmp_path: Path):
    run = run_manual(demo_db, "valuation", HF, AS_OF)
    paths = write_reports(demo_db, HF, AS_OF, formats="md,html", output_dir=tmp_path)
    md = paths["md"].read_text(encoding="utf-8")
    with session_scope(demo_db) as session:
        computed = session.scalar(
            sa.select(sa.func.max(PositionValuation.computed_at)).where(
                PositionValuation.batch_run_id == run.batch_run_id
            )
        )
    when = computed.strftime("%Y-%m-%dT%H:%M:%SZ")
    valuation = md.split("## Valuation", 1)[1].split("\n## ", 1)[0]
    assert f"**Figures:** manual run {run.batch_run_id} at {when}." in valuation
    assert md.count("**Figures:**") == len(GROUPS)  # one line per section
    assert f"manual run {run.batch_run_id} at {when}" in paths["html"].read_text(encoding="utf-8")


# --------------------------------------------------------------------------- item 3


def test_snapshot_retention_zero_is_refused_and_deletes_nothing(demo_db: Settings, tmp_path):
    run_snapshot(demo_db, HF, AS_OF, backfill=90)
    for bad in ("0", "-1"):
        settings = _params(demo_db, tmp_path / bad, "retention_days: 365", f"retention_days: {bad}")
        with pytest.raises(ConfigError, match=rf"snapshot.retention_days = {bad} is out of range"):
            run_snapshot(settings, HF, AS_OF)
    with session_scope(demo_db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot)) == 91


def test_snapshot_retention_counts_from_latest_and_keeps_rows_just_written(
    demo_db: Settings, tmp_path: Path
):
    run_snapshot(demo_db, HF, AS_OF, backfill=90)
    short = _params(demo_db, tmp_path, "retention_days: 365", "retention_days: 30")
    run_snapshot(short, HF, AS_OF)
    with session_scope(demo_db) as session:
        days = sorted(session.scalars(sa.select(PortfolioSnapshot.as_of)))
    # 2017-03-29 − 30 days = 2017-02-27: sessions Feb 27, 28 and the 21 of March 1..29
    assert days[0] == dt.date(2017, 2, 27) and len(days) == 23
    # an old date: its own row is kept although it is outside the window of the latest
    old = dt.date(2016, 6, 1)
    run_snapshot(short, HF, old)
    with session_scope(demo_db) as session:
        days = sorted(session.scalars(sa.select(PortfolioSnapshot.as_of)))
    assert days[0] == old and len(days) == 24


def test_custom_scenarios_are_their_own_set(demo_db: Settings, tmp_path: Path):
    library = run_stress(demo_db, HF, AS_OF)
    shocks = {
        s["key"]: s["shocks"]
        for s in yaml.safe_load((REPO_DIR / "params/stress_scenarios.yaml").read_text())[
            "scenarios"
        ]
    }
    custom = tmp_path / "My Crash.yaml"
    custom.write_text(
        "scenarios:\n  - key: market_crash_35\n    name: Deeper crash\n    shocks: {Market: -0.5}\n"
    )
    mine = run_stress(demo_db, HF, AS_OF, scenarios_file=custom)
    assert mine.summary["scenario_set"] == "my_crash" and mine.rows_saved == 1
    with session_scope(demo_db) as session:
        sets = dict(
            session.execute(
                sa.select(StressScenario.scenario_set, sa.func.count())
                .join(StressResult, StressResult.scenario_id == StressScenario.id)
                .group_by(StressScenario.scenario_set)
            ).all()
        )
        lib_def = session.scalar(
            sa.select(StressScenario).where(
                StressScenario.scenario_set == "library", StressScenario.key == "market_crash_35"
            )
        )
        assert lib_def.shocks == shocks["market_crash_35"] == {"Market": -0.35}
        assert lib_def.name == "Market Crash 35%"
    assert sets == {"library": len(shocks), "my_crash": 1}
    assert len(shocks) == 27

    doc = _report(demo_db)
    assert doc["stress_tests"]["scenario_set"] == "library"
    assert doc["stress_tests"]["scenarios"] == 27
    lib_pnl = library.tables["scenarios"].at["market_crash_35", "correlated_pnl_usd"]
    assert doc["stress_tests"]["market_crash_35.correlated_pnl_usd"] == pytest.approx(lib_pnl)
    doc = _report(demo_db, scenario_set="my_crash")
    assert doc["stress_tests"]["scenarios"] == 1
    assert doc["stress_tests"]["market_crash_35.name"] == "Deeper crash"
    # rerunning the library keeps the custom set's result
    run_stress(demo_db, HF, AS_OF)
    with session_scope(demo_db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(StressResult)) == 28


def test_custom_scenario_file_cannot_be_named_library(demo_db: Settings, tmp_path: Path):
    bad = tmp_path / "library.yaml"
    bad.write_text("scenarios:\n  - key: x\n    name: X\n    shocks: {Market: -0.1}\n")
    with pytest.raises(ConfigError, match="cannot be stored as scenario set 'library'"):
        run_stress(demo_db, HF, AS_OF, scenarios_file=bad)


# --------------------------------------------------------------------------- item 4


def test_exploration_without_run_id_saves_nothing(demo_db: Settings):
    batch = run_manual(demo_db, "valuation", HF, AS_OF)
    explored = run_engine("valuation", HF, AS_OF.isoformat(), None, settings=demo_db)
    assert explored.rows_saved == 0 and len(explored.tables["positions"]) == 30
    with session_scope(demo_db) as session:
        ids = set(session.scalars(sa.select(PositionValuation.batch_run_id)))
        assert ids == {batch.batch_run_id}  # lineage kept
        stamp = session.scalar(sa.select(sa.func.max(PositionValuation.computed_at)))
    saved = run_engine("valuation", HF, AS_OF.isoformat(), None, save=True, settings=demo_db)
    assert saved.rows_saved == 30
    with session_scope(demo_db) as session:
        assert session.scalar(sa.select(sa.func.max(PositionValuation.computed_at))) > stamp
    with pytest.raises(ConfigError, match="save must be True or False"):
        run_engine("valuation", HF, None, None, save="yes", settings=demo_db)


def test_cli_engine_records_a_manual_run(
    demo_db: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    run = cli_runner(demo_db, monkeypatch, capsys)
    code, out, _ = run("engine", "valuation", "--portfolio", HF, "--as-of", "2017-03-29")
    assert code == 0
    with session_scope(demo_db) as session:
        row = session.scalars(sa.select(BatchRun)).one()
        assert (row.kind, row.status, row.as_of) == ("manual", "succeeded", AS_OF)
        assert row.parameters["engine"] == "valuation" and row.finished_at is not None
        assert set(session.scalars(sa.select(PositionValuation.batch_run_id))) == {row.id}
    assert f"30 rows saved (manual run {row.id})" in out
    code, out, _ = run("batch", "history", "--json")
    assert code == 0 and '"kind": "manual"' in out
    code, _, err = run("batch", "run", "--resume", str(row.id))
    assert code != 0 and f"run {row.id} is a manual `sigmasight engine` run" in err


def test_onboarding_preview_writes_nothing(demo_db: Settings, tmp_path: Path):
    from sigmasight_lib.portfolios.onboarding import import_and_run, run_table, write_sample_csv

    path = write_sample_csv(tmp_path / "s.csv")
    result = import_and_run(demo_db, path, "My Portfolio", "me@example.com", commit=False)
    assert result["committed"] is False and result["runs"] == {}
    assert any(line.startswith("dry run: nothing written") for line in result["import"].lines())
    assert run_table(result, "valuation", "positions").empty
    with session_scope(demo_db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Portfolio)) == 3


def test_any_position_change_makes_figures_stale(demo_db: Settings):
    """Changes without a position_history row (a CSV re-import setting fields, a removed
    position) are stamped on the portfolio by the ORM flush hook."""
    run = run_manual(demo_db, "exposures", HF, AS_OF)
    assert _report(demo_db)["exposures"]["status"] == "ok"
    pid, _ = _first_position(demo_db, "MSFT")
    with session_scope(demo_db) as session:
        session.delete(session.get(Position, pid))
    with session_scope(demo_db) as session:
        stamp = session.scalar(
            sa.select(Portfolio.positions_changed_at).where(Portfolio.name == HF)
        )
    doc = _report(demo_db)
    when = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert doc["exposures"]["status"] == "stale"
    assert doc["exposures"]["reason"] == (
        f"results from manual run {run.batch_run_id} at {doc['exposures']['computed_at']} "
        f"predate a change to the positions (added, edited or removed) at {when}; "
        "rerun the engine for 2017-03-29"
    )
    assert doc["metadata"]["missing_groups"].split(", ")[0] == "valuation"  # never ran
