"""Factor betas: daily asset returns regressed on factor proxy returns, batched.

Model (per asset, ``mode='raw'``)::

    r_asset(t) = alpha + sum_f beta_f * r_f(t) + e(t)

With ``mode='spread'`` (default) every non-market factor enters as its spread
over the market, which removes the market component the style ETFs share::

    r_asset(t) = alpha + beta_mkt * r_mkt(t) + sum_s beta_s * (r_s(t) - r_mkt(t)) + e(t)

so ``beta_s`` is the loading on the style *tilt* and ``beta_mkt`` the market
beta holding the tilts fixed. Coefficients, R², t-statistics and the
condition number follow statsmodels' OLS (with a constant) exactly; all assets
that share the same usable dates are solved in one least-squares solve.

Conventions:

* **Capped betas keep their estimate.** A beta beyond ±``cap`` is clipped in
  ``betas`` and flagged in ``capped``; the OLS estimate stays beside it in
  ``betas_uncapped`` and ``t_stats`` is always the t-statistic of that OLS
  estimate (a t-statistic of a clipped number means nothing).
* **Portfolio betas say what they are divided by.** With x_i the position's
  delta-adjusted exposure in USD (stocks: signed market value; options:
  delta × underlying price) and b_i its beta, :func:`portfolio_factor_exposures`
  gives the dollar beta Σ x_i b_i (USD P&L per unit factor return, the primary
  figure), the beta to gross Σ x_i b_i / Σ |x_i| and the beta to net
  Σ x_i b_i / Σ x_i (NaN with a reason when the net is under
  :data:`NET_EXPOSURE_FLOOR` of the gross).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MODES = ("spread", "raw")
MARKET_FACTOR = "Market"
"""Name of the market factor column. ``spread`` mode requires it; ``raw`` mode puts it
first when present (else keeps the given order)."""
DEFAULT_WINDOW = 252
DEFAULT_MIN_OBS = 60
DEFAULT_CAP = 3.0
NET_EXPOSURE_FLOOR = 0.01
"""Beta to net is NaN when |net exposure| is under this fraction of gross exposure."""
EXACT_FIT_TOLERANCE = 1e-12
"""Residual sum of squares below this fraction of Σy² counts as an exact fit (t-stats NaN)."""


@dataclass(frozen=True)
class FactorBetas:
    """Result of :func:`factor_betas`; frames are indexed by asset.

    Attributes
    ----------
    betas : DataFrame of shape (n_assets, n_factors)
        Coefficients after capping at ±``cap`` (NaN where not estimable).
    betas_uncapped : DataFrame of shape (n_assets, n_factors)
        The OLS coefficients before capping (equal to ``betas`` where not capped).
    t_stats : DataFrame of shape (n_assets, 1 + n_factors)
        t-statistics of ``alpha`` and of each OLS (uncapped) coefficient; NaN
        for an exact fit (no residual), where statsmodels reports rounding noise.
    alpha : Series
        Intercept, daily return (decimal).
    r_squared : Series
        Centered R² (statsmodels ``rsquared`` with a constant).
    observations : Series of int
        Days used in the fit (0 when not estimated).
    capped : DataFrame of bool, shape (n_assets, n_factors)
        True where ``|beta| > cap`` and the beta was clipped.
    condition_number : Series
        statsmodels' ``condition_number`` of the asset's design (with constant).
    residual_variance : Series
        Daily residual variance SSR / (n − p) (statsmodels ``mse_resid``),
        squared decimal return.
    reasons : Series of object
        None for estimated assets, else why the betas are NaN.
    mode : str
    factors : tuple of str
        Factor names in column order; the market factor first.
    window_start, window_end : Timestamp or None
        First and last date of the regression window.
    """

    betas: pd.DataFrame
    betas_uncapped: pd.DataFrame
    t_stats: pd.DataFrame
    alpha: pd.Series
    r_squared: pd.Series
    observations: pd.Series
    capped: pd.DataFrame
    condition_number: pd.Series
    residual_variance: pd.Series
    reasons: pd.Series
    mode: str
    factors: tuple[str, ...]
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> pd.DataFrame:
        """One row per asset: betas, alpha, R², observations, capped factors, reason.

        ``capped`` lists each capped factor with its uncapped OLS beta and
        t-statistic, e.g. ``"Market: 5.021 (t 31.20)"``; empty when none is capped.
        """
        out = self.betas.copy()
        out["alpha"] = self.alpha
        out["r_squared"] = self.r_squared
        out["observations"] = self.observations
        out["capped"] = [
            ", ".join(
                f"{f}: {self.betas_uncapped.at[a, f]:.3f} (t {self.t_stats.at[a, f]:.2f})"
                for f in self.capped.columns[self.capped.loc[a].to_numpy()]
            )
            for a in self.capped.index
        ]
        out["reason"] = self.reasons
        return out

    def long(self) -> pd.DataFrame:
        """One row per (asset, factor): ``beta`` (capped), ``beta_uncapped``, ``t_stat``
        (of the uncapped OLS estimate), ``capped``."""
        factors = list(self.factors)
        index = pd.MultiIndex.from_product([self.betas.index, factors], names=["asset", "factor"])
        return pd.DataFrame(
            {
                "beta": self.betas[factors].to_numpy(dtype=float).ravel(),
                "beta_uncapped": self.betas_uncapped[factors].to_numpy(dtype=float).ravel(),
                "t_stat": self.t_stats[factors].to_numpy(dtype=float).ravel(),
                "capped": self.capped[factors].to_numpy(dtype=bool).ravel(),
            },
            index=index,
        )


def spread_design(factor_returns: pd.DataFrame, market: str) -> pd.DataFrame:
    """Market column plus every other factor minus the market (same column names)."""
    design = factor_returns.sub(factor_returns[market], axis=0)
    design[market] = factor_returns[market]
    return design[[market, *[c for c in factor_returns.columns if c != market]]]


def _ols_batch(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """OLS of every column of ``y`` (n, m) on ``x`` (n, p, constant included).

    Returns coefficients (p, m), t-statistics (p, m), centered R² (m,), the
    condition number of ``x`` and the residual variances SSR / (n − p) (m,) —
    one QR factorization for all m assets.
    """
    n, p = x.shape
    q, r = np.linalg.qr(x)
    qty = q.T @ y
    coef = np.linalg.solve(r, qty)
    # ||y||² = ||Q'y||² + SSR because Q spans the design (no residual matrix needed)
    yy = np.einsum("ij,ij->j", y, y)
    ssr = np.maximum(yy - np.einsum("ij,ij->j", qty, qty), 0.0)
    tss = yy - n * y.mean(axis=0) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        r_inv = np.linalg.inv(r)
        xtx_inv_diag = np.einsum("ij,ij->i", r_inv, r_inv)
        sigma2 = ssr / (n - p)
        t_stats = coef / np.sqrt(np.outer(xtx_inv_diag, sigma2))
        # an exact fit (the asset is a combination of the factors, e.g. a factor ETF
        # held as a position) has no residual: its t-statistics are undefined
        t_stats[:, ssr <= EXACT_FIT_TOLERANCE * yy] = np.nan
        r_squared = 1.0 - ssr / tss
    eig = np.linalg.eigvalsh(x.T @ x)
    condition = float(np.sqrt(eig[-1] / eig[0])) if eig[0] > 0 else float("inf")
    return coef, t_stats, r_squared, condition, sigma2


def _groups_by_usable_days(
    usable: np.ndarray, candidates: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(row mask, asset columns)`` per distinct pattern of usable days among ``candidates``."""
    if candidates.size == 0:
        return []
    sub = usable[:, candidates]
    if sub.all():  # the common case: every asset has every day
        return [(sub[:, 0], candidates)]
    packed = np.ascontiguousarray(np.packbits(sub, axis=0).T)
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, group_of = np.unique(keys, return_index=True, return_inverse=True)
    return [(sub[:, f], candidates[group_of == g]) for g, f in enumerate(first)]


