"""How notebooks show results: formatted summaries, notes, headers and tables.

A notebook's display cells call these instead of showing Python objects, so an
HTML render reads like a tear sheet rather than a list of reprs::

    show_header(run)              # Long/Short Hedge Fund Style · as of 2017-03-29 · batch run 4
    show_summary(run)             # Metric | Value, with units
    show_notes(run)               # a bullet list, "No notes." when empty
    show_table(run.tables["positions"])

Each function returns a :class:`Display` (HTML for the renders and JupyterLab, plain
text for consoles); nothing here prints or calls ``display()``: the value of a cell's
last expression is what the notebook shows.

Units come from the key or column name, the conventions used throughout the
engines (see :func:`unit_of`): ``*_usd`` dollars (``$1,397,455`` / ``-$15,009``),
``*_usd2`` squared dollars, fractions (``*_pct``, ``share``, ``*_vol``, VaR as a
fraction, shocks and moves) as ``0.48 %``, betas to 3 decimals, Greeks to 2,
correlations and R² to 3, counts as integers, dates as ISO; lists are joined and
dicts read ``Market: SPY, Value: VLUE``. A missing figure is ``N/A``; a reason
column beside it (``reason``, ``notes``, ``*_reason``, ``message``) stays visible.
The number formats themselves are those of the reports
(:mod:`sigmasight_lib.reporting.formats`).
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sigmasight_lib.reporting import formats

MAX_ROWS = 30
"""Rows a table shows before it is cut to its first rows (default of :func:`show_table`)."""

NOT_AVAILABLE = "N/A"
"""What a missing figure reads in a notebook."""

EMPTY = "—"
"""An empty list or dict, or a missing reason."""

WIDE_ROW_COLUMNS = 8
"""A one-row table with more columns than this is shown as Metric | Value."""

REASON_COLUMNS = ("reason", "notes", "note", "message", "unmapped")
"""Text columns that explain a missing figure (also any name ending in ``_reason``)."""

GREEKS = ("delta", "gamma", "theta", "vega", "rho")

_SCENARIO_PNL = re.compile(r"^(market|rates)_(up|down)_\d+(pct|bp)$")
_VAR = re.compile(r"^(parametric_)?c?var_\d+$")
_MOVE = re.compile(r"(^|_)(move|shock|alpha|error|error_of_gross)(_|$)")

LABELS: dict[str, str] = {
    "as_of": "As of",
    "r_squared": "R²",
    "t_stat": "t-stat",
    "sharpe": "Sharpe ratio",
    "sortino": "Sortino ratio",
    "effective_bets": "Effective number of bets",
    "decay": "EWMA decay (λ)",
    "id": "ID",
}
"""Labels that the word-by-word rule of :func:`label` would get wrong."""

WORDS: dict[str, str] = {
    "pnl": "P&L", "var": "VaR", "cvar": "CVaR", "usd": "USD", "ir": "IR", "id": "ID",
    "rmse": "RMSE", "ols": "OLS", "bsm": "BSM", "ewma": "EWMA", "nlv": "NLV", "lr": "LR",
    "p": "p", "dae": "DAE",
}  # fmt: skip
"""Words written in a fixed case (acronyms)."""


# --------------------------------------------------------------------------- units


def _key(name: object) -> str:
    """The unit-bearing part of a key: its last ``.`` segment (``Market.beta_to_gross``)."""
    return str(name).strip().rsplit(".", 1)[-1]


def unit_of(name: object) -> str:
    """The unit a key or column name implies.

    Returns one of ``usd``, ``usd2``, ``price``, ``pct``, ``beta``, ``greek``,
    ``corr`` (3 decimals), ``ratio`` (2 decimals), ``count`` or ``number`` (no unit
    known: decimals by magnitude). Labels with spaces or capitals (factor names,
    tickers) are ``number``.
    """
    key = _key(name)
    if not key or " " in key or key != key.lower():
        return "number"
    if key.endswith("_usd2"):
        return "usd2"
    if key.endswith("_usd") or key == "usd" or "pnl" in key or _SCENARIO_PNL.match(key):
        return "usd"
    if key == "price" or key.endswith("_price"):
        return "price"
    if "beta" in key:
        return "beta"
    if _VAR.match(key) or _MOVE.search(key) or formats.is_percent_column(key):
        return "pct"
    if key in GREEKS or (key.startswith("portfolio_") and key[10:] in GREEKS):
        return "greek"
    if "correlation" in key or key == "r_squared" or key.startswith("r_squared_"):
        return "corr"
    if key in ("sharpe", "sortino", "decay", "effective_bets", "t_stat") or key.endswith(
        ("_ratio", "_number", "_lr")
    ):
        return "ratio"
    if key.endswith(("count", "observations", "_days", "sessions", "overlap")) or key in (
        "positions", "options", "symbols", "scenarios", "assets", "clusters", "cluster",
        "rows_saved", "exceptions",
    ):  # fmt: skip
        return "count"
    return "number"


def is_reason(name: object) -> bool:
    """Whether a column or key holds the reason for a missing figure (shown as text)."""
    key = _key(name).lower()
    return key in REASON_COLUMNS or key.endswith("_reason")


def _scalar(value: Any) -> Any:
    """numpy scalars as Python scalars, pandas timestamps as datetimes, NaT as None."""
    if value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: float | int, unit: str, decimals: int | None = None) -> str:
    out = _unsigned_zero(_number_text(value, unit, decimals))
    return out


def _unsigned_zero(text: str) -> str:
    """``-0.000`` / ``-$0`` (a tiny negative rounded away) without the sign."""
    return text[1:] if text.startswith("-") and not re.search(r"[1-9]", text) else text


def _number_text(value: float | int, unit: str, decimals: int | None = None) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if unit == "usd":
        return formats.usd(value)
    if unit == "price":
        return formats.price(value)
    if unit == "usd2":
        return formats.num(value, 0)
    if unit == "pct":
        return formats.pct(value)
    if unit == "beta" or unit == "corr":
        return formats.num(value, 3)
    if unit == "greek" or unit == "ratio":
        return formats.num(value, 2)
    if isinstance(value, int) or (unit == "count" and float(value).is_integer()):
        return formats.integer(value)
    if decimals is None:
        decimals = _decimals([value])
    return formats.num(value, decimals)


def _decimals(values: Iterable[Any]) -> int:
    """Decimals for numbers without a known unit: 0 when all are whole, 3 below 10 in
    magnitude, 2 below 1,000, else 0."""
    finite = [float(v) for v in values if formats.finite(_scalar(v))]
    if not finite or all(v.is_integer() for v in finite):
        return 0
    top = max(abs(v) for v in finite)
    return 3 if top < 10 else 2 if top < 1000 else 0


def format_value(value: Any, key: object = "") -> str:
    """One value as a person reads it, its unit taken from ``key`` (:func:`unit_of`).

    Examples: ``format_value(-15008.6, "daily_pnl_usd")`` → ``-$15,009``;
    ``format_value(0.0048, "var_95")`` → ``0.48 %``; ``format_value({"Market": "SPY"},
    "proxies_used")`` → ``Market: SPY``; None / NaN → ``N/A`` (``—`` for a reason key);
    True → ``Yes``. Never a Python repr.
    """
    value = _scalar(value)
    if _missing(value):
        return EMPTY if is_reason(key) else NOT_AVAILABLE
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M") + (" UTC" if value.tzinfo else "")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | float):
        return _number(value, unit_of(key))
    if isinstance(value, str):
        return value
    if isinstance(value, Path):
        return value.name
    if isinstance(value, Mapping):
        if not value:
            return EMPTY
        return ", ".join(f"{_item_label(k)}: {_inner(v, k, key)}" for k, v in value.items())
    if isinstance(value, pd.Series | pd.Index):
        value = value.tolist()
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            return EMPTY
        sep = "; " if any(isinstance(v, Mapping) for v in value) else ", "
        return sep.join(format_value(v, key) for v in value)
    if isinstance(value, pd.DataFrame):
        return f"table of {len(value):,} rows"
    return str(value)


def _inner(value: Any, inner_key: object, outer_key: object) -> str:
    """A dict value: its own key's unit when that key names one, else the dict's key."""
    own = isinstance(inner_key, str) and unit_of(inner_key) != "number"
    return format_value(value, inner_key if own else outer_key)


def _item_label(key: object) -> str:
    return label(key) if isinstance(key, str) and key == key.lower() else str(key)


def label(name: object) -> str:
    """A key or column name as a heading: ``net_liquidation_value_usd`` → ``Net liquidation
    value``, ``factor_variance_usd2`` → ``Factor variance (USD²)``, ``var_95_usd`` → ``VaR 95``.

    Names that are not snake case (``Low Volatility``, ``AAPL``) are returned as they are.
    """
    text = str(name)
    *head, last = text.rsplit(".", 1)
    if not last or last != last.lower() or " " in last:
        return text
    if last in LABELS:
        words_text = LABELS[last]
        return (
            " · ".join([*(_item_label(h) for h in head[0].split(".")), words_text])
            if head
            else words_text
        )
    words = last.split("_")
    suffix = ""
    if words[-1] == "usd2" and len(words) > 1:
        words, suffix = words[:-1], " (USD²)"
    elif words[-1] == "usd" and len(words) > 1:
        words = words[:-1]
    out: list[str] = []
    for w in words:
        if w.isdigit() and out and out[-1] in ("VaR", "CVaR"):
            out.append(f"{w} %")
        elif w in WORDS:
            out.append(WORDS[w])
        elif m := re.fullmatch(r"(\d+)(pct|bp)", w):
            out.append(f"{m[1]} {'%' if m[2] == 'pct' else 'bp'}")
        else:
            out.append(w)
    if _VAR.match(last):
        suffix = " (of gross)"
    words_text = " ".join(out)
    words_text = words_text[:1].upper() + words_text[1:]
    prefix = " · ".join(_item_label(h) for h in head[0].split(".")) + " · " if head else ""
    return prefix + words_text + suffix


# --------------------------------------------------------------------------- the display object


@dataclass(frozen=True)
class Display:
    """Something a notebook cell shows: HTML for renders, plain text for consoles."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


