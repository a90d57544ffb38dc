"""Macro / rate betas joint with the market, and the spread design, against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sigmasight_lib.engines.factors import MARKET_FACTOR, design_returns, macro_betas

DAYS = pd.bdate_range("2020-01-01", periods=300)


@pytest.fixture(scope="module")
def moves() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(7)
    market = pd.Series(rng.normal(0, 0.01, len(DAYS)), index=DAYS)
    macro = pd.DataFrame(
        {"Oil": rng.normal(0, 0.02, len(DAYS)), "Rates": rng.normal(0, 0.0005, len(DAYS))},
        index=DAYS,
    )
    noise = rng.normal(0, 0.005, (len(DAYS), 2))
    assets = pd.DataFrame(
        {
            "XOM": 0.8 * market + 0.4 * macro["Oil"] + noise[:, 0],
            "JPM": 1.2 * market + 30.0 * macro["Rates"] + noise[:, 1],
        }
    )
    return assets, market, macro


def _ols_beta(y: pd.Series, market: pd.Series, factor: pd.Series) -> float:
    x = sm.add_constant(pd.concat([market, factor], axis=1))
    return float(sm.OLS(y, x).fit().params.iloc[2])


def test_macro_betas_are_the_two_factor_ols_with_the_market(moves):
    assets, market, macro = moves
    betas, reasons = macro_betas(
        assets, market, macro, additive=frozenset({"Rates"}), window=120, min_obs=60,
        rate_window=250, rate_min_obs=60,
    )  # fmt: skip
    assert reasons == {}
    for asset in assets:
        oil = _ols_beta(assets[asset].iloc[-120:], market.iloc[-120:], macro["Oil"].iloc[-120:])
        rates = _ols_beta(assets[asset].iloc[-250:], market.iloc[-250:], macro["Rates"].iloc[-250:])
        assert betas.at[asset, "Oil"] == pytest.approx(oil, rel=1e-9)
        assert betas.at[asset, "Rates"] == pytest.approx(rates, rel=1e-9)
    assert betas.at["XOM", "Oil"] == pytest.approx(0.4, abs=0.1)


def test_macro_betas_without_a_market_are_all_na(moves):
    assets, _, macro = moves
    betas, reasons = macro_betas(assets, None, macro)
    assert betas.empty and list(betas.index) == list(assets.columns)
    assert reasons == dict.fromkeys(macro.columns, "estimated jointly with Market, which is N/A")


def test_macro_betas_name_a_factor_no_asset_can_be_fitted_on(moves):
    assets, market, macro = moves
    short = macro.copy()
    short.iloc[:-10, 0] = np.nan  # Oil: 10 observations, fewer than min_obs
    betas, reasons = macro_betas(assets, market, short, min_obs=60)
    assert list(betas.columns) == ["Rates"]
    assert reasons == {"Oil": "no asset has enough common history with the factor"}


def test_design_returns_spreads_styles_over_the_market_in_spread_mode():
    f = pd.DataFrame({MARKET_FACTOR: [0.01, -0.02], "Value": [0.015, -0.01]})
    spread = design_returns(f, "spread")
    assert list(spread[MARKET_FACTOR]) == [0.01, -0.02]
    assert list(spread["Value"]) == pytest.approx([0.005, 0.01])
    pd.testing.assert_frame_equal(design_returns(f, "raw"), f)
    no_market = f.drop(columns=MARKET_FACTOR)
    pd.testing.assert_frame_equal(design_returns(no_market, "spread"), no_market)
