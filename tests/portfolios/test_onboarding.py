"""Onboarding: sample CSV, preview, import and first engine runs, the notebook's shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sigmasight_lib.config import REPO_DIR, Settings
from sigmasight_lib.db.session import session_scope, upgrade
from sigmasight_lib.exceptions import ImportValidationError
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.portfolios.csv_import import parse_positions_csv
from sigmasight_lib.portfolios.onboarding import (
    ISSUE_COLUMNS,
    ONBOARDING_ENGINES,
    import_and_run,
    preview,
    resolve_csv,
    sample_csv,
    strategies_frame,
    summaries_frame,
    write_sample_csv,
)
from sigmasight_lib.portfolios.strategies import list_strategies

NOTEBOOK = REPO_DIR / "notebooks" / "onboarding.ipynb"


def test_sample_csv_is_clean_offline() -> None:
    report = parse_positions_csv(
        sample_csv(), unknown_symbols=OfflineSnapshotProvider().unknown_symbols
    )
    assert report.ok, [str(i) for i in report.issues]
    assert {r.spec.underlying for r in report.rows} <= {"AAPL", "JPM", "XOM", "MSFT"}


def test_resolve_csv(tmp_path: Path) -> None:
    default = resolve_csv(None)
    assert default.read_text(encoding="utf-8") == sample_csv()
    default.unlink()
    assert resolve_csv(str(tmp_path / "x.csv")) == tmp_path / "x.csv"
    assert write_sample_csv(tmp_path / "s.csv").read_text(encoding="utf-8") == sample_csv()


def test_preview_reports_rows_and_issues(tmp_path: Path, sqlite_settings: Settings) -> None:
    rows, issues, notes = preview(write_sample_csv(tmp_path / "s.csv"), sqlite_settings)
    assert len(rows) == 5 and issues.empty and notes == []
    assert rows.loc[1, "position_type"] == "SC"
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "symbol,quantity,entry_price,entry_date\nAAPL,abc,1,2017-01-03\nZZZZ,1,1,2017-01-03\n"
    )
    rows, issues, _ = preview(bad, sqlite_settings)
    assert rows.empty
    assert list(issues.columns) == list(ISSUE_COLUMNS)
    assert set(issues["value"]) >= {"abc", "ZZZZ"}


def test_import_and_run_on_demo_db(sqlite_demo_db: Settings, tmp_path: Path) -> None:
    path = write_sample_csv(tmp_path / "s.csv")
    result = import_and_run(sqlite_demo_db, path, "My Portfolio", "researcher@example.com")
    assert result["as_of"].isoformat() == "2017-03-29"  # the cache's as-of, as the demo
    assert list(result["runs"]) == list(ONBOARDING_ENGINES)
    assert result["runs"]["valuation"].summary["positions"] == 5
    assert result["summaries"]["exposures"]["position_count"] == 5
    assert [p.strategy_type for p in result["strategies"]] == ["covered_call"]
    summary = summaries_frame(result)
    assert list(summary.columns) == list(ONBOARDING_ENGINES)
    assert strategies_frame(result["strategies"]).loc[0, "strategy_type"] == "covered_call"
    with session_scope(sqlite_demo_db) as session:
        assert list_strategies(session, "My Portfolio").empty  # proposed, not created
    again = import_and_run(
        sqlite_demo_db, path, "My Portfolio", "researcher@example.com", create_strategies=True
    )
    assert again["portfolio_id"] == result["portfolio_id"]
    assert again["import"].written.created == 0  # re-import reconciles
    with session_scope(sqlite_demo_db) as session:
        assert list_strategies(session, "My Portfolio")["strategy_type"].tolist() == [
            "covered_call"
        ]


def test_import_and_run_on_empty_db(sqlite_settings: Settings, tmp_path: Path) -> None:
    upgrade(sqlite_settings)
    path = tmp_path / "one.csv"
    path.write_text("symbol,quantity,entry_price,entry_date\nAAPL,100,25,2016-06-15\n")
    result = import_and_run(sqlite_settings, path, "Solo", "me@example.com", engines=("valuation",))
    assert result["runs"]["valuation"].summary["positions"] == 1
    assert result["sync"].fetched > 0


def test_import_and_run_rejects_invalid_file(sqlite_settings: Settings, tmp_path: Path) -> None:
    upgrade(sqlite_settings)
    bad = tmp_path / "bad.csv"
    bad.write_text("symbol,quantity,entry_price,entry_date\nAAPL,abc,1,2017-01-03\n")
    with pytest.raises(ImportValidationError, match="nothing imported") as err:
        import_and_run(sqlite_settings, bad, "Bad", "me@example.com")
    assert err.value.issues[0]["value"] == "abc"


def test_notebook_shape() -> None:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1
    src = "".join(params[0]["source"])
    assert [line.strip() for line in src.splitlines() if line.strip()] == [
        "csv_path = None",
        'portfolio = "My Portfolio"',
        'owner = "researcher@example.com"',
        "commit = False",  # preview only unless asked: nothing reaches the shared database
    ]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
            code = "".join(cell["source"])
            assert "def " not in code and "for " not in code
    assert nb["metadata"]["kernelspec"]["name"] == "sigmasight"
