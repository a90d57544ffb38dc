"""The ``sigmasight`` command line: a thin layer over the library.

Every :class:`~sigmasight_lib.exceptions.SigmaSightError` becomes one line on
stderr and exit status 1; ``--json`` prints machine-readable output on stdout.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path

import click
import pandas as pd

from sigmasight_lib.cli_common import (
    as_of_option,
    echo_frame,
    echo_json,
    echo_mapping,
    json_option,
    parse_date,
    parse_session,
    portfolio_option,
)
from sigmasight_lib.config import Settings, load_settings
from sigmasight_lib.exceptions import SigmaSightError
from sigmasight_lib.logs import Progress, setup_logging

log = logging.getLogger("sigmasight_lib.cli")


# --------------------------------------------------------------------------- helpers


def _settings(ctx: click.Context) -> Settings:
    return ctx.ensure_object(dict)["settings"]


def _session(ctx: click.Context):  # noqa: ANN202 (context manager)
    from sigmasight_lib.db.session import session_scope

    return session_scope(_settings(ctx))


def _resolve_as_of(session, as_of: dt.date | None) -> dt.date:  # noqa: ANN001
    from sigmasight_lib.marketdata.cache import check_as_of, default_as_of

    if as_of is not None:
        return check_as_of(session, as_of)
    resolved = default_as_of(session)
    if resolved is None:
        raise click.ClickException(
            "no as-of date: the cache holds no date with every needed series; "
            "run `sigmasight market-data sync` or pass --as-of"
        )
    return resolved


# --------------------------------------------------------------------------- root


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("-q", "--quiet", is_flag=True, help="Warnings and errors only.")
@click.version_option(package_name="sigmasight", prog_name="sigmasight")
@click.pass_context
def cli(ctx: click.Context, verbose: bool, quiet: bool) -> None:
    """SigmaSight: portfolio risk analytics for research notebooks."""
    setup_logging(logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO)
    ctx.ensure_object(dict)["settings"] = load_settings()


# --------------------------------------------------------------------------- db


@cli.group()
def db() -> None:
    """Database schema: migrations and reset."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply all migrations and load reference data (factor definitions)."""
    from sigmasight_lib.db.session import session_scope, upgrade
    from sigmasight_lib.portfolios.demo import seed_factor_definitions

    settings = _settings(ctx)
    upgrade(settings)
    with session_scope(settings) as session:
        seed_factor_definitions(session, settings.params_dir)
    click.echo(f"database {settings.database_url_safe} is at the latest schema")


@db.command("reset")
@click.option("--yes", is_flag=True, help="Confirm: every table is dropped and recreated empty.")
@click.pass_context
def db_reset(ctx: click.Context, yes: bool) -> None:
    """Drop all data and recreate the schema (asks for --yes)."""
    from sigmasight_lib.db.session import reset, session_scope
    from sigmasight_lib.portfolios.demo import seed_factor_definitions

    if not yes:
        raise click.ClickException("refusing to reset without --yes (this deletes all data)")
    settings = _settings(ctx)
    reset(settings)
    with session_scope(settings) as session:
        seed_factor_definitions(session, settings.params_dir)
    click.echo(f"database {settings.database_url_safe} reset to an empty schema")


# --------------------------------------------------------------------------- market data


@cli.group("market-data")
def market_data() -> None:
    """Price cache: sync from the provider, check history coverage."""


@market_data.command("sync")
@as_of_option
@click.option("--symbol", "symbols", multiple=True, help="Sync only this ticker (repeatable).")
@click.option(
    "--history-sessions",
    type=click.IntRange(1, 10000),
    default=None,
    help="Trading days of history to keep before the as-of date (default 520).",
)
@json_option
@click.pass_context
def market_data_sync(
    ctx: click.Context,
    as_of: dt.date | None,
    symbols: tuple[str, ...],
    history_sessions: int | None,
    as_json: bool,
) -> None:
    """Fetch the prices, rates and metadata the cache lacks."""
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.marketdata.cache import (
        DEFAULT_HISTORY_SESSIONS,
        needed_symbols,
        resolve_sync_end,
        sync_market_data,
    )

    settings = _settings(ctx)
    provider = get_provider(settings)
    with _session(ctx) as session:
        wanted = [s.upper() for s in symbols] or needed_symbols(session, provider.name)
        end = as_of or resolve_sync_end(provider, wanted)
        report = sync_market_data(
            session,
            provider,
            as_of=end,
            symbols=wanted,
            history_sessions=history_sessions or DEFAULT_HISTORY_SESSIONS,
            progress=Progress("market data sync", unit="symbol"),
        )
    if as_json:
        echo_json(report.to_dict())
        return
    click.echo(
        f"{provider.name}: {report.start}..{report.end}, {len(report.symbols)} symbols, "
        f"{report.fetched} price rows fetched, {report.rate_days_fetched} rate days, "
        f"{report.metadata_fetched} metadata rows"
    )
    gaps = [s for s in report.symbols if s.missing_after]
    for s in gaps:
        click.echo(f"  {s.symbol}: {s.missing_after} sessions the provider has no price for")
    if report.unknown_symbols:
        click.echo(f"  unknown to {provider.name}: {', '.join(report.unknown_symbols)}")


