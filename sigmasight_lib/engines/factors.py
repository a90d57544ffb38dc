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
EXACT_FIT_TOLERANCE = 1e-12
"""Residual sum of squares below this fraction of Σy² counts as an exact fit (t-stats NaN)."""


@dataclass(frozen=True)
class FactorBetas:
    """Result of :func:`factor_betas`; frames are indexed by asset.

    Attributes
    ----------
    betas : DataFrame of shape (n_assets, n_factors)
        Coefficients after capping at ±``cap`` (NaN where not estimable).
    t_stats : DataFrame of shape (n_assets, 1 + n_factors)
        t-statistics of ``alpha`` and of each (uncapped) coefficient; NaN for
        an exact fit (no residual), where statsmodels reports rounding noise.
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
        """One row per asset: betas, alpha, R², observations, capped factors, reason."""
        out = self.betas.copy()
        out["alpha"] = self.alpha
        out["r_squared"] = self.r_squared
        out["observations"] = self.observations
        out["capped"] = self.capped.apply(lambda row: ", ".join(row.index[row]), axis=1)
        out["reason"] = self.reasons
        return out


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
        Betas beyond ±cap are clipped and flagged in ``capped``.

    Returns
    -------
    FactorBetas
        Empty frames when there are no assets; all-NaN with a reason per asset
        when the factors have fewer than ``min_obs`` common days.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if factor_returns.shape[1] == 0:
        raise ValueError("factor_returns has no columns")
    if mode == "spread" and MARKET_FACTOR not in factor_returns.columns:
        raise ValueError(
            f"spread mode needs a {MARKET_FACTOR!r} column (got {list(factor_returns.columns)}); "
            "no other factor stands in for the market"
        )
    market = MARKET_FACTOR if MARKET_FACTOR in factor_returns.columns else factor_returns.columns[0]
    factors = (market, *[c for c in factor_returns.columns if c != market])
    factor_returns = factor_returns[list(factors)].dropna(how="any")
    dates = factor_returns.index.intersection(asset_returns.index).sort_values()[-window:]
    design = factor_returns.loc[dates]
    if mode == "spread":
        design = spread_design(design, market)
    assets = asset_returns.columns
    y_all = asset_returns.reindex(index=dates, columns=assets).to_numpy(dtype=float)
    x_all = np.column_stack([np.ones(len(dates)), design.to_numpy(dtype=float)])

    k = len(factors)
    coef = np.full((k + 1, len(assets)), np.nan)
    tst = np.full((k + 1, len(assets)), np.nan)
    r2 = np.full(len(assets), np.nan)
    nobs = np.zeros(len(assets), dtype=int)
    cond = np.full(len(assets), np.nan)
    resid_var = np.full(len(assets), np.nan)
    reasons = np.full(len(assets), None, dtype=object)

    usable = ~np.isnan(y_all)
    counts = usable.sum(axis=0)
    too_short = counts < max(min_obs, k + 2)
    for j in np.flatnonzero(too_short):
        reasons[j] = f"{counts[j]} usable days in the {len(dates)}-day window, fewer than {min_obs}"
    # group the remaining assets by their pattern of usable days: one solve per group
    for rows, cols in _groups_by_usable_days(usable, np.flatnonzero(~too_short)):
        if rows.all() and cols.size == y_all.shape[1]:
            b, t, rsq, c, s2 = _ols_batch(x_all, y_all)  # no copy in the common case
        else:
            b, t, rsq, c, s2 = _ols_batch(x_all[rows], y_all[np.ix_(rows, cols)])
        coef[:, cols], tst[:, cols], r2[cols], cond[cols], resid_var[cols] = b, t, rsq, c, s2
        nobs[cols] = int(rows.sum())

    raw = coef[1:].T
    capped = np.abs(raw) > cap
    return FactorBetas(
        betas=pd.DataFrame(np.clip(raw, -cap, cap), index=assets, columns=list(factors)),
        t_stats=pd.DataFrame(tst.T, index=assets, columns=["alpha", *factors]),
        alpha=pd.Series(coef[0], index=assets, name="alpha"),
        r_squared=pd.Series(r2, index=assets, name="r_squared"),
        observations=pd.Series(nobs, index=assets, name="observations"),
        capped=pd.DataFrame(capped, index=assets, columns=list(factors)),
        condition_number=pd.Series(cond, index=assets, name="condition_number"),
        residual_variance=pd.Series(resid_var, index=assets, name="residual_variance"),
        reasons=pd.Series(reasons, index=assets, name="reason", dtype=object),
        mode=mode,
        factors=factors,
        window_start=dates[0] if len(dates) else None,
        window_end=dates[-1] if len(dates) else None,
    )


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


def portfolio_factor_exposures(
    position_betas: pd.DataFrame, exposure_usd: pd.Series
) -> pd.DataFrame:
    """Dollar factor exposures and exposure-weighted portfolio betas.

    Parameters
    ----------
    position_betas : DataFrame of shape (n_positions, n_factors)
        Betas per position (options carry their underlying's betas); NaN
        where unknown.
    exposure_usd : Series of shape (n_positions,)
        Signed exposure in USD: market exposure for stocks, delta-adjusted
        exposure for options.

    Returns
    -------
    DataFrame indexed by factor
        ``exposure_usd`` = Σ exposure_i × beta_i (USD P&L per unit factor
        return), ``beta`` = exposure_usd / Σ |exposure_i| over the positions
        with a beta for that factor (the gross-exposure-weighted average beta),
        ``positions`` = how many positions have a beta for the factor.
    """
    exposure = exposure_usd.reindex(position_betas.index).astype(float)
    known = position_betas.notna() & exposure.notna().to_numpy()[:, None]
    weighted = position_betas.where(known).mul(exposure, axis=0)
    dollar = weighted.sum(axis=0, min_count=1)
    gross = known.mul(exposure.abs(), axis=0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = dollar / gross.replace(0.0, np.nan)
    return pd.DataFrame(
        {"exposure_usd": dollar, "beta": beta, "positions": known.sum(axis=0).astype(int)}
    )