def factor_betas(
    asset_returns: pd.DataFrame,
    factor_returns: pd.DataFrame,
    *,
    mode: str = "spread",
    window: int = DEFAULT_WINDOW,
    min_obs: int = DEFAULT_MIN_OBS,
    cap: float = DEFAULT_CAP,
) -> FactorBetas:
    """Regress each asset's daily returns on the factor returns over the last ``window`` days.

    Parameters
    ----------
    asset_returns : DataFrame of shape (n_days, n_assets)
        Daily simple returns (decimal), indexed by date; NaN where an asset has
        no return.
    factor_returns : DataFrame of shape (n_days, n_factors)
        Daily factor proxy returns (decimal), indexed by date. The column named
        :data:`MARKET_FACTOR` is the market (required in ``spread`` mode).
    mode : {'spread', 'raw'}, default='spread'
        ``raw``: plain OLS with intercept on the factor returns (identical to
        statsmodels ``OLS(y, add_constant(X))``); ``spread``: market plus each
        other factor minus the market.
    window : int, default=252
        Trading days: the last ``window`` dates on which every factor has a
        return (and that are in ``asset_returns``' index).
    min_obs : int, default=60
        An asset with fewer usable days in the window gets NaN and a reason.
    cap : float, default=3.0
        Betas beyond ±cap are clipped in ``betas`` and flagged in ``capped``;
        ``betas_uncapped`` and ``t_stats`` keep the OLS estimate.

    Returns
    -------
    FactorBetas
        Empty frames when there are no assets; all-NaN with a reason per asset
        when the factors have fewer than ``min_obs`` common days. The fits on
        several days' windows at once: :func:`factor_betas_on_days`.
    """
    design = _Design.of(asset_returns, factor_returns, mode)
    end = len(design.dates)
    start = max(end - window, 0)
    fit = design.fit(start, end, min_obs)
    assets, factors = design.assets, list(design.factors)
    raw = fit.coef[1:].T
    capped = np.abs(raw) > cap
    dates = design.dates[start:end]
    return FactorBetas(
        betas=pd.DataFrame(np.clip(raw, -cap, cap), index=assets, columns=factors),
        betas_uncapped=pd.DataFrame(raw, index=assets, columns=factors),
        t_stats=pd.DataFrame(fit.t_stats.T, index=assets, columns=["alpha", *factors]),
        alpha=pd.Series(fit.coef[0], index=assets, name="alpha"),
        r_squared=pd.Series(fit.r_squared, index=assets, name="r_squared"),
        observations=pd.Series(fit.observations, index=assets, name="observations"),
        capped=pd.DataFrame(capped, index=assets, columns=factors),
        condition_number=pd.Series(fit.condition_number, index=assets, name="condition_number"),
        residual_variance=pd.Series(fit.residual_variance, index=assets, name="residual_variance"),
        reasons=pd.Series(fit.reasons, index=assets, name="reason", dtype=object),
        mode=mode,
        factors=design.factors,
        window_start=dates[0] if len(dates) else None,
        window_end=dates[-1] if len(dates) else None,
    )


