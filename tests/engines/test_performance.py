"""Performance statistics against hand computations (numpy formulas written here) and
statsmodels OLS; N/A cases give NaN with a reason, never a number."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from sigmasight_lib.engines.performance import (
    BENCHMARK_KEYS,
    MIN_ANNUALIZED_OBSERVATIONS,
    STAT_KEYS,
    choose_benchmark,
    cumulative_returns,
    drawdown,
    monthly_returns,
    performance_stats,
    rolling_beta,
    rolling_sharpe,
    rolling_volatility,
)

REL = 1e-9
N = 300


@pytest.fixture(scope="module")
def pair() -> tuple[pd.Series, pd.Series]:
    """Fixed-seed portfolio and benchmark daily returns on business days (beta ≈ 0.4)."""
    rng = np.random.default_rng(14)
    dates = pd.bdate_range("2016-01-04", periods=N)
    b = pd.Series(rng.normal(0.0004, 0.01, N), index=dates)
    r = 0.4 * b + pd.Series(rng.normal(0.0003, 0.006, N), index=dates)
    return r, b


def hand_max_drawdown(r: np.ndarray) -> float:
    """Deepest fall of wealth below its running peak, the start (wealth 1) a peak."""
    wealth, peak, worst = 1.0, 1.0, 0.0
    for x in r:
        wealth *= 1.0 + x
        peak = max(peak, wealth)
        worst = min(worst, wealth / peak - 1.0)
    return worst


def test_return_and_risk_figures_by_hand(pair) -> None:
    r, b = pair
    x = r.to_numpy()
    n = x.size
    stats = performance_stats(r, b)
    v = stats.values
    assert list(v) == list(STAT_KEYS)
    assert stats.observations == n and stats.benchmark_observations == n
    growth = float(np.prod(1.0 + x))
    assert v["total_return"] == pytest.approx(growth - 1.0, rel=REL)
    assert v["cagr"] == pytest.approx(growth ** (252 / n) - 1.0, rel=REL)
    assert v["annual_volatility"] == pytest.approx(x.std(ddof=1) * math.sqrt(252), rel=REL)
    assert v["sharpe"] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(252), rel=REL)
    downside = math.sqrt(np.mean(np.minimum(x, 0.0) ** 2)) * math.sqrt(252)
    assert v["sortino"] == pytest.approx(x.mean() * 252 / downside, rel=REL)
    mdd = hand_max_drawdown(x)
    assert v["max_drawdown"] == pytest.approx(mdd, rel=REL)
    assert v["calmar"] == pytest.approx((growth ** (252 / n) - 1.0) / abs(mdd), rel=REL)
    assert v["best_day"] == max(x) and v["worst_day"] == min(x)
    assert v["hit_rate"] == sum(1 for y in x if y > 0) / n
    assert stats.reasons == {}


def test_benchmark_figures_by_hand_and_statsmodels(pair) -> None:
    r, b = pair
    v = performance_stats(r, b).values
    ols = sm.OLS(r.to_numpy(), sm.add_constant(b.to_numpy())).fit()
    intercept, slope = ols.params
    assert v["beta"] == pytest.approx(slope, rel=1e-9)
    assert v["alpha"] == pytest.approx((1.0 + intercept) ** 252 - 1.0, rel=1e-9)
    active = (r - b).to_numpy()
    te = active.std(ddof=1) * math.sqrt(252)
    assert v["tracking_error"] == pytest.approx(te, rel=REL)
    assert v["information_ratio"] == pytest.approx(active.mean() * 252 / te, rel=REL)
    dx, dy = b - b.mean(), r - r.mean()
    rho = (dx * dy).sum() / math.sqrt((dx**2).sum() * (dy**2).sum())
    assert v["correlation"] == pytest.approx(rho, rel=1e-12)


def test_benchmark_is_aligned_on_dates(pair) -> None:
    """Returns and benchmark on different date sets: only the common days count."""
    r, b = pair
    shifted = b.iloc[50:]
    stats = performance_stats(r, shifted)
    assert stats.benchmark_observations == N - 50
    ols = sm.OLS(r.iloc[50:].to_numpy(), sm.add_constant(shifted.to_numpy())).fit()
    assert stats.values["beta"] == pytest.approx(ols.params[1], rel=1e-9)
    assert stats.observations == N  # own figures use every return


def test_too_few_observations_are_na_with_reason(pair) -> None:
    r, b = pair
    short = performance_stats(r.iloc[:5], b.iloc[:5])
    for key in ("cagr", "annual_volatility", "sharpe", "sortino", "calmar"):
        assert math.isnan(short.values[key])
        assert "annualized figures need" in short.reasons[key]
    assert short.values["total_return"] == pytest.approx(np.prod(1 + r.iloc[:5]) - 1, rel=REL)
    for key in BENCHMARK_KEYS:
        assert math.isnan(short.values[key])
        assert f"at least {MIN_ANNUALIZED_OBSERVATIONS} needed" in short.reasons[key]
    one = performance_stats(r.iloc[:1])
    assert all(math.isnan(v) for v in one.values.values())
    assert set(one.reasons) == set(STAT_KEYS)
    empty = performance_stats(pd.Series(dtype=float))
    assert all(math.isnan(v) for v in empty.values.values())


def test_no_benchmark_and_degenerate_inputs_are_na_with_reason(pair) -> None:
    r, b = pair
    none = performance_stats(r, None, benchmark_reason="no benchmark with data")
    for key in BENCHMARK_KEYS:
        assert math.isnan(none.values[key])
        assert none.reasons[key] == "no benchmark with data"
    flat = performance_stats(r, pd.Series(0.001, index=b.index))
    assert math.isnan(flat.values["beta"]) and flat.reasons["beta"] == "constant returns"
    assert math.isnan(flat.values["alpha"])
    rising = performance_stats(pd.Series(np.full(40, 0.001)))
    assert rising.values["max_drawdown"] == 0.0
    assert math.isnan(rising.values["calmar"])
    assert rising.reasons["calmar"] == "no drawdown in the window"
    same = performance_stats(r, r)
    assert same.values["tracking_error"] == 0.0
    assert math.isnan(same.values["information_ratio"])
    assert "zero tracking error" in same.reasons["information_ratio"]


def test_series_by_hand(pair) -> None:
    r, b = pair
    x = r.to_numpy()
    cum = cumulative_returns(r)
    assert cum.iloc[-1] == pytest.approx(np.prod(1 + x) - 1, rel=REL)
    dd = drawdown(r)
    assert (dd <= 0).all()
    assert dd.min() == pytest.approx(hand_max_drawdown(x), rel=REL)
    vol = rolling_volatility(r, window=63)
    assert vol.iloc[:62].isna().all()
    assert vol.iloc[-1] == pytest.approx(x[-63:].std(ddof=1) * math.sqrt(252), rel=REL)
    sharpe = rolling_sharpe(r, window=63, risk_free=0.0001)
    excess = x[-63:] - 0.0001
    assert sharpe.iloc[:62].isna().all()
    assert sharpe.iloc[-1] == pytest.approx(
        excess.mean() / excess.std(ddof=1) * math.sqrt(252), rel=REL
    )
    assert rolling_sharpe(pd.Series(np.full(70, 0.001)), window=63).isna().all()  # constant
    beta = rolling_beta(r, b, window=63)
    ols = sm.OLS(x[-63:], sm.add_constant(b.to_numpy()[-63:])).fit()
    assert beta.iloc[-1] == pytest.approx(ols.params[1], rel=1e-9)
    monthly = monthly_returns(r)
    assert list(monthly.columns) == list(range(1, 13))
    feb = r[(r.index.year == 2016) & (r.index.month == 2)].to_numpy()
    assert monthly.at[2016, 2] == pytest.approx(np.prod(1 + feb) - 1, rel=REL)
    assert monthly.notna().sum().sum() == len({(d.year, d.month) for d in r.index})


def test_choose_benchmark_falls_back_and_says_why(pair) -> None:
    _, b = pair
    as_of = b.index[-1].date()
    stale = b.iloc[:-3]
    chosen = choose_benchmark({"^GSPC": stale, "SPY": b}, ["^GSPC", "SPY"], as_of)
    assert chosen.symbol == "SPY"
    assert len(chosen.returns) == N
    assert chosen.reason.startswith("SPY used (^GSPC: no price on")
    first = choose_benchmark({"^GSPC": b, "SPY": b}, ["^GSPC", "SPY"], as_of)
    assert first.symbol == "^GSPC" and first.reason is None
    missing = choose_benchmark({}, ["^GSPC", "SPY"], as_of)
    assert missing.symbol is None and missing.returns.empty
    assert missing.reason == (
        "no benchmark with data at the as-of date (^GSPC: no cached prices; SPY: no cached prices)"
    )
    unconfigured = choose_benchmark({"SPY": b}, [], dt.date(2017, 1, 3))
    assert unconfigured.symbol is None and "no benchmark symbol configured" in unconfigured.reason
