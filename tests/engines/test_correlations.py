"""Correlations against pandas on real returns, and portfolio metrics by hand."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.engines.correlations import (
    PAIR_COLUMNS,
    correlation_matrix,
    effective_bets,
    portfolio_correlation_metrics,
)
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider

ASSETS = ["AAPL", "JPM", "XOM", "KO", "AMD", "MTUM"]


@pytest.fixture(scope="module")
def real_returns() -> pd.DataFrame:
    prices = OfflineSnapshotProvider().fetch_prices(
        ASSETS, dt.date(2015, 6, 1), dt.date(2017, 3, 29)
    )
    prices["date"] = pd.to_datetime(prices["date"])
    adj = prices.pivot(index="date", columns="symbol", values="adj_close")[ASSETS]
    return adj.pct_change(fill_method=None).iloc[1:]


@pytest.fixture(scope="module")
def holey_returns(real_returns) -> pd.DataFrame:
    """Real returns with holes in the last 252 rows: KO 52 returns, JPM 200 (no
    overlap with KO), MTUM 50, AMD 150, XOM every 7th day missing, one AAPL inf."""
    r = real_returns.copy()
    w = r.index[-252:]
    r.loc[w[:200], "KO"] = np.nan  # KO: last 52 days of the window
    r.loc[w[200:], "JPM"] = np.nan  # JPM: first 200 days -> KO–JPM overlap 0
    r.loc[w[:202], "MTUM"] = np.nan  # MTUM: 50 returns, below min_overlap
    r.loc[w[50:152], "AMD"] = np.nan  # AMD: 150 returns
    r.loc[w[::7], "XOM"] = np.nan
    r.loc[w[3], "AAPL"] = np.inf  # treated as missing, like pandas
    return r


def _exact_returns(cov: np.ndarray, n: int = 252, seed: int = 7) -> np.ndarray:
    """Returns of shape (n, k) whose sample covariance (ddof=1) is exactly ``cov``."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, cov.shape[0]))
    z -= z.mean(axis=0)
    white = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    root = np.linalg.cholesky(cov) if np.linalg.matrix_rank(cov) == cov.shape[0] else None
    if root is None:  # singular (perfect correlation): eigen square root
        lam, vec = np.linalg.eigh(cov)
        root = vec * np.sqrt(np.clip(lam, 0.0, None))
    return white @ root.T + 0.0005


def _frame(values: np.ndarray, names: list[str]) -> pd.DataFrame:
    index = pd.bdate_range("2020-01-01", periods=values.shape[0])
    return pd.DataFrame(values, index=index, columns=names)


def _cov2(s1: float, s2: float, rho: float) -> np.ndarray:
    return np.array([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]])


# --- correlation_matrix -------------------------------------------------------------


def test_matrix_equals_pandas_on_real_returns(real_returns):
    corr, overlap = correlation_matrix(real_returns)
    expected = real_returns.iloc[-252:].corr(min_periods=60)
    pd.testing.assert_frame_equal(corr, expected, rtol=1e-12, atol=1e-13)
    assert (overlap.to_numpy() == 252).all()
    assert overlap.dtypes.map(pd.api.types.is_integer_dtype).all()


@pytest.mark.parametrize(("window", "min_overlap"), [(252, 60), (252, 51), (120, 30), (500, 60)])
def test_matrix_pairwise_deletion_equals_pandas(holey_returns, window, min_overlap):
    corr, overlap = correlation_matrix(holey_returns, window=window, min_overlap=min_overlap)
    frame = holey_returns.iloc[-window:]
    expected = frame.replace([np.inf, -np.inf], np.nan).corr(min_periods=min_overlap)
    pd.testing.assert_frame_equal(corr, expected, rtol=1e-11, atol=1e-13)
    for a in ASSETS:  # counts by brute force
        for b in ASSETS:
            both = np.isfinite(frame[a]) & np.isfinite(frame[b])
            assert overlap.loc[a, b] == int(both.sum())


def test_matrix_min_overlap_cut(holey_returns):
    corr, overlap = correlation_matrix(holey_returns, window=252, min_overlap=60)
    assert overlap.loc["KO", "JPM"] == 0 and np.isnan(corr.loc["KO", "JPM"])
    assert overlap.loc["MTUM", "MTUM"] == 50
    assert corr.loc["MTUM"].isna().all() and corr["MTUM"].isna().all()  # diagonal too
    assert overlap.loc["AMD", "AMD"] == 150 and corr.loc["AMD", "AMD"] == 1.0
    assert overlap.loc["KO", "AAPL"] == 52 and np.isnan(corr.loc["KO", "AAPL"])
    assert np.isfinite(correlation_matrix(holey_returns, min_overlap=52)[0].loc["KO", "AAPL"])
    assert (np.diag(corr.to_numpy())[[0, 2, 4]] == 1.0).all()


