"""Exposure aggregation against hand sums."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.engines.exposures import (
    METRIC_COLUMNS,
    exposure_by_tag,
    portfolio_exposures,
)


@pytest.fixture
def book() -> pd.DataFrame:
    """Long AAPL, short XOM, a short AAPL call and a long XOM put (values by hand)."""
    return pd.DataFrame(
        {
            "symbol": ["AAPL", "XOM", "AAPL170421C00035000", "XOM170519P00057500"],
            "underlying": ["AAPL", "XOM", "AAPL", "XOM"],
            "position_type": ["LONG", "SHORT", "SC", "LP"],
            "option_type": [None, None, "C", "P"],
            "sector": ["Information Technology", "Energy", "Information Technology", "Energy"],
            "tags": [["Tech", "Core"], ["Energy"], ["Tech", "Income"], []],
            "exposure_usd": [3400.0, -6000.0, -120.0, 250.0],
            "market_value_usd": [3400.0, 6000.0, 120.0, 250.0],
            "notional_usd": [3400.0, 6000.0, 3400.0, 6000.0],
            "underlying_price": [34.0, 60.0, 34.0, 60.0],
            "delta": [100.0, -100.0, -40.0, -30.0],
            "gamma": [0.0, 0.0, -5.0, 4.0],
            "theta": [0.0, 0.0, 1.5, -2.0],
            "vega": [0.0, 0.0, -3.0, 6.0],
            "rho": [0.0, 0.0, -1.0, -2.0],
        },
        index=pd.Index([1, 2, 3, 4], name="id"),
    )


def test_totals_by_hand(book):
    t = portfolio_exposures(book).totals
    assert t["gross_exposure_usd"] == 3400 + 6000 + 120 + 250
    assert t["net_exposure_usd"] == 3400 - 6000 - 120 + 250
    assert t["long_exposure_usd"] == 3400 + 250
    assert t["short_exposure_usd"] == -6000 - 120
    assert (t["position_count"], t["long_count"], t["short_count"]) == (4, 2, 2)
    assert t["options_exposure_usd"] == -120 + 250
    assert t["stock_exposure_usd"] == 3400 - 6000
    assert t["notional_usd"] == 3400 + 6000 + 3400 + 6000
    # net liquidation value: long MV (stock 3400, long put 250) − short MV (stock 6000,
    # short call 120); gross market value: every |MV|
    assert t["net_liquidation_value_usd"] == (3400 + 250) - (6000 + 120)
    assert t["gross_market_value_usd"] == 3400 + 6000 + 120 + 250
    # delta-adjusted: stocks their exposure, options delta × spot: 3400 − 6000 − 40×34 − 30×60
    assert t["delta_adjusted_exposure_usd"] == pytest.approx(3400 - 6000 - 1360 - 1800)
    assert (t["delta"], t["gamma"], t["theta"], t["vega"], t["rho"]) == (
        -70.0,
        -1.0,
        -0.5,
        3.0,
        -3.0,
    )


def test_breakdowns_sum_to_totals(book):
    result = portfolio_exposures(book)
    for name in ("underlying", "sector", "type"):
        table = result.breakdowns[name]
        for metric in ("gross_exposure_usd", "net_exposure_usd", "delta", "position_count"):
            assert table[metric].sum() == pytest.approx(result.totals[metric]), (name, metric)
    underlying = result.breakdowns["underlying"]
    assert (
        underlying.loc["AAPL", "net_exposure_usd"] == 3400 - 120
    )  # option rolls into its underlying
    assert underlying.loc["XOM", "delta_adjusted_exposure_usd"] == pytest.approx(-6000 - 1800)


def test_tags_any_all_and_per_tag(book):
    per_tag = exposure_by_tag(book)
    assert per_tag.loc["Tech", "gross_exposure_usd"] == 3400 + 120  # counted fully in each tag
    assert "Energy" in per_tag.index and per_tag.loc["Energy", "position_count"] == 1
    any_ = exposure_by_tag(book, ["core", "Income"], mode="any")
    assert any_.iloc[0]["position_count"] == 2 and any_.index[0] == "core|Income"
    all_ = exposure_by_tag(book, ["Tech", "Core"], mode="all")
    assert all_.iloc[0]["position_count"] == 1 and all_.iloc[0]["net_exposure_usd"] == 3400
    with pytest.raises(ValueError, match="'any' or 'all'"):
        exposure_by_tag(book, ["Tech"], mode="some")


def test_empty_portfolio_is_zero_with_a_note(book):
    result = portfolio_exposures(book.iloc[0:0])
    assert all(result.totals[m] == 0 for m in METRIC_COLUMNS)
    assert "no positions" in result.notes[0]


def test_unpriced_position_is_counted_not_summed(book):
    book.loc[2, ["exposure_usd", "market_value_usd"]] = np.nan
    result = portfolio_exposures(book)
    assert result.totals["position_count"] == 4
    assert result.totals["gross_exposure_usd"] == 3400 + 120 + 250
    assert "XOM" in result.notes[0]
