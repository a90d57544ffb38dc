"""The committed offline snapshot files and the script that builds them.

Expected values are facts read by hand from the source files inside the wheels
(skfolio 1.12.2, arch 8.0.0, zipline-reloaded 3.2.1) and from
``DATA_SOURCES.md``; the snapshot itself is read here with :mod:`csv` and
:mod:`gzip`, not through the provider. No test uses the network.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import importlib.util
import io
import json
import math
import re
import sys
import zipfile
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import pytest

from sigmasight_lib.config import MARKET_DATA_DIR, REPO_DIR

SNAPSHOT = MARKET_DATA_DIR / "snapshot.csv.gz"
PROVENANCE = MARKET_DATA_DIR / "provenance.json"
SYMBOLS = MARKET_DATA_DIR / "symbols.csv"

STOCKS = [
    "AAPL",
    "AMD",
    "BAC",
    "BBY",
    "CVX",
    "GE",
    "HD",
    "JNJ",
    "JPM",
    "KO",
    "LLY",
    "MRK",
    "MSFT",
    "PEP",
    "PFE",
    "PG",
    "RRC",
    "UNH",
    "WMT",
    "XOM",
]
FACTOR_ETFS = ["MTUM", "QUAL", "SIZE", "USMV", "VLUE"]
UST = [f"UST_{t}" for t in ["1M", "3M", "6M", "1Y", "2Y", "3Y", "5Y", "7Y", "10Y", "20Y", "30Y"]]
GICS_SECTORS = {
    "Communication Services", "Consumer Discretionary", "Consumer Staples", "Energy",
    "Financials", "Health Care", "Industrials", "Information Technology", "Materials",
    "Real Estate", "Utilities",
}  # fmt: skip

# (symbol, field) -> (first date, last date, rows), from DATA_SOURCES.md and the source files.
EXPECTED_SERIES: dict[tuple[str, str], tuple[str, str, int]] = {
    **{(s, "adj_close"): ("1990-01-02", "2022-12-28", 8313) for s in STOCKS},
    ("^GSPC", "close"): ("1990-01-02", "2022-12-28", 8313),
    **{(s, "adj_close"): ("2014-01-02", "2022-12-28", 2264) for s in FACTOR_ETFS},
    # 8,611 source rows, 290 of them '.'
    ("DCOILWTICO", "close"): ("1986-01-02", "2019-01-03", 8321),
    # 1,305 source rows, 46 of them '.'
    ("^VIX", "close"): ("2014-01-03", "2019-01-03", 1259),
    ("SPY", "total_return"): ("1993-02-01", "2018-04-27", 6357),
    # 6,816 curve dates; 1m empty before 2001-07-31, 20y before 1993-10-01,
    # 30y empty 2002-02-19 .. 2006-02-08
    ("UST_1M", "yield_rate"): ("2001-07-31", "2017-03-29", 3917),
    **{(s, "yield_rate"): ("1990-01-02", "2017-03-29", 6816) for s in UST[1:9]},
    ("UST_20Y", "yield_rate"): ("1993-10-01", "2017-03-29", 5877),
    ("UST_30Y", "yield_rate"): ("1990-01-02", "2017-03-29", 5822),
}


@pytest.fixture(scope="module")
def rows() -> list[list[str]]:
    """Every snapshot row as text, header first."""
    with gzip.open(SNAPSHOT, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="module")
def values(rows: list[list[str]]) -> dict[tuple[str, str, str], str]:
    """(symbol, field, ISO date) -> value text."""
    return {(symbol, field, date): value for date, symbol, field, value in rows[1:]}


@pytest.fixture(scope="module")
def provenance() -> dict:
    return json.loads(PROVENANCE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def build_script() -> ModuleType:
    """``scripts/build_snapshot.py`` imported as a module (its functions are network-free)."""
    path = REPO_DIR / "scripts" / "build_snapshot.py"
    spec = importlib.util.spec_from_file_location("build_snapshot", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- file format


def test_snapshot_is_compact_and_gzip_deterministic() -> None:
    data = SNAPSHOT.read_bytes()
    assert len(data) < 5_000_000
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\x00\x00\x00\x00", "gzip mtime must be 0 for reproducible builds"
    assert not data[3] & 0x08, "gzip header must not embed a file name"


def test_header_sorting_uniqueness_and_iso_dates(rows: list[list[str]]) -> None:
    assert rows[0] == ["date", "symbol", "field", "value"]
    body = rows[1:]
    keys = [(symbol, field, date) for date, symbol, field, _ in body]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    bad_dates = [d for d, *_ in body if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", d)]
    assert bad_dates == []


def test_every_value_is_a_finite_number(rows: list[list[str]]) -> None:
    bad = [value for *_, value in rows[1:] if not math.isfinite(float(value))]
    assert bad == []


def test_series_spans_and_row_counts(rows: list[list[str]]) -> None:
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for date, symbol, field, _ in rows[1:]:
        seen[(symbol, field)].append(date)
    spans = {key: (min(d), max(d), len(d)) for key, d in seen.items()}
    assert spans == EXPECTED_SERIES


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("symbol", "field", "date", "text"),
    [
        ("AAPL", "adj_close", "1990-01-02", "0.264"),
        ("AAPL", "adj_close", "2017-03-29", "33.767"),
        ("GE", "adj_close", "2017-03-29", "165.954"),
        ("^GSPC", "close", "2017-03-29", "2361.13"),
        ("MTUM", "adj_close", "2017-03-29", "76.242"),
        ("VLUE", "adj_close", "2022-12-28", "88.473"),
        ("DCOILWTICO", "close", "1986-01-03", "26.0"),  # source text "26"
        ("DCOILWTICO", "close", "2017-03-29", "49.47"),
        ("^VIX", "close", "2017-03-29", "11.42"),
        ("SPY", "total_return", "1993-02-01", "0.007055075102412323"),
        ("SPY", "total_return", "2017-03-29", "0.0009349396338189653"),
        ("UST_3M", "yield_rate", "1990-01-02", "0.0783"),
        ("UST_10Y", "yield_rate", "2017-03-29", "0.0239"),
        ("UST_30Y", "yield_rate", "2002-02-15", "0.0537"),
    ],
)
def test_spot_values_keep_every_source_digit(
    values: dict[tuple[str, str, str], str], symbol: str, field: str, date: str, text: str
) -> None:
    assert values[(symbol, field, date)] == text


@pytest.mark.parametrize(
    ("symbol", "field", "date"),
    [
        ("DCOILWTICO", "close", "2016-07-04"),  # '.' (Independence Day)
        ("DCOILWTICO", "close", "1986-12-26"),  # '.' on a day the NYSE was open
        ("DCOILWTICO", "close", "2019-01-01"),  # '.'
        ("^VIX", "close", "2017-04-14"),  # '.' (Good Friday)
        ("UST_1M", "yield_rate", "1995-06-01"),  # 1m column empty before 2001-07-31
        ("UST_1M", "yield_rate", "2001-07-30"),
        ("UST_20Y", "yield_rate", "1993-09-30"),  # 20y empty before 1993-10-01
        ("UST_30Y", "yield_rate", "2002-02-19"),  # 30y bond not issued 2002-02 .. 2006-02
        ("UST_30Y", "yield_rate", "2006-02-08"),
        ("AAPL", "adj_close", "2015-04-03"),  # Good Friday: the curve has a row, stocks don't
    ],
)
def test_blank_source_values_are_absent_rows(
    values: dict[tuple[str, str, str], str], symbol: str, field: str, date: str
) -> None:
    assert (symbol, field, date) not in values


def test_no_invented_rows_around_blanks(values: dict[tuple[str, str, str], str]) -> None:
    """Neighbours of the blanks are real source values, so the blanks were not filled from them."""
    assert values[("DCOILWTICO", "close", "2001-09-11")] == "27.65"  # NYSE closed, WTI quoted
    assert values[("UST_10Y", "yield_rate", "2015-04-03")] == "0.0185"
    assert values[("UST_30Y", "yield_rate", "2006-02-09")] == "0.0451"
    assert not any(k[0] == "UST_1M" and k[2] < "2001-07-31" for k in values)


# --------------------------------------------------------------------------- provenance


def test_provenance_sha256_matches_snapshot(provenance: dict) -> None:
    assert provenance["snapshot"]["file"] == SNAPSHOT.name
    assert provenance["snapshot"]["sha256"] == hashlib.sha256(SNAPSHOT.read_bytes()).hexdigest()


def test_provenance_series_match_snapshot(provenance: dict, rows: list[list[str]]) -> None:
    recomputed: dict[tuple[str, str], list[str]] = defaultdict(list)
    for date, symbol, field, _ in rows[1:]:
        recomputed[(symbol, field)].append(date)
    listed = {
        (s["symbol"], s["field"]): (s["first_date"], s["last_date"], s["rows"])
        for source in provenance["sources"]
        for s in source["series"]
    }
    assert listed == {k: (min(d), max(d), len(d)) for k, d in recomputed.items()}
    assert provenance["snapshot"]["rows"] == len(rows) - 1
    assert provenance["common_start"] == max(min(d) for d in recomputed.values())
    assert provenance["common_end"] == min(max(d) for d in recomputed.values())


def test_common_span_starts_with_vix_and_ends_with_treasury_curve(provenance: dict) -> None:
    # DATA_SOURCES.md says 2014-01-02, but the VIX file starts on 2014-01-03.
    assert (provenance["common_start"], provenance["common_end"]) == ("2014-01-03", "2017-03-29")


def test_provenance_records_packages_wheels_and_licences(provenance: dict) -> None:
    expected = {
        "skfolio": ("1.12.2", "BSD 3-Clause License"),
        "arch": ("8.0.0", "NCSA"),
        "zipline-reloaded": ("3.2.1", "Apache-2.0"),
    }
    assert provenance["built_by"] == "scripts/build_snapshot.py"
    paths = []
    for source in provenance["sources"]:
        version, licence = expected[source["package"]]
        assert (source["version"], source["licence"]) == (version, licence)
        assert source["wheel"].startswith(f"{source['package'].replace('-', '_')}-{version}-")
        assert source["wheel"].endswith(".whl")
        assert len(source["wheel_sha256"]) == 64 and len(source["file_sha256"]) == 64
        paths.append(source["path"])
    assert sorted(paths) == sorted(
        [
            "skfolio/datasets/data/sp500_dataset.csv.gz",
            "skfolio/datasets/data/sp500_index.csv.gz",
            "skfolio/datasets/data/factors_dataset.csv.gz",
            "arch/data/wti/wti.csv.gz",
            "arch/data/vix/vix.csv.gz",
            "zipline/resources/market_data/treasury_curves.csv",
            "zipline/resources/market_data/SPY_benchmark.csv",
        ]
    )


def test_provenance_counts_blank_source_rows(provenance: dict) -> None:
    blanks = {
        s["symbol"]: s["blank_in_source"] for src in provenance["sources"] for s in src["series"]
    }
    assert blanks["DCOILWTICO"] == 290
    assert blanks["^VIX"] == 46
    assert blanks["UST_1M"] == 6816 - 3917
    assert blanks["AAPL"] == 0


# --------------------------------------------------------------------------- symbols.csv


def _symbols_rows() -> list[dict[str, str]]:
    with SYMBOLS.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "symbol",
            "name",
            "sector",
            "industry",
            "asset_type",
            "currency",
        ]
        return list(reader)


def test_every_snapshot_symbol_has_exactly_one_metadata_row(rows: list[list[str]]) -> None:
    listed = [r["symbol"] for r in _symbols_rows()]
    assert len(listed) == len(set(listed))
    assert set(listed) == {symbol for _, symbol, _, _ in rows[1:]}


def test_metadata_classification() -> None:
    meta = {r["symbol"]: r for r in _symbols_rows()}
    types = {s: r["asset_type"] for s, r in meta.items()}
    assert {s for s, t in types.items() if t == "stock"} == set(STOCKS)
    assert {s for s, t in types.items() if t == "etf"} == {*FACTOR_ETFS, "SPY"}
    assert {s for s, t in types.items() if t == "rate"} == set(UST)
    assert (types["^GSPC"], types["^VIX"], types["DCOILWTICO"]) == (
        "index",
        "volatility_index",
        "commodity",
    )
    for symbol in STOCKS:
        assert meta[symbol]["sector"] in GICS_SECTORS and meta[symbol]["industry"], symbol
    for symbol, row in meta.items():
        assert row["name"] and row["currency"] == "USD", symbol
        if row["asset_type"] != "stock":
            assert row["sector"] == row["industry"] == "", symbol
    assert meta["AAPL"]["sector"] == "Information Technology"
    assert meta["XOM"]["sector"] == "Energy"
    assert meta["MTUM"]["name"] == "iShares MSCI USA Momentum Factor ETF"


# --------------------------------------------------------------------------- build script


def test_build_check_accepts_the_committed_symbols_file(
    build_script: ModuleType, rows: list[list[str]]
) -> None:
    build_script.check_symbols_file(SYMBOLS, {symbol for _, symbol, _, _ in rows[1:]})


def test_build_check_fails_when_a_symbol_lacks_metadata(
    build_script: ModuleType, tmp_path: Path
) -> None:
    lines = SYMBOLS.read_text(encoding="utf-8").splitlines(keepends=True)
    trimmed = tmp_path / "symbols.csv"
    trimmed.write_text("".join(ln for ln in lines if not ln.startswith("KO,")), encoding="utf-8")
    wanted = {ln.split(",", 1)[0] for ln in lines[1:]}
    with pytest.raises(build_script.BuildError, match="no row for snapshot symbol KO"):
        build_script.check_symbols_file(trimmed, wanted)


def _source(build_script: ModuleType, blanks: frozenset[str] = frozenset()) -> object:
    return build_script.SourceFile(
        package="arch",
        path="x/wti.csv.gz",
        date_column="Date",
        parse_date=build_script.parse_us,
        series=(("DCOILWTICO", "DCOILWTICO", "close"),),
        blank_tokens=blanks,
    )


def test_build_parse_drops_blank_tokens_and_keeps_digits(build_script: ModuleType) -> None:
    raw = gzip.compress(b"Date,DCOILWTICO\r\n7/3/2017,46.04\r\n7/4/2017,.\r\n7/5/2017,45\r\n")
    observations, stats = build_script.parse_source(_source(build_script, frozenset({"."})), raw)
    assert [(o.date.isoformat(), o.value) for o in observations] == [
        ("2017-07-03", "46.04"),
        ("2017-07-05", "45.0"),
    ]
    assert (stats[0].rows, stats[0].blank_in_source) == (2, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"Date,WTI\n1/2/2019,46.31\n", "header"),
        (b"Date,DCOILWTICO\n2019-01-02,46.31\n", "does not match"),
        (b"Date,DCOILWTICO\n1/2/2019,46.31\n1/2/2019,46.31\n", "duplicate or unsorted"),
        (b"Date,DCOILWTICO\n1/2/2019,.\n", "neither a number"),
        (b"Date,DCOILWTICO\n1/2/2019,nan\n", "non-finite"),
    ],
)
def test_build_parse_rejects_unexpected_layouts(
    build_script: ModuleType, body: bytes, message: str
) -> None:
    with pytest.raises(build_script.BuildError, match=message):
        build_script.parse_source(_source(build_script), gzip.compress(body))


def test_build_snapshot_bytes_are_reproducible(build_script: ModuleType) -> None:
    obs = [
        build_script.Observation("SPY", "total_return", dt.date(2017, 3, 29), "0.001"),
        build_script.Observation("AAPL", "adj_close", dt.date(2017, 3, 29), "33.767"),
    ]
    first = build_script.snapshot_bytes(obs)
    assert first == build_script.snapshot_bytes(list(reversed(obs)))
    assert gzip.decompress(first).decode() == (
        "date,symbol,field,value\n"
        "2017-03-29,AAPL,adj_close,33.767\n"
        "2017-03-29,SPY,total_return,0.001\n"
    )


def test_build_reads_licence_from_wheel_metadata(build_script: ModuleType) -> None:
    def wheel(metadata: str) -> io.BytesIO:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("pkg-1.0.dist-info/METADATA", metadata)
        buffer.seek(0)
        return buffer

    expr = "Metadata-Version: 2.4\nName: pkg\nVersion: 1.0\nLicense-Expression: MIT\n"
    text = (
        "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\nLicense: BSD License\n        full text\n"
    )
    classifier = "Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\nClassifier: License :: OSI Approved :: MIT License\n"
    for metadata, expected in [
        (expr, ("MIT", "License-Expression")),
        (text, ("BSD License", "License")),
        (classifier, ("OSI Approved :: MIT License", "Classifier")),
    ]:
        with zipfile.ZipFile(wheel(metadata)) as archive:
            assert build_script.wheel_licence(archive, "pkg", "1.0") == expected
    with (
        zipfile.ZipFile(wheel("Name: pkg\nVersion: 1.0\n")) as archive,
        pytest.raises(build_script.BuildError, match="no licence"),
    ):
        build_script.wheel_licence(archive, "pkg", "1.0")