def test_matrix_ignores_rows_before_the_window(real_returns):
    noisy = real_returns.copy()
    noisy.iloc[:-100] = np.random.default_rng(1).standard_normal(noisy.iloc[:-100].shape)
    corr, _ = correlation_matrix(noisy, window=100)
    clean, _ = correlation_matrix(real_returns, window=100)
    pd.testing.assert_frame_equal(corr, clean, rtol=1e-12)


def test_matrix_constant_asset_is_nan_like_pandas():
    values = _exact_returns(_cov2(0.01, 0.02, 0.3), n=80)
    frame = _frame(values, ["A", "B"]).assign(C=0.001)
    corr, _ = correlation_matrix(frame, min_overlap=60)
    pd.testing.assert_frame_equal(corr, frame.corr(min_periods=60), rtol=1e-12)
    assert corr["C"].isna().all()


def test_matrix_rejects_bad_parameters(real_returns):
    with pytest.raises(ValueError, match="min_overlap"):
        correlation_matrix(real_returns, min_overlap=0)
    with pytest.raises(ValueError, match="window"):
        correlation_matrix(real_returns, window=0)


# --- portfolio metrics by hand ------------------------------------------------------


@pytest.mark.parametrize(("rho", "e1", "e2"), [(0.3, 1e5, 1e5), (-0.4, 2e5, 5e4), (0.7, 1e5, -6e4)])
def test_two_assets_by_hand(rho, e1, e2):
    s1, s2 = 0.012, 0.025
    frame = _frame(_exact_returns(_cov2(s1, s2, rho)), ["A", "B"])
    m = portfolio_correlation_metrics(frame, pd.Series({"A": e1, "B": e2}))
    assert m.average_correlation == pytest.approx(rho, abs=1e-12)
    sigma_p = math.sqrt(e1**2 * s1**2 + e2**2 * s2**2 + 2 * e1 * e2 * rho * s1 * s2)
    assert m.diversification_ratio == pytest.approx((abs(e1) * s1 + abs(e2) * s2) / sigma_p)
    assert 1.0 <= m.effective_bets <= 2.0
    assert m.excluded.empty and m.notes == ()
    assert list(m.most_correlated.columns) == list(PAIR_COLUMNS)
    assert m.most_correlated.iloc[0].tolist()[:2] == ["A", "B"]
    assert m.most_correlated["overlap"].iloc[0] == 252


def test_equal_exposure_equal_risk_is_one_bet():
    # eigenvectors (1, ±1)/√2; e = (1, 1) loads only on the first: p = (1, 0)
    frame = _frame(_exact_returns(_cov2(0.02, 0.02, 0.3)), ["A", "B"])
    m = portfolio_correlation_metrics(frame, pd.Series({"A": 1e5, "B": 1e5}))
    assert m.effective_bets == pytest.approx(1.0, abs=1e-9)
    assert m.diversification_ratio == pytest.approx(2 / math.sqrt(2.6))


def test_single_exposure_effective_bets_by_hand():
    # e = (1, 0): both components carry variance σ²(1 ± ρ)/2, so p = ((1+ρ)/2, (1−ρ)/2)
    rho = 0.6
    cov = pd.DataFrame(_cov2(0.02, 0.02, rho), index=["A", "B"], columns=["A", "B"])
    p = np.array([(1 + rho) / 2, (1 - rho) / 2])
    expected = math.exp(-(p * np.log(p)).sum())
    assert effective_bets(cov, pd.Series({"A": 1.0, "B": 0.0})) == pytest.approx(expected)


def test_uncorrelated_equal_dollar_risk_is_two_bets():
    # σ differ (no tied eigenvalues), exposures make |e_i| σ_i equal
    frame = _frame(_exact_returns(np.diag([0.01**2, 0.02**2])), ["A", "B"])
    m = portfolio_correlation_metrics(frame, pd.Series({"A": 2e5, "B": -1e5}))
    assert m.effective_bets == pytest.approx(2.0, abs=1e-9)
    assert m.average_correlation == pytest.approx(0.0, abs=1e-12)
    assert m.diversification_ratio == pytest.approx(math.sqrt(2))


def test_perfectly_correlated_is_one_bet():
    frame = _frame(_exact_returns(_cov2(0.01, 0.03, 1.0)), ["A", "B"])
    m = portfolio_correlation_metrics(frame, pd.Series({"A": 1e5, "B": 4e4}))
    assert m.effective_bets == pytest.approx(1.0, abs=1e-6)
    assert m.average_correlation == pytest.approx(1.0, abs=1e-12)
    assert m.diversification_ratio == pytest.approx(1.0, abs=1e-9)


