"""Parse and validate a broker-style positions CSV (pure: no database, no network).

Input
-----
One position per row; the header names the columns. Example (a Schwab-like
export; ``Description`` is ignored, the last row is skipped as a totals row):

===================== =========== ======== ========== ============= =========
Symbol                Description Quantity Price Paid Date Acquired Tags
===================== =========== ======== ========== ============= =========
AAPL                  APPLE INC   100      $150.25    01/15/2017    core;tech
XOM                   EXXON MOBIL (50)     $82.10     02/01/2017    hedge
AAPL  170616C00140000 AAPL CALL   2        5.40       03/01/2017
SPY170616P00230000    SPY PUT     -1       3.10       2017-03-01    income
Account Total                              $2,850.05
===================== =========== ======== ========== ============= =========

Columns (see :data:`ACCEPTED_HEADERS` and :data:`INFORMATIONAL_HEADERS`; headers
match ignoring case, spaces and punctuation, so ``Entry Price``, ``entry_price``
and ``ENTRYPRICE`` are the same; other columns are ignored and noted):

* required: ``symbol`` (ticker, or OCC option symbol padded or compact),
  ``quantity`` (signed: shares, or contracts for options; negative = short);
* optional: ``entry_price`` (per share; for options the premium per share),
  ``entry_date``, ``tags`` (separated by ``;`` or ``|``), ``strategy``;
* read when present: ``cost_basis_total`` (``Cost Basis``, ``Cost Basis Total``: the
  position's total cost; entry price = total / (|quantity| x multiplier) when there is
  no per-share price), ``price``, ``market_value``, ``security_type``, ``description``
  (reported with the row; used to recognise cash and bond rows).

A missing or unknown entry price is no error: the position is imported without one
and its unrealized P&L is N/A (noted).

Layout
------
The header is the first row naming a symbol and a quantity column; title lines,
blank lines and account-summary blocks above it are skipped (``title_row``). Below
it, a row whose only text is its first cell is a section title (``Stocks``, ``Money
Market``) when it is short and has no digits — the rows under it carry it as
``section`` and as a tag — else a title line (disclaimers, ``Date downloaded ...``);
a further header row starts a further table (a transactions table, one naming
``Transaction Type``, ``Action``, ``Settlement Date`` ..., is skipped:
``other_table``). Cash, sweep and money-market rows (``Cash & Cash Investments``,
``Cash (SPAXX)``, ``SPAXX**``, ``Pending Activity``, FDIC deposits, a money-market
description or security type, a ``Money Market`` section) are skipped (``cash_row``),
as are totals (``Total``, ``Account Total``, ``Positions Total``, ``Subtotal of ...``,
``OVERALL TOTALS``, or no symbol but numbers after the last position: ``total_row``).
Each skipped row is in :attr:`ImportReport.skipped` and the notes, never an error.

Values
------
Missing
    An empty cell, ``--``, ``-``, ``N/A``.
Numbers
    Surrounding spaces, a leading ``$``, ``€``, ``£`` or ``USD`` (stripped,
    not converted), comma thousands separators in valid positions
    (``1,234.50``; ``150,25`` is rejected unless the decimal mark is ``,``),
    a leading ``+`` or ``-`` and parentheses for negatives
    (``(1,234.50)`` = -1234.5), fractional shares, a trailing ``%`` (12.5% = 0.125).
    With ``decimal=","`` (``--decimal ,``) ``1.234,56`` is 1234.56; in a ``;`` or tab
    file a decimal comma is detected when some number reads only that way and none
    only the other way. A *trailing* minus (``1,234.50-``) is rejected
    as "not a number": no US broker export uses it and guessing a sign is
    worse than asking.
Dates
    ISO ``2017-01-15``, also with a time and offset (``2017-01-15T09:30:00-05:00``);
    ``20170115`` (IBKR, also ``20170115;093000``); ``2017/01/15``; US month-first
    ``1/15/2017`` and ``01/15/17`` (two-digit years 00-68 are 20xx, 69-99 are 19xx);
    ``15-Jan-2017``; ``Jan 15, 2017`` / ``January 15, 2017``; Schwab's
    ``01/20/2017 as of 01/15/2017`` (the *as of* date). Day-first dates such as
    ``15/01/2017`` are rejected ("not a date").
Symbols
    A CUSIP or ISIN (check digit verified), a bond security type or a futures symbol
    (``/ESM7``) is ``unsupported_security``, not an invalid symbol.

Issues carry a stable ``code`` (:data:`ISSUE_CODES`) beside the message.

Tolerated: a UTF-8 byte order mark, CRLF line endings, a file that is not
UTF-8 (read as Windows-1252, noted), blank rows, a ``;`` or tab delimiter
(detected from the header line, noted).

Row numbers are the ones a spreadsheet shows: the header is row 1 (when the
file does not start with blank lines) and blank lines count.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import sigmasight_lib.portfolios.positions as _positions
from sigmasight_lib.portfolios.limits import number_problem, text_problem
from sigmasight_lib.portfolios.occ import OccContract
from sigmasight_lib.portfolios.option_symbols import (
    OptionSymbolError,
    looks_like_option_symbol,
    parse_option_symbol,
    root_info,
    root_underlying,
    security_id_kind,
)
from sigmasight_lib.portfolios.positions import PositionSpec, make_position_spec
from sigmasight_lib.portfolios.tags import MAX_TAGS_PER_POSITION, TagError, validate_tag_name

ACCEPTED_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "symbol": (
            "Symbol",
            "Ticker",
            "Security",
            "Instrument",
            "Symbol/CUSIP",
            "Symbol/ISIN",
            "Symbool/ISIN",
        ),
        "quantity": (
            "Quantity",
            "Qty",
            "Shares",
            "Position",
            "Contracts",
            "Qty (Quantity)",
            "Amount",
            "Aantal",
            "Anzahl",
        ),
        "entry_price": (
            "Entry Price",
            "Avg Cost",
            "Average Cost",
            "Cost Basis Per Share",
            "Average Cost Basis",
            "$ Avg Cost",
            "Avg Price",
            "Average Price",
            "Cost/Share",
            "Cost Price",
            "Cost Basis Price",
            "Trade Price",
            "Price Paid",
            "Cost Per Share",
            "Purchase Price",
            "Unit Cost",
        ),
        "entry_date": (
            "Entry Date",
            "Date Acquired",
            "Open Date",
            "Trade Date",
            "Acquired",
            "Purchase Date",
            "Open Date Time",
        ),
        "tags": ("Tags", "Tag", "Labels"),
        "strategy": ("Strategy",),
    }
)
"""Column name -> accepted headers, in the order of :func:`template_csv`."""

INFORMATIONAL_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "cost_basis_total": (
            "Cost Basis",
            "Cost Basis Total",
            "Total Cost",
            "Cost Basis Money",
            "Cost",
        ),
        "price": (
            "Price",
            "Last",
            "Last Price",
            "Mark",
            "Closing",
            "Close Price",
            "Mark Price",
            "Share Price",
        ),
        "market_value": (
            "Mkt Val (Market Value)",
            "Market Value",
            "Mkt Value",
            "Value",
            "Current Value",
            "Ending Value",
            "Position Value",
            "Total Value",
            "Net Liq",
            "Value in EUR",
        ),
        "security_type": (
            "Security Type",
            "Asset Type",
            "Asset Class",
            "Asset Category",
            "Instrument Type",
        ),
        "description": (
            "Description",
            "Security Description",
            "Name",
            "Product",
            "Investment Name",
        ),
    }
)
"""Columns read besides :data:`ACCEPTED_HEADERS`: ``cost_basis_total`` (the position's
total cost, per share = total / (|quantity| x multiplier), used when there is no
per-share entry price) and what a broker shows of the row (``price``, ``market_value``,
``security_type``, ``description``: reported, and used to recognise cash and bond rows)."""

REQUIRED_COLUMNS: tuple[str, ...] = ("symbol", "quantity")

ISSUE_CODES: Mapping[str, str] = MappingProxyType(
    {
        "empty_file": "the file has no header row",
        "no_data": "no data rows below the header",
        "unreadable_csv": "the CSV cannot be read from this row on",
        "missing_column": "a required column is missing",
        "missing_value": "a required cell is empty",
        "invalid_number": "a number cannot be read or is out of range",
        "invalid_date": "a date cannot be read or is out of range",
        "invalid_symbol": "neither a ticker nor an option symbol",
        "invalid_option_symbol": "an option symbol that cannot be read (option_symbols)",
        "unsupported_security": "a CUSIP, ISIN, bond or futures row: skipped (note)",
        "unknown_symbol": "the market data does not know the ticker or underlying",
        "invalid_tag": "a tag breaks the tag rules",
        "invalid_text": "a text is too long",
        "extra_cells": "more cells than header columns",
        "duplicate_row": "repeats an earlier row",
        "invalid_value": "any other unusable cell",
        "cash_row": "cash, sweep or money-market row: skipped (note)",
        "total_row": "totals or subtotal row: skipped (note)",
        "title_row": "title, blank-table or account-summary line before a header: skipped (note)",
        "other_table": "row of a transactions table beside the positions: skipped (note)",
    }
)
"""Stable issue code -> meaning. ``cash_row``, ``total_row``, ``title_row``,
``other_table`` and ``unsupported_security`` are skipped rows
(:attr:`ImportReport.skipped`, each with a note), never errors: a broker file with a
bond or a money-market line still imports its stocks and options."""

UNKNOWN_SYMBOL_REASON = "symbol not known to the market data provider"

_T = TypeVar("_T")

_DELIMITERS = ",;\t"
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%m/%d/%y",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d-%b-%Y",
    "%b %d, %Y",
    "%B %d, %Y",
)
_AMOUNT = re.compile(
    r"""
    (?P<sign>[+-])?\s*
    (?:[$€£]|USD)?\s*
    (?P<late_sign>[+-])?\s*                       # $-5
    (?P<digits>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
    """,
    re.VERBOSE,
)
_TICKER = re.compile(r"[A-Z0-9]+(?:[./-][A-Z0-9]+)*")
_TOTALS_LABEL = re.compile(r"(?:.*\s)?(?:sub-?)?totals?:?(?:\s+(?:of|for)\b.*)?")
_CASH_SYMBOL = re.compile(
    r"cash\b.*|.*\*\*|pending activity|.*\bfdic\b.*|.*\bsweep\b.*|money market.*|core"
)
_CASH_TEXT = re.compile(
    r"money market|\bfdic\b|\bsweep\b|cash & cash|insured deposit|deposit program|^cash$"
    r"|pending activity|core account"
)
_BOND_TYPE = re.compile(r"\bbonds?\b|fixed income|treasur|certificate of deposit|^cds?$|municipal")
_TRANSACTION_HEADERS = frozenset(
    {"transactiontype", "transactiondescription", "action", "activity", "settlementdate"}
)
_NOT_ALNUM = re.compile(r"[\W_]+")
_MISSING_MARKERS = frozenset({"--", "---", "-", "n/a", "#n/a"})
_SWAP_MARKS = str.maketrans({",": ".", ".": ","})
_TAG_SEPARATORS = re.compile(r"[;|]")


@dataclass(frozen=True)
class ImportIssue:
    """One problem found in the file.

    Attributes
    ----------
    row : int or None
        Spreadsheet row number; None for problems with the whole file.
    field : str or None
        Column name (``quantity``, ``entry_price``, ...); None for whole rows.
    value : str or None
        The cell as written (stripped); None when no single cell is at fault.
    reason : str
        What is wrong, e.g. ``"not a number"``.
    code : str
        Stable machine-readable kind, one of :data:`ISSUE_CODES` (``unknown_symbol``,
        ``invalid_number``, ...); not part of equality, the message stays the same.
    """

    row: int | None
    field: str | None
    value: str | None
    reason: str
    code: str = field(default="invalid_value", compare=False)

    def __str__(self) -> str:
        where = [f"row {self.row}"] if self.row is not None else []
        if self.field is not None:
            where.append(f"field {self.field}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping, with the one-line ``message``."""
        return {**asdict(self), "message": str(self)}  # row, field, value, reason, code


@dataclass(frozen=True)
class SkippedRow:
    """A row read but not imported, and why: a cash or totals row, a title line, a
    security the importer does not take (CUSIP, ISIN, bond, futures).

    ``code`` is ``cash_row``, ``total_row``, ``title_row``, ``other_table`` or
    ``unsupported_security``; ``text`` is the row's first non-empty cell (the symbol or
    label as written).
    """

    row: int
    code: str
    text: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "message": str(self)}


