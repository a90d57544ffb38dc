"""Live market data from Yahoo Finance through :mod:`yfinance` (``SIGMASIGHT_MARKET_DATA=yfinance``).

Every call goes over the network to Yahoo's unofficial JSON API; yfinance
performs a cookie/crumb handshake (``fc.yahoo.com``, ``/v1/test/getcrumb``)
before its first request and then calls:

=============================  ==================================================
method                         Yahoo endpoint
=============================  ==================================================
fetch_prices, latest_date,     ``query2 /v8/finance/chart/{symbol}`` (daily bars;
unknown_symbols                ``range=1d`` first, to learn the exchange timezone)
fetch_rates, latest_rate_date  the same chart API for ``^IRX`` and ``^TNX``
fetch_metadata                 ``query2 /v10/finance/quoteSummary/{symbol}``,
                               ``query1 /v7/finance/quote``, ``query1
                               /ws/fundamentals-timeseries/...``
fetch_option_quotes            ``query2 /v7/finance/options/{underlying}``
=============================  ==================================================

Symbols
-------
Every request asks for :func:`yahoo_symbol` of the SigmaSight symbol (class
shares ``BRK.B`` -> ``BRK-B``, index underlyings ``SPX`` -> ``^SPX``,
``NDX``/``RUT``/``VIX`` likewise); results carry the symbol as the caller
wrote it. Option chains are asked of the underlying of the contract's root
(:func:`~sigmasight_lib.portfolios.option_symbols.root_underlying`: ``SPXW``
and ``SPX`` contracts are both in the ``^SPX`` chain).

Units
-----
Prices are in the listing currency per share (index points for indices),
volumes in shares, ``adj_close`` is Yahoo's split- and dividend-adjusted close.
Yahoo quotes the treasury proxies ``^IRX`` (13-week bill) and ``^TNX``
(10-year note) in percent (4.25 = 4.25 %); :meth:`YFinanceProvider.fetch_rates`
returns decimals (0.0425). Implied volatilities are annualized decimals.

Errors
------
*Yahoo answers that it has no data* for a symbol (chart error "No data found,
symbol may be delisted", HTTP 404 from quoteSummary): the symbol is absent
from the result and reported by :meth:`YFinanceProvider.unknown_symbols`.
*Yahoo cannot be reached or fails* (connection or timeout errors, HTTP errors,
an HTML page where JSON was expected, rate limiting): the request is retried
with exponential backoff and then raises
:class:`~sigmasight_lib.exceptions.ProviderUnavailableError`. The two cases are
never confused: by default yfinance logs errors and returns empty frames, so
every yfinance call here runs with ``yfinance.config.debug.hide_exceptions``
switched off (under a module lock, restored afterwards).

yfinance global state
---------------------
yfinance 1.7 keeps process-wide state this provider has to live with:

* one shared ``YfData`` object holds the HTTP session, cookie and crumb. A
  ``session`` given to :class:`YFinanceProvider` becomes the session of *every*
  yfinance call in the process, including those of other provider instances.
* an in-memory LRU cache of responses (chart requests for past date ranges and
  the timezone probe), failed responses included; it is cleared before each
  retry so that a retry really asks Yahoo again.
* on-disk timezone and cookie caches under the user cache directory
  (``yfinance.set_tz_cache_location`` moves them, but only before first use).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import requests
import yfinance as yf
from curl_cffi import requests as curl_requests
from yfinance.data import YfData
from yfinance.exceptions import YFException, YFTickerMissingError

from sigmasight_lib.curves import TENORS
from sigmasight_lib.exceptions import ConfigError, ProviderUnavailableError, UnknownSymbolError
from sigmasight_lib.marketdata.base import (
    METADATA_COLUMNS,
    OPTION_QUOTE_COLUMNS,
    PRICE_COLUMNS,
    RATE_COLUMNS,
    empty_frame,
)
from sigmasight_lib.portfolios.option_symbols import root_underlying

log = logging.getLogger(__name__)

T = TypeVar("T")

HttpSession = curl_requests.Session | requests.Session
"""HTTP sessions yfinance accepts (``curl_cffi`` is its default backend)."""

RATE_SYMBOLS: dict[str, str] = {"3m": "^IRX", "10y": "^TNX"}
"""Yahoo tickers of the treasury tenors this provider serves, quoted in percent."""

YAHOO_INDEX_SYMBOLS: dict[str, str] = {
    "SPX": "^SPX",
    "NDX": "^NDX",
    "RUT": "^RUT",
    "VIX": "^VIX",
    "XSP": "^XSP",
    "OEX": "^OEX",
    "DJX": "^DJX",
}
"""Index underlyings (as option roots name them) -> Yahoo's ``^`` index tickers."""

