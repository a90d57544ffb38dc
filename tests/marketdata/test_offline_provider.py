"""OfflineSnapshotProvider over the committed snapshot and over small hand-made snapshots.

Expected values were read by hand from the source files inside the wheels
(skfolio 1.12.2, arch 8.0.0, zipline-reloaded 3.2.1). No test uses the network.
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
from pathlib import Path

import pandas as pd
import pytest

from sigmasight_lib.curves import TENORS
from sigmasight_lib.exceptions import MarketDataError
from sigmasight_lib.marketdata import get_provider
from sigmasight_lib.marketdata.base import (
    METADATA_COLUMNS,
    OPTION_QUOTE_COLUMNS,
    PRICE_COLUMNS,
    RATE_COLUMNS,
    MarketDataProvider,
)
from sigmasight_lib.marketdata.cache import resolve_sync_end
from sigmasight_lib.marketdata.offline import (
    OfflineSnapshotProvider,
    load_provenance,
    snapshot_symbols,
)

STOCKS = [
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
]  # fmt: skip
FACTOR_ETFS = ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]
D = dt.date


@pytest.fixture(scope="module")
def provider() -> OfflineSnapshotProvider:
    return OfflineSnapshotProvider()


def _value(frame: pd.DataFrame, symbol: str, day: dt.date, column: str) -> float:
    row = frame[(frame["symbol"] == symbol) & (frame["date"] == day)]
    assert len(row) == 1, (symbol, day)
    return float(row[column].iloc[0])


# --------------------------------------------------------------------------- protocol


def test_implements_the_protocol_and_is_the_offline_provider() -> None:
    provider = get_provider("offline")
    assert isinstance(provider, OfflineSnapshotProvider)
    assert isinstance(provider, MarketDataProvider)
    assert provider.name == "offline"


def test_snapshot_symbols_are_the_tickers_not_the_rates() -> None:
    assert snapshot_symbols() == sorted(
        [*STOCKS, *FACTOR_ETFS, "SPY", "^GSPC", "^VIX", "DCOILWTICO"]
    )


def test_load_provenance_returns_an_independent_copy() -> None:
    first = load_provenance()
    assert first["common_end"] == "2017-03-29"
    first["common_end"] = "changed"
    assert load_provenance()["common_end"] == "2017-03-29"


# --------------------------------------------------------------------------- prices


def test_price_frame_layout(provider: OfflineSnapshotProvider) -> None:
    frame = provider.fetch_prices(["AAPL", "SPY"], D(2017, 3, 1), D(2017, 3, 31))
    assert tuple(frame.columns) == PRICE_COLUMNS
    assert all(type(d) is dt.date for d in frame["date"])
    assert list(zip(frame["symbol"], frame["date"], strict=True)) == sorted(
        zip(frame["symbol"], frame["date"], strict=True)
    )
    assert frame[["open", "high", "low", "close", "volume"]].isna().all().all()
    aapl, spy = frame[frame["symbol"] == "AAPL"], frame[frame["symbol"] == "SPY"]
    assert aapl["adj_close"].notna().all() and aapl["total_return"].isna().all()
    assert spy["total_return"].notna().all() and spy["adj_close"].isna().all()
    assert len(aapl) == len(spy) == 23  # NYSE sessions in March 2017


@pytest.mark.parametrize(
    ("symbol", "column", "expected"),
    [
        ("AAPL", "adj_close", 33.767),
        ("MSFT", "adj_close", 60.39),
        ("XOM", "adj_close", 60.316),
        ("MTUM", "adj_close", 76.242),
        ("USMV", "adj_close", 42.612),
        ("^GSPC", "close", 2361.13),
        ("^VIX", "close", 11.42),
        ("DCOILWTICO", "close", 49.47),
        ("SPY", "total_return", 0.0009349396338189653),
    ],
)
def test_spot_prices_on_2017_03_29(
    provider: OfflineSnapshotProvider, symbol: str, column: str, expected: float
) -> None:
    frame = provider.fetch_prices([symbol], D(2017, 3, 29), D(2017, 3, 29))
    assert _value(frame, symbol, D(2017, 3, 29), column) == expected


def test_range_bounds_are_inclusive(provider: OfflineSnapshotProvider) -> None:
    frame = provider.fetch_prices(["AAPL"], D(2017, 3, 27), D(2017, 3, 29))
    assert list(frame["date"]) == [D(2017, 3, 27), D(2017, 3, 28), D(2017, 3, 29)]
    assert list(frame["adj_close"]) == [33.007, 33.692, 33.767]


def test_unknown_symbols_and_rates_are_absent_from_prices(
    provider: OfflineSnapshotProvider,
) -> None:
    frame = provider.fetch_prices(["NOPE", "UST_10Y", "KO"], D(2017, 3, 1), D(2017, 3, 31))
    assert set(frame["symbol"]) == {"KO"}
    assert provider.fetch_prices(["AAPL"], D(2023, 1, 1), D(2023, 12, 31)).empty


def test_blank_source_days_have_no_row(provider: OfflineSnapshotProvider) -> None:
    wti = provider.fetch_prices(["DCOILWTICO"], D(2016, 7, 1), D(2016, 7, 6))
    assert list(wti["date"]) == [D(2016, 7, 1), D(2016, 7, 5), D(2016, 7, 6)]  # 7/4 is '.'
    vix = provider.fetch_prices(["^VIX"], D(2017, 4, 13), D(2017, 4, 17))
    assert list(vix["date"]) == [D(2017, 4, 13), D(2017, 4, 17)]  # Good Friday is '.'
    assert not wti["close"].isna().any() and not vix["close"].isna().any()


# --------------------------------------------------------------------------- rates


def test_rates_on_2017_03_29(provider: OfflineSnapshotProvider) -> None:
    frame = provider.fetch_rates(D(2017, 3, 29), D(2017, 3, 29))
    assert tuple(frame.columns) == RATE_COLUMNS
    assert list(frame["tenor"]) == list(TENORS)
    assert all(type(d) is dt.date for d in frame["date"])
    curve = dict(zip(frame["tenor"], frame["yield_rate"], strict=True))
    assert curve["1m"] == 0.0076
    assert curve["10y"] == 0.0239
    assert curve["30y"] == 0.0299


def test_early_curve_lacks_1m_and_20y(provider: OfflineSnapshotProvider) -> None:
    frame = provider.fetch_rates(D(1990, 1, 2), D(1990, 1, 2))
    assert list(frame["tenor"]) == ["3m", "6m", "1y", "2y", "3y", "5y", "7y", "10y", "30y"]
    assert dict(zip(frame["tenor"], frame["yield_rate"], strict=True))["3m"] == 0.0783
    early = provider.fetch_rates(D(1990, 1, 1), D(2001, 7, 30))
    assert "1m" not in set(early["tenor"])
    assert provider.fetch_rates(D(2001, 7, 31), D(2001, 7, 31))["tenor"].iloc[0] == "1m"


def test_latest_rate_date(provider: OfflineSnapshotProvider) -> None:
    assert provider.latest_rate_date() == D(2017, 3, 29)
    assert provider.latest_rate_date("1m") == D(2017, 3, 29)
    with pytest.raises(ValueError, match="unknown tenor"):
        provider.latest_rate_date("10Y")


# --------------------------------------------------------------------------- metadata, options


def test_metadata(provider: OfflineSnapshotProvider) -> None:
    frame = provider.fetch_metadata(["SPY", "AAPL", "NOPE", "UST_10Y"])
    assert tuple(frame.columns) == METADATA_COLUMNS
    assert list(frame["symbol"]) == ["AAPL", "SPY", "UST_10Y"]
    records = {r["symbol"]: r for r in frame.to_dict(orient="records")}
    assert records["AAPL"]["sector"] == "Information Technology"
    assert records["AAPL"]["asset_type"] == "stock"
    assert records["SPY"]["sector"] is None and records["SPY"]["asset_type"] == "etf"
    assert records["UST_10Y"]["asset_type"] == "rate"


def test_every_ticker_has_metadata(provider: OfflineSnapshotProvider) -> None:
    symbols = snapshot_symbols()
    assert sorted(provider.fetch_metadata(symbols)["symbol"]) == symbols


def test_no_option_quotes_offline(provider: OfflineSnapshotProvider) -> None:
    frame = provider.fetch_option_quotes(["AAPL170421C00035000"], D(2017, 3, 29))
    assert frame.empty and tuple(frame.columns) == OPTION_QUOTE_COLUMNS


# --------------------------------------------------------------------------- symbols and dates


def test_unknown_symbols(provider: OfflineSnapshotProvider) -> None:
    assert provider.unknown_symbols(["AAPL", "SPY", "^VIX", "UST_10Y", "VUG"]) == {
        "UST_10Y",
        "VUG",
    }
    assert provider.unknown_symbols([]) == set()


def test_latest_dates_of_the_demo_universe(provider: OfflineSnapshotProvider) -> None:
    universe = [*STOCKS, "^GSPC", "SPY"]
    # SPY's returns end first among these tickers.
    assert provider.latest_date(universe) == D(2018, 4, 27)
    # UST_10Y is a rate, not a ticker: latest_date treats it as unknown ...
    assert provider.latest_date([*universe, "UST_10Y"]) is None
    # ... and the as-of date that includes the 10y rate is where the curve ends.
    assert resolve_sync_end(provider, universe) == D(2017, 3, 29)
    frame = provider.fetch_prices(universe, D(2017, 3, 29), D(2017, 3, 29))
    assert sorted(frame["symbol"]) == sorted(universe)


def test_latest_date_stops_at_the_shortest_series(provider: OfflineSnapshotProvider) -> None:
    assert provider.latest_date(["AAPL"]) == D(2022, 12, 28)
    assert provider.latest_date(["AAPL", "^VIX"]) == D(2019, 1, 3)
    assert provider.latest_date(["^VIX", "SPY"]) == D(2018, 4, 27)
    assert provider.latest_date(["AAPL", "VUG"]) is None
    assert provider.latest_date([]) is None


# --------------------------------------------------------------------------- hand-made snapshots


def _write_snapshot(directory: Path, rows: list[str], symbols: list[str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = "date,symbol,field,value\n" + "".join(f"{r}\n" for r in rows)
    (directory / "snapshot.csv.gz").write_bytes(gzip.compress(text.encode()))
    meta = "symbol,name,sector,industry,asset_type,currency\n" + "".join(
        f"{s},{s} Inc.,Energy,Oil,stock,USD\n" for s in symbols
    )
    (directory / "symbols.csv").write_text(meta)
    (directory / "provenance.json").write_text('{"common_end": "2020-01-03"}')
    return directory


def test_latest_date_is_the_last_common_date_not_the_earliest_end(tmp_path: Path) -> None:
    rows = [
        "2020-01-01,AAA,adj_close,1.0",
        "2020-01-02,AAA,adj_close,2.0",
        "2020-01-03,AAA,adj_close,3.0",
        "2020-01-01,BBB,close,10.0",
        "2020-01-02,BBB,close,20.0",
        "2020-01-06,BBB,close,60.0",
        "2020-01-05,CCC,close,5.0",
    ]
    provider = OfflineSnapshotProvider(_write_snapshot(tmp_path, rows, ["AAA", "BBB", "CCC"]))
    assert provider.latest_date(["AAA", "BBB"]) == D(2020, 1, 2)
    assert provider.latest_date(["AAA", "CCC"]) is None  # both known, no shared date
    assert provider.latest_date(["BBB"]) == D(2020, 1, 6)


def test_two_fields_of_one_symbol_share_a_row(tmp_path: Path) -> None:
    rows = ["2020-01-02,AAA,adj_close,1.5", "2020-01-02,AAA,close,2.5", "2020-01-03,AAA,close,3"]
    provider = OfflineSnapshotProvider(_write_snapshot(tmp_path, rows, ["AAA"]))
    frame = provider.fetch_prices(["AAA"], D(2020, 1, 1), D(2020, 1, 31))
    assert list(frame["close"]) == [2.5, 3.0]
    assert frame["adj_close"].iloc[0] == 1.5 and math.isnan(frame["adj_close"].iloc[1])


def test_files_are_read_lazily_and_once(tmp_path: Path) -> None:
    directory = tmp_path / "snap"
    provider = OfflineSnapshotProvider(directory)  # nothing exists yet: no error
    with pytest.raises(MarketDataError, match="missing"):
        provider.latest_date(["AAA"])
    _write_snapshot(directory, ["2020-01-02,AAA,adj_close,1.5"], ["AAA"])
    assert provider.latest_date(["AAA"]) == D(2020, 1, 2)
    assert load_provenance(directory) == {"common_end": "2020-01-03"}
    for path in directory.iterdir():
        path.unlink()
    assert provider.latest_date(["AAA"]) == D(2020, 1, 2)  # served from the process cache
    assert OfflineSnapshotProvider(directory).fetch_metadata(["AAA"])["name"].iloc[0] == "AAA Inc."
    assert load_provenance(directory) == {"common_end": "2020-01-03"}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2020-01-02,AAA,bid,1.0", "unknown fields"),
        ("2020-01-02,AAA,yield_rate,0.01", "non-tenor symbols"),
    ],
)
def test_malformed_snapshot_is_rejected(tmp_path: Path, row: str, message: str) -> None:
    provider = OfflineSnapshotProvider(_write_snapshot(tmp_path, [row], ["AAA"]))
    with pytest.raises(MarketDataError, match=message):
        provider.fetch_prices(["AAA"], D(2020, 1, 1), D(2020, 1, 31))
