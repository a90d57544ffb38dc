"""Market risk and snapshot runs on the demo data (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import statsmodels.api as sm

from sigmasight_lib.db.models import (
    MarketRiskScenarioResult,
    PortfolioSnapshot,
    PositionInterestRateBeta,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.runs import run_factors, run_market_risk, run_snapshot, run_valuation

AS_OF = dt.date(2017, 3, 29)
HF = "Long/Short Hedge Fund Style"
# NYSE closures between 2016-11-01 and 2017-03-29, written out by hand
NYSE_HOLIDAYS = {dt.date(2016, 11, 24), dt.date(2016, 12, 26), dt.date(2017, 1, 2),
                 dt.date(2017, 1, 16), dt.date(2017, 2, 20)}  # fmt: skip


def test_market_scenarios_are_beta_times_move_times_exposure(demo_db):
    factors = run_factors(demo_db, HF).tables["positions"]
    run = run_market_risk(demo_db, HF)
    dae = factors["delta_adjusted_exposure_usd"]
    market_exposure = (dae * factors["Market"]).sum()  # Σ exposure × beta by hand
    beta = market_exposure / dae.abs().sum()
    assert run.summary["market_dollar_beta_usd"] == pytest.approx(market_exposure, rel=1e-12)
    assert run.summary["market_beta_to_gross"] == pytest.approx(beta, rel=1e-12)
    assert run.summary["market_beta_to_net"] == pytest.approx(market_exposure / dae.sum())
    assert run.summary["market_up_1pct"] == pytest.approx(beta * dae.abs().sum() * 0.01, rel=1e-12)
    assert run.summary["market_down_1pct"] == pytest.approx(-market_exposure * 0.01, rel=1e-12)
    positions = run.tables["positions"]
    rate_exposure = (positions["delta_adjusted_exposure_usd"] * positions["ir_beta"]).sum()
    assert run.summary["rates_up_50bp"] == pytest.approx(rate_exposure * 0.005, rel=1e-12)
    with session_scope(demo_db) as session:
        kinds = sorted(session.scalars(sa.select(MarketRiskScenarioResult.scenario)))
        assert kinds == [
            "backtest_90d",
            "market_down_1pct",
            "market_up_1pct",
            "rates_down_50bp",
            "rates_up_50bp",
        ]
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(PositionInterestRateBeta)) == 30
        )


def test_interest_rate_betas_match_statsmodels(demo_db):
    provider = OfflineSnapshotProvider()
    start = dt.date(2015, 6, 1)
    prices = provider.fetch_prices(["JPM", "KO"], start, AS_OF)
    prices["date"] = pd.to_datetime(prices["date"])
    returns = prices.pivot(index="date", columns="symbol", values="adj_close").pct_change(
        fill_method=None
    )
    rates = provider.fetch_rates(start, AS_OF)
    ten = (
        rates[rates["tenor"] == "10y"]
        .assign(date=lambda f: pd.to_datetime(f["date"]))
        .set_index("date")["yield_rate"]
    )
    dy = ten.diff().dropna().rename("dy")
    spy = provider.fetch_prices(["SPY"], start, AS_OF)
    market = spy.set_index(pd.to_datetime(spy["date"]))["total_return"].rename("market")
    common = dy.index.intersection(returns.dropna().index).intersection(market.dropna().index)
    common = common[-252:]
    run = (
        run_market_risk(demo_db, HF)
        .tables["positions"]
        .drop_duplicates("underlying")
        .set_index("underlying")
    )
    # the rate beta is estimated jointly with the market (no market beta in rate P&L)
    design = sm.add_constant(pd.concat([market.loc[common], dy.loc[common]], axis=1))
    for symbol in ("JPM", "KO"):
        fit = sm.OLS(returns.loc[common, symbol], design).fit()
        assert run.loc[symbol, "ir_beta"] == pytest.approx(fit.params["dy"], rel=1e-9)
        assert run.loc[symbol, "r_squared"] == pytest.approx(fit.rsquared, rel=1e-9)


def test_backtest_has_ninety_days_and_sane_metrics(demo_db):
    run = run_market_risk(demo_db, HF)
    bt = run.tables["backtest"].dropna()
    assert len(bt) == run.summary["backtest_days"] == 90
    err = bt["predicted_pnl_usd"] - bt["actual_pnl_usd"]
    assert run.summary["backtest_rmse_usd"] == pytest.approx(
        float(np.sqrt((err**2).mean())), rel=1e-12
    )
    assert 0.0 <= run.summary["backtest_hit_rate"] <= 1.0


def test_snapshot_backfill_uses_trading_days_only_and_is_idempotent(demo_db):
    first = run_snapshot(demo_db, HF, backfill=90)
    second = run_snapshot(demo_db, HF, backfill=90)
    history = second.tables["history"]
    assert len(history) == len(first.tables["history"]) == 91
    days = list(history["as_of"])
    assert all(d.weekday() < 5 and d not in NYSE_HOLIDAYS for d in days)
    assert days[-1] == AS_OF and days == sorted(days)
    # 91 sessions back from 2017-03-29 by hand: weekdays minus the closures above
    weekdays = [d.date() for d in pd.bdate_range(days[0], AS_OF)]
    assert len([d for d in weekdays if d not in NYSE_HOLIDAYS]) == 91
    np.testing.assert_allclose(
        history["cumulative_pnl_usd"], history["daily_pnl_usd"].cumsum(), rtol=1e-12
    )
    with session_scope(demo_db) as session:
        count = session.scalar(sa.select(sa.func.count()).select_from(PortfolioSnapshot))
    assert count == 91


def test_snapshot_values_positions_held_each_day(demo_db):
    history = (
        run_snapshot(demo_db, "Sophisticated High Net Worth", backfill=90)
        .tables["history"]
        .set_index("as_of")
    )
    # the MSFT put and the HD call were entered on 2017-02-15 and 2017-03-01
    assert history.loc[dt.date(2017, 2, 14), "position_count"] == 15
    assert history.loc[dt.date(2017, 2, 15), "position_count"] == 16
    assert history.loc[dt.date(2017, 3, 1), "position_count"] == 17


def test_snapshot_retention_deletes_old_rows(demo_db):
    old = dt.date(2016, 3, 1)
    run_snapshot(demo_db, HF, as_of=old)
    run_snapshot(demo_db, HF)
    with session_scope(demo_db) as session:
        dates = set(session.scalars(sa.select(PortfolioSnapshot.as_of)))
    assert old not in dates and AS_OF in dates


def test_snapshot_value_is_net_liquidation_value_and_betas_are_labelled(demo_db):
    valuation = run_valuation(demo_db, HF).tables["positions"]
    factors = run_factors(demo_db, HF).tables["positions"]
    snap = run_snapshot(demo_db, HF).summary
    # by hand from each position's quantity × price × multiplier (short options negative)
    multiplier = np.where(valuation["position_type"].isin(["LC", "LP", "SC", "SP"]), 100.0, 1.0)
    signed = valuation["quantity"] * valuation["price"] * multiplier
    assert snap["net_liquidation_value_usd"] == pytest.approx(
        signed[signed > 0].sum() - (-signed[signed < 0]).sum(), rel=1e-12
    )
    assert snap["gross_market_value_usd"] == pytest.approx(signed.abs().sum(), rel=1e-12)
    assert snap["long_exposure_usd"] + snap["short_exposure_usd"] == pytest.approx(
        snap["net_liquidation_value_usd"], rel=1e-12
    )
    dae = factors["delta_adjusted_exposure_usd"]
    dollar = (dae * factors["Market"]).sum()
    assert snap["market_dollar_beta_usd"] == pytest.approx(dollar, rel=1e-10)
    assert snap["market_beta_to_gross"] == pytest.approx(dollar / dae.abs().sum(), rel=1e-10)
    assert snap["market_beta_to_net"] == pytest.approx(dollar / dae.sum(), rel=1e-10)
    assert "market_beta" not in snap and "market_value_usd" not in snap
