"""Build the offline market data snapshot from data files shipped inside PyPI wheels.

Usage::

    .venv/bin/python scripts/build_snapshot.py [--wheel-dir DIR] [--out-dir DIR]

Downloads pinned wheels of skfolio, arch and zipline-reloaded with
``pip download --no-deps --only-binary=:all:`` (or takes them from
``--wheel-dir``), reads the data files straight out of the wheels with
:mod:`zipfile` (nothing is installed or imported) and writes, into
``sigmasight_lib/marketdata/data/`` by default:

``snapshot.csv.gz``
    One long-format CSV, columns ``date,symbol,field,value``, sorted by symbol,
    field and date (plain string order), ISO dates. Values are written with
    ``repr(float(text))``, the shortest text that parses back to exactly the
    float of the source text, so no digit is rounded away. A value the source
    leaves blank (``.`` or empty) is an absent row: nothing is filled,
    interpolated or extrapolated. The gzip stream carries mtime 0 and no file
    name, so a rebuild from the same wheels (and the same zlib) is
    byte-identical.
``provenance.json``
    Per source file: package, version, wheel file and sha256, path inside the
    wheel and its sha256, licence (from the wheel's ``METADATA``); per series:
    symbol, field, first and last date, rows, and blank source rows. Also
    the snapshot's sha256 and the span common to every series.

``symbols.csv`` in the package data directory is hand-maintained metadata
(see :data:`sigmasight_lib.marketdata.base.METADATA_COLUMNS`); the build
checks it and fails when a snapshot symbol lacks a row, when it lists a symbol
the snapshot lacks, or when a row is malformed. Any unexpected layout in a
source file (header, date format, a value that is neither a number nor a
blank token, duplicate or unsorted dates) also fails the build.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import email.parser
import gzip
import hashlib
import io
import json
import math
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sigmasight_lib.config import MARKET_DATA_DIR, REPO_DIR
from sigmasight_lib.curves import TENORS
from sigmasight_lib.marketdata.base import METADATA_COLUMNS
from sigmasight_lib.marketdata.offline import (
    ASSET_TYPES,
    PROVENANCE_FILE,
    RATE_FIELD,
    SNAPSHOT_COLUMNS,
    SNAPSHOT_FILE,
    SYMBOLS_FILE,
    rate_symbol,
)

PINS: dict[str, str] = {"skfolio": "1.12.2", "arch": "8.0.0", "zipline-reloaded": "3.2.1"}
"""Package versions whose wheels are read (one wheel per package)."""

GICS_SECTORS: frozenset[str] = frozenset(
    {
        "Communication Services",
        "Consumer Discretionary",
        "Consumer Staples",
        "Energy",
        "Financials",
        "Health Care",
        "Industrials",
        "Information Technology",
        "Materials",
        "Real Estate",
        "Utilities",
    }
)
"""The 11 GICS sectors: the sector vocabulary of stocks in ``symbols.csv``."""

SP500_STOCKS: tuple[str, ...] = (
    "AAPL", "AMD", "BAC", "BBY", "CVX", "GE", "HD", "JNJ", "JPM", "KO",
    "LLY", "MRK", "MSFT", "PEP", "PFE", "PG", "RRC", "UNH", "WMT", "XOM",
)  # fmt: skip
FACTOR_ETFS: tuple[str, ...] = ("MTUM", "QUAL", "SIZE", "USMV", "VLUE")
TREASURY_COLUMNS: tuple[str, ...] = (
    "1month", "3month", "6month", "1year", "2year", "3year",
    "5year", "7year", "10year", "20year", "30year",
)  # fmt: skip
"""Column names of zipline's treasury curve, in the order of :data:`TENORS`."""


# --------------------------------------------------------------------------- date formats

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO_UTC_MIDNIGHT = re.compile(r"(\d{4})-(\d{2})-(\d{2}) 00:00:00\+00:00")


