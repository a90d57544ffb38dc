"""Daily portfolio snapshots: one row of headline figures per portfolio per trading day.

The value of a portfolio is its **net liquidation value**, long market value −
short market value (Σ quantity × price × multiplier; a long option counts
positive, a short option negative); the gross market value Σ |market value|
is reported beside it. The market beta is reported three ways (see
:func:`sigmasight_lib.engines.factors.portfolio_factor_exposures`): the dollar
beta (USD, primary), and the beta to gross and to net delta-adjusted exposure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sigmasight_lib.engines.exposures import grouped_exposure_metrics
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
"""Fields of :func:`snapshot_rows` (USD; Greeks in position-Greek units)."""
_AFTER_PNL = SNAPSHOT_FIELDS.index("daily_pnl_usd") + 1
SNAPSHOT_COLUMNS: tuple[str, ...] = (
    *SNAPSHOT_FIELDS[:_AFTER_PNL],
    "cumulative_pnl_usd",
    *SNAPSHOT_FIELDS[_AFTER_PNL:],
)
"""Stored snapshot columns: :data:`SNAPSHOT_FIELDS` plus the running ``cumulative_pnl_usd``."""


def snapshot_rows(
    positions: pd.DataFrame, group_of: np.ndarray, n_groups: int, market: pd.DataFrame
) -> pd.DataFrame:
    """The snapshots of many groups of positions at once (a group: one portfolio on one day).

    Parameters
    ----------
    positions : DataFrame of shape (n_rows, ...)
        One row per position (and day), joined with its valuation and Greeks: the
        exposure engine's input columns, ``expired`` and ``daily_pnl_usd``.
    group_of : ndarray of int of shape (n_rows,)
        Each row's group, 0 .. ``n_groups`` − 1.
    n_groups : int
    market : DataFrame indexed by group (0 .. ``n_groups`` − 1)
        Each group's :data:`~sigmasight_lib.engines.factors.MARKET_BETA_KEYS`
        (:func:`~sigmasight_lib.engines.factors.market_betas`; NaN where unknown).

    Returns
    -------
    DataFrame indexed by group (0 .. ``n_groups`` − 1), columns :data:`SNAPSHOT_FIELDS`
        Sums (USD; Greeks in position-Greek units) skip unpriced positions and leave
        expired options out (:func:`~sigmasight_lib.engines.exposures.exposure_metrics`);
        ``daily_pnl_usd`` sums every row (NaN skipped). A group without live positions
        has zero sums and counts.
    """
    groups = pd.RangeIndex(n_groups)
    totals = grouped_exposure_metrics(positions, [group_of])
    totals.index = totals.index.astype(np.int64)
    out = totals.reindex(groups, fill_value=0)[
        [k for k in SNAPSHOT_FIELDS if k in totals.columns]
    ].astype(float)
    out["position_count"] = out["position_count"].astype(np.int64)
    pnl = pd.Series(positions["daily_pnl_usd"].to_numpy(dtype=float)).groupby(group_of).sum()
    out["daily_pnl_usd"] = pnl.reindex(groups, fill_value=0.0)
    out[list(MARKET_BETA_KEYS)] = market.reindex(groups)[list(MARKET_BETA_KEYS)].astype(float)
    return out[list(SNAPSHOT_FIELDS)]


def cumulative_pnl(daily_pnl: pd.Series) -> pd.Series:
    """Running sum of daily P&L in date order (NaN days add nothing), USD."""
    ordered = daily_pnl.sort_index()
    return ordered.fillna(0.0).cumsum()