TABLE_CSS = (
    "font-size:12px;border-collapse:collapse;margin:4px 0 8px 0;font-variant-numeric:tabular-nums;"
)
_STYLES = [
    {"selector": "", "props": TABLE_CSS},
    {
        "selector": "th",
        "props": "background:#f1f3f6;color:#1f2933;font-weight:600;"
        "padding:4px 8px;border-bottom:1px solid #c8ced6;"
        "white-space:normal;vertical-align:bottom;text-align:left;",
    },  # fmt: skip
    {
        "selector": "td",
        "props": "padding:3px 8px;border-bottom:1px solid #e6e9ee;vertical-align:top;",
    },  # fmt: skip
    {"selector": "tbody tr:nth-child(even)", "props": "background:#fafbfc;"},
    {"selector": "td.num", "props": "text-align:right;white-space:nowrap;"},
    {"selector": "td.day", "props": "text-align:left;white-space:nowrap;"},
    {
        "selector": "td.txt",
        "props": "text-align:left;white-space:normal;max-width:32em;overflow-wrap:break-word;",
    },  # fmt: skip
    {
        "selector": "th.row_heading",
        "props": "background:#f7f8fa;font-weight:500;white-space:nowrap;",
    },  # fmt: skip
]
_WRAP = '<div class="sigmasight-table" style="max-width:100%;overflow-x:auto;">{}</div>'
_NOTE = (
    '<p class="sigmasight-more" style="font-size:12px;color:#52606d;margin:2px 0 10px 0;">{}</p>'
)
_ids = itertools.count(1)


