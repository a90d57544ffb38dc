"""Option notations of the brokers, root -> underlying, CUSIP/ISIN recognition."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import pytest

from sigmasight_lib.exceptions import ImportValidationError
from sigmasight_lib.portfolios.csv_import import ImportReport, parse_positions_csv
from sigmasight_lib.portfolios.option_symbols import (
    INVALID_OPTION_SYMBOL,
    UNSUPPORTED_SECURITY,
    OptionSymbolError,
    ParsedOption,
    UnsupportedSecurityError,
    cusip_check_digit,
    looks_like_option_symbol,
    parse_option_symbol,
    root_info,
    root_underlying,
    security_id_kind,
)
from sigmasight_lib.portfolios.positions import make_position_spec
from sigmasight_lib.whatif.sessions import validate_trade

JUNE_16_2017 = dt.date(2017, 6, 16)


def fields(parsed: ParsedOption) -> tuple[object, ...]:
    return (
        parsed.root,
        parsed.underlying,
        parsed.expiry,
        parsed.option_type,
        parsed.strike,
        parsed.multiplier,
        parsed.occ_symbol,
    )


AAPL_CALL_140 = ("AAPL", "AAPL", JUNE_16_2017, "C", 140.0, 100, "AAPL170616C00140000")


@pytest.mark.parametrize(
    ("text", "notation"),
    [
        ("AAPL170616C00140000", "occ"),
        ("AAPL  170616C00140000", "occ"),  # padded: IBKR / tastytrade Symbol column
        ("aapl170616c00140000", "occ"),
        ("-AAPL170616C140", "fidelity"),
        (" -AAPL170616C140", "fidelity"),
        ("- AAPL170616C140", "fidelity"),
        ("AAPL170616C140", "fidelity"),
        ("-AAPL170616C140.00", "fidelity"),
        ("AAPL 06/16/2017 140.00 C", "text"),  # Schwab
        ("AAPL 16JUN17 140 C", "text"),  # IBKR description
        ("AAPL 16JUN2017 140 C", "text"),
        ("AAPL 6/16/17 Call 140.00", "text"),  # tastytrade description
        ("AAPL Jun 16 '17 $140 Call", "text"),  # E*Trade
        ("AAPL Jun 16 2017 $140.00 Call", "text"),
        ("AAPL $140 Call 6/16/2017", "text"),  # Robinhood
        ("AAPL 6/16/2017 Call $140.00", "text"),  # Robinhood activity description
        ("AAPL 2017-06-16 140 C", "text"),
        ("  AAPL   06/16/2017   140.00  C ", "text"),
    ],
)
def test_every_notation_gives_the_same_fields(text: str, notation: str) -> None:
    parsed = parse_option_symbol(text)

    assert fields(parsed) == AAPL_CALL_140
    assert parsed.notation == notation
    assert parsed.standard_deliverable and parsed.note is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "DEF260227P15",
            ("DEF", "DEF", dt.date(2026, 2, 27), "P", 15.0, 100, "DEF260227P00015000"),
        ),
        (
            "-SPY170616P230.5",
            ("SPY", "SPY", JUNE_16_2017, "P", 230.5, 100, "SPY170616P00230500"),
        ),
        (
            "AAPL Jun 16, 2017 142.50 Put",
            ("AAPL", "AAPL", JUNE_16_2017, "P", 142.5, 100, "AAPL170616P00142500"),
        ),
        (
            "SPX 06/14/2024 $1,250 P",
            ("SPX", "SPX", dt.date(2024, 6, 14), "P", 1250.0, 100, "SPX240614P01250000"),
        ),
    ],
)
def test_puts_decimal_and_thousands_strikes(text: str, expected: tuple[object, ...]) -> None:
    assert fields(parse_option_symbol(text)) == expected


@pytest.mark.parametrize(
    ("root", "underlying"),
    [
        ("SPXW", "SPX"),
        ("NDXP", "NDX"),
        ("RUTW", "RUT"),
        ("VIXW", "VIX"),
        ("BRKB", "BRK.B"),
        ("AAPL", "AAPL"),
        ("SPX", "SPX"),
    ],
)
def test_weekly_alternate_and_class_roots(root: str, underlying: str) -> None:
    info = root_info(root)

    assert (info.underlying, info.standard_deliverable, info.note) == (underlying, True, None)
    assert root_underlying(root.lower()) == underlying


def test_adjusted_root_is_flagged_non_standard() -> None:
    parsed = parse_option_symbol("USO1 06/16/2017 10 C")

    assert (parsed.root, parsed.underlying, parsed.occ_symbol) == (
        "USO1",
        "USO",
        "USO1170616C00010000",
    )
    assert not parsed.standard_deliverable
    assert parsed.note is not None and "USO1" in parsed.note and "non-standard" in parsed.note
    assert not parse_option_symbol("USO1170616C00010000").standard_deliverable


def test_weekly_root_in_each_notation_maps_to_the_index() -> None:
    symbols = ["SPXW240614P05200000", "-SPXW240614P5200", "SPXW 06/14/2024 5200.00 P"]

    parsed = [parse_option_symbol(s) for s in symbols]

    assert {(p.root, p.underlying, p.occ_symbol) for p in parsed} == {
        ("SPXW", "SPX", "SPXW240614P05200000")
    }


def test_class_share_written_with_a_dot_keeps_the_ticker() -> None:
    for text in ("BRK.B 06/16/2017 140.00 C", "-BRKB170616C140", "BRKB170616C00140000"):
        parsed = parse_option_symbol(text)
        assert (parsed.root, parsed.underlying, parsed.occ_symbol) == (
            "BRKB",
            "BRK.B",
            "BRKB170616C00140000",
        )


# ------------------------------------------------------------------ CUSIP / ISIN


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("037833100", "CUSIP"),  # Apple Inc. common stock
        ("912828ZT0", "CUSIP"),  # a US Treasury note
        ("US0378331005", "ISIN"),  # Apple Inc.
        ("US912828ZT04", "ISIN"),
        ("DE0007164600", "ISIN"),  # SAP SE
        (" us0378331005 ", "ISIN"),
    ],
)
def test_cusip_and_isin_are_unsupported_securities(text: str, kind: str) -> None:
    assert security_id_kind(text) == kind
    assert looks_like_option_symbol(text)

    with pytest.raises(UnsupportedSecurityError) as caught:
        parse_option_symbol(text)

    error = caught.value
    assert isinstance(error, ImportValidationError) and isinstance(error, ValueError)
    assert (error.code, error.kind) == (UNSUPPORTED_SECURITY, kind)
    assert "bonds and ISIN-only rows are not supported" in error.reason


def test_cusip_check_digit_by_hand() -> None:
    # 0 3 7 8 3 3 1 0, doubling every second: 0+6+7+(1+6)+3+6+1+0 = 30 -> check 0
    assert cusip_check_digit("03783310") == 0


@pytest.mark.parametrize("text", ["037833101", "US0378331004", "AAPL", "BRK.B", "BRK B", "GOOGL"])
def test_wrong_check_digits_and_tickers_are_no_security_ids(text: str) -> None:
    assert security_id_kind(text) is None


@pytest.mark.parametrize("text", ["AAPL", "BRK.B", "BF-B", "BRK B", "037833101", "SPY"])
def test_tickers_do_not_look_like_options(text: str) -> None:
    assert not looks_like_option_symbol(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("AAPL170231C00140000", "invalid OCC option symbol: expiry '170231' is not a valid date"),
        ("AAPL170616C0014000", "invalid OCC option symbol: strike '0014000' must be 8 digits"),
        ("-AAPL171316C140", "expiry '171316' is not a valid date YYMMDD"),
        ("AAPL 06/31/2017 140 C", "expiry '06/31/2017' is not a valid date"),
        ("AAPL 06/16/2017 140 C 150", "expected one expiry, one strike and one of"),
        ("AAPL 06/16/2017 140", "expected one expiry, one strike and one of"),
        ("AAPL 140 C", "no expiry date found"),
        ("AAPL 06/16/2017 0 C", "invalid option contract: strike 0.0 must be positive"),
        ("TOOLONGROOT 06/16/2017 140 C", "not an option symbol"),
        ("", "symbol is empty"),
    ],
)
def test_invalid_option_symbols_name_the_problem(text: str, reason: str) -> None:
    with pytest.raises(OptionSymbolError) as caught:
        parse_option_symbol(text)

    assert caught.value.code == INVALID_OPTION_SYMBOL
    assert not isinstance(caught.value, UnsupportedSecurityError)
    assert caught.value.reason.startswith(reason)
    assert repr(text) in str(caught.value)


# ------------------------------------------------------- through the CSV importer

CSV_HEADER = "Symbol,Quantity,Entry Price,Entry Date"


def import_rows(*rows: str) -> tuple[ImportReport, list[list[str]]]:
    """The import report of ``rows`` under :data:`CSV_HEADER`, and what the provider was asked."""
    asked: list[list[str]] = []

    def unknown_symbols(symbols: Iterable[str]) -> set[str]:
        asked.append(list(symbols))
        return set()

    text = "\n".join([CSV_HEADER, *rows])
    return parse_positions_csv(text, unknown_symbols=unknown_symbols), asked


def test_csv_rows_in_broker_notations_become_the_same_option_position() -> None:
    report, asked = import_rows(
        "-AAPL170616C140,1,5.40,2017-03-01",
        "AAPL 06/16/2017 140.00 C,2,5.40,2017-03-02",
        "AAPL 16JUN17 140 C,3,5.40,2017-03-03",
        "AAPL Jun 16 '17 $140 Call,4,5.40,2017-03-06",
        "AAPL $140 Call 6/16/2017,5,5.40,2017-03-07",
    )

    assert report.issues == ()
    specs = [row.spec for row in report.rows]
    assert [s.quantity for s in specs] == [1, 2, 3, 4, 5]
    assert {(s.symbol, s.underlying, s.option_type, s.strike, s.expiry) for s in specs} == {
        ("AAPL170616C00140000", "AAPL", "C", 140.0, JUNE_16_2017)
    }
    assert asked == [["AAPL"]]


def test_csv_option_roots_are_checked_and_stored_by_their_underlying() -> None:
    report, asked = import_rows(
        "SPXW  240614P05200000,-1,12.5,2024-06-03",
        "-BRKB240621C400,1,3.1,2024-06-03",
        "USO1 06/21/2024 70 C,1,2.0,2024-06-03",
    )

    assert report.issues == ()
    assert [(r.spec.symbol, r.spec.underlying) for r in report.rows] == [
        ("SPXW240614P05200000", "SPX"),
        ("BRKB240621C00400000", "BRK.B"),
        ("USO1240621C00070000", "USO"),
    ]
    assert asked == [["BRK.B", "SPX", "USO"]]


def test_csv_cusip_and_isin_rows_are_skipped_as_unsupported_securities() -> None:
    text = "\n".join(
        [
            CSV_HEADER,
            "037833100,10,150,2017-01-15",
            "US0378331005,10,150,2017-01-15",
            "AAPL170231C00140000,1,5,2017-01-15",
        ]
    )

    report = parse_positions_csv(text)

    assert report.rows == ()
    assert [(r.row, r.code, r.text) for r in report.skipped] == [
        (2, "unsupported_security", "037833100"),
        (3, "unsupported_security", "US0378331005"),
    ]
    assert report.skipped[0].reason.startswith(
        "CUSIP 037833100: bonds and ISIN-only rows are not supported"
    )
    assert report.skipped[1].reason.startswith(
        "ISIN US0378331005: bonds and ISIN-only rows are not supported"
    )
    assert [(i.row, i.field, i.value, i.reason) for i in report.issues] == [
        (4, "symbol", "AAPL170231C00140000",
         "invalid OCC option symbol: expiry '170231' is not a valid date YYMMDD"),
    ]  # fmt: skip


def test_make_position_spec_maps_the_root() -> None:
    spec = make_position_spec("SPXW240614P05200000", -1)

    assert (spec.symbol, spec.underlying, spec.multiplier) == ("SPXW240614P05200000", "SPX", 100)


def test_whatif_trades_take_the_same_notations() -> None:
    spec, _ = validate_trade("SPXW 06/14/2024 5200.00 P", -2)

    assert (spec.symbol, spec.underlying, spec.quantity) == ("SPXW240614P05200000", "SPX", -2)
    with pytest.raises(ImportValidationError, match="bonds and ISIN-only rows are not supported"):
        validate_trade("US0378331005", 10)


def test_import_notes_an_adjusted_root_as_a_non_standard_deliverable(tmp_path):
    from sigmasight_lib.portfolios.csv_import import parse_positions_csv

    path = tmp_path / "adjusted.csv"
    path.write_text(
        "Symbol,Quantity,Price Paid,Date Acquired\n"
        "USO1170616C00010000,2,1.5,2017-01-15\n"
        "AAPL,10,100,2017-01-15\n",
        encoding="utf-8",
    )
    report = parse_positions_csv(path)
    assert [(r.row, r.spec.underlying) for r in report.rows] == [(2, "USO"), (3, "AAPL")]
    assert [n for n in report.notes if "USO1" in n] == [
        "row 2: adjusted option root USO1: non-standard deliverable after a corporate action "
        "on USO; risk assumes 100 shares, check the OCC memo"
    ]
