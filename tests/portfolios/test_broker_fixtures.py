"""Real broker layouts (tests/portfolios/fixtures/brokers/<broker>/, sources in each README):
one dry-run parse per format, expected rows worked out by hand from the file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from sigmasight_lib.db.session import upgrade
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.portfolios.csv_import import ImportReport, parse_positions_csv
from tests.conftest import cli_runner

BROKERS = Path(__file__).parent / "fixtures" / "brokers"

# Fidelity writes options as ` -AAPL170616C140`: read by portfolios.option_symbols.
FIDELITY_OPTIONS = {6: ("AAPL170616C00140000", -2.0, 5.4), 7: ("XOM170421P00080000", 3.0, 1.5)}


def parse(path: str, **kwargs) -> ImportReport:
    return parse_positions_csv(
        BROKERS / path, unknown_symbols=OfflineSnapshotProvider().unknown_symbols, **kwargs
    )


def rows(report: ImportReport) -> list[tuple]:
    """Row, symbol, quantity, entry price (6 significant digits), entry date, section."""
    return [
        (
            r.row,
            r.spec.symbol,
            r.spec.quantity,
            None if r.spec.entry_price is None else float(f"{r.spec.entry_price:.6g}"),
            r.spec.entry_date,
            r.section,
        )
        for r in report.rows
    ]


def codes(report: ImportReport) -> list[tuple[int | None, str]]:
    return [(issue.row, issue.code) for issue in report.issues]


def skipped(report: ImportReport) -> list[tuple[int, str]]:
    return [(row.row, row.code) for row in report.skipped]


def test_schwab_positions_title_line_cash_and_positions_total() -> None:
    report = parse("schwab/positions.csv")

    assert rows(report) == [
        (4, "AAPL", 200.8724, 116.775, None, None),  # 23,456.78 / 200.8724
        (5, "JPM", 150.0, 80.0, None, None),
        (6, "KO", -100.0, None, None, None),  # cost basis "--": unknown
        (7, "SPY", 40.0, 225.0, None, None),
    ]
    assert codes(report) == [(8, "unknown_symbol")]  # VTI: not in the offline snapshot
    assert skipped(report) == [(1, "title_row"), (9, "cash_row"), (10, "total_row")]
    assert report.rows[0].broker == {
        "price": 143.8,
        "market_value": 28885.45,
        "cost_basis_total": 23456.78,
        "security_type": "Equity",
        "description": "APPLE INC",
    }
    assert "row 6: no entry price (cost basis unknown): unrealized P&L will be N/A" in report.notes


def test_schwab_balances_sub_tables_tag_their_section() -> None:
    report = parse("schwab/balances.csv")

    assert rows(report) == [
        (4, "XOM", 656.0, None, None, "Stocks"),
        (5, "MSFT", 120.5, None, None, "Stocks"),
    ]
    assert [r.spec.tags for r in report.rows] == [("Stocks",), ("Stocks",)]
    assert codes(report) == [(9, "unknown_symbol")]  # BND, in the "Bonds" table
    assert skipped(report) == [(1, "title_row"), (2, "title_row"), (13, "cash_row")]


def test_fidelity_positions_cash_rows_and_option_symbols() -> None:
    report = parse("fidelity/positions.csv")

    assert rows(report)[:2] == [
        (3, "AAPL", 100.0, 110.25, None, None),
        (4, "MSFT", 50.125, 61.85, None, None),
    ]
    options = {
        r.row: (r.spec.symbol, r.spec.quantity, r.spec.entry_price)
        for r in report.rows
        if r.row in FIDELITY_OPTIONS
    }
    assert options == FIDELITY_OPTIONS
    assert codes(report) == [(5, "unknown_symbol")]
    assert skipped(report) == [
        (2, "cash_row"),  # SPAXX**
        (8, "cash_row"),  # Pending Activity
        (10, "title_row"),  # the disclaimer and "Date downloaded" lines
        (11, "title_row"),
        (12, "title_row"),
    ]


def test_fidelity_statement_summary_block_sections_and_subtotals() -> None:
    report = parse("fidelity/statement.csv")

    assert rows(report) == [
        (6, "JPM", 120.0, 80.0, None, "Stocks"),
        (7, "PG", 75.5, 80.0, None, "Stocks"),
        (8, "WMT", 40.0, None, None, "Stocks"),  # cost basis "unavailable"
        (11, "SPY", 60.0, 220.0, None, "Exchange Traded Products"),
    ]
    assert codes(report) == [(12, "unknown_symbol")]  # the bond of row 15 is skipped below
    bond = next(r for r in report.skipped if r.row == 15)
    assert bond.reason.startswith("CUSIP 912828ZT0: bonds and ISIN-only rows are not supported")
    assert skipped(report) == [
        (1, "title_row"),  # the account summary block
        (2, "title_row"),
        (9, "total_row"),  # Subtotal of Stocks
        (13, "total_row"),
        (15, "unsupported_security"),  # a bond
        (16, "total_row"),
        (18, "cash_row"),  # SPAXX in the Core Account section
        (19, "total_row"),
    ]


def test_vanguard_positions_settlement_fund_and_transactions_table() -> None:
    report = parse("vanguard/positions.csv")

    assert rows(report) == [
        (3, "JNJ", 85.0, None, None, None),
        (4, "PFE", 210.441, None, None, None),
    ]
    assert codes(report) == [(5, "unknown_symbol")]  # VTSAX
    assert skipped(report) == [(2, "cash_row"), (10, "other_table"), (11, "other_table")]


def test_ibkr_flex_open_positions() -> None:
    report = parse("ibkr/flex_positions.csv")

    assert rows(report) == [
        (2, "MSFT", 300.0, 60.12, dt.date(2017, 1, 3), None),
        (3, "BAC", -500.0, 22.8, dt.date(2017, 2, 8), None),
        (4, "MSFT170616C00065000", 4.0, 1.95, dt.date(2017, 3, 1), None),
        (5, "SPY170421P00230000", -2.0, 2.35, dt.date(2017, 3, 15), None),
    ]
    assert codes(report) == [(6, "unknown_symbol")]  # NVDA


def test_tastytrade_positions() -> None:
    report = parse("tastytrade/positions.csv")

    assert rows(report) == [
        (2, "XOM", 200.0, 75.9, None, None),
        (3, "XOM170421C00085000", -3.0, 0.68, None, None),
        (4, "CVX", -50.0, 107.0, None, None),
    ]
    assert codes(report) == []
    assert skipped(report) == [(5, "unsupported_security")]  # the /ESM7 future


def test_td_ameritrade_position_statement() -> None:
    report = parse("tdameritrade/positions.csv")

    assert rows(report) == [
        (5, "HD", 60.0, 136.4, None, None),
        (6, "LLY", 45.0, 80.15, None, None),
        (7, "PEP", -30.0, 110.02, None, None),
    ]
    # thinkorswim's option description ("HD 100 (Weeklys) 7 APR 17 145 CALL") is not read yet
    assert codes(report) == [(8, "invalid_option_symbol")]
    assert skipped(report) == [(1, "title_row"), (3, "title_row"), (10, "total_row")]


def test_degiro_portfolio_with_decimal_commas() -> None:
    report = parse("degiro/portfolio.csv", decimal=",")

    assert rows(report) == [(4, "KO", 40.0, None, None, None), (5, "MRK", 25.0, None, None, None)]
    assert [r.broker["price"] for r in report.rows] == [42.13, 63.41]
    assert codes(report) == []
    # ISIN-only products are skipped with a note (no ISIN-to-ticker mapping offline)
    assert skipped(report) == [
        (2, "cash_row"),
        (3, "unsupported_security"),
        (6, "unsupported_security"),
    ]


@pytest.mark.parametrize(
    ("text", "decimal", "price"),
    [
        ("Symbol;Quantity;Price\nKO;40;42,13\n", None, 42.13),  # detected: ';' and 42,13
        ("Symbol;Quantity;Price\nKO;40;1.042,13\n", None, 1042.13),
        ("Symbol;Quantity;Price\nKO;40;42.13\n", None, 42.13),
        ('Symbol,Quantity,Price\nKO,40,"42,13"\n', ",", 42.13),
    ],
)
def test_decimal_comma_detected_or_told(text: str, decimal: str | None, price: float) -> None:
    report = parse_positions_csv(text, decimal=decimal)

    assert report.issues == ()
    assert report.rows[0].broker["price"] == price


@pytest.mark.parametrize(
    "cell",
    ["2017-01-15T09:30:00-05:00", "2017-01-15 09:30:00", "20170115", "2017/01/15",
     "01/15/2017", "01/20/2017 as of 01/15/2017", "20170115;093000"],
)  # fmt: skip
def test_broker_date_formats(cell: str) -> None:
    report = parse_positions_csv(f"Symbol,Quantity,Open Date\nKO,1,{cell}\n")

    assert report.rows[0].spec.entry_date == dt.date(2017, 1, 15)


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("schwab/positions.csv", {"unknown_symbol"}),
        ("fidelity/statement.csv", {"unknown_symbol"}),
        ("fidelity/positions.csv", {"unknown_symbol"}),
    ],
)
def test_dry_run_json_lists_rows_and_coded_issues(
    sqlite_settings, monkeypatch, capsys, path: str, allowed: set[str]
) -> None:
    upgrade(sqlite_settings)
    cli = cli_runner(sqlite_settings, monkeypatch, capsys)

    code, out, _ = cli(
        "portfolio", "import", str(BROKERS / path), "--name", "B", "--owner", "me@example.com",
        "--dry-run", "--json",
    )  # fmt: skip

    result = json.loads(out)
    assert code == 1  # some row fails: an unknown ticker offline
    assert {issue["code"] for issue in result["issues"]} <= allowed
    assert all(issue["message"] and issue["reason"] for issue in result["issues"])
    assert result["rows"] and result["preview"]["created"] == len(result["rows"])
    assert sum(result["codes"].values()) == len(result["issues"]) + len(result["skipped"])


def test_cli_decimal_option_and_codes_in_the_text_report(sqlite_settings, monkeypatch, capsys):
    upgrade(sqlite_settings)
    cli = cli_runner(sqlite_settings, monkeypatch, capsys)
    args = ("portfolio", "import", str(BROKERS / "degiro/portfolio.csv"), "--name", "D",
            "--owner", "me@example.com", "--dry-run")  # fmt: skip

    code, out, _ = cli(*args, "--decimal", ",", "--json")
    assert code == 0  # the ISIN-only rows are skipped with a note, the stocks go in
    assert [(r["symbol"], r["broker"]["price"]) for r in json.loads(out)["rows"]] == [
        ("KO", 42.13),
        ("MRK", 63.41),
    ]

    code, out, _ = cli(*args)
    assert code == 0
    assert any(
        "row 3: ISIN US0378331005: bonds and ISIN-only rows are not supported" in line
        for line in out.splitlines()
    ), out