ASSET_TYPES: dict[str, str] = {
    "EQUITY": "stock",
    "ETF": "etf",
    "INDEX": "index",
    "FUTURE": "commodity",
}
"""Yahoo ``quoteType`` -> SigmaSight ``asset_type`` (see :func:`yahoo_asset_type`)."""

RECENT_RANGE = "5d"
"""Yahoo chart range probed by :meth:`YFinanceProvider.latest_date` and
:meth:`YFinanceProvider.unknown_symbols`: five sessions, enough to bridge
holidays and exchanges with different calendars."""

MIN_IMPLIED_VOL = 1e-4
"""Implied vols below this (0.01 %) are Yahoo's placeholder for "not computed"
(it reports 1e-05 for contracts without a usable bid/ask) and become NaN."""

UNAVAILABLE_HINT = (
    "Check the network connection, or set SIGMASIGHT_MARKET_DATA=offline to work "
    "from the offline snapshot without network."
)

_NETWORK_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # curl_cffi and requests errors (connection, timeout, HTTP status), sockets
    json.JSONDecodeError,  # an HTML error page where Yahoo should have sent JSON
    YFException,  # yfinance's rate-limit and "Yahoo! Finance is currently down" errors
)
"""Failures meaning Yahoo could not deliver: retried, then ProviderUnavailableError."""

_OCC_SYMBOL = re.compile(r"(?P<root>[A-Z][A-Z0-9.]{0,5})(?P<expiry>\d{6})[CP]\d{8}")
"""Compact OCC contract symbol: root, YYMMDD expiry, C/P, strike x 1000 in 8 digits."""

_CLASS_SHARE = re.compile(r"(?P<base>[A-Z]{1,5})[./ ](?P<share_class>[A-Z]{1,2})")
"""A class share as SigmaSight and brokers write it: ``BRK.B``, ``BRK/B``, ``BF.B``."""

_YFINANCE_LOCK = threading.Lock()