def _column_formatter(column: pd.Series, name: object) -> Callable[[Any], str]:
    unit = unit_of(name)
    if pd.api.types.is_bool_dtype(column):
        return lambda v: format_value(v, name)
    if unit == "number" and pd.api.types.is_float_dtype(column):
        decimals = _decimals(column)
        return lambda v: (
            NOT_AVAILABLE if _missing(_scalar(v)) else _number(_scalar(v), "number", decimals)
        )
    return lambda v: format_value(v, name)


def _cell_class(column: pd.Series) -> str:
    """``num`` (right, no wrap), ``day`` (dates: left, no wrap) or ``txt`` (left, wraps)."""
    if _is_numeric(column):
        return "num"
    if (
        pd.api.types.is_datetime64_any_dtype(column)
        or column.map(lambda v: isinstance(v, dt.date) or v is None).all()
    ):
        return "day"
    return "txt"


def _is_numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _row_keyed(frame: pd.DataFrame, row_keys: str) -> pd.DataFrame:
    """Cells formatted by their row's key (``row_keys``: a column or ``"index"``)."""
    keys = frame.index if row_keys == "index" else frame[row_keys]
    out = frame.astype(object).copy()
    for c in frame.columns:
        if c != row_keys:
            out[c] = [format_value(v, k) for v, k in zip(frame[c], keys, strict=True)]
    return out