@dataclass(frozen=True)
class ParsedRow:
    """A valid data row: its spreadsheet row number and the position it describes.

    ``section`` is the titled sub-table the row sits in (``"Stocks"`` in a Schwab
    balances file), ``broker`` what the file shows besides the position (``price``,
    ``market_value``, ``cost_basis_total``, ``security_type``, ``description``; only
    the columns present).
    """

    row: int
    spec: PositionSpec
    section: str | None = None
    broker: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportReport:
    """Outcome of :func:`parse_positions_csv`.

    Attributes
    ----------
    rows : tuple of ParsedRow
        Valid rows only, in file order.
    issues : tuple of ImportIssue
        Every problem found, in row order (file-level problems first).
    notes : tuple of str
        Things tolerated, e.g. ``"row 12: totals row skipped"``.
    """

    rows: tuple[ParsedRow, ...]
    issues: tuple[ImportIssue, ...] = ()
    notes: tuple[str, ...] = ()
    failed_symbols: tuple[tuple[int, str | None], ...] = ()
    skipped: tuple[SkippedRow, ...] = ()
    """Cash, totals and title rows left out on purpose (each also in ``notes``)."""
    """(row, symbol) of each data row that failed: the ticker or compact OCC symbol, None
    when the symbol itself is unreadable (or the row was not read at all)."""

    @property
    def ok(self) -> bool:
        """No issues and at least one valid row."""
        return not self.issues and bool(self.rows)

    @property
    def failed_rows(self) -> set[int]:
        """Row numbers with at least one issue."""
        return {issue.row for issue in self.issues if issue.row is not None}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping: ``ok``, ``rows`` (row number + position), ``issues``, ``notes``."""
        return {
            "ok": self.ok,
            "rows": [
                {
                    "row": parsed.row,
                    **_spec_to_dict(parsed.spec),
                    "section": parsed.section,
                    "broker": dict(parsed.broker),
                }
                for parsed in self.rows
            ],
            "issues": [issue.to_dict() for issue in self.issues],
            "notes": list(self.notes),
            "skipped": [row.to_dict() for row in self.skipped],
            "codes": self.code_counts(),
        }

    def code_counts(self) -> dict[str, int]:
        """Issue and skipped-row code -> how many, sorted by code."""
        counts: dict[str, int] = {}
        for code in [i.code for i in self.issues] + [r.code for r in self.skipped]:
            counts[code] = counts.get(code, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class _CheckedRow:
    """A data row after every cell was checked on its own (cross-row checks come later)."""

    row: int
    symbol_text: str
    contract_or_ticker: OccContract | str | None
    quantity: float | None
    entry_price: float | None
    entry_date: dt.date | None
    tags: tuple[str, ...]
    strategy: str | None
    issues: tuple[ImportIssue, ...] = ()
    section: str | None = None
    broker: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def underlying(self) -> str | None:
        """Ticker, or the underlying of the option's root; None when the symbol is invalid."""
        if isinstance(self.contract_or_ticker, OccContract):
            return root_underlying(self.contract_or_ticker.root)
        return self.contract_or_ticker

    @property
    def symbol(self) -> str | None:
        """Ticker, or the option's compact OCC symbol; None when the symbol is invalid."""
        if isinstance(self.contract_or_ticker, OccContract):
            return self.contract_or_ticker.compact
        return self.contract_or_ticker

    @property
    def duplicate_key(self) -> tuple[str, float, float, dt.date] | None:
        """What makes two rows the same position; None when a part is invalid."""
        symbol = self.contract_or_ticker
        if (
            symbol is None
            or self.quantity is None
            or self.entry_price is None
            or self.entry_date is None
        ):
            return None
        return (self.symbol, self.quantity, self.entry_price, self.entry_date)