@market_data.command("coverage")
@as_of_option
@click.option("--no-backfill", is_flag=True, help="Only measure; do not fetch missing history.")
@json_option
@click.pass_context
def market_data_coverage(
    ctx: click.Context, as_of: dt.date | None, no_backfill: bool, as_json: bool
) -> None:
    """Apply the 252 / 150 / 60 trading-day rule per symbol and record the report."""
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.marketdata.cache import check_coverage

    provider = get_provider(_settings(ctx))
    with _session(ctx) as session:
        day = _resolve_as_of(session, as_of)
        report = check_coverage(session, provider, as_of=day, backfill=not no_backfill)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(f"coverage at {report.as_of} ({report.provider}):")
        echo_frame(
            pd.DataFrame(
                [
                    {
                        "symbol": s.symbol,
                        "status": s.status.value,
                        "observations": s.observations,
                        "first": s.first_date,
                        "last": s.last_date,
                        "note": s.message,
                    }
                    for s in report.symbols
                ]
            )
        )
    if not report.ok:
        sys.exit(1)


# --------------------------------------------------------------------------- demo


@cli.group()
def demo() -> None:
    """Demo data."""


@demo.command("seed")
@json_option
@click.pass_context
def demo_seed(ctx: click.Context, as_json: bool) -> None:
    """Create or reconcile the three demo portfolios (idempotent)."""
    from sigmasight_lib.portfolios.demo import seed_demo

    settings = _settings(ctx)
    with _session(ctx) as session:
        summaries = seed_demo(session, settings.params_dir)
    if as_json:
        echo_json({name: vars(s) for name, s in summaries.items()})
        return
    for name, s in summaries.items():
        click.echo(
            f"{name}: {s.created} created, {s.updated} updated, {s.removed} removed, "
            f"{s.unchanged} unchanged"
        )


@demo.command("synthetic")
@click.option("--portfolios", "n_portfolios", type=click.IntRange(1, 9999), default=10)
@click.option("--positions", "n_positions", type=click.IntRange(1, 1000), default=50)
@click.option("--seed", type=click.IntRange(0), default=0, help="Same seed, same portfolios.")
@as_of_option
@click.option("--replace", is_flag=True, help="Replace synthetic portfolios of other arguments.")
@click.option("--remove", is_flag=True, help="Delete every synthetic portfolio; create none.")
@json_option
@click.pass_context
def demo_synthetic(
    ctx: click.Context, n_portfolios: int, n_positions: int, seed: int,
    as_of: dt.date | None, replace: bool, remove: bool, as_json: bool,
) -> None:  # fmt: skip
    """Create reproducible synthetic portfolios ("Synthetic 0001", ...) for benchmarks.

    Stocks, ETFs (~80 %) and listed options on them (~20 %), ~25 % short, drawn
    from the offline snapshot's stocks and ETFs at the as-of date (default: the
    snapshot's latest, 2017-03-29), marked synthetic (`portfolio list
    --synthetic`). Rerunning with the same arguments changes nothing; when
    synthetic portfolios of other arguments exist it refuses unless --replace.
    --remove deletes them with their positions, tags and results; other
    portfolios are never touched.
    """
    from sigmasight_lib.portfolios import synthetic, synthetic_store

    with _session(ctx) as session:
        if remove:
            summary = synthetic_store.remove_synthetic(session)
        else:
            universe = synthetic.snapshot_universe(as_of)
            generated = synthetic.generate_synthetic_portfolios(
                universe, n_portfolios, n_positions, seed
            )
            summary = synthetic_store.save_synthetic(session, generated, replace=replace)
    if as_json:
        echo_json(summary.to_dict())
        return
    verb = "removed" if remove else "unchanged" if summary.unchanged else "created"
    click.echo(f"synthetic: {summary.portfolios} portfolios, {summary.positions} positions {verb}")


