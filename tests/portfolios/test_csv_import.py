"""CSV portfolio parsing and validation: headers, values, per-row issues, exports."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path

import pytest

from sigmasight_lib.portfolios.csv_import import (
    ImportIssue,
    ImportReport,
    SkippedRow,
    parse_positions_csv,
    template_csv,
)
from sigmasight_lib.portfolios.positions import PositionSpec, PositionType

HEADER = "symbol,quantity,entry_price,entry_date"
UNKNOWN = "symbol not known to the market data provider"


def csv_text(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def summary(report: ImportReport) -> list[tuple]:
    """Row number, symbol, quantity, entry price, entry date, type and tags of each valid row."""
    return [
        (
            r.row,
            r.spec.symbol,
            r.spec.quantity,
            r.spec.entry_price,
            r.spec.entry_date,
            r.spec.position_type,
            r.spec.tags,
        )
        for r in report.rows
    ]


def only_spec(text: str) -> PositionSpec:
    report = parse_positions_csv(text)
    assert report.issues == ()
    assert len(report.rows) == 1
    return report.rows[0].spec


# --------------------------------------------------------------------------- broker exports

SCHWAB = csv_text(
    "Symbol,Description,Quantity,Price Paid,Date Acquired,Market Value",
    'AAPL,APPLE INC,100,$150.25,01/15/2017,"$15,025.00"',
    'MSFT,MICROSOFT CORP,-20,$62.50,1/3/17,"-$1,250.00"',
    'AAPL  170616C00140000,AAPL CALL,2,$5.40,03/01/2017,"$1,080.00"',
    'Account Total,,,,,"$14,855.00"',
)
FIDELITY = (
    "\ufeffSymbol,Quantity,Average Cost,Open Date,Account Name\r\n"
    'AMZN,10,"$1,234.50",2017-01-15,Individual\r\n'
    'GE,"(1,200)",$30.10,"Jan 15, 2017",Individual\r\n'
    "\r\n"
    ',"(1,190)","$1,264.60",,\r\n'
).encode()
INTERACTIVE = csv_text(
    "Instrument;Position;Avg Cost;Trade Date;Labels",
    "SPY   170616P00230000;-2;3.10;15-Mar-2017;income|Hedge|INCOME",
    "BRK.B;+15;USD 165.00;2017-02-01;",
)
ROBINHOOD = csv_text(
    "Ticker\tShares\tCost Per Share\tPurchase Date\tStrategy\tTags",
    "bf-b\t12.5\t€48.20\tJanuary 9, 2017\t  Dividend core  \tValue; value ;Defensive",
    "QQQ170616C00130000\t-3\t2.15\t2/14/2017\tCovered\t",
)


@pytest.mark.parametrize(
    ("source", "rows", "notes"),
    [
        pytest.param(
            SCHWAB,
            [
                (2, "AAPL", 100.0, 150.25, dt.date(2017, 1, 15), PositionType.LONG, ()),
                (3, "MSFT", -20.0, 62.5, dt.date(2017, 1, 3), PositionType.SHORT, ()),
                (4, "AAPL170616C00140000", 2.0, 5.4, dt.date(2017, 3, 1), PositionType.LC, ()),
            ],
            ["row 5: totals row skipped"],
            id="schwab",
        ),
        pytest.param(
            FIDELITY,
            [
                (2, "AMZN", 10.0, 1234.5, dt.date(2017, 1, 15), PositionType.LONG, ()),
                (3, "GE", -1200.0, 30.1, dt.date(2017, 1, 15), PositionType.SHORT, ()),
            ],
            ["column 'Account Name' ignored", "row 5: totals row skipped"],
            id="fidelity-bom-crlf-parentheses",
        ),
        pytest.param(
            INTERACTIVE,
            [
                (
                    2,
                    "SPY170616P00230000",
                    -2.0,
                    3.1,
                    dt.date(2017, 3, 15),
                    PositionType.SP,
                    ("income", "Hedge"),
                ),
                (3, "BRK.B", 15.0, 165.0, dt.date(2017, 2, 1), PositionType.LONG, ()),
            ],
            ["delimiter ';' detected"],
            id="semicolon",
        ),
        pytest.param(
            ROBINHOOD,
            [
                (
                    2,
                    "BF-B",
                    12.5,
                    48.2,
                    dt.date(2017, 1, 9),
                    PositionType.LONG,
                    ("Value", "Defensive"),
                ),
                (3, "QQQ170616C00130000", -3.0, 2.15, dt.date(2017, 2, 14), PositionType.SC, ()),
            ],
            ["delimiter '\\t' detected"],
            id="tab",
        ),
    ],
)
def test_broker_exports(source: str | bytes, rows: list[tuple], notes: list[str]) -> None:
    report = parse_positions_csv(source)

    assert report.issues == ()
    assert summary(report) == rows
    assert list(report.notes) == notes
    assert report.ok is True


def test_strategy_is_stripped_and_read_from_its_column() -> None:
    report = parse_positions_csv(ROBINHOOD)

    assert [r.spec.strategy for r in report.rows] == ["Dividend core", "Covered"]


def test_path_source_is_read_from_disk(tmp_path: Path) -> None:
    file = tmp_path / "schwab.csv"
    file.write_bytes(SCHWAB.replace("\n", "\r\n").encode("utf-8-sig"))

    report = parse_positions_csv(file)

    assert [(r.row, r.spec.symbol) for r in report.rows] == [
        (2, "AAPL"),
        (3, "MSFT"),
        (4, "AAPL170616C00140000"),
    ]
    assert report.issues == ()


def test_byte_order_mark_in_text_source_is_dropped() -> None:
    report = parse_positions_csv(
        "\ufeffAccount,Symbol,Qty,Avg Cost,Open Date\r\nX1,AAPL,1,150,2017-01-15\r\n"
    )

    assert report.notes == ("column 'Account' ignored",)
    assert [r.spec.symbol for r in report.rows] == ["AAPL"]


def test_windows_1252_bytes_are_decoded_and_noted() -> None:
    source = b"symbol,quantity,entry_price,entry_date,strategy\nAAPL,1,\x80100,2017-01-15,caf\xe9\n"

    report = parse_positions_csv(source)

    assert summary(report) == [(2, "AAPL", 1.0, 100.0, dt.date(2017, 1, 15), PositionType.LONG, ())]
    assert report.rows[0].spec.strategy == "café"
    assert report.notes == ("file is not UTF-8; read as Windows-1252",)


# --------------------------------------------------------------------------- headers

SYNONYMS = {
    "symbol": ["Symbol", "Ticker", "Security", "Instrument", "SYMBOL", " symbol "],
    "quantity": ["Quantity", "Qty", "Shares", "Position", "Contracts", "QTY"],
    "entry_price": [
        "Entry Price",
        "Avg Cost",
        "Average Cost",
        "Cost Basis Per Share",
        "Price Paid",
        "Cost Per Share",
        "Purchase Price",
        "Unit Cost",
        "entry_price",
        "ENTRYPRICE",
        "  entry   price ",
        "Avg. Cost",
    ],
    "entry_date": [
        "Entry Date",
        "Date Acquired",
        "Open Date",
        "Trade Date",
        "Acquired",
        "Purchase Date",
        "entry_date",
        "DATE ACQUIRED",
    ],
}


@pytest.mark.parametrize(
    ("column", "header"),
    [(column, header) for column, headers in SYNONYMS.items() for header in headers],
)
def test_header_synonyms(column: str, header: str) -> None:
    headers = ["symbol", "quantity", "entry_price", "entry_date"]
    headers[headers.index(column)] = header
    text = csv_text(",".join(headers), "AAPL,100,150.25,2017-01-15")

    report = parse_positions_csv(text)

    assert report.issues == ()
    assert report.notes == ()
    assert summary(report) == [
        (2, "AAPL", 100.0, 150.25, dt.date(2017, 1, 15), PositionType.LONG, ())
    ]


@pytest.mark.parametrize("header", ["Tags", "Tag", "Labels", "TAGS"])
def test_tag_header_synonyms(header: str) -> None:
    spec = only_spec(csv_text(f"{HEADER},{header}", "AAPL,1,150,2017-01-15,core"))

    assert spec.tags == ("core",)


def test_missing_required_columns_are_one_issue_each_and_stop_parsing() -> None:
    report = parse_positions_csv(csv_text("Symbol,Notes", "AAPL,x"))

    assert report.issues == (
        ImportIssue(
            None,
            "quantity",
            None,
            "missing required column (accepted headers: Quantity, Qty, Shares, Position, "
            "Contracts, Qty (Quantity), Amount, Aantal, Anzahl)",
        ),
    )
    assert [issue.code for issue in report.issues] == ["missing_column"]
    assert report.rows == ()
    assert report.failed_rows == set()


def test_entry_price_and_date_are_optional_and_noted() -> None:
    report = parse_positions_csv(csv_text("Symbol,Qty,Notes", "AAPL,1,x"))

    assert report.issues == ()
    assert summary(report) == [(2, "AAPL", 1.0, None, None, PositionType.LONG, ())]
    assert report.notes == (
        "column 'Notes' ignored",
        "row 2: no entry price (cost basis unknown): unrealized P&L will be N/A",
    )


def test_missing_symbol_column_lists_its_accepted_headers() -> None:
    report = parse_positions_csv(
        csv_text("Name,Quantity,Entry Price,Entry Date", "x,1,2,2017-01-01")
    )

    assert report.issues == (
        ImportIssue(
            None,
            "symbol",
            None,
            "missing required column (accepted headers: Symbol, Ticker, Security, Instrument, "
            "Symbol/CUSIP, Symbol/ISIN, Symbool/ISIN)",
        ),
    )


def test_second_column_for_the_same_field_is_ignored_and_noted() -> None:
    text = csv_text("Symbol,Ticker,Quantity,Entry Price,Entry Date,", "AAPL,MSFT,1,150,2017-01-15,")

    report = parse_positions_csv(text)

    assert [r.spec.symbol for r in report.rows] == ["AAPL"]
    assert report.notes == (
        "column 'Ticker' ignored: symbol is read from column 'Symbol'",
        "column 6 has no header and is ignored",
    )


# --------------------------------------------------------------------------- empty files


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("", "file is empty (no header row)"),
        ("\r\n\r\n  \r\n", "file is empty (no header row)"),
        (b"\xef\xbb\xbf", "file is empty (no header row)"),
        (",,,\n", "file is empty (no header row)"),
        (csv_text(HEADER), "no data rows below the header"),
        (csv_text(HEADER, "", ",,,", ""), "no data rows below the header"),
    ],
)
def test_empty_file_is_one_file_level_issue(source: str | bytes, reason: str) -> None:
    report = parse_positions_csv(source)

    assert report.issues == (ImportIssue(None, None, None, reason),)
    assert report.rows == ()
    assert report.ok is False


def test_file_with_only_a_totals_row_has_no_data_rows() -> None:
    report = parse_positions_csv(csv_text(HEADER, "Total,,,"))

    assert report.issues == (ImportIssue(None, None, None, "no data rows below the header"),)
    assert report.notes == ("row 2: totals row skipped",)


# --------------------------------------------------------------------------- per-row issues


def test_every_issue_is_collected_with_row_field_and_value() -> None:
    text = csv_text(
        HEADER,  # row 1
        "AAPL,abc,150,2017-01-15",  # 2
        "AAPL,0,150,2017-01-15",  # 3
        "AAPL,10,-5,2017-01-15",  # 4
        "AAPL,10,0,2017-01-15",  # 5
        "",  # 6: blank, still counted
        "AAPL,10,150,2017-02-30",  # 7
        "AAPL,10,150,15/01/2017",  # 8
        "AAPL170231C00140000,1,2.50,2017-01-15",  # 9
        "AAPL,10,$,2017-01-15",  # 10
        ",10,150,2017-01-15",  # 11: empty symbol, not at the end
        "BRK B,1,150,2017-01-15",  # 12
        "AAPL170616C00140000,1.5,2.50,2017-01-15",  # 13
        "AAPL170616C00140000,1,2.50,2017-07-01",  # 14
        "MSFT,1,60,2017-01-15,extra",  # 15
        "IBM,x,(5),never",  # 16: three issues in one row
        "SPY,1,,2017-01-15",  # 17
        "AAPL170616C0014000,1,2.50,2017-01-15",  # 18
    )

    report = parse_positions_csv(text)

    assert report.issues == (
        ImportIssue(2, "quantity", "abc", "not a number"),
        ImportIssue(3, "quantity", "0", "must not be zero"),
        ImportIssue(4, "entry_price", "-5", "must be greater than zero"),
        ImportIssue(5, "entry_price", "0", "must be greater than zero"),
        ImportIssue(7, "entry_date", "2017-02-30", "not a date"),
        ImportIssue(8, "entry_date", "15/01/2017", "not a date"),
        ImportIssue(
            9,
            "symbol",
            "AAPL170231C00140000",
            "invalid OCC option symbol: expiry '170231' is not a valid date YYMMDD",
        ),
        ImportIssue(10, "entry_price", "$", "not a number"),
        ImportIssue(11, "symbol", "", "required value is empty"),
        ImportIssue(12, "symbol", "BRK B", "not a ticker or an OCC option symbol"),
        ImportIssue(13, "quantity", "1.5", "must be a whole number of option contracts"),
        ImportIssue(14, "entry_date", "2017-07-01", "after the option's expiry 2017-06-16"),
        ImportIssue(15, None, None, "has 5 cells but the header has 4 columns"),
        ImportIssue(16, "quantity", "x", "not a number"),
        ImportIssue(16, "entry_price", "(5)", "must be greater than zero"),
        ImportIssue(16, "entry_date", "never", "not a date"),
        ImportIssue(
            18,
            "symbol",
            "AAPL170616C0014000",
            "invalid OCC option symbol: strike '0014000' must be 8 digits (price x 1000, zero-padded)",
        ),
    )
    assert [issue.code for issue in report.issues] == [
        "invalid_number",
        "invalid_number",
        "invalid_number",
        "invalid_number",
        "invalid_date",
        "invalid_date",
        "invalid_option_symbol",  # an OCC-shaped symbol with an impossible date
        "invalid_number",
        "missing_value",
        "invalid_symbol",  # "BRK B": neither a ticker nor an option symbol
        "invalid_number",
        "invalid_date",
        "extra_cells",
        "invalid_number",
        "invalid_number",
        "invalid_date",
        "invalid_option_symbol",  # an OCC strike of 7 digits
    ]
    assert [r.row for r in report.rows] == [17]  # an empty entry price is unknown, not an error
    assert report.rows[0].spec.entry_price is None
    assert report.failed_rows == {2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18}
    assert report.ok is False


def test_valid_rows_are_kept_next_to_failing_ones() -> None:
    text = csv_text(
        HEADER, "AAPL,10,150,2017-01-15", "MSFT,zero,60,2017-01-15", "SPY,-5,230,2017-01-15"
    )

    report = parse_positions_csv(text)

    assert [(r.row, r.spec.symbol) for r in report.rows] == [(2, "AAPL"), (4, "SPY")]
    assert report.failed_rows == {3}
    assert report.ok is False


def test_issue_text_names_row_field_and_value() -> None:
    assert str(ImportIssue(4, "quantity", "abc", "not a number")) == (
        "row 4, field quantity, value 'abc': not a number"
    )
    assert str(ImportIssue(7, None, None, "duplicate of row 3")) == "row 7: duplicate of row 3"
    assert str(ImportIssue(None, None, None, "file is empty (no header row)")) == (
        "file is empty (no header row)"
    )
    assert str(ImportIssue(None, "symbol", None, "missing required column")) == (
        "field symbol: missing required column"
    )


def test_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    text = "\n\n" + csv_text(
        HEADER,  # row 3
        "",  # 4
        'AAPL,10,150,2017-01-15,"two\nline strategy"',  # 5 (one spreadsheet row)
        "AAPL,abc,150,2017-01-15",  # 6
    )

    report = parse_positions_csv(text.replace(HEADER, HEADER + ",strategy"))

    assert [r.row for r in report.rows] == [5]
    assert report.rows[0].spec.strategy == "two\nline strategy"
    assert report.issues == (ImportIssue(6, "quantity", "abc", "not a number"),)


def test_unreadable_csv_reports_the_row_where_reading_stopped() -> None:
    text = csv_text(HEADER, "AAPL,10,150,2017-01-15", "MSFT," + "9" * 200_000 + ",60,2017-01-15")

    report = parse_positions_csv(text)

    assert [r.row for r in report.rows] == [2]
    assert len(report.issues) == 1
    issue = report.issues[0]
    assert (issue.row, issue.field, issue.value) == (3, None, None)
    assert issue.reason.startswith("not readable as CSV (")
    assert issue.reason.endswith("); rows from here on were not read")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("100", 100.0),
        ("  100  ", 100.0),
        ("+100", 100.0),
        ("-100", -100.0),
        ('"1,234"', 1234.0),
        ('"1,234,567.5"', 1234567.5),
        ('"(1,234.50)"', -1234.5),
        ("(7)", -7.0),
        ("$5", 5.0),
        ("-$5", -5.0),
        ("$-5", -5.0),
        ("($5.25)", -5.25),
        ("USD 12", 12.0),
        ("USD12", 12.0),
        ("€12.5", 12.5),
        ("£7", 7.0),
        (".5", 0.5),
        ("0.125", 0.125),
    ],
)
def test_quantity_formats(cell: str, expected: float) -> None:
    spec = only_spec(csv_text(HEADER, f"AAPL,{cell},150,2017-01-15"))

    assert spec.quantity == expected


@pytest.mark.parametrize(
    "cell",
    [
        "1,234.50-",  # trailing minus: rejected on purpose
        "12,34",  # decimal comma
        "1,23,456",
        "1.2.3",
        "(-5)",
        "+-5",
        "-$-5",
        "1e3",
        "nan",
        "inf",
        "5 shares",
        "$ 5 5",
        "(5",
    ],
)
def test_quantities_that_are_not_numbers(cell: str) -> None:
    quoted = f'"{cell}"' if "," in cell else cell
    report = parse_positions_csv(csv_text(HEADER, f"AAPL,{quoted},150,2017-01-15"))

    assert report.issues == (ImportIssue(2, "quantity", cell, "not a number"),)


@pytest.mark.parametrize(
    "cell",
    [
        "2017-01-15",
        "1/15/2017",
        "01/15/2017",
        "01/15/17",
        "1/15/17",
        "15-Jan-2017",
        "15-JAN-2017",
        '"Jan 15, 2017"',
        '"January 15, 2017"',
        " 2017-01-15 ",
    ],
)
def test_date_formats(cell: str) -> None:
    spec = only_spec(csv_text(HEADER, f"AAPL,1,150,{cell}"))

    assert spec.entry_date == dt.date(2017, 1, 15)


@pytest.mark.parametrize(
    "cell",
    [
        "15/01/2017",
        "2017-13-01",
        "42750",
        "yesterday",
        "Feb 30 2017",
        "1/15",
    ],
)
def test_dates_that_are_not_dates(cell: str) -> None:
    report = parse_positions_csv(csv_text(HEADER, f"AAPL,1,150,{cell}"))

    assert report.issues == (ImportIssue(2, "entry_date", cell, "not a date"),)


def test_entry_date_after_as_of_is_in_the_future() -> None:
    text = csv_text(HEADER, "AAPL,1,150,2017-01-15", "MSFT,1,60,2017-01-14")

    report = parse_positions_csv(text, as_of=dt.date(2017, 1, 14))

    assert report.issues == (
        ImportIssue(2, "entry_date", "2017-01-15", "in the future (after 2017-01-14)"),
    )
    assert [r.row for r in report.rows] == [3]


def test_future_dates_are_not_checked_without_as_of() -> None:
    spec = only_spec(csv_text(HEADER, "AAPL,1,150,2999-12-31"))

    assert spec.entry_date == dt.date(2999, 12, 31)


# --------------------------------------------------------------------------- positions


@pytest.mark.parametrize(
    ("symbol", "quantity", "position_type"),
    [
        ("AAPL", "100", PositionType.LONG),
        ("AAPL", "-100", PositionType.SHORT),
        ("AAPL170616C00140000", "2", PositionType.LC),
        ("AAPL170616P00140000", "2", PositionType.LP),
        ("AAPL170616C00140000", "-2", PositionType.SC),
        ("AAPL170616P00140000", "(2)", PositionType.SP),
    ],
)
def test_position_type_from_quantity_sign_and_option_type(
    symbol: str, quantity: str, position_type: PositionType
) -> None:
    spec = only_spec(csv_text(HEADER, f"{symbol},{quantity},5,2017-01-15"))

    assert spec.position_type == position_type


def test_option_row_becomes_an_option_position() -> None:
    spec = only_spec(csv_text(HEADER, "spy   170616p00230500,-3,2.05,2017-03-01"))

    assert spec == PositionSpec(
        symbol="SPY170616P00230500",
        quantity=-3.0,
        underlying="SPY",
        position_type=PositionType.SP,
        entry_price=2.05,
        entry_date=dt.date(2017, 3, 1),
        option_type="P",
        strike=230.5,
        expiry=dt.date(2017, 6, 16),
        multiplier=100,
    )


def test_stock_row_becomes_a_stock_position() -> None:
    spec = only_spec(csv_text(f"{HEADER},strategy", " brk.b ,7,165.5,2017-02-01,"))

    assert spec == PositionSpec(
        symbol="BRK.B",
        quantity=7.0,
        underlying="BRK.B",
        position_type=PositionType.LONG,
        entry_price=165.5,
        entry_date=dt.date(2017, 2, 1),
        multiplier=1,
        strategy=None,
    )


def test_tags_are_split_stripped_and_deduplicated_case_insensitively() -> None:
    spec = only_spec(
        csv_text(f"{HEADER},tags", "AAPL,1,150,2017-01-15, Growth; growth |TECH|| tech ;Value")
    )

    assert spec.tags == ("Growth", "TECH", "Value")


# --------------------------------------------------------------------------- across rows


def test_duplicate_rows_name_the_first_occurrence() -> None:
    text = csv_text(
        HEADER,
        "AAPL,100,150,2017-01-15",  # 2
        "AAPL,200,150,2017-01-15",  # 3: other quantity, not a duplicate
        "aapl,100,$150.00,1/15/2017",  # 4: same position, spelled differently
        "AAPL,100,150,2017-01-15",  # 5
        "AAPL  170616C00140000,1,2.5,2017-01-15",  # 6
        "AAPL170616C00140000,1,2.50,01/15/17",  # 7: same contract, compact
        "AAPL,100,150,2017-01-16",  # 8: other date
        "AAPL,100,151,2017-01-15",  # 9: other price
    )

    report = parse_positions_csv(text)

    assert report.issues == (
        ImportIssue(4, None, None, "duplicate of row 2"),
        ImportIssue(5, None, None, "duplicate of row 2"),
        ImportIssue(7, None, None, "duplicate of row 6"),
    )
    assert [r.row for r in report.rows] == [2, 3, 6, 8, 9]


def test_rows_with_an_invalid_key_field_are_not_duplicates() -> None:
    text = csv_text(HEADER, "AAPL,x,150,2017-01-15", "AAPL,x,150,2017-01-15")

    report = parse_positions_csv(text)

    assert report.issues == (
        ImportIssue(2, "quantity", "x", "not a number"),
        ImportIssue(3, "quantity", "x", "not a number"),
    )


class RecordingProvider:
    """Stands in for a market data provider's ``unknown_symbols``."""

    def __init__(self, unknown: set[str]) -> None:
        self.unknown = unknown
        self.calls: list[list[str]] = []

    def unknown_symbols(self, symbols: Iterable[str]) -> set[str]:
        asked = list(symbols)
        self.calls.append(asked)
        return self.unknown & set(asked)


