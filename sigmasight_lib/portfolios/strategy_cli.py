"""``sigmasight strategy list|create|add|remove|delete|detect``: a thin layer over
:mod:`sigmasight_lib.portfolios.strategies`.

Errors are :class:`~sigmasight_lib.exceptions.SigmaSightError` subclasses and
propagate to the main command's handler (one line on stderr, exit status 1).
"""

from __future__ import annotations

from typing import Any

import click

from sigmasight_lib.cli_common import echo_frame
from sigmasight_lib.cli_common import echo_json as _echo_json
from sigmasight_lib.cli_common import session as _session
from sigmasight_lib.portfolios import strategies as st

_json_flag = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
_portfolio_scope = click.option(
    "--portfolio",
    default=None,
    help="Portfolio name, slug or id (needed when a strategy name is used in several).",
)
_move_flag = click.option(
    "--move", is_flag=True, help="Move positions that are already in another strategy."
)


def _describe(strategy: dict[str, Any]) -> str:
    ids = ", ".join(str(i) for i in strategy["position_ids"]) or "none"
    return (
        f"strategy {strategy['name']!r} (id {strategy['id']}, {strategy['strategy_type']}): "
        f"positions {ids}"
    )


@click.group("strategy")
def strategy_group() -> None:
    """Strategies: named groups of positions (covered call, straddle, pairs trade ...)."""


@strategy_group.command("list")
@click.option("--portfolio", required=True, help="Portfolio name, slug or id.")
@_json_flag
def strategy_list(portfolio: str, as_json: bool) -> None:
    """List the portfolio's strategies and their positions."""
    with _session() as session:
        frame = st.list_strategies(session, portfolio)
    if as_json:
        _echo_json(frame.to_dict(orient="records"))
        return
    if frame.empty:
        click.echo("(none)")
        return
    shown = frame.drop(columns=["description"]).assign(
        position_ids=frame["position_ids"].map(lambda ids: " ".join(map(str, ids))),
        symbols=frame["symbols"].map(" ".join),
    )
    echo_frame(shown)


@strategy_group.command("create")
@click.option("--portfolio", required=True, help="Portfolio name, slug or id.")
@click.option("--name", required=True, help="Strategy name (unique in the portfolio).")
@click.option(
    "--type",
    "strategy_type",
    default="free_form",
    show_default=True,
    help="One of: " + ", ".join(st.ACCEPTED_STRATEGY_TYPES) + ".",
)
@click.option("--position", "positions", multiple=True, required=True, help="Position id (repeat).")
@click.option("--description", default=None, help="Free text.")
@_move_flag
@_json_flag
def strategy_create(
    portfolio: str,
    name: str,
    strategy_type: str,
    positions: tuple[str, ...],
    description: str | None,
    move: bool,
    as_json: bool,
) -> None:
    """Create a strategy from positions of one portfolio."""
    with _session() as session:
        strategy = st.create_strategy(
            session, portfolio, name, strategy_type, positions, description=description, move=move
        )
        out = st.strategy_dict(strategy)
    _echo_json(out) if as_json else click.echo("created " + _describe(out))


@strategy_group.command("add")
@click.argument("strategy")
@click.argument("position_ids", nargs=-1, required=True)
@_portfolio_scope
@_move_flag
@_json_flag
def strategy_add(
    strategy: str, position_ids: tuple[str, ...], portfolio: str | None, move: bool, as_json: bool
) -> None:
    """Add positions POSITION_IDS to STRATEGY (id or name)."""
    with _session() as session:
        s = st.add_to_strategy(session, strategy, position_ids, portfolio=portfolio, move=move)
        out = st.strategy_dict(s)
    _echo_json(out) if as_json else click.echo("updated " + _describe(out))


@strategy_group.command("remove")
@click.argument("strategy")
@click.argument("position_ids", nargs=-1, required=True)
@_portfolio_scope
@_json_flag
def strategy_remove(
    strategy: str, position_ids: tuple[str, ...], portfolio: str | None, as_json: bool
) -> None:
    """Detach positions POSITION_IDS from STRATEGY (id or name)."""
    with _session() as session:
        s = st.remove_from_strategy(session, strategy, position_ids, portfolio=portfolio)
        out = st.strategy_dict(s)
    _echo_json(out) if as_json else click.echo("updated " + _describe(out))


@strategy_group.command("delete")
@click.argument("strategy")
@_portfolio_scope
@_json_flag
def strategy_delete(strategy: str, portfolio: str | None, as_json: bool) -> None:
    """Delete STRATEGY (id or name); its positions stay, detached."""
    with _session() as session:
        s = st.find_strategy(session, strategy, portfolio)
        name, sid = s.name, s.id
        detached = st.delete_strategy(session, s)
    if as_json:
        _echo_json({"deleted": sid, "name": name, "detached": detached})
    else:
        click.echo(f"deleted strategy {name!r} (id {sid}); {detached} positions detached")


@strategy_group.command("detect")
@click.option("--portfolio", required=True, help="Portfolio name, slug or id.")
@click.option("--create", is_flag=True, help="Create the proposed strategies.")
@_json_flag
def strategy_detect(portfolio: str, create: bool, as_json: bool) -> None:
    """Propose covered calls, protective puts, collars, straddles, strangles, verticals."""
    with _session() as session:
        proposals = st.detect_and_create(session, portfolio, create=create)
    if as_json:
        _echo_json({"created": create, "proposals": [p.to_dict() for p in proposals]})
        return
    if not proposals:
        click.echo("no new strategies to propose")
        return
    for p in proposals:
        ids = ", ".join(map(str, p.position_ids))
        made = f" → created id {p.strategy_id}" if p.strategy_id is not None else ""
        click.echo(f"{p.strategy_type:<16} {p.name!r}: positions {ids} ({p.reason}){made}")
    if not create:
        click.echo("nothing created; pass --create to create these")
