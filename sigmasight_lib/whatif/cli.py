"""``sigmasight whatif ...`` and ``sigmasight export history``: thin click commands.

Registered on the root group by :mod:`sigmasight_lib.cli`; settings come from
the root context (``ctx.obj["settings"]``). Every
:class:`~sigmasight_lib.exceptions.SigmaSightError` becomes one line on stderr
and exit status 1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import pandas as pd

from sigmasight_lib.cli_common import (
    as_of_option,
    json_option,
)
from sigmasight_lib.cli_common import current_settings as _settings
from sigmasight_lib.cli_common import echo_frame as _echo_frame
from sigmasight_lib.cli_common import echo_json as _echo_json
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.exceptions import SigmaSightError

_T = TypeVar("_T")


@contextmanager
def _errors() -> Iterator[None]:
    """SigmaSight errors as one-line click errors."""
    try:
        yield
    except SigmaSightError as exc:
        raise click.ClickException(str(exc)) from exc


def _in_session(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    with _errors(), session_scope(_settings()) as session:
        return fn(session, *args, **kwargs)


def _echo_trades(trades: list[dict[str, Any]]) -> None:
    frame = pd.DataFrame(trades, columns=["id", "symbol", "quantity", "price", "added_at"])
    _echo_frame(frame)


def _echo_impacts(impacts: dict[str, Any]) -> None:
    from sigmasight_lib.whatif.impacts import impacts_frame

    head = f"{impacts['portfolio']} as of {impacts['as_of']}"
    positions = impacts.get("positions", {})
    click.echo(
        f"{head}: {positions.get('before')} positions before, {positions.get('after')} after"
    )
    _echo_frame(impacts_frame(impacts))
    for note in impacts.get("notes", []):
        click.echo(f"note: {note}")


# --------------------------------------------------------------------------- whatif


@click.group("whatif")
def whatif_group() -> None:
    """What-if modeling sessions: hypothetical trades and their risk impacts."""


@whatif_group.command("create")
@click.option("--portfolio", "-p", required=True, help="Base portfolio (name, slug or id).")
@click.option("--name", "-n", required=True, help="Session name (unique per portfolio).")
@json_option
def create_command(portfolio: str, name: str, as_json: bool) -> None:
    """Create an empty modeling session on a portfolio."""
    from sigmasight_lib.whatif.sessions import create_session

    created = _in_session(create_session, portfolio, name)
    if as_json:
        _echo_json(created)
    else:
        click.echo(f"session {created['id']} {created['name']!r} on {created['portfolio']}")


@whatif_group.command("add-trade", context_settings={"ignore_unknown_options": True})
@click.argument("session_ref", metavar="SESSION")
@click.argument("symbol")
@click.argument("quantity", metavar="QTY")
@click.option("--price", default=None, help="Limit price per share (default: market order).")
@json_option
def add_trade_command(
    session_ref: str, symbol: str, quantity: str, price: str | None, as_json: bool
) -> None:
    """Add a trade: SYMBOL (ticker or OCC option symbol) and signed QTY (negative = sell).

    QTY is parsed like a CSV quantity: -2000, (2,000) and 2,000 all work.
    """
    from sigmasight_lib.whatif.sessions import add_trade

    trade = _in_session(add_trade, session_ref, symbol, quantity, price)
    if as_json:
        _echo_json(trade)
    else:
        click.echo(f"trade {trade['id']}: {trade['symbol']} {trade['quantity']:g}")


@whatif_group.command("remove-trade")
@click.argument("session_ref", metavar="SESSION")
@click.argument("trade_id", type=int)
def remove_trade_command(session_ref: str, trade_id: int) -> None:
    """Remove trade TRADE_ID from a session (other trades keep their ids)."""
    from sigmasight_lib.whatif.sessions import remove_trade

    trade = _in_session(remove_trade, session_ref, trade_id)
    click.echo(f"removed trade {trade['id']}: {trade['symbol']} {trade['quantity']:g}")


@whatif_group.command("show")
@click.argument("session_ref", metavar="SESSION")
@json_option
def show_command(session_ref: str, as_json: bool) -> None:
    """A session's trades and its last calculated impacts."""
    from sigmasight_lib.whatif.sessions import show_session

    shown = _in_session(show_session, session_ref)
    if as_json:
        _echo_json(shown)
        return
    saved = f", saved at {shown['saved_as_of']}" if shown["saved_as_of"] else ""
    run = f" (batch run {shown['saved_batch_run_id']})" if shown["saved_batch_run_id"] else ""
    click.echo(
        f"session {shown['id']} {shown['name']!r} on {shown['portfolio']}: {shown['status']}{saved}{run}"
    )
    _echo_trades(shown["trades"])
    if shown["impacts"]:
        _echo_impacts(shown["impacts"])
    else:
        click.echo("impacts: not calculated (run `sigmasight whatif calculate`)")