def test_unknown_symbols_callback_gets_underlyings_not_contracts() -> None:
    provider = RecordingProvider({"XYZ", "SPY"})
    text = csv_text(
        HEADER,
        "AAPL,10,150,2017-01-15",  # 2
        "AAPL170616C00140000,1,2.5,2017-01-15",  # 3
        "SPY   170616P00230000,-1,3.1,2017-03-01",  # 4
        "xyz,5,10,2017-01-15",  # 5
        "QQQ170231C00100000,1,1,2017-01-15",  # 6: invalid symbol, not asked about
        "MSFT,abc,60,2017-01-15",  # 7: other issue, still asked about
    )

    report = parse_positions_csv(text, unknown_symbols=provider.unknown_symbols)

    assert provider.calls == [["AAPL", "MSFT", "SPY", "XYZ"]]
    assert report.issues == (
        ImportIssue(4, "symbol", "SPY   170616P00230000", UNKNOWN),
        ImportIssue(5, "symbol", "xyz", UNKNOWN),
        ImportIssue(
            6,
            "symbol",
            "QQQ170231C00100000",
            "invalid OCC option symbol: expiry '170231' is not a valid date YYMMDD",
        ),
        ImportIssue(7, "quantity", "abc", "not a number"),
    )
    assert [r.row for r in report.rows] == [2, 3]


