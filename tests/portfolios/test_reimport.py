"""Re-importing a CSV never loses positions or edits silently (issue 12, item 1).

Runs the CLI in-process on SQLite and PostgreSQL. Positions get ids 1, 2, 3
(AAPL, MSFT, XOM) from the first import into an empty database.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from sigmasight_lib.db.models import Position, PositionHistory
from sigmasight_lib.db.session import session_scope
from tests.conftest import cli_runner

HEADER = "Symbol,Quantity,Price Paid,Date Acquired"
AAPL = "AAPL,100,30.10,2016-06-15"
MSFT = "MSFT,200,55.00,2016-06-15"
XOM = "XOM,50,80.00,2016-06-15"
BOOK = ("--name", "Book", "--owner", "me@example.com")


@pytest.fixture
def cli(db_settings, monkeypatch, capsys):
    return cli_runner(db_settings, monkeypatch, capsys)


def _csv(tmp_path: Path, *rows: str, name: str = "book.csv") -> str:
    path = tmp_path / name
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return str(path)


def _held(settings) -> dict[str, tuple[float, float]]:  # noqa: ANN001
    """symbol -> (quantity, entry price) of every stored position."""
    with session_scope(settings) as session:
        rows = session.execute(sa.select(Position.symbol, Position.quantity, Position.entry_price))
        return {symbol: (float(q), float(p)) for symbol, q, p in rows}


def _history(settings, symbol: str) -> list[tuple[str, str, str, str | None]]:  # noqa: ANN001
    with session_scope(settings) as session:
        rows = session.execute(
            sa.select(
                PositionHistory.field,
                PositionHistory.old_value,
                PositionHistory.new_value,
                PositionHistory.note,
            )
            .join(Position, Position.id == PositionHistory.position_id)
            .where(Position.symbol == symbol)
            .order_by(PositionHistory.id)
        )
        return [tuple(r) for r in rows]


def _import(cli, path: str, *options: str) -> tuple[int, dict]:  # noqa: ANN001
    code, out, err = cli("portfolio", "import", path, *BOOK, "--json", *options)
    assert not err.strip() or "Traceback" not in err
    return code, json.loads(out)


@pytest.fixture
def edited_book(cli, db_settings, tmp_path):
    """AAPL / MSFT / XOM imported, then MSFT edited from 200 to 250 shares."""
    assert _import(cli, _csv(tmp_path, AAPL, MSFT, XOM))[0] == 0
    code, out, _ = cli("position", "edit", "2", "--quantity", "250", "--effective", "2017-01-03")
    assert code == 0 and "MSFT" in out
    return db_settings


def test_failed_row_never_removes_its_position(cli, edited_book, tmp_path):
    """The reported bug: a typo in MSFT's quantity with --valid-rows-only removed MSFT."""
    typo = _csv(tmp_path, AAPL, "MSFT,2x0,55.00,2016-06-15", XOM, name="typo.csv")
    for options in ((), ("--sync",)):
        code, result = _import(cli, typo, "--valid-rows-only", *options)
        assert code == 0 and result["imported_rows"] == [2, 4]
        written = result["written"]
        assert (written["removed"], written["kept"], written["unchanged"]) == (0, 1, 2)
        expected_action = "kept: a row of MSFT failed" if options else "kept"
        assert [(a["symbol"], a["action"]) for a in result["absent"]] == [("MSFT", expected_action)]
    assert _held(edited_book) == {
        "AAPL": (100.0, 30.1),
        "MSFT": (250.0, 55.0),
        "XOM": (50.0, 80.0),
    }
    assert _history(edited_book, "MSFT") == [("quantity", "200.0", "250.0", None)]


def test_positions_absent_from_the_file_are_removed_only_with_sync(cli, db_settings, tmp_path):
    assert _import(cli, _csv(tmp_path, AAPL, MSFT, XOM))[0] == 0
    short = _csv(tmp_path, AAPL, MSFT, name="short.csv")

    code, result = _import(cli, short)
    assert code == 0 and result["written"]["removed"] == 0 and result["written"]["kept"] == 1
    assert [(a["symbol"], a["action"]) for a in result["absent"]] == [("XOM", "kept")]
    assert "XOM" in _held(db_settings)

    code, out, _ = cli("portfolio", "import", short, *BOOK, "--sync", "--dry-run")
    assert code == 0
    assert "not in the file: position 3 XOM qty 50: would be removed (--sync)" in out
    assert "would be 0 created, 0 updated, 1 removed, 2 unchanged, 0 kept" in out
    assert "XOM" in _held(db_settings)

    code, result = _import(cli, short, "--sync")
    assert code == 0 and result["written"]["removed"] == 1
    assert sorted(_held(db_settings)) == ["AAPL", "MSFT"]


