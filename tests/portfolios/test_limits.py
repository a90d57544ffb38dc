"""Numbers and texts beyond their limits are refused at every door (issue 12, item 6).

Limits (documented in :mod:`sigmasight_lib.portfolios.limits`): |quantity| at
most 1e12 and at least 1e-8, prices at most 1e9, symbols 32 characters (a
ticker 16), strategy / portfolio / owner names 200, owner e-mail 254. The CLI
cases run on SQLite and PostgreSQL: PostgreSQL would raise ``DataError``
(numeric overflow, value too long) if a value reached it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from sigmasight_lib.db.models import Portfolio, Position
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.portfolios.csv_import import parse_positions_csv
from sigmasight_lib.portfolios.limits import TEXT_LIMITS, LimitError, check_number, check_text
from tests.conftest import cli_runner

HEADER = "symbol,quantity,entry_price,entry_date,tags,strategy"
HUGE = "1" + "0" * 400  # float() of it is inf
BOOK = ("--name", "Book", "--owner", "me@example.com")


def _issues(*rows: str) -> list[str]:
    return [str(i) for i in parse_positions_csv("\n".join((HEADER, *rows)) + "\n").issues]


def test_limits_follow_the_column_widths() -> None:
    assert dict(TEXT_LIMITS) == {
        "symbol": 32,
        "underlying": 16,
        "tags": 40,
        "strategy": 200,
        "owner_email": 254,
        "owner_name": 200,
        "portfolio_name": 200,
        "session_name": 200,
    }


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("quantity", float("inf"), "not a finite number (the limit is 1,000,000,000,000"),
        ("quantity", float("nan"), "not a finite number"),
        ("quantity", -1.5e12, "out of range: the limit is 1,000,000,000,000 in absolute value"),
        ("quantity", 1e-9, "too small: the smallest non-zero magnitude stored is 0.00000001"),
        ("entry_price", 1e9 + 1, "out of range: the limit is 1,000,000,000 in absolute value"),
        ("strike", float("-inf"), "not a finite number"),
    ],
)
def test_check_number_names_field_value_and_limit(field, value, reason) -> None:
    with pytest.raises(LimitError) as caught:
        check_number(field, value)
    assert caught.value.field == field and reason in str(caught.value)
    assert str(caught.value).startswith(f"field {field}, value {value!r}: ")


def test_values_at_the_limit_pass() -> None:
    assert check_number("quantity", -1e12) == -1e12
    assert check_number("price", 1e9) == 1e9
    assert check_text("portfolio_name", "x" * 200) == "x" * 200
    with pytest.raises(LimitError, match=r"longer than 200 characters \(201\)"):
        check_text("portfolio_name", "x" * 201)


def test_csv_rows_beyond_the_limits_are_issues_with_row_field_value() -> None:
    issues = _issues(
        f"AAPL,{HUGE},30,2017-01-03,,",
        "MSFT,100000000000000000,30,2017-01-03,,",
        "XOM,0.000000001,30,2017-01-03,,",
        'JPM,10,"2,000,000,000",2017-01-03,,',
        "ABCDEFGHIJKLMNOPQ,10,30,2017-01-03,,",
        f"KO,10,30,2017-01-03,,{'s' * 201}",
        "PFE,10,30,2017-01-03,,fine",
    )
    assert len(issues) == 6
    assert issues[0].startswith(f"row 2, field quantity, value '{HUGE}': not a finite number")
    assert issues[1] == (
        "row 3, field quantity, value '100000000000000000': out of range: "
        "the limit is 1,000,000,000,000 in absolute value"
    )
    assert issues[2] == (
        "row 4, field quantity, value '0.000000001': too small: "
        "the smallest non-zero magnitude stored is 0.00000001"
    )
    assert issues[3] == (
        "row 5, field entry_price, value '2,000,000,000': out of range: "
        "the limit is 1,000,000,000 in absolute value"
    )
    assert issues[4] == (
        "row 6, field symbol, value 'ABCDEFGHIJKLMNOPQ': longer than 16 characters (17)"
    )
    assert (
        issues[5] == f"row 7, field strategy, value '{'s' * 201}': longer than 200 characters (201)"
    )


@pytest.fixture
def cli(db_settings, monkeypatch, capsys):
    return cli_runner(db_settings, monkeypatch, capsys)


def _write(tmp_path: Path, *rows: str) -> str:
    path = tmp_path / "book.csv"
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return str(path)


def _count(settings, model) -> int:  # noqa: ANN001
    with session_scope(settings) as session:
        return session.scalar(sa.select(sa.func.count()).select_from(model))


def test_import_refuses_huge_quantities_and_long_names(cli, db_settings, tmp_path):
    path = _write(tmp_path, f"AAPL,{HUGE},30,2017-01-03,,", "MSFT,1e17,30,2017-01-03,,")
    code, out, err = cli("portfolio", "import", path, *BOOK, "--json", "--valid-rows-only")
    assert code == 1 and "Traceback" not in err
    issues = {(i["row"], i["field"]) for i in json.loads(out)["issues"]}
    assert issues == {(2, "quantity"), (3, "quantity")}
    assert _count(db_settings, Position) == 0

    path = _write(tmp_path, "MSFT,100000000000000000,30,2017-01-03,,", "AAPL,10,30,2017-01-03,,")
    code, out, err = cli("portfolio", "import", path, *BOOK, "--valid-rows-only")
    assert code == 0 and "Traceback" not in err
    assert "row 2, field quantity, value '100000000000000000': out of range" in out
    assert _count(db_settings, Position) == 1

    good = _write(tmp_path, "AAPL,10,30,2017-01-03,,")
    for option, value, field, limit in (
        ("--name", "n" * 201, "portfolio_name", 200),
        ("--owner", "o" * 250 + "@x.com", "owner_email", 254),
    ):
        args = {"--name": "Other", "--owner": "me@example.com", option: value}
        code, out, err = cli("portfolio", "import", good, *[x for kv in args.items() for x in kv])
        assert code == 1 and "Traceback" not in err
        assert err.strip().startswith(f"error: field {field}, value '")
        assert err.strip().endswith(f"longer than {limit} characters ({len(value)})")
    assert _count(db_settings, Portfolio) == 1


@pytest.fixture
def book(cli, db_settings, tmp_path):
    """Portfolio "Book" holding AAPL 10 @ 30 as position 1."""
    assert cli("portfolio", "import", _write(tmp_path, "AAPL,10,30,2017-01-03,,"), *BOOK)[0] == 0
    return db_settings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--quantity", "inf"), "error: position 1: quantity inf: not a finite number"),
        (("--quantity", HUGE), "error: position 1: quantity inf: not a finite number"),
        (("--quantity", "1e17"), "error: position 1: quantity 1e+17: out of range"),
        (("--entry-price", "nan"), "error: position 1: entry_price nan: not a finite number"),
        (("--entry-price", "2e9"), "error: position 1: entry_price 2000000000.0: out of range"),
    ],
)
def test_position_edit_refuses_non_finite_and_out_of_range(cli, book, args, message):
    code, _, err = cli("position", "edit", "1", *args)
    assert code == 1 and err.strip().startswith(message) and "Traceback" not in err
    with session_scope(book) as session:
        position = session.get(Position, 1)
        assert (position.quantity, position.entry_price) == (10.0, 30.0)


def test_position_close_refuses_an_out_of_range_exit_price(cli, book):
    code, _, err = cli(
        "position", "close", "1", "--exit-date", "2017-02-01", "--exit-price", "1e10"
    )
    assert code == 1 and err.strip().startswith(
        "error: position 1: exit_price 10000000000.0: out of range"
    )


def test_whatif_trades_and_session_names_beyond_the_limits(cli, book):
    code, _, err = cli("whatif", "create", "--portfolio", "Book", "--name", "w" * 201)
    assert code == 1 and "longer than 200 characters (201)" in err and "Traceback" not in err
    assert cli("whatif", "create", "--portfolio", "Book", "--name", "trim")[0] == 0
    for args, fragment in (
        (("AAPL", HUGE), "field quantity, value '1000000000"),
        (("AAPL", "inf"), "field quantity, value 'inf': not a number"),
        (("AAPL", "-2000000000000"), "field quantity, value '-2000000000000': out of range"),
        (("AAPL", "10", "--price", "5000000000"), "field price, value '5000000000': out of range"),
    ):
        code, _, err = cli("whatif", "add-trade", "trim", *args)
        assert code == 1 and fragment in err and "Traceback" not in err
    code, out, _ = cli("whatif", "show", "trim", "--json")
    assert json.loads(out)["trades"] == []
