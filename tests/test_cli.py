"""The CLI end to end, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from sigmasight_lib.db.models import Position, SecurityMetadata
from sigmasight_lib.db.session import session_scope
from tests.conftest import cli_runner

GOOD_CSV = """Symbol,Quantity,Price Paid,Date Acquired,Tags
AAPL,100,$30.10,2016-06-15,Tech;Core
JPM  170616C00075000,-2,1.25,03/01/2017,Income
KO,(50),34.00,2017-01-17,
"""
BAD_CSV = """Symbol,Quantity,Price Paid,Date Acquired
AAPL,100,30.10,2016-06-15
ZZZZ,10,5.00,2016-06-15
MSFT,abc,60.00,2016-06-15
"""


@pytest.fixture
def cli(db_settings, monkeypatch, capsys):
    """Run ``sigmasight ARGS`` against the test database; returns (exit code, stdout, stderr)."""
    return cli_runner(db_settings, monkeypatch, capsys)


def _write(tmp_path: Path, text: str, name: str = "positions.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _positions(settings) -> list[tuple[str, float]]:
    with session_scope(settings) as session:
        return sorted(session.execute(sa.select(Position.symbol, Position.quantity)).all())


def test_import_writes_positions_and_metadata(cli, db_settings, tmp_path):
    code, out, _ = cli(
        "portfolio",
        "import",
        _write(tmp_path, GOOD_CSV),
        "--name",
        "Book",
        "--owner",
        "me@example.com",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert result["succeeded"] and result["imported_rows"] == [2, 3, 4]
    assert _positions(db_settings) == [("AAPL", 100.0), ("JPM170616C00075000", -2.0), ("KO", -50.0)]
    with session_scope(db_settings) as session:
        assert session.get(SecurityMetadata, "JPM").sector == "Financials"
        option = session.scalar(sa.select(Position).where(Position.symbol == "JPM170616C00075000"))
        assert (option.position_type, option.underlying, option.strike) == ("SC", "JPM", 75.0)


def test_import_rerun_replaces_never_duplicates(cli, db_settings, tmp_path):
    path = _write(tmp_path, GOOD_CSV)
    assert cli("portfolio", "import", path, "--name", "Book", "--owner", "me@example.com")[0] == 0
    code, out, _ = cli("portfolio", "import", path, "--name", "Book", "--owner", "me@example.com")
    assert code == 0 and "0 created, 0 updated, 0 removed, 3 unchanged" in out
    assert len(_positions(db_settings)) == 3


def test_failed_import_writes_nothing_and_names_row_field_reason(cli, db_settings, tmp_path):
    code, out, _ = cli(
        "portfolio",
        "import",
        _write(tmp_path, BAD_CSV),
        "--name",
        "Book",
        "--owner",
        "me@example.com",
    )
    assert code == 1
    assert "row 3, field symbol, value 'ZZZZ': symbol not known to the market data provider" in out
    assert "row 4, field quantity, value 'abc': not a number" in out
    assert "nothing written" in out
    assert _positions(db_settings) == []


def test_valid_rows_only_imports_the_good_rows(cli, db_settings, tmp_path):
    code, out, _ = cli(
        "portfolio",
        "import",
        _write(tmp_path, BAD_CSV),
        "--name",
        "Book",
        "--owner",
        "me@example.com",
        "--valid-rows-only",
        "--json",
    )
    assert code == 0
    assert json.loads(out)["imported_rows"] == [2]
    assert _positions(db_settings) == [("AAPL", 100.0)]


def test_dry_run_writes_nothing(cli, db_settings, tmp_path):
    code, out, _ = cli(
        "portfolio",
        "import",
        _write(tmp_path, GOOD_CSV),
        "--name",
        "Book",
        "--owner",
        "me@example.com",
        "--dry-run",
    )
    assert code == 0 and "dry run: nothing written" in out
    assert "row 3: SC    JPM170616C00075000" in out
    assert _positions(db_settings) == []


def test_empty_file_fails(cli, tmp_path):
    code, out, _ = cli(
        "portfolio", "import", _write(tmp_path, ""), "--name", "Book", "--owner", "me@example.com"
    )
    assert code == 1 and "empty" in out


def test_demo_flow_and_verify_counts(cli):
    assert cli("demo", "seed")[0] == 0
    assert cli("market-data", "sync", "--history-sessions", "260")[0] == 0
    code, out, _ = cli("market-data", "coverage", "--json")
    assert code == 0 and json.loads(out)["as_of"] == "2017-03-29"
    code, out, _ = cli("verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["as_of"] == "2017-03-29"
    assert [p["positions_found"] for p in report["portfolios"]] == [16, 17, 30]
    assert all(
        state.startswith("not run") for p in report["portfolios"] for state in p["engines"].values()
    )
    code, out, _ = cli("portfolio", "list", "--json")
    assert [p["positions"] for p in json.loads(out)] == [16, 17, 30]
    code, out, _ = cli("portfolio", "list", "--as-of", "2016-06-30", "--json")
    assert [p["positions"] for p in json.loads(out)][1] == 10  # as counted below
    code, out, _ = cli("portfolio", "show", "long-short-hedge-fund-style", "--json")
    shown = json.loads(out)
    assert len(shown["positions"]) == 30
    straddle = [p for p in shown["positions"] if p["strategy"] == "JPM long straddle"]
    assert {p["position_type"] for p in straddle} == {"LC", "LP"}
    code, out, _ = cli(
        "portfolio", "show", "Sophisticated High Net Worth", "--as-of", "2016-06-30", "--json"
    )
    assert len(json.loads(out)["positions"]) == 10  # AAPL MSFT JPM MRK PFE UNH CVX HD SIZE QUAL


def test_verify_fails_before_seeding(cli):
    code, out, _ = cli("verify", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert {p["status"] for p in report["portfolios"]} == {"missing"}


def test_errors_are_one_line(cli):
    code, _, err = cli("portfolio", "show", "no such book")
    assert code == 1 and err.strip().startswith("error: no portfolio 'no such book'")
    code, _, err = cli("db", "reset")
    assert code == 1 and "--yes" in err
    code, _, err = cli("verify", "--as-of", "2017-13-01")
    assert code == 2 and "not a date" in err


def test_template_lists_every_column(cli):
    code, out, _ = cli("portfolio", "template")
    header = out.splitlines()[0].lower()
    assert code == 0
    for column in ("symbol", "quantity", "entry", "date", "tags", "strategy"):
        assert column in header


def _strict_json(text: str):
    def reject(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=reject)


def test_json_output_is_strict_json_with_null_for_missing_figures(
    sqlite_demo_db, monkeypatch, capsys
):
    # `portfolio show --json` printed bare NaN for positions without a figure
    run = cli_runner(sqlite_demo_db, monkeypatch, capsys)
    code, out, err = run("portfolio", "show", "1", "--json")
    assert code == 0, err
    doc = _strict_json(out)
    assert "NaN" not in out and "Infinity" not in out
    assert doc  # parsed by a strict parser
    code, out, err = run("engine", "factors", "--portfolio", "3", "--json")
    assert code == 0, err
    _strict_json(out)