def factor_betas_on_days(
    asset_returns: pd.DataFrame,
    factor_returns: pd.DataFrame,
    days: pd.DatetimeIndex,
    *,
    mode: str = "spread",
    window: int = DEFAULT_WINDOW,
    min_obs: int = DEFAULT_MIN_OBS,
    cap: float = DEFAULT_CAP,
) -> tuple[tuple[str, ...], np.ndarray]:
    """The betas of :func:`factor_betas` on the data up to each of ``days``, one pass.

    Parameters
    ----------
    asset_returns, factor_returns : DataFrame
        As for :func:`factor_betas`, over the history of every day.
    days : DatetimeIndex
        The fit of a day uses the rows dated on or before it, as
        ``factor_betas`` of the inputs cut at the day would.
    mode, window, min_obs, cap
        As for :func:`factor_betas`.

    Returns
    -------
    factors : tuple of str
        The factors in column order (:attr:`FactorBetas.factors`).
    betas : ndarray of shape (len(days), n_assets, n_factors)
        Each day's :attr:`FactorBetas.betas` (capped; NaN where not estimable).
    """
    design = _Design.of(asset_returns, factor_returns, mode)
    betas = np.full((len(days), len(design.assets), len(design.factors)), np.nan)
    for i, end in enumerate(design.dates.searchsorted(days, side="right")):
        betas[i] = np.clip(design.fit(max(end - window, 0), end, min_obs).coef[1:].T, -cap, cap)
    return design.factors, betas


@dataclass(frozen=True)
class _WindowFit:
    """The OLS of every asset over one window (arrays over assets; :class:`FactorBetas`)."""

    coef: np.ndarray
    """(1 + n_factors, n_assets): alpha first."""
    t_stats: np.ndarray
    r_squared: np.ndarray
    observations: np.ndarray
    condition_number: np.ndarray
    residual_variance: np.ndarray
    reasons: np.ndarray