def summary_frame(summary: Mapping[str, Any]) -> pd.DataFrame:
    """A summary dict as a two-column frame: ``Metric`` (label) and ``Value`` (formatted)."""
    return pd.DataFrame(
        {
            "Metric": [label(k) for k in summary],
            "Value": [format_value(v, k) for k, v in summary.items()],
        }  # fmt: skip
    )


def show_table(
    frame: pd.DataFrame,
    *,
    max_rows: int = MAX_ROWS,
    full_table: str | None = None,
    row_keys: str | None = None,
    caption: str | None = None,
    empty: str = "No rows.",
) -> Display:
    """A table with per-column formats, cut to ``max_rows`` rows.

    Parameters
    ----------
    frame : DataFrame
        Any result table. Column formats follow :func:`unit_of` of the column name
        (float columns without a known unit: decimals by magnitude); booleans read
        Yes / No; missing values ``N/A`` (``—`` in a reason column, which stays
        beside the figure it explains). A range index without a name is hidden; any
        other index becomes the first columns.
        A one-row table with more than :data:`WIDE_ROW_COLUMNS` columns is shown as
        Metric | Value.
    max_rows : int, default=25
        Longer tables show their first ``max_rows`` rows and a line saying how many
        more there are and where the full table is.
    full_table : str, optional
        Where the full table is (HTML allowed, e.g. a link to its CSV); said on the
        "more rows" line.
    row_keys : str, optional
        ``"index"`` or a column whose values are metric keys (``var_95_usd``): each
        row's numbers are formatted by its key (long metric / value tables).
    caption : str, optional
        A line above the table.
    empty : str, default="No rows."
        What an empty table reads.
    """
    if not isinstance(frame, pd.DataFrame):
        frame = pd.DataFrame(frame)
    if frame.empty:
        return _lines([empty], caption)
    if len(frame) == 1 and frame.shape[1] > WIDE_ROW_COLUMNS and row_keys is None:
        row = frame.iloc[0]
        return show_summary(dict(zip(map(str, frame.columns), row.tolist(), strict=True)))
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None):
        if row_keys == "index":  # the keys become the first column
            frame, row_keys = frame.rename_axis("metric").reset_index(), "metric"
        else:
            names = [n if n is not None else "" for n in frame.index.names]
            frame = frame.rename_axis(names).reset_index()
    total = len(frame)
    shown = frame.iloc[:max_rows] if total > max_rows else frame
    if row_keys is not None:
        shown = _row_keyed(shown, row_keys)
    styler = shown.style
    styler.set_uuid(f"ss{next(_ids)}")
    if row_keys is None:
        for c in shown.columns:
            na = EMPTY if is_reason(c) else NOT_AVAILABLE
            styler.format(_column_formatter(frame[c], c), subset=[c], na_rep=na)
    styler.relabel_index([label(c) for c in shown.columns], axis=1)
    classes = pd.DataFrame(
        {c: [_cell_class(frame[c]) if row_keys is None else "txt"] * len(shown)
         for c in shown.columns},
        index=shown.index,
    )  # fmt: skip
    if row_keys is not None:  # formatted text, right-aligned unless it is the key column
        for c in shown.columns:
            if c != row_keys and _is_numeric(frame[c]):
                classes[c] = "num"
    styler.set_td_classes(classes)
    styler.set_table_styles(_STYLES)
    styler.hide(axis="index")
    body = _WRAP.format(styler.to_html())
    if caption:
        body = f"<p><strong>{html.escape(caption)}</strong></p>" + body
    text = shown.to_string(max_cols=12) if len(shown.columns) else ""
    if total > len(shown):
        more = total - len(shown)
        where = f" Full table: {full_table}." if full_table else ""
        line = f"Showing the first {len(shown):,} of {total:,} rows ({more:,} more).{where}"
        body += _NOTE.format(line)
        text += "\n" + re.sub(r"<[^>]+>", "", line)
    return Display(body, text)


def _lines(lines: list[str], caption: str | None = None) -> Display:
    head = f"<p><strong>{html.escape(caption)}</strong></p>" if caption else ""
    body = "".join(f"<p>{html.escape(s)}</p>" for s in lines)
    return Display(head + body, "\n".join(lines))


