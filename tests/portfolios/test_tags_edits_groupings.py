"""Tags (each rule), position edits with history, as-of replay, and groupings."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from sigmasight_lib.db.models import Position
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.portfolios.edits import (
    PositionEditError,
    close_position,
    edit_position,
    position_history,
    reopen_position,
)
from sigmasight_lib.portfolios.groupings import GROUPINGS, group_positions
from sigmasight_lib.portfolios.tags import (
    MAX_TAGS_PER_POSITION,
    TagError,
    create_tag,
    delete_tag,
    list_tags,
    rename_tag,
    tag_position,
    validate_tag_name,
)
from sigmasight_lib.runs import run_exposures, run_valuation

OWNER = "demo_individual@sigmasight.com"
BOOK = "Balanced Individual Investor"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * 41, "longer than 40 characters"),
        ("tech/growth", "'/' not allowed"),
        ("café", "'é' not allowed"),
        ("a#b!", "'!' '#' not allowed"),
    ],
)
def test_tag_name_rules(name, fragment):
    with pytest.raises(TagError, match=fragment):
        validate_tag_name(name)


@pytest.mark.parametrize("name", ["Tech", "core-2017", "Value_Tilt", "v1.2", "x" * 40, "Long Book"])
def test_valid_tag_names(name):
    assert validate_tag_name(f" {name} ") == name


def test_tag_uniqueness_rename_and_forced_delete(sqlite_demo_db):
    with session_scope(sqlite_demo_db) as session:
        create_tag(session, OWNER, "Watchlist")
        with pytest.raises(TagError, match="already has 'Watchlist'"):
            create_tag(session, OWNER, "WATCHLIST")  # case-insensitive
        rename_tag(session, OWNER, "watchlist", "WatchList")  # case change only: allowed
        with pytest.raises(TagError, match="already has 'Dividend'"):
            rename_tag(session, OWNER, "Watchlist", "dividend")
        tags = list_tags(session, OWNER).set_index("name")
        assert tags.loc["Dividend", "positions"] == 5  # JNJ PG KO PEP XOM in the balanced book
        with pytest.raises(TagError, match="used by 5 position"):
            delete_tag(session, OWNER, "Dividend")
        assert delete_tag(session, OWNER, "Dividend", force=True) == 5
        assert "Dividend" not in set(list_tags(session, OWNER)["name"])
        assert delete_tag(session, OWNER, "watchlist") == 0


def test_position_tags_add_remove_and_limit(sqlite_demo_db):
    with session_scope(sqlite_demo_db) as session:
        pid = session.scalar(
            sa.select(Position.id).where(Position.symbol == "MSFT").order_by(Position.id)
        )
        assert tag_position(session, pid, add=["Mega Cap"], remove=["Tech"]) == [
            "Core Holdings",
            "Mega Cap",
        ]
        with pytest.raises(TagError, match="has no tag 'Nope'"):
            tag_position(session, pid, remove=["Nope"])
        many = [f"t{i}" for i in range(MAX_TAGS_PER_POSITION)]
        with pytest.raises(TagError, match="more than 20"):
            tag_position(session, pid, add=many)


def test_edit_history_and_engines_before_the_edit_use_old_values(sqlite_demo_db):
    with session_scope(sqlite_demo_db) as session:
        pid = session.scalar(
            sa.select(Position.id).where(Position.symbol == "KO").order_by(Position.id)
        )
        edit_position(session, pid, quantity=900, effective=dt.date(2017, 3, 1), note="added 300")
        edit_position(session, pid, quantity=-100, effective=dt.date(2017, 3, 20))  # flips to SHORT
        history = position_history(session, pid)
    assert list(history["field"]) == ["quantity", "quantity", "position_type"]
    assert list(history["old_value"]) == ["600.0", "900.0", "LONG"]
    assert list(history["new_value"]) == ["900.0", "-100.0", "SHORT"]

    def ko(day):
        t = run_valuation(sqlite_demo_db, BOOK, as_of=day).tables["positions"]
        return t.loc[pid, ["quantity", "position_type"]].tolist()

    assert ko(dt.date(2017, 2, 28)) == [600.0, "LONG"]  # before both edits
    assert ko(dt.date(2017, 3, 10)) == [900.0, "LONG"]
    assert ko(dt.date(2017, 3, 29)) == [-100.0, "SHORT"]


def test_close_keeps_realized_pnl_and_reopen(sqlite_demo_db):
    with session_scope(sqlite_demo_db) as session:
        pos = session.scalar(
            sa.select(Position).where(Position.symbol == "PG").order_by(Position.id)
        )
        close_position(session, pos.id, exit_date=dt.date(2017, 3, 15), exit_price=80.0)
        assert pos.realized_pnl_usd == pytest.approx(300 * (80.0 - pos.entry_price))  # by hand
        with pytest.raises(PositionEditError, match="already closed"):
            close_position(session, pos.id, exit_date=dt.date(2017, 3, 16), exit_price=81.0)
        with pytest.raises(PositionEditError, match="reopen it first"):
            edit_position(session, pos.id, quantity=10)
        pid = pos.id
    held = run_valuation(sqlite_demo_db, BOOK, as_of=dt.date(2017, 3, 29)).tables["positions"]
    assert pid not in held.index
    held_before = run_valuation(sqlite_demo_db, BOOK, as_of=dt.date(2017, 3, 14)).tables[
        "positions"
    ]
    assert pid in held_before.index
    with session_scope(sqlite_demo_db) as session:
        reopen_position(session, pid)
        assert session.get(Position, pid).realized_pnl_usd is None


def test_groupings_sum_to_the_portfolio_totals(sqlite_demo_db):
    totals = run_exposures(sqlite_demo_db, "Long/Short Hedge Fund Style").summary
    for by in GROUPINGS:
        table, day = group_positions(sqlite_demo_db, "Long/Short Hedge Fund Style", by)
        assert day == dt.date(2017, 3, 29)
        if by == "tag":  # a position counts in each of its tags
            continue
        assert table["position_count"].sum() == 30
        for column in ("net_liquidation_value_usd", "gross_market_value_usd",
                       "net_exposure_usd", "delta_adjusted_exposure_usd"):  # fmt: skip
            assert table[column].sum() == pytest.approx(totals[column], rel=1e-12), (by, column)


def test_csv_import_applies_the_tag_rules_per_row():
    from sigmasight_lib.portfolios.csv_import import ImportIssue, parse_positions_csv

    report = parse_positions_csv(
        "Symbol,Quantity,Price Paid,Date Acquired,Tags\nAAPL,10,30,2017-01-03,Tech;bad/tag\n"
    )
    assert report.issues == (
        ImportIssue(
            2,
            "tags",
            "bad/tag",
            "character(s) '/' not allowed (letters, digits, space, '-', '_', '.')",
        ),
    )