def _date_parser(pattern: re.Pattern[str], order: tuple[int, int, int]) -> Callable[[str], dt.date]:
    """A strict parser: the whole text must match ``pattern``; ``order`` picks (y, m, d) groups."""

    def parse(text: str) -> dt.date:
        match = pattern.fullmatch(text)
        if match is None:
            raise ValueError(f"date {text!r} does not match {pattern.pattern!r}")
        year, month, day = (int(match.group(i)) for i in order)
        return dt.date(year, month, day)

    return parse


parse_iso = _date_parser(_ISO, (1, 2, 3))
parse_us = _date_parser(_US, (3, 1, 2))
parse_iso_utc_midnight = _date_parser(_ISO_UTC_MIDNIGHT, (1, 2, 3))


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class SourceFile:
    """One CSV inside a wheel and how its columns map to snapshot series.

    Attributes
    ----------
    package : str
        Distribution name as pinned in :data:`PINS`.
    path : str
        Member path inside the wheel; ``.gz`` members are gunzipped.
    date_column : str
        Expected name of the first (date) column.
    parse_date : callable
        Strict parser of the date column's text.
    series : tuple of (column, symbol, field)
        The expected value columns in header order and the snapshot series each feeds.
    blank_tokens : frozenset of str
        Texts that mean "no value" (the row is left out of the snapshot).
    """

    package: str
    path: str
    date_column: str
    parse_date: Callable[[str], dt.date]
    series: tuple[tuple[str, str, str], ...]
    blank_tokens: frozenset[str] = frozenset()


SOURCES: tuple[SourceFile, ...] = (
    SourceFile(
        package="skfolio",
        path="skfolio/datasets/data/sp500_dataset.csv.gz",
        date_column="Date",
        parse_date=parse_iso,
        series=tuple((s, s, "adj_close") for s in SP500_STOCKS),
    ),
    SourceFile(
        package="skfolio",
        path="skfolio/datasets/data/sp500_index.csv.gz",
        date_column="Date",
        parse_date=parse_iso,
        series=(("SP500", "^GSPC", "close"),),
    ),
    SourceFile(
        package="skfolio",
        path="skfolio/datasets/data/factors_dataset.csv.gz",
        date_column="Date",
        parse_date=parse_iso,
        series=tuple((s, s, "adj_close") for s in FACTOR_ETFS),
    ),
    SourceFile(
        package="arch",
        path="arch/data/wti/wti.csv.gz",
        date_column="Date",
        parse_date=parse_us,
        series=(("DCOILWTICO", "DCOILWTICO", "close"),),
        blank_tokens=frozenset({".", ""}),
    ),
    SourceFile(
        package="arch",
        path="arch/data/vix/vix.csv.gz",
        date_column="Date",
        parse_date=parse_us,
        series=(("vix", "^VIX", "close"),),
        blank_tokens=frozenset({".", ""}),
    ),
    SourceFile(
        package="zipline-reloaded",
        path="zipline/resources/market_data/treasury_curves.csv",
        date_column="Time Period",
        parse_date=parse_iso_utc_midnight,
        series=tuple(
            (column, rate_symbol(tenor), RATE_FIELD)
            for column, tenor in zip(TREASURY_COLUMNS, TENORS, strict=True)
        ),
        blank_tokens=frozenset({""}),
    ),
    SourceFile(
        package="zipline-reloaded",
        path="zipline/resources/market_data/SPY_benchmark.csv",
        date_column="date",
        parse_date=parse_iso_utc_midnight,
        series=(("return", "SPY", "total_return"),),
    ),
)


class BuildError(RuntimeError):
    """A wheel, source file or ``symbols.csv`` is not as the build expects."""


# --------------------------------------------------------------------------- wheels