def show_summary(summary: Any) -> Display:
    """Headline figures as a Metric | Value table with units.

    ``summary``: a run (its ``summary``), a mapping, or a Series.
    """
    if hasattr(summary, "summary") and not callable(summary.summary):
        summary = summary.summary
    if isinstance(summary, pd.Series):
        summary = summary.to_dict()
    frame = summary_frame(summary)
    if frame.empty:
        return _lines(["No figures."])
    styler = frame.style.hide(axis="index")
    styler.set_uuid(f"ss{next(_ids)}")
    styler.set_td_classes(pd.DataFrame({"Metric": "txt", "Value": "num"}, index=frame.index))
    styler.set_table_styles(
        [
            *_STYLES,
            {"selector": "td.txt", "props": "white-space:nowrap;"},
            {"selector": "td.num", "props": "white-space:normal;max-width:48em;"},
        ]  # fmt: skip
    )
    text = "\n".join(f"{m}: {v}" for m, v in zip(frame["Metric"], frame["Value"], strict=True))
    return Display(_WRAP.format(styler.to_html()), text)


def show_notes(notes: Any) -> Display:
    """Notes (N/A reasons, fallbacks, exclusions) as a bullet list; "No notes." when empty.

    ``notes``: a run (its ``notes``), or a sequence of strings.
    """
    if hasattr(notes, "notes") and not callable(notes.notes):
        notes = notes.notes
    if isinstance(notes, str):
        notes = [notes]
    items = [format_value(n) for n in (notes or ())]
    if not items:
        return Display('<p class="sigmasight-notes"><em>No notes.</em></p>', "No notes.")
    body = "".join(f"<li>{html.escape(n)}</li>" for n in items)
    return Display(
        f'<ul class="sigmasight-notes" style="font-size:13px;">{body}</ul>',
        "\n".join(f"- {n}" for n in items),
    )


def header_fields(run: Any) -> dict[str, Any]:
    """The header of a run: portfolio, as-of and the batch run (or that it was not saved)."""
    fields: dict[str, Any] = {}
    if getattr(run, "portfolio", None) is not None:
        fields["portfolio"] = run.portfolio
    if getattr(run, "as_of", None) is not None:
        fields["as_of"] = run.as_of
    if getattr(run, "provider", None) is not None:
        fields["provider"] = run.provider
    if hasattr(run, "batch_run_id"):
        if run.batch_run_id is not None:
            fields["run"] = f"batch run {run.batch_run_id}"
        elif getattr(run, "rows_saved", 0):
            fields["run"] = "saved without a batch run"
        else:
            fields["run"] = "exploration run, not saved"
    return fields


def show_header(run: Any = None, /, **fields: Any) -> Display:
    """One line naming what the page shows: ``Portfolio · as of 2017-03-29 · batch run 4``.

    ``run``: an engine or coverage run (portfolio, as-of, batch run); ``fields`` add or
    replace entries (``period="2015-01-02 to 2016-12-30"``), each formatted by its key.
    """
    items = {**(header_fields(run) if run is not None else {}), **fields}
    parts_html, parts_text = [], []
    for key, value in items.items():
        text = format_value(value, key)
        if key == "portfolio":
            parts_html.append(f"<strong>{html.escape(text)}</strong>")
            parts_text.append(text)
        elif key == "run":
            parts_html.append(html.escape(text))
            parts_text.append(text)
        else:
            name = "as of" if key == "as_of" else label(key)
            parts_html.append(f"{html.escape(name)} {html.escape(text)}")
            parts_text.append(f"{name} {text}")
    body = " · ".join(parts_html)
    return Display(
        f'<p class="sigmasight-header" style="font-size:15px;margin:4px 0 12px 0;">{body}</p>',
        " · ".join(parts_text),
    )


def show_files(paths: Mapping[str, Any] | Iterable[Any], folder: bool = True) -> Display:
    """Files a notebook wrote, as a list of names (and their folder)."""
    items = list(paths.items()) if isinstance(paths, Mapping) else [(None, p) for p in paths]
    if not items:
        return _lines(["No files."])
    names = [(k, Path(p)) for k, p in items]
    li = "".join(
        f"<li>{html.escape(p.name)}" + (f" ({html.escape(str(k))})" if k else "") + "</li>"
        for k, p in names
    )
    parents = {str(p.parent) for _, p in names}
    where = text = ""
    if folder and len(parents) == 1:
        parent = parents.pop()
        where = f"<p style='font-size:12px;color:#52606d;'>In {html.escape(parent)}</p>"
        text = f"\nIn {parent}"
    text = "\n".join(f"- {p.name}" for _, p in names) + text
    return Display(f"<ul>{li}</ul>{where}", text)