class _InvalidValue(ValueError):
    """A cell cannot be used; the message is the issue's reason, ``code`` its kind."""

    def __init__(self, reason: str, code: str | None = None) -> None:
        super().__init__(reason)
        self.code = code


@dataclass(frozen=True)
class _Table:
    """One table of the file: its header's columns and width, and its rows with their section."""

    columns: dict[str, int]
    width: int
    rows: list[tuple[int, list[str], str | None]] = field(default_factory=list)
    transactions: bool = False


def parse_positions_csv(
    source: str | Path | bytes,
    *,
    unknown_symbols: Callable[[Iterable[str]], set[str]] | None = None,
    as_of: dt.date | None = None,
    decimal: str | None = None,
) -> ImportReport:
    """Parse and validate a positions CSV into :class:`PositionSpec` rows.

    Every problem in the file is reported (never only the first); rows with
    any problem are left out of ``rows``.

    Parameters
    ----------
    source : str, Path or bytes
        A ``str`` is the CSV *text*; a ``Path`` is a file to read; ``bytes``
        are the file's content (UTF-8, with or without BOM, else
        Windows-1252).
    unknown_symbols : callable, optional
        The market data provider's check: given the tickers and option
        underlyings (OCC roots, never OCC contracts) of the file, sorted and
        de-duplicated, returns those it does not know. Called once, and only
        when there is at least one valid symbol. Rows whose ticker or
        underlying it returns fail with :data:`UNKNOWN_SYMBOL_REASON`.
    as_of : datetime.date, optional
        When given, entry dates after it are errors ("in the future").
    decimal : {".", ","} or None, default=None
        The decimal mark of the numbers. ``","`` reads ``1.234,56`` as 1234.56;
        None detects a decimal comma in a ``;`` or tab delimited file when a number
        can only be read that way (``12,5``, ``1.234,56``) and none only the other
        way, else ``"."``.

    Returns
    -------
    ImportReport

    Raises
    ------
    OSError
        When ``source`` is a ``Path`` that cannot be read.

    Notes
    -----
    Errors per row, each an :class:`ImportIssue` (row, field, value, reason):
    empty required cell; bad number; a number or text beyond its limit
    (:mod:`~sigmasight_lib.portfolios.limits`: non-finite, ``|quantity|`` over
    1e12, a price over 1e9, a ticker over 16 or a strategy over 200
    characters); zero quantity; fractional option
    quantity; entry price zero or negative; bad date; entry date after
    ``as_of`` or after the option's expiry; bad ticker or OCC symbol; unknown
    symbol; more cells than header columns; duplicate of an earlier row (same
    symbol, quantity, entry price and entry date). File-level errors (row
    None): empty file, no data rows, missing required column.

    Examples
    --------
    >>> text = 'Ticker,Qty,Avg Cost,Trade Date\\nmsft,-10,"$1,050.00",1/3/2017\\nIBM,abc,150,1/3/2017\\n'
    >>> report = parse_positions_csv(text)
    >>> spec = report.rows[0].spec
    >>> spec.symbol, spec.position_type.value, spec.entry_price, spec.entry_date.isoformat()
    ('MSFT', 'SHORT', 1050.0, '2017-01-03')
    >>> print(report.issues[0])
    row 3, field quantity, value 'abc': not a number
    """
    text, notes = _read_text(source)
    delimiter = _detect_delimiter(text)
    if delimiter != ",":
        notes.append(f"delimiter {delimiter!r} detected")
    records, unreadable = _read_records(text, delimiter)
    trailing = () if unreadable is None else (unreadable,)
    numbered = [(number, cells) for number, cells in records if not _is_blank(cells)]
    if not numbered:
        empty = ImportIssue(None, None, None, "file is empty (no header row)", "empty_file")
        return ImportReport((), trailing or (empty,), tuple(notes))

    start = next((i for i, (_, cells) in enumerate(numbered) if _header_columns(cells)), 0)
    skipped = [
        SkippedRow(number, "title_row", _first_text(cells), "title line before the header skipped")
        for number, cells in numbered[:start]
    ]
    header = numbered[start][1]
    columns, header_notes = _map_header(header)
    notes += header_notes
    missing = [_missing_column_issue(name) for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        return ImportReport((), tuple(missing) + trailing, tuple(notes), skipped=tuple(skipped))

    first_section = _section_title(numbered[start - 1][1]) if start else None
    tables, table_notes, titles = _split_tables(
        numbered[start + 1 :], columns, len(header), first_section
    )
    skipped += titles
    comma = _decimal_comma(decimal, delimiter, tables)
    if comma and decimal is None:
        notes.append("decimal comma detected (numbers read as 1.234,56)")
    checked: list[_CheckedRow] = []
    for table in tables:

        def cell(cells: list[str], name: str, table: _Table = table) -> str:
            index = table.columns.get(name)
            value = cells[index].strip() if index is not None and index < len(cells) else ""
            return "" if value.casefold() in _MISSING_MARKERS else value

        last_with_symbol = max((n for n, c, _ in table.rows if cell(c, "symbol")), default=0)
        for number, cells, section in table.rows:
            if table.transactions:
                reason = "row of a transactions table skipped"
                skipped.append(SkippedRow(number, "other_table", _first_text(cells), reason))
                continue
            values = {name: cell(cells, name) for name in _ALL_COLUMNS}
            skip = _skip_reason(values, cells, section, after_last=number > last_with_symbol)
            if skip is not None:
                code, reason = skip
                skipped.append(SkippedRow(number, code, _first_text(cells), reason))
                continue
            row = _check_row(number, values, as_of, comma=comma, section=section)
            checked.append(_with_issues(row, _extra_cells_issues(number, cells, table.width)))
    row_notes = [*table_notes, *((r.row, str(r)) for r in skipped if r.row > numbered[start][0])]
    row_notes += _grouped_notes(checked)
    notes += [note for _, note in sorted(row_notes, key=lambda pair: pair[0])]
    skipped_rows = tuple(sorted(skipped, key=lambda r: r.row))

    if not checked:
        no_data = ImportIssue(None, None, None, "no data rows below the header", "no_data")
        return ImportReport((), trailing or (no_data,), tuple(notes), skipped=skipped_rows)
    checked = _flag_duplicates(_flag_unknown_symbols(checked, unknown_symbols))
    issues = tuple(issue for row in checked for issue in row.issues)
    valid = tuple(
        ParsedRow(row.row, _to_spec(row), row.section, row.broker)
        for row in checked
        if not row.issues
    )
    failed = tuple((row.row, row.symbol) for row in checked if row.issues)
    unread = () if unreadable is None else ((unreadable.row, None),)
    return ImportReport(
        valid, issues + trailing, tuple(notes), failed + unread, skipped=skipped_rows
    )


def template_csv() -> str:
    """A CSV template with every accepted column and example rows.

    The rows are a long stock, a short stock, a long call and a short put
    (options in compact OCC form; their entry price is the premium per share).
    Every underlying (AAPL, XOM, SPY) is in the offline market-data snapshot, so
    the template imports as written without network access.

    Returns
    -------
    str
        CSV text with ``\\n`` line endings that :func:`parse_positions_csv` accepts.
    """
    from sigmasight_lib.reporting.csv_safety import csv_text

    rows = (
        ("AAPL", "100", "150.25", "2024-01-15", "core;tech", ""),
        ("XOM", "-50", "105.30", "2024-02-01", "hedge", ""),
        ("AAPL250620C00200000", "2", "5.40", "2024-03-01", "options|tech", "AAPL upside"),
        ("SPY250620P00480000", "-1", "6.15", "2024-03-01", "options|income", "SPY put write"),
    )
    return csv_text(tuple(ACCEPTED_HEADERS), rows)


# --------------------------------------------------------------------------- reading


def _read_text(source: str | Path | bytes) -> tuple[str, list[str]]:
    """The CSV text (without BOM) and notes about how it was decoded."""
    if isinstance(source, str):
        return source.removeprefix("\ufeff"), []
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), ["file is not UTF-8; read as Windows-1252"]


