"""Model validation statistics: VaR backtests, volatility-forecast bias, constant-holdings P&L.

Pure functions over numpy / pandas; nothing here loads data
(:mod:`sigmasight_lib.validation` does the loading and calls these).

Conventions (house style): VaR is a **positive loss** in USD; the confidence
level is written 0.95 / 0.99, and the expected exception probability is
``p = 1 − level``. An *exception* (a "hit") on day t+1 is a realized P&L
strictly below −VaR_t. P&L is in USD per day.

Statistics, for a hit sequence I_1 … I_n (1 = exception), x = Σ I_t::

    Kupiec POF      LR_pof = −2 ln[(1−p)^(n−x) p^x] + 2 ln[(1−x/n)^(n−x) (x/n)^x]  ~ χ²(1)
    Christoffersen  n_ij = #{t ≥ 2 : I_{t−1} = i, I_t = j},
                    π01 = n01/(n00+n01), π11 = n11/(n10+n11), π = (n01+n11)/(n−1)
                    LR_ind = −2 ln[(1−π)^(n00+n10) π^(n01+n11)]
                             + 2 ln[(1−π01)^n00 π01^n01 (1−π11)^n10 π11^n11]       ~ χ²(1)
    conditional     LR_cc = LR_pof + LR_ind                                       ~ χ²(2)
    coverage

with 0 · ln 0 = 0. p-values are the χ² upper tail (scipy.stats.chi2.sf).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom, chi2

VAR_LEVELS: tuple[float, ...] = (0.95, 0.99)
"""Confidence levels backtested by default."""
BASEL_GREEN_CUMULATIVE = 0.95
"""Basel traffic light: green while P(X ≤ exceptions) < 0.95."""
BASEL_RED_CUMULATIVE = 0.9999
"""Basel traffic light: red once P(X ≤ exceptions) ≥ 0.9999."""
BASEL_ZONES: tuple[str, ...] = ("green", "yellow", "red")
BIAS_BAND_Z = 1.959963984540054
"""Two-sided 95 % standard normal quantile of the bias-statistic band."""


# --------------------------------------------------------------------------- helpers


def _xlogy(x: float, y: float) -> float:
    """x · ln y with 0 · ln 0 = 0 (the likelihood convention)."""
    return 0.0 if x == 0 else x * math.log(y)


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level!r}")
    return level


def _hits(hits: pd.Series | np.ndarray | list[bool]) -> np.ndarray:
    """A hit sequence as 0/1 integers, NaN entries dropped."""
    values = np.asarray(hits, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"hits must be one-dimensional, got shape {values.shape}")
    values = values[~np.isnan(values)]
    if not np.isin(values, (0.0, 1.0)).all():
        raise ValueError("hits must be 0/1 (or booleans)")
    return values.astype(int)


# --------------------------------------------------------------------------- tests


def kupiec_pof(exceptions: int, observations: int, level: float = 0.99) -> tuple[float, float]:
    """Kupiec (1995) proportion-of-failures likelihood ratio and its p-value.

    Parameters
    ----------
    exceptions : int
        Days with a loss beyond the VaR, 0 ≤ exceptions ≤ observations.
    observations : int
        Backtest days.
    level : float, default=0.99
        VaR confidence level; the expected exception probability is ``1 − level``.

    Returns
    -------
    (lr, p_value) : tuple of float
        ``LR_pof`` (see the module docstring, ≥ 0) and ``chi2(1).sf(LR_pof)``.
        ``(nan, nan)`` when ``observations`` < 1.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1) or ``exceptions`` is outside [0, observations].
    """
    p = 1.0 - _check_level(level)
    n, x = int(observations), int(exceptions)
    if n < 1:
        return float("nan"), float("nan")
    if not 0 <= x <= n:
        raise ValueError(f"exceptions must be between 0 and observations={n}, got {exceptions!r}")
    rate = x / n
    null = _xlogy(n - x, 1.0 - p) + _xlogy(x, p)
    alternative = _xlogy(n - x, 1.0 - rate) + _xlogy(x, rate)
    lr = max(-2.0 * (null - alternative), 0.0) + 0.0  # never -0.0
    return lr, float(chi2.sf(lr, 1))


def transition_counts(hits: pd.Series | np.ndarray | list[bool]) -> dict[str, int]:
    """Counts ``n00, n01, n10, n11`` of consecutive hit pairs (yesterday → today).

    Parameters
    ----------
    hits : sequence of 0/1 or bool of shape (n_days,)
        In time order; NaN entries are dropped first (the remaining days are
        treated as consecutive).
    """
    h = _hits(hits)
    prev, curr = h[:-1], h[1:]
    return {f"n{i}{j}": int(np.sum((prev == i) & (curr == j))) for i in (0, 1) for j in (0, 1)}


def christoffersen_independence(
    hits: pd.Series | np.ndarray | list[bool],
) -> tuple[float, float]:
    """Christoffersen (1998) independence likelihood ratio and its p-value.

    Tests whether an exception today makes one tomorrow more (or less) likely
    (first-order Markov alternative; formula in the module docstring).

    Parameters
    ----------
    hits : sequence of 0/1 or bool of shape (n_days,)
        Exceptions in time order; NaN entries dropped.

    Returns
    -------
    (lr, p_value) : tuple of float
        ``LR_ind`` (≥ 0) and ``chi2(1).sf(LR_ind)``. ``(0.0, 1.0)`` when the
        sequence has no exception or only exceptions (nothing to test);
        ``(nan, nan)`` for fewer than 2 days.
    """
    h = _hits(hits)
    if h.size < 2:
        return float("nan"), float("nan")
    c = transition_counts(h)
    n00, n01, n10, n11 = c["n00"], c["n01"], c["n10"], c["n11"]
    total = n00 + n01 + n10 + n11
    pi = (n01 + n11) / total
    pi01 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi11 = n11 / (n10 + n11) if n10 + n11 else 0.0
    null = _xlogy(n00 + n10, 1.0 - pi) + _xlogy(n01 + n11, pi)
    alternative = (
        _xlogy(n00, 1.0 - pi01) + _xlogy(n01, pi01) + _xlogy(n10, 1.0 - pi11) + _xlogy(n11, pi11)
    )
    lr = max(-2.0 * (null - alternative), 0.0) + 0.0  # never -0.0
    return lr, float(chi2.sf(lr, 1))


def conditional_coverage(
    hits: pd.Series | np.ndarray | list[bool], level: float = 0.99
) -> tuple[float, float]:
    """Christoffersen conditional coverage: ``LR_cc = LR_pof + LR_ind`` and its χ²(2) p-value.

    Parameters
    ----------
    hits : sequence of 0/1 or bool of shape (n_days,)
        Exceptions in time order; NaN entries dropped.
    level : float, default=0.99

    Returns
    -------
    (lr, p_value) : tuple of float
        NaN for fewer than 2 days.
    """
    h = _hits(hits)
    lr_pof, _ = kupiec_pof(int(h.sum()), int(h.size), level)
    lr_ind, _ = christoffersen_independence(h)
    lr = lr_pof + lr_ind
    return lr, float(chi2.sf(lr, 2)) if math.isfinite(lr) else float("nan")


def basel_zone_bounds(observations: int, level: float = 0.99) -> tuple[int, int]:
    """Largest exception counts of the green and of the yellow zone.

    The Basel Committee's traffic light (1996, "Supervisory framework for the
    use of backtesting", Table 2) classifies an exception count k by the
    binomial cumulative probability P(X ≤ k), X ~ Binomial(observations,
    1 − level): **green** while P(X ≤ k) < 95 %, **yellow** while it is
    < 99.99 %, **red** from 99.99 % on. At 250 days and 0.99 that gives
    green 0–4, yellow 5–9, red ≥ 10, Basel's table. The same rule scales the
    zones to any sample size; Basel defines it for 0.99 only, so zones at other
    levels (0.95) apply the rule by analogy and are informational.

    Parameters
    ----------
    observations : int
        Backtest days (≥ 1).
    level : float, default=0.99

    Returns
    -------
    (green_max, yellow_max) : tuple of int
        Green for k ≤ green_max, yellow for green_max < k ≤ yellow_max, red above.
    """
    p = 1.0 - _check_level(level)
    n = int(observations)
    if n < 1:
        raise ValueError(f"observations must be at least 1, got {observations!r}")
    k = np.arange(n + 1)
    cdf = binom.cdf(k, n, p)
    green = k[cdf < BASEL_GREEN_CUMULATIVE]
    yellow = k[cdf < BASEL_RED_CUMULATIVE]
    green_max = int(green.max()) if green.size else -1
    yellow_max = int(yellow.max()) if yellow.size else -1
    return green_max, yellow_max


def basel_zone(exceptions: int, observations: int, level: float = 0.99) -> str:
    """Basel traffic-light zone (``green`` / ``yellow`` / ``red``) of an exception count.

    Rule in :func:`basel_zone_bounds` (P(X ≤ k) < 95 % green, < 99.99 % yellow,
    else red; at 250 days and 0.99: 0–4 green, 5–9 yellow, ≥ 10 red).
    ``'n/a'`` when ``observations`` < 1.
    """
    if int(observations) < 1:
        return "n/a"
    green_max, yellow_max = basel_zone_bounds(observations, level)
    k = int(exceptions)
    if k <= green_max:
        return "green"
    return "yellow" if k <= yellow_max else "red"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class VaRBacktest:
    """Result of :func:`var_backtest` at one confidence level.

    Attributes
    ----------
    level : float
        Confidence level (0.99).
    observations : int
        Days with both a VaR forecast and a realized P&L.
    exceptions : int
        Days with P&L < −VaR.
    expected_exceptions : float
        ``observations × (1 − level)``.
    exception_rate : float
        ``exceptions / observations`` (NaN without observations).
    kupiec_lr, kupiec_p_value : float
        :func:`kupiec_pof`.
    christoffersen_lr, christoffersen_p_value : float
        :func:`christoffersen_independence`.
    conditional_coverage_lr, conditional_coverage_p_value : float
        :func:`conditional_coverage`.
    zone : str
        :func:`basel_zone`.
    green_max, yellow_max : int
        The zone bounds at this sample size (:func:`basel_zone_bounds`).
    """

    level: float
    observations: int
    exceptions: int
    expected_exceptions: float
    exception_rate: float
    kupiec_lr: float
    kupiec_p_value: float
    christoffersen_lr: float
    christoffersen_p_value: float
    conditional_coverage_lr: float
    conditional_coverage_p_value: float
    zone: str
    green_max: int
    yellow_max: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def exceptions(pnl: pd.Series | np.ndarray, var: pd.Series | np.ndarray) -> np.ndarray:
    """Hit sequence: 1.0 where ``pnl < −var``, 0.0 where not, NaN where either is NaN.

    Parameters
    ----------
    pnl : array-like of shape (n_days,)
        Realized P&L, USD (a loss is negative).
    var : array-like of shape (n_days,)
        VaR forecast for the same day, positive loss in USD.
    """
    p = np.asarray(pnl, dtype=float)
    v = np.asarray(var, dtype=float)
    if p.shape != v.shape:
        raise ValueError(f"pnl and var must have the same shape, got {p.shape} and {v.shape}")
    out = (p < -v).astype(float)
    out[np.isnan(p) | np.isnan(v)] = np.nan
    return out


def var_backtest(
    pnl: pd.Series | np.ndarray, var: pd.Series | np.ndarray, level: float = 0.99
) -> VaRBacktest:
    """Exceptions, Kupiec, Christoffersen and the Basel zone of a VaR forecast series.

    Parameters
    ----------
    pnl : array-like of shape (n_days,)
        Realized P&L on day t+1, USD, in time order.
    var : array-like of shape (n_days,)
        VaR made with data up to day t for day t+1, positive loss in USD.
    level : float, default=0.99
        The VaR's confidence level.

    Returns
    -------
    VaRBacktest
        Days where either series is NaN are left out (and the remaining days
        treated as consecutive by the independence test). With no usable day
        every statistic is NaN and the zone ``'n/a'``.
    """
    level = _check_level(level)
    hits = exceptions(pnl, var)
    h = hits[~np.isnan(hits)].astype(int)
    n, x = int(h.size), int(h.sum())
    if n == 0:
        nan = float("nan")
        return VaRBacktest(level, 0, 0, 0.0, nan, nan, nan, nan, nan, nan, nan, "n/a", -1, -1)
    lr_pof, p_pof = kupiec_pof(x, n, level)
    lr_ind, p_ind = christoffersen_independence(h)
    lr_cc, p_cc = conditional_coverage(h, level)
    green_max, yellow_max = basel_zone_bounds(n, level)
    return VaRBacktest(
        level=level,
        observations=n,
        exceptions=x,
        expected_exceptions=n * (1.0 - level),
        exception_rate=x / n,
        kupiec_lr=lr_pof,
        kupiec_p_value=p_pof,
        christoffersen_lr=lr_ind,
        christoffersen_p_value=p_ind,
        conditional_coverage_lr=lr_cc,
        conditional_coverage_p_value=p_cc,
        zone=basel_zone(x, n, level),
        green_max=green_max,
        yellow_max=yellow_max,
    )


@dataclass(frozen=True)
class BiasStatistic:
    """Result of :func:`volatility_bias_statistic`.

    Attributes
    ----------
    statistic : float
        Sample standard deviation (ddof=1) of ``pnl / sigma``.
    lower, upper : float
        The 95 % band ``1 ∓ 1.96 / √(2T)`` (the statistic's approximate
        sampling band when the forecasts are right and returns Gaussian).
    observations : int
        T, days with a finite P&L and a positive finite sigma.
    verdict : str
        ``'under-forecast'`` (statistic above the band: realized risk larger
        than forecast), ``'over-forecast'`` (below the band), ``'in band'``, or
        ``'n/a'``.
    """

    statistic: float
    lower: float
    upper: float
    observations: int
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def volatility_bias_statistic(
    pnl: pd.Series | np.ndarray, sigma: pd.Series | np.ndarray
) -> BiasStatistic:
    """Bias statistic of a volatility forecast: std of the standardized outcomes.

    z_t = pnl_t / sigma_t (sigma forecast with data up to the day before);
    bias = std(z, ddof=1). A correct forecast gives ≈ 1: above the band the
    model under-forecasts risk, below it over-forecasts.

    Parameters
    ----------
    pnl : array-like of shape (n_days,)
        Realized P&L, USD.
    sigma : array-like of shape (n_days,)
        Forecast 1-day standard deviation of the P&L, USD.

    Returns
    -------
    BiasStatistic
        Days with a NaN, or a non-positive sigma, are left out. Fewer than 2
        usable days: statistic NaN, verdict ``'n/a'``.
    """
    p = np.asarray(pnl, dtype=float)
    s = np.asarray(sigma, dtype=float)
    if p.shape != s.shape:
        raise ValueError(f"pnl and sigma must have the same shape, got {p.shape} and {s.shape}")
    ok = np.isfinite(p) & np.isfinite(s) & (s > 0)
    z = p[ok] / s[ok]
    n = int(z.size)
    if n < 2:
        nan = float("nan")
        return BiasStatistic(nan, nan, nan, n, "n/a")
    stat = float(np.std(z, ddof=1))
    half = BIAS_BAND_Z / math.sqrt(2.0 * n)
    lower, upper = 1.0 - half, 1.0 + half
    verdict = "under-forecast" if stat > upper else "over-forecast" if stat < lower else "in band"
    return BiasStatistic(stat, lower, upper, n, verdict)


# --------------------------------------------------------------------------- P&L


def holdings_pnl(returns: pd.DataFrame, exposure: pd.Series) -> pd.Series:
    """Constant-holdings daily P&L: Σ_i exposure_i × r_i,t (USD).

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Daily simple returns (decimal) of the underlyings.
    exposure : Series indexed by asset
        Delta-adjusted exposure per underlying (USD); assets missing from
        ``returns`` contribute nothing.

    Returns
    -------
    Series of shape (n_days,)
        A missing return counts as 0 as long as one asset has a return that
        day (the risk-metrics engine's rule); a day without any return is NaN.
    """
    r = returns.reindex(columns=exposure.index)
    return r.mul(exposure, axis=1).sum(axis=1, min_count=1)


def cumulative_move(daily: pd.Series, kind: str = "return") -> float:
    """Total move of a factor over a window from its daily moves.

    Parameters
    ----------
    daily : Series of shape (n_days,)
        Daily simple returns (``kind='return'``) or daily level changes such
        as yield changes (``kind='change'``).
    kind : {'return', 'change'}, default='return'

    Returns
    -------
    float
        ``Π(1 + r) − 1`` for returns, ``Σ Δ`` for changes; NaN if any day is
        NaN or the series is empty.
    """
    values = np.asarray(daily, dtype=float)
    if values.size == 0 or np.isnan(values).any():
        return float("nan")
    if kind == "return":
        return float(np.prod(1.0 + values) - 1.0)
    if kind == "change":
        return float(values.sum())
    raise ValueError(f"kind must be 'return' or 'change', got {kind!r}")
