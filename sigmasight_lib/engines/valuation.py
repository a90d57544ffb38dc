"""Valuation: market value, signed exposure, unrealized and daily P&L per position.

Formulas (SPEC "Engines" 1), all in USD::

    market_value = |quantity| × price × multiplier
    exposure     = quantity × price × multiplier          (signed)
    cost_basis   = quantity × entry_price × multiplier
    unrealized   = quantity × (price − entry_price) × multiplier
    daily_pnl    = quantity × (price − previous_price) × multiplier
    notional     = |quantity| × multiplier × underlying_price

``price`` is per share (the premium per share of underlying for options).

Portfolio value (:func:`value_totals`) is the **net liquidation value**: long
market value − short market value, i.e. Σ exposure (a long option counts
positive, a short option negative). ``market_value`` per position is the
unsigned |MV|; its sum is the gross market value, reported beside the NLV.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

VALUATION_COLUMNS: tuple[str, ...] = (
    "price",
    "previous_price",
    "price_source",
    "underlying_price",
    "market_value_usd",
    "exposure_usd",
    "notional_usd",
    "cost_basis_usd",
    "unrealized_pnl_usd",
    "daily_pnl_usd",
    "reason",
)


VALUE_TOTALS: tuple[str, ...] = (
    "net_liquidation_value_usd",
    "gross_market_value_usd",
    "long_market_value_usd",
    "short_market_value_usd",
)
"""Keys of :func:`value_totals`."""


def value_totals(valuation: pd.DataFrame) -> dict[str, float]:
    """Net liquidation value, gross, long and short market value of valued positions, USD.

    Parameters
    ----------
    valuation : DataFrame
        :func:`value_positions` output (``exposure_usd`` = signed market value).

    Returns
    -------
    dict
        ``long_market_value_usd`` = Σ of the positive signed market values,
        ``short_market_value_usd`` = −Σ of the negative ones (a positive
        amount), ``net_liquidation_value_usd`` = long − short,
        ``gross_market_value_usd`` = long + short. Unpriced positions (NaN) are
        left out; 0.0 for no positions.
    """
    signed = valuation["exposure_usd"].astype(float)
    long_mv = float(signed[signed > 0].sum())
    short_mv = float(-signed[signed < 0].sum())
    return {
        "net_liquidation_value_usd": long_mv - short_mv,
        "gross_market_value_usd": long_mv + short_mv,
        "long_market_value_usd": long_mv,
        "short_market_value_usd": short_mv,
    }


def value_positions(
    positions: pd.DataFrame,
    *,
    price: pd.Series,
    previous_price: pd.Series,
    price_source: pd.Series,
    underlying_price: pd.Series,
    as_of: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Value each position at its as-of price.

    Parameters
    ----------
    positions : DataFrame indexed by position id
        Columns ``quantity`` (signed), ``multiplier``, ``entry_price``,
        ``entry_date``.
    price, previous_price : Series indexed by position id
        Price per share on the as-of date and on the previous session.
    price_source : Series indexed by position id
        ``market`` or ``model`` (BSM for options without a quote); None when
        there is no price.
    underlying_price : Series indexed by position id
        Spot of the underlying (the price itself for stocks).
    as_of : date-like, optional
        A position entered on the as-of date takes its daily P&L from its
        entry price, not the previous close.

    Returns
    -------
    DataFrame indexed by position id, columns :data:`VALUATION_COLUMNS`
        NaN values with a ``reason`` where a price is missing.
    """
    qty = positions["quantity"].astype(float)
    mult = positions["multiplier"].astype(float)
    px = price.reindex(positions.index).astype(float)
    prev = previous_price.reindex(positions.index).astype(float)
    entry = positions["entry_price"].astype(float)
    if as_of is not None:
        entered_today = pd.to_datetime(positions["entry_date"]) == pd.Timestamp(as_of)
        prev = prev.where(~entered_today, entry)
    out = pd.DataFrame(index=positions.index)
    out["price"] = px
    out["previous_price"] = prev
    out["price_source"] = price_source.reindex(positions.index)
    out["underlying_price"] = underlying_price.reindex(positions.index).astype(float)
    out["market_value_usd"] = qty.abs() * px * mult
    out["exposure_usd"] = qty * px * mult
    out["notional_usd"] = qty.abs() * mult * out["underlying_price"]
    out["cost_basis_usd"] = qty * entry * mult
    out["unrealized_pnl_usd"] = qty * (px - entry) * mult
    out["daily_pnl_usd"] = qty * (px - prev) * mult
    reason = pd.Series(None, index=positions.index, dtype=object)
    reason[prev.isna()] = "no previous price: daily P&L is N/A"
    reason[entry.isna()] = "no entry price: cost basis and unrealized P&L are N/A"
    reason[px.isna()] = "no price on the as-of date"
    numeric = out.columns.difference(["price_source"])
    out[numeric] = out[numeric].replace([np.inf, -np.inf], np.nan)
    out["price_source"] = out["price_source"].astype(object).where(px.notna(), None)
    out["reason"] = reason
    return out[list(VALUATION_COLUMNS)]
