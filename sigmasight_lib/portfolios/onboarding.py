"""Onboarding a new portfolio from a CSV: preview, import, first engine runs.

What ``notebooks/onboarding.ipynb`` calls::

    path = resolve_csv(csv_path)                 # None → a sample CSV in a temp file
    rows, issues, notes = preview(path)          # parsed rows, validation report
    result = import_and_run(settings, path, portfolio, owner)
    result["runs"]["valuation"].summary

The sample CSV (:func:`sample_csv`) uses symbols of the offline snapshot and
2016–2017 dates, so it imports and values cleanly without network access;
:func:`~sigmasight_lib.portfolios.csv_import.template_csv` is the column
template; its example tickers are in the offline snapshot too, but its dates
(2024) are after the snapshot's last prices.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from sigmasight_lib.config import Settings
from sigmasight_lib.exceptions import ImportValidationError

ONBOARDING_ENGINES: tuple[str, ...] = ("valuation", "greeks", "exposures")
"""Engines :func:`import_and_run` runs for the new portfolio, in order."""

ISSUE_COLUMNS: tuple[str, ...] = ("row", "field", "value", "reason")
"""Columns of the issues frame of :func:`preview`."""

ROW_COLUMNS: tuple[str, ...] = (
    "row",
    "symbol",
    "position_type",
    "quantity",
    "entry_price",
    "entry_date",
    "underlying",
    "option_type",
    "strike",
    "expiry",
    "multiplier",
    "tags",
    "strategy",
)
"""Columns of the rows frame of :func:`preview`."""

_SAMPLE_ROWS: tuple[str, ...] = (
    "AAPL,300,28.50,2016-06-15,core;tech,",
    "AAPL170616C00036000,-3,0.85,2017-03-01,income,",
    "JPM,200,60.10,2016-11-15,financials,",
    "XOM,150,80.25,2016-09-15,energy,",
    "MSFT,-100,56.40,2017-01-17,hedge,",
)


def sample_csv() -> str:
    """A small positions CSV with offline-snapshot symbols: AAPL with a covered call,
    JPM, XOM and a short MSFT (entry dates 2016–2017, option expiry 2017-06-16)."""
    header = "symbol,quantity,entry_price,entry_date,tags,strategy"
    return "\n".join((header, *_SAMPLE_ROWS)) + "\n"


def write_sample_csv(path: str | Path | None = None) -> Path:
    """Write :func:`sample_csv` to ``path`` (default: a new temporary file) and return it."""
    if path is None:
        with tempfile.NamedTemporaryFile(
            "w", suffix=".csv", prefix="sigmasight-onboarding-", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(sample_csv())
        return Path(handle.name)
    target = Path(path)
    target.write_text(sample_csv(), encoding="utf-8")
    return target


def resolve_csv(csv_path: str | Path | None) -> Path:
    """The CSV to onboard: ``csv_path``, or (when None or blank) a new sample file."""
    if csv_path is None or not str(csv_path).strip():
        return write_sample_csv()
    return Path(csv_path).expanduser()


def preview(
    csv_path: str | Path, settings: Settings | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Parse and validate ``csv_path`` without writing anything.

    Parameters
    ----------
    settings : Settings, optional
        When given, symbols are also checked against its market data provider.

    Returns
    -------
    rows : DataFrame
        Valid rows, columns :data:`ROW_COLUMNS`.
    issues : DataFrame
        One row per problem, columns :data:`ISSUE_COLUMNS` (empty when the file is clean).
    notes : list of str
        What was tolerated (delimiter, totals rows, ignored columns ...).
    """
    from sigmasight_lib.portfolios.csv_import import parse_positions_csv

    unknown = None
    if settings is not None:
        from sigmasight_lib.marketdata import get_provider

        unknown = get_provider(settings).unknown_symbols
    report = parse_positions_csv(Path(csv_path), unknown_symbols=unknown)
    data = report.to_dict()
    rows = pd.DataFrame(data["rows"])
    rows = rows.reindex(columns=[c for c in ROW_COLUMNS if c in rows.columns or rows.empty])
    issues = pd.DataFrame(
        [{k: i[k] for k in ISSUE_COLUMNS} for i in data["issues"]], columns=list(ISSUE_COLUMNS)
    )
    return rows, issues, list(report.notes)


