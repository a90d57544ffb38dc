"""Strategies: detection on hand-built positions, CRUD rules and errors, the demo's strategies."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from click.testing import CliRunner

from sigmasight_lib.config import Settings
from sigmasight_lib.db.session import session_scope, upgrade
from sigmasight_lib.exceptions import NotFoundError, SigmaSightError
from sigmasight_lib.portfolios.positions import PositionSpec, make_position_spec
from sigmasight_lib.portfolios.service import find_portfolio, write_portfolio
from sigmasight_lib.portfolios.strategies import (
    STRATEGY_TYPES,
    StrategyError,
    add_to_strategy,
    create_strategy,
    delete_strategy,
    detect_and_create,
    detect_strategies,
    find_strategy,
    list_strategies,
    remove_from_strategy,
    validate_strategy_type,
)
from sigmasight_lib.portfolios.strategy_cli import strategy_group

EXP = dt.date(2017, 6, 16)
EXP2 = dt.date(2017, 7, 21)


def _stock(pid: int, symbol: str, qty: float, strategy: str | None = None) -> dict:
    return {
        "id": pid,
        "symbol": symbol,
        "underlying": symbol,
        "position_type": "LONG" if qty > 0 else "SHORT",
        "quantity": qty,
        "multiplier": 1,
        "option_type": None,
        "strike": None,
        "expiry": None,
        "strategy": strategy,
    }


def _option(
    pid: int,
    underlying: str,
    option_type: str,
    strike: float,
    qty: float,
    expiry: dt.date = EXP,
    strategy: str | None = None,
) -> dict:
    side = "L" if qty > 0 else "S"
    return {
        "id": pid,
        "symbol": f"{underlying}{expiry:%y%m%d}{option_type}{int(strike * 1000):08d}",
        "underlying": underlying,
        "position_type": side + option_type,
        "quantity": qty,
        "multiplier": 100,
        "option_type": option_type,
        "strike": strike,
        "expiry": expiry,
        "strategy": strategy,
    }


def _frame(*rows: dict) -> pd.DataFrame:
    """Shaped like ``store.load_positions``: indexed by position id."""
    return pd.DataFrame(list(rows)).set_index("id")


def _types(proposals) -> list[tuple[str, tuple[int, ...]]]:  # noqa: ANN001
    return [(p.strategy_type, p.position_ids) for p in proposals]


# --------------------------------------------------------------------------- detection


def test_covered_call_is_found() -> None:
    proposals = detect_strategies(_frame(_stock(1, "AAPL", 400), _option(2, "AAPL", "C", 35, -4)))
    assert _types(proposals) == [("covered_call", (1, 2))]
    assert "AAPL" in proposals[0].name and "400" in proposals[0].reason


def test_stock_and_call_on_different_underlyings_are_not_paired() -> None:
    frame = _frame(_stock(1, "AAPL", 400), _option(2, "MSFT", "C", 60, -4))
    assert detect_strategies(frame) == []


def test_undersized_covered_call_is_not_proposed() -> None:
    # 4 contracts x 100 = 400 shares needed, only 300 held
    frame = _frame(_stock(1, "AAPL", 300), _option(2, "AAPL", "C", 35, -4))
    assert detect_strategies(frame) == []


def test_short_stock_or_long_call_is_no_covered_call() -> None:
    assert detect_strategies(_frame(_stock(1, "AAPL", -400), _option(2, "AAPL", "C", 35, -4))) == []
    assert detect_strategies(_frame(_stock(1, "AAPL", 400), _option(2, "AAPL", "C", 35, 4))) == []


def test_protective_put_and_collar() -> None:
    put_only = _frame(_stock(1, "MSFT", 1500), _option(2, "MSFT", "P", 55, 15))
    assert _types(detect_strategies(put_only)) == [("protective_put", (1, 2))]
    collar = _frame(
        _stock(1, "MSFT", 1500), _option(2, "MSFT", "P", 55, 15), _option(3, "MSFT", "C", 70, -15)
    )
    assert _types(detect_strategies(collar)) == [("collar", (1, 2, 3))]


def test_straddles_long_and_short() -> None:
    long_ = _frame(_option(1, "JPM", "C", 75, 40), _option(2, "JPM", "P", 75, 40))
    assert _types(detect_strategies(long_)) == [("straddle", (1, 2))]
    assert "long straddle" in detect_strategies(long_)[0].name
    short = _frame(_option(1, "JPM", "C", 75, -5), _option(2, "JPM", "P", 75, -5))
    assert "short straddle" in detect_strategies(short)[0].name
    # unequal contracts, different expiry, or mixed directions: no straddle
    assert (
        detect_strategies(_frame(_option(1, "JPM", "C", 75, 40), _option(2, "JPM", "P", 75, 30)))
        == []
    )
    assert (
        detect_strategies(
            _frame(_option(1, "JPM", "C", 75, 4), _option(2, "JPM", "P", 75, 4, EXP2))
        )
        == []
    )


def test_strangle() -> None:
    frame = _frame(_option(1, "JPM", "C", 80, 10), _option(2, "JPM", "P", 70, 10))
    assert _types(detect_strategies(frame)) == [("strangle", (1, 2))]


def test_vertical_spread() -> None:
    frame = _frame(_option(1, "AMD", "C", 15, 10), _option(2, "AMD", "C", 17.5, -10))
    proposals = detect_strategies(frame)
    assert _types(proposals) == [("vertical_spread", (1, 2))]
    assert "call spread" in proposals[0].name
    put_spread = _frame(_option(1, "AMD", "P", 15, -10), _option(2, "AMD", "P", 17.5, 10))
    assert _types(detect_strategies(put_spread)) == [("vertical_spread", (2, 1))]
    # same strike or different expiries: no vertical
    assert (
        detect_strategies(_frame(_option(1, "AMD", "C", 15, 10), _option(2, "AMD", "C", 15, -10)))
        == []
    )
    assert (
        detect_strategies(
            _frame(_option(1, "AMD", "C", 15, 10), _option(2, "AMD", "C", 17, -10, EXP2))
        )
        == []
    )


def test_already_assigned_positions_are_skipped() -> None:
    frame = _frame(_stock(1, "AAPL", 400, strategy="mine"), _option(2, "AAPL", "C", 35, -4))
    assert detect_strategies(frame) == []


def test_each_position_used_once() -> None:
    # one stock big enough for two calls still pairs with one call only
    frame = _frame(
        _stock(1, "AAPL", 800), _option(2, "AAPL", "C", 35, -4), _option(3, "AAPL", "C", 36, -4)
    )
    proposals = detect_strategies(frame)
    assert _types(proposals) == [("covered_call", (1, 2))]
    used = [pid for p in proposals for pid in p.position_ids]
    assert len(used) == len(set(used))


def test_detection_accepts_id_column_and_nan_strategy() -> None:
    frame = pd.DataFrame([_stock(7, "AAPL", 100), _option(8, "AAPL", "C", 35, -1)])
    frame["strategy"] = float("nan")
    assert _types(detect_strategies(frame)) == [("covered_call", (7, 8))]


def test_strategy_types() -> None:
    assert "pairs_trade" in STRATEGY_TYPES and "free_form" in STRATEGY_TYPES
    assert validate_strategy_type("long_straddle") == "long_straddle"
    assert validate_strategy_type(" Covered-Call ") == "covered_call"
    with pytest.raises(StrategyError, match="'iron_condor'"):
        validate_strategy_type("iron_condor")


# --------------------------------------------------------------------------- service


def _spec(symbol: str, qty: float, strategy: str | None = None) -> PositionSpec:
    return make_position_spec(
        symbol, qty, entry_price=10.0, entry_date=dt.date(2017, 1, 3), strategy=strategy
    )


@pytest.fixture
def db(sqlite_settings: Settings) -> Settings:
    upgrade(sqlite_settings)
    with session_scope(sqlite_settings) as session:
        write_portfolio(
            session,
            name="Alpha",
            owner_email="a@example.com",
            positions=[
                _spec("AAPL", 400),
                _spec("AAPL170616C00035000", -4),
                _spec("XOM", 100),
                _spec("CVX", -100),
            ],
        )
        write_portfolio(
            session, name="Beta", owner_email="b@example.com", positions=[_spec("MSFT", 10)]
        )
    return sqlite_settings


def _ids(session, name: str) -> dict[str, int]:  # noqa: ANN001
    return {p.symbol: p.id for p in find_portfolio(session, name).positions}


def test_create_list_add_remove_delete(db: Settings) -> None:
    with session_scope(db) as session:
        ids = _ids(session, "Alpha")
        s = create_strategy(session, "Alpha", "XOM/CVX pair", "pairs_trade", [ids["XOM"]])
        add_to_strategy(session, s.id, [ids["CVX"]])
        frame = list_strategies(session, "Alpha")
        assert frame.loc[0, "name"] == "XOM/CVX pair"
        assert frame.loc[0, "position_ids"] == sorted([ids["XOM"], ids["CVX"]])
        remove_from_strategy(session, "xom/cvx PAIR", [ids["CVX"]])
        assert list_strategies(session, "Alpha").loc[0, "positions"] == 1
        assert delete_strategy(session, s.id) == 1
        assert list_strategies(session, "Alpha").empty
        assert len(find_portfolio(session, "Alpha").positions) == 4  # positions stay


def test_create_rules(db: Settings) -> None:
    with session_scope(db) as session:
        ids = _ids(session, "Alpha")
        beta = _ids(session, "Beta")
        create_strategy(session, "Alpha", "pair", "pairs_trade", [ids["XOM"], ids["CVX"]])
        with pytest.raises(StrategyError, match="already has a strategy named 'pair'"):
            create_strategy(session, "Alpha", "PAIR", "free_form", [ids["AAPL"]])
        with pytest.raises(StrategyError, match="'iron_condor'"):
            create_strategy(session, "Alpha", "x", "iron_condor", [ids["AAPL"]])
        with pytest.raises(StrategyError, match="empty"):
            create_strategy(session, "Alpha", "  ", "free_form", [ids["AAPL"]])
        with pytest.raises(StrategyError, match=f"position {beta['MSFT']} \\(MSFT\\)"):
            create_strategy(session, "Alpha", "x", "free_form", [beta["MSFT"]])
        with pytest.raises(NotFoundError, match="99999"):
            create_strategy(session, "Alpha", "x", "free_form", [99999])
        with pytest.raises(StrategyError, match="'abc'"):
            create_strategy(session, "Alpha", "x", "free_form", ["abc"])
        with pytest.raises(StrategyError, match="at least one position"):
            create_strategy(session, "Alpha", "x", "free_form", [])
        with pytest.raises(StrategyError, match="already in strategy 'pair'"):
            create_strategy(session, "Alpha", "x", "free_form", [ids["XOM"]])
        moved = create_strategy(session, "Alpha", "x", "free_form", [ids["XOM"]], move=True)
        assert [p.symbol for p in moved.positions] == ["XOM"]
        assert [p.symbol for p in find_strategy(session, "pair").positions] == ["CVX"]
        with pytest.raises(StrategyError, match="not in strategy 'x'"):
            remove_from_strategy(session, "x", [ids["CVX"]])
        with pytest.raises(NotFoundError, match="'nope'"):
            find_strategy(session, "nope")
        with pytest.raises(NotFoundError):
            create_strategy(session, "Gamma", "x", "free_form", [ids["AAPL"]])
    assert issubclass(StrategyError, SigmaSightError) and issubclass(StrategyError, ValueError)


def test_detect_and_create(db: Settings) -> None:
    with session_scope(db) as session:
        proposals = detect_and_create(session, "Alpha")
        assert _types(proposals)[0][0] == "covered_call"
        assert list_strategies(session, "Alpha").empty  # proposing creates nothing
        created = detect_and_create(session, "Alpha", create=True)
        assert created[0].strategy_id is not None
        frame = list_strategies(session, "Alpha")
        assert frame["strategy_type"].tolist() == ["covered_call"]
        assert detect_and_create(session, "Alpha") == []  # nothing left to propose


def test_cli(db: Settings) -> None:
    runner = CliRunner()
    obj = {"settings": db}
    with session_scope(db) as session:
        ids = _ids(session, "Alpha")
    r = runner.invoke(strategy_group, ["detect", "--portfolio", "Alpha"], obj=obj)
    assert r.exit_code == 0, r.output
    assert "covered_call" in r.output and "nothing created" in r.output
    args = ["create", "--portfolio", "Alpha", "--name", "pair", "--type", "pairs_trade"]
    r = runner.invoke(strategy_group, [*args, "--position", str(ids["XOM"])], obj=obj)
    assert r.exit_code == 0, r.output
    r = runner.invoke(strategy_group, ["add", "pair", str(ids["CVX"])], obj=obj)
    assert r.exit_code == 0, r.output
    r = runner.invoke(strategy_group, ["list", "--portfolio", "Alpha", "--json"], obj=obj)
    assert r.exit_code == 0, r.output
    import json

    listed = json.loads(r.output)
    assert listed[0]["name"] == "pair" and len(listed[0]["position_ids"]) == 2
    r = runner.invoke(strategy_group, ["remove", "pair", str(ids["CVX"])], obj=obj)
    assert r.exit_code == 0, r.output
    r = runner.invoke(
        strategy_group, ["detect", "--portfolio", "Alpha", "--create", "--json"], obj=obj
    )
    assert json.loads(r.output)["proposals"][0]["strategy_id"] is not None
    r = runner.invoke(strategy_group, ["delete", "pair"], obj=obj)
    assert r.exit_code == 0 and "1 positions detached" in r.output
    r = runner.invoke(strategy_group, ["delete", "pair"], obj=obj)
    assert r.exit_code != 0 and isinstance(r.exception, NotFoundError)


# --------------------------------------------------------------------------- demo


def test_demo_strategies_survive_and_detect_skips_them(sqlite_demo_db: Settings) -> None:
    with session_scope(sqlite_demo_db) as session:
        hf = list_strategies(session, "Long/Short Hedge Fund Style")
        assert dict(zip(hf["name"], hf["strategy_type"], strict=True)) == {
            "AMD covered call": "covered_call",
            "XOM/CVX pair": "pairs_trade",
            "JPM long straddle": "long_straddle",
        }
        assert set(hf["positions"]) == {2}
        assigned: set[int] = set()
        for name in (
            "Balanced Individual Investor",
            "Sophisticated High Net Worth",
            "Long/Short Hedge Fund Style",
        ):
            frame = list_strategies(session, name)
            assert not frame.empty
            assigned |= {i for ids in frame["position_ids"] for i in ids}
            proposals = detect_and_create(session, name)
            assert not assigned & {i for p in proposals for i in p.position_ids}
            assert not set(frame["name"]) & {p.name for p in proposals}
