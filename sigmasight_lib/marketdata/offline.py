"""The offline market data provider: a snapshot shipped as package data.

The snapshot is built by ``scripts/build_snapshot.py`` from data files inside
the PyPI wheels of skfolio, arch and zipline-reloaded; nothing here touches the
network. Three files in :data:`sigmasight_lib.config.MARKET_DATA_DIR`:

``snapshot.csv.gz``
    Long format, columns :data:`SNAPSHOT_COLUMNS` (``date,symbol,field,value``),
    sorted by symbol, field and date. A value the source left blank is an
    absent row, never a filled one.
``symbols.csv``
    Hand-maintained metadata, columns
    :data:`~sigmasight_lib.marketdata.base.METADATA_COLUMNS`.
``provenance.json``
    Where every series came from (package, version, wheel sha256, licence,
    date ranges); see :func:`load_provenance`.

Series and units
----------------
20 S&P 500 stocks (AAPL ... XOM), MTUM QUAL SIZE USMV VLUE : ``adj_close``
    USD per share, split- and dividend-adjusted as of 2022-12-28, the end of
    the source (AAPL on 2017-03-29: 33.767, far below that day's quoted close:
    the 2020 4-for-1 split and later dividends are folded in).
``^GSPC`` : ``close``
    S&P 500 index, points.
``^VIX`` : ``close``
    CBOE Volatility Index, volatility points (annualized %, 11.42 = 11.42 %).
``DCOILWTICO`` : ``close``
    WTI crude oil spot at Cushing, USD per barrel.
``SPY`` : ``total_return``
    Daily total return, decimal (0.0009 = 0.09 %); the source has no price level.
``UST_1M`` ... ``UST_30Y`` : ``yield_rate``
    US treasury par yields, decimal (0.0239 = 2.39 %).

The ``UST_*`` series are served by :meth:`OfflineSnapshotProvider.fetch_rates`
as tenors (``UST_10Y`` -> ``10y``); they are not tickers. The files are read on
first use, once per process and data directory, never at import.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, reduce
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sigmasight_lib.config import MARKET_DATA_DIR
from sigmasight_lib.curves import TENORS
from sigmasight_lib.exceptions import MarketDataError
from sigmasight_lib.marketdata.base import (
    METADATA_COLUMNS,
    OPTION_QUOTE_COLUMNS,
    PRICE_COLUMNS,
    RATE_COLUMNS,
    empty_frame,
)

SNAPSHOT_FILE = "snapshot.csv.gz"
SYMBOLS_FILE = "symbols.csv"
PROVENANCE_FILE = "provenance.json"
SNAPSHOT_COLUMNS: tuple[str, ...] = ("date", "symbol", "field", "value")
"""Columns of ``snapshot.csv.gz``."""
PRICE_FIELDS: tuple[str, ...] = PRICE_COLUMNS[2:]
"""Snapshot fields that become price columns (everything in PRICE_COLUMNS after date, symbol)."""
RATE_FIELD = "yield_rate"
"""Snapshot field of the treasury series (decimal yield)."""
ASSET_TYPES: tuple[str, ...] = ("stock", "etf", "index", "commodity", "volatility_index", "rate")
"""Allowed ``asset_type`` values in ``symbols.csv``."""


def rate_symbol(tenor: str) -> str:
    """Snapshot symbol of a treasury tenor: ``"10y"`` -> ``"UST_10Y"``."""
    return f"UST_{tenor.upper()}"


TENOR_BY_SYMBOL: dict[str, str] = {rate_symbol(t): t for t in TENORS}
"""Snapshot rate symbol -> tenor (``UST_10Y`` -> ``10y``)."""


@dataclass(frozen=True)
class _Snapshot:
    """The parsed snapshot of one data directory (internal; ``date`` as ``datetime64``).

    Attributes
    ----------
    prices : DataFrame
        :data:`PRICE_COLUMNS`, sorted by symbol then date.
    price_dates : dict of str to ndarray
        Per ticker, its sorted ``datetime64`` dates.
    rates : DataFrame
        :data:`RATE_COLUMNS`, sorted by date then tenor (shortest first).
    metadata : DataFrame
        :data:`METADATA_COLUMNS` as objects; empty cells are ``None``.
    """

    prices: pd.DataFrame
    price_dates: dict[str, np.ndarray]
    rates: pd.DataFrame
    metadata: pd.DataFrame


def _require(path: Path) -> Path:
    if not path.is_file():
        raise MarketDataError(
            f"offline market data file {path} is missing; rebuild it with scripts/build_snapshot.py"
        )
    return path


@cache
def _load(data_dir: Path) -> _Snapshot:
    """Read and split ``snapshot.csv.gz`` and ``symbols.csv`` of ``data_dir`` (cached).

    Raises
    ------
    MarketDataError
        When a file is missing or the snapshot holds a field or rate symbol
        this module does not know.
    """
    raw = pd.read_csv(_require(data_dir / SNAPSHOT_FILE), dtype=str, na_filter=False)
    if tuple(raw.columns) != SNAPSHOT_COLUMNS:
        raise MarketDataError(
            f"{SNAPSHOT_FILE}: columns {list(raw.columns)}, expected {list(SNAPSHOT_COLUMNS)}"
        )
    # Python's float() parses correctly rounded on every pandas version, so each value
    # is exactly the source's float (pandas' own converter was not before 3.1).
    raw["value"] = np.array([float(v) for v in raw["value"]], dtype="float64")
    unknown_fields = set(raw["field"]) - {*PRICE_FIELDS, RATE_FIELD}
    if unknown_fields:
        raise MarketDataError(f"{SNAPSHOT_FILE}: unknown fields {sorted(unknown_fields)}")
    raw["date"] = pd.to_datetime(raw["date"], format="%Y-%m-%d")

    is_rate = raw["field"] == RATE_FIELD
    rates = raw.loc[is_rate, ["date", "symbol", "value"]]
    tenor = rates["symbol"].map(TENOR_BY_SYMBOL)
    if tenor.isna().any():
        bad = sorted(set(rates.loc[tenor.isna(), "symbol"]))
        raise MarketDataError(f"{SNAPSHOT_FILE}: {RATE_FIELD} rows for non-tenor symbols {bad}")
    rates = (
        pd.DataFrame(
            {"date": rates["date"], "tenor": tenor.astype(object), "yield_rate": rates["value"]},
            columns=list(RATE_COLUMNS),
        )
        .assign(_rank=tenor.map(TENORS.index))
        .sort_values(["date", "_rank"], kind="stable")
        .drop(columns="_rank")
        .reset_index(drop=True)
    )

    prices = (
        raw.loc[~is_rate]
        .pivot(index=["symbol", "date"], columns="field", values="value")
        .reindex(columns=list(PRICE_FIELDS))
        .rename_axis(columns=None)
        .reset_index()
        .loc[:, list(PRICE_COLUMNS)]
        .sort_values(["symbol", "date"], kind="stable")
        .reset_index(drop=True)
    )
    price_dates = {
        str(symbol): group.to_numpy(dtype="datetime64[ns]")
        for symbol, group in prices.groupby("symbol", sort=True)["date"]
    }

    metadata = pd.read_csv(_require(data_dir / SYMBOLS_FILE), dtype=str, keep_default_na=False)
    if tuple(metadata.columns) != METADATA_COLUMNS:
        raise MarketDataError(
            f"{SYMBOLS_FILE}: columns {list(metadata.columns)}, expected {list(METADATA_COLUMNS)}"
        )
    metadata = metadata.astype(object).where(metadata != "", None)
    return _Snapshot(prices=prices, price_dates=price_dates, rates=rates, metadata=metadata)


@cache
def _provenance_text(data_dir: Path) -> str:
    return _require(data_dir / PROVENANCE_FILE).read_text(encoding="utf-8")


def _data_dir(data_dir: Path | str | None) -> Path:
    return Path(MARKET_DATA_DIR if data_dir is None else data_dir).resolve()


def _with_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with ``date`` as ``datetime.date`` objects and a fresh index."""
    out = frame.reset_index(drop=True)
    out["date"] = out["date"].dt.date
    return out


