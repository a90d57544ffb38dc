"""OCC option symbols: parsing, formatting, validation messages, ticker detection."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from sigmasight_lib.exceptions import SigmaSightError
from sigmasight_lib.portfolios.occ import (
    OccContract,
    OccSymbolError,
    looks_like_occ,
    parse_occ_symbol,
)

LAYOUT = (
    "a 1-6 character root, a 6-digit expiry YYMMDD, C or P and an 8-digit strike"
    " (e.g. AAPL170616C00140000)"
)


def test_compact_symbol_parses_into_its_parts() -> None:
    contract = parse_occ_symbol("AAPL170616C00140000")

    assert contract == OccContract("AAPL", dt.date(2017, 6, 16), "C", 140.0)


def test_padded_and_compact_forms_give_the_same_contract() -> None:
    padded = parse_occ_symbol("SPY   170616P00230000")
    compact = parse_occ_symbol("SPY170616P00230000")

    assert padded == compact
    assert padded.compact == "SPY170616P00230000"
    assert padded.padded == "SPY   170616P00230000"


def test_padded_form_is_21_characters_even_for_a_six_character_root() -> None:
    contract = OccContract("GOOGL1", dt.date(2017, 6, 16), "P", 900.0)

    assert contract.padded == "GOOGL1170616P00900000"
    assert len(contract.padded) == 21
    assert contract.compact == "GOOGL1170616P00900000"


@pytest.mark.parametrize(
    "text",
    [
        "  AAPL  170616C00140000  ",  # surrounding whitespace
        "aapl170616c00140000",  # lower case
        "AAPL     170616C00140000",  # more spaces than the padding needs
        "AAPL\t170616C00140000",  # tab between root and expiry
    ],
)
def test_sloppy_spellings_are_tolerated(text: str) -> None:
    assert parse_occ_symbol(text) == OccContract("AAPL", dt.date(2017, 6, 16), "C", 140.0)


@pytest.mark.parametrize(
    ("text", "strike", "compact"),
    [
        ("AAPL170616C00140500", 140.5, "AAPL170616C00140500"),
        ("AAPL170616C00000500", 0.5, "AAPL170616C00000500"),
        ("AAPL170616C00000001", 0.001, "AAPL170616C00000001"),
        ("AAPL170616C00012125", 12.125, "AAPL170616C00012125"),
        ("BRKA170616C99999999", 99999.999, "BRKA170616C99999999"),
    ],
)
def test_strike_is_the_8_digits_divided_by_1000(text: str, strike: float, compact: str) -> None:
    contract = parse_occ_symbol(text)

    assert contract.strike == strike
    assert contract.compact == compact


def test_leap_day_expiry_is_valid_in_a_leap_year() -> None:
    assert parse_occ_symbol("SPY240229C00500000").expiry == dt.date(2024, 2, 29)


def test_root_with_digits_is_an_adjusted_contract() -> None:
    contract = parse_occ_symbol("AAPL1 170616C00140000")

    assert contract.root == "AAPL1"
    assert contract.expiry == dt.date(2017, 6, 16)
    assert contract.compact == "AAPL1170616C00140000"
    assert contract.padded == "AAPL1 170616C00140000"


def test_compact_symbol_with_digit_root_is_split_at_the_expiry() -> None:
    contract = parse_occ_symbol("A1240229P00010000")

    assert (contract.root, contract.expiry, contract.option_type, contract.strike) == (
        "A1",
        dt.date(2024, 2, 29),
        "P",
        10.0,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "AAPL170231C00140000",
            "invalid OCC option symbol 'AAPL170231C00140000': "
            "expiry '170231' is not a valid date YYMMDD",
        ),
        (
            "SPY230229C00500000",
            "invalid OCC option symbol 'SPY230229C00500000': "
            "expiry '230229' is not a valid date YYMMDD",
        ),
        (
            "AAPL171316C00140000",
            "invalid OCC option symbol 'AAPL171316C00140000': "
            "expiry '171316' is not a valid date YYMMDD",
        ),
        (
            "AAPL170616X00140000",
            "invalid OCC option symbol 'AAPL170616X00140000': "
            "option type 'X' must be C (call) or P (put)",
        ),
        (
            "AAPL170616C0014000",
            "invalid OCC option symbol 'AAPL170616C0014000': "
            "strike '0014000' must be 8 digits (price x 1000, zero-padded)",
        ),
        (
            "AAPL170616C001400000",
            "invalid OCC option symbol 'AAPL170616C001400000': "
            "strike '001400000' must be 8 digits (price x 1000, zero-padded)",
        ),
        (
            "AAPL170616C00000000",
            "invalid OCC option symbol 'AAPL170616C00000000': strike is zero",
        ),
        (
            "170616C00140000",
            "invalid OCC option symbol '170616C00140000': root is empty",
        ),
        (
            "ABCDEFG170616C00140000",
            "invalid OCC option symbol 'ABCDEFG170616C00140000': "
            "root 'ABCDEFG' is longer than 6 characters",
        ),
        (
            "AAPL1706",
            "invalid OCC option symbol 'AAPL1706': wrong length: 8 characters without spaces, "
            f"expected 16-21: {LAYOUT}",
        ),
        (
            "AAPL170616C00140000 CALL",
            "invalid OCC option symbol 'AAPL170616C00140000 CALL': wrong length: "
            f"23 characters without spaces, expected 16-21: {LAYOUT}",
        ),
        (
            "AAPL17061C00140000",
            f"invalid OCC option symbol 'AAPL17061C00140000': wrong layout: expected {LAYOUT}",
        ),
        (
            "BRK.B170616C00140000",
            "invalid OCC option symbol 'BRK.B170616C00140000': "
            "contains characters other than letters, digits and spaces",
        ),
        ("   ", "invalid OCC option symbol '   ': symbol is empty"),
        (
            "ABCDEFG170616Q0014",
            "invalid OCC option symbol 'ABCDEFG170616Q0014': "
            "root 'ABCDEFG' is longer than 6 characters; "
            "option type 'Q' must be C (call) or P (put); "
            "strike '0014' must be 8 digits (price x 1000, zero-padded)",
        ),
    ],
)
def test_malformed_symbol_error_quotes_the_symbol_and_says_what_is_wrong(
    text: str, message: str
) -> None:
    with pytest.raises(OccSymbolError) as caught:
        parse_occ_symbol(text)

    assert str(caught.value) == message
    assert caught.value.symbol == text


def test_error_reason_lists_every_problem_without_the_symbol() -> None:
    with pytest.raises(OccSymbolError) as caught:
        parse_occ_symbol("AAPL170231P00000000")

    assert caught.value.problems == ("expiry '170231' is not a valid date YYMMDD", "strike is zero")
    assert caught.value.reason == "expiry '170231' is not a valid date YYMMDD; strike is zero"


def test_occ_symbol_error_is_a_sigmasight_error_and_a_value_error() -> None:
    with pytest.raises(SigmaSightError):
        parse_occ_symbol("AAPL170616C00000000")
    with pytest.raises(ValueError):
        parse_occ_symbol("AAPL170616C00000000")


@pytest.mark.parametrize(
    ("root", "expiry", "option_type", "strike", "message"),
    [
        ("", dt.date(2017, 6, 16), "C", 140.0, "invalid OCC contract: root is empty"),
        (
            "aapl",
            dt.date(2017, 6, 16),
            "C",
            140.0,
            "invalid OCC contract: root 'aapl' must be upper-case letters and digits",
        ),
        (
            "AAPL",
            dt.date(2017, 6, 16),
            "X",
            140.0,
            "invalid OCC contract: option type 'X' must be C (call) or P (put)",
        ),
        (
            "AAPL",
            dt.date(2017, 6, 16),
            "C",
            140.0005,
            "invalid OCC contract: strike 140.0005 must be positive, below 100000 "
            "and a multiple of 0.001",
        ),
        (
            "AAPL",
            dt.date(2017, 6, 16),
            "C",
            0.0,
            "invalid OCC contract: strike 0.0 must be positive, below 100000 "
            "and a multiple of 0.001",
        ),
        (
            "AAPL",
            dt.date(2017, 6, 16),
            "C",
            100000.0,
            "invalid OCC contract: strike 100000.0 must be positive, below 100000 "
            "and a multiple of 0.001",
        ),
        (
            "AAPL",
            dt.date(1999, 6, 18),
            "C",
            140.0,
            "invalid OCC contract: expiry year 1999 is outside 2000-2099",
        ),
    ],
)
def test_contract_built_from_parts_is_validated(
    root: str, expiry: dt.date, option_type: str, strike: float, message: str
) -> None:
    with pytest.raises(OccSymbolError) as caught:
        OccContract(root, expiry, option_type, strike)  # type: ignore[arg-type]

    assert str(caught.value) == message
    assert caught.value.symbol is None


def test_contract_is_immutable() -> None:
    contract = OccContract("AAPL", dt.date(2017, 6, 16), "C", 140.0)

    with pytest.raises(dataclasses.FrozenInstanceError):
        contract.strike = 150.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "ticker", ["AAPL", "GOOGL", "BRK.B", "BF-B", "BRK/B", "SPY", "A", "X1", "0700.HK", "", "  "]
)
def test_tickers_do_not_look_like_options(ticker: str) -> None:
    assert looks_like_occ(ticker) is False


@pytest.mark.parametrize(
    "symbol",
    [
        "AAPL170616C00140000",
        "AAPL  170616C00140000",
        " aapl 170616p00140000 ",
        "AAPL1170616C00140000",
        # malformed, but clearly meant as options: reported as OCC errors, not tickers
        "AAPL170231C00140000",
        "ABCDEFG170616C00140000",
        "AAPL170616X00140000",
        "AAPL170616C0014",
        "170616C00140000",
    ],
)
def test_option_symbols_look_like_options(symbol: str) -> None:
    assert looks_like_occ(symbol) is True
