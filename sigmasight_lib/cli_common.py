"""What every command module of the CLI shares: settings, sessions, options, output.

``sigmasight_lib.cli`` and the command groups that live with their feature
(``whatif``, ``strategy``, ``report``, ``schedule``) all use these, so an option
is spelled and parsed the same way everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from sigmasight_lib.config import Settings, load_settings
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.reporting.formats import is_percent_column


def current_settings() -> Settings:
    """The settings the root group stored in the click context (else from the environment)."""
    ctx = click.get_current_context(silent=True)
    stored = ctx.ensure_object(dict).get("settings") if ctx is not None else None
    return stored or load_settings()


def session():  # noqa: ANN201 (a context manager)
    """A transactional session on the current settings' database."""
    from sigmasight_lib.db.session import session_scope

    return session_scope(current_settings())


def parse_date(
    _ctx: click.Context | None, _param: click.Parameter | None, value: str | None
) -> dt.date | None:
    """Click callback: an ISO date, or a usage error quoting the value."""
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None


def parse_session(
    ctx: click.Context | None, param: click.Parameter | None, value: str | None
) -> dt.date | None:
    """Click callback for as-of dates: an ISO date that is an NYSE session.

    A weekend or holiday is refused naming the previous session, a date outside
    the calendar naming its range; both raise
    :class:`~sigmasight_lib.exceptions.AsOfDateError`, which the CLI prints as
    one line (every command taking a date to value at uses this).
    """
    from sigmasight_lib.marketdata.calendar import require_session

    day = parse_date(ctx, param, value)
    if day is None:
        return None
    what = f"{param.opts[0]}" if param is not None and param.opts else "as-of date"
    return require_session(day, what)


as_of_option = click.option(
    "--as-of",
    "as_of",
    callback=parse_session,
    metavar="YYYY-MM-DD",
    help="Valuation date (default: latest date on which every needed series exists).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
portfolio_option = click.option(
    "--portfolio",
    "portfolio_ref",
    required=True,
    metavar="NAME_OR_ID",
    help="Portfolio id, slug or name.",
)


def json_default(value: Any) -> Any:
    """JSON for dates, paths and NumPy scalars."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def echo_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON (NaN and infinities as null, never bare ``NaN``)."""
    click.echo(json.dumps(jsonable(obj), indent=2, default=json_default, allow_nan=False))


NOT_AVAILABLE = "N/A"


def format_value(
    value: Any, column: object = "", percent: bool | None = None, decimals: int | None = None
) -> str:
    """One value for the console: N/A for NaN / None, thousands separators, % for fractions.

    Integers as ``1,234``; fractions (``percent=True``, or by default a column name
    that :func:`is_percent_column` accepts) as ``12.34%``; betas (``beta`` in the
    column name, unless it ends in ``_usd``) to 3 decimals; other floats to
    ``decimals`` places with thousands separators (default: 4 below 10 in
    magnitude, else 2); seconds to 2 decimals; whole floats in an id column
    (``id``, ``*_id``) as integers; dates ISO. Dicts and lists are formatted item by item, the
    column name applying to each; an empty one is ``none``.
    """
    if percent is None:
        percent = is_percent_column(column)
    if isinstance(value, dict | list | tuple) and not value:
        return "none"
    if isinstance(value, dict):
        return ", ".join(
            f"{k}: {format_value(v, column, percent, decimals)}" for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return ", ".join(format_value(v, column, percent, decimals) for v in value)
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value)
                         and pd.isna(value)):  # fmt: skip
        return NOT_AVAILABLE
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, pd.Timestamp | dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, int | np.integer):
        return f"{value:.2%}" if percent else f"{value:,}"
    if isinstance(value, float | np.floating):
        value = float(value)
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if percent:
            return f"{value:.2%}"
        name = str(column).lower()
        if (name == "id" or name.endswith("_id")) and value.is_integer():
            return str(int(value))  # an id column with a gap is float in pandas
        if name == "seconds" or name.endswith("_seconds"):
            return f"{value:,.2f}"
        if "beta" in name and not name.endswith("_usd"):
            return f"{value:,.3f}"
        if decimals is None:
            decimals = 4 if abs(value) < 10 else 2
        return f"{value:,.{decimals}f}"
    return str(value)


def _column_decimals(column: pd.Series) -> int | None:
    """One precision per float column: 4 decimals when every value is below 10 in
    magnitude, else 2 (``None`` for other columns)."""
    if not pd.api.types.is_float_dtype(column):
        return None
    finite = column[np.isfinite(column)]
    return 4 if finite.empty or finite.abs().max() < 10 else 2


def format_frame(frame: pd.DataFrame, percent: Sequence[str] = ()) -> str:
    """``frame`` as an aligned text table (no index): numbers right, text left.

    Values go through :func:`format_value`; ``percent`` names columns shown as %
    in addition to those :func:`is_percent_column` accepts. An empty frame is
    ``(none)``.
    """
    from tabulate import tabulate

    if frame.empty:
        return "(none)"
    styles = [(True if c in percent else None, _column_decimals(frame[c])) for c in frame.columns]
    rows = [
        [format_value(v, c, pct, dec) for c, v, (pct, dec) in zip(frame.columns, row, styles,
                                                                   strict=True)]
        for row in frame.itertuples(index=False, name=None)
    ]  # fmt: skip
    align = [
        "right" if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(
            frame[c]) else "left"
        for c in frame.columns
    ]  # fmt: skip
    headers = [str(c) for c in frame.columns]
    return tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True,
                    colalign=align)  # fmt: skip


def echo_frame(frame: pd.DataFrame, percent: Sequence[str] = ()) -> None:
    """Print ``frame`` as :func:`format_frame` does."""
    click.echo(format_frame(frame, percent))


def echo_mapping(mapping: dict[str, Any], indent: str = "  ") -> None:
    """Print ``key: value`` lines, each value through :func:`format_value` with its key."""
    for key, value in mapping.items():
        click.echo(f"{indent}{key}: {format_value(value, key)}")