@dataclass(frozen=True)
class _Design:
    """The regression inputs of :func:`factor_betas` over the whole history: the dates on
    which every factor has a return (and that are in the assets' index), the design rows
    on them (constant first) and the assets' returns."""

    factors: tuple[str, ...]
    assets: pd.Index
    dates: pd.DatetimeIndex
    x: np.ndarray
    y: np.ndarray

    @classmethod
    def of(cls, asset_returns: pd.DataFrame, factor_returns: pd.DataFrame, mode: str) -> _Design:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if factor_returns.shape[1] == 0:
            raise ValueError("factor_returns has no columns")
        if mode == "spread" and MARKET_FACTOR not in factor_returns.columns:
            raise ValueError(
                f"spread mode needs a {MARKET_FACTOR!r} column (got {list(factor_returns.columns)}); "
                "no other factor stands in for the market"
            )
        columns = factor_returns.columns
        market = MARKET_FACTOR if MARKET_FACTOR in columns else columns[0]
        factors = (market, *[c for c in columns if c != market])
        complete = factor_returns[list(factors)].dropna(how="any")
        dates = complete.index.intersection(asset_returns.index).sort_values()
        design = complete.loc[dates]
        if mode == "spread":
            design = spread_design(design, market)
        assets = asset_returns.columns
        y = asset_returns.reindex(index=dates, columns=assets).to_numpy(dtype=float)
        x = np.column_stack([np.ones(len(dates)), design.to_numpy(dtype=float)])
        return cls(factors, assets, dates, x, y)

    def fit(self, start: int, end: int, min_obs: int) -> _WindowFit:
        """OLS of every asset on the rows ``[start, end)``; an asset with fewer than
        ``min_obs`` usable days (or than the factors + 2) gets NaN and a reason."""
        x_all, y_all = self.x[start:end], self.y[start:end]
        k, n_assets = len(self.factors), self.y.shape[1]
        coef = np.full((k + 1, n_assets), np.nan)
        tst = np.full((k + 1, n_assets), np.nan)
        r2 = np.full(n_assets, np.nan)
        nobs = np.zeros(n_assets, dtype=int)
        cond = np.full(n_assets, np.nan)
        resid_var = np.full(n_assets, np.nan)
        reasons = np.full(n_assets, None, dtype=object)

        usable = ~np.isnan(y_all)
        counts = usable.sum(axis=0)
        too_short = counts < max(min_obs, k + 2)
        for j in np.flatnonzero(too_short):
            reasons[j] = (
                f"{counts[j]} usable days in the {end - start}-day window, fewer than {min_obs}"
            )
        # group the remaining assets by their pattern of usable days: one solve per group
        for rows, cols in _groups_by_usable_days(usable, np.flatnonzero(~too_short)):
            if rows.all() and cols.size == n_assets:
                b, t, rsq, c, s2 = _ols_batch(x_all, y_all)  # no copy in the common case
            else:
                b, t, rsq, c, s2 = _ols_batch(x_all[rows], y_all[np.ix_(rows, cols)])
            coef[:, cols], tst[:, cols], r2[cols], cond[cols], resid_var[cols] = b, t, rsq, c, s2
            nobs[cols] = int(rows.sum())
        return _WindowFit(coef, tst, r2, nobs, cond, resid_var, reasons)


def market_conditional_betas(
    asset_returns: pd.DataFrame,
    market_returns: pd.Series,
    factor_returns: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    min_obs: int = DEFAULT_MIN_OBS,
) -> dict[str, FactorBetas]:
    """Each asset's beta to each factor, estimated jointly with the market.

    For every column ``f`` of ``factor_returns`` an OLS (with intercept, raw,
    never capped) of the asset returns on ``[Market, f]``, so the market
    co-movement of ``f`` stays in the market beta and a move of ``f`` with the
    market held fixed is priced by ``beta_f`` alone (no double counting of the
    market in rate or macro scenarios).

    Parameters
    ----------
    asset_returns : DataFrame of shape (n_days, n_assets)
        Daily simple returns (decimal).
    market_returns : Series
        Daily market returns (decimal).
    factor_returns : DataFrame of shape (n_days, n_factors)
        Daily factor moves in the factor's units (returns; yield changes).
    window, min_obs : int
        As in :func:`factor_betas`.

    Returns
    -------
    dict of str to FactorBetas
        Factor name -> the two-factor fit (columns ``Market`` and ``f``).
    """
    return {
        name: factor_betas(
            asset_returns,
            pd.concat(
                [market_returns.rename(MARKET_FACTOR), factor_returns[name]], axis=1, sort=True
            ),
            mode="raw",
            window=window,
            min_obs=min_obs,
            cap=np.inf,
        )
        for name in factor_returns.columns
    }