def test_unknown_symbols_callback_is_not_called_without_valid_symbols() -> None:
    provider = RecordingProvider({"AAPL"})

    report = parse_positions_csv(
        csv_text(HEADER, "BRK B,1,1,2017-01-15"), unknown_symbols=provider.unknown_symbols
    )

    assert provider.calls == []
    assert report.issues == (
        ImportIssue(2, "symbol", "BRK B", "not a ticker or an OCC option symbol"),
    )


def test_symbols_are_not_checked_without_a_callback() -> None:
    spec = only_spec(csv_text(HEADER, "NOSUCHTICKER,1,1,2017-01-15"))

    assert spec.symbol == "NOSUCHTICKER"


# --------------------------------------------------------------------------- totals rows


@pytest.mark.parametrize(
    "label", ["Total", "TOTALS", "Grand Total", "account total", "Account  Total", "Total:"]
)
def test_totals_row_by_label_is_skipped_and_noted(label: str) -> None:
    text = csv_text(HEADER, "AAPL,100,150,2017-01-15", f"{label},100,,")

    report = parse_positions_csv(text)

    assert report.issues == ()
    assert [r.row for r in report.rows] == [2]
    assert report.notes == ("row 3: totals row skipped",)


def test_trailing_rows_without_symbol_but_with_numbers_are_totals() -> None:
    text = csv_text(HEADER, "AAPL,100,150,2017-01-15", "", ',,"$15,000.00",', ",100,,")

    report = parse_positions_csv(text)

    assert report.issues == ()
    assert report.notes == ("row 4: totals row skipped", "row 5: totals row skipped")


