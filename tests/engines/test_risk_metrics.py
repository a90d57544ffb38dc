"""Risk metrics against empyrical, numpy, scipy and hand calculations."""

from __future__ import annotations

import datetime as dt
import math
from statistics import NormalDist

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from sigmasight_lib.engines.risk_metrics import (
    METRIC_KEYS,
    FactorRisk,
    factor_risk,
    historical_cvar,
    historical_var,
    parametric_var,
    performance_stats,
    performance_stats_many,
    tail_count,
)
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider

REL = 1e-9


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def real_returns() -> dict[str, pd.Series]:
    """AAPL from adjusted closes (leading NaN kept) and SPY's published daily total return."""
    prices = OfflineSnapshotProvider().fetch_prices(
        ["AAPL", "SPY"], dt.date(2016, 3, 1), dt.date(2017, 3, 29)
    )
    prices["date"] = pd.to_datetime(prices["date"])
    adj = prices.pivot(index="date", columns="symbol", values="adj_close")
    total = prices.pivot(index="date", columns="symbol", values="total_return")
    aapl = adj["AAPL"].pct_change(fill_method=None)
    spy = total["SPY"]
    assert aapl.isna().sum() == 1 and aapl.notna().sum() > 250
    assert spy.notna().sum() > 250
    return {"AAPL": aapl, "SPY": spy}


def _hundred_returns() -> pd.Series:
    """−0.10, −0.09, …, 0.89 (100 returns, step 0.01) in a shuffled order."""
    values = np.array([(k - 10) / 100 for k in range(100)])
    return pd.Series(np.random.default_rng(7).permutation(values))


# --------------------------------------------------------------------------- performance_stats


def test_keys_exact_and_ordered(real_returns):
    stats = performance_stats(real_returns["SPY"])
    assert tuple(stats) == METRIC_KEYS
    assert len(METRIC_KEYS) == 10
    assert all(isinstance(v, float) for v in stats.values())


@pytest.mark.parametrize("symbol", ["AAPL", "SPY"])
@pytest.mark.parametrize("risk_free", [0.0, 0.0001])
def test_four_ratios_match_empyrical(real_returns, symbol, risk_free):
    r = real_returns[symbol]
    clean = r.dropna()
    stats = performance_stats(r, periods_per_year=252, risk_free=risk_free)
    expected = {
        "annual_volatility": empyrical.annual_volatility(clean, period="daily"),
        "sharpe": empyrical.sharpe_ratio(clean, risk_free=risk_free, period="daily"),
        "sortino": empyrical.sortino_ratio(clean, required_return=risk_free, period="daily"),
        "max_drawdown": empyrical.max_drawdown(clean),
    }
    for key, value in expected.items():
        assert stats[key] == pytest.approx(float(value), rel=REL), key
    assert stats["max_drawdown"] < 0  # empyrical's sign convention, kept