# --------------------------------------------------------------------------- portfolio


@cli.group()
def portfolio() -> None:
    """Portfolios: import, list, show."""


@portfolio.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="Portfolio name.")
@click.option("--owner", required=True, help="Owner e-mail.")
@click.option("--dry-run", is_flag=True, help="Validate and preview; write nothing.")
@click.option("--valid-rows-only", is_flag=True, help="Import the valid rows even if some fail.")
@click.option(
    "--sync", is_flag=True,
    help="Also remove stored positions the file does not list (never those of failed rows).",
)  # fmt: skip
@click.option(
    "--overwrite-edits", is_flag=True,
    help="Apply the file's values even where a later `position edit` differs.",
)  # fmt: skip
@click.option(
    "--decimal", type=click.Choice([".", ","]), default=None,
    help="Decimal mark of the file's numbers (default: '.', or ',' when unambiguous).",
)  # fmt: skip
@as_of_option
@json_option
@click.pass_context
def portfolio_import(
    ctx: click.Context,
    file: Path,
    name: str,
    owner: str,
    dry_run: bool,
    valid_rows_only: bool,
    sync: bool,
    overwrite_edits: bool,
    decimal: str | None,
    as_of: dt.date | None,
    as_json: bool,
) -> None:
    """Import positions from a broker-style CSV FILE.

    Adds and updates positions; stored positions the file does not list are
    kept and listed unless --sync. A position whose quantity or entry price a
    later `position edit` set differently is left unchanged and reported as a
    conflict unless --overwrite-edits. Exit status 0 only when rows were
    imported without conflicts (or, with --dry-run, when every row is valid and
    there would be none). When any row fails nothing is written unless
    --valid-rows-only is given.
    """
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.portfolios.importer import import_portfolio_csv

    settings = _settings(ctx)
    provider = get_provider(settings)
    with _session(ctx) as session:
        result = import_portfolio_csv(
            session,
            file,
            name=name,
            owner_email=owner,
            provider=provider,
            dry_run=dry_run,
            valid_rows_only=valid_rows_only,
            as_of=as_of,
            sync=sync,
            overwrite_edits=overwrite_edits,
            decimal=decimal,
        )
        proposals = []
        if (
            result.written is not None and not dry_run
        ):  # propose the common option strategies; create none
            from sigmasight_lib.portfolios.strategies import detect_and_create

            proposals = [
                p.to_dict() for p in detect_and_create(session, result.written.portfolio_id)
            ]
    if as_json:
        echo_json({**result.to_dict(), "proposed_strategies": proposals})
    else:
        for line in result.lines():
            click.echo(line)
        for p in proposals:
            click.echo(f"  proposed strategy: {p['name']} ({p['strategy_type']}): {p['reason']}")
        if proposals:
            click.echo("  create them with `sigmasight strategy detect --portfolio ... --create`")
    if not result.succeeded:
        sys.exit(1)


@portfolio.command("list")
@as_of_option
@click.option(
    "--synthetic/--no-synthetic", default=None,
    help="Only the synthetic portfolios of `demo synthetic` / only the others (default: all).",
)  # fmt: skip
@json_option
@click.pass_context
def portfolio_list(
    ctx: click.Context, as_of: dt.date | None, synthetic: bool | None, as_json: bool
) -> None:
    """All portfolios with their owners and position counts.

    With --as-of, only positions entered on or before that date are counted.
    """
    from sigmasight_lib.portfolios.service import list_portfolios

    with _session(ctx) as session:
        frame = list_portfolios(session, as_of=as_of, synthetic=synthetic)
    if as_json:
        echo_json(frame.to_dict(orient="records"))
    else:
        echo_frame(frame)