@dataclass(frozen=True)
class Wheel:
    """A downloaded wheel: where it is, its digest and the metadata the provenance needs."""

    package: str
    version: str
    path: Path
    sha256: str
    licence: str


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheels(dest: Path, pins: dict[str, str]) -> None:
    """``pip download`` one binary wheel per pinned package (no dependencies) into ``dest``."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "-d", str(dest),
        *(f"{name}=={version}" for name, version in pins.items()),
    ]  # fmt: skip
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True)


def find_wheel(wheel_dir: Path, package: str, version: str) -> Path:
    """The single wheel of ``package==version`` in ``wheel_dir`` (PEP 427 file name)."""
    stem = re.sub(r"[-_.]+", "_", package).lower()
    matches = sorted(wheel_dir.glob(f"{stem}-{version}-*.whl"))
    if len(matches) != 1:
        raise BuildError(
            f"expected one wheel of {package}=={version} in {wheel_dir}, found "
            f"{[m.name for m in matches] or 'none'}"
        )
    return matches[0]


def wheel_licence(archive: zipfile.ZipFile, package: str, version: str) -> tuple[str, str]:
    """The licence declared in the wheel's ``METADATA`` and the field it came from.

    Preference: ``License-Expression`` (an SPDX expression), else the first line
    of ``License`` (some projects paste the whole licence text there), else the
    ``License ::`` trove classifiers.

    Raises
    ------
    BuildError
        When the metadata declares no licence or names another distribution.
    """
    names = [n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
    if len(names) != 1:
        raise BuildError(f"{archive.filename}: expected one *.dist-info/METADATA, found {names}")
    meta = email.parser.HeaderParser().parsestr(archive.read(names[0]).decode("utf-8"))
    name_ok = re.sub(r"[-_.]+", "-", str(meta["Name"])).lower() == package.lower()
    if not name_ok or meta["Version"] != version:
        raise BuildError(
            f"{archive.filename}: METADATA says {meta['Name']} {meta['Version']}, "
            f"expected {package} {version}"
        )
    if meta["License-Expression"]:
        return str(meta["License-Expression"]).strip(), "License-Expression"
    if meta["License"] and str(meta["License"]).strip():
        return str(meta["License"]).strip().splitlines()[0].strip(), "License"
    classifiers = [
        c.removeprefix("License :: ").strip()
        for c in meta.get_all("Classifier", [])
        if c.startswith("License ::")
    ]
    if classifiers:
        return "; ".join(classifiers), "Classifier"
    raise BuildError(f"{archive.filename}: METADATA declares no licence")


# --------------------------------------------------------------------------- reading sources


@dataclass(frozen=True)
class Observation:
    """One snapshot row; ``value`` is already the text to write."""

    symbol: str
    field: str
    date: dt.date
    value: str


@dataclass(frozen=True)
class SeriesStats:
    symbol: str
    field: str
    source_column: str
    first_date: dt.date
    last_date: dt.date
    rows: int
    blank_in_source: int
    """Source rows whose value was a blank token (left out of the snapshot)."""

    def to_json(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "field": self.field,
            "source_column": self.source_column,
            "first_date": self.first_date.isoformat(),
            "last_date": self.last_date.isoformat(),
            "rows": self.rows,
            "blank_in_source": self.blank_in_source,
        }


def format_value(text: str, where: str) -> str:
    """The shortest text that round-trips to the float of ``text``; rejects non-finite values."""
    try:
        value = float(text)
    except ValueError:
        raise BuildError(f"{where}: {text!r} is neither a number nor a blank token") from None
    if not math.isfinite(value):
        raise BuildError(f"{where}: non-finite value {text!r}")
    return repr(value)


def read_member(archive: zipfile.ZipFile, path: str) -> bytes:
    """A member's bytes as stored in the wheel (still gzipped for ``.gz`` members)."""
    try:
        return archive.read(path)
    except KeyError:
        raise BuildError(f"{archive.filename} has no {path}") from None


