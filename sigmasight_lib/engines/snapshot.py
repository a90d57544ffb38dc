"""Daily portfolio snapshots: one row of headline figures per portfolio per trading day."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sigmasight_lib.engines.exposures import exposure_metrics

SNAPSHOT_FIELDS: tuple[str, ...] = (
    "market_value_usd",
    "long_exposure_usd",
    "short_exposure_usd",
    "gross_exposure_usd",
    "net_exposure_usd",
    "daily_pnl_usd",
    "delta",
    "gamma",
    "theta",
    "vega",
    "market_beta",
    "position_count",
)
"""Fields of :func:`snapshot_row` (USD; Greeks in position-Greek units)."""


def snapshot_row(positions: pd.DataFrame, market_beta: float) -> dict[str, float]:
    """The snapshot of one day from positions joined with their valuation and Greeks.

    Parameters
    ----------
    positions : DataFrame
        One row per position with the exposure engine's input columns and
        ``daily_pnl_usd``.
    market_beta : float
        The portfolio's market beta that day (NaN when not estimable).

    Returns
    -------
    dict with :data:`SNAPSHOT_FIELDS`; sums skip unpriced positions.
    """
    metrics = exposure_metrics(positions)
    row = {k: metrics[k] for k in SNAPSHOT_FIELDS if k in metrics}
    row["daily_pnl_usd"] = float(np.nansum(positions["daily_pnl_usd"].to_numpy(dtype=float)))
    row["market_beta"] = float(market_beta)
    return {k: row[k] for k in SNAPSHOT_FIELDS}


def cumulative_pnl(daily_pnl: pd.Series) -> pd.Series:
    """Running sum of daily P&L in date order (NaN days add nothing), USD."""
    ordered = daily_pnl.sort_index()
    return ordered.fillna(0.0).cumsum()