def macro_betas(
    asset_returns: pd.DataFrame,
    market_returns: pd.Series | None,
    macro_returns: pd.DataFrame,
    *,
    additive: frozenset[str] = frozenset(),
    window: int = DEFAULT_WINDOW,
    min_obs: int = DEFAULT_MIN_OBS,
    rate_window: int = DEFAULT_WINDOW,
    rate_min_obs: int = DEFAULT_MIN_OBS,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each asset's beta to each macro / rate factor, estimated jointly with the market
    (:func:`market_conditional_betas`, one fit per factor).

    Parameters
    ----------
    asset_returns : DataFrame of shape (n_days, n_assets)
        Daily simple returns (decimal).
    market_returns : Series or None
        Daily market returns (decimal); None when the market is N/A.
    macro_returns : DataFrame of shape (n_days, n_factors)
        Daily factor moves (returns; yield changes for the ``additive`` factors).
    additive : frozenset of str, default=frozenset()
        The rate factors (moves are changes): fitted over ``rate_window`` with
        ``rate_min_obs``; the others over ``window`` with ``min_obs``.
    window, min_obs, rate_window, rate_min_obs : int
        As in :func:`factor_betas`; defaults 252 and 60.

    Returns
    -------
    (DataFrame of shape (n_assets, n_fitted), dict of str to str)
        The betas of the factors with at least one estimable asset (NaN where an
        asset lacks history), and factor -> why it is N/A for the others. Without
        a market series every factor is N/A (no single-factor fit that would
        carry market beta) and the frame has no columns.
    """
    columns = list(macro_returns.columns)
    if market_returns is None:
        reason = f"estimated jointly with {MARKET_FACTOR}, which is N/A"
        return pd.DataFrame(index=asset_returns.columns), dict.fromkeys(columns, reason)
    betas: dict[str, pd.Series] = {}
    reasons: dict[str, str] = {}
    for name in columns:
        rate = name in additive
        fit = market_conditional_betas(
            asset_returns,
            market_returns,
            macro_returns[[name]],
            window=rate_window if rate else window,
            min_obs=rate_min_obs if rate else min_obs,
        )[name]
        if fit.betas[name].isna().all():
            reasons[name] = "no asset has enough common history with the factor"
        else:
            betas[name] = fit.betas[name]
    return pd.DataFrame(betas, index=asset_returns.columns), reasons


def design_returns(factor_returns: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Factor returns in the regression's design of ``mode``: in ``spread`` mode (with a
    :data:`MARKET_FACTOR` column) the style factors as spreads over the market, so
    covariances match the betas of :func:`factor_betas`; unchanged otherwise."""
    if mode == "spread" and MARKET_FACTOR in factor_returns:
        return spread_design(factor_returns, MARKET_FACTOR)
    return factor_returns


def portfolio_factor_exposures(
    position_betas: pd.DataFrame, exposure_usd: pd.Series
) -> pd.DataFrame:
    """Dollar betas and the betas to gross and to net exposure, per factor.

    With x_i the delta-adjusted exposure and b_i the beta of the positions
    that have a beta for the factor::

        dollar_beta_usd = Σ x_i b_i           USD P&L per unit factor return (primary)
        beta_to_gross   = Σ x_i b_i / Σ |x_i|
        beta_to_net     = Σ x_i b_i / Σ x_i   NaN when |Σ x_i| < NET_EXPOSURE_FLOOR × Σ |x_i|

    Parameters
    ----------
    position_betas : DataFrame of shape (n_positions, n_factors)
        Betas per position (options carry their underlying's betas); NaN
        where unknown.
    exposure_usd : Series of shape (n_positions,)
        Signed delta-adjusted exposure in USD: market value for stocks,
        delta × underlying price for options.

    Returns
    -------
    DataFrame indexed by factor
        ``dollar_beta_usd``, ``beta_to_gross``, ``beta_to_net``,
        ``gross_exposure_usd`` and ``net_exposure_usd`` (Σ |x_i| and Σ x_i over
        the positions with a beta), ``positions`` (how many have a beta) and
        ``beta_to_net_reason`` (None, or why the beta to net is NaN). A factor
        no position has a beta for is NaN throughout with 0 positions.
    """
    groups = np.zeros(len(position_betas), dtype=np.int64)
    return grouped_factor_exposures(position_betas, exposure_usd, groups, 1).xs(0)


def grouped_factor_exposures(
    position_betas: pd.DataFrame, exposure_usd: pd.Series, groups: np.ndarray, n_groups: int
) -> pd.DataFrame:
    """:func:`portfolio_factor_exposures` of many portfolios at once (sparse products).

    Parameters
    ----------
    position_betas : DataFrame of shape (n_positions, n_factors)
    exposure_usd : Series of shape (n_positions,)
        Aligned with ``position_betas`` by index.
    groups : ndarray of int of shape (n_positions,)
        The portfolio (0 .. ``n_groups`` − 1) of each position.
    n_groups : int

    Returns
    -------
    DataFrame indexed by (group, factor)
        :func:`portfolio_factor_exposures`' columns for every group and factor (a
        group without positions: NaN with 0 positions).
    """
    from scipy import sparse

    factors = position_betas.columns
    exposure = exposure_usd.reindex(position_betas.index).to_numpy(dtype=float)
    betas = position_betas.to_numpy(dtype=float)
    known = ~np.isnan(betas) & ~np.isnan(exposure)[:, None]
    incidence = sparse.csr_matrix(
        (np.ones(len(groups)), (groups, np.arange(len(groups)))), shape=(n_groups, len(groups))
    )
    x = np.where(np.isnan(exposure), 0.0, exposure)[:, None]
    dollar = incidence @ np.where(known, betas * x, 0.0)
    gross = incidence @ (known * np.abs(x))
    net = incidence @ (known * x)
    counts = np.rint(incidence @ known.astype(float)).astype(int)
    counted = counts > 0
    dollar = np.where(counted, dollar, np.nan)
    flat = (np.abs(net) < NET_EXPOSURE_FLOOR * gross) & counted
    with np.errstate(divide="ignore", invalid="ignore"):
        beta_to_gross = dollar / np.where(gross == 0.0, np.nan, gross)
        beta_to_net = np.where(flat, np.nan, dollar / np.where(net == 0.0, np.nan, net))
    reason = np.full(flat.shape, None, dtype=object)
    for i, j in zip(*np.nonzero(flat), strict=True):
        reason[i, j] = (
            f"net delta-adjusted exposure {net[i, j]:,.0f} USD is under {NET_EXPOSURE_FLOOR:.0%} of "
            f"gross {gross[i, j]:,.0f} USD: beta to net is not meaningful"
        )
    index = pd.MultiIndex.from_product([range(n_groups), factors], names=["group", "factor"])
    return pd.DataFrame(
        {
            "dollar_beta_usd": dollar.ravel(),
            "beta_to_gross": beta_to_gross.ravel(),
            "beta_to_net": beta_to_net.ravel(),
            "gross_exposure_usd": np.where(counted, gross, np.nan).ravel(),
            "net_exposure_usd": np.where(counted, net, np.nan).ravel(),
            "positions": counts.ravel(),
            "beta_to_net_reason": pd.Series(reason.ravel(), index=index, dtype=object),
        },
        index=index,
    )


PORTFOLIO_BETA_COLUMNS: tuple[str, ...] = ("dollar_beta_usd", "beta_to_gross", "beta_to_net")
"""The three portfolio betas of :func:`portfolio_factor_exposures`, primary first."""
MARKET_BETA_KEYS: tuple[str, ...] = (
    "market_dollar_beta_usd",
    "market_beta_to_gross",
    "market_beta_to_net",
)
"""Headline market-beta figures, as :func:`market_betas` names them everywhere."""


def market_betas(portfolio: pd.DataFrame, market: str = MARKET_FACTOR) -> dict[str, float]:
    """The market row of :func:`portfolio_factor_exposures` under the headline names.

    Returns
    -------
    dict
        :data:`MARKET_BETA_KEYS` (``market_dollar_beta_usd`` USD per unit market
        return; ``market_beta_to_gross``, ``market_beta_to_net`` unitless), all
        NaN when ``portfolio`` has no ``market`` row.
    """
    if market not in portfolio.index:
        return dict.fromkeys(MARKET_BETA_KEYS, float("nan"))
    row = portfolio.loc[market]
    return {
        key: float(row[column])
        for key, column in zip(MARKET_BETA_KEYS, PORTFOLIO_BETA_COLUMNS, strict=True)
    }