def parse_source(source: SourceFile, raw: bytes) -> tuple[list[Observation], list[SeriesStats]]:
    """Check one source file's layout and turn it into snapshot rows and per-series stats."""
    text = (gzip.decompress(raw) if source.path.endswith(".gz") else raw).decode("utf-8")
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    expected = [source.date_column, *(column for column, _, _ in source.series)]
    if header != expected:
        raise BuildError(f"{source.path}: header {header}, expected {expected}")

    observations: list[Observation] = []
    kept: dict[str, list[dt.date]] = {column: [] for column, _, _ in source.series}
    blanks: dict[str, int] = dict.fromkeys(kept, 0)
    previous: dt.date | None = None
    for line_no, row in enumerate(reader, start=2):
        where = f"{source.path}:{line_no}"
        if len(row) != len(expected):
            raise BuildError(f"{where}: {len(row)} fields, expected {len(expected)}")
        try:
            day = source.parse_date(row[0])
        except ValueError as exc:
            raise BuildError(f"{where}: {exc}") from None
        if previous is not None and day <= previous:
            raise BuildError(f"{where}: date {day} not after {previous} (duplicate or unsorted)")
        previous = day
        for (column, symbol, field), token in zip(source.series, row[1:], strict=True):
            if token in source.blank_tokens:
                blanks[column] += 1
                continue
            observations.append(Observation(symbol, field, day, format_value(token, where)))
            kept[column].append(day)

    stats: list[SeriesStats] = []
    for column, symbol, field in source.series:
        days = kept[column]
        if not days:
            raise BuildError(f"{source.path}: column {column} has no values")
        stats.append(
            SeriesStats(
                symbol=symbol,
                field=field,
                source_column=column,
                first_date=days[0],
                last_date=days[-1],
                rows=len(days),
                blank_in_source=blanks[column],
            )
        )
    return observations, stats


# --------------------------------------------------------------------------- symbols.csv


def check_symbols_file(path: Path, snapshot_symbols: Iterable[str]) -> None:
    """Fail unless ``symbols.csv`` has exactly one well-formed row per snapshot symbol.

    Rules: columns exactly :data:`METADATA_COLUMNS`; a name and a 3-letter
    currency on every row; ``asset_type`` in :data:`ASSET_TYPES`; stocks carry
    a GICS sector and an industry, other asset types leave both empty.
    """
    if not path.exists():
        raise BuildError(f"{path} is missing; it is hand-maintained, create it first")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != METADATA_COLUMNS:
            raise BuildError(
                f"{path.name}: columns {reader.fieldnames}, expected {list(METADATA_COLUMNS)}"
            )
        rows = list(reader)
    problems: list[str] = []
    seen: set[str] = set()
    for line_no, row in enumerate(rows, start=2):
        symbol = row["symbol"]
        if symbol in seen:
            problems.append(f"line {line_no}: duplicate symbol {symbol}")
        seen.add(symbol)
        if not row["name"]:
            problems.append(f"line {line_no}: {symbol} has no name")
        if not re.fullmatch(r"[A-Z]{3}", row["currency"]):
            problems.append(f"line {line_no}: {symbol} currency {row['currency']!r}")
        if row["asset_type"] not in ASSET_TYPES:
            problems.append(f"line {line_no}: {symbol} asset_type {row['asset_type']!r}")
        elif row["asset_type"] == "stock":
            if row["sector"] not in GICS_SECTORS:
                problems.append(f"line {line_no}: {symbol} sector {row['sector']!r} is not GICS")
            if not row["industry"]:
                problems.append(f"line {line_no}: {symbol} has no industry")
        elif row["sector"] or row["industry"]:
            problems.append(f"line {line_no}: {symbol} is not a stock but has a sector/industry")
    wanted = set(snapshot_symbols)
    problems += [f"no row for snapshot symbol {s}" for s in sorted(wanted - seen)]
    problems += [f"row for {s}, which the snapshot lacks" for s in sorted(seen - wanted)]
    if problems:
        raise BuildError(f"{path.name}:\n  " + "\n  ".join(problems))