@portfolio.command("show")
@click.argument("name_or_id")
@as_of_option
@click.option(
    "--group-by",
    type=click.Choice(["type", "strategy", "tag", "underlying", "sector"]),
    default=None,
    help="Per-group count, net liquidation and gross market value, exposure and delta-adjusted exposure (valued at the as-of date).",
)
@json_option
@click.pass_context
def portfolio_show(
    ctx: click.Context, name_or_id: str, as_of: dt.date | None, group_by: str | None, as_json: bool
) -> None:
    """Positions of one portfolio (by id, slug or name).

    With --as-of, positions entered after that date are left out.
    """
    from sigmasight_lib.portfolios.service import find_portfolio, positions_frame

    if group_by:
        from sigmasight_lib.portfolios.groupings import group_positions

        table, day = group_positions(_settings(ctx), name_or_id, group_by, as_of)
        if as_json:
            echo_json(
                {"as_of": day, "group_by": group_by, "groups": table.to_dict(orient="records")}
            )
        else:
            click.echo(f"grouped by {group_by} as of {day}:")
            with pd.option_context("display.float_format", "{:,.2f}".format):
                echo_frame(table)
        return

    with _session(ctx) as session:
        p = find_portfolio(session, name_or_id)
        frame = positions_frame(p)
        header = {"id": p.id, "name": p.name, "slug": p.slug, "owner": p.owner.email}
    if as_of is not None:
        frame = frame[frame["entry_date"].isna() | (frame["entry_date"] <= as_of)]
    if as_json:
        echo_json({**header, "positions": frame.to_dict(orient="records")})
        return
    click.echo(f"{header['name']} (id {header['id']}, {header['owner']}): {len(frame)} positions")
    shown = frame.assign(tags=frame["tags"].map(", ".join)).drop(columns=["multiplier"])
    echo_frame(shown)


@portfolio.command("template")
def portfolio_template() -> None:
    """Print a CSV template with every accepted column and example rows."""
    from sigmasight_lib.portfolios.csv_import import template_csv

    click.echo(template_csv(), nl=False)


# --------------------------------------------------------------------------- tags and positions


@cli.group()
def tag() -> None:
    """Tags: per owner, 1-40 characters (letters, digits, space, - _ .), unique ignoring case."""


@tag.command("list")
@click.option("--owner", default=None, help="Owner e-mail (default: every owner).")
@json_option
@click.pass_context
def tag_list(ctx: click.Context, owner: str | None, as_json: bool) -> None:
    """Tags with the number of positions using each."""
    from sigmasight_lib.portfolios.tags import list_tags

    with _session(ctx) as session:
        frame = list_tags(session, owner)
    if as_json:
        echo_json(frame.to_dict(orient="records"))
    else:
        echo_frame(frame)


@tag.command("create")
@click.argument("name")
@click.option("--owner", required=True)
@click.pass_context
def tag_create(ctx: click.Context, name: str, owner: str) -> None:
    """Create a tag."""
    from sigmasight_lib.portfolios.tags import create_tag

    with _session(ctx) as session:
        t = create_tag(session, owner, name)
        click.echo(f"created tag {t.name!r} (id {t.id})")


@tag.command("rename")
@click.argument("old")
@click.argument("new")
@click.option("--owner", required=True)
@click.pass_context
def tag_rename(ctx: click.Context, old: str, new: str, owner: str) -> None:
    """Rename a tag (positions keep it)."""
    from sigmasight_lib.portfolios.tags import rename_tag

    with _session(ctx) as session:
        t = rename_tag(session, owner, old, new)
        click.echo(f"renamed {old!r} to {t.name!r}")


@tag.command("delete")
@click.argument("name")
@click.option("--owner", required=True)
@click.option("--force", is_flag=True, help="Detach the tag from the positions that use it.")
@click.pass_context
def tag_delete(ctx: click.Context, name: str, owner: str, force: bool) -> None:
    """Delete a tag (a tag in use needs --force)."""
    from sigmasight_lib.portfolios.tags import delete_tag

    with _session(ctx) as session:
        detached = delete_tag(session, owner, name, force=force)
    click.echo(f"deleted tag {name!r}, detached from {detached} position(s)")


@cli.group()
def position() -> None:
    """Position tags, edits (recorded in the position history), close and reopen."""


date_option = click.option("--effective", default=None, callback=parse_date, metavar="YYYY-MM-DD",
                           help="When the change takes effect (default today).")  # fmt: skip