def _detect_delimiter(text: str) -> str:
    """``,``, ``;`` or tab, sniffed from the first non-blank line (the header); default ``,``."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return csv.Sniffer().sniff(header, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def _read_records(
    text: str, delimiter: str
) -> tuple[list[tuple[int, list[str]]], ImportIssue | None]:
    """Records numbered as a spreadsheet does, and an issue when reading stopped early."""
    records: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in reader:
            records.append((len(records) + 1, cells))
    except csv.Error as exc:
        number = len(records) + 1
        return records, ImportIssue(
            number,
            None,
            None,
            f"not readable as CSV ({exc}); rows from here on were not read",
            "unreadable_csv",
        )
    return records, None


def _first_text(cells: list[str]) -> str:
    return next((c.strip() for c in cells if c.strip()), "")


def _header_columns(cells: list[str]) -> dict[str, int] | None:
    """The row's columns when it is a header (names both a symbol and a quantity column)."""
    names = {_HEADER_LOOKUP.get(_normalize_header(c)) for c in cells if len(c) <= _LONGEST_HEADER}
    if not names.issuperset(REQUIRED_COLUMNS):
        return None
    return _map_header(cells)[0]


def _title_line(cells: list[str]) -> str | None:
    """The text of a title line (a section title, a disclaimer, ``Date downloaded ...``):
    a row whose only text is its first cell, written as words rather than a ticker."""
    text = cells[0].strip() if cells else ""
    if not text or not _is_blank(cells[1:]):
        return None
    if text.upper() == text and _TICKER.fullmatch(text) is not None:
        return None  # a lone ticker is a data row with empty cells, not a title
    return text


