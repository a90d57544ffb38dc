"""Risk-model integrity (issue 11) on the demo data, checked by hand and with statsmodels.

Each test reproduces a reported case: style shocks read in the wrong units, propagated
moves below -100 %, losses larger than a long position, rate P&L carrying market beta,
another factor's series standing in for the market, stale series used as current.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import statsmodels.api as sm

from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.models import Position
from sigmasight_lib.db.session import session_scope, upgrade
from sigmasight_lib.marketdata.cache import sync_market_data
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.params import EngineParams
from sigmasight_lib.portfolios.demo import seed_demo
from sigmasight_lib.runs import (
    ENGINE_RUNNERS,
    run_factors,
    run_market_risk,
    run_stress,
    run_valuation,
)
from sigmasight_lib.runs.inputs import MarketInputs, factor_returns_from
from tests.conftest import _settings_for

BAL = "Balanced Individual Investor"
HF = "Long/Short Hedge Fund Style"


# --------------------------------------------------------------------------- stress units


def test_style_shock_is_the_proxy_return_in_the_2008_replay(sqlite_demo_db):
    run = run_stress(sqlite_demo_db, HF)
    by_factor = run.tables["by_factor"].loc["replay_2008"]
    # Value -30 % and Market -45 % as proxy returns: the value spread moves +15 %
    assert by_factor.loc["Value", "shock"] == -0.30
    assert by_factor.loc["Value", "design_move_direct"] == pytest.approx(-0.30 + 0.45)
    assert by_factor.loc["Market", "design_move_direct"] == -0.45
    # an unshocked style factor keeps a zero spread in the direct P&L
    assert by_factor.loc["Momentum", "design_move_direct"] == 0.0
    # correlated: each spread is the propagated proxy move minus the market's
    corr = by_factor["propagated_shock"]
    assert by_factor.loc["Momentum", "design_move_correlated"] == pytest.approx(
        corr["Momentum"] - corr["Market"]
    )


def test_no_propagated_move_is_below_minus_100_percent(sqlite_demo_db):
    run = run_stress(sqlite_demo_db, HF)
    by_factor = run.tables["by_factor"]
    moves = by_factor["propagated_shock"].drop(index="Interest Rate", level="factor")
    assert (moves.dropna() > -1.0).all()
    # the reported cases: VIX fell by 148 % and 203 % when propagated linearly
    for key in ("market_rally_25", "value_rotation_20"):
        assert -1.0 < by_factor.loc[(key, "Volatility"), "propagated_shock"] < 0.0


def test_long_positions_never_lose_more_than_their_value(sqlite_demo_db):
    stress = run_stress(sqlite_demo_db, HF)
    valuation = run_valuation(sqlite_demo_db, HF).tables["positions"]
    stocks = valuation[valuation["position_type"].isin(["LONG", "SHORT"])]
    by_position = stress.tables["by_position"]
    for key in stress.tables["scenarios"].index:
        pnl = by_position.loc[key]
        for pid, row in stocks.iterrows():
            for column in ("direct_pnl_usd", "correlated_pnl_usd"):
                value = pnl.loc[pid, column]
                if pd.isna(value):  # scenario without mapped shocks: N/A
                    continue
                if row["quantity"] > 0:
                    assert value >= -row["market_value_usd"] - 1e-6, (key, row["symbol"])
                else:
                    assert value <= row["market_value_usd"] + 1e-6, (key, row["symbol"])
    # AMD long (MV 274,200, market beta 2.0, capped value beta 3.0) lost 532,959 (-194 %)
    # in the 2008 replay before; a -35 % crash still implies a move below -100 %
    amd = stocks.index[stocks["symbol"] == "AMD"][0]
    mv = stocks.loc[amd, "market_value_usd"]
    assert mv == pytest.approx(274_200.0)
    assert by_position.loc[("market_crash_35", amd), "correlated_pnl_usd"] == -mv
    assert bool(by_position.loc[("market_crash_35", amd), "loss_floor_correlated"])
    assert by_position.loc[("replay_2008", amd), "correlated_pnl_usd"] > -mv


# --------------------------------------------------------------------------- rate beta


def test_rate_scenario_equals_twice_the_stress_25bp_direct_pnl(demo_db):
    market_risk = run_market_risk(demo_db, BAL)
    stress = run_stress(demo_db, BAL)
    rows = stress.tables["by_position"].loc["rates_up_25bp"]
    linear = rows.loc[rows["underlying_move_direct"].isna(), "direct_pnl_usd"].sum()
    options_delta = rows["delta_only_pnl_direct"].sum()  # market risk is delta-based
    up_50 = market_risk.summary["rates_up_50bp"]
    assert up_50 == pytest.approx(2 * (linear + options_delta), rel=1e-9)
    # holding the market fixed: -2,424 here, not the +4,517 of a rate-only regression
    assert up_50 == pytest.approx(-2423.85, abs=0.5)


# --------------------------------------------------------------------------- proxies and staleness


def _inputs(series: dict[str, pd.Series]) -> MarketInputs:
    returns = pd.DataFrame(series)
    return MarketInputs("offline", returns, returns, pd.DataFrame(index=pd.DatetimeIndex([])))


def test_stale_proxy_is_not_used_and_the_next_proxy_is():
    sessions = pd.bdate_range("2018-01-02", "2018-06-29")  # no NYSE holidays matter here
    day = dt.date(2018, 6, 29)
    rng = np.random.default_rng(1)
    full = pd.Series(rng.normal(0, 0.01, len(sessions)), index=sessions)
    stale = full.loc[:"2018-06-20"]  # last observation 7 sessions before the as-of
    params = EngineParams()
    chosen = factor_returns_from(
        _inputs({"SPY": stale, "^GSPC": full}), {"Market": ("SPY", "^GSPC")}, day, params,
        window=100, min_obs=60,
    )  # fmt: skip
    assert chosen.proxies_used == {"Market": "^GSPC"}
    assert chosen.returns["Market"].equals(full)
    alone = factor_returns_from(
        _inputs({"SPY": stale}), {"Market": ("SPY",)}, day, params, window=100, min_obs=60
    )
    assert alone.returns.empty
    assert alone.na_reasons["Market"] == (
        "proxy SPY: last observation 2018-06-20, 7 sessions before as-of"
    )


@pytest.fixture(scope="module")
def history_db(tmp_path_factory: pytest.TempPathFactory):
    """Demo portfolios held since 2013 and offline data over 2013-2022 (SQLite)."""
    tmp = tmp_path_factory.mktemp("history")
    settings = _settings_for(f"sqlite:///{tmp / 'history.db'}", tmp)
    upgrade(settings)
    with session_scope(settings) as session:
        seed_demo(session, REPO_DIR / "params")
        sync_market_data(
            session, OfflineSnapshotProvider(), as_of=dt.date(2022, 12, 28), history_sessions=2_560
        )
        session.execute(sa.update(Position).values(entry_date=dt.date(2013, 6, 3)))
    return settings


SAMPLE_SESSIONS = [
    dt.date(2014, 1, 2),
    dt.date(2015, 8, 25),
    dt.date(2016, 6, 24),
    dt.date(2017, 6, 30),
    dt.date(2018, 1, 31),
    dt.date(2019, 3, 15),
    dt.date(2020, 2, 19),
    dt.date(2021, 7, 1),
    dt.date(2022, 12, 28),
]


@pytest.mark.slow
@pytest.mark.parametrize("day", SAMPLE_SESSIONS, ids=str)
def test_every_engine_runs_on_every_year_of_the_offline_data(history_db, day):
    for name, runner in ENGINE_RUNNERS.items():
        run = runner(history_db, HF, day)
        assert run.as_of == day, name
    factors = run_factors(history_db, HF, day)
    market = "SPY" if day <= dt.date(2018, 4, 27) else "^GSPC"
    assert factors.tables["portfolio"].loc["Market", "proxy"] == market
    if day < dt.date(2014, 3, 31):  # the style ETFs start on 2014-01-02
        assert "VLUE" in factors.summary["not_available"]["Value"]


def test_later_as_of_uses_the_sp500_index_for_the_market_never_another_factor(history_db):
    day = dt.date(2020, 2, 19)
    run = run_factors(history_db, HF, day)
    assert run.summary["not_available"].keys() == {"Growth"}
    provider = OfflineSnapshotProvider()
    symbols = ["JPM", "^GSPC", "VLUE", "MTUM", "QUAL", "SIZE", "USMV"]
    prices = provider.fetch_prices(symbols, dt.date(2018, 6, 1), day)
    prices["price"] = prices["adj_close"].fillna(prices["close"])
    returns = prices.pivot(index="date", columns="symbol", values="price").pct_change(
        fill_method=None
    )
    returns = returns.dropna().iloc[-252:]
    styles = ["VLUE", "MTUM", "QUAL", "SIZE", "USMV"]
    design = pd.concat([returns["^GSPC"], returns[styles].sub(returns["^GSPC"], axis=0)], axis=1)
    fit = sm.OLS(returns["JPM"], sm.add_constant(design)).fit()
    jpm = run.tables["positions"].query("symbol == 'JPM'").iloc[0]
    assert jpm["Market"] == pytest.approx(fit.params["^GSPC"], rel=1e-9)
    assert jpm["Value"] == pytest.approx(fit.params["VLUE"], rel=1e-9)


def test_stale_rates_are_na_with_their_last_observation(history_db):
    day = dt.date(2018, 1, 31)
    market_risk = run_market_risk(history_db, HF, day)
    reason = "proxy UST:10y: last observation 2017-03-29, 212 sessions before as-of"
    assert market_risk.summary["rate_reason"] == reason
    assert math.isnan(market_risk.summary["rates_up_50bp"])
    assert not math.isnan(market_risk.summary["market_up_1pct"])
    stress = run_stress(history_db, HF, day)
    assert "Interest Rate" not in stress.summary["factors_with_data"]
    assert stress.summary["covariance_observations"] >= 250  # was 40 with the stale yields
    assert stress.summary["covariance_window_end"] == pd.Timestamp(day)
    assert stress.tables["scenarios"].loc["rates_up_25bp", "partial"]
