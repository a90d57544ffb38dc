"""The parsed, validated description of one position (before it is stored).

Used by CSV import, demo seeding and (later) what-if trades, so that every
entry point validates positions the same way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

OPTION_MULTIPLIER = 100
"""Shares of underlying per listed US equity option contract."""


class PositionType(StrEnum):
    """Position type from the sign of the quantity and the instrument.

    LONG / SHORT are stocks and ETFs; LC / LP long calls / puts; SC / SP short
    calls / puts.
    """

    LONG = "LONG"
    SHORT = "SHORT"
    LC = "LC"
    LP = "LP"
    SC = "SC"
    SP = "SP"

    @property
    def is_option(self) -> bool:
        return self in (PositionType.LC, PositionType.LP, PositionType.SC, PositionType.SP)

    @property
    def is_short(self) -> bool:
        return self in (PositionType.SHORT, PositionType.SC, PositionType.SP)


def detect_position_type(quantity: float, option_type: str | None) -> PositionType:
    """Position type from the signed quantity and ``option_type`` ('C', 'P' or None).

    Raises
    ------
    ValueError
        When ``quantity`` is zero or ``option_type`` is not 'C', 'P' or None.
    """
    if quantity == 0:
        raise ValueError("quantity is zero")
    long = quantity > 0
    if option_type is None:
        return PositionType.LONG if long else PositionType.SHORT
    if option_type == "C":
        return PositionType.LC if long else PositionType.SC
    if option_type == "P":
        return PositionType.LP if long else PositionType.SP
    raise ValueError(f"option type must be 'C' or 'P', got {option_type!r}")


@dataclass(frozen=True)
class PositionSpec:
    """One position as entered by a user, validated.

    Attributes
    ----------
    symbol : str
        Ticker for stocks/ETFs; compact OCC symbol (``AAPL170616C00140000``)
        for options.
    quantity : float
        Signed: shares, or contracts for options; negative = short.
    underlying : str
        The ticker itself for stocks/ETFs; the option's root for options.
    position_type : PositionType
    entry_price : float or None
        Per share, or per share of underlying for options (premium), in USD.
    entry_date : datetime.date or None
    option_type : {'C', 'P'} or None
    strike : float or None
        USD per share.
    expiry : datetime.date or None
    multiplier : int
        1 for stocks, :data:`OPTION_MULTIPLIER` for options.
    tags : tuple of str
    strategy : str or None
        Name of the strategy the position belongs to.
    """

    symbol: str
    quantity: float
    underlying: str
    position_type: PositionType
    entry_price: float | None = None
    entry_date: dt.date | None = None
    option_type: str | None = None
    strike: float | None = None
    expiry: dt.date | None = None
    multiplier: int = 1
    tags: tuple[str, ...] = field(default_factory=tuple)
    strategy: str | None = None

    @property
    def is_option(self) -> bool:
        return self.position_type.is_option


def make_position_spec(
    symbol: str,
    quantity: float,
    *,
    entry_price: float | None = None,
    entry_date: dt.date | None = None,
    tags: tuple[str, ...] | list[str] = (),
    strategy: str | None = None,
) -> PositionSpec:
    """A :class:`PositionSpec` from a ticker or OCC symbol and a signed quantity.

    OCC symbols (padded or compact) become option positions with the compact
    symbol, the root's underlying as underlying (``SPXW`` -> ``SPX``, see
    :func:`~sigmasight_lib.portfolios.option_symbols.root_underlying`),
    strike, expiry and a multiplier of :data:`OPTION_MULTIPLIER`; anything
    else is a stock/ETF ticker.

    Raises
    ------
    ValueError
        Zero quantity, or a symbol that looks like an OCC symbol but is not a
        valid one (``OccSymbolError``, a ``ValueError``).
    """
    from sigmasight_lib.portfolios.occ import looks_like_occ, parse_occ_symbol
    from sigmasight_lib.portfolios.option_symbols import root_underlying

    text = symbol.strip().upper()
    unique_tags: list[str] = []
    for tag in tags:
        clean = tag.strip()
        if clean and clean.casefold() not in {t.casefold() for t in unique_tags}:
            unique_tags.append(clean)
    if looks_like_occ(text):
        contract = parse_occ_symbol(text)
        return PositionSpec(
            symbol=contract.compact,
            quantity=float(quantity),
            underlying=root_underlying(contract.root),
            position_type=detect_position_type(quantity, contract.option_type),
            entry_price=entry_price,
            entry_date=entry_date,
            option_type=contract.option_type,
            strike=contract.strike,
            expiry=contract.expiry,
            multiplier=OPTION_MULTIPLIER,
            tags=tuple(unique_tags),
            strategy=strategy,
        )
    return PositionSpec(
        symbol=text,
        quantity=float(quantity),
        underlying=text,
        position_type=detect_position_type(quantity, None),
        entry_price=entry_price,
        entry_date=entry_date,
        tags=tuple(unique_tags),
        strategy=strategy,
    )