@position.command("tag")
@click.argument("position_id", type=int)
@click.option("--add", "add", multiple=True, help="Tag to add (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Tag to remove (repeatable).")
@json_option
@click.pass_context
def position_tag(
    ctx: click.Context,
    position_id: int,
    add: tuple[str, ...],
    remove: tuple[str, ...],
    as_json: bool,
) -> None:
    """Add or remove tags of a position."""
    from sigmasight_lib.portfolios.tags import tag_position

    with _session(ctx) as session:
        tags = tag_position(session, position_id, add=list(add), remove=list(remove))
    if as_json:
        echo_json({"position_id": position_id, "tags": tags})
    else:
        click.echo(", ".join(tags) or "(no tags)")


@position.command("edit")
@click.argument("position_id", type=int)
@click.option("--quantity", type=float, default=None)
@click.option("--entry-price", type=float, default=None)
@date_option
@click.option("--note", default=None)
@click.pass_context
def position_edit(
    ctx: click.Context, position_id: int, quantity: float | None, entry_price: float | None,
    effective: dt.date | None, note: str | None,
) -> None:  # fmt: skip
    """Change quantity and / or entry price; engines for earlier dates keep the old values."""
    from sigmasight_lib.portfolios.edits import edit_position

    if quantity is None and entry_price is None:
        raise click.UsageError("give --quantity and / or --entry-price")
    with _session(ctx) as session:
        p = edit_position(session, position_id, quantity=quantity, entry_price=entry_price,
                          effective=effective, note=note)  # fmt: skip
        click.echo(
            f"position {p.id} {p.symbol}: {p.position_type} {p.quantity:g} @ {p.entry_price}"
        )


@position.command("close")
@click.argument("position_id", type=int)
@click.option("--exit-date", required=True, callback=parse_date, metavar="YYYY-MM-DD")
@click.option("--exit-price", required=True, type=float)
@click.option("--note", default=None)
@click.pass_context
def position_close(
    ctx: click.Context, position_id: int, exit_date: dt.date, exit_price: float, note: str | None
) -> None:
    """Close a position (realized P&L is kept)."""
    from sigmasight_lib.portfolios.edits import close_position

    with _session(ctx) as session:
        p = close_position(
            session, position_id, exit_date=exit_date, exit_price=exit_price, note=note
        )
        click.echo(
            f"closed position {p.id} {p.symbol} on {p.exit_date}: realized P&L {p.realized_pnl_usd:,.2f} USD"
        )


@position.command("reopen")
@click.argument("position_id", type=int)
@click.pass_context
def position_reopen(ctx: click.Context, position_id: int) -> None:
    """Reopen a closed position."""
    from sigmasight_lib.portfolios.edits import reopen_position

    with _session(ctx) as session:
        p = reopen_position(session, position_id)
        click.echo(f"reopened position {p.id} {p.symbol}")


@position.command("history")
@click.argument("position_id", type=int)
@json_option
@click.pass_context
def position_history_command(ctx: click.Context, position_id: int, as_json: bool) -> None:
    """Every recorded change of a position: when, what, old and new value."""
    from sigmasight_lib.portfolios.edits import position_history

    with _session(ctx) as session:
        frame = position_history(session, position_id)
    if as_json:
        echo_json(frame.to_dict(orient="records"))
    else:
        echo_frame(frame)


# --------------------------------------------------------------------------- engines


def _engine_names() -> list[str]:
    from sigmasight_lib.runs import ENGINE_RUNNERS

    return [name.replace("_", "-") for name in ENGINE_RUNNERS]