def test_trailing_row_without_symbol_or_numbers_is_an_error() -> None:
    text = csv_text(HEADER, "AAPL,100,150,2017-01-15", ",,,n/a")

    report = parse_positions_csv(text)

    assert report.issues == (
        ImportIssue(3, "symbol", "", "required value is empty"),
        ImportIssue(3, "quantity", "", "required value is empty"),
    )


# --------------------------------------------------------------------------- template and JSON


def test_template_has_every_column_and_the_four_kinds_of_example() -> None:
    template = template_csv()
    report = parse_positions_csv(template)

    assert template.splitlines()[0] == "symbol,quantity,entry_price,entry_date,tags,strategy"
    assert report.ok is True
    assert report.notes == ()
    assert [r.spec.position_type for r in report.rows] == [
        PositionType.LONG,
        PositionType.SHORT,
        PositionType.LC,
        PositionType.SP,
    ]
    assert all(r.spec.tags for r in report.rows)
    assert [r.spec.strategy is not None for r in report.rows] == [False, False, True, True]


def test_to_dict_is_json_ready() -> None:
    text = csv_text(
        f"{HEADER},tags,Broker",
        "AAPL170616C00140500,2,5.4,2017-03-01,a|b,x",
        "MSFT,abc,60,2017-01-15,,y",
    )

    result = json.loads(json.dumps(parse_positions_csv(text).to_dict()))

    assert result == {
        "ok": False,
        "rows": [
            {
                "row": 2,
                "symbol": "AAPL170616C00140500",
                "quantity": 2.0,
                "underlying": "AAPL",
                "position_type": "LC",
                "entry_price": 5.4,
                "entry_date": "2017-03-01",
                "option_type": "C",
                "strike": 140.5,
                "expiry": "2017-06-16",
                "multiplier": 100,
                "tags": ["a", "b"],
                "strategy": None,
                "section": None,
                "broker": {},
            }
        ],
        "issues": [
            {
                "row": 3,
                "field": "quantity",
                "value": "abc",
                "reason": "not a number",
                "code": "invalid_number",
                "message": "row 3, field quantity, value 'abc': not a number",
            }
        ],
        "notes": ["column 'Broker' ignored"],
        "skipped": [],
        "codes": {"invalid_number": 1},
    }