def test_reimport_reports_a_later_edit_instead_of_reverting_it(cli, edited_book, tmp_path):
    original = _csv(tmp_path, AAPL, MSFT, XOM)
    code, preview = _import(cli, original, "--dry-run")
    assert code == 1 and preview["preview"]["conflicted"] == 1

    code, result = _import(cli, original)
    assert code == 1 and not result["succeeded"]
    assert result["imported_rows"] == [2, 4]
    [conflict] = result["conflicts"]
    assert {k: conflict[k] for k in ("row", "symbol", "field", "file_value", "edited_value")} == {
        "row": 3,
        "symbol": "MSFT",
        "field": "quantity",
        "file_value": 200.0,
        "edited_value": 250.0,
    }
    assert conflict["effective_date"] == "2017-01-03"
    assert _held(edited_book)["MSFT"] == (250.0, 55.0)

    code, out, _ = cli("portfolio", "import", original, *BOOK)
    assert code == 1
    assert "conflict: row 3, symbol MSFT, field quantity: file value 200 vs edited value 250" in out
    assert "--overwrite-edits" in out

    code, result = _import(cli, original, "--overwrite-edits")
    assert code == 0 and result["written"]["updated"] == 1
    assert _held(edited_book)["MSFT"] == (200.0, 55.0)
    history = _history(edited_book, "MSFT")
    assert history[0] == ("quantity", "200.0", "250.0", None)
    assert history[1][:3] == ("quantity", "250.0", "200.0")
    assert history[1][3].startswith("portfolio import: overwrote the edit of ")

    code, result = _import(cli, original)  # the overwrite is not an edit: no conflict now
    assert code == 0 and result["conflicts"] == [] and result["written"]["unchanged"] == 3


def test_edited_entry_price_still_matches_and_conflicts(cli, db_settings, tmp_path):
    original = _csv(tmp_path, AAPL, MSFT, XOM)
    assert _import(cli, original)[0] == 0
    assert cli("position", "edit", "1", "--entry-price", "31")[0] == 0
    code, result = _import(cli, original)
    assert code == 1
    assert [
        (c["symbol"], c["field"], c["file_value"], c["edited_value"]) for c in result["conflicts"]
    ] == [("AAPL", "entry_price", 30.1, 31.0)]
    assert result["written"]["created"] == 0  # no second AAPL
    assert _held(db_settings)["AAPL"] == (100.0, 31.0)
    code, result = _import(cli, original, "--overwrite-edits")
    assert code == 0 and _held(db_settings)["AAPL"] == (100.0, 30.1)
    assert len(_held(db_settings)) == 3


def test_sync_removes_nothing_when_a_failed_row_has_no_readable_symbol(cli, db_settings, tmp_path):
    assert _import(cli, _csv(tmp_path, AAPL, MSFT, XOM))[0] == 0
    broken = _csv(tmp_path, AAPL, "M$FT,200,55.00,2016-06-15", name="broken.csv")
    code, result = _import(cli, broken, "--valid-rows-only", "--sync")
    assert code == 0 and result["written"]["removed"] == 0 and result["written"]["kept"] == 2
    assert any("--sync removes nothing: the symbol of row 3" in n for n in result["notes"])
    assert sorted(_held(db_settings)) == ["AAPL", "MSFT", "XOM"]


def test_sync_keeps_closed_positions(cli, db_settings, tmp_path):
    assert _import(cli, _csv(tmp_path, AAPL, MSFT, XOM))[0] == 0
    assert cli("position", "close", "3", "--exit-date", "2017-01-10", "--exit-price", "85")[0] == 0
    code, result = _import(cli, _csv(tmp_path, AAPL, MSFT, name="open.csv"), "--sync")
    assert code == 0 and result["written"]["removed"] == 0
    assert [(a["symbol"], a["action"]) for a in result["absent"]] == [("XOM", "kept: closed")]
