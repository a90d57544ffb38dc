"""The provider interface every market data source implements.

Frames exchanged with providers (one row per observation, long format)
-----------------------------------------------------------------------
prices : columns :data:`PRICE_COLUMNS`
    ``date`` (``datetime.date``), ``symbol`` (str), ``open``, ``high``, ``low``,
    ``close``, ``adj_close`` (float, currency units per share), ``volume``
    (float, shares), ``total_return`` (float, daily total return as a decimal,
    for series published as returns only). Fields a source lacks are NaN; a
    row has at least one of ``close``, ``adj_close``, ``total_return``.

    =========== ====== ===== ... ========= ======= ============
    date        symbol close ... adj_close volume  total_return
    =========== ====== ===== ... ========= ======= ============
    2017-03-29  AAPL   NaN   ... 33.767    NaN     NaN
    2017-03-29  SPY    NaN   ... NaN       NaN     0.0011
    =========== ====== ===== ... ========= ======= ============

rates : columns :data:`RATE_COLUMNS`
    ``date``, ``tenor`` (one of :data:`~sigmasight_lib.curves.TENORS`), ``yield_rate`` (decimal,
    0.0242 = 2.42 %).
metadata : columns :data:`METADATA_COLUMNS`
    ``symbol``, ``name``, ``sector``, ``industry``, ``asset_type`` (``stock``,
    ``etf``, ``index``, ``commodity``, ``volatility_index``, ``rate``), ``currency``.
option quotes : columns :data:`OPTION_QUOTE_COLUMNS`
    ``contract_symbol`` (compact OCC), ``implied_vol`` (decimal), ``bid``,
    ``ask``, ``last_price`` (currency per share of underlying).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

PRICE_COLUMNS: tuple[str, ...] = (
    "date",
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "adj_close",
    "volume",
    "total_return",
)
RATE_COLUMNS: tuple[str, ...] = ("date", "tenor", "yield_rate")
METADATA_COLUMNS: tuple[str, ...] = (
    "symbol",
    "name",
    "sector",
    "industry",
    "asset_type",
    "currency",
)
OPTION_QUOTE_COLUMNS: tuple[str, ...] = (
    "contract_symbol",
    "implied_vol",
    "bid",
    "ask",
    "last_price",
)
RATE_PROXY_PREFIX = "UST:"
"""Factor proxies of the form ``UST:10y`` name a treasury tenor, not a ticker."""


@runtime_checkable
class MarketDataProvider(Protocol):
    """What SigmaSight asks of a market data source.

    Implementations never write to the database; the cache layer
    (:mod:`sigmasight_lib.marketdata.cache`) does that.
    """

    name: str
    """Provider name as used in ``SIGMASIGHT_MARKET_DATA`` and factor proxies."""

    def fetch_prices(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily prices for ``symbols`` with ``start <= date <= end`` (both inclusive).

        Returns a frame with :data:`PRICE_COLUMNS`; symbols without data in the
        range are simply absent. Raises ``ProviderUnavailableError`` when the
        source cannot be reached.
        """
        ...

    def fetch_rates(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Treasury curve points with :data:`RATE_COLUMNS` in ``[start, end]``."""
        ...

    def fetch_metadata(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Security metadata with :data:`METADATA_COLUMNS`, one row per known symbol."""
        ...

    def fetch_option_quotes(self, contract_symbols: Sequence[str], as_of: dt.date) -> pd.DataFrame:
        """Quotes and implied vols for compact OCC contract symbols.

        Returns :data:`OPTION_QUOTE_COLUMNS`; contracts without quotes are
        absent (the offline snapshot has none: the frame is empty).
        """
        ...

    def unknown_symbols(self, symbols: Iterable[str]) -> set[str]:
        """The subset of ``symbols`` (tickers, not OCC contracts) this provider does not know."""
        ...

    def latest_date(self, symbols: Iterable[str]) -> dt.date | None:
        """Latest date on which every one of ``symbols`` has a price (None if none)."""
        ...

    def latest_rate_date(self, tenor: str = "10y") -> dt.date | None:
        """Latest date with a treasury curve point at ``tenor`` (None if none)."""
        ...


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """An empty frame with the given columns (for providers that have nothing to return)."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
