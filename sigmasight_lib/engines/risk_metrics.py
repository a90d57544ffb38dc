"""Risk metrics: return statistics, 1-day VaR / CVaR, and ex-ante factor risk.

Two independent parts:

* :func:`performance_stats` — annualized volatility, Sharpe, Sortino and max
  drawdown from empyrical-reloaded (called, not re-derived), plus 1-day
  historical and Gaussian VaR / CVaR at 0.95 and 0.99 computed here.
* :func:`factor_risk` — the ex-ante daily variance of a portfolio split into a
  factor part and a specific part, with each position's and each factor's
  Euler contribution.

Sign conventions (house style): VaR and CVaR are **positive losses** as
fractions of value (0.021 = a 2.1% loss); the confidence level is written
0.95. ``max_drawdown`` keeps empyrical's convention and is **negative** (−0.19
= a 19% peak-to-trough fall).

Definitions, for the non-NaN daily simple returns r_1 … r_n (n ≥ 2), sorted
into the order statistics r_(1) ≤ r_(2) ≤ … ≤ r_(n)::

    k(level)              = ⌈n (1 − level)⌉                  (at least 1)
    var(level)            = −r_(k)                           the k-th worst return
    cvar(level)           = −(r_(1) + … + r_(k)) / k          mean of the k worst returns
    parametric_var(level) = −(μ + z_{1−level} σ),   σ = std(r, ddof=1),
                            μ = 0 (``gaussian_mean='zero'``, default) or mean(r) ('sample')

The historical VaR is the **lower empirical quantile** of the returns — the
smallest r with empirical CDF F_n(r) ≥ 1 − level, i.e. an actual observed
day, never an interpolation between two days: the inverse of the empirical
distribution function, definition 1 of Hyndman & Fan, "Sample quantiles in
statistical packages", The American Statistician 50(4), 1996 (numpy's
``quantile(method='inverted_cdf')``), as historical-simulation VaR reads the
loss off the ordered P&L history. For n = 252 and level 0.99, k = ⌈2.52⌉ = 3:
the VaR is the 3rd worst day and the CVaR the mean of the 3 worst days; at
0.95, k = ⌈12.6⌉ = 13.
``n (1 − level)`` is rounded to 9 decimals before the ceiling so that a whole
number (n = 100, level 0.95 → k = 5) is not pushed up by binary rounding.
``z_p`` is the standard normal quantile (z_0.05 ≈ −1.645). The Gaussian VaR
assumes a zero daily mean by default — a year's sample mean is mostly noise
and including it lowers the VaR of a portfolio that went up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import pandas as pd
from scipy.special import ndtri

PERIODS_PER_YEAR = 252
"""Trading days per year: the default annualization of daily returns."""
VAR_LEVELS: tuple[float, ...] = (0.95, 0.99)
"""Confidence levels reported by :func:`performance_stats`."""
MIN_OBSERVATIONS = 2
"""Fewer non-NaN returns than this and every metric is NaN."""
GAUSSIAN_MEANS: tuple[str, ...] = ("zero", "sample")
"""Choices of the mean of the Gaussian VaR: zero (default) or the sample mean."""
METRIC_KEYS: tuple[str, ...] = (
    "annual_volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "var_95",
    "cvar_95",
    "var_99",
    "cvar_99",
    "parametric_var_95",
    "parametric_var_99",
)
"""Keys of the dict returned by :func:`performance_stats`, in order."""

POSITION_COLUMNS: tuple[str, ...] = (
    "factor_contribution_usd2",
    "specific_contribution_usd2",
    "total_contribution_usd2",
    "share",
)
"""Columns of :attr:`FactorRisk.by_position`."""
FACTOR_COLUMNS: tuple[str, ...] = ("exposure_usd", "contribution_usd2", "share")
"""Columns of :attr:`FactorRisk.by_factor`."""


# --------------------------------------------------------------------------- returns


def _empyrical() -> ModuleType:
    """Import empyrical-reloaded on first use (it takes about a second to import)."""
    try:
        import empyrical
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "performance_stats needs empyrical-reloaded: pip install empyrical-reloaded"
        ) from exc
    return empyrical


def _clean(returns: pd.Series | np.ndarray) -> np.ndarray:
    """Returns as a 1-D float array with the NaNs dropped."""
    values = np.asarray(returns, dtype=float)
    if values.ndim != 1:
        raise ValueError(f"returns must be one-dimensional, got shape {values.shape}")
    return values[~np.isnan(values)]


def _check_level(level: float) -> float:
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(
            f"level must be a confidence level strictly between 0 and 1, got {level!r}"
        )
    return level


def _level_suffix(level: float) -> str:
    """``0.95`` → ``'95'``, ``0.99`` → ``'99'`` (``0.975`` → ``'97_5'``)."""
    return f"{level * 100:g}".replace(".", "_")


def tail_count(n: int, level: float) -> int:
    """Number of worst days in the historical tail: ``k = ⌈n (1 − level)⌉``, at least 1.

    ``n (1 − level)`` is rounded to 9 decimals first, so that a whole number is
    not pushed to the next integer by binary rounding (100 × (1 − 0.95) is
    5.000000000000004 in floating point; k is 5).
    """
    return max(1, math.ceil(round(n * (1.0 - _check_level(level)), 9)))


def _columns(returns: pd.Series | pd.DataFrame | np.ndarray) -> np.ndarray:
    """Returns as a 2-D float array (one column per series), each column's non-NaN values
    moved to its top in their order and the NaNs to its bottom."""
    values = np.asarray(returns, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise ValueError(f"returns must be one- or two-dimensional, got shape {values.shape}")
    missing = np.isnan(values)
    if missing.any():
        order = np.argsort(missing, axis=0, kind="stable")
        values = np.take_along_axis(values, order, axis=0)
    return values


def _tail(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """``(var, cvar)`` of every column of :func:`_columns` output (NaN for a column with
    fewer than 2 non-NaN returns)."""
    level = _check_level(level)
    n = (~np.isnan(values)).sum(axis=0)
    var = np.full(values.shape[1], np.nan)
    cvar = np.full(values.shape[1], np.nan)
    usable = np.flatnonzero(n >= MIN_OBSERVATIONS)
    if usable.size:
        worst = np.sort(values[:, usable], axis=0)  # NaNs sort last
        k = np.array([tail_count(int(m), level) for m in n[usable]])
        rows = np.arange(worst.shape[0])[:, None]
        tail = np.where(rows < k, worst, 0.0)
        var[usable] = -worst[k - 1, np.arange(usable.size)]
        cvar[usable] = -tail.sum(axis=0) / k
    return var, cvar


def _parametric(values: np.ndarray, level: float, mean: str) -> np.ndarray:
    """:func:`parametric_var` of every column of :func:`_columns` output."""
    level = _check_level(level)
    if mean not in GAUSSIAN_MEANS:
        raise ValueError(f"mean must be one of {GAUSSIAN_MEANS}, got {mean!r}")
    n = (~np.isnan(values)).sum(axis=0)
    out = np.full(values.shape[1], np.nan)
    usable = n >= MIN_OBSERVATIONS
    if usable.any():
        r = values[:, usable]
        mu = np.nanmean(r, axis=0) if mean == "sample" else 0.0
        out[usable] = -(mu + ndtri(1.0 - level) * np.nanstd(r, axis=0, ddof=1))
    return out


def historical_var(returns: pd.Series | np.ndarray, level: float = 0.95) -> float:
    """1-day historical Value at Risk, a positive loss fraction.

    Parameters
    ----------
    returns : Series or ndarray of shape (n_days,)
        Daily simple returns (decimal). NaNs are dropped first.
    level : float, default=0.95
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    float
        ``−r_(k)``, minus the k-th smallest return with ``k = ⌈n (1 − level)⌉``
        (:func:`tail_count`): the lower empirical quantile, an observed day,
        no interpolation (see the module docstring; n = 252, level 0.99 → the
        3rd worst day). Negative when even that day is a gain. NaN for fewer
        than 2 non-NaN returns.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1) or ``returns`` is not one-dimensional.
    """
    return float(_tail(_columns(_clean(returns)), level)[0][0])


def historical_cvar(returns: pd.Series | np.ndarray, level: float = 0.95) -> float:
    """1-day historical Conditional VaR (expected shortfall), a positive loss fraction.

    Parameters
    ----------
    returns : Series or ndarray of shape (n_days,)
        Daily simple returns (decimal). NaNs are dropped first.
    level : float, default=0.95
        Confidence level, strictly between 0 and 1.

    Returns
    -------
    float
        ``−mean`` of the k worst returns, ``k = ⌈n (1 − level)⌉`` (the VaR day
        included; ties beyond the k-th are not). Always ≥ the VaR. NaN for
        fewer than 2 non-NaN returns.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1) or ``returns`` is not one-dimensional.
    """
    return float(_tail(_columns(_clean(returns)), level)[1][0])


def parametric_var(
    returns: pd.Series | np.ndarray, level: float = 0.95, mean: str = "zero"
) -> float:
    """1-day Gaussian (variance-covariance) Value at Risk, a positive loss fraction.

    Parameters
    ----------
    returns : Series or ndarray of shape (n_days,)
        Daily simple returns (decimal). NaNs are dropped first.
    level : float, default=0.95
        Confidence level, strictly between 0 and 1.
    mean : {'zero', 'sample'}, default='zero'
        μ of the Gaussian: 0 (the usual 1-day convention) or the sample mean
        of ``returns``.

    Returns
    -------
    float
        ``−(μ + z_{1−level} σ)`` with the sample standard deviation σ
        (ddof=1); z is the standard normal quantile. NaN for fewer than 2
        non-NaN returns.

    Raises
    ------
    ValueError
        If ``level`` is not in (0, 1), ``mean`` is not a choice of
        :data:`GAUSSIAN_MEANS`, or ``returns`` is not one-dimensional.
    """
    return float(_parametric(_columns(_clean(returns)), level, mean)[0])


def performance_stats(
    returns: pd.Series,
    periods_per_year: int = PERIODS_PER_YEAR,
    risk_free: float = 0.0,
    gaussian_mean: str = "zero",
) -> dict[str, float]:
    """Volatility, Sharpe, Sortino, max drawdown and 1-day VaR / CVaR of a return series.

    Parameters
    ----------
    returns : Series of shape (n_days,)
        Daily simple returns (decimal), noncumulative. NaNs are dropped first
        (the remaining returns are treated as consecutive).
    periods_per_year : int, default=252
        Annualization factor passed to empyrical as ``annualization``.
    risk_free : float, default=0.0
        Risk-free return **per period** (e.g. per day), as empyrical takes it:
        subtracted for Sharpe and used as the required return for Sortino.
    gaussian_mean : {'zero', 'sample'}, default='zero'
        Mean of the Gaussian VaR (:func:`parametric_var`).

    Returns
    -------
    dict[str, float]
        Keys exactly :data:`METRIC_KEYS`:

        - ``annual_volatility``: ``empyrical.annual_volatility`` (std ddof=1 × √periods).
        - ``sharpe``: ``empyrical.sharpe_ratio``; ±inf when the excess returns
          are constant and nonzero (empyrical's value, kept).
        - ``sortino``: ``empyrical.sortino_ratio`` with
          ``required_return=risk_free``; inf when no return falls below it.
        - ``max_drawdown``: ``empyrical.max_drawdown`` — **negative** by
          empyrical's convention (−0.19 is a 19% fall; 0.0 without a fall).
        - ``var_95``, ``cvar_95``, ``var_99``, ``cvar_99``: 1-day historical
          VaR / CVaR, positive loss fractions: the k-th worst return and the
          mean of the k worst, k = ⌈n (1 − level)⌉ (:func:`historical_var`,
          :func:`historical_cvar`).
        - ``parametric_var_95``, ``parametric_var_99``: 1-day Gaussian VaR,
          zero mean unless ``gaussian_mean='sample'`` (:func:`parametric_var`).

        Every value is NaN when fewer than 2 non-NaN returns remain (empty,
        single value, all NaN); this never raises for unusable data.
    """
    stats = _performance_arrays(
        _columns(_clean(returns)), periods_per_year, risk_free, gaussian_mean
    )
    return {key: float(stats[key][0]) for key in METRIC_KEYS}


def performance_stats_many(
    returns: pd.DataFrame,
    periods_per_year: int = PERIODS_PER_YEAR,
    risk_free: float = 0.0,
    gaussian_mean: str = "zero",
) -> pd.DataFrame:
    """:func:`performance_stats` of many return series at once (one per column).

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_series)
        Daily simple returns (decimal), one column per portfolio. Each column's NaNs
        are dropped first, as :func:`performance_stats` does for one series.
    periods_per_year, risk_free, gaussian_mean
        As :func:`performance_stats`.

    Returns
    -------
    DataFrame of shape (n_series, len(METRIC_KEYS))
        Indexed by ``returns``' columns, columns :data:`METRIC_KEYS`; row ``c`` equals
        ``performance_stats(returns[c])`` (the same computation). A column with fewer
        than 2 non-NaN returns is all NaN.
    """
    stats = _performance_arrays(_columns(returns), periods_per_year, risk_free, gaussian_mean)
    return pd.DataFrame(stats, index=returns.columns, columns=list(METRIC_KEYS))


def _performance_arrays(
    values: np.ndarray, periods_per_year: int, risk_free: float, gaussian_mean: str
) -> dict[str, np.ndarray]:
    """The statistics of every column of :func:`_columns` output (the core of
    :func:`performance_stats` and :func:`performance_stats_many`)."""
    if gaussian_mean not in GAUSSIAN_MEANS:
        raise ValueError(f"gaussian_mean must be one of {GAUSSIAN_MEANS}, got {gaussian_mean!r}")
    n_series = values.shape[1]
    usable = (~np.isnan(values)).sum(axis=0) >= MIN_OBSERVATIONS
    stats = {key: np.full(n_series, np.nan) for key in METRIC_KEYS}
    if not usable.any():
        return stats
    ep = _empyrical()
    r = values[:, usable]
    # plain 2-D ndarrays keep empyrical on its numpy code path, column by column, NaN-aware
    # (nanmean / nanstd; cum_returns counts a NaN as 0, so trailing NaNs move no drawdown)
    with np.errstate(divide="ignore", invalid="ignore"):
        stats["annual_volatility"][usable] = ep.annual_volatility(r, annualization=periods_per_year)
        stats["sharpe"][usable] = ep.sharpe_ratio(
            r, risk_free=risk_free, annualization=periods_per_year
        )
        stats["sortino"][usable] = ep.sortino_ratio(
            r, required_return=risk_free, annualization=periods_per_year
        )
        stats["max_drawdown"][usable] = ep.max_drawdown(r)
    for level in VAR_LEVELS:
        suffix = _level_suffix(level)
        stats[f"var_{suffix}"], stats[f"cvar_{suffix}"] = _tail(values, level)
        stats[f"parametric_var_{suffix}"] = _parametric(values, level, gaussian_mean)
    return stats


# --------------------------------------------------------------------------- factor risk


@dataclass(frozen=True)
class FactorRisk:
    """Result of :func:`factor_risk`: daily ex-ante variance in USD² and its split.

    Attributes
    ----------
    total_variance : float
        ``factor_variance + specific_variance``, daily, USD².
    factor_variance : float
        ``Xᵀ F X`` with X the portfolio's USD factor exposures, daily, USD².
    specific_variance : float
        Σ of the positions' specific variances, daily, USD².
    total_volatility_usd : float
        ``sqrt(total_variance)``: daily one-sigma P&L in USD (NaN if negative).
    by_position : DataFrame of shape (n_positions, 4)
        Indexed by position id, columns :data:`POSITION_COLUMNS`:
        ``factor_contribution_usd2`` = x_iᵀ F X (may be negative for a hedge),
        ``specific_contribution_usd2`` = the position's specific variance,
        ``total_contribution_usd2`` = their sum, ``share`` = total
        contribution / ``total_variance``. Columns sum to the totals; ``share``
        sums to 1 (NaN when the total variance is 0).
    by_factor : DataFrame of shape (n_factors, 3)
        Indexed by the factors used, columns :data:`FACTOR_COLUMNS`:
        ``exposure_usd`` = X_j, ``contribution_usd2`` = X_j (F X)_j (sums to
        ``factor_variance``), ``share`` = contribution / ``total_variance``
        (sums to ``factor_variance / total_variance``; the rest is specific).
    notes : tuple of str
        Factors ignored or excluded, positions missing a specific variance,
        and other caveats, one sentence each.
    """

    total_variance: float
    factor_variance: float
    specific_variance: float
    total_volatility_usd: float
    by_position: pd.DataFrame
    by_factor: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)


def _names(labels: pd.Index) -> str:
    return ", ".join(str(label) for label in labels)


def _missing_specific_note(labels: pd.Index) -> str:
    return (
        f"No specific variance for {_names(labels)}: treated as 0, "
        "so their specific risk is understated."
    )


def _negative_factor_variance_note(factor_variance: float) -> str:
    return (
        f"Factor variance {factor_variance!r} is negative: the covariance is not "
        "positive semi-definite."
    )


def _factor_selection(
    exposure_factors: pd.Index, factor_covariance: pd.DataFrame
) -> tuple[list, list[str]]:
    """The factors of ``exposure_factors`` (in their order) used for factor risk — those
    with a non-NaN variance in ``factor_covariance`` — and the notes on the others."""
    notes: list[str] = []
    variances = pd.Series(np.diag(factor_covariance.to_numpy(dtype=float)), factor_covariance.index)
    in_cov = [f for f in exposure_factors if f in factor_covariance.index]
    factors = [f for f in in_cov if not np.isnan(variances[f])]
    not_in_cov = exposure_factors.difference(factor_covariance.index, sort=False)
    if len(not_in_cov):
        notes.append(
            f"Factors without a covariance: {_names(not_in_cov)}; their exposure is "
            "excluded from factor risk."
        )
    no_variance = [f for f in in_cov if f not in factors]
    if no_variance:
        notes.append(
            f"Factors with a NaN variance: {_names(pd.Index(no_variance))}; their exposure is "
            "excluded from factor risk."
        )
    unused = factor_covariance.index.difference(exposure_factors, sort=False)
    if len(unused):
        notes.append(f"Covariance factors not in the exposures, ignored: {_names(unused)}.")
    if np.isnan(factor_covariance.loc[factors, factors].to_numpy(dtype=float)).any():
        notes.append(
            "The factor covariance has NaN entries among the used factors: factor risk is NaN."
        )
    return factors, notes


def factor_risk(
    exposures: pd.DataFrame, factor_covariance: pd.DataFrame, specific_variance: pd.Series
) -> FactorRisk:
    """Ex-ante daily portfolio variance split into factor and specific risk (Euler).

    With x_i the USD factor-exposure vector of position i, X = Σ_i x_i, F the
    factor covariance and s_i the specific variance of position i::

        factor variance    = Xᵀ F X          = Σ_i x_iᵀ F X = Σ_j X_j (F X)_j
        specific variance  = Σ_i s_i
        total variance     = factor variance + specific variance

    Specific risk is treated as **uncorrelated across the index entries** of
    ``specific_variance``: positions on the same underlying (a stock and its
    options) share one residual, and the caller must combine them into one
    entry (or otherwise account for it) before calling.

    Parameters
    ----------
    exposures : DataFrame of shape (n_positions, n_factors)
        Indexed by position id (unique), columns factor names, USD factor
        exposure (beta × exposure_usd: USD P&L per unit factor return). NaN
        counts as 0.
    factor_covariance : DataFrame of shape (m_factors, m_factors)
        Daily covariance of factor returns, factor names as index and
        columns. Only factors also in ``exposures`` are used; the others are
        ignored with a note. Factors of ``exposures`` missing here, or with a
        NaN variance, are excluded from the factor risk with a note (their
        exposure is reported as unmeasured, never silently dropped).
    specific_variance : Series of shape (n_positions,)
        Daily residual variance per position in USD² (exposure² × residual
        return variance), indexed by position id. A position missing here or
        NaN contributes 0 with a note; a position only here has no factor
        exposure.

    Returns
    -------
    FactorRisk
        All zeros and empty frames for an empty portfolio. An off-diagonal
        NaN among the used factors makes the factor numbers NaN, with a note.

    Raises
    ------
    ValueError
        Duplicate position ids, a covariance whose index and columns differ,
        or a negative specific variance (the bad values are quoted).
    """
    notes: list[str] = []
    if exposures.index.has_duplicates:
        dup = exposures.index[exposures.index.duplicated()].unique()
        raise ValueError(f"exposures has duplicate position ids: {_names(dup)}")
    if specific_variance.index.has_duplicates:
        dup = specific_variance.index[specific_variance.index.duplicated()].unique()
        raise ValueError(f"specific_variance has duplicate position ids: {_names(dup)}")
    if set(factor_covariance.index) != set(factor_covariance.columns):
        raise ValueError(
            "factor_covariance must have the same factors as index and columns, got "
            f"index [{_names(factor_covariance.index)}] and "
            f"columns [{_names(factor_covariance.columns)}]"
        )
    specific = pd.to_numeric(specific_variance, errors="coerce").astype(float)
    negative = specific[specific < 0]
    if len(negative):
        raise ValueError(
            "specific_variance must be non-negative (USD²), got "
            + ", ".join(f"{pos}={val!r}" for pos, val in negative.items())
        )

    # positions: those with exposures first, then those that only have a specific variance
    only_specific = specific.index.difference(exposures.index, sort=False)
    positions = exposures.index.append(only_specific)
    if len(only_specific):
        notes.append(f"No factor exposures for {_names(only_specific)}: specific risk only.")
    specific = specific.reindex(positions)
    missing_specific = positions[specific.isna().to_numpy()]
    if len(missing_specific):
        notes.append(_missing_specific_note(missing_specific))
    specific = specific.fillna(0.0)

    factors, factor_notes = _factor_selection(exposures.columns, factor_covariance)
    notes += factor_notes

    x = exposures.reindex(index=positions, columns=factors).to_numpy(dtype=float)
    x = np.where(np.isnan(x), 0.0, x)  # (n_positions, k)
    cov = factor_covariance.loc[factors, factors].to_numpy(dtype=float)  # (k, k)

    big_x = x.sum(axis=0)  # (k,) portfolio USD exposure per factor
    fx = cov @ big_x  # (k,) marginal variance per unit exposure
    by_factor_contrib = big_x * fx  # X_j (F X)_j
    by_position_factor = x @ fx  # x_iᵀ F X
    factor_var = float(big_x @ fx)
    specific_values = specific.to_numpy(dtype=float)
    specific_var = float(specific_values.sum())
    total_var = factor_var + specific_var
    if factor_var < 0:
        notes.append(_negative_factor_variance_note(factor_var))
    total_vol = float(np.sqrt(total_var)) if total_var >= 0 else float("nan")
    denominator = total_var if total_var != 0 else float("nan")

    position_total = by_position_factor + specific_values
    by_position = pd.DataFrame(
        {
            "factor_contribution_usd2": by_position_factor,
            "specific_contribution_usd2": specific_values,
            "total_contribution_usd2": position_total,
            "share": position_total / denominator,
        },
        index=positions,
    )
    by_factor = pd.DataFrame(
        {
            "exposure_usd": big_x,
            "contribution_usd2": by_factor_contrib,
            "share": by_factor_contrib / denominator,
        },
        index=pd.Index(factors, name="factor"),
    )
    return FactorRisk(
        total_variance=total_var,
        factor_variance=factor_var,
        specific_variance=specific_var,
        total_volatility_usd=total_vol,
        by_position=by_position,
        by_factor=by_factor,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class GroupedFactorRisk:
    """Result of :func:`grouped_factor_risk`: :func:`factor_risk` of many portfolios.

    Attributes
    ----------
    factors : list
        The factors used (as :attr:`FactorRisk.by_factor`'s index).
    exposure_usd, contribution_usd2 : ndarray of shape (n_groups, n_factors)
        :attr:`FactorRisk.by_factor`'s ``exposure_usd`` and ``contribution_usd2`` per group.
    factor_variance, specific_variance, total_variance, total_volatility_usd : ndarray
        Of shape (n_groups,): the :class:`FactorRisk` totals per group (daily, USD², USD).
    factor_contribution_usd2, specific_contribution_usd2 : ndarray of shape (n_holdings,)
        :attr:`FactorRisk.by_position`'s columns per holding.
    notes : tuple of tuple of str
        Each group's :attr:`FactorRisk.notes`.
    """

    factors: list
    exposure_usd: np.ndarray
    contribution_usd2: np.ndarray
    factor_variance: np.ndarray
    specific_variance: np.ndarray
    total_variance: np.ndarray
    total_volatility_usd: np.ndarray
    factor_contribution_usd2: np.ndarray
    specific_contribution_usd2: np.ndarray
    notes: tuple[tuple[str, ...], ...]


def grouped_factor_risk(
    betas: pd.DataFrame,
    exposure_usd: np.ndarray,
    residual_variance: np.ndarray,
    factor_covariance: pd.DataFrame,
    groups: np.ndarray,
    n_groups: int,
) -> GroupedFactorRisk:
    """:func:`factor_risk` of many portfolios at once (sparse products, one einsum).

    A *holding* is one entry of a portfolio's :func:`factor_risk` input (a position, or
    all of a portfolio's positions on one underlying): its exposures are
    ``betas × exposure_usd`` and its specific variance ``exposure_usd² × residual_variance``.

    Parameters
    ----------
    betas : DataFrame of shape (n_holdings, n_factors)
        Factor betas per holding, indexed by the holding's label (used in notes); NaN
        counts as 0.
    exposure_usd : ndarray of shape (n_holdings,)
        USD exposure per holding.
    residual_variance : ndarray of shape (n_holdings,)
        Daily residual return variance per holding (NaN: no specific variance, noted).
    factor_covariance : DataFrame of shape (m_factors, m_factors)
        As :func:`factor_risk`.
    groups : ndarray of int of shape (n_holdings,)
        The portfolio (0 .. ``n_groups`` − 1) of each holding; holdings of a group in
        the order :func:`factor_risk` would get them.
    n_groups : int

    Returns
    -------
    GroupedFactorRisk
        Group ``g`` equals ``factor_risk(betas[groups == g] × exposure, factor_covariance,
        specific)`` to rounding; a group without holdings has zeros.
    """
    from scipy import sparse

    factors, common = _factor_selection(betas.columns, factor_covariance)
    e = np.asarray(exposure_usd, dtype=float)
    x = betas[factors].to_numpy(dtype=float) * e[:, None]
    x = np.where(np.isnan(x), 0.0, x)  # (n_holdings, k)
    cov = factor_covariance.loc[factors, factors].to_numpy(dtype=float)
    incidence = sparse.csr_matrix(
        (np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(n_groups, len(groups))
    )
    big_x = np.asarray(incidence @ x).reshape(n_groups, len(factors))  # X per group
    fx = big_x @ cov.T  # (F X) per group
    factor_var = np.einsum("gk,gk->g", big_x, fx)
    holding_factor = np.einsum("hk,hk->h", x, fx[groups])
    specific = e**2 * np.asarray(residual_variance, dtype=float)
    missing = np.isnan(specific)
    specific = np.where(missing, 0.0, specific)
    specific_var = incidence @ specific
    total_var = factor_var + specific_var
    with np.errstate(invalid="ignore"):
        total_vol = np.where(total_var >= 0, np.sqrt(np.abs(total_var)), np.nan)

    labels = betas.index
    missing_by_group: dict[int, list[int]] = {}
    for h in np.flatnonzero(missing):
        missing_by_group.setdefault(int(groups[h]), []).append(h)
    notes = tuple(
        (
            *(
                (_missing_specific_note(labels[missing_by_group[g]]),)
                if g in missing_by_group
                else ()
            ),
            *common,
            *((_negative_factor_variance_note(float(factor_var[g])),) if factor_var[g] < 0 else ()),
        )
        for g in range(n_groups)
    )
    return GroupedFactorRisk(
        factors=factors,
        exposure_usd=big_x,
        contribution_usd2=big_x * fx,
        factor_variance=factor_var,
        specific_variance=specific_var,
        total_variance=total_var,
        total_volatility_usd=total_vol,
        factor_contribution_usd2=holding_factor,
        specific_contribution_usd2=specific,
        notes=notes,
    )
