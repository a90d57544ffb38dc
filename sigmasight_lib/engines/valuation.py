"""Valuation: market value, signed exposure, unrealized, realized and daily P&L per position.

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

Expired options. An option is live up to and including its expiry date; on
that date it is marked at its close, which is its intrinsic value (so the
expiry-day move to intrinsic is that day's daily P&L). On any later as-of it
has been settled at the expiry close — exercised or assigned when in the
money, worthless otherwise — and is flagged ``expired``::

    settlement   = max(K − S, 0) for puts, max(S − K, 0) for calls
                   (S = the underlying's close on the last session on or before expiry)
    realized     = quantity × (settlement − entry_price) × multiplier
    market_value = exposure = notional = unrealized = daily_pnl = 0

``price`` (and ``previous_price``) show the settlement value, ``price_source``
is ``settled``. The cash or the shares delivered by exercise or assignment are
not modelled as a new position: the option simply leaves the book and its
P&L is realized. Daily P&L after expiry is 0 because the move to settlement was
already the expiry day's daily P&L; the sum of daily P&L over the option's life
therefore equals its realized P&L. (An expiry that is not a session, such as
the Saturday expiries before 2015, settles on the previous session's close;
that session still marks the option by the model, so its last day of time
value is the one part of the realized P&L that never shows as daily P&L.)
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
    "realized_pnl_usd",
    "daily_pnl_usd",
    "expired",
    "reason",
)
"""Columns of :func:`value_positions` (``expired`` is boolean, ``price_source`` and
``reason`` text, the rest float)."""
OPTION_TYPES = ("C", "P")


def settlement_value(
    option_type: pd.Series, strike: pd.Series, underlying_close: pd.Series
) -> pd.Series:
    """Intrinsic value per share at expiry: ``max(K − S, 0)`` for puts ('P'),
    ``max(S − K, 0)`` for calls ('C'); NaN where the close or strike is NaN or the
    type is neither."""
    s, k = underlying_close.astype(float), strike.astype(float)
    value = np.where(option_type == "C", s - k, np.where(option_type == "P", k - s, np.nan))
    value = pd.Series(value, index=option_type.index, dtype=float)
    return value.clip(lower=0.0).where(value.notna())


def _number(x: float) -> str:
    return f"{round(float(x), 4):.10g}"


def _settlement_reasons(positions: pd.DataFrame, settlement: pd.Series, close: pd.Series) -> list:
    """``expired D, settled at intrinsic X (underlying close S; exercised|assigned|expired
    worthless)``, or why the settlement is unknown."""
    out = []
    for pid in positions.index:
        day = pd.Timestamp(positions.at[pid, "expiry"]).date().isoformat()
        value = settlement[pid]
        if np.isnan(value):
            out.append(
                f"expired {day}; no close of the underlying on its last session: "
                "settlement value and realized P&L are N/A"
            )
            continue
        how = (
            "expired worthless"
            if value <= 0
            else ("exercised" if positions.at[pid, "quantity"] > 0 else "assigned")
        )
        out.append(
            f"expired {day}, settled at intrinsic {_number(value)} "
            f"(underlying close {_number(close[pid])}; {how})"
        )
    return out


def as_of_dates(as_of: pd.Timestamp | str | pd.Series, index: pd.Index) -> pd.Series:
    """``as_of`` as Timestamps aligned with ``index``: the one valuation date of every row,
    or each row's own (``as_of`` a Series of dates aligned with ``index``)."""
    if isinstance(as_of, pd.Series):
        return pd.to_datetime(as_of)
    return pd.Series(pd.Timestamp(as_of), index=index)


def expired_options(
    positions: pd.DataFrame, as_of: pd.Timestamp | str | pd.Series | None
) -> pd.Series:
    """Boolean Series: options whose expiry is before ``as_of`` (settled, out of the book).

    ``as_of`` is one date or each row's own (a Series aligned with ``positions``).
    False for stocks, for an option on its expiry date, when ``as_of`` is None
    or ``positions`` has no ``expiry`` column.
    """
    if as_of is None or "expiry" not in positions or "option_type" not in positions:
        return pd.Series(False, index=positions.index)
    expiry = pd.to_datetime(positions["expiry"])
    return positions["option_type"].isin(OPTION_TYPES) & (
        expiry < as_of_dates(as_of, positions.index)
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
    as_of: pd.Timestamp | str | pd.Series | None = None,
    expiry_close: pd.Series | None = None,
) -> pd.DataFrame:
    """Value each position at its as-of price; settle the options expired before ``as_of``.

    Parameters
    ----------
    positions : DataFrame indexed by position id
        Columns ``quantity`` (signed), ``multiplier``, ``entry_price``,
        ``entry_date``; for options also ``option_type`` ('C'/'P'), ``strike``,
        ``expiry`` (without them nothing is treated as expired).
    price, previous_price : Series indexed by position id
        Price per share on the as-of date and on the previous session.
    price_source : Series indexed by position id
        ``market`` or ``model`` (BSM for options without a quote); None when
        there is no price.
    underlying_price : Series indexed by position id
        Spot of the underlying (the price itself for stocks).
    as_of : date-like, or Series of dates aligned with ``positions``, optional
        The valuation date of every row, or of each row (positions valued on
        different days). A position entered on the as-of date takes its daily
        P&L from its entry price, not the previous close; an option whose
        expiry is before ``as_of`` is settled (see the module docstring).
    expiry_close : Series indexed by position id, optional
        The underlying's close on the last session on or before each option's
        expiry, currency per share; used for the options expired at ``as_of``
        (missing or NaN: settlement and realized P&L are NaN with a reason).

    Returns
    -------
    DataFrame indexed by position id, columns :data:`VALUATION_COLUMNS`
        NaN values with a ``reason`` where a price is missing.
        ``realized_pnl_usd`` is 0 for live positions; ``expired`` is True for
        settled options, whose ``reason`` says how they settled.
    """
    qty = positions["quantity"].astype(float)
    mult = positions["multiplier"].astype(float)
    px = price.reindex(positions.index).astype(float)
    prev = previous_price.reindex(positions.index).astype(float)
    entry = positions["entry_price"].astype(float)
    if as_of is not None:
        entered_today = pd.to_datetime(positions["entry_date"]) == as_of_dates(
            as_of, positions.index
        )
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
    out["realized_pnl_usd"] = 0.0
    expired = expired_options(positions, as_of)
    out["expired"] = expired.astype(bool)
    if expired.any():
        gone = positions.loc[expired]
        close = (
            expiry_close.reindex(gone.index).astype(float)
            if expiry_close is not None
            else pd.Series(np.nan, index=gone.index)
        )
        settlement = settlement_value(gone["option_type"], gone["strike"], close)
        out.loc[gone.index, "price"] = settlement
        out.loc[gone.index, "previous_price"] = settlement
        out.loc[gone.index, "price_source"] = "settled"
        zero = ["market_value_usd", "exposure_usd", "notional_usd", "unrealized_pnl_usd",
                "daily_pnl_usd"]  # fmt: skip
        out.loc[gone.index, zero] = 0.0
        out.loc[gone.index, "realized_pnl_usd"] = (
            qty[gone.index] * (settlement - entry[gone.index]) * mult[gone.index]
        )
        reason[gone.index] = _settlement_reasons(gone, settlement, close)
    out["reason"] = reason
    return out[list(VALUATION_COLUMNS)]
