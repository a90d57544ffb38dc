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
    ``date``, ``tenor`` (one of :data:`TENORS`), ``yield_rate`` (decimal,
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
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd

from sigmasight_lib.exceptions import ConfigError

if TYPE_CHECKING:
    from sigmasight_lib.config import Settings

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
TENORS: tuple[str, ...] = ("1m", "3m", "6m", "1y", "2y", "3y", "5y", "7y", "10y", "20y", "30y")
"""Treasury curve tenors, shortest first."""

RATE_PROXY_PREFIX = "UST:"
"""Factor proxies of the form ``UST:10y`` name a treasury tenor, not a ticker."""

TENOR_YEARS: dict[str, float] = {
    "1m": 1 / 12,
    "3m": 0.25,
    "6m": 0.5,
    "1y": 1.0,
    "2y": 2.0,
    "3y": 3.0,
    "5y": 5.0,
    "7y": 7.0,
    "10y": 10.0,
    "20y": 20.0,
    "30y": 30.0,
}


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


def get_provider(settings: Settings | str) -> MarketDataProvider:
    """The provider named in the settings (or by name).

    Raises
    ------
    ConfigError
        For an unknown provider name.
    """
    name = settings if isinstance(settings, str) else settings.market_data
    if name == "offline":
        from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider

        return OfflineSnapshotProvider()
    if name == "yfinance":
        from sigmasight_lib.marketdata.yfinance_provider import YFinanceProvider

        return YFinanceProvider()
    raise ConfigError(f"unknown market data provider {name!r}; choose offline or yfinance")


def empty_frame(columns: Sequence[str]) -> pd.DataFrame:
    """An empty frame with the given columns (for providers that have nothing to return)."""
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})