def import_and_run(
    settings: Settings,
    csv_path: str | Path,
    portfolio: str,
    owner: str,
    *,
    as_of: dt.date | None = None,
    engines: Sequence[str] = ONBOARDING_ENGINES,
    create_strategies: bool = False,
    valid_rows_only: bool = False,
    commit: bool = True,
) -> dict[str, Any]:
    """Import ``csv_path`` as ``portfolio`` of ``owner``, sync its market data, run engines.

    Steps: :func:`~sigmasight_lib.portfolios.importer.import_portfolio_csv`
    (all-or-nothing unless ``valid_rows_only``); strategy proposals
    (:func:`~sigmasight_lib.portfolios.strategies.detect_and_create`, created
    only with ``create_strategies``); market data sync of the portfolio's
    underlyings; then each engine of ``engines`` through
    :data:`sigmasight_lib.runs.ENGINE_RUNNERS`.

    The as-of date is ``as_of``, else the cache's default as-of date (the
    latest date with every needed series, so a new portfolio is valued on the
    same date as the existing ones), else — on an empty cache — the latest
    date the provider serves for the portfolio's underlyings.

    With ``commit=False`` (the onboarding notebook's default) nothing is written:
    the file is validated as a dry run (``import`` says "dry run: nothing
    written"), and there are no strategies, sync or engine runs. The shared
    database gains the portfolio only when asked, so later batches do not pick up
    an exploratory import.

    Returns
    -------
    dict
        ``portfolio`` (name), ``portfolio_id`` (None when not committed), ``as_of``,
        ``committed``, ``import`` (ImportResult), ``strategies`` (list of
        ProposedStrategy), ``sync`` (SyncReport or None), ``runs`` (engine name →
        EngineRun) and ``summaries`` (engine name → summary dict).

    Raises
    ------
    ImportValidationError
        When the file has invalid rows (and not ``valid_rows_only``) or no valid row.
    """
    from sigmasight_lib.db.session import session_scope
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.marketdata.cache import (
        DEFAULT_HISTORY_SESSIONS,
        default_as_of,
        resolve_sync_end,
        sync_market_data,
    )
    from sigmasight_lib.notebook import engine_name
    from sigmasight_lib.portfolios.importer import import_portfolio_csv
    from sigmasight_lib.portfolios.strategies import detect_and_create
    from sigmasight_lib.runs import ENGINE_RUNNERS

    names = [engine_name(e) for e in engines]
    provider = get_provider(settings)
    if not commit:
        with session_scope(settings) as session:
            dry = import_portfolio_csv(
                session, Path(csv_path), name=portfolio, owner_email=owner, provider=provider,
                dry_run=True, as_of=as_of,
            )  # fmt: skip
            session.rollback()
        return {
            "portfolio": portfolio, "portfolio_id": None, "as_of": as_of, "committed": False,
            "import": dry, "strategies": [], "sync": None, "runs": {}, "summaries": {},
        }  # fmt: skip
    with session_scope(settings) as session:
        result = import_portfolio_csv(
            session,
            Path(csv_path),
            name=portfolio,
            owner_email=owner,
            provider=provider,
            valid_rows_only=valid_rows_only,
            as_of=as_of,
        )
        if result.written is None:
            raise ImportValidationError(
                f"{csv_path}: nothing imported ({len(result.report.issues)} issues, "
                f"{len(result.report.rows)} valid rows); fix the rows or pass valid_rows_only",
                issues=[i.to_dict() for i in result.report.issues],
            )
        portfolio_id = result.written.portfolio_id
        proposals = detect_and_create(session, portfolio_id, create=create_strategies)
        underlyings = sorted({r.spec.underlying for r in result.report.rows})
        day = as_of or default_as_of(session) or resolve_sync_end(provider, underlyings)
        sync = sync_market_data(
            session,
            provider,
            as_of=day,
            symbols=underlyings,
            history_sessions=DEFAULT_HISTORY_SESSIONS,
        )
    runs = {name: ENGINE_RUNNERS[name](settings, portfolio_id, day) for name in names}
    return {
        "portfolio": portfolio,
        "portfolio_id": portfolio_id,
        "as_of": day,
        "committed": True,
        "import": result,
        "strategies": proposals,
        "sync": sync,
        "runs": runs,
        "summaries": {name: run.summary for name, run in runs.items()},
    }


def strategies_frame(proposals: Sequence[Any]) -> pd.DataFrame:
    """Proposed strategies as a frame (strategy_type, name, position_ids, reason, strategy_id)."""
    columns = ["strategy_type", "name", "position_ids", "reason", "strategy_id"]
    return pd.DataFrame([p.to_dict() for p in proposals], columns=columns)


def summaries_frame(result: dict[str, Any]) -> pd.DataFrame:
    """The engine runs of :func:`import_and_run` side by side: one column per engine, one
    row per figure (as_of, rows_saved, notes count, then the engines' headline figures)."""
    rows = []
    for name, run in result["runs"].items():
        flat = {k: v for k, v in run.summary.items() if not isinstance(v, dict | list)}
        rows.append(
            {
                "engine": name,
                "as_of": run.as_of,
                "rows_saved": run.rows_saved,
                "notes": len(run.notes),
                **flat,
            }
        )
    return pd.DataFrame(rows).set_index("engine").T if rows else pd.DataFrame()


def run_table(result: dict[str, Any], engine: str, table: str) -> pd.DataFrame:
    """Table ``table`` of the ``engine`` run of :func:`import_and_run` (empty when the
    engine did not run, e.g. a preview with ``commit=False``)."""
    run = result["runs"].get(engine)
    return run.tables.get(table, pd.DataFrame()) if run is not None else pd.DataFrame()


def run_notes(result: dict[str, Any], engine: str) -> tuple[str, ...]:
    """Notes of the ``engine`` run of :func:`import_and_run` (empty when it did not run)."""
    run = result["runs"].get(engine)
    return run.notes if run is not None else ()