def _section_title(cells: list[str]) -> str | None:
    """The title of a sub-table (``Stocks``, ``Money Market``, ``Core Account``): a
    title line of at most 60 characters without digits; else None."""
    text = _title_line(cells)
    if text is None or len(text) > 60 or any(ch.isdigit() for ch in text):
        return None
    return None if text.casefold() == "none" else text  # thinkorswim's "no grouping" line


def _split_tables(
    data: list[tuple[int, list[str]]],
    columns: dict[str, int],
    width: int,
    section: str | None = None,
) -> tuple[list[_Table], list[tuple[int, str]], list[SkippedRow]]:
    """Rows below the first header, cut into tables at each further header row and
    labelled with the latest section title (``section`` before any); other title lines
    (disclaimers, download dates) are skipped rows."""
    tables = [_Table(columns, width)]
    notes: list[tuple[int, str]] = []  # (row, note)
    skipped: list[SkippedRow] = []
    for number, cells in data:
        at = tables[-1].columns["quantity"]
        quantity = cells[at].strip()[:1] if at < len(cells) else ""
        header = None if quantity and quantity in _NUMBER_START else _header_columns(cells)
        if header is not None:
            trades = any(_normalize_header(c) in _TRANSACTION_HEADERS for c in cells)
            tables.append(_Table(header, len(cells), transactions=trades))
            kind = "transactions table (skipped)" if trades else "further table"
            notes.append((number, f"row {number}: header of a {kind}"))
            continue
        label = _first_text(cells)
        title = None if _TOTALS_LABEL.fullmatch(_squash(label)) else _title_line(cells)
        if title is not None and _section_title(cells) is not None:
            section = title
            notes.append((number, f"row {number}: section {title!r}"))
            continue
        if title is not None:
            skipped.append(SkippedRow(number, "title_row", title, "title line skipped"))
            continue
        tables[-1].rows.append((number, cells, section))
    return [t for t in tables if t.rows] or tables[:1], notes, skipped


def _decimal_comma(decimal: str | None, delimiter: str, tables: list[_Table]) -> bool:
    """Whether numbers use a decimal comma: as told, else detected (see ``decimal``)."""
    if decimal is not None:
        if decimal not in (".", ","):
            raise ValueError(f"decimal must be '.' or ',', got {decimal!r}")
        return decimal == ","
    if delimiter == ",":
        return False
    numeric = ("quantity", "entry_price", "cost_basis_total", "price", "market_value")
    cells = [
        c[t.columns[name]].strip()
        for t in tables
        for _, c, _ in t.rows
        for name in numeric
        if name in t.columns and t.columns[name] < len(c)
    ]
    readings = {_number_reading(c) for c in cells}
    return "comma" in readings and "point" not in readings