@cli.command("engine")
@click.argument("engine", metavar="ENGINE", type=click.Choice(_engine_names()))
@portfolio_option
@as_of_option
@click.option(
    "--backfill",
    type=click.IntRange(0, 3650),
    default=None,
    metavar="N",
    help="snapshot: also write the previous N trading days.",
)
@click.option(
    "--scenarios",
    "scenarios_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="stress: a YAML file of custom scenarios, stored as its own scenario set "
    "(the file's stem) beside the library.",
)
@json_option
@click.pass_context
def engine_command(
    ctx: click.Context,
    engine: str,
    portfolio_ref: str,
    as_of: dt.date | None,
    backfill: int | None,
    scenarios_file: Path | None,
    as_json: bool,
) -> None:
    """Run one engine for one portfolio, save its results and print them.

    Each engine recomputes what it needs from the cached market data, so any
    engine can run on its own. The run is recorded as a manual run (a
    ``batch_runs`` row of kind ``manual``) whose id the saved rows carry.
    """
    name = engine.replace("-", "_")
    extra: dict[str, object] = {}
    if backfill is not None:
        if name != "snapshot":
            raise click.UsageError("--backfill applies to the snapshot engine only")
        extra["backfill"] = backfill
    if scenarios_file is not None:
        if name != "stress":
            raise click.UsageError("--scenarios applies to the stress engine only")
        extra["scenarios_file"] = scenarios_file
    from sigmasight_lib.batch.tracking import run_manual

    run = run_manual(_settings(ctx), name, portfolio_ref, as_of, **extra)
    if as_json:
        echo_json(run.to_dict())
        return
    click.echo(
        f"{run.engine}: {run.portfolio} (id {run.portfolio_id}) as of {run.as_of}, "
        f"{run.rows_saved} rows saved (manual run {run.batch_run_id})"
    )
    echo_mapping(run.to_dict()["summary"])
    for name, table in run.tables.items():
        click.echo(f"\n{name}:")
        echo_frame(table.reset_index() if not isinstance(table.index, pd.RangeIndex) else table)
    for note in run.notes:
        click.echo(f"note: {note}")


# --------------------------------------------------------------------------- batch


@cli.group()
def batch() -> None:
    """The papermill batch: run, status, history."""