# --------------------------------------------------------------------------- output


def snapshot_bytes(observations: Sequence[Observation]) -> bytes:
    """The gzipped long CSV, sorted by (symbol, field, date); deterministic (mtime 0)."""
    keys = [(o.symbol, o.field, o.date) for o in observations]
    if len(set(keys)) != len(keys):
        raise BuildError("two sources feed the same (symbol, field, date)")
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(SNAPSHOT_COLUMNS)
    for o in sorted(observations, key=lambda o: (o.symbol, o.field, o.date)):
        writer.writerow((o.date.isoformat(), o.symbol, o.field, o.value))
    return gzip.compress(buffer.getvalue().encode("utf-8"), compresslevel=9, mtime=0)


def build(wheel_dir: Path, out_dir: Path, symbols_file: Path) -> Path:
    """Read every source out of the wheels in ``wheel_dir`` and write the outputs.

    Returns
    -------
    Path
        The written snapshot file.
    """
    wheels: dict[str, Wheel] = {}
    for package, version in PINS.items():
        path = find_wheel(wheel_dir, package, version)
        with zipfile.ZipFile(path) as archive:
            licence, licence_field = wheel_licence(archive, package, version)
        wheels[package] = Wheel(package, version, path, sha256_hex(path.read_bytes()), licence)
        print(f"{path.name}: licence {licence!r} (from {licence_field})")

    observations: list[Observation] = []
    sources_json: list[dict[str, object]] = []
    all_stats: list[SeriesStats] = []
    for source in SOURCES:
        wheel = wheels[source.package]
        with zipfile.ZipFile(wheel.path) as archive:
            raw = read_member(archive, source.path)
        rows, stats = parse_source(source, raw)
        observations += rows
        all_stats += stats
        sources_json.append(
            {
                "package": wheel.package,
                "version": wheel.version,
                "wheel": wheel.path.name,
                "wheel_sha256": wheel.sha256,
                "path": source.path,
                "file_sha256": sha256_hex(raw),
                "licence": wheel.licence,
                "series": [s.to_json() for s in stats],
            }
        )

    check_symbols_file(symbols_file, {s.symbol for s in all_stats})
    data = snapshot_bytes(observations)
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot_path = out_dir / SNAPSHOT_FILE
    snapshot_path.write_bytes(data)

    provenance = {
        "built_by": Path(__file__).resolve().relative_to(REPO_DIR).as_posix(),
        "snapshot": {"file": SNAPSHOT_FILE, "sha256": sha256_hex(data), "rows": len(observations)},
        "common_start": max(s.first_date for s in all_stats).isoformat(),
        "common_end": min(s.last_date for s in all_stats).isoformat(),
        "sources": sources_json,
    }
    (out_dir / PROVENANCE_FILE).write_text(
        json.dumps(provenance, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )

    for s in all_stats:
        print(f"  {s.symbol:<11} {s.field:<12} {s.first_date} .. {s.last_date} {s.rows:>6} rows")
    print(
        f"common span {provenance['common_start']} .. {provenance['common_end']}; "
        f"{len(observations)} rows; {snapshot_path} {len(data) / 1e6:.2f} MB"
    )
    return snapshot_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--wheel-dir",
        type=Path,
        help="use the pinned wheels already in this directory instead of downloading them",
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=MARKET_DATA_DIR,
        help=f"where to write {SNAPSHOT_FILE} and {PROVENANCE_FILE} (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    symbols_file = MARKET_DATA_DIR / SYMBOLS_FILE
    try:
        if args.wheel_dir is not None:
            build(args.wheel_dir, args.out_dir, symbols_file)
        else:
            with tempfile.TemporaryDirectory(prefix="sigmasight-wheels-") as tmp:
                download_wheels(Path(tmp), PINS)
                build(Path(tmp), args.out_dir, symbols_file)
    except BuildError as exc:
        print(f"build_snapshot: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