# --------------------------------------------------------------------------- broker layouts


def test_header_found_below_title_and_blank_lines_rows_keep_their_numbers() -> None:
    text = csv_text(
        "Positions for account X ...123 as of 2017/03/29", "", HEADER, "KO,10,40,2017-01-03"
    )

    report = parse_positions_csv(text)

    assert summary(report) == [(4, "KO", 10.0, 40.0, dt.date(2017, 1, 3), PositionType.LONG, ())]
    assert [(r.row, r.code) for r in report.skipped] == [(1, "title_row")]


@pytest.mark.parametrize(
    ("symbol", "description"),
    [
        ("Cash & Cash Investments", "--"),
        ("Cash (SPAXX)", ""),
        ("SPAXX**", "HELD IN MONEY MARKET"),
        ("Pending activity", ""),
        ("FDIC-INSURED DEPOSIT SWEEP", ""),
        ("QACDS", "BANK SWEEP FDIC INSURED"),
        ("VMFXX", "VANGUARD FEDERAL MONEY MARKET FUND"),
    ],
)
def test_cash_rows_are_skipped_with_their_code(symbol: str, description: str) -> None:
    text = csv_text("Symbol,Description,Quantity", "KO,COCA-COLA,10", f"{symbol},{description},5")

    report = parse_positions_csv(text)

    assert report.issues == ()
    assert [(r.row, r.code, r.text) for r in report.skipped] == [(3, "cash_row", symbol)]