def test_annualization_is_passed_through(real_returns):
    r = real_returns["SPY"].dropna()
    weekly = performance_stats(r, periods_per_year=52)
    assert weekly["annual_volatility"] == pytest.approx(r.std(ddof=1) * math.sqrt(52), rel=REL)
    assert weekly["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * math.sqrt(52), rel=REL)


@pytest.mark.parametrize("symbol", ["AAPL", "SPY"])
def test_var_cvar_on_real_returns(real_returns, symbol):
    r = real_returns[symbol].dropna().to_numpy()
    stats = performance_stats(real_returns[symbol])
    n = r.size
    for level, suffix in ((0.95, "95"), (0.99, "99")):
        # oracle: numpy's lower empirical quantile (Hyndman & Fan type 1)
        q = np.quantile(r, 1 - level, method="inverted_cdf")
        assert stats[f"var_{suffix}"] == pytest.approx(-q, rel=REL)
        k = math.ceil(n * (1 - level))  # n is not a multiple of 20 or 100: no rounding edge
        assert k == int((r <= q).sum())  # the quantile is the k-th worst observed day
        assert stats[f"cvar_{suffix}"] == pytest.approx(-np.sort(r)[:k].mean(), rel=REL)
        assert stats[f"cvar_{suffix}"] >= stats[f"var_{suffix}"] > 0
        z = norm.ppf(1 - level)
        assert stats[f"parametric_var_{suffix}"] == pytest.approx(-z * r.std(ddof=1), rel=REL)
    assert stats["var_99"] > stats["var_95"]


def test_historical_var_is_an_order_statistic_252_days():
    # 252 returns: the 5 worst are −5 %, −4 %, −3 %, −2 %, −1.5 %; the other 247 are
    # +0.0 % … +2.46 % (step 0.01 %). level 0.99: k = ⌈252 × 0.01⌉ = ⌈2.52⌉ = 3 → the 3rd
    # worst day, −3 %; CVaR = (5 + 4 + 3) / 3 = 4 %. level 0.95: k = ⌈12.6⌉ = 13 → the
    # 13th worst = the 8th smallest of the others = +0.07 % (a gain: VaR −0.0007);
    # CVaR = −(−0.05 − 0.04 − 0.03 − 0.02 − 0.015 + (0 + 1 + … + 7) × 0.0001) / 13
    worst = [-0.05, -0.04, -0.03, -0.02, -0.015]
    others = [i / 10_000 for i in range(247)]
    r = pd.Series(np.random.default_rng(3).permutation(worst + others))
    assert len(r) == 252
    assert historical_var(r, 0.99) == pytest.approx(0.03, rel=REL)
    assert historical_cvar(r, 0.99) == pytest.approx(0.04, rel=REL)
    assert historical_var(r, 0.95) == pytest.approx(-0.0007, rel=REL)
    assert historical_cvar(r, 0.95) == pytest.approx((0.155 - 28 * 0.0001) / 13, rel=REL)
    # numpy's default linear interpolation would give −(x_(3) + 0.51 (x_(4) − x_(3)))
    assert historical_var(r, 0.99) != pytest.approx(-np.quantile(r, 0.01), rel=1e-3)
    assert historical_var(r, 0.99) == pytest.approx(
        -np.quantile(r, 0.01, method="inverted_cdf"), rel=REL
    )


def test_tail_count_rule():
    assert tail_count(252, 0.99) == 3
    assert tail_count(252, 0.95) == 13
    # whole numbers stay whole despite binary rounding (100 × (1 − 0.95) = 5.000000000000004)
    assert tail_count(100, 0.95) == 5
    assert tail_count(100, 0.99) == 1
    assert tail_count(20, 0.99) == 1  # never an empty tail


def test_historical_var_by_hand():
    r = _hundred_returns()
    # sorted: r_(i) = (i − 11)/100, i = 1 … 100. k = ⌈n (1 − level)⌉:
    # level 0.95: k = 5 → VaR = −r_(5) = 0.06; level 0.99: k = 1 → VaR = −r_(1) = 0.10
    assert historical_var(r, 0.95) == pytest.approx(0.06, rel=REL)
    assert historical_var(r, 0.99) == pytest.approx(0.10, rel=REL)


def test_historical_cvar_by_hand():
    r = _hundred_returns()
    # level 0.95: the 5 worst are −0.10, −0.09, −0.08, −0.07, −0.06 → mean −0.08
    assert historical_cvar(r, 0.95) == pytest.approx(0.08, rel=REL)
    # level 0.99: only −0.10
    assert historical_cvar(r, 0.99) == pytest.approx(0.10, rel=REL)
    stats = performance_stats(r)
    assert stats["var_95"] == pytest.approx(0.06, rel=REL)
    assert stats["cvar_95"] == pytest.approx(0.08, rel=REL)
    assert stats["var_99"] == pytest.approx(0.10, rel=REL)
    assert stats["cvar_99"] == pytest.approx(0.10, rel=REL)


def test_historical_cvar_with_ties_at_the_var():
    # 21 returns: −0.05 three times, then 0.00 … 0.17. level 0.95: k = ⌈21 × 0.05⌉ = 2,
    # the 2 worst are both −0.05: VaR = CVaR = 0.05
    r = pd.Series([-0.05, 0.03, -0.05, *[k / 100 for k in range(18) if k != 3], -0.05])
    assert len(r) == 21
    assert historical_var(r, 0.95) == pytest.approx(0.05, rel=REL)
    assert historical_cvar(r, 0.95) == pytest.approx(0.05, rel=REL)


def test_parametric_var_zero_mean_by_default_sample_mean_on_request():
    r = pd.Series([0.01, 0.03])
    # μ = 0.02, σ (ddof=1) = sqrt(((−0.01)² + 0.01²)/1) = 0.01·√2
    mu, sigma = 0.02, 0.01 * math.sqrt(2)
    for level in (0.95, 0.99):
        assert parametric_var(r, level) == pytest.approx(-norm.ppf(1 - level) * sigma, rel=REL)
        expected = -(mu + norm.ppf(1 - level) * sigma)
        assert parametric_var(r, level, "sample") == pytest.approx(expected, rel=REL)
        assert parametric_var(r, level, "sample") == pytest.approx(
            -(mu + NormalDist().inv_cdf(1 - level) * sigma), rel=1e-12
        )
    # z_0.05 = −1.6448536…: 1.6448536·0.0141421 ≈ 0.0232617; with μ: 0.0032617
    assert parametric_var(r, 0.95) == pytest.approx(0.0232617, abs=1e-7)
    assert parametric_var(r, 0.95, "sample") == pytest.approx(0.0032617, abs=1e-7)
    stats = performance_stats(r, gaussian_mean="sample")
    assert stats["parametric_var_95"] == pytest.approx(0.0032617, abs=1e-7)
    with pytest.raises(ValueError, match="'mean'|got 'median'"):
        parametric_var(r, 0.95, "median")


@pytest.mark.parametrize(
    "returns",
    [
        pd.Series([], dtype=float),
        pd.Series([], dtype=object),
        pd.Series([0.01]),
        pd.Series([np.nan, np.nan, np.nan]),
        pd.Series([np.nan, -0.02, np.nan]),
    ],
    ids=["empty", "empty-object", "single", "all-nan", "one-non-nan"],
)
def test_unusable_input_gives_all_nan(returns):
    stats = performance_stats(returns)
    assert tuple(stats) == METRIC_KEYS
    assert all(math.isnan(v) for v in stats.values()), stats
    for fn in (historical_var, historical_cvar, parametric_var):
        assert math.isnan(fn(returns, 0.95))


def test_nans_are_dropped(real_returns):
    r = real_returns["SPY"].dropna()
    holey = r.copy()
    holey.iloc[[3, 50, 51, 200]] = np.nan
    expected = performance_stats(holey.dropna())
    got = performance_stats(holey)
    assert got == pytest.approx(expected, rel=REL)
    assert all(np.isfinite(v) for v in got.values())
    zero_filled = performance_stats(holey.fillna(0.0))
    assert got["parametric_var_95"] != pytest.approx(zero_filled["parametric_var_95"], rel=REL)


@pytest.mark.parametrize("gaussian_mean", ["zero", "sample"])
def test_performance_stats_many_equals_one_series_at_a_time(real_returns, gaussian_mean):
    spy, aapl = real_returns["SPY"], real_returns["AAPL"]
    holey = spy.copy()
    holey.iloc[[0, 3, 50, 51, 200]] = np.nan
    late = aapl.copy()
    late.iloc[:100] = np.nan
    frame = pd.DataFrame(
        {
            "spy": spy,
            "aapl": aapl,
            "holey": holey,
            "late": late,
            "constant": 0.001,  # Sharpe +inf, no drawdown
            "gains": spy.abs() + 0.001,  # Sortino +inf
            "all_nan": np.nan,
            "one": [0.01] + [np.nan] * (len(spy) - 1),
        },
        index=spy.index,
    )
    many = performance_stats_many(frame, risk_free=1e-4, gaussian_mean=gaussian_mean)
    assert list(many.index) == list(frame.columns) and tuple(many.columns) == METRIC_KEYS
    for column in frame.columns:
        want = performance_stats(frame[column], risk_free=1e-4, gaussian_mean=gaussian_mean)
        got = many.loc[column].to_dict()
        for key in METRIC_KEYS:
            if math.isnan(want[key]) or math.isinf(want[key]):
                assert got[key] == want[key] or (math.isnan(got[key]) and math.isnan(want[key]))
            else:
                assert got[key] == pytest.approx(want[key], rel=REL, abs=1e-15), (column, key)
    assert many.loc[["all_nan", "one"]].isna().all().all()
    assert math.isinf(many.at["constant", "sharpe"]) and math.isinf(many.at["gains", "sortino"])


def test_bad_level_and_shape_raise():
    with pytest.raises(ValueError, match="got 95"):
        historical_var(pd.Series([0.01, 0.02]), 95)
    with pytest.raises(ValueError, match="got 1.0"):
        parametric_var(pd.Series([0.01, 0.02]), 1.0)
    with pytest.raises(ValueError, match="one-dimensional"):
        historical_cvar(np.zeros((3, 2)), 0.95)


# --------------------------------------------------------------------------- factor_risk
# Two positions, two factors (USD exposures, daily covariance):
#
#         Market   Size              F = | 4e-4  1e-4 |   (vols 2% and 3%)
#   A  [  1000,    200 ]                 | 1e-4  9e-4 |
#   B  [  -400,    100 ]
#   X  [   600,    300 ]   FX = (4e-4·600 + 1e-4·300, 1e-4·600 + 9e-4·300) = (0.27, 0.33)
#
#   factor variance = 600·0.27 + 300·0.33 = 162 + 99 = 261
#   A: x_A·FX = 1000·0.27 + 200·0.33 = 336;  B: x_B·FX = −400·0.27 + 100·0.33 = −75
#   specific: A 25, B 14 → 39;  total = 300;  vol = √300
#   shares: A (336 + 25)/300 = 361/300, B (−75 + 14)/300 = −61/300;
#           Market 162/300 = 0.54, Size 99/300 = 0.33


def _hand_inputs() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    exposures = pd.DataFrame(
        {"Market": [1000.0, -400.0], "Size": [200.0, 100.0]}, index=pd.Index(["A", "B"])
    )
    cov = pd.DataFrame(
        [[4e-4, 1e-4], [1e-4, 9e-4]], index=["Market", "Size"], columns=["Market", "Size"]
    )
    specific = pd.Series({"A": 25.0, "B": 14.0})
    return exposures, cov, specific


def _assert_sums(result: FactorRisk) -> None:
    pos, fac = result.by_position, result.by_factor
    assert pos["factor_contribution_usd2"].sum() == pytest.approx(result.factor_variance, rel=REL)
    assert pos["specific_contribution_usd2"].sum() == pytest.approx(
        result.specific_variance, rel=REL
    )
    assert pos["total_contribution_usd2"].sum() == pytest.approx(result.total_variance, rel=REL)
    assert fac["contribution_usd2"].sum() == pytest.approx(result.factor_variance, rel=REL)
    assert pos["share"].sum() == pytest.approx(1.0, rel=REL)
    assert fac["share"].sum() + result.specific_variance / result.total_variance == pytest.approx(
        1.0, rel=REL
    )
    assert result.total_variance == pytest.approx(
        result.factor_variance + result.specific_variance, rel=REL
    )


def test_factor_risk_by_hand():
    result = factor_risk(*_hand_inputs())
    assert result.factor_variance == pytest.approx(261.0, rel=REL)
    assert result.specific_variance == pytest.approx(39.0, rel=REL)
    assert result.total_variance == pytest.approx(300.0, rel=REL)
    assert result.total_volatility_usd == pytest.approx(math.sqrt(300.0), rel=REL)
    pos = result.by_position
    assert list(pos.index) == ["A", "B"]
    assert list(pos.columns) == [
        "factor_contribution_usd2",
        "specific_contribution_usd2",
        "total_contribution_usd2",
        "share",
    ]
    np.testing.assert_allclose(pos["factor_contribution_usd2"], [336.0, -75.0], rtol=REL)
    np.testing.assert_allclose(pos["specific_contribution_usd2"], [25.0, 14.0], rtol=REL)
    np.testing.assert_allclose(pos["total_contribution_usd2"], [361.0, -61.0], rtol=REL)
    np.testing.assert_allclose(pos["share"], [361 / 300, -61 / 300], rtol=REL)
    fac = result.by_factor
    assert list(fac.index) == ["Market", "Size"]
    assert list(fac.columns) == ["exposure_usd", "contribution_usd2", "share"]
    np.testing.assert_allclose(fac["exposure_usd"], [600.0, 300.0], rtol=REL)
    np.testing.assert_allclose(fac["contribution_usd2"], [162.0, 99.0], rtol=REL)
    np.testing.assert_allclose(fac["share"], [0.54, 0.33], rtol=REL)
    assert result.notes == ()
    _assert_sums(result)


def test_total_matches_full_position_covariance():
    """Independent oracle: 1ᵀ (x F xᵀ + diag(s)) 1 over a random 6-position, 4-factor book."""
    rng = np.random.default_rng(11)
    factors = ["Market", "Value", "Momentum", "Size"]
    returns = rng.normal(0, 0.01, size=(300, 4)) @ rng.normal(0, 1, size=(4, 4))
    cov = pd.DataFrame(np.cov(returns, rowvar=False), index=factors, columns=factors)
    x = pd.DataFrame(rng.normal(0, 1e5, size=(6, 4)), columns=factors, index=list("abcdef"))
    s = pd.Series(rng.uniform(1e3, 1e5, size=6), index=x.index)
    result = factor_risk(x, cov, s)
    position_cov = x.to_numpy() @ cov.to_numpy() @ x.to_numpy().T + np.diag(s.to_numpy())
    assert result.total_variance == pytest.approx(position_cov.sum(), rel=REL)
    # each position's Euler contribution = its row sum of the position covariance
    np.testing.assert_allclose(
        result.by_position["total_contribution_usd2"], position_cov.sum(axis=1), rtol=1e-9
    )
    _assert_sums(result)


def test_extra_covariance_factor_is_ignored_with_note():
    exposures, cov, specific = _hand_inputs()
    wide = pd.DataFrame(
        [[4e-4, 1e-4, 2e-4], [1e-4, 9e-4, 3e-4], [2e-4, 3e-4, 1e-3]],
        index=["Market", "Size", "Value"],
        columns=["Market", "Size", "Value"],
    ).loc[["Value", "Size", "Market"], ["Size", "Value", "Market"]]  # shuffled labels
    result = factor_risk(exposures, wide, specific)
    assert result.total_variance == pytest.approx(300.0, rel=REL)
    assert list(result.by_factor.index) == ["Market", "Size"]
    assert any("Value" in n and "ignored" in n for n in result.notes), result.notes
    _assert_sums(result)


def test_exposure_factor_without_covariance_is_excluded_with_note():
    exposures, cov, specific = _hand_inputs()
    exposures["Oil"] = [5e4, 0.0]
    result = factor_risk(exposures, cov, specific)
    assert result.total_variance == pytest.approx(300.0, rel=REL)
    assert "Oil" not in result.by_factor.index
    assert any("Oil" in n and "excluded" in n for n in result.notes), result.notes


def test_nan_exposure_counts_as_zero_and_missing_specific_is_noted():
    exposures, cov, specific = _hand_inputs()
    exposures.loc["B", "Size"] = np.nan  # x_B = (−400, 0)
    specific = specific.drop("B")
    result = factor_risk(exposures, cov, specific)
    # X = (600, 200); FX = (4e-4·600 + 1e-4·200, 1e-4·600 + 9e-4·200) = (0.26, 0.24)
    # factor variance = 600·0.26 + 200·0.24 = 156 + 48 = 204; B: −400·0.26 = −104
    assert result.factor_variance == pytest.approx(204.0, rel=REL)
    assert result.by_position.loc["B", "factor_contribution_usd2"] == pytest.approx(-104.0)
    assert result.by_position.loc["B", "specific_contribution_usd2"] == 0.0
    assert result.total_variance == pytest.approx(229.0, rel=REL)
    assert any("B" in n and "specific" in n for n in result.notes), result.notes
    _assert_sums(result)


def test_position_with_only_specific_variance():
    exposures, cov, specific = _hand_inputs()
    specific["C"] = 11.0
    result = factor_risk(exposures, cov, specific)
    assert list(result.by_position.index) == ["A", "B", "C"]
    assert result.by_position.loc["C", "factor_contribution_usd2"] == 0.0
    assert result.total_variance == pytest.approx(311.0, rel=REL)
    assert any("C" in n for n in result.notes)
    _assert_sums(result)


def test_invalid_inputs_raise():
    exposures, cov, specific = _hand_inputs()
    with pytest.raises(ValueError, match=r"B=-1\.0"):
        factor_risk(exposures, cov, specific.replace(14.0, -1.0))
    with pytest.raises(ValueError, match="duplicate position ids: A"):
        factor_risk(pd.concat([exposures, exposures.loc[["A"]]]), cov, specific)
    with pytest.raises(ValueError, match="same factors"):
        factor_risk(exposures, cov.rename(columns={"Size": "Value"}), specific)


def test_empty_portfolio():
    _, cov, _ = _hand_inputs()
    result = factor_risk(
        pd.DataFrame(columns=["Market", "Size"], dtype=float), cov, pd.Series(dtype=float)
    )
    assert result.total_variance == 0.0
    assert result.total_volatility_usd == 0.0
    assert result.by_position.empty
    assert (result.by_factor["exposure_usd"] == 0.0).all()
