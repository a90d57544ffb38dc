"""The notebook-facing API: parse a notebook's parameters and call the library.

Every engine notebook in ``notebooks/`` has one ``parameters`` cell with
``portfolio``, ``as_of`` and ``run_id`` (what the batch passes, as JSON-safe
values) and ``save = False``, then one call into this module::

    run = run_engine("valuation", portfolio, as_of, run_id, save=save)

A run with a ``run_id`` (the batch) renders what the batch stored for (portfolio,
engine, as-of) in that run (:func:`stored_run`), or computes and saves when it stored
nothing; a run without one (a researcher in JupyterLab) computes live and shows the
results but stores nothing unless ``save`` is True, so exploring never replaces the
batch's results or their lineage.
    run.summary                  # headline figures (dict)
    run.notes                    # N/A reasons, fallbacks, exclusions
    run.tables["positions"]      # result tables (DataFrames)

Settings (database URL, provider, params directory) come from the
environment through :func:`~sigmasight_lib.config.load_settings`, never from
notebook parameters, so no URL or key appears in an executed notebook.
Nothing here prints or displays: the notebook displays what is returned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from sigmasight_lib.config import Settings, load_settings
from sigmasight_lib.exceptions import ConfigError, MarketDataError
from sigmasight_lib.marketdata.cache import CoverageReport

if TYPE_CHECKING:
    from sigmasight_lib.runs import EngineRun

SNAPSHOT_BACKFILL_SESSIONS = 90
"""NYSE sessions the snapshot notebook backfills before the as-of date (as ``make demo``)."""

COVERAGE_COLUMNS = (
    "status",
    "observations",
    "window_sessions",
    "first_date",
    "last_date",
    "message",
)
"""Columns of the coverage table, indexed by ``symbol``."""


# --------------------------------------------------------------------------- parameters


def parse_as_of(as_of: str | dt.date | None) -> dt.date | None:
    """The as-of date from a notebook parameter.

    Parameters
    ----------
    as_of : str, datetime.date or None
        ISO date (``"2017-03-29"``) or a date; None or a blank string means
        the default as-of date (the latest date with every needed series).

    Raises
    ------
    ConfigError
        For anything else, quoting the value.
    """
    if as_of is None or (isinstance(as_of, str) and not as_of.strip()):
        return None
    if isinstance(as_of, dt.datetime):
        return as_of.date()
    if isinstance(as_of, dt.date):
        return as_of
    if isinstance(as_of, str):
        try:
            return dt.date.fromisoformat(as_of.strip())
        except ValueError:
            pass
    raise ConfigError(f"as_of must be an ISO date (YYYY-MM-DD) or None, got {as_of!r}")


def parse_run_id(run_id: int | str | None) -> int | None:
    """The batch run id from a notebook parameter: None, an int or a string of digits.

    Raises
    ------
    ConfigError
        For anything else (including booleans), quoting the value.
    """
    if run_id is None:
        return None
    if isinstance(run_id, int) and not isinstance(run_id, bool):
        return run_id
    if isinstance(run_id, str) and run_id.strip().isdigit():
        return int(run_id.strip())
    raise ConfigError(f"run_id must be an integer batch run id or None, got {run_id!r}")


def parse_save(save: bool | None) -> bool:
    """The ``save`` notebook parameter: True or False (None → False).

    Raises
    ------
    ConfigError
        For anything else (``"yes"``, 1 ...), quoting the value.
    """
    if save is None:
        return False
    if isinstance(save, bool):
        return save
    raise ConfigError(f"save must be True or False, got {save!r}")


def parse_portfolio(portfolio: str | int | None) -> str | int:
    """The portfolio reference (name, slug or id) from a notebook parameter.

    Raises
    ------
    ConfigError
        When it is missing, blank or not a str / int.
    """
    if isinstance(portfolio, bool) or not isinstance(portfolio, str | int):
        raise ConfigError(f"portfolio must be a name, slug or id, got {portfolio!r}")
    if isinstance(portfolio, str) and not portfolio.strip():
        raise ConfigError("portfolio must be a name, slug or id, got an empty string")
    return portfolio.strip() if isinstance(portfolio, str) else portfolio


def engine_name(engine: str) -> str:
    """Canonical engine name: ``market-risk`` and ``Market_Risk`` give ``market_risk``.

    Raises
    ------
    ConfigError
        For an unknown engine, listing the known ones.
    """
    from sigmasight_lib.runs import ENGINE_RUNNERS

    name = str(engine).strip().lower().replace("-", "_")
    if name not in ENGINE_RUNNERS:
        raise ConfigError(f"unknown engine {engine!r}; known: {', '.join(ENGINE_RUNNERS)}")
    return name


# --------------------------------------------------------------------------- calls


def run_engine(
    engine: str,
    portfolio: str | int,
    as_of: str | dt.date | None = None,
    run_id: int | None = None,
    *,
    save: bool = False,
    settings: Settings | None = None,
    **options: Any,
) -> EngineRun:
    """Run one engine for one portfolio (load → compute → save) and return its result.

    Parameters
    ----------
    engine : str
        One of :data:`sigmasight_lib.runs.ENGINE_RUNNERS` (``valuation``,
        ``greeks``, ``exposures``, ``factors``, ``market_risk``, ``stress``,
        ``correlations``, ``risk_metrics``, ``snapshot``); dashes accepted.
    portfolio : str or int
        Portfolio name, slug or id.
    as_of : str, datetime.date or None, default=None
        ISO date; None → the latest date on which every needed series exists.
    run_id : int or None, default=None
        Batch run id. With a run id, the run that batch stored for (portfolio, engine,
        as-of) is returned as it was stored (:func:`stored_run`; no recomputation);
        when it stored none, the engine computes and saves with that run id
        (``batch_run_id`` on every row) and a note says it computed in the notebook.
        Without one the engine computes live.
    save : bool, default=False
        Without a run id, save only when True (``rows_saved`` is 0 otherwise: the
        figures are computed and returned, nothing stored changes).
    settings : Settings, optional
        Default: :func:`~sigmasight_lib.config.load_settings` (the environment).
    **options
        Passed to the runner: ``backfill`` for ``snapshot`` (default
        :data:`SNAPSHOT_BACKFILL_SESSIONS`), ``scenarios_file`` for ``stress``. Any
        option means a live computation (the batch stored its runs without options).

    Returns
    -------
    sigmasight_lib.runs.EngineRun
        ``tables`` (dict of DataFrames), ``summary`` (dict), ``notes`` (tuple
        of str), ``as_of``, ``portfolio``, ``rows_saved``.

    Raises
    ------
    ConfigError
        For an unknown engine or an unparsable parameter.
    SigmaSightError
        Whatever the engine raises (unknown portfolio, no market data ...).
    """
    from sigmasight_lib.runs import ENGINE_RUNNERS

    name = engine_name(engine)
    default_options = not options  # what the batch computed and stored
    if name == "snapshot":
        options.setdefault("backfill", SNAPSHOT_BACKFILL_SESSIONS)
    batch_run_id = parse_run_id(run_id)
    settings = settings or load_settings()
    reference, day, save = parse_portfolio(portfolio), parse_as_of(as_of), parse_save(save)
    if batch_run_id is not None and default_options:
        stored = stored_run(name, reference, day, batch_run_id, settings=settings)
        if stored is not None:
            return stored
    run = ENGINE_RUNNERS[name](
        settings, reference, day, batch_run_id, save=batch_run_id is not None or save, **options
    )
    if batch_run_id is None:
        return run
    note = f"computed in the notebook: batch run {batch_run_id} stored no {name} result for it"
    return dataclasses.replace(run, notes=(*run.notes, note))


def stored_run(
    engine: str,
    portfolio: str | int,
    as_of: dt.date | None,
    run_id: int,
    *,
    settings: Settings | None = None,
) -> EngineRun | None:
    """The engine run batch run ``run_id`` stored for (portfolio, engine, as-of), or None.

    The batch computes every engine through the layers first and stores each
    portfolio's run (:mod:`sigmasight_lib.runs.stored`); its notebooks render that.
    None when the run stored nothing for it (an engine the batch did not compute, a
    run that failed, an unknown portfolio: the caller then computes live).
    """
    from sigmasight_lib.db.session import session_scope
    from sigmasight_lib.exceptions import NotFoundError
    from sigmasight_lib.portfolios.service import find_portfolio
    from sigmasight_lib.runs.stored import load_engine_run

    with session_scope(settings or load_settings()) as session:
        try:
            portfolio_id = find_portfolio(session, portfolio).id
        except NotFoundError:
            return None
        return load_engine_run(session, run_id, portfolio_id, engine, as_of)


@dataclass(frozen=True)
class CoverageRun:
    """The market data coverage check at one as-of date, shaped like an engine run.

    Attributes
    ----------
    as_of : datetime.date
    provider : str
        Market data provider (``offline`` or ``yfinance``).
    summary : dict
        ``as_of``, ``provider``, ``ok`` (True when no symbol is below the
        60-session floor), ``symbols`` (how many) and ``counts`` (symbols per
        status: ``ok``, ``warning``, ``minimal``, ``insufficient``).
    tables : dict of str to DataFrame
        ``symbols``: one row per needed symbol, indexed by ``symbol``, columns
        :data:`COVERAGE_COLUMNS` (``observations`` = sessions with a price
        among the last ``window_sessions`` = 252).
    notes : tuple of str
        One line per symbol that is not ``ok``.
    report : CoverageReport
        The report as :func:`~sigmasight_lib.marketdata.cache.check_coverage` returned it.
    """

    as_of: dt.date
    provider: str
    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    notes: tuple[str, ...] = field(default_factory=tuple)
    report: CoverageReport | None = None


def coverage_frame(report: CoverageReport) -> pd.DataFrame:
    """The coverage report as a frame: one row per symbol, columns :data:`COVERAGE_COLUMNS`.

    An empty report gives an empty frame with those columns.
    """
    rows = [
        {
            "symbol": s.symbol,
            "status": s.status.value,
            "observations": s.observations,
            "window_sessions": s.window_sessions,
            "first_date": s.first_date,
            "last_date": s.last_date,
            "message": s.message,
        }
        for s in report.symbols
    ]
    return pd.DataFrame(rows, columns=["symbol", *COVERAGE_COLUMNS]).set_index("symbol")


def coverage(
    as_of: str | dt.date | None = None,
    run_id: int | None = None,
    *,
    backfill: bool = True,
    settings: Settings | None = None,
) -> CoverageRun:
    """Check market data coverage (252 / 150 / 60 rule) and record the report, or
    show the report batch run ``run_id`` recorded.

    Parameters
    ----------
    as_of : str, datetime.date or None, default=None
        ISO date; None → the latest date on which every needed series exists.
    run_id : int or None, default=None
        Batch run id. The batch checks coverage before any notebook runs and records
        the report with its run id; the market-data notebook then shows that report
        (no second check). Without a report of that run, the check runs here and
        records the report with ``run_id``.
    backfill : bool, default=True
        Fetch missing history of short symbols first (as ``sigmasight
        market-data coverage`` does).
    settings : Settings, optional
        Default: the environment.

    Raises
    ------
    MarketDataError
        When ``as_of`` is None and the cache has no date with every needed series.
    """
    from sigmasight_lib.db.session import session_scope
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.marketdata.cache import check_coverage, default_as_of, stored_coverage

    settings = settings or load_settings()
    day, batch_run_id = parse_as_of(as_of), parse_run_id(run_id)
    provider = get_provider(settings)
    with session_scope(settings) as session:
        day = day or default_as_of(session)
        if day is None:
            raise MarketDataError(
                "no as-of date: the cache has no date with every needed series; "
                "run `sigmasight market-data sync` or pass as_of"
            )
        report = (
            stored_coverage(session, day, provider.name, batch_run_id)
            if batch_run_id is not None
            else None
        ) or check_coverage(
            session, provider, as_of=day, backfill=backfill, batch_run_id=batch_run_id
        )
    summary = {
        "as_of": report.as_of,
        "provider": report.provider,
        "ok": report.ok,
        "symbols": len(report.symbols),
        "counts": report.to_dict()["counts"],
    }
    notes = tuple(
        f"{s.symbol}: {s.status.value} ({s.message})"
        for s in report.symbols
        if s.status.value != "ok"
    )
    return CoverageRun(
        as_of=report.as_of,
        provider=report.provider,
        summary=summary,
        tables={"symbols": coverage_frame(report)},
        notes=notes,
        report=report,
    )


def write_report(
    portfolio: str | int,
    as_of: str | dt.date | None = None,
    *,
    settings: Settings | None = None,
) -> dict[str, Path]:
    """Write report.md / report.json / positions.csv / report.html for the portfolio.

    The same library code as ``sigmasight report``; returns format → path.
    """
    from sigmasight_lib.reporting.writers import write_reports

    settings = settings or load_settings()
    return write_reports(settings, parse_portfolio(portfolio), parse_as_of(as_of))


# --------------------------------------------------------------------------- display


def table_csv_path(run: EngineRun, name: str, settings: Settings | None = None) -> Path:
    """Where the batch writes a run's full table: ``<outputs>/<as_of>/<slug>/tables/
    <engine>_<name>.csv``, beside the ``html/`` folder of the run's renders."""
    from sigmasight_lib.db.models import Portfolio
    from sigmasight_lib.db.session import session_scope

    settings = settings or load_settings()
    with session_scope(settings) as session:
        portfolio = session.get(Portfolio, run.portfolio_id)
        slug = portfolio.slug if portfolio is not None else str(run.portfolio_id)
    folder = settings.outputs_dir / run.as_of.isoformat() / slug / "tables"
    return folder / f"{run.engine}_{name}.csv"