@pytest.mark.parametrize(
    "label", ["Positions Total", "Account Total", "Subtotal of Stocks", "OVERALL TOTALS", "Total"]
)
def test_total_rows_are_skipped_with_their_code(label: str) -> None:
    report = parse_positions_csv(csv_text("Symbol,Quantity", "KO,10", f"{label},10", "PG,5"))

    assert [r.row for r in report.rows] == [2, 4]
    assert [(r.row, r.code) for r in report.skipped] == [(3, "total_row")]


@pytest.mark.parametrize("cell", ["--", "N/A", "n/a", "", "-"])
def test_missing_entry_price_is_unknown_not_an_error(cell: str) -> None:
    report = parse_positions_csv(csv_text("Symbol,Quantity,Avg Cost", f"KO,10,{cell}"))

    assert report.issues == ()
    assert report.rows[0].spec.entry_price is None


def test_cost_basis_total_is_divided_by_quantity_and_multiplier() -> None:
    text = csv_text(
        "Symbol,Quantity,Cost Basis,Average Cost Basis",
        'KO,200.8724,"$8,034.896",',
        "KO170616C00045000,-2,$108.00,",
        "PG,10,$900.00,$85.00",  # a per-share price wins over the total
    )

    report = parse_positions_csv(text)

    assert [round(r.spec.entry_price, 6) for r in report.rows] == [40.0, 0.54, 85.0]


