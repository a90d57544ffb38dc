"""Exposures: gross / net / long / short, counts, options vs stock, notional,
portfolio Greeks and delta-adjusted exposure — for the portfolio and per group.

Input: one row per position (valuation and position Greeks joined), indexed by
position id, with columns :data:`EXPOSURE_INPUT_COLUMNS`. All sums are in USD
except the Greeks, which keep the position-Greek units (delta in shares of the
underlying, theta USD per day, vega USD per vol point, rho USD per rate point).

    delta_adjusted_exposure = position delta × underlying price  (stocks: exposure)
    net_liquidation_value   = long market value − short market value
                            = Σ quantity × price × multiplier     (options: long +, short −)
    gross_market_value      = Σ |quantity| × price × multiplier

``exposure_usd`` (quantity × price × multiplier) is the signed market value, so
``long_exposure_usd`` and ``short_exposure_usd`` are the long and (negative) short
market values and the net liquidation value equals their sum.

Options flagged ``expired`` by the valuation engine (settled before the as-of)
have left the book: every function here leaves them out — of the sums, the
counts and the groups (their realized P&L is in the valuation results).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

EXPOSURE_INPUT_COLUMNS: tuple[str, ...] = (
    "symbol",
    "underlying",
    "position_type",
    "option_type",
    "sector",
    "tags",
    "exposure_usd",
    "market_value_usd",
    "notional_usd",
    "underlying_price",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
)
METRIC_COLUMNS: tuple[str, ...] = (
    "position_count",
    "long_count",
    "short_count",
    "gross_exposure_usd",
    "net_exposure_usd",
    "long_exposure_usd",
    "short_exposure_usd",
    "net_liquidation_value_usd",
    "gross_market_value_usd",
    "notional_usd",
    "options_exposure_usd",
    "stock_exposure_usd",
    "delta_adjusted_exposure_usd",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
)
"""Metrics of one group (the portfolio or one group of a breakdown)."""
BREAKDOWNS = ("underlying", "sector", "tag", "type", "strategy")
SHORT_TYPES = ("SHORT", "SC", "SP")


def book_positions(positions: pd.DataFrame) -> pd.DataFrame:
    """``positions`` without the options flagged ``expired`` (settled before the as-of);
    unchanged when there is no ``expired`` column."""
    if "expired" not in positions:
        return positions
    return positions.loc[~positions["expired"].fillna(False).astype(bool)]


def delta_adjusted_exposure(positions: pd.DataFrame) -> pd.Series:
    """Position delta (shares) × underlying price, USD; stocks: their exposure."""
    is_option = positions["option_type"].isin(["C", "P"])
    dae = positions["delta"].astype(float) * positions["underlying_price"].astype(float)
    return dae.where(is_option, positions["exposure_usd"].astype(float))


def exposure_metrics(positions: pd.DataFrame) -> dict[str, float]:
    """:data:`METRIC_COLUMNS` for a set of positions (zeros when empty).

    NaN exposures or Greeks (unpriced positions) are left out of the sums;
    expired options (settled) are left out entirely, counts included.
    """
    positions = book_positions(positions)
    exposure = positions["exposure_usd"].astype(float)
    is_option = positions["option_type"].isin(["C", "P"])
    is_short = positions["position_type"].isin(SHORT_TYPES)

    def total(values: pd.Series) -> float:
        return float(np.nansum(values.to_numpy(dtype=float)))

    return {
        "position_count": int(len(positions)),
        "long_count": int((~is_short).sum()),
        "short_count": int(is_short.sum()),
        "gross_exposure_usd": total(exposure.abs()),
        "net_exposure_usd": total(exposure),
        "long_exposure_usd": total(exposure[exposure > 0]),
        "short_exposure_usd": total(exposure[exposure < 0]),
        "net_liquidation_value_usd": total(exposure),
        "gross_market_value_usd": total(positions["market_value_usd"]),
        "notional_usd": total(positions["notional_usd"]),
        "options_exposure_usd": total(exposure[is_option]),
        "stock_exposure_usd": total(exposure[~is_option]),
        "delta_adjusted_exposure_usd": total(delta_adjusted_exposure(positions)),
        "delta": total(positions["delta"]),
        "gamma": total(positions["gamma"]),
        "theta": total(positions["theta"]),
        "vega": total(positions["vega"]),
        "rho": total(positions["rho"]),
    }


def grouped_exposure_metrics(
    positions: pd.DataFrame, by: Sequence[pd.Series | np.ndarray]
) -> pd.DataFrame:
    """:func:`exposure_metrics` of every group of positions at once (vectorized).

    Parameters
    ----------
    positions : DataFrame of shape (n_positions, ...)
        :data:`EXPOSURE_INPUT_COLUMNS`; the index may repeat (a position exploded
        into several groups).
    by : sequence of Series or ndarray of shape (n_positions,)
        Group keys, aligned by position (row order, not index); rows with a
        missing key are left out.

    Returns
    -------
    DataFrame indexed by the keys (a MultiIndex for several), sorted, columns
    :data:`METRIC_COLUMNS`; only groups with at least one live position (no row
    for a group whose positions are all expired). Sums skip NaN as
    :func:`exposure_metrics` does.
    """
    live = (
        ~positions["expired"].fillna(False).astype(bool).to_numpy()
        if "expired" in positions
        else None
    )
    keys = [np.asarray(k, dtype=object) for k in by]
    if live is not None:
        positions, keys = positions.loc[live], [k[live] for k in keys]
    exposure = positions["exposure_usd"].to_numpy(dtype=float)
    is_option = positions["option_type"].isin(["C", "P"]).to_numpy()
    is_short = positions["position_type"].isin(SHORT_TYPES).to_numpy()

    def finite(values: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        values = np.where(np.isnan(values), 0.0, values)
        return values if mask is None else np.where(mask, values, 0.0)

    column = {
        c: positions[c].to_numpy(dtype=float) for c in ("market_value_usd", "notional_usd", *GREEKS)
    }
    parts = pd.DataFrame(
        {
            "position_count": np.ones(len(positions), dtype=np.int64),
            "long_count": (~is_short).astype(np.int64),
            "short_count": is_short.astype(np.int64),
            "gross_exposure_usd": finite(np.abs(exposure)),
            "net_exposure_usd": finite(exposure),
            "long_exposure_usd": finite(exposure, exposure > 0),
            "short_exposure_usd": finite(exposure, exposure < 0),
            "net_liquidation_value_usd": finite(exposure),
            "gross_market_value_usd": finite(column["market_value_usd"]),
            "notional_usd": finite(column["notional_usd"]),
            "options_exposure_usd": finite(exposure, is_option),
            "stock_exposure_usd": finite(exposure, ~is_option),
            "delta_adjusted_exposure_usd": finite(
                delta_adjusted_exposure(positions).to_numpy(dtype=float)
            ),
            **{g: finite(column[g]) for g in GREEKS},
        }
    )
    return parts.groupby([pd.Series(k) for k in keys], sort=True).sum()[list(METRIC_COLUMNS)]


GREEKS = ("delta", "gamma", "theta", "vega", "rho")


def _grouped(positions: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    positions = book_positions(positions)
    out = grouped_exposure_metrics(positions, [keys.reindex(positions.index)])
    out.index = pd.Index([str(k) for k in out.index], dtype=object)
    return out


def exposure_by_underlying(positions: pd.DataFrame) -> pd.DataFrame:
    """One row per underlying; options roll up into their underlying."""
    return _grouped(positions, positions["underlying"])


def exposure_by_sector(positions: pd.DataFrame) -> pd.DataFrame:
    """One row per sector of the underlying; missing sectors are 'Unclassified'."""
    return _grouped(
        positions, positions["sector"].fillna("Unclassified").replace("", "Unclassified")
    )


def exposure_by_type(positions: pd.DataFrame) -> pd.DataFrame:
    """One row per position type (LONG, SHORT, LC, LP, SC, SP)."""
    return _grouped(positions, positions["position_type"])


def exposure_by_strategy(positions: pd.DataFrame) -> pd.DataFrame:
    """One row per strategy; positions in none are grouped as '(no strategy)'."""
    if "strategy" not in positions:
        return _grouped(positions, pd.Series("(no strategy)", index=positions.index))
    return _grouped(positions, positions["strategy"].fillna("(no strategy)"))


def exposure_by_tag(
    positions: pd.DataFrame, tags: Iterable[str] | None = None, mode: str = "any"
) -> pd.DataFrame:
    """Exposure per tag, or for the positions matching a tag filter.

    Parameters
    ----------
    tags : iterable of str, optional
        Without a filter: one row per tag, a position counting fully in each of
        its tags (untagged positions are left out). With a filter: one row for
        the matching positions, keyed by the tags joined with ``|`` (any) or
        ``&`` (all). Tag matching is case-insensitive.
    mode : {'any', 'all'}, default='any'
        ``any``: positions with at least one of ``tags``; ``all``: with every one.
    """
    if mode not in ("any", "all"):
        raise ValueError(f"mode must be 'any' or 'all', got {mode!r}")
    positions = book_positions(positions)
    folded = positions["tags"].map(lambda ts: {t.casefold() for t in ts or ()})
    if tags is None:
        exploded = positions["tags"].explode().dropna()
        rows = {
            tag: exposure_metrics(positions.loc[sorted(set(members))])
            for tag, members in exploded.groupby(exploded, sort=True).groups.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(METRIC_COLUMNS))
    wanted = [t.casefold() for t in tags]
    test = (lambda s: bool(s & set(wanted))) if mode == "any" else (lambda s: set(wanted) <= s)
    members = positions.index[folded.map(test).to_numpy(dtype=bool)]
    key = ("|" if mode == "any" else "&").join(tags)
    return pd.DataFrame.from_dict(
        {key: exposure_metrics(positions.loc[members])},
        orient="index",
        columns=list(METRIC_COLUMNS),
    )


@dataclass(frozen=True)
class ExposureSummary:
    """Portfolio exposure totals and the standard breakdowns."""

    totals: dict[str, float]
    breakdowns: dict[str, pd.DataFrame]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def frame(self) -> pd.DataFrame:
        """All groups in one long frame: ``group_by``, ``group_key`` and the metrics."""
        parts = [pd.DataFrame([{"group_by": "portfolio", "group_key": "all", **self.totals}])]
        for name, table in self.breakdowns.items():
            parts.append(table.rename_axis("group_key").reset_index().assign(group_by=name))
        columns = ["group_by", "group_key", *METRIC_COLUMNS]
        return pd.concat(parts, ignore_index=True)[columns]


def portfolio_exposures(positions: pd.DataFrame) -> ExposureSummary:
    """Totals plus breakdowns by underlying, sector, tag, position type and strategy.

    An empty portfolio gives zeros and a note; positions without a price are
    counted but add nothing to the sums (noted); expired options are out of
    the book (noted).
    """
    notes: list[str] = []
    live = book_positions(positions)
    if len(live) < len(positions):
        gone = positions.index.difference(live.index)
        notes.append(
            f"{len(gone)} options expired before the as-of are settled and out of the book: "
            + ", ".join(positions.loc[gone, "symbol"].astype(str))
        )
    positions = live
    if positions.empty:
        notes.append("portfolio has no positions at the as-of date: all exposures are zero")
    unpriced = positions.index[positions["exposure_usd"].isna()] if not positions.empty else []
    if len(unpriced):
        notes.append(
            f"{len(unpriced)} positions without a price are left out of the sums: "
            + ", ".join(positions.loc[unpriced, "symbol"].astype(str))
        )
    breakdowns = {
        "underlying": exposure_by_underlying(positions),
        "sector": exposure_by_sector(positions),
        "tag": exposure_by_tag(positions),
        "type": exposure_by_type(positions),
        "strategy": exposure_by_strategy(positions),
    }
    return ExposureSummary(
        totals=exposure_metrics(positions), breakdowns=breakdowns, notes=tuple(notes)
    )