def _extra_cells_issues(number: int, cells: list[str], width: int) -> list[ImportIssue]:
    """An issue when a row has non-empty cells beyond the header (an unquoted ``1,234``?)."""
    if _is_blank(cells[width:]):
        return []
    reason = f"has {len(cells)} cells but the header has {width} columns"
    return [ImportIssue(number, None, None, reason, "extra_cells")]


def _is_blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


def _normalize_header(text: str) -> str:
    return _NOT_ALNUM.sub("", text.casefold())


_HEADER_LOOKUP: Mapping[str, str] = {
    _normalize_header(header): name
    for name, headers in (*ACCEPTED_HEADERS.items(), *INFORMATIONAL_HEADERS.items())
    for header in (name, *headers)
}
_ALL_COLUMNS = (*ACCEPTED_HEADERS, *INFORMATIONAL_HEADERS)
_LONGEST_HEADER = 40  # longer cells are never a column name
_NUMBER_START = frozenset("0123456789+-($.€£")  # a quantity cell so starting: a data row


def _map_header(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Column name -> cell index, and notes about ignored columns (first match wins)."""
    columns: dict[str, int] = {}
    notes: list[str] = []
    for index, raw in enumerate(header):
        label = raw.strip()
        name = _HEADER_LOOKUP.get(_normalize_header(label))
        if not label:
            notes.append(f"column {index + 1} has no header and is ignored")
        elif name is None:
            notes.append(f"column {label!r} ignored")
        elif name in columns:
            used = header[columns[name]].strip()
            notes.append(f"column {label!r} ignored: {name} is read from column {used!r}")
        else:
            columns[name] = index
    return columns, notes


def _missing_column_issue(name: str) -> ImportIssue:
    accepted = ", ".join(ACCEPTED_HEADERS[name])
    reason = f"missing required column (accepted headers: {accepted})"
    return ImportIssue(None, name, None, reason, "missing_column")


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


def _skip_reason(
    values: Mapping[str, str], cells: list[str], section: str | None, *, after_last: bool
) -> tuple[str, str] | None:
    """(code, reason) when the row is a totals or cash row, else None.

    Totals: a first text such as ``Total``, ``Account Total``, ``Positions Total`` or
    ``Subtotal of Stocks``, or no symbol but numbers after the last row with one.
    Cash: a symbol such as ``Cash & Cash Investments``, ``Cash (SPAXX)``, ``SPAXX**``
    (Fidelity's core position), ``Pending Activity``; or a description, security
    type or section naming a money market, sweep or FDIC deposit.
    """
    symbol = values["symbol"]
    label = _squash(symbol or _first_text(cells))
    if _TOTALS_LABEL.fullmatch(label) or (
        not symbol and after_last and any(_is_number(c) for c in cells)
    ):
        return "total_row", "totals row skipped"
    texts = [_squash(values["description"]), _squash(values["security_type"])]
    if (
        _CASH_SYMBOL.fullmatch(_squash(symbol))
        or any(_CASH_TEXT.search(t) for t in texts if t)
        or _CASH_TEXT.fullmatch(_squash(section or ""))
    ):
        return (
            "cash_row",
            "cash row skipped (cash, sweep and money-market balances are not positions)",
        )
    unsupported = _unsupported_security(symbol)
    if unsupported is None and symbol and _BOND_TYPE.search(_squash(values["security_type"])):
        unsupported = (
            f"bonds and ISIN-only rows are not supported (security type "
            f"{values['security_type']!r})"
        )
    if unsupported is not None:
        return "unsupported_security", f"{unsupported}: skipped"
    return None


# --------------------------------------------------------------------------- one row


def _check_row(
    number: int,
    cells: Mapping[str, str],
    as_of: dt.date | None,
    *,
    comma: bool = False,
    section: str | None = None,
) -> _CheckedRow:
    """Check each cell of one data row on its own, collecting every issue."""
    issues: list[ImportIssue] = []
    notes: list[str] = []
    codes = {"symbol": "invalid_symbol", "entry_date": "invalid_date"}

    def parsed(name: str, parse: Callable[[str], _T], *, required: bool = False) -> _T | None:
        value = cells[name]
        if not value:
            if required:
                issues.append(
                    ImportIssue(number, name, value, "required value is empty", "missing_value")
                )
            return None
        try:
            return parse(value)
        except _InvalidValue as exc:
            code = exc.code or codes.get(name, "invalid_number")
            issues.append(ImportIssue(number, name, value, str(exc), code))
            return None

    def number_of(text: str) -> float:
        return _parse_number(text, comma=comma)

    symbol = parsed("symbol", _parse_symbol, required=True)
    quantity = parsed("quantity", lambda t: _parse_quantity(t, comma=comma), required=True)
    entry_price = parsed("entry_price", lambda t: _parse_entry_price(t, comma=comma))
    entry_date = parsed("entry_date", _parse_date)
    broker: dict[str, Any] = {}
    for name in ("price", "market_value", "cost_basis_total"):
        if cells[name]:
            try:
                broker[name] = number_of(cells[name])
            except _InvalidValue:
                broker[name] = cells[name]
    for name in ("security_type", "description"):
        if cells[name]:
            broker[name] = cells[name]
    total = broker.get("cost_basis_total")
    if (
        entry_price is None
        and not cells["entry_price"]
        and isinstance(total, float)
        and total != 0
        and quantity is not None
    ):
        multiplier = _positions.OPTION_MULTIPLIER if isinstance(symbol, OccContract) else 1
        entry_price = abs(total) / (abs(quantity) * multiplier)
        notes.append("entry price = cost basis total / (|quantity| x multiplier)")
    elif entry_price is None and not cells["entry_price"] and quantity is not None:
        notes.append("no entry price (cost basis unknown): unrealized P&L will be N/A")

    if isinstance(symbol, OccContract):
        deliverable = root_info(symbol.root).note  # e.g. USO1: a non-standard deliverable
        if deliverable:
            notes.append(deliverable)
        if quantity is not None and not quantity.is_integer():
            issues.append(
                ImportIssue(
                    number,
                    "quantity",
                    cells["quantity"],
                    "must be a whole number of option contracts",
                    "invalid_number",
                )
            )
        if entry_date is not None and entry_date > symbol.expiry:
            issues.append(
                ImportIssue(
                    number,
                    "entry_date",
                    cells["entry_date"],
                    f"after the option's expiry {symbol.expiry.isoformat()}",
                    "invalid_date",
                )
            )
    tags = tuple(t.strip() for t in _TAG_SEPARATORS.split(cells["tags"]) if t.strip())
    for tag in tags:  # the same rules as `sigmasight tag create`
        try:
            validate_tag_name(tag)
        except TagError as exc:
            reason = str(exc).split(": ", 1)[1]
            issues.append(ImportIssue(number, "tags", tag, reason, "invalid_tag"))
    if len({t.casefold() for t in tags}) > MAX_TAGS_PER_POSITION:
        issues.append(
            ImportIssue(
                number,
                "tags",
                cells["tags"],
                f"more than {MAX_TAGS_PER_POSITION} tags",
                "invalid_tag",
            )
        )
    section_tag = _section_tag(section)
    if section_tag is not None and section_tag.casefold() not in {t.casefold() for t in tags}:
        tags = (*tags, section_tag)
    strategy_problem = text_problem("strategy", cells["strategy"])
    if strategy_problem is not None:
        issues.append(
            ImportIssue(number, "strategy", cells["strategy"], strategy_problem, "invalid_text")
        )
    if entry_date is not None and as_of is not None and entry_date > as_of:
        issues.append(
            ImportIssue(
                number,
                "entry_date",
                cells["entry_date"],
                f"in the future (after {as_of.isoformat()})",
                "invalid_date",
            )
        )
    return _CheckedRow(
        row=number,
        symbol_text=cells["symbol"],
        contract_or_ticker=symbol,
        quantity=quantity,
        entry_price=entry_price,
        entry_date=entry_date,
        tags=tags,
        strategy=cells["strategy"] or None,
        issues=tuple(issues),
        section=section,
        broker=broker,
        notes=tuple(notes),
    )


def _parse_symbol(text: str) -> OccContract | str:
    """The option contract (any notation of :mod:`.option_symbols`), or the upper-case ticker.

    A CUSIP/ISIN or a bad option symbol raises ``_InvalidValue`` from an
    :class:`~sigmasight_lib.portfolios.option_symbols.OptionSymbolError`,
    whose ``code`` is ``unsupported_security`` or ``invalid_option_symbol``.
    """
    symbol = text.upper()
    if looks_like_option_symbol(symbol):
        try:
            contract = parse_option_symbol(symbol).contract
        except OptionSymbolError as exc:
            raise _InvalidValue(exc.reason, exc.code) from exc
        _check_limit(number_problem("strike", contract.strike))
        return contract
    if _TICKER.fullmatch(symbol) is None:
        raise _InvalidValue("not a ticker or an OCC option symbol")
    _check_limit(text_problem("underlying", symbol))  # a ticker is its own underlying
    return symbol


def _unsupported_security(text: str) -> str | None:
    """Why the symbol is a security the importer does not take (a CUSIP, an ISIN, a
    futures contract such as ``/ESM7``); None for anything else."""
    symbol = text.strip().upper()
    if symbol.startswith("/"):
        return "futures are not supported"
    kind = security_id_kind(symbol)
    if kind is None:
        return None
    return (  # the wording of option_symbols.UnsupportedSecurityError
        f"{kind} {symbol}: bonds and ISIN-only rows are not supported "
        "(give the ticker or the option symbol instead)"
    )


def _check_limit(problem: str | None) -> None:
    """Raise the limit problem of :mod:`~sigmasight_lib.portfolios.limits` as an invalid value."""
    if problem is not None:
        raise _InvalidValue(problem)


def _parse_number(text: str, *, comma: bool = False) -> float:
    """A number as brokers write it (see the module docstring); ``comma``: decimal comma."""
    body = text.strip()
    if comma:
        body = body.translate(_SWAP_MARKS)
    percent = body.endswith("%")
    if percent:
        body = body[:-1].strip()
    in_parentheses = body.startswith("(") and body.endswith(")")
    if in_parentheses:
        body = body[1:-1].strip()
    match = _AMOUNT.fullmatch(body)
    if match is None:
        raise _InvalidValue("not a number")
    sign = match["sign"] or match["late_sign"]
    if (match["sign"] and match["late_sign"]) or (in_parentheses and sign):
        raise _InvalidValue("not a number")
    value = float(match["digits"].replace(",", ""))
    value = value / 100 if percent else value
    return -value if in_parentheses or sign == "-" else value


def _is_number(text: str) -> bool:
    try:
        _parse_number(text)
    except _InvalidValue:
        return False
    return True


def _number_reading(text: str) -> str | None:
    """``"comma"`` / ``"point"`` when the cell reads as a number only with that decimal mark."""
    core = re.sub(r"[^\d.,]", "", text)
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+,\d+|\d{1,3}(?:\.\d{3}){2,}", core) or (
        re.fullmatch(r"\d+,\d+", core) and not re.fullmatch(r"\d{1,3}(?:,\d{3})+", core)
    ):
        return "comma"
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+\.\d+|\d{1,3}(?:,\d{3}){2,}", core) or (
        re.fullmatch(r"\d+\.\d+", core) and not re.fullmatch(r"\d{1,3}(?:\.\d{3})+", core)
    ):
        return "point"
    return None


def _parse_quantity(text: str, *, comma: bool = False) -> float:
    return _check_quantity(_parse_number(text, comma=comma))


def _parse_entry_price(text: str, *, comma: bool = False) -> float:
    return _check_entry_price(_parse_number(text, comma=comma))


def _check_quantity(quantity: float) -> float:
    if quantity == 0:
        raise _InvalidValue("must not be zero")
    _check_limit(number_problem("quantity", quantity))
    return quantity


def _check_entry_price(price: float) -> float:
    if price <= 0:
        raise _InvalidValue("must be greater than zero")
    _check_limit(number_problem("entry_price", price))
    return price


def _parse_date(text: str) -> dt.date:
    """A date in one of :data:`_DATE_FORMATS`, ISO with a time and offset, ``yyyymmdd``
    (also IBKR's ``20240715;093000``) or Schwab's ``07/15/2024 as of 07/12/2024`` (the
    *as of* date: when the trade took effect)."""
    body = " ".join(text.split())
    as_of = re.fullmatch(r"(.+?) as of (.+)", body, flags=re.IGNORECASE)
    if as_of is not None:
        body = as_of[2]
    stamp = re.fullmatch(r"(\d{8})[;,\s]\d{4,6}", body)
    if stamp is not None:
        body = stamp[1]
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(body, fmt).date()
        except ValueError:
            continue
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}.*", body):
        try:
            return dt.datetime.fromisoformat(body.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise _InvalidValue("not a date")


# --------------------------------------------------------------------------- across rows


def _with_issues(row: _CheckedRow, issues: list[ImportIssue]) -> _CheckedRow:
    return replace(row, issues=(*row.issues, *issues))


def _flag_unknown_symbols(
    rows: list[_CheckedRow], unknown_symbols: Callable[[Iterable[str]], set[str]] | None
) -> list[_CheckedRow]:
    """Ask the provider once about every ticker/underlying; flag the rows it does not know."""
    underlyings = sorted({u for row in rows if (u := row.underlying) is not None})
    if unknown_symbols is None or not underlyings:
        return rows
    unknown = set(unknown_symbols(underlyings))
    return [
        _with_issues(
            row,
            [
                ImportIssue(
                    row.row, "symbol", row.symbol_text, UNKNOWN_SYMBOL_REASON, "unknown_symbol"
                )
            ],
        )
        if row.underlying in unknown
        else row
        for row in rows
    ]


def _flag_duplicates(rows: list[_CheckedRow]) -> list[_CheckedRow]:
    """Flag each row that repeats an earlier row's symbol, quantity, entry price and date."""
    first_seen: dict[tuple[str, float, float, dt.date], int] = {}
    flagged: list[_CheckedRow] = []
    for row in rows:
        key = row.duplicate_key
        if key is not None and key in first_seen:
            row = _with_issues(
                row,
                [
                    ImportIssue(
                        row.row, None, None, f"duplicate of row {first_seen[key]}", "duplicate_row"
                    )
                ],
            )
        elif key is not None:
            first_seen[key] = row.row
        flagged.append(row)
    return flagged


def _to_spec(row: _CheckedRow) -> PositionSpec:
    """The position of a row without issues."""
    symbol = row.contract_or_ticker
    assert symbol is not None and row.quantity is not None  # guaranteed by the absence of issues
    return make_position_spec(
        symbol.compact if isinstance(symbol, OccContract) else symbol,
        row.quantity,
        entry_price=row.entry_price,
        entry_date=row.entry_date,
        tags=row.tags,
        strategy=row.strategy,
    )


def _spec_to_dict(spec: PositionSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "quantity": spec.quantity,
        "underlying": spec.underlying,
        "position_type": spec.position_type.value,
        "entry_price": spec.entry_price,
        "entry_date": spec.entry_date.isoformat() if spec.entry_date else None,
        "option_type": spec.option_type,
        "strike": spec.strike,
        "expiry": spec.expiry.isoformat() if spec.expiry else None,
        "multiplier": spec.multiplier,
        "tags": list(spec.tags),
        "strategy": spec.strategy,
    }


def _grouped_notes(rows: list[_CheckedRow], shown: int = 20) -> list[tuple[int, str]]:
    """One note per text for all the rows it applies to: ``rows 3, 4 and 9: ...`` (at
    most ``shown`` row numbers, then how many more), keyed by the first row."""
    by_text: dict[str, list[int]] = {}
    for row in rows:
        for note in row.notes:
            by_text.setdefault(note, []).append(row.row)
    out = []
    for text, numbers in by_text.items():
        if len(numbers) == 1:
            where = f"row {numbers[0]}"
        elif len(numbers) <= shown:
            where = f"rows {', '.join(map(str, numbers[:-1]))} and {numbers[-1]}"
        else:
            listed = ", ".join(map(str, numbers[:shown]))
            where = f"rows {listed} and {len(numbers) - shown} more"
        out.append((numbers[0], f"{where}: {text}"))
    return out


def _section_tag(section: str | None) -> str | None:
    """The section title as a valid tag (``ETFs & Funds`` -> ``ETFs Funds``); None if none."""
    if not section:
        return None
    tag = " ".join(re.sub(r"[^A-Za-z0-9 _.-]+", " ", section).split())[:40].strip()
    try:
        validate_tag_name(tag)
    except TagError:
        return None
    return tag