@pytest.mark.parametrize(("symbol", "kind"), [("037833100", "CUSIP"), ("US0378331005", "ISIN")])
def test_cusip_and_isin_rows_are_skipped_as_unsupported_securities(symbol: str, kind: str) -> None:
    # a broker file with a bond or ISIN-only line still imports its stocks
    report = parse_positions_csv(csv_text("Symbol,Quantity", f"{symbol},10", "KO,5"))

    assert report.issues == ()
    assert [r.row for r in report.rows] == [3]
    assert report.skipped == (
        SkippedRow(
            2,
            "unsupported_security",
            symbol,
            f"{kind} {symbol}: bonds and ISIN-only rows are not supported "
            "(give the ticker or the option symbol instead): skipped",
        ),
    )


def test_bond_security_type_is_skipped_as_unsupported() -> None:
    text = csv_text("Symbol,Quantity,Security Type", "KO,10,Equity", "XYZ,5000,Fixed Income")

    report = parse_positions_csv(text)

    assert [r.row for r in report.rows] == [2]
    assert report.issues == ()
    assert [(r.row, r.code) for r in report.skipped] == [(3, "unsupported_security")]


def test_percent_and_broker_columns_are_reported_with_the_row() -> None:
    text = csv_text(
        "Symbol,Quantity,Last,Value,Asset Type,Description,% of Account",
        'KO,10,$42.13,"$421.30",Equity,COCA-COLA CO,12.5%',
    )

    report = parse_positions_csv(text)

    assert report.rows[0].broker == {
        "price": 42.13,
        "market_value": 421.3,
        "security_type": "Equity",
        "description": "COCA-COLA CO",
    }


def test_every_code_is_documented() -> None:
    from sigmasight_lib.portfolios.csv_import import ISSUE_CODES

    texts = [
        csv_text("Title line", "Symbol,Quantity,Open Date", "KO,x,never", "Cash,1,", "Total,1,"),
        csv_text("Symbol,Quantity", "037833100,1", "KO,1", "KO,1,9"),
        "",
        "Notes\nx\n",
    ]
    for text in texts:
        report = parse_positions_csv(text, unknown_symbols=lambda s: {"KO"})
        assert set(report.code_counts()) <= set(ISSUE_CODES)
        assert all(issue.to_dict()["code"] == issue.code for issue in report.issues)


def test_notes_about_many_rows_are_one_line() -> None:
    text = csv_text("Symbol,Quantity", *(f"KO,{i}" for i in range(1, 31)))

    assert parse_positions_csv(text).notes == (
        "rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21 and 10 "
        "more: no entry price (cost basis unknown): unrealized P&L will be N/A",
    )
