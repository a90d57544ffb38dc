"""Factor betas against statsmodels OLS on the offline snapshot's real returns."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sigmasight_lib.engines.factors import factor_betas, portfolio_factor_exposures
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider

ASSETS = ["AAPL", "JPM", "XOM", "AMD", "KO", "MTUM"]
FACTORS = {
    "Market": "SPY",
    "Value": "VLUE",
    "Momentum": "MTUM",
    "Quality": "QUAL",
    "Size": "SIZE",
    "Low Volatility": "USMV",
}


@pytest.fixture(scope="module")
def real_returns() -> tuple[pd.DataFrame, pd.DataFrame]:
    prices = OfflineSnapshotProvider().fetch_prices(
        [*ASSETS, *FACTORS.values()], dt.date(2015, 6, 1), dt.date(2017, 3, 29)
    )
    prices["date"] = pd.to_datetime(prices["date"])
    adj = prices.pivot(index="date", columns="symbol", values="adj_close")
    spy = prices.pivot(index="date", columns="symbol", values="total_return")["SPY"]
    asset_returns = adj[ASSETS].pct_change(fill_method=None).iloc[1:]
    factor_returns = pd.DataFrame(
        {
            name: (spy if sym == "SPY" else adj[sym].pct_change(fill_method=None))
            for name, sym in FACTORS.items()
        }
    ).iloc[1:]
    return asset_returns, factor_returns


def _statsmodels_fit(y: pd.Series, x: pd.DataFrame):
    ok = y.notna()
    return sm.OLS(y[ok], sm.add_constant(x[ok])).fit()


@pytest.mark.parametrize("mode", ["raw", "spread"])
def test_matches_statsmodels_on_real_returns(real_returns, mode):
    asset_returns, factor_returns = real_returns
    result = factor_betas(asset_returns, factor_returns, mode=mode, cap=100.0)
    window = factor_returns.dropna().index.intersection(asset_returns.index)[-252:]
    x = factor_returns.loc[window]
    if mode == "spread":  # built by hand: market, then each style minus the market
        x = x.sub(x["Market"], axis=0).assign(Market=x["Market"])[list(FACTORS)]
    for asset in ASSETS:
        fit = _statsmodels_fit(asset_returns.loc[window, asset], x)
        np.testing.assert_allclose(
            result.betas.loc[asset].to_numpy(), fit.params.to_numpy()[1:], atol=1e-10
        )
        assert result.alpha[asset] == pytest.approx(fit.params["const"], abs=1e-12)
        if fit.rsquared < 1 - 1e-10:
            np.testing.assert_allclose(
                result.t_stats.loc[asset].to_numpy(), fit.tvalues.to_numpy(), rtol=1e-8
            )
        else:  # MTUM is also the Momentum proxy: an exact fit, t-stats undefined
            assert asset == "MTUM" and result.t_stats.loc[asset].isna().all()
        assert result.r_squared[asset] == pytest.approx(fit.rsquared, abs=1e-10)
        assert result.observations[asset] == int(fit.nobs) == 252
        assert result.condition_number[asset] == pytest.approx(fit.condition_number, rel=1e-8)
        assert result.residual_variance[asset] == pytest.approx(fit.mse_resid, rel=1e-8)
    assert result.window_end == pd.Timestamp("2017-03-29")


def test_spread_mode_tames_the_conditioning(real_returns):
    asset_returns, factor_returns = real_returns
    raw = factor_betas(asset_returns, factor_returns, mode="raw")
    spread = factor_betas(asset_returns, factor_returns, mode="spread")
    assert spread.condition_number.iloc[0] < raw.condition_number.iloc[0]


def test_assets_with_gaps_are_fit_on_their_own_days(real_returns):
    asset_returns, factor_returns = real_returns
    gappy = asset_returns.copy()
    gappy.loc[gappy.index[-40:], "KO"] = np.nan
    gappy.loc[gappy.index[-300:-200], "AMD"] = np.nan
    result = factor_betas(gappy, factor_returns, mode="raw", cap=100.0)
    window = factor_returns.dropna().index.intersection(gappy.index)[-252:]
    for asset, nobs in (
        ("KO", 212),
        ("AMD", 252 - len(gappy.index[-300:-200].intersection(window))),
    ):
        fit = _statsmodels_fit(gappy.loc[window, asset], factor_returns.loc[window])
        assert result.observations[asset] == nobs == int(fit.nobs)
        np.testing.assert_allclose(
            result.betas.loc[asset].to_numpy(), fit.params.to_numpy()[1:], atol=1e-10
        )
    assert result.observations["AAPL"] == 252


def test_too_few_observations_is_nan_with_reason(real_returns):
    asset_returns, factor_returns = real_returns
    short = asset_returns.copy()
    short.loc[short.index[:-59], "XOM"] = np.nan  # 59 days left
    result = factor_betas(short, factor_returns, min_obs=60)
    assert result.betas.loc["XOM"].isna().all()
    assert result.reasons["XOM"] == "59 usable days in the 252-day window, fewer than 60"
    assert result.reasons["AAPL"] is None


def test_cap_clips_and_flags_and_keeps_the_ols_estimate_and_t_stat():
    dates = pd.bdate_range("2020-01-01", periods=120)
    rng = np.random.default_rng(7)
    market = pd.Series(rng.normal(0, 0.01, len(dates)), index=dates)
    assets = pd.DataFrame(
        {
            # true beta 5; noise large enough for a finite, checkable t-statistic
            "LEVERED": 5.0 * market + rng.normal(0, 0.01, len(dates)),
            "TAME": 0.5 * market,
        }
    )
    result = factor_betas(assets, market.to_frame("Market"), mode="raw", cap=3.0)
    ols = sm.OLS(assets["LEVERED"], sm.add_constant(market.rename("Market"))).fit()
    assert 4.5 < ols.params["Market"] < 5.5
    assert result.betas.loc["LEVERED", "Market"] == 3.0
    assert result.betas_uncapped.loc["LEVERED", "Market"] == pytest.approx(
        ols.params["Market"], rel=1e-10
    )
    assert result.t_stats.loc["LEVERED", "Market"] == pytest.approx(ols.tvalues["Market"], rel=1e-9)
    assert bool(result.capped.loc["LEVERED", "Market"]) and not bool(
        result.capped.loc["TAME", "Market"]
    )
    assert result.betas.loc["TAME", "Market"] == pytest.approx(0.5, abs=1e-9)
    assert result.betas_uncapped.loc["TAME", "Market"] == result.betas.loc["TAME", "Market"]
    long = result.long()
    row = long.loc[("LEVERED", "Market")]
    assert row["beta"] == 3.0 and bool(row["capped"])
    assert row["beta_uncapped"] == pytest.approx(ols.params["Market"], rel=1e-10)
    assert row["t_stat"] == pytest.approx(ols.tvalues["Market"], rel=1e-9)
    text = f"Market: {ols.params['Market']:.3f} (t {ols.tvalues['Market']:.2f})"
    assert result.summary().at["LEVERED", "capped"] == text
    assert result.summary().at["TAME", "capped"] == ""


def test_portfolio_exposures_by_hand():
    betas = pd.DataFrame({"Market": [1.2, 0.8, np.nan], "Value": [0.1, -0.3, 0.2]}, index=[1, 2, 3])
    exposure = pd.Series({1: 1000.0, 2: -500.0, 3: 200.0})
    out = portfolio_factor_exposures(betas, exposure)
    # Market: dollar beta 1000×1.2 − 500×0.8 = 800 (position 3 has no beta);
    # gross 1000 + 500 = 1500, net 1000 − 500 = 500
    assert out.loc["Market", "dollar_beta_usd"] == pytest.approx(800.0)
    assert out.loc["Market", "beta_to_gross"] == pytest.approx(800.0 / 1500.0)
    assert out.loc["Market", "beta_to_net"] == pytest.approx(800.0 / 500.0)
    assert out.loc["Market", "gross_exposure_usd"] == pytest.approx(1500.0)
    assert out.loc["Market", "net_exposure_usd"] == pytest.approx(500.0)
    assert out.loc["Market", "positions"] == 2
    assert out.loc["Market", "beta_to_net_reason"] is None
    # Value: 100 + 150 + 40 = 290; gross 1700, net 700
    assert out.loc["Value", "dollar_beta_usd"] == pytest.approx(290.0)
    assert out.loc["Value", "beta_to_gross"] == pytest.approx(290.0 / 1700.0)
    assert out.loc["Value", "beta_to_net"] == pytest.approx(290.0 / 700.0)


def test_beta_to_net_is_nan_with_a_reason_when_net_is_flat():
    betas = pd.DataFrame({"Market": [1.5, 0.5], "Value": [np.nan, np.nan]}, index=[1, 2])
    # net 1000 − 995 = 5 is 0.25 % of the gross 1995: under the 1 % floor
    exposure = pd.Series({1: 1000.0, 2: -995.0})
    out = portfolio_factor_exposures(betas, exposure)
    assert out.loc["Market", "dollar_beta_usd"] == pytest.approx(1500.0 - 497.5)
    assert out.loc["Market", "beta_to_gross"] == pytest.approx(1002.5 / 1995.0)
    assert np.isnan(out.loc["Market", "beta_to_net"])
    assert (
        "net delta-adjusted exposure 5 USD is under 1% of gross 1,995 USD"
        in (out.loc["Market", "beta_to_net_reason"])
    )
    # a factor without any beta: NaN throughout, no reason about the net
    assert out.loc["Value", "positions"] == 0
    assert out.loc["Value", ["dollar_beta_usd", "beta_to_gross", "beta_to_net"]].isna().all()
    assert out.loc["Value", "beta_to_net_reason"] is None
