"""Performance statistics of a daily return series against a benchmark.

Pure functions over daily simple returns (decimal, noncumulative), the
shape of empyrical: ``returns`` is the strategy, ``factor_returns`` the
benchmark, ``periods_per_year`` the annualization. The report applies them to
the **constant-holdings back-cast** (today's holdings held fixed over the last
N sessions, return = P&L / gross exposure), which is not a realized track
record.

* :func:`performance_stats` — CAGR, volatility, Sharpe, Sortino, Calmar, max
  drawdown, best / worst day, hit rate, and against the benchmark alpha,
  beta, tracking error and information ratio. empyrical-reloaded computes
  what it has (``cagr``, ``annual_volatility``, ``sharpe_ratio``,
  ``sortino_ratio``, ``calmar_ratio``, ``max_drawdown``, ``alpha_beta``); the
  rest is written here. Unusable input gives NaN and a reason, never an
  exception.
* :func:`cumulative_returns`, :func:`drawdown`, :func:`monthly_returns`,
  :func:`rolling_volatility`, :func:`rolling_sharpe`, :func:`rolling_beta` — the
  series the charts draw.
* :func:`choose_benchmark` — the first candidate symbol with a price on the
  as-of date (the fallback rule of ``params/benchmarks.yaml``).

Definitions, for the n daily returns r_t and the benchmark returns b_t on the
common dates (a_t = r_t − b_t, the active return)::

    cagr              = (Π (1 + r_t))^(periods / n) − 1
    annual_volatility = std(r, ddof=1) · √periods
    calmar            = cagr / |max_drawdown|
    max_drawdown      = min_t (W_t / max_{s≤t} W_s − 1),  W_t = Π_{s≤t} (1 + r_s), W_0 = 1
    hit_rate          = #{r_t > 0} / n
    beta              = cov(r, b) / var(b)                        (OLS slope)
    alpha             = (1 + mean(r − beta · b))^periods − 1      (annualized OLS intercept)
    tracking_error    = std(a, ddof=1) · √periods
    information_ratio = mean(a) · periods / tracking_error

Annualized figures on a short window are noisy: callers show the number of
observations beside them (``observations``, ``benchmark_observations``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sigmasight_lib.engines.risk_metrics import PERIODS_PER_YEAR, _empyrical

ROLLING_WINDOW = 63
"""Sessions of the rolling volatility and rolling beta (about a quarter)."""
MIN_OBSERVATIONS = 2
"""Fewest returns for the non-annualized figures (total return, best / worst day,
hit rate, max drawdown); fewer gives NaN with a reason."""
MIN_ANNUALIZED_OBSERVATIONS = 20
"""Fewest returns (or common benchmark days) for an annualized figure or a
regression (CAGR, volatility, Sharpe, Sortino, Calmar, alpha, beta, tracking
error, information ratio); fewer gives NaN with a reason."""

STAT_KEYS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "best_day",
    "worst_day",
    "hit_rate",
    "alpha",
    "beta",
    "tracking_error",
    "information_ratio",
    "correlation",
)
"""Keys of :attr:`PerformanceStats.values`, in order. The benchmark's own figures are
:func:`performance_stats` of the benchmark returns on the common dates."""

BENCHMARK_KEYS: tuple[str, ...] = (
    "alpha",
    "beta",
    "tracking_error",
    "information_ratio",
    "correlation",
)
"""The keys of :data:`STAT_KEYS` that need the benchmark."""

ANNUALIZED_KEYS: frozenset[str] = frozenset(
    {"cagr", "annual_volatility", "sharpe", "sortino", "calmar", "alpha", "tracking_error",
     "information_ratio"}
)  # fmt: skip
"""Annualized keys (shown with their number of observations)."""


@dataclass(frozen=True)
class PerformanceStats:
    """Result of :func:`performance_stats`.

    Attributes
    ----------
    values : dict of str to float
        Keys exactly :data:`STAT_KEYS`; fractions as decimals (``max_drawdown`` is
        negative, −0.19 = a 19 % fall), ratios unitless; NaN when not computable.
    reasons : dict of str to str
        Why a value is NaN, for every NaN value.
    observations : int
        Returns used (NaNs dropped).
    benchmark_observations : int
        Days where both the returns and the benchmark returns exist (0 without a benchmark).
    """

    values: dict[str, float]
    reasons: dict[str, str] = field(default_factory=dict)
    observations: int = 0
    benchmark_observations: int = 0


def _series(returns: pd.Series | np.ndarray) -> pd.Series:
    s = returns if isinstance(returns, pd.Series) else pd.Series(np.asarray(returns, dtype=float))
    return pd.to_numeric(s, errors="coerce").astype(float).dropna()


def performance_stats(
    returns: pd.Series | np.ndarray,
    factor_returns: pd.Series | None = None,
    periods_per_year: int = PERIODS_PER_YEAR,
    risk_free: float = 0.0,
    benchmark_reason: str | None = None,
) -> PerformanceStats:
    """Return, risk and benchmark-relative statistics of daily returns.

    Parameters
    ----------
    returns : Series or ndarray of shape (n_days,)
        Daily simple returns (decimal), noncumulative; NaNs are dropped. A Series
        is aligned with ``factor_returns`` on its index (dates).
    factor_returns : Series of shape (m_days,), optional
        Daily simple returns of the benchmark, indexed by date. None: every
        benchmark figure is NaN with ``benchmark_reason``.
    periods_per_year : int, default=252
        Annualization.
    risk_free : float, default=0.0
        Risk-free return per period (per day), as empyrical takes it: subtracted
        for Sharpe, the required return of Sortino.
    benchmark_reason : str, optional
        The reason given to the benchmark figures when ``factor_returns`` is None
        (default "no benchmark").

    Returns
    -------
    PerformanceStats
        NaN with a reason for: fewer than :data:`MIN_OBSERVATIONS` returns (every
        figure), fewer than :data:`MIN_ANNUALIZED_OBSERVATIONS` returns (annualized
        figures), fewer than :data:`MIN_ANNUALIZED_OBSERVATIONS` common days with
        the benchmark (benchmark figures), a zero drawdown (Calmar), a constant
        benchmark (beta, alpha, correlation) or constant active returns
        (information ratio). Never raises for unusable data.
    """
    ep = _empyrical()
    r_series = _series(returns)
    r = r_series.to_numpy()
    n = r.size
    values = dict.fromkeys(STAT_KEYS, math.nan)
    reasons: dict[str, str] = {}

    def na(keys: Sequence[str], why: str) -> None:
        for k in keys:
            if math.isnan(values[k]) and k not in reasons:
                reasons[k] = why

    own = [k for k in STAT_KEYS if k not in BENCHMARK_KEYS]
    if n < MIN_OBSERVATIONS:
        na(own, f"{n} observations; at least {MIN_OBSERVATIONS} needed")
    else:
        values["total_return"] = float(np.prod(1.0 + r) - 1.0)
        values["max_drawdown"] = float(ep.max_drawdown(r))
        values["best_day"] = float(r.max())
        values["worst_day"] = float(r.min())
        values["hit_rate"] = float((r > 0).sum() / n)
        if n < MIN_ANNUALIZED_OBSERVATIONS:
            na(own, f"{n} observations; annualized figures need {MIN_ANNUALIZED_OBSERVATIONS}")
        else:
            values["cagr"] = float(ep.cagr(r, annualization=periods_per_year))
            values["annual_volatility"] = float(
                ep.annual_volatility(r, annualization=periods_per_year)
            )
            values["sharpe"] = float(
                ep.sharpe_ratio(r, risk_free=risk_free, annualization=periods_per_year)
            )
            values["sortino"] = float(
                ep.sortino_ratio(r, required_return=risk_free, annualization=periods_per_year)
            )
            if values["max_drawdown"] < 0:
                values["calmar"] = float(ep.calmar_ratio(r, annualization=periods_per_year))
            na(["calmar"], "no drawdown in the window")
            na(["sharpe", "sortino"], "constant returns")

    benchmark_count = 0
    if factor_returns is None:
        na(BENCHMARK_KEYS, benchmark_reason or "no benchmark")
    else:
        b_series = _series(factor_returns)
        if isinstance(returns, pd.Series):
            joined = pd.concat([r_series, b_series], axis=1, join="inner").dropna()
        else:  # positional: the last common length
            m = min(n, len(b_series))
            joined = pd.DataFrame({0: r[n - m :], 1: b_series.to_numpy()[len(b_series) - m :]})
        benchmark_count = len(joined)
        if benchmark_count < MIN_ANNUALIZED_OBSERVATIONS:
            na(
                BENCHMARK_KEYS,
                f"{benchmark_count} days in common with the benchmark; at least "
                f"{MIN_ANNUALIZED_OBSERVATIONS} needed",
            )
        else:
            rr, bb = joined.iloc[:, 0].to_numpy(), joined.iloc[:, 1].to_numpy()
            active = rr - bb
            if np.std(bb) > 0:
                alpha, beta = ep.alpha_beta(
                    rr, bb, risk_free=risk_free, annualization=periods_per_year
                )
                values["alpha"], values["beta"] = float(alpha), float(beta)
                if np.std(rr) > 0:
                    values["correlation"] = float(np.corrcoef(rr, bb)[0, 1])
            na(["alpha", "beta", "correlation"], "constant returns")
            te = float(np.std(active, ddof=1) * math.sqrt(periods_per_year))
            values["tracking_error"] = te
            if te > 0:
                values["information_ratio"] = float(active.mean() * periods_per_year / te)
            na(["information_ratio"], "constant active returns (zero tracking error)")
    for k, v in values.items():
        if not math.isfinite(v):
            values[k] = math.nan
            reasons.setdefault(k, "not finite")
    return PerformanceStats(values, reasons, n, benchmark_count)


# --------------------------------------------------------------------------- series


def cumulative_returns(returns: pd.Series) -> pd.Series:
    """Compounded return since the start: ``Π_{s≤t} (1 + r_s) − 1`` (decimal).

    Parameters
    ----------
    returns : Series of shape (n_days,)
        Daily simple returns, indexed by date; NaN counts as a zero return.

    Returns
    -------
    Series of shape (n_days,)
        Same index; empty for an empty input.
    """
    return (1.0 + returns.astype(float).fillna(0.0)).cumprod() - 1.0


def drawdown(returns: pd.Series) -> pd.Series:
    """Underwater curve: the fall of wealth below its running peak, ≤ 0 (decimal).

    ``W_t / max(1, max_{s≤t} W_s) − 1`` with ``W_t = Π_{s≤t} (1 + r_s)``: the start
    (wealth 1) counts as a peak, as in :func:`performance_stats`'s max drawdown
    (whose value is this series' minimum). NaN counts as a zero return.
    """
    wealth = 1.0 + cumulative_returns(returns)
    peak = wealth.cummax().clip(lower=1.0)
    return wealth / peak - 1.0


def monthly_returns(returns: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month, as a year × month table.

    Parameters
    ----------
    returns : Series of shape (n_days,)
        Daily simple returns indexed by date (dates or timestamps).

    Returns
    -------
    DataFrame of shape (n_years, 12)
        Index the years, columns the months 1 … 12, ``Π (1 + r) − 1`` over the month's
        sessions in the window (a partial first or last month covers only its
        sessions); NaN for months without a session. Empty for an empty input.
    """
    r = returns.astype(float).dropna()
    if r.empty:
        return pd.DataFrame(columns=range(1, 13), dtype=float)
    idx = pd.DatetimeIndex(pd.to_datetime(r.index))
    grouped = (1.0 + r.to_numpy()).astype(float)
    frame = pd.DataFrame({"year": idx.year, "month": idx.month, "growth": grouped})
    monthly = frame.groupby(["year", "month"])["growth"].prod() - 1.0
    table = monthly.unstack("month").reindex(columns=range(1, 13))
    table.index.name, table.columns.name = "year", "month"
    return table


def rolling_volatility(
    returns: pd.Series, window: int = ROLLING_WINDOW, periods_per_year: int = PERIODS_PER_YEAR
) -> pd.Series:
    """Annualized volatility over the trailing ``window`` sessions: ``std(ddof=1) · √periods``.

    NaN for the first ``window − 1`` dates (and where the window holds a NaN).
    """
    return returns.astype(float).rolling(window).std(ddof=1) * math.sqrt(periods_per_year)


def rolling_sharpe(
    returns: pd.Series,
    window: int = ROLLING_WINDOW,
    periods_per_year: int = PERIODS_PER_YEAR,
    risk_free: float = 0.0,
) -> pd.Series:
    """Annualized Sharpe ratio over the trailing ``window`` sessions.

    ``mean(r − risk_free) / std(r − risk_free, ddof=1) · √periods`` per window;
    NaN for the first ``window − 1`` dates and where the window's returns are constant.
    """
    excess = returns.astype(float) - risk_free
    std = excess.rolling(window).std(ddof=1)
    return excess.rolling(window).mean() / std.where(std > 0) * math.sqrt(periods_per_year)


def rolling_beta(
    returns: pd.Series, factor_returns: pd.Series, window: int = ROLLING_WINDOW
) -> pd.Series:
    """OLS beta of ``returns`` on ``factor_returns`` over the trailing ``window`` common dates.

    ``cov(r, b) / var(b)`` per window, indexed by the common dates (inner join);
    NaN for the first ``window − 1`` dates and where the benchmark is constant.
    """
    joined = pd.concat([returns.astype(float), factor_returns.astype(float)], axis=1,
                       join="inner").dropna()  # fmt: skip
    r, b = joined.iloc[:, 0], joined.iloc[:, 1]
    var = b.rolling(window).var(ddof=1)
    beta = r.rolling(window).cov(b, ddof=1) / var.where(var > 0)
    return beta.rename("beta")


# --------------------------------------------------------------------------- benchmark


@dataclass(frozen=True)
class BenchmarkChoice:
    """Result of :func:`choose_benchmark`.

    Attributes
    ----------
    symbol : str or None
        The symbol used; None when no candidate qualifies.
    returns : Series
        Its daily simple returns indexed by date (empty when ``symbol`` is None).
    reasons : dict of str to str
        Why each candidate before the chosen one (every candidate, when none
        qualifies) was passed over.
    """

    symbol: str | None
    returns: pd.Series
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str | None:
        """One sentence: the fallbacks taken, or why no benchmark; None for the first choice."""
        if not self.reasons:
            return None
        why = "; ".join(f"{s}: {r}" for s, r in self.reasons.items())
        if self.symbol is None:
            return f"no benchmark with data at the as-of date ({why})"
        return f"{self.symbol} used ({why})"


def choose_benchmark(
    returns: Mapping[str, pd.Series], candidates: Sequence[str], as_of: dt.date
) -> BenchmarkChoice:
    """The first candidate whose return series has an observation on ``as_of``.

    Parameters
    ----------
    returns : mapping of str to Series
        Symbol → daily simple returns indexed by date (``datetime.date``); a
        symbol may be missing (no cached prices).
    candidates : sequence of str
        Symbols in order of preference (``params/benchmarks.yaml`` for the provider).
    as_of : datetime.date

    Returns
    -------
    BenchmarkChoice
        The chosen symbol and its returns up to ``as_of``, with the reason for
        each candidate passed over; ``symbol`` None (reasons for all) when none
        has data on ``as_of`` or ``candidates`` is empty.
    """
    reasons: dict[str, str] = {}
    for symbol in candidates:
        series = returns.get(symbol)
        if series is None or series.dropna().empty:
            reasons[symbol] = "no cached prices"
            continue
        series = series.dropna()
        dates = [d.date() if isinstance(d, pd.Timestamp) else d for d in series.index]
        series = pd.Series(series.to_numpy(dtype=float), index=dates)
        if as_of not in series.index:
            last = (
                max(d for d in series.index if d <= as_of) if min(series.index) <= as_of else None
            )
            reasons[symbol] = f"no price on {as_of.isoformat()}" + (
                f" (last {last.isoformat()})" if last else ""
            )
            continue
        return BenchmarkChoice(symbol, series[[d <= as_of for d in series.index]], reasons)
    if not candidates:
        reasons["benchmark"] = "no benchmark symbol configured for the provider"
    return BenchmarkChoice(None, pd.Series(dtype=float), reasons)
