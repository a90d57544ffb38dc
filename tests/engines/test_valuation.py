"""Valuation formulas against hand calculations."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.engines.valuation import value_positions


@pytest.fixture
def positions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "quantity": [100.0, -50.0, -2.0, 10.0],
            "multiplier": [1, 1, 100, 1],
            "entry_price": [10.0, 40.0, 1.5, 20.0],
            "entry_date": [
                dt.date(2017, 1, 3),
                dt.date(2017, 1, 3),
                dt.date(2017, 2, 1),
                dt.date(2017, 3, 29),
            ],
        },
        index=pd.Index([1, 2, 3, 4], name="id"),
    )


def _value_on_2017_03_29(positions: pd.DataFrame) -> pd.DataFrame:
    return value_positions(
        positions,
        price=pd.Series({1: 12.0, 2: 38.0, 3: 0.75, 4: 21.0}),
        previous_price=pd.Series({1: 11.5, 2: 39.0, 3: 0.80, 4: 20.5}),
        price_source=pd.Series({1: "market", 2: "market", 3: "model", 4: "market"}),
        underlying_price=pd.Series({1: 12.0, 2: 38.0, 3: 60.0, 4: 21.0}),
        as_of=dt.date(2017, 3, 29),
    )


def test_long_short_and_option_values(positions):
    v = _value_on_2017_03_29(positions)
    # long stock: 100 × 12 = 1,200; P&L 100 × (12 − 10) = 200; daily 100 × 0.5 = 50
    assert v.loc[
        1, ["market_value_usd", "exposure_usd", "unrealized_pnl_usd", "daily_pnl_usd"]
    ].tolist() == [1200.0, 1200.0, 200.0, 50.0]
    # short stock: MV 50 × 38 = 1,900, exposure −1,900, P&L −50 × (38 − 40) = +100, daily −50 × (−1) = +50
    assert v.loc[
        2, ["market_value_usd", "exposure_usd", "unrealized_pnl_usd", "daily_pnl_usd"]
    ].tolist() == [1900.0, -1900.0, 100.0, 50.0]
    # short 2 calls: MV 2 × 0.75 × 100 = 150, exposure −150, P&L −2 × (0.75 − 1.5) × 100 = +150,
    # daily −2 × (0.75 − 0.80) × 100 = +10, notional 2 × 100 × 60 = 12,000
    row = v.loc[3]
    assert row["market_value_usd"] == pytest.approx(150.0)
    assert row["exposure_usd"] == pytest.approx(-150.0)
    assert row["unrealized_pnl_usd"] == pytest.approx(150.0)
    assert row["daily_pnl_usd"] == pytest.approx(10.0)
    assert row["notional_usd"] == pytest.approx(12000.0)
    assert row["price_source"] == "model"
    assert row["cost_basis_usd"] == pytest.approx(-300.0)
    # entered on the as-of date: daily P&L from the entry price, 10 × (21 − 20) = 10
    assert v.loc[4, "daily_pnl_usd"] == pytest.approx(10.0)


def test_missing_prices_give_nan_and_reason(positions):
    v = value_positions(
        positions,
        price=pd.Series({1: np.nan, 2: 38.0, 3: 0.75, 4: 21.0}),
        previous_price=pd.Series({1: 11.5, 2: np.nan, 3: 0.8, 4: 20.0}),
        price_source=pd.Series({1: "market", 2: "market", 3: "model", 4: "market"}),
        underlying_price=pd.Series({1: np.nan, 2: 38.0, 3: 60.0, 4: 21.0}),
    )
    assert (
        np.isnan(v.loc[1, "market_value_usd"])
        and v.loc[1, "reason"] == "no price on the as-of date"
    )
    assert v.loc[1, "price_source"] is None
    assert np.isnan(v.loc[2, "daily_pnl_usd"]) and "daily P&L is N/A" in v.loc[2, "reason"]
    assert v.loc[2, "exposure_usd"] == -1900.0


# --------------------------------------------------------------------------- expiry

EXPIRY = dt.date(2017, 6, 16)


@pytest.fixture
def jpm_straddle() -> pd.DataFrame:
    """The demo JPM straddle (40 long 75 calls at 4.62, 40 long 75 puts at 1.53, expiry
    2017-06-16) and a short 80 call written at 0.50 (assigned when JPM closes above 80)."""
    return pd.DataFrame(
        {
            "quantity": [40.0, 40.0, -10.0],
            "multiplier": [100, 100, 100],
            "entry_price": [4.62, 1.53, 0.50],
            "entry_date": [dt.date(2017, 3, 1)] * 3,
            "option_type": ["C", "P", "C"],
            "strike": [75.0, 75.0, 80.0],
            "expiry": [EXPIRY] * 3,
        },
        index=pd.Index([59, 60, 61], name="id"),
    )


def _value_after_expiry(positions: pd.DataFrame, expiry_close: float) -> pd.DataFrame:
    """What compute_position_analytics passes on 2017-06-30: BSM gives no price after expiry."""
    ids = positions.index
    return value_positions(
        positions,
        price=pd.Series(np.nan, index=ids),
        previous_price=pd.Series(np.nan, index=ids),
        price_source=pd.Series("model", index=ids),
        underlying_price=pd.Series(76.475, index=ids),
        as_of=dt.date(2017, 6, 30),
        expiry_close=pd.Series(expiry_close, index=ids),
    )


def test_expired_in_the_money_put_settles_at_intrinsic_and_realizes_its_pnl(jpm_straddle):
    """Issue 11 defect 7: JPM 75P closed 2.892 in the money on its expiry (JPM 72.108)."""
    v = _value_after_expiry(jpm_straddle, 72.108)
    put = v.loc[60]
    settlement = max(75.0 - 72.108, 0.0)  # hand: 2.892 per share
    assert put["price"] == pytest.approx(settlement) == pytest.approx(2.892)
    assert put["price_source"] == "settled"
    assert bool(put["expired"]) is True
    # realized = quantity × (settlement − entry) × multiplier = 40 × (2.892 − 1.53) × 100
    assert put["realized_pnl_usd"] == pytest.approx(40 * (2.892 - 1.53) * 100)
    assert put["realized_pnl_usd"] == pytest.approx(5448.0)
    # left the book: no value, exposure, notional, unrealized or daily P&L
    for col in ("market_value_usd", "exposure_usd", "notional_usd", "unrealized_pnl_usd",
                "daily_pnl_usd"):  # fmt: skip
        assert put[col] == 0.0, col
    assert put["cost_basis_usd"] == pytest.approx(40 * 1.53 * 100)
    assert put["reason"] == (
        "expired 2017-06-16, settled at intrinsic 2.892 (underlying close 72.108; exercised)"
    )
    # the out-of-the-money call expires worthless: the premium paid is the realized loss
    call = v.loc[59]
    assert call["price"] == 0.0 and call["realized_pnl_usd"] == pytest.approx(-40 * 4.62 * 100)
    assert call["reason"].endswith("expired worthless)")


def test_expired_short_call_in_the_money_is_assigned(jpm_straddle):
    v = _value_after_expiry(jpm_straddle, 81.25)
    short = v.loc[61]
    # −10 × (max(81.25 − 80, 0) − 0.50) × 100 = −750
    assert short["price"] == pytest.approx(1.25)
    assert short["realized_pnl_usd"] == pytest.approx(-10 * (1.25 - 0.50) * 100)
    assert short["exposure_usd"] == 0.0 and short["market_value_usd"] == 0.0
    assert short["reason"].endswith("(underlying close 81.25; assigned)")
    # the long put is out of the money at 81.25: worthless
    assert v.loc[60, "price"] == 0.0 and v.loc[60, "realized_pnl_usd"] == pytest.approx(-6120.0)


def test_expired_without_an_expiry_close_is_out_of_the_book_with_unknown_pnl(jpm_straddle):
    v = _value_after_expiry(jpm_straddle, np.nan)
    put = v.loc[60]
    assert bool(put["expired"]) and put["price_source"] == "settled"
    assert np.isnan(put["price"]) and np.isnan(put["realized_pnl_usd"])
    assert put["exposure_usd"] == 0.0 and put["notional_usd"] == 0.0
    assert put["reason"] == (
        "expired 2017-06-16; no close of the underlying on its last session: "
        "settlement value and realized P&L are N/A"
    )


def test_live_positions_are_not_expired_and_realize_nothing(positions, jpm_straddle):
    """Before and on the expiry date an option is live; stocks never expire."""
    on_expiry = value_positions(
        jpm_straddle,
        price=pd.Series({59: 0.0, 60: 2.892, 61: 0.0}),
        previous_price=pd.Series({59: 0.0, 60: 2.5619, 61: 0.0}),
        price_source=pd.Series("intrinsic", index=jpm_straddle.index),
        underlying_price=pd.Series(72.108, index=jpm_straddle.index),
        as_of=EXPIRY,
        expiry_close=pd.Series(72.108, index=jpm_straddle.index),
    )
    assert not on_expiry["expired"].any()
    assert (on_expiry["realized_pnl_usd"] == 0.0).all()
    # the expiry-day move to intrinsic is daily P&L: 40 × (2.892 − 2.5619) × 100
    assert on_expiry.loc[60, "daily_pnl_usd"] == pytest.approx(40 * (2.892 - 2.5619) * 100)
    assert on_expiry.loc[60, "unrealized_pnl_usd"] == pytest.approx(5448.0)
    stocks = value_positions(
        positions,
        price=pd.Series({1: 12.0, 2: 38.0, 3: 0.75, 4: 21.0}),
        previous_price=pd.Series({1: 11.5, 2: 39.0, 3: 0.80, 4: 20.5}),
        price_source=pd.Series("market", index=positions.index),
        underlying_price=pd.Series({1: 12.0, 2: 38.0, 3: 60.0, 4: 21.0}),
        as_of=dt.date(2017, 3, 29),
    )
    assert not stocks["expired"].any() and (stocks["realized_pnl_usd"] == 0.0).all()


def test_settlement_value_is_intrinsic():
    from sigmasight_lib.engines.valuation import settlement_value

    got = settlement_value(
        pd.Series(["P", "P", "C", "C", "C"]),
        pd.Series([75.0, 75.0, 75.0, 75.0, 75.0]),
        pd.Series([72.108, 80.0, 72.108, 80.0, np.nan]),
    )
    np.testing.assert_allclose(got.to_numpy(), [2.892, 0.0, 0.0, 5.0, np.nan])


def test_unknown_entry_price_and_date_leave_pnl_na_with_the_reason(positions):
    """A broker file without cost basis imports positions with NULL entry price and date."""
    positions.loc[1, ["entry_price", "entry_date"]] = [None, None]
    v = _value_on_2017_03_29(positions)

    assert np.isnan(v.loc[1, "unrealized_pnl_usd"]) and np.isnan(v.loc[1, "cost_basis_usd"])
    assert v.loc[1, "reason"] == "no entry price: cost basis and unrealized P&L are N/A"
    assert v.loc[1, ["market_value_usd", "daily_pnl_usd"]].tolist() == [1200.0, 50.0]
    assert v.loc[2, "unrealized_pnl_usd"] == 100.0