def test_three_uncorrelated_assets_by_hand():
    sigma = np.array([0.01, 0.02, 0.035])
    e = np.array([3e5, -1e5, 5e4])
    frame = _frame(_exact_returns(np.diag(sigma**2)), ["A", "B", "C"])
    m = portfolio_correlation_metrics(frame, pd.Series(e, index=["A", "B", "C"]))
    share = (e * sigma) ** 2 / ((e * sigma) ** 2).sum()
    assert m.effective_bets == pytest.approx(math.exp(-(share * np.log(share)).sum()))
    dr = (np.abs(e) * sigma).sum() / math.sqrt(((e * sigma) ** 2).sum())
    assert m.diversification_ratio == pytest.approx(dr)


def test_three_assets_weighted_average_correlation():
    corr = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, -0.3], [0.2, -0.3, 1.0]])
    sigma = np.array([0.01, 0.015, 0.02])
    e = {"A": 1e5, "B": -2e5, "C": 5e4}
    frame = _frame(_exact_returns(corr * np.outer(sigma, sigma)), list(e))
    m = portfolio_correlation_metrics(frame, pd.Series(e))
    a, b, c = (abs(v) for v in e.values())
    expected = (a * b * 0.6 + a * c * 0.2 + b * c * -0.3) / (a * b + a * c + b * c)
    assert m.average_correlation == pytest.approx(expected, abs=1e-12)
    assert m.most_correlated[["asset_1", "asset_2"]].iloc[0].tolist() == ["A", "B"]
    assert m.least_correlated[["asset_1", "asset_2"]].iloc[0].tolist() == ["B", "C"]
    assert m.least_correlated["correlation"].iloc[0] == pytest.approx(-0.3)
    assert len(portfolio_correlation_metrics(frame, pd.Series(e), top_n=2).most_correlated) == 2


# --- clusters -------------------------------------------------------------------------


def test_two_correlated_and_one_independent_make_two_clusters():
    corr = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.05], [0.0, 0.05, 1.0]])
    frame = _frame(_exact_returns(corr * 0.0002), ["A", "B", "C"])
    exposure = pd.Series({"A": 1e5, "B": 1e5, "C": 5e5})
    m = portfolio_correlation_metrics(frame, exposure)
    assert m.clusters["A"] == m.clusters["B"] != m.clusters["C"]
    assert m.clusters["C"] == 1  # the largest gross exposure comes first
    assert sorted(m.clusters.unique()) == [1, 2]
    assert (
        len(portfolio_correlation_metrics(frame, exposure, cluster_threshold=0.1).clusters.unique())
        == 3
    )
    assert (
        portfolio_correlation_metrics(frame, exposure, cluster_threshold=0.9).clusters == 1
    ).all()


def test_missing_correlation_counts_as_distance_one():
    # B and C never overlap; both track A closely on their half of the window.
    rng = np.random.default_rng(3)
    a = rng.normal(0, 0.01, 200)
    b = a + rng.normal(0, 0.001, 200)
    c = a + rng.normal(0, 0.001, 200)
    b[100:] = np.nan
    c[:100] = np.nan
    frame = _frame(np.column_stack([a, b, c]), ["A", "B", "C"])
    exposure = pd.Series({"A": 3e5, "B": 2e5, "C": 1e5})
    m = portfolio_correlation_metrics(frame, exposure)
    assert np.isnan(m.correlation.loc["B", "C"]) and m.overlap.loc["B", "C"] == 0
    # average linkage {A, B} to C: (d_AC + 1) / 2 > 0.5, so C stays apart
    assert m.clusters["A"] == m.clusters["B"] != m.clusters["C"]
    # average correlation over the two pairs that have one
    rab = np.corrcoef(a[:100], b[:100])[0, 1]
    rac = np.corrcoef(a[100:], c[100:])[0, 1]
    expected = (6 * rab + 3 * rac) / 9
    assert m.average_correlation == pytest.approx(expected, abs=1e-12)
    # the risk metrics drop C (tie on missing pairs and days, smaller exposure)
    assert any("leave out C" in note for note in m.notes)
    # Σ_AB = ρ_AB σ_A σ_B, each σ over the asset's own returns (the pairwise-complete
    # covariance here would imply a correlation of 1.03)
    sa, sb = np.std(a, ddof=1), np.std(b[:100], ddof=1)
    sigma_p = math.sqrt(9e10 * sa**2 + 4e10 * sb**2 + 2 * 6e10 * rab * sa * sb)
    assert m.diversification_ratio == pytest.approx((3e5 * sa + 2e5 * sb) / sigma_p)


# --- exclusion ------------------------------------------------------------------------


