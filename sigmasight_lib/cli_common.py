"""What every command module of the CLI shares: settings, sessions, options, output.

``sigmasight_lib.cli`` and the command groups that live with their feature
(``whatif``, ``strategy``, ``report``, ``schedule``) all use these, so an option
is spelled and parsed the same way everywhere.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import click
import pandas as pd

from sigmasight_lib.config import Settings, load_settings
from sigmasight_lib.jsonable import jsonable


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


def echo_frame(frame: pd.DataFrame) -> None:
    if frame.empty:
        click.echo("(none)")
    else:
        with pd.option_context("display.max_rows", None, "display.width", 160):
            click.echo(frame.to_string(index=False))
