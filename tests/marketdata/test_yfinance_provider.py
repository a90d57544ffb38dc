"""YFinanceProvider against recorded Yahoo Finance responses; nothing touches the network.

yfinance runs unchanged on a :class:`ReplaySession` (``yf_replay.py``) that
serves ``recorded/yfinance/`` and fails every unrecorded request. Expected
values are read from the recorded JSON bodies with :mod:`json` alone (dates
from the timestamps in the exchange timezone the response names), so they
follow a re-recording; see ``recorded/yfinance/README.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
import yfinance as yf
from yfinance import base as yf_base

from sigmasight_lib.exceptions import ConfigError, ProviderUnavailableError, UnknownSymbolError
from sigmasight_lib.marketdata import get_provider
from sigmasight_lib.marketdata import yfinance_provider as yfp
from sigmasight_lib.marketdata.base import (
    METADATA_COLUMNS,
    OPTION_QUOTE_COLUMNS,
    PRICE_COLUMNS,
    RATE_COLUMNS,
    MarketDataProvider,
)
from sigmasight_lib.marketdata.yfinance_provider import (
    YFinanceProvider,
    yahoo_asset_type,
    yahoo_symbol,
)
from tests.marketdata.yf_replay import (
    OPTION_UNDERLYING,
    PRICE_END,
    PRICE_START,
    PRICE_SYMBOLS,
    UNKNOWN_SYMBOL,
    HttpRequest,
    Intercept,
    ReplaySession,
    isolated_yfinance,
    load_manifest,
    make_response,
    recorded,
    refuse_connection,
)

CHART = "/v8/finance/chart/"
OPTIONS = f"/v7/finance/options/{OPTION_UNDERLYING}"


# ------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def _fresh_yfinance() -> Iterator[None]:
    """Every test starts from new yfinance global state, without disk caches."""
    with isolated_yfinance():
        yield


@pytest.fixture
def replay_session() -> Iterator[Callable[..., ReplaySession]]:
    """Factory of replay sessions; the test fails if one saw an unrecorded request."""
    sessions: list[ReplaySession] = []

    def make(intercept: Intercept | None = None) -> ReplaySession:
        sessions.append(ReplaySession(intercept=intercept))
        return sessions[-1]

    yield make
    unrecorded = [str(request) for session in sessions for request in session.unrecorded]
    assert not unrecorded, f"requests without a recording: {unrecorded}"


@pytest.fixture
def replay(replay_session: Callable[..., ReplaySession]) -> ReplaySession:
    return replay_session()


def provider_for(session: ReplaySession, **kwargs: Any) -> YFinanceProvider:
    return YFinanceProvider(session=session, backoff_seconds=0.0, **kwargs)


# ------------------------------------------------------- expected, from the JSON


def chart_bars(symbol: str, **params: str) -> pd.DataFrame:
    """The daily bars of one recorded chart response, parsed with json only."""
    result = recorded(CHART + symbol, **params).json()["chart"]["result"][0]
    timezone = ZoneInfo(result["meta"]["exchangeTimezoneName"])
    quote = result["indicators"]["quote"][0]
    return pd.DataFrame(
        {
            "date": [dt.datetime.fromtimestamp(t, timezone).date() for t in result["timestamp"]],
            "open": quote["open"],
            "high": quote["high"],
            "low": quote["low"],
            "close": quote["close"],
            "adj_close": result["indicators"]["adjclose"][0]["adjclose"],
            "volume": [float(v) for v in quote["volume"]],
        }
    )


def window_bars(symbol: str) -> pd.DataFrame:
    """Bars of the PRICE_START..PRICE_END request."""
    return chart_bars(symbol, period1="*")


def recent_bars(symbol: str) -> pd.DataFrame:
    """Bars of the last-five-sessions request."""
    return chart_bars(symbol, range="5d")


def recorded_chain() -> tuple[dt.date, dt.date, list[dict[str, Any]]]:
    """Expiry, quote date and contracts (calls then puts) of the recorded option chain."""
    entry = recorded(OPTIONS, date="*")
    result = entry.json()["optionChain"]["result"][0]
    expiry = dt.datetime.fromtimestamp(int(entry.request.param("date") or 0), dt.UTC).date()
    quote = result["quote"]
    timezone = ZoneInfo(quote["exchangeTimezoneName"])
    as_of = dt.datetime.fromtimestamp(quote["regularMarketTime"], timezone).date()
    chain = result["options"][0]
    return expiry, as_of, chain["calls"] + chain["puts"]


# ------------------------------------------------------------------- protocol


def test_registered_as_the_yfinance_provider_without_touching_the_network() -> None:
    provider = get_provider("yfinance")
    assert isinstance(provider, YFinanceProvider)
    assert isinstance(provider, MarketDataProvider)
    assert provider.name == "yfinance"


@pytest.mark.parametrize(
    "kwargs", [{"retries": 0}, {"backoff_seconds": -1.0}, {"session": object()}]
)
def test_invalid_settings_are_config_errors(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        YFinanceProvider(**kwargs)


# --------------------------------------------------------------------- prices


def test_prices_equal_the_recorded_chart(replay: ReplaySession) -> None:
    prices = provider_for(replay).fetch_prices(["SPY", "AAPL"], PRICE_START, PRICE_END)

    expected = pd.concat(
        [window_bars(symbol).assign(symbol=symbol) for symbol in sorted(PRICE_SYMBOLS)],
        ignore_index=True,
    ).assign(total_return=np.nan)[list(PRICE_COLUMNS)]
    assert len(expected) == 10
    pd.testing.assert_frame_equal(prices, expected, check_exact=True)
    assert all(type(day) is dt.date for day in prices["date"])


def test_end_date_is_inclusive(replay: ReplaySession) -> None:
    prices = provider_for(replay).fetch_prices(["AAPL"], PRICE_START, PRICE_END)

    bars = window_bars("AAPL")
    assert bars["date"].iloc[-1] == PRICE_END  # the recording has a bar on the end day
    assert prices["date"].iloc[-1] == PRICE_END
    assert prices["adj_close"].iloc[-1] == bars["adj_close"].iloc[-1]
    # yfinance's end is exclusive: the provider must ask up to the midnight after PRICE_END.
    meta = recorded(CHART + "AAPL", period1="*").json()["chart"]["result"][0]["meta"]
    midnight = dt.datetime.combine(
        PRICE_END + dt.timedelta(days=1), dt.time(), ZoneInfo(meta["exchangeTimezoneName"])
    )
    period2 = {r.param("period2") for r in replay.requests if r.path.endswith(CHART + "AAPL")}
    assert period2 - {None} == {str(int(midnight.timestamp()))}


def test_bars_yahoo_sends_outside_the_window_are_dropped(
    replay_session: Callable[..., ReplaySession],
) -> None:
    entry = recorded(CHART + "AAPL", period1="*")
    body = entry.json()
    result = body["chart"]["result"][0]
    week = 7 * 86400
    result["timestamp"] = [
        result["timestamp"][0] - week,
        *result["timestamp"],
        result["timestamp"][-1] + week,
    ]
    for series in [
        *result["indicators"]["quote"][0].values(),
        result["indicators"]["adjclose"][0]["adjclose"],
    ]:
        series[:] = [series[0], *series, series[-1]]

    def widened(request: HttpRequest) -> Any:
        if request.key() == entry.request.key():
            return make_response(request, 200, entry.content_type, json.dumps(body).encode())
        return None

    prices = provider_for(replay_session(widened)).fetch_prices(["AAPL"], PRICE_START, PRICE_END)

    assert list(prices["date"]) == list(window_bars("AAPL")["date"])


def test_an_empty_window_makes_no_request(replay: ReplaySession) -> None:
    provider = provider_for(replay)
    assert provider.fetch_prices(["AAPL"], PRICE_END, PRICE_START).empty
    assert provider.fetch_rates(PRICE_END, PRICE_START).empty
    assert replay.requests == []


def test_rates_are_decimal_yields_of_irx_and_tnx(replay: ReplaySession) -> None:
    rates = provider_for(replay).fetch_rates(PRICE_START, PRICE_END)

    assert list(rates.columns) == list(RATE_COLUMNS)
    for tenor, symbol in (("3m", "^IRX"), ("10y", "^TNX")):
        bars = window_bars(symbol)
        got = rates[rates["tenor"] == tenor]
        assert list(got["date"]) == list(bars["date"])
        # Yahoo quotes yields in percent (4.25 = 4.25 %): the provider divides by 100.
        np.testing.assert_array_equal(got["yield_rate"].to_numpy(), bars["close"].to_numpy() / 100)
        assert got["yield_rate"].between(0.001, 0.2).all()
    first_day = rates[rates["date"] == rates["date"].min()]
    assert list(first_day["tenor"]) == ["3m", "10y"]


# ------------------------------------------------------------------- metadata


def test_metadata_from_quote_summary(replay: ReplaySession) -> None:
    metadata = provider_for(replay).fetch_metadata(["SPY", UNKNOWN_SYMBOL, "AAPL"])

    assert list(metadata.columns) == list(METADATA_COLUMNS)
    assert list(metadata["symbol"]) == ["AAPL", "SPY"]  # the unknown symbol is absent
    aapl = recorded("/quoteSummary/AAPL").json()["quoteSummary"]["result"][0]
    spy = recorded("/quoteSummary/SPY").json()["quoteSummary"]["result"][0]
    assert metadata.iloc[0].to_dict() == {
        "symbol": "AAPL",
        "name": aapl["quoteType"]["longName"],
        "sector": aapl["assetProfile"]["sector"],
        "industry": aapl["assetProfile"]["industry"],
        "asset_type": "stock",
        "currency": aapl["summaryDetail"]["currency"],
    }
    assert metadata.iloc[1].to_dict() == {
        "symbol": "SPY",
        "name": spy["quoteType"]["longName"],
        "sector": None,
        "industry": None,
        "asset_type": "etf",
        "currency": spy["summaryDetail"]["currency"],
    }


@pytest.mark.parametrize(
    ("quote_type", "name", "expected"),
    [
        ("EQUITY", "Apple Inc.", "stock"),
        ("ETF", "SPDR S&P 500 ETF Trust", "etf"),
        ("INDEX", "S&P 500", "index"),
        ("INDEX", "CBOE Volatility Index", "volatility_index"),
        ("FUTURE", "Crude Oil Jul 24", "commodity"),
        ("MUTUALFUND", "Vanguard 500 Index Fund Admiral Shares", None),
        (None, None, None),
    ],
)
def test_asset_type_from_quote_type(
    quote_type: str | None, name: str | None, expected: str | None
) -> None:
    assert yahoo_asset_type(quote_type, name) == expected


# -------------------------------------------------------------------- options


def test_option_quotes_for_recorded_contracts(replay: ReplaySession) -> None:
    expiry, as_of, contracts = recorded_chain()
    quoted = [c for c in contracts if c["impliedVolatility"] >= yfp.MIN_IMPLIED_VOL]
    wanted = {c["contractSymbol"]: c for c in (quoted[0], quoted[-1])}
    not_in_chain = f"{OPTION_UNDERLYING}{expiry:%y%m%d}C09999000"

    quotes = provider_for(replay).fetch_option_quotes([*wanted, not_in_chain], as_of)

    assert list(quotes.columns) == list(OPTION_QUOTE_COLUMNS)
    assert list(quotes["contract_symbol"]) == sorted(wanted)
    for row in quotes.itertuples():
        contract = wanted[row.contract_symbol]
        assert row.implied_vol == contract["impliedVolatility"]  # already a decimal
        assert (row.bid, row.ask, row.last_price) == (
            contract["bid"],
            contract["ask"],
            contract["lastPrice"],
        )
    assert replay.count(OPTIONS) == 2  # expiries, then one chain for both contracts


def test_placeholder_implied_vol_becomes_nan(replay: ReplaySession) -> None:
    _, as_of, contracts = recorded_chain()
    placeholders = [c for c in contracts if c["impliedVolatility"] < yfp.MIN_IMPLIED_VOL]
    if not placeholders:
        pytest.skip("this recording has no contract with Yahoo's 1e-05 placeholder vol")
    symbol = placeholders[0]["contractSymbol"]

    quotes = provider_for(replay).fetch_option_quotes([symbol], as_of)

    assert list(quotes["contract_symbol"]) == [symbol]
    assert math.isnan(quotes["implied_vol"].iloc[0])


def test_option_quotes_of_another_day_are_absent(replay: ReplaySession) -> None:
    _, as_of, contracts = recorded_chain()

    quotes = provider_for(replay).fetch_option_quotes(
        [contracts[0]["contractSymbol"]], as_of - dt.timedelta(days=1)
    )

    assert quotes.empty
    assert list(quotes.columns) == list(OPTION_QUOTE_COLUMNS)
    assert replay.count(OPTIONS) == 2


def test_contracts_of_an_unlisted_expiry_are_absent(replay: ReplaySession) -> None:
    _, as_of, _ = recorded_chain()

    quotes = provider_for(replay).fetch_option_quotes(
        [f"{OPTION_UNDERLYING}991218C00200000"], as_of
    )

    assert quotes.empty
    assert replay.count(OPTIONS) == 1  # the list of expiries only, no chain request


@pytest.mark.parametrize(
    "symbol",
    [
        "AAPL",
        "AAPL  240614C00195000",
        "aapl240614c00195000",
        "AAPL240614X00195000",
        "AAPL240614C0019500",
        "AAPL241331C00195000",
    ],
)
def test_malformed_contract_symbols_are_rejected(replay: ReplaySession, symbol: str) -> None:
    with pytest.raises(UnknownSymbolError, match="not a compact OCC option symbol"):
        provider_for(replay).fetch_option_quotes([symbol], PRICE_END)
    assert replay.requests == []


# ------------------------------------------------------------ Yahoo's spelling


def stand_in(yahoo: str, recorded_as: str) -> Intercept:
    """Serve requests for Yahoo's ``yahoo`` ticker with the recording of ``recorded_as``.

    Only Yahoo's spelling is served: a request for any other spelling of the
    symbol finds no recording and fails the test.
    """
    entries = {entry.request.key(): entry for entry in load_manifest()}

    def intercept(request: HttpRequest) -> Any:
        if yahoo not in request.url and all(yahoo not in v for _, v in request.params):
            return None
        recorded_request = HttpRequest(
            request.method,
            request.url.replace(yahoo, recorded_as),
            tuple((k, v.replace(yahoo, recorded_as)) for k, v in request.params),
        )
        entry = entries.get(recorded_request.key())
        if entry is None:
            return None  # unrecorded: the fixture fails the test
        return make_response(request, entry.status, entry.content_type, entry.body())

    return intercept


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [
        ("BRK.B", "BRK-B"),
        ("BRK/B", "BRK-B"),
        ("BF.B", "BF-B"),
        ("SPX", "^SPX"),
        ("NDX", "^NDX"),
        ("RUT", "^RUT"),
        ("VIX", "^VIX"),
        ("^VIX", "^VIX"),
        ("^IRX", "^IRX"),
        ("AAPL", "AAPL"),
        ("GOOGL", "GOOGL"),
    ],
)
def test_yahoo_symbol(symbol: str, expected: str) -> None:
    assert yahoo_symbol(symbol) == expected


@pytest.mark.parametrize(("symbol", "yahoo"), [("BRK.B", "BRK-B"), ("SPX", "^SPX")])
def test_prices_and_metadata_are_asked_in_yahoos_spelling(
    replay_session: Callable[..., ReplaySession], symbol: str, yahoo: str
) -> None:
    replay = replay_session(stand_in(yahoo, "AAPL"))
    provider = provider_for(replay)

    prices = provider.fetch_prices([symbol], PRICE_START, PRICE_END)
    metadata = provider.fetch_metadata([symbol])

    assert set(prices["symbol"]) == {symbol}  # results keep the caller's symbol
    assert list(prices["adj_close"]) == list(window_bars("AAPL")["adj_close"])
    assert list(metadata["symbol"]) == [symbol]
    assert replay.count(CHART + yahoo) > 0
    assert replay.count(f"/quoteSummary/{yahoo}") == 1
    assert provider.unknown_symbols([symbol]) == set()


@pytest.mark.parametrize(("root", "yahoo"), [("SPXW", "^SPX"), ("SPX", "^SPX"), ("BRKB", "BRK-B")])
def test_option_chains_are_asked_of_the_roots_underlying(
    replay_session: Callable[..., ReplaySession], root: str, yahoo: str
) -> None:
    expiry, as_of, _ = recorded_chain()
    replay = replay_session(stand_in(yahoo, OPTION_UNDERLYING))

    quotes = provider_for(replay).fetch_option_quotes([f"{root}{expiry:%y%m%d}P05200000"], as_of)

    assert quotes.empty  # the stand-in chain lists AAPL contracts only
    assert replay.count(f"/v7/finance/options/{yahoo}") == 2  # expiries, then the chain
    assert [r for r in replay.requests if "/options/" in r.path and yahoo not in r.path] == []


# ---------------------------------------------------- unknown symbols, latest dates


@pytest.mark.parametrize(
    "timezone_lookups_done",
    [0, 2],
    ids=["quoteSummary-timezone-fallback", "chart-only"],
)
def test_unknown_symbol_is_reported_and_absent_from_prices(
    replay: ReplaySession, monkeypatch: pytest.MonkeyPatch, timezone_lookups_done: int
) -> None:
    # yfinance asks quoteSummary for a missing timezone only twice per process
    # (yfinance.base._tz_info_fetch_ctr): both paths must read as "unknown".
    # One attempt only: each retry advances that counter, which would hide a
    # 404 taken for a network failure on the first attempt.
    monkeypatch.setattr(yf_base, "_tz_info_fetch_ctr", timezone_lookups_done)
    provider = provider_for(replay, retries=1)

    assert provider.unknown_symbols([*PRICE_SYMBOLS, UNKNOWN_SYMBOL]) == {UNKNOWN_SYMBOL}
    prices = provider.fetch_prices(["AAPL", UNKNOWN_SYMBOL], PRICE_START, PRICE_END)

    assert set(prices["symbol"]) == {"AAPL"}
    assert replay.count(CHART + UNKNOWN_SYMBOL) > 0  # Yahoo was asked and said 404
    asked_quote_summary = replay.count(f"/quoteSummary/{UNKNOWN_SYMBOL}") > 0
    assert asked_quote_summary == (timezone_lookups_done < 2)


def test_latest_date_is_the_last_common_session(replay: ReplaySession) -> None:
    expected = max(set(recent_bars("AAPL")["date"]) & set(recent_bars("SPY")["date"]))
    provider = provider_for(replay)

    assert provider.latest_date(["SPY", "AAPL"]) == expected
    assert provider.latest_date(["AAPL", UNKNOWN_SYMBOL]) is None
    assert provider.latest_date([]) is None


def test_bar_of_a_session_still_trading_is_left_out(
    replay_session: Callable[..., ReplaySession],
) -> None:
    meta = recorded(CHART + "AAPL", range="5d").json()["chart"]["result"][0]["meta"]
    regular = meta["currentTradingPeriod"]["regular"]
    session_day = dt.datetime.fromtimestamp(
        regular["end"], ZoneInfo(meta["exchangeTimezoneName"])
    ).date()
    common = sorted(set(recent_bars("AAPL")["date"]) & set(recent_bars("SPY")["date"]))
    if common[-1] != session_day:
        pytest.skip("recorded on a day without a session: no live bar to leave out")
    midday = dt.datetime.fromtimestamp((regular["start"] + regular["end"]) // 2, dt.UTC)
    closed = dt.datetime.fromtimestamp(regular["end"], dt.UTC)

    trading = provider_for(replay_session(), clock=lambda: midday)
    after_close = provider_for(replay_session(), clock=lambda: closed)

    assert trading.latest_date(["AAPL", "SPY"]) == common[-2]
    assert after_close.latest_date(["AAPL", "SPY"]) == common[-1]


def test_latest_rate_date(replay: ReplaySession) -> None:
    provider = provider_for(replay)

    assert provider.latest_rate_date("10y") == max(recent_bars("^TNX")["date"])
    made = len(replay.requests)
    assert provider.latest_rate_date("7y") is None  # no Yahoo proxy for that tenor
    assert len(replay.requests) == made
    with pytest.raises(ValueError, match="unknown tenor"):
        provider.latest_rate_date("9y")


# --------------------------------------------------------- failures and retries

FAILING_CALLS: dict[str, tuple[Callable[[YFinanceProvider], object], str, str]] = {
    "fetch_prices": (
        lambda p: p.fetch_prices(["AAPL"], PRICE_START, PRICE_END),
        CHART + "AAPL",
        "AAPL",
    ),
    "fetch_rates": (lambda p: p.fetch_rates(PRICE_START, PRICE_END), CHART + "^IRX", "^IRX"),
    "fetch_metadata": (lambda p: p.fetch_metadata(["SPY"]), "/quoteSummary/SPY", "SPY"),
    "fetch_option_quotes": (
        lambda p: p.fetch_option_quotes(["AAPL240614C00195000"], PRICE_END),
        OPTIONS,
        "AAPL",
    ),
    "unknown_symbols": (lambda p: p.unknown_symbols(["SPY"]), CHART + "SPY", "SPY"),
    "latest_date": (lambda p: p.latest_date(["AAPL"]), CHART + "AAPL", "AAPL"),
    "latest_rate_date": (lambda p: p.latest_rate_date("10y"), CHART + "^TNX", "^TNX"),
}


@pytest.mark.parametrize("method", FAILING_CALLS)
def test_unreachable_yahoo_raises_after_exactly_the_configured_attempts(
    replay_session: Callable[..., ReplaySession], method: str
) -> None:
    call, endpoint, symbol = FAILING_CALLS[method]
    session = replay_session(intercept=refuse_connection)
    hide_exceptions = yf.config.debug.hide_exceptions

    with pytest.raises(ProviderUnavailableError) as raised:
        call(provider_for(session, retries=3))

    assert session.count(endpoint) == 3
    message = str(raised.value)
    assert "Yahoo Finance could not be reached" in message
    assert symbol in message
    assert "after 3 attempts" in message
    assert "SIGMASIGHT_MARKET_DATA=offline" in message
    assert "\n" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert yf.config.debug.hide_exceptions == hide_exceptions  # yfinance setting restored


def fail_first(
    count: int, failure: Callable[[HttpRequest], Any]
) -> tuple[Intercept, list[HttpRequest]]:
    """Intercept failing the first ``count`` AAPL chart requests with ``failure``; and their log."""
    failed: list[HttpRequest] = []

    def intercept(request: HttpRequest) -> Any:
        if request.path.endswith(CHART + "AAPL") and len(failed) < count:
            failed.append(request)
            return failure(request)
        return None

    return intercept, failed


def test_a_retry_after_a_connection_error_gets_the_data(
    replay_session: Callable[..., ReplaySession],
) -> None:
    intercept, failed = fail_first(1, refuse_connection)

    prices = provider_for(replay_session(intercept), retries=2).fetch_prices(
        ["AAPL"], PRICE_START, PRICE_END
    )

    assert len(failed) == 1
    assert list(prices["adj_close"]) == list(window_bars("AAPL")["adj_close"])


def test_without_retries_one_connection_error_is_fatal(
    replay_session: Callable[..., ReplaySession],
) -> None:
    intercept, failed = fail_first(1, refuse_connection)

    with pytest.raises(ProviderUnavailableError, match="after 1 attempt "):
        provider_for(replay_session(intercept), retries=1).fetch_prices(
            ["AAPL"], PRICE_START, PRICE_END
        )
    assert len(failed) == 1


HTTP_ERRORS = pytest.mark.parametrize(
    ("status", "content_type", "body"),
    [
        (503, "text/html", b"<html><body><h1>Will be right back...</h1></body></html>"),
        (429, "text/plain", b"Too Many Requests\r\n"),
    ],
    ids=["server-error-page", "rate-limited"],
)


def http_error(status: int, content_type: str, body: bytes) -> Callable[[HttpRequest], Any]:
    return lambda request: make_response(request, status, content_type, body)


@HTTP_ERRORS
def test_http_errors_are_retried_with_fresh_requests(
    replay_session: Callable[..., ReplaySession], status: int, content_type: str, body: bytes
) -> None:
    # yfinance re-sends a request answered >= 400 once itself and caches responses
    # in memory, failed ones too; the provider's retry must reach Yahoo again.
    intercept, failed = fail_first(2, http_error(status, content_type, body))

    prices = provider_for(replay_session(intercept), retries=3).fetch_prices(
        ["AAPL"], PRICE_START, PRICE_END
    )

    assert len(failed) == 2
    assert list(prices["date"]) == list(window_bars("AAPL")["date"])


@HTTP_ERRORS
def test_persistent_http_errors_make_yahoo_unavailable(
    replay_session: Callable[..., ReplaySession], status: int, content_type: str, body: bytes
) -> None:
    intercept, failed = fail_first(1000, http_error(status, content_type, body))

    with pytest.raises(ProviderUnavailableError, match="reached for daily prices of AAPL after 2"):
        provider_for(replay_session(intercept), retries=2).fetch_prices(
            ["AAPL"], PRICE_START, PRICE_END
        )
    assert failed


def test_backoff_doubles_between_attempts(
    replay_session: Callable[..., ReplaySession], monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []
    monkeypatch.setattr(yfp, "time", SimpleNamespace(sleep=delays.append))
    provider = YFinanceProvider(
        session=replay_session(refuse_connection), retries=4, backoff_seconds=0.5
    )

    with pytest.raises(ProviderUnavailableError):
        provider.fetch_prices(["AAPL"], PRICE_START, PRICE_END)

    assert delays == [0.5, 1.0, 2.0]
