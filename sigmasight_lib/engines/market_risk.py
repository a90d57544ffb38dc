"""Market risk: P&L for market and rate moves, position interest-rate betas, backtest.

Units
-----
- Market dollar exposure: Σ delta-adjusted exposure × market beta (USD per unit
  market return); P&L of a move = exposure × move.
- Interest-rate beta: daily position return per unit change of the 10-year
  yield in decimal (ir_beta = −5 means +1 bp, i.e. +0.0001, moves the position
  by −0.05 %), estimated jointly with the market (:func:`interest_rate_betas`)
  so a rate scenario holds the market fixed. Rate dollar exposure =
  Σ exposure × ir_beta; P&L = exposure × Δy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from sigmasight_lib.engines.factors import MARKET_FACTOR, market_conditional_betas

DEFAULT_MARKET_MOVES: tuple[float, ...] = (0.01, -0.01)
"""Market moves as decimal returns (±1 %)."""
DEFAULT_RATE_MOVES: tuple[float, ...] = (0.005, -0.005)
"""10-year yield moves as decimal yield changes (±50 bp)."""
RATE_FACTOR = "Interest Rate"


def _move_name(kind: str, move: float) -> str:
    direction = "up" if move >= 0 else "down"
    if kind == "market":
        return f"market_{direction}_{abs(move) * 100:g}pct"
    return f"rates_{direction}_{abs(move) * 10000:g}bp"


def scenario_pnl(exposure_usd: float, moves: Sequence[float], kind: str) -> pd.DataFrame:
    """P&L of each move for a dollar factor exposure.

    Parameters
    ----------
    exposure_usd : float
        USD P&L per unit factor move (1.0 = +100 % market, +1.0 yield).
    moves : sequence of float
        Decimal moves (0.01 = +1 %; 0.005 = +50 bp).
    kind : {'market', 'rates'}
        Names the scenarios (``market_up_1pct``, ``rates_down_50bp``).

    Returns
    -------
    DataFrame indexed by scenario name: ``move``, ``pnl_usd`` (NaN when the
    exposure is NaN).
    """
    if kind not in ("market", "rates"):
        raise ValueError(f"kind must be 'market' or 'rates', got {kind!r}")
    rows = {_move_name(kind, m): {"move": float(m), "pnl_usd": exposure_usd * m} for m in moves}
    return pd.DataFrame.from_dict(rows, orient="index", columns=["move", "pnl_usd"])


def interest_rate_betas(
    position_returns: pd.DataFrame,
    yield_changes: pd.Series,
    market_returns: pd.Series,
    *,
    window: int = 252,
    min_obs: int = 60,
) -> pd.DataFrame:
    """Each column's interest-rate beta, estimated jointly with the market.

    OLS (with intercept) of daily returns on ``[market return, 10-year yield
    change]`` (:func:`~sigmasight_lib.engines.factors.market_conditional_betas`):
    the rate beta prices a yield move with the market held fixed, as the stress
    engine does, so rate scenarios do not carry market beta.

    Parameters
    ----------
    position_returns : DataFrame (dates × assets)
        Daily simple returns (decimal).
    yield_changes : Series indexed by date
        Daily change of the 10-year yield (decimal: 0.0001 = 1 bp).
    market_returns : Series indexed by date
        Daily market returns (decimal).
    window, min_obs : int, default=252, 60
        Sessions of the regression window; fewer usable days give NaN.

    Returns
    -------
    DataFrame indexed by asset: ``ir_beta``, ``t_stat``, ``market_beta`` (the
    joint fit's), ``r_squared``, ``observations``, ``window_start``,
    ``window_end``, ``reason`` (None when estimated). Same semantics as
    statsmodels ``OLS(r, add_constant([r_m, dy]))``; never capped.
    """
    fit = market_conditional_betas(
        position_returns,
        market_returns,
        yield_changes.rename(RATE_FACTOR).to_frame(),
        window=window,
        min_obs=min_obs,
    )[RATE_FACTOR]
    return pd.DataFrame(
        {
            "ir_beta": fit.betas[RATE_FACTOR],
            "t_stat": fit.t_stats[RATE_FACTOR],
            "market_beta": fit.betas[MARKET_FACTOR],
            "r_squared": fit.r_squared,
            "observations": fit.observations,
            "window_start": fit.window_start,
            "window_end": fit.window_end,
            "reason": fit.reasons,
        }
    )


def pnl_backtest(predicted: pd.Series, actual: pd.Series) -> dict[str, float]:
    """Accuracy of predicted daily P&L against actual P&L (USD), on their common dates.

    Returns
    -------
    dict
        ``days`` (common non-NaN dates), ``rmse_usd``, ``mean_abs_error_usd``,
        ``correlation`` (Pearson), ``hit_rate`` (share of days where the signs
        agree, among days where neither is zero). NaN when fewer than 2 days.
    """
    both = pd.concat([predicted.rename("p"), actual.rename("a")], axis=1)
    p, a = both["p"].to_numpy(dtype=float), both["a"].to_numpy(dtype=float)
    return pnl_backtests(p[None, :], a[None, :])[0]


def pnl_backtests(predicted: np.ndarray, actual: np.ndarray) -> list[dict[str, float]]:
    """:func:`pnl_backtest` of many series at once, aligned on the same dates.

    Parameters
    ----------
    predicted, actual : ndarray of shape (n_series, n_days)
        Daily P&L (USD), NaN where missing; each row is one backtest over the
        columns where both are finite.

    Returns
    -------
    list of dict
        One :func:`pnl_backtest` dict per row.
    """
    predicted = np.asarray(predicted, dtype=float)
    actual = np.asarray(actual, dtype=float)
    both = np.isfinite(predicted) & np.isfinite(actual)
    n = both.sum(axis=1)
    p, a = np.where(both, predicted, 0.0), np.where(both, actual, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        err = p - a
        rmse = np.sqrt((err**2).sum(axis=1) / n)
        mae = np.abs(err).sum(axis=1) / n
        pc = np.where(both, p - p.sum(axis=1, keepdims=True) / n[:, None], 0.0)
        ac = np.where(both, a - a.sum(axis=1, keepdims=True) / n[:, None], 0.0)
        corr = (pc * ac).sum(axis=1) / np.sqrt((pc * pc).sum(axis=1) * (ac * ac).sum(axis=1))
        signed = both & (p != 0) & (a != 0)
        agree = (signed & (np.sign(p) == np.sign(a))).sum(axis=1)
        hit = np.where(signed.any(axis=1), agree / signed.sum(axis=1), np.nan)
    out = []
    for k in range(len(n)):
        if n[k] < 2:
            out.append({"days": int(n[k]), "rmse_usd": np.nan, "mean_abs_error_usd": np.nan,
                        "correlation": np.nan, "hit_rate": np.nan})  # fmt: skip
        else:
            out.append({
                "days": int(n[k]),
                "rmse_usd": float(rmse[k]),
                "mean_abs_error_usd": float(mae[k]),
                "correlation": float(np.clip(corr[k], -1.0, 1.0)) if np.isfinite(corr[k]) else np.nan,
                "hit_rate": float(hit[k]),
            })  # fmt: skip
    return out