@batch.command("run")
@click.option("--portfolio", "portfolios", multiple=True, metavar="NAME_OR_ID", help="Repeatable.")
@click.option("--all", "all_portfolios", is_flag=True, help="Every portfolio (the default).")
@as_of_option
@click.option(
    "--jobs", default=None, metavar="LIST", help="Comma-separated engines (default: all)."
)
@click.option("--executor", type=click.Choice(["inline", "processes", "dask"]), default="inline")
@click.option("--workers", type=click.IntRange(1, 64), default=2, help="processes / dask workers.")
@click.option(
    "--scheduler-address",
    default=None,
    metavar="ADDR",
    help="dask scheduler (default: a LocalCluster).",
)
@click.option(
    "--kernel",
    "kernel_mode",
    type=click.Choice(["warm", "fresh"]),
    default="warm",
    help="warm: one kernel per worker, namespace reset between notebooks.",
)
@click.option(
    "--resume", type=int, default=None, metavar="RUN_ID", help="Rerun only failed and skipped jobs."
)
@click.option(
    "--render",
    type=click.Choice(["html", "none"]),
    default="html",
    show_default=True,
    help="Both compute every engine for every portfolio at once through the security "
    "and portfolio layers; html then executes the engine notebooks, which render the "
    "stored results (HTML pages), none writes no notebooks (reports for real portfolios).",
)
@json_option
@click.pass_context
def batch_run(
    ctx: click.Context,
    portfolios: tuple[str, ...],
    all_portfolios: bool,
    as_of: dt.date | None,
    jobs: str | None,
    executor: str,
    workers: int,
    scheduler_address: str | None,
    kernel_mode: str,
    resume: int | None,
    render: str,
    as_json: bool,
) -> None:
    """Run every engine for portfolios at one as-of date, and their notebooks (--render html).

    Exit status 1 when any job failed (the others still ran).
    """
    from sigmasight_lib.batch.runner import run_batch

    if all_portfolios and portfolios:
        raise click.UsageError("give --portfolio or --all, not both")
    result = run_batch(
        _settings(ctx),
        portfolios=list(portfolios) or None,
        as_of=as_of,
        jobs=jobs.split(",") if jobs else None,
        executor=executor,
        workers=workers,
        scheduler_address=scheduler_address,
        kernel_mode=kernel_mode,
        resume=resume,
        render=render,
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        counts: dict[str, int] = {}
        for o in result.outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        click.echo(
            f"batch run {result.run_id} for {result.as_of}: {result.status} {counts} in {result.seconds:.1f} s"
        )
        for o in result.failed:
            err = o.error or {}
            click.echo(
                f"  failed: portfolio {o.portfolio_id} {o.job}: {err.get('ename')}: {err.get('evalue')} "
                f"(cell {err.get('cell_index')}, {err.get('notebook')})"
            )
        click.echo(f"index: {result.index_html}")
    if result.failed:
        sys.exit(1)


@batch.command("status")
@click.option("--run", "run_id", type=int, default=None, help="Run id (default: the newest).")
@json_option
@click.pass_context
def batch_status(ctx: click.Context, run_id: int | None, as_json: bool) -> None:
    """Jobs of one batch run with status, timing and errors.

    A ``running`` run whose process is gone shows ``interrupted`` (resume it
    with ``batch run --resume RUN_ID``).
    """
    from sqlalchemy import select

    from sigmasight_lib.batch.tracking import run_state
    from sigmasight_lib.db.models import BatchJob, BatchRun
    from sigmasight_lib.exceptions import NotFoundError

    with _session(ctx) as session:
        run = (
            session.get(BatchRun, run_id)
            if run_id
            else session.scalar(select(BatchRun).order_by(BatchRun.id.desc()))
        )
        if run is None:
            raise NotFoundError(f"no batch run {run_id}" if run_id else "no batch runs yet")
        jobs = list(
            session.scalars(
                select(BatchJob).where(BatchJob.batch_run_id == run.id).order_by(BatchJob.id)
            )
        )
        head = {
            "run_id": run.id,
            "as_of": run.as_of,
            "status": run_state(run),
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "code_version": run.code_version,
            "market_data_hash": run.market_data_hash,
            "parameters": run.parameters,
        }
        rows = [
            {
                "portfolio_id": j.portfolio_id,
                "job": j.job_name,
                "status": j.status,
                "seconds": None if j.duration_seconds is None else round(j.duration_seconds, 2),
                "error": j.error,
                "artifact": j.artifact_path,
            }
            for j in jobs
        ]
    if as_json:
        echo_json({**head, "jobs": rows})
        return
    for key, value in head.items():
        click.echo(f"{key}: {value}")
    echo_frame(pd.DataFrame(rows).drop(columns=["artifact"]) if rows else pd.DataFrame())


@batch.command("history")
@click.option("--limit", type=int, default=20)
@json_option
@click.pass_context
def batch_history(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The newest runs: batch runs and manual (`sigmasight engine`) runs, by ``kind``."""
    from sqlalchemy import select

    from sigmasight_lib.batch.tracking import run_state
    from sigmasight_lib.db.models import BatchRun

    with _session(ctx) as session:
        rows = [
            {
                "run_id": r.id,
                "kind": r.kind,
                "as_of": r.as_of,
                "status": run_state(r),
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "jobs": len(r.jobs),
                "code_version": r.code_version,
            }
            for r in session.scalars(select(BatchRun).order_by(BatchRun.id.desc()).limit(limit))
        ]
    if as_json:
        echo_json(rows)
    else:
        echo_frame(pd.DataFrame(rows))


def _register_commands() -> None:
    from sigmasight_lib.batch.schedule import schedule_command
    from sigmasight_lib.portfolios.strategy_cli import strategy_group
    from sigmasight_lib.reporting.cli import report_command
    from sigmasight_lib.whatif.cli import export_group, whatif_group

    cli.add_command(schedule_command)
    cli.add_command(report_command)
    cli.add_command(strategy_group)
    cli.add_command(whatif_group)
    cli.add_command(export_group)


_register_commands()


# --------------------------------------------------------------------------- validate


@cli.command("validate")
@portfolio_option
@click.option(
    "--start",
    required=True,
    callback=parse_session,
    metavar="YYYY-MM-DD",
    help="First VaR forecast day.",
)
@click.option(
    "--end",
    required=True,
    callback=parse_session,
    metavar="YYYY-MM-DD",
    help="Last day with a realized P&L.",
)
@click.option(
    "--holdings-as-of",
    "holdings_as_of",
    callback=parse_session,
    metavar="YYYY-MM-DD",
    help="Date of the holdings held constant (default: the default as-of date).",
)
@click.option(
    "--replays",
    default="all",
    show_default=True,
    metavar="all|none|KEY,KEY",
    help="Crash replays of params/replays.yaml to run.",
)
@click.option("--no-sync", is_flag=True, help="Use the price cache as it is (no sync first).")
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the files (default: <outputs>/validation/<slug>/<start>_<end>/).",
)
@json_option
@click.pass_context
def validate_command(
    ctx: click.Context, portfolio_ref: str, start: dt.date, end: dt.date,
    holdings_as_of: dt.date | None, replays: str, no_sync: bool, output: Path | None,
    as_json: bool,
) -> None:  # fmt: skip
    """Backtest the model on real history: VaR exceptions, Kupiec / Christoffersen
    tests, Basel zone, volatility bias statistic and crash replays.

    Writes validation.md, validation.json and PNG charts; --json prints the
    same content as validation.json plus the written paths (NaN as null).
    """
    from sigmasight_lib.reporting.validation_report import validation_document, write_validation
    from sigmasight_lib.validation import run_validation

    settings = _settings(ctx)
    chosen: str | list[str] = (
        replays
        if replays in ("all", "none")
        else [k.strip() for k in replays.split(",") if k.strip()]
    )
    result = run_validation(settings, portfolio_ref, start, end, holdings_as_of=holdings_as_of,
                            replays=chosen, sync=not no_sync)  # fmt: skip
    written = write_validation(settings, result, output)
    if as_json:
        echo_json({**validation_document(result), "files": {k: str(v) for k, v in written.items()}})
        return
    click.echo(
        f"validation: {result.portfolio} (id {result.portfolio_id}) {result.start}..{result.end}, "
        f"holdings as of {result.holdings_as_of}, {result.provider} data"
    )
    for b in result.backtests.values():
        click.echo(
            f"  VaR {b.level:.2f}: {b.exceptions} exceptions in {b.observations} days "
            f"(expected {b.expected_exceptions:.1f}), Kupiec LR {b.kupiec_lr:.3f} p {b.kupiec_p_value:.4f}, "
            f"Christoffersen LR {b.christoffersen_lr:.3f} p {b.christoffersen_p_value:.4f}, zone {b.zone}"
        )
    bias = result.bias
    click.echo(
        f"  volatility bias {bias.statistic:.3f} (95 % band {bias.lower:.3f}-{bias.upper:.3f}, "
        f"T={bias.observations}): {bias.verdict}"
    )
    for r in result.replays:
        if r.status == "ok":
            click.echo(
                f"  replay {r.key}: realized {r.realized_pnl_usd:,.0f}, model {r.predicted_pnl_usd:,.0f} "
                f"(error {r.predicted_error:+.2%} of gross), stress {r.scenario} "
                + (
                    f"{r.stress_correlated_pnl_usd:,.0f}"
                    if r.stress_reason is None
                    else f"N/A ({r.stress_reason})"
                )
            )
        else:
            why = r.realized_reason or r.predicted_reason
            click.echo(f"  replay {r.key}: N/A ({why})")
    for note in result.notes:
        click.echo(f"note: {note}")
    for key, path in written.items():
        click.echo(f"{key:<12} {path}")


# --------------------------------------------------------------------------- verify


@cli.command("verify")
@as_of_option
@json_option
@click.pass_context
def verify_command(ctx: click.Context, as_of: dt.date | None, as_json: bool) -> None:
    """Demo positions found vs expected, market data coverage, engine results per as-of."""
    from sigmasight_lib.verify import verify

    with _session(ctx) as session:
        report = verify(session, _settings(ctx), as_of)
    if as_json:
        echo_json(report.to_dict())
    else:
        click.echo(f"as-of {report.as_of or 'n/a'}: {'OK' if report.ok else 'PROBLEMS'}")
        for p in report.portfolios:
            click.echo(
                f"  {p['name']}: {p['positions_found']}/{p['positions_expected']} positions "
                f"({p['status']})"
            )
            for engine, state in p["engines"].items():
                click.echo(f"    {engine:<13} {state}")
        cov = report.coverage
        click.echo(f"  coverage: {cov['status']} {cov.get('counts', {})}")
    if not report.ok:
        sys.exit(1)


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: errors become one line and exit status 1."""
    try:
        cli.main(args=argv, prog_name="sigmasight", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SigmaSightError as exc:
        _fail(exc)
    except Exception as exc:
        from sqlalchemy.exc import DBAPIError

        if not isinstance(exc, DBAPIError):
            raise
        from sigmasight_lib.db.session import database_error

        _fail(database_error(exc, load_settings()))


def _fail(exc: BaseException) -> None:
    """The error on stderr (secrets redacted) and exit status 1."""
    from sigmasight_lib.logs import redact

    click.echo(f"error: {redact(str(exc))}", err=True)
    sys.exit(1)