def snapshot_symbols(data_dir: Path | str | None = None) -> list[str]:
    """Tickers with a price series in the snapshot, sorted (``UST_*`` rate series excluded).

    Parameters
    ----------
    data_dir : path, optional
        Snapshot directory; default :data:`~sigmasight_lib.config.MARKET_DATA_DIR`.
    """
    return sorted(_load(_data_dir(data_dir)).price_dates)


def load_provenance(data_dir: Path | str | None = None) -> dict[str, Any]:
    """The snapshot's ``provenance.json`` as a fresh dict (safe to modify).

    Keys: ``built_by``; ``snapshot`` (``file``, ``sha256``, ``rows``);
    ``common_start`` and ``common_end`` (ISO dates: the span every series
    covers); ``sources`` (per source file: ``package``, ``version``, ``wheel``,
    ``wheel_sha256``, ``path``, ``file_sha256``, ``licence`` and ``series``, a
    list of ``symbol``, ``field``, ``source_column``, ``first_date``,
    ``last_date``, ``rows``, ``blank_in_source``).
    """
    return json.loads(_provenance_text(_data_dir(data_dir)))


class OfflineSnapshotProvider:
    """:class:`~sigmasight_lib.marketdata.base.MarketDataProvider` over the embedded snapshot.

    Parameters
    ----------
    data_dir : path, optional
        Directory holding the snapshot files; default
        :data:`~sigmasight_lib.config.MARKET_DATA_DIR`. Nothing is read until the
        first call that needs data.
    """

    name: str = "offline"

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self.data_dir = _data_dir(data_dir)

    def _snapshot(self) -> _Snapshot:
        return _load(self.data_dir)

    def fetch_prices(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily prices for ``symbols`` with ``start <= date <= end`` (both inclusive).

        Returns
        -------
        DataFrame
            :data:`PRICE_COLUMNS`, sorted by symbol then date; ``date`` holds
            ``datetime.date`` objects. Only ``adj_close`` (stocks, factor
            ETFs), ``close`` (``^GSPC``, ``^VIX``, ``DCOILWTICO``) or
            ``total_return`` (``SPY``) is filled; other fields are NaN. Unknown
            symbols and ``UST_*`` rate series are absent.

        Raises
        ------
        MarketDataError
            When the snapshot files are missing or malformed.
        """
        prices = self._snapshot().prices
        mask = prices["symbol"].isin(set(symbols)) & prices["date"].between(
            pd.Timestamp(start), pd.Timestamp(end)
        )
        return _with_dates(prices.loc[mask])

    def fetch_rates(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Treasury curve points with ``start <= date <= end`` (both inclusive).

        Returns
        -------
        DataFrame
            :data:`RATE_COLUMNS`, sorted by date then tenor (shortest first);
            ``yield_rate`` is a decimal (0.0239 = 2.39 %). A tenor the source
            left blank on a date (1m before 2001-07-31, 20y before 1993-10-01,
            30y 2002-02-19 .. 2006-02-08) has no row.
        """
        rates = self._snapshot().rates
        mask = rates["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        return _with_dates(rates.loc[mask])

    def fetch_metadata(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Rows of ``symbols.csv`` for the known ``symbols``, sorted by symbol.

        Returns
        -------
        DataFrame
            :data:`METADATA_COLUMNS`; empty cells (``sector`` and ``industry``
            of non-stocks) are ``None``. Unknown symbols are absent.
        """
        metadata = self._snapshot().metadata
        found = metadata.loc[metadata["symbol"].isin(set(symbols))]
        return found.sort_values("symbol", kind="stable").reset_index(drop=True)

    def fetch_option_quotes(self, contract_symbols: Sequence[str], as_of: dt.date) -> pd.DataFrame:
        """Always an empty frame with :data:`OPTION_QUOTE_COLUMNS`: the snapshot has no option quotes."""
        return empty_frame(OPTION_QUOTE_COLUMNS)

    def unknown_symbols(self, symbols: Iterable[str]) -> set[str]:
        """The subset of ``symbols`` without a price series (``UST_*`` included: rates, not tickers)."""
        return set(symbols) - self._snapshot().price_dates.keys()

    def latest_date(self, symbols: Iterable[str]) -> dt.date | None:
        """Latest date on which every one of ``symbols`` has a price row.

        Returns
        -------
        datetime.date or None
            None when ``symbols`` is empty, when any symbol is unknown (see
            :meth:`unknown_symbols`) or when the series share no date.
        """
        wanted = set(symbols)
        price_dates = self._snapshot().price_dates
        if not wanted or not wanted <= price_dates.keys():
            return None
        common = reduce(np.intersect1d, (price_dates[s] for s in sorted(wanted)))
        return pd.Timestamp(common[-1]).date() if common.size else None

    def latest_rate_date(self, tenor: str = "10y") -> dt.date | None:
        """Latest date with a treasury point at ``tenor`` (one of :data:`~sigmasight_lib.curves.TENORS`).

        Raises
        ------
        ValueError
            For a tenor not in :data:`~sigmasight_lib.curves.TENORS`.
        """
        if tenor not in TENORS:
            raise ValueError(f"unknown tenor {tenor!r}; expected one of {', '.join(TENORS)}")
        rates = self._snapshot().rates
        dates = rates.loc[rates["tenor"] == tenor, "date"]
        return None if dates.empty else dates.max().date()