_RECENT_WINDOW: Mapping[str, object] = {"period": RECENT_RANGE}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class YFinanceProvider:
    """:class:`~sigmasight_lib.marketdata.base.MarketDataProvider` backed by Yahoo Finance.

    Parameters
    ----------
    retries : int, default=3
        Attempts per request (at least 1) before
        :class:`~sigmasight_lib.exceptions.ProviderUnavailableError`.
    backoff_seconds : float, default=1.0
        Wait before the second attempt, in seconds; it doubles before each
        further attempt (1 s, 2 s, ...). ``0`` retries at once.
    session : curl_cffi.requests.Session or requests.Session, optional
        HTTP session handed to yfinance (tests pass a replaying session).
        Default: yfinance's own ``curl_cffi`` session. yfinance shares one
        session per process, so this replaces it for every yfinance user.
    clock : callable, optional
        Returns the current time as an aware ``datetime``; default UTC now.
        Used to leave out the bar of a session that is still trading.

    Raises
    ------
    ConfigError
        For ``retries < 1``, a negative backoff or an unsupported session type.

    Notes
    -----
    Nothing is fetched at construction. During a trading session Yahoo adds a
    live bar for the current day; it is dropped until the session's regular
    close (``currentTradingPeriod`` in the chart metadata) has passed, so a
    partial day is never returned, and never cached, as a daily close.
    """

    name: str = "yfinance"

    def __init__(
        self,
        *,
        retries: int = 3,
        backoff_seconds: float = 1.0,
        session: HttpSession | None = None,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        if retries < 1:
            raise ConfigError(f"yfinance retries must be at least 1, got {retries}")
        if backoff_seconds < 0:
            raise ConfigError(f"yfinance backoff must be >= 0 seconds, got {backoff_seconds}")
        if session is not None and not isinstance(
            session, curl_requests.Session | requests.Session
        ):
            raise ConfigError(
                f"yfinance needs a curl_cffi or requests Session, got {type(session).__name__}"
            )
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._session = session
        self._clock = clock

    # ----------------------------------------------------------------- protocol

    def fetch_prices(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily prices for ``symbols`` with ``start <= date <= end`` (both inclusive).

        Returns
        -------
        DataFrame
            :data:`~sigmasight_lib.marketdata.base.PRICE_COLUMNS`, sorted by
            symbol then date, ``date`` as ``datetime.date`` in the exchange's
            timezone. ``open``/``high``/``low``/``close`` are as traded,
            ``adj_close`` split- and dividend-adjusted (currency per share),
            ``volume`` in shares, ``total_return`` NaN. Symbols Yahoo has no
            data for in the range are absent.

        Raises
        ------
        ProviderUnavailableError
            When Yahoo cannot be reached after the configured retries.
        """
        if end < start:
            return empty_frame(PRICE_COLUMNS)
        frames = []
        for symbol in dict.fromkeys(symbols):
            bars = self._daily_bars(symbol, _date_window(start, end))
            if bars is not None:
                prices = _price_frame(symbol, bars)
                frames.append(prices[prices["date"].between(start, end)])
        if not frames:
            return empty_frame(PRICE_COLUMNS)
        prices = pd.concat(frames, ignore_index=True)
        return prices.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)

    def fetch_rates(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        """Treasury yields for the tenors of :data:`RATE_SYMBOLS`, ``start <= date <= end``.

        Returns
        -------
        DataFrame
            :data:`~sigmasight_lib.marketdata.base.RATE_COLUMNS`, sorted by date
            then tenor (shortest first); ``yield_rate`` is the daily close of
            ``^IRX``/``^TNX`` converted from percent to a decimal (4.25 -> 0.0425).

        Raises
        ------
        ProviderUnavailableError
            When Yahoo cannot be reached after the configured retries.
        """
        if end < start:
            return empty_frame(RATE_COLUMNS)
        frames = []
        for tenor, symbol in RATE_SYMBOLS.items():
            bars = self._daily_bars(symbol, _date_window(start, end))
            if bars is None:
                log.warning("Yahoo Finance has no %s treasury yields (%s)", tenor, symbol)
                continue
            frames.append(
                pd.DataFrame(
                    {
                        "date": bars.index.date,
                        "tenor": tenor,
                        "yield_rate": bars["Close"].to_numpy(dtype=float) / 100.0,
                    },
                    columns=list(RATE_COLUMNS),
                )
            )
        if not frames:
            return empty_frame(RATE_COLUMNS)
        rates = pd.concat(frames, ignore_index=True)
        rates = rates[rates["date"].between(start, end) & rates["yield_rate"].notna()]
        return (
            rates.assign(_rank=rates["tenor"].map(TENORS.index))
            .sort_values(["date", "_rank"], kind="stable")
            .drop(columns="_rank")
            .reset_index(drop=True)
        )

    def fetch_metadata(self, symbols: Sequence[str]) -> pd.DataFrame:
        """Name, sector, industry, asset type and currency from Yahoo's quote summary.

        Returns
        -------
        DataFrame
            :data:`~sigmasight_lib.marketdata.base.METADATA_COLUMNS`, sorted by
            symbol; fields Yahoo lacks (the sector of an ETF) are ``None``.
            ``asset_type`` follows :func:`yahoo_asset_type`. Unknown symbols
            are absent.

        Raises
        ------
        ProviderUnavailableError
            When Yahoo cannot be reached after the configured retries.
        """
        rows = []
        for symbol in dict.fromkeys(symbols):
            info = self._call("security metadata", [symbol], partial(self._info, symbol))
            if info is None:
                continue
            name = info.get("longName") or info.get("shortName")
            rows.append(
                {
                    "symbol": symbol,
                    "name": name,
                    "sector": info.get("sector"),
                    "industry": info.get("industry"),
                    "asset_type": yahoo_asset_type(info.get("quoteType"), name),
                    "currency": info.get("currency"),
                }
            )
        metadata = pd.DataFrame(rows, columns=list(METADATA_COLUMNS), dtype=object)
        return metadata.sort_values("symbol", kind="stable").reset_index(drop=True)

    def fetch_option_quotes(self, contract_symbols: Sequence[str], as_of: dt.date) -> pd.DataFrame:
        """Quotes and implied vols of compact OCC contracts from Yahoo's current option chains.

        Contracts are grouped by underlying and expiry; one chain request is
        made per group. Yahoo only serves the current chain, whose quotes date
        from the underlying's last regular-market trade: for any other
        ``as_of`` the contracts are absent (logged), never quotes of another day.

        Returns
        -------
        DataFrame
            :data:`~sigmasight_lib.marketdata.base.OPTION_QUOTE_COLUMNS` sorted
            by contract: ``implied_vol`` annualized decimal (NaN below
            :data:`MIN_IMPLIED_VOL`), ``bid``/``ask``/``last_price`` in currency
            per share of the underlying. Contracts of an expiry Yahoo does not
            list, or missing from the chain, are absent.

        Raises
        ------
        UnknownSymbolError
            For a symbol that is not a compact OCC contract symbol.
        ProviderUnavailableError
            When Yahoo cannot be reached after the configured retries.
        """
        groups: dict[tuple[str, dt.date], set[str]] = {}
        for contract in contract_symbols:
            root, expiry = _parse_occ(contract)
            groups.setdefault((root_underlying(root), expiry), set()).add(contract)
        frames = []
        for (underlying, expiry), contracts in sorted(groups.items()):
            chain = self._call(
                "option quotes", [underlying], partial(self._option_chain, underlying, expiry)
            )
            if chain is None:
                continue
            quotes, quote_date = chain
            if quote_date != as_of:
                log.info(
                    "Yahoo Finance %s options are quoted as of %s, not %s; contracts left out",
                    underlying,
                    quote_date,
                    as_of,
                )
                continue
            frames.append(quotes[quotes["contract_symbol"].isin(contracts)])
        if not frames:
            return empty_frame(OPTION_QUOTE_COLUMNS)
        quotes = pd.concat(frames, ignore_index=True)
        return quotes.sort_values("contract_symbol", kind="stable").reset_index(drop=True)

    def unknown_symbols(self, symbols: Iterable[str]) -> set[str]:
        """The subset of ``symbols`` for which Yahoo has no recent daily prices.

        Raises
        ------
        ProviderUnavailableError
            When Yahoo cannot be reached after the configured retries (an
            unreachable Yahoo never makes a symbol "unknown").
        """
        return {
            symbol
            for symbol in dict.fromkeys(symbols)
            if self._daily_bars(symbol, _RECENT_WINDOW) is None
        }

    def latest_date(self, symbols: Iterable[str]) -> dt.date | None:
        """Latest completed session in the last :data:`RECENT_RANGE` where all ``symbols`` have a price.

        Returns
        -------
        datetime.date or None
            None when ``symbols`` is empty, when any symbol has no recent
            prices or when the symbols share no date in the window.

        Raises
        ------
        ProviderUnavailableError
            When Yahoo cannot be reached after the configured retries.
        """
        common: set[dt.date] | None = None
        for symbol in dict.fromkeys(symbols):
            bars = self._daily_bars(symbol, _RECENT_WINDOW)
            dates = set() if bars is None else set(_price_frame(symbol, bars)["date"])
            if not dates:
                log.info("Yahoo Finance has no recent prices for %s", symbol)
                return None
            common = dates if common is None else common & dates
        return max(common) if common else None

    def latest_rate_date(self, tenor: str = "10y") -> dt.date | None:
        """Latest completed session in the last :data:`RECENT_RANGE` with a yield at ``tenor``.

        Returns
        -------
        datetime.date or None
            None for a tenor without a Yahoo proxy (only those of
            :data:`RATE_SYMBOLS` have one) or without recent data.

        Raises
        ------
        ValueError
            For a tenor not in :data:`~sigmasight_lib.curves.TENORS`.
        ProviderUnavailableError
            When Yahoo cannot be reached after the configured retries.
        """
        if tenor not in TENORS:
            raise ValueError(f"unknown tenor {tenor!r}; expected one of {', '.join(TENORS)}")
        symbol = RATE_SYMBOLS.get(tenor)
        if symbol is None:
            return None
        bars = self._daily_bars(symbol, _RECENT_WINDOW)
        if bars is None:
            return None
        dates = bars.index[bars["Close"].notna()].date
        return max(dates) if len(dates) else None

    # ----------------------------------------------------------------- requests

    def _call(self, what: str, symbols: Sequence[str], request: Callable[[], T]) -> T:
        """Run one yfinance request with retries; network failures end in ProviderUnavailableError.

        ``what`` and ``symbols`` only word the log and error messages.
        """
        attempt = 1
        while True:
            try:
                with _yfinance_raising():
                    return request()
            except _NETWORK_ERRORS as exc:
                if attempt >= self.retries:
                    log.debug("Yahoo Finance %s failed for good", what, exc_info=True)
                    raise ProviderUnavailableError(
                        _unavailable_message(what, symbols, attempt, exc)
                    ) from None
                delay = self.backoff_seconds * 2 ** (attempt - 1)
                log.warning(
                    "Yahoo Finance %s for %s failed (attempt %d of %d, %s); retrying in %.1f s",
                    what,
                    ", ".join(symbols),
                    attempt,
                    self.retries,
                    type(exc).__name__,
                    delay,
                )
                _forget_cached_responses()
                time.sleep(delay)
                attempt += 1

    def _daily_bars(self, symbol: str, window: Mapping[str, object]) -> pd.DataFrame | None:
        """Daily bars of completed sessions (yfinance ``history`` columns), None if Yahoo has none.

        ``window`` holds yfinance ``history`` arguments: ``start``/``end``
        (end exclusive) or ``period``.
        """
        return self._call("daily prices", [symbol], partial(self._history, symbol, window))

    def _history(self, symbol: str, window: Mapping[str, object]) -> pd.DataFrame | None:
        ticker = yf.Ticker(yahoo_symbol(symbol), session=self._session)
        try:
            bars = ticker.history(interval="1d", auto_adjust=False, actions=False, **window)
        except YFTickerMissingError as exc:
            log.info("Yahoo Finance has no daily prices for %s: %s", symbol, exc.rationale)
            return None
        except OSError as exc:
            # Without a timezone from the chart API yfinance asks quoteSummary,
            # which answers HTTP 404 for a symbol Yahoo does not know.
            if _http_status(exc) != 404:
                raise
            log.info("Yahoo Finance does not know %s (HTTP 404)", symbol)
            return None
        if bars.empty:
            log.info("Yahoo Finance has no daily prices for %s in %s", symbol, dict(window))
            return None
        return _completed_sessions(bars, ticker.history_metadata, self._clock())

    def _info(self, symbol: str) -> Mapping[str, Any] | None:
        try:
            info: Mapping[str, Any] = yf.Ticker(yahoo_symbol(symbol), session=self._session).info
        except OSError as exc:
            if _http_status(exc) != 404:
                raise
            log.info("Yahoo Finance does not know %s (quoteSummary: HTTP 404)", symbol)
            return None
        if not info.get("quoteType"):
            log.info("Yahoo Finance returned no quote type for %s; left out", symbol)
            return None
        return info

    def _option_chain(
        self, underlying: str, expiry: dt.date
    ) -> tuple[pd.DataFrame, dt.date | None] | None:
        """Quotes of every contract of one chain and the date they are quoted at."""
        ticker = yf.Ticker(yahoo_symbol(underlying), session=self._session)
        if expiry.isoformat() not in ticker.options:
            log.info("Yahoo Finance lists no %s options expiring %s", underlying, expiry)
            return None
        chain = ticker.option_chain(expiry.isoformat())
        if chain.calls is None:
            log.info("Yahoo Finance returned an empty %s chain for %s", underlying, expiry)
            return None
        listed = pd.concat([chain.calls, chain.puts], ignore_index=True)
        implied_vol = listed["impliedVolatility"].astype(float)
        quotes = pd.DataFrame(
            {
                "contract_symbol": listed["contractSymbol"].astype(object),
                "implied_vol": implied_vol.where(implied_vol >= MIN_IMPLIED_VOL),
                "bid": listed["bid"].astype(float),
                "ask": listed["ask"].astype(float),
                "last_price": listed["lastPrice"].astype(float),
            },
            columns=list(OPTION_QUOTE_COLUMNS),
        )
        return quotes, _quote_date(chain.underlying)


# --------------------------------------------------------------------- helpers


def yahoo_symbol(symbol: str) -> str:
    """Yahoo's spelling of a SigmaSight ticker; every Yahoo request goes through it.

    Class shares take a hyphen (``BRK.B`` -> ``BRK-B``), index underlyings
    of :data:`YAHOO_INDEX_SYMBOLS` a caret (``SPX`` -> ``^SPX``); anything
    else, ``^``-tickers included (``^IRX``), is unchanged. The offline
    provider keeps its own symbols (its snapshot spells the S&P 500 ``^GSPC``).

    Examples
    --------
    >>> yahoo_symbol("BRK.B"), yahoo_symbol("SPX"), yahoo_symbol("AAPL")
    ('BRK-B', '^SPX', 'AAPL')
    """
    text = symbol.strip().upper()
    if text in YAHOO_INDEX_SYMBOLS:
        return YAHOO_INDEX_SYMBOLS[text]
    share = _CLASS_SHARE.fullmatch(text)
    if share is not None:
        return f"{share['base']}-{share['share_class']}"
    return text


def yahoo_asset_type(quote_type: str | None, name: str | None) -> str | None:
    """SigmaSight asset type of a Yahoo ``quoteType`` (None for types without one).

    ``EQUITY`` -> ``stock``, ``ETF`` -> ``etf``, ``FUTURE`` -> ``commodity``,
    ``INDEX`` -> ``index``, or ``volatility_index`` when the index name says
    "Volatility" (``^VIX``: "CBOE Volatility Index"). Mutual funds,
    currencies, crypto and options have no SigmaSight asset type.
    """
    asset_type = ASSET_TYPES.get(quote_type or "")
    if asset_type == "index" and name and "volatility" in name.lower():
        return "volatility_index"
    return asset_type


def _date_window(start: dt.date, end: dt.date) -> Mapping[str, object]:
    """yfinance ``history`` arguments for ``[start, end]``: its ``end`` is exclusive."""
    return {"start": start, "end": end + dt.timedelta(days=1)}


@contextmanager
def _yfinance_raising() -> Iterator[None]:
    """Make yfinance raise its errors instead of logging them and returning empty data."""
    with _YFINANCE_LOCK:
        debug = yf.config.debug
        hidden = debug.hide_exceptions
        debug.hide_exceptions = False
        try:
            yield
        finally:
            debug.hide_exceptions = hidden


def _forget_cached_responses() -> None:
    """Empty yfinance's in-memory response cache, which also keeps failed responses."""
    YfData.cache_get.cache_clear()


def _http_status(exc: BaseException) -> int | None:
    """HTTP status carried by a curl_cffi or requests ``HTTPError`` (None for other errors)."""
    return getattr(getattr(exc, "response", None), "status_code", None)


def _unavailable_message(what: str, symbols: Sequence[str], attempts: int, exc: Exception) -> str:
    reason = " ".join(str(exc).split()) or "no details"
    if len(reason) > 200:
        reason = reason[:197] + "..."
    plural = "" if attempts == 1 else "s"
    return (
        f"Yahoo Finance could not be reached for {what} of {', '.join(symbols)} "
        f"after {attempts} attempt{plural} ({type(exc).__name__}: {reason}). {UNAVAILABLE_HINT}"
    )


def _completed_sessions(
    bars: pd.DataFrame, metadata: Mapping[str, Any], now: dt.datetime
) -> pd.DataFrame:
    """``bars`` without the bar of the current session while that session still trades.

    ``metadata`` is yfinance's formatted chart metadata; its
    ``currentTradingPeriod.regular.end`` is an aware Timestamp in the
    exchange's timezone.
    """
    if "currentTradingPeriod" not in metadata:
        return bars
    session_end = metadata["currentTradingPeriod"]["regular"]["end"]
    if pd.Timestamp(now) >= session_end:
        return bars
    return bars[bars.index.date != session_end.date()]


def _price_frame(symbol: str, bars: pd.DataFrame) -> pd.DataFrame:
    """yfinance daily bars (``auto_adjust=False``) as PRICE_COLUMNS rows that carry a price."""
    prices = pd.DataFrame(
        {
            "date": bars.index.date,
            "symbol": symbol,
            "open": bars["Open"].to_numpy(dtype=float),
            "high": bars["High"].to_numpy(dtype=float),
            "low": bars["Low"].to_numpy(dtype=float),
            "close": bars["Close"].to_numpy(dtype=float),
            "adj_close": bars["Adj Close"].to_numpy(dtype=float),
            "volume": bars["Volume"].to_numpy(dtype=float),
            "total_return": np.full(len(bars), np.nan),
        },
        columns=list(PRICE_COLUMNS),
    )
    return prices[prices[["close", "adj_close"]].notna().any(axis=1)]


def _parse_occ(contract: str) -> tuple[str, dt.date]:
    """Root and expiry of a compact OCC symbol (the root's underlying names the chain).

    Raises
    ------
    UnknownSymbolError
        When ``contract`` is not ``ROOT YYMMDD C|P strike*1000`` (8 digits)
        written without spaces, e.g. ``AAPL170616C00140000``.
    """
    match = _OCC_SYMBOL.fullmatch(contract)
    if match is not None:
        with suppress(ValueError):  # a malformed date such as 241331
            return match["root"], dt.datetime.strptime(match["expiry"], "%y%m%d").date()
    raise UnknownSymbolError(
        f"{contract!r} is not a compact OCC option symbol "
        "(root, YYMMDD expiry, C or P, strike x 1000 in 8 digits, e.g. AAPL170616C00140000)"
    )


def _quote_date(quote: Mapping[str, Any] | None) -> dt.date | None:
    """Exchange-local date of a Yahoo quote's last regular-market trade (None if unknown)."""
    if not quote:
        return None
    seconds = quote.get("regularMarketTime")
    timezone = quote.get("exchangeTimezoneName")
    if seconds is None or timezone is None:
        return None
    return pd.Timestamp(seconds, unit="s", tz="UTC").tz_convert(timezone).date()
