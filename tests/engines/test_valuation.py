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


def test_long_short_and_option_values(positions):
    v = value_positions(
        positions,
        price=pd.Series({1: 12.0, 2: 38.0, 3: 0.75, 4: 21.0}),
        previous_price=pd.Series({1: 11.5, 2: 39.0, 3: 0.80, 4: 20.5}),
        price_source=pd.Series({1: "market", 2: "market", 3: "model", 4: "market"}),
        underlying_price=pd.Series({1: 12.0, 2: 38.0, 3: 60.0, 4: 21.0}),
        as_of=dt.date(2017, 3, 29),
    )
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
