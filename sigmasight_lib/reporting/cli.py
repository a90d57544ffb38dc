"""``sigmasight report NAME_OR_ID``: write report.md / report.json / positions.csv / report.html.

A thin click wrapper over :func:`~sigmasight_lib.reporting.writers.write_reports`;
register it with ``cli.add_command(report_command)``. Settings come from the
group's context object (``ctx.obj["settings"]``).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from sigmasight_lib.cli_common import as_of_option
from sigmasight_lib.exceptions import ConfigError


def _formats(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    from sigmasight_lib.reporting.writers import parse_formats

    try:
        return parse_formats(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("report")
@click.argument("name_or_id")
@as_of_option
@click.option(
    "--format",
    "formats",
    default="md,json,csv,html",
    show_default=True,
    callback=_formats,
    metavar="LIST",
    help="Comma-separated artifacts: md, json, csv, html.",
)
@click.option(
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the files (default: <outputs>/<as-of>/<portfolio-slug>/).",
)
@click.option(
    "--scenario-set",
    "scenario_set",
    default="library",
    show_default=True,
    metavar="NAME",
    help="Stress scenario set to show: the library, or a custom file's set (its file stem).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the written paths as JSON.")
def report_command(
    name_or_id: str,
    as_of: dt.date | None,
    formats: tuple[str, ...],
    output: Path | None,
    scenario_set: str,
    as_json: bool,
) -> None:
    """Write the report of portfolio NAME_OR_ID (name, slug or id) from its stored results.

    Engines without results for the as-of date appear as N/A with the reason;
    results computed before the positions last changed are ``stale``, and results
    older than a failed job of the engine for that date are ``failed``.
    """
    from sigmasight_lib.reporting.writers import write_reports

    settings = click.get_current_context().ensure_object(dict)["settings"]
    written = write_reports(
        settings, name_or_id, as_of, formats=formats, output_dir=output, scenario_set=scenario_set
    )
    if as_json:
        click.echo(json.dumps({fmt: str(path) for fmt, path in written.items()}, indent=2))
    else:
        for fmt, path in written.items():
            click.echo(f"{fmt:<5} {path}")
