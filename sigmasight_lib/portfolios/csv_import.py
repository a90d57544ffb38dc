"""Parse and validate a broker-style positions CSV (pure: no database, no network).

Input
-----
One position per row; the header names the columns. Example (a Schwab-like
export; ``Description`` is ignored, the last row is skipped as a totals row):

===================== =========== ======== ========== ============= =========
Symbol                Description Quantity Price Paid Date Acquired Tags
===================== =========== ======== ========== ============= =========
AAPL                  APPLE INC   100      $150.25    01/15/2017    core;tech
TSLA                  TESLA INC   (50)     $245.10    02/01/2017    hedge
AAPL  170616C00140000 AAPL CALL   2        5.40       03/01/2017
SPY170616P00230000    SPY PUT     -1       3.10       2017-03-01    income
Account Total                              $2,850.05
===================== =========== ======== ========== ============= =========

Columns (see :data:`ACCEPTED_HEADERS`; headers match ignoring case, spaces
and punctuation, so ``Entry Price``, ``entry_price`` and ``ENTRYPRICE`` are
the same; other columns are ignored and noted):

* required: ``symbol`` (ticker, or OCC option symbol padded or compact),
  ``quantity`` (signed: shares, or contracts for options; negative = short),
  ``entry_price`` (per share; for options the premium per share),
  ``entry_date``;
* optional: ``tags`` (separated by ``;`` or ``|``), ``strategy``.

Values
------
Numbers
    Surrounding spaces, a leading ``$``, ``€``, ``£`` or ``USD`` (stripped,
    not converted), comma thousands separators in valid positions
    (``1,234.50``; ``150,25`` is rejected because decimal commas are not
    supported), a leading ``+`` or ``-`` and parentheses for negatives
    (``(1,234.50)`` = -1234.5). A *trailing* minus (``1,234.50-``) is rejected
    as "not a number": no US broker export uses it and guessing a sign is
    worse than asking.
Dates
    ISO ``2017-01-15``; US month-first ``1/15/2017`` and ``01/15/17``
    (two-digit years 00-68 are 20xx, 69-99 are 19xx); ``15-Jan-2017``;
    ``Jan 15, 2017`` / ``January 15, 2017``. Day-first dates such as
    ``15/01/2017`` are rejected ("not a date").

Tolerated: a UTF-8 byte order mark, CRLF line endings, a file that is not
UTF-8 (read as Windows-1252, noted), blank rows, a ``;`` or tab delimiter
(detected from the header line, noted), and totals rows (skipped, noted): a
symbol cell ``Total``, ``Totals``, ``Grand Total`` or ``Account Total``, or an
empty symbol with numbers in a row after the last row that has a symbol.

Row numbers are the ones a spreadsheet shows: the header is row 1 (when the
file does not start with blank lines) and blank lines count.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from sigmasight_lib.portfolios.limits import number_problem, text_problem
from sigmasight_lib.portfolios.occ import OccContract
from sigmasight_lib.portfolios.option_symbols import (
    OptionSymbolError,
    looks_like_option_symbol,
    parse_option_symbol,
    root_underlying,
)
from sigmasight_lib.portfolios.positions import PositionSpec, make_position_spec
from sigmasight_lib.portfolios.tags import MAX_TAGS_PER_POSITION, TagError, validate_tag_name

ACCEPTED_HEADERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "symbol": ("Symbol", "Ticker", "Security", "Instrument"),
        "quantity": ("Quantity", "Qty", "Shares", "Position", "Contracts"),
        "entry_price": (
            "Entry Price",
            "Avg Cost",
            "Average Cost",
            "Cost Basis Per Share",
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
        ),
        "tags": ("Tags", "Tag", "Labels"),
        "strategy": ("Strategy",),
    }
)
"""Column name -> accepted headers, in the order of :func:`template_csv`."""

REQUIRED_COLUMNS: tuple[str, ...] = ("symbol", "quantity", "entry_price", "entry_date")

UNKNOWN_SYMBOL_REASON = "symbol not known to the market data provider"

_T = TypeVar("_T")

_DELIMITERS = ",;\t"
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y", "%d-%b-%Y", "%b %d, %Y", "%B %d, %Y")
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
_TOTALS_LABEL = re.compile(r"(?:grand |account )?totals?:?")
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
    """

    row: int | None
    field: str | None
    value: str | None
    reason: str

    def __str__(self) -> str:
        where = [f"row {self.row}"] if self.row is not None else []
        if self.field is not None:
            where.append(f"field {self.field}")
        if self.value is not None:
            where.append(f"value {self.value!r}")
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping, with the one-line ``message``."""
        return {
            "row": self.row,
            "field": self.field,
            "value": self.value,
            "reason": self.reason,
            "message": str(self),
        }


@dataclass(frozen=True)
class ParsedRow:
    """A valid data row: its spreadsheet row number and the position it describes."""

    row: int
    spec: PositionSpec


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
            "rows": [{"row": parsed.row, **_spec_to_dict(parsed.spec)} for parsed in self.rows],
            "issues": [issue.to_dict() for issue in self.issues],
            "notes": list(self.notes),
        }


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
    """A cell cannot be used; the message is the issue's reason."""