@whatif_group.command("list")
@click.option("--portfolio", "-p", default=None, help="Only this portfolio's sessions.")
@json_option
def list_command(portfolio: str | None, as_json: bool) -> None:
    """Every modeling session."""
    from sigmasight_lib.whatif.sessions import list_sessions

    rows = _in_session(list_sessions, portfolio)
    if as_json:
        _echo_json(rows)
        return
    columns = [
        "id",
        "name",
        "portfolio",
        "status",
        "trade_count",
        "calculated_as_of",
        "saved_as_of",
    ]
    _echo_frame(pd.DataFrame(rows, columns=columns))


@whatif_group.command("calculate")
@click.argument("session_ref", metavar="SESSION")
@as_of_option
@json_option
def calculate_command(session_ref: str, as_of: dt.date | None, as_json: bool) -> None:
    """Before / after / change of exposures, Greeks, factor betas, VaR and stress P&L."""
    from sigmasight_lib.whatif.impacts import calculate_impacts

    with _errors():
        impacts = calculate_impacts(_settings(), session_ref, as_of)
    if as_json:
        _echo_json(impacts)
    else:
        _echo_impacts(impacts)


@whatif_group.command("save")
@click.argument("session_ref", metavar="SESSION")
@as_of_option
@click.option("--run-id", type=int, default=None, help="Batch run id (default: latest of the day).")
@json_option
def save_command(
    session_ref: str, as_of: dt.date | None, run_id: int | None, as_json: bool
) -> None:
    """Freeze a session: its impacts with their as-of date and batch run id."""
    from sigmasight_lib.whatif.impacts import save_session

    with _errors():
        saved = save_session(_settings(), session_ref, batch_run_id=run_id, as_of=as_of)
    if as_json:
        _echo_json(saved)
        return
    run = saved["saved_batch_run_id"]
    click.echo(
        f"session {saved['id']} {saved['name']!r} saved at {saved['saved_as_of']}"
        + (f" (batch run {run})" if run else " (no batch run for that day)")
    )


@whatif_group.command("export")
@click.argument("session_ref", metavar="SESSION")
@click.option(
    "--format", "export_format", type=click.Choice(["csv", "fix"]), required=True,
    help="CSV of the trades, or FIX 4.4 NewOrderSingle messages.",
)  # fmt: skip
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="File to write (default: stdout).",
)  # fmt: skip
@click.option(
    "--sender", default=None,
    help="FIX SenderCompID (49): printable ASCII, no spaces or '=', at most 64 characters.",
)  # fmt: skip
@click.option("--target", default=None, help="FIX TargetCompID (56), the same rules.")
@click.option(
    "--start-seq", type=click.IntRange(min=1), default=None,
    help="First MsgSeqNum (34) (default: after the last FIX export to the same sender/target).",
)  # fmt: skip
def export_command(
    session_ref: str,
    export_format: str,
    output: Path | None,
    sender: str | None,
    target: str | None,
    start_seq: int | None,
) -> None:
    """Export a session's trades; every export is recorded in the export history."""
    from sigmasight_lib.whatif import fix

    sender = fix.DEFAULT_SENDER if sender is None else sender
    target = fix.DEFAULT_TARGET if target is None else target
    with _errors():  # one line naming the option and the bad character
        fix.validate_comp_id("--sender", sender)
        fix.validate_comp_id("--target", target)
    result = _in_session(
        fix.export_session, session_ref, export_format, output,
        sender=sender, target=target, start_seq=start_seq,
    )  # fmt: skip
    if output is None:
        click.echo(result["content"], nl=False)
        return
    orders = (
        f", {result['order_count']} orders, MsgSeqNum {result['first_seq_num']}"
        f"-{result['last_seq_num']}"
        if result["format"] == "fix"
        else ""
    )
    click.echo(
        f"wrote {result['trade_count']} trades{orders} ({result['format']}) to {result['path']}",
        err=True,
    )


# --------------------------------------------------------------------------- export


@click.group("export")
def export_group() -> None:
    """Trade exports."""


@export_group.command("history")
@click.option("--limit", type=int, default=None, help="Newest N exports only.")
@json_option
def history_command(limit: int | None, as_json: bool) -> None:
    """Every recorded trade export, newest first."""
    from sigmasight_lib.whatif.fix import export_history

    rows = _in_session(export_history, limit)
    if as_json:
        _echo_json(rows)
        return
    columns = ["id", "created_at", "session_id", "session", "format", "trade_count", "path"]
    _echo_frame(pd.DataFrame(rows, columns=columns))