def result_table(
    run: EngineRun,
    name: str,
    *,
    max_rows: int | None = None,
    settings: Settings | None = None,
    **options: Any,
) -> Any:
    """Show ``run.tables[name]`` formatted (:func:`~sigmasight_lib.reporting.display.show_table`).

    A table longer than ``max_rows`` (default
    :data:`~sigmasight_lib.reporting.display.MAX_ROWS`) shows its first rows and where
    the rest is: a batch run (with a run id) writes the full table to
    :func:`table_csv_path` and links it; an exploration run points to
    ``run.tables[name]``. ``options`` go to ``show_table`` (``row_keys=``).
    """
    import html

    from sigmasight_lib.reporting.csv_safety import safe_frame
    from sigmasight_lib.reporting.display import MAX_ROWS, show_table

    frame = run.tables[name]
    max_rows = MAX_ROWS if max_rows is None else max_rows
    full = None
    if len(frame) > max_rows:
        csv_name = f"{run.engine}_{name}.csv"
        if run.batch_run_id is not None:
            path = table_csv_path(run, name, settings)
            path.parent.mkdir(parents=True, exist_ok=True)
            plain = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
            safe_frame(frame if plain else frame.reset_index()).to_csv(path, index=False)
            full = f'<a href="../tables/{csv_name}">tables/{csv_name}</a> (CSV beside this page)'
        else:
            full = html.escape(
                f'run.tables["{name}"] in this notebook (a batch run writes tables/{csv_name})'
            )
    return show_table(frame, max_rows=max_rows, full_table=full, **options)