def parse_positions_csv(
    source: str | Path | bytes,
    *,
    unknown_symbols: Callable[[Iterable[str]], set[str]] | None = None,
    as_of: dt.date | None = None,
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
        empty = ImportIssue(None, None, None, "file is empty (no header row)")
        return ImportReport((), trailing or (empty,), tuple(notes))

    (_, header), data = numbered[0], numbered[1:]
    columns, header_notes = _map_header(header)
    notes += header_notes
    missing = [_missing_column_issue(name) for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        return ImportReport((), tuple(missing) + trailing, tuple(notes))

    def cell(cells: list[str], name: str) -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    last_with_symbol = max((n for n, cells in data if cell(cells, "symbol")), default=0)
    checked: list[_CheckedRow] = []
    for number, cells in data:
        symbol = cell(cells, "symbol")
        if _is_totals_row(symbol, cells, after_last_symbol=number > last_with_symbol):
            notes.append(f"row {number}: totals row skipped")
            continue
        row = _check_row(number, {name: cell(cells, name) for name in ACCEPTED_HEADERS}, as_of)
        checked.append(_with_issues(row, _extra_cells_issues(number, cells, len(header))))

    if not checked:
        no_data = ImportIssue(None, None, None, "no data rows below the header")
        return ImportReport((), trailing or (no_data,), tuple(notes))
    checked = _flag_duplicates(_flag_unknown_symbols(checked, unknown_symbols))
    issues = tuple(issue for row in checked for issue in row.issues)
    valid = tuple(ParsedRow(row.row, _to_spec(row)) for row in checked if not row.issues)
    failed = tuple((row.row, row.symbol) for row in checked if row.issues)
    unread = () if unreadable is None else ((unreadable.row, None),)
    return ImportReport(valid, issues + trailing, tuple(notes), failed + unread)


def template_csv() -> str:
    """A CSV template with every accepted column and example rows.

    The rows are a long stock, a short stock, a long call and a short put
    (options in compact OCC form; their entry price is the premium per share).

    Returns
    -------
    str
        CSV text with ``\\n`` line endings that :func:`parse_positions_csv` accepts.
    """
    from sigmasight_lib.reporting.csv_safety import csv_text

    rows = (
        ("AAPL", "100", "150.25", "2024-01-15", "core;tech", ""),
        ("TSLA", "-50", "245.10", "2024-02-01", "hedge", ""),
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
            number, None, None, f"not readable as CSV ({exc}); rows from here on were not read"
        )
    return records, None


def _extra_cells_issues(number: int, cells: list[str], width: int) -> list[ImportIssue]:
    """An issue when a row has non-empty cells beyond the header (an unquoted ``1,234``?)."""
    if _is_blank(cells[width:]):
        return []
    reason = f"has {len(cells)} cells but the header has {width} columns"
    return [ImportIssue(number, None, None, reason)]


def _is_blank(cells: list[str]) -> bool:
    return not any(c.strip() for c in cells)


def _normalize_header(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


_HEADER_LOOKUP: Mapping[str, str] = {
    _normalize_header(header): name
    for name, headers in ACCEPTED_HEADERS.items()
    for header in (name, *headers)
}


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
    return ImportIssue(None, name, None, f"missing required column (accepted headers: {accepted})")


def _is_totals_row(symbol: str, cells: list[str], *, after_last_symbol: bool) -> bool:
    """A ``Total``-like symbol, or no symbol but numbers after the last position row."""
    if symbol:
        return _TOTALS_LABEL.fullmatch(" ".join(symbol.casefold().split())) is not None
    return after_last_symbol and any(_is_number(c) for c in cells)


# --------------------------------------------------------------------------- one row


def _check_row(number: int, cells: Mapping[str, str], as_of: dt.date | None) -> _CheckedRow:
    """Check each cell of one data row on its own, collecting every issue."""
    issues: list[ImportIssue] = []

    def required(name: str, parse: Callable[[str], _T]) -> _T | None:
        value = cells[name]
        if not value:
            issues.append(ImportIssue(number, name, value, "required value is empty"))
            return None
        try:
            return parse(value)
        except _InvalidValue as exc:
            issues.append(ImportIssue(number, name, value, str(exc)))
            return None

    symbol = required("symbol", _parse_symbol)
    quantity = required("quantity", _parse_quantity)
    entry_price = required("entry_price", _parse_entry_price)
    entry_date = required("entry_date", _parse_date)

    if isinstance(symbol, OccContract):
        if quantity is not None and not quantity.is_integer():
            issues.append(
                ImportIssue(
                    number,
                    "quantity",
                    cells["quantity"],
                    "must be a whole number of option contracts",
                )
            )
        if entry_date is not None and entry_date > symbol.expiry:
            issues.append(
                ImportIssue(
                    number,
                    "entry_date",
                    cells["entry_date"],
                    f"after the option's expiry {symbol.expiry.isoformat()}",
                )
            )
    tags = tuple(t.strip() for t in _TAG_SEPARATORS.split(cells["tags"]) if t.strip())
    for tag in tags:  # the same rules as `sigmasight tag create`
        try:
            validate_tag_name(tag)
        except TagError as exc:
            issues.append(ImportIssue(number, "tags", tag, str(exc).split(": ", 1)[1]))
    if len({t.casefold() for t in tags}) > MAX_TAGS_PER_POSITION:
        issues.append(
            ImportIssue(number, "tags", cells["tags"], f"more than {MAX_TAGS_PER_POSITION} tags")
        )
    strategy_problem = text_problem("strategy", cells["strategy"])
    if strategy_problem is not None:
        issues.append(ImportIssue(number, "strategy", cells["strategy"], strategy_problem))
    if entry_date is not None and as_of is not None and entry_date > as_of:
        issues.append(
            ImportIssue(
                number,
                "entry_date",
                cells["entry_date"],
                f"in the future (after {as_of.isoformat()})",
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
            raise _InvalidValue(exc.reason) from exc
        _check_limit(number_problem("strike", contract.strike))
        return contract
    if _TICKER.fullmatch(symbol) is None:
        raise _InvalidValue("not a ticker or an OCC option symbol")
    _check_limit(text_problem("underlying", symbol))  # a ticker is its own underlying
    return symbol


def _check_limit(problem: str | None) -> None:
    """Raise the limit problem of :mod:`~sigmasight_lib.portfolios.limits` as an invalid value."""
    if problem is not None:
        raise _InvalidValue(problem)


def _parse_number(text: str) -> float:
    """A number as brokers write it (see the module docstring)."""
    body = text.strip()
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
    return -value if in_parentheses or sign == "-" else value


def _is_number(text: str) -> bool:
    try:
        _parse_number(text)
    except _InvalidValue:
        return False
    return True


def _parse_quantity(text: str) -> float:
    quantity = _parse_number(text)
    if quantity == 0:
        raise _InvalidValue("must not be zero")
    _check_limit(number_problem("quantity", quantity))
    return quantity


def _parse_entry_price(text: str) -> float:
    price = _parse_number(text)
    if price <= 0:
        raise _InvalidValue("must be greater than zero")
    _check_limit(number_problem("entry_price", price))
    return price


def _parse_date(text: str) -> dt.date:
    """A date in one of :data:`_DATE_FORMATS`."""
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
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
        _with_issues(row, [ImportIssue(row.row, "symbol", row.symbol_text, UNKNOWN_SYMBOL_REASON)])
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
                row, [ImportIssue(row.row, None, None, f"duplicate of row {first_seen[key]}")]
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