def test_exclusions_carry_reasons(holey_returns):
    exposure = pd.Series(
        {"AAPL": 1e5, "XOM": 5e4, "MTUM": 2e4, "AMD": 3e4, "GOOG": 1e4, "KO": np.nan, "JPM": 0.0}
    )
    frame = holey_returns.assign(EMPTY=np.nan)
    m = portfolio_correlation_metrics(frame, pd.concat([exposure, pd.Series({"EMPTY": 1e4})]))
    assert m.excluded.dtype == object
    assert set(m.excluded.index) == {"MTUM", "GOOG", "KO", "JPM", "EMPTY"}
    assert "50 returns" in m.excluded["MTUM"] and "min_overlap=60" in m.excluded["MTUM"]
    assert m.excluded["GOOG"] == "no returns column for this asset"
    assert m.excluded["KO"] == "exposure is missing"
    assert m.excluded["JPM"] == "zero exposure"
    assert m.excluded["EMPTY"] == "no returns in the 252-day window"
    assert list(m.clusters.index) == ["AAPL", "XOM", "AMD"]
    assert list(m.correlation.index) == ["AAPL", "XOM", "AMD"]
    assert np.isfinite([m.average_correlation, m.diversification_ratio, m.effective_bets]).all()


def test_asset_without_overlap_with_any_other_is_excluded():
    rng = np.random.default_rng(5)
    values = rng.normal(0, 0.01, (200, 3))
    values[:120, 2] = np.nan  # C: 80 returns, only 80 days with A and B...
    values[120:, 1] = np.nan  # ...and B stops where C starts
    values[120:, 0] = np.nan  # so does A: C overlaps nobody
    m = portfolio_correlation_metrics(
        _frame(values, ["A", "B", "C"]), pd.Series(1e5, ["A", "B", "C"])
    )
    assert m.excluded["C"] == "fewer than 60 common return days with every other asset"
    assert list(m.clusters.index) == ["A", "B"]


@pytest.mark.parametrize("held", [["AAPL"], ["MTUM"], []])
def test_fewer_than_two_assets_gives_nan_and_a_note(holey_returns, held):
    m = portfolio_correlation_metrics(holey_returns, pd.Series(1e5, index=held, dtype=float))
    assert np.isnan([m.average_correlation, m.diversification_ratio, m.effective_bets]).all()
    assert any("fewer than 2 usable assets" in note for note in m.notes)
    assert m.most_correlated.empty and m.least_correlated.empty
    assert list(m.most_correlated.columns) == list(PAIR_COLUMNS)
    assert list(m.clusters) == ([1] if held == ["AAPL"] else [])


def test_no_rows_gives_nan_not_an_error():
    m = portfolio_correlation_metrics(
        pd.DataFrame(columns=["A", "B"], dtype=float), pd.Series({"A": 1.0, "B": 2.0})
    )
    assert np.isnan(m.average_correlation) and m.window_start is None
    assert m.excluded.str.startswith("no returns").all()


def test_real_portfolio_metrics_are_consistent(real_returns):
    exposure = pd.Series(
        {"AAPL": 1e5, "JPM": 5e4, "XOM": -3e4, "KO": 2e4, "AMD": 1e4, "MTUM": -5e4}
    )
    m = portfolio_correlation_metrics(real_returns, exposure)
    cov = real_returns.iloc[-252:].cov().loc[exposure.index, exposure.index].to_numpy()
    e = exposure.to_numpy()
    dr = (np.abs(e) * np.sqrt(np.diag(cov))).sum() / math.sqrt(e @ cov @ e)
    assert m.diversification_ratio == pytest.approx(dr, rel=1e-10)
    assert 1.0 < m.effective_bets < 6.0
    assert m.window_end == pd.Timestamp("2017-03-29")
    assert m.most_correlated[["asset_1", "asset_2"]].iloc[0].tolist() == ["KO", "MTUM"]


def test_inconsistent_pairwise_correlations_are_repaired_with_a_note():
    # each pair overlaps on its own block: ρ_AB ≈ 0.9, ρ_BC ≈ 0.9, ρ_AC ≈ -0.9 (impossible jointly)
    rng = np.random.default_rng(11)
    values = np.full((300, 3), np.nan)
    for block, (i, j, sign) in enumerate([(0, 1, 1), (1, 2, 1), (0, 2, -1)]):
        rows = slice(100 * block, 100 * (block + 1))
        base = rng.normal(0, 0.01, 100)
        values[rows, i] = base + rng.normal(0, 0.003, 100)
        values[rows, j] = sign * base + rng.normal(0, 0.003, 100)
    frame = _frame(values, ["A", "B", "C"])
    m = portfolio_correlation_metrics(frame, pd.Series(1e5, ["A", "B", "C"]), window=300)
    r = m.correlation.to_numpy()
    assert r[0, 1] > 0.85 and r[1, 2] > 0.85 and r[0, 2] < -0.85
    assert np.linalg.eigvalsh(r).min() < 0
    assert any("not positive semidefinite" in note for note in m.notes)
    assert 1.0 <= m.effective_bets <= 3.0 and np.isfinite(m.diversification_ratio)
