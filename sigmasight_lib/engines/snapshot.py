"""Daily portfolio snapshots: one row of headline figures per portfolio per trading day.

The value of a portfolio is its **net liquidation value**, long market value −
short market value (Σ quantity × price × multiplier; a long option counts
positive, a short option negative); the gross market value Σ |market value|
is reported beside it. The market beta is reported three ways (see
:func:`sigmasight_lib.engines.factors.portfolio_factor_exposures`): the dollar
beta (USD, primary), and the beta to gross and to net delta-adjusted exposure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from sigmasight_lib.engines.exposures import exposure_metrics
from sigmasight_lib.engines.factors import MARKET_BETA_KEYS

SNAPSHOT_FIELDS: tuple[str, ...] = (
    "net_liquidation_value_usd",
    "gross_market_value_usd",
    "long_exposure_usd",
    "short_exposure_usd",
    "gross_exposure_usd",
    "net_exposure_usd",
    "daily_pnl_usd",
    "delta",
    "gamma",
    "theta",
    "vega",
    *MARKET_BETA_KEYS,
    "position_count",
)
"""Fields of :func:`snapshot_row` (USD; Greeks in position-Greek units)."""
_AFTER_PNL = SNAPSHOT_FIELDS.index("daily_pnl_usd") + 1
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    *SNAPSHOT_FIELDS[:_AFTER_PNL],
    "cumulative_pnl_usd",
    *SNAPSHOT_FIELDS[_AFTER_PNL:],
)
"""Stored snapshot columns: :data:`SNAPSHOT_FIELDS` plus the running ``cumulative_pnl_usd``."""


def snapshot_row(positions: pd.DataFrame, market: Mapping[str, float]) -> dict[str, float]:
    """The snapshot of one day from positions joined with their valuation and Greeks.

    Parameters
    ----------
    positions : DataFrame
        One row per position with the exposure engine's input columns and
        ``daily_pnl_usd``.
    market : mapping
        The day's :data:`~sigmasight_lib.engines.factors.MARKET_BETA_KEYS`
        (:func:`~sigmasight_lib.engines.factors.market_betas`); a missing key is NaN.

    Returns
    -------
    dict with :data:`SNAPSHOT_FIELDS`; sums skip unpriced positions.
    """
    metrics = exposure_metrics(positions)
    row = {k: metrics[k] for k in SNAPSHOT_FIELDS if k in metrics}
    row["daily_pnl_usd"] = float(np.nansum(positions["daily_pnl_usd"].to_numpy(dtype=float)))
    row.update({k: float(market.get(k, np.nan)) for k in MARKET_BETA_KEYS})
    return {k: row[k] for k in SNAPSHOT_FIELDS}


def cumulative_pnl(daily_pnl: pd.Series) -> pd.Series:
    """Running sum of daily P&L in date order (NaN days add nothing), USD."""
    ordered = daily_pnl.sort_index()
    return ordered.fillna(0.0).cumsum()
