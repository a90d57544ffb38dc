"""Batch bookkeeping: run and job rows, lineage, and the per-as-of run lock."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sigmasight_lib import __version__
from sigmasight_lib.config import REPO_DIR, Settings
from sigmasight_lib.db.models import BatchJob, BatchRun, MarketPrice, TreasuryRate
from sigmasight_lib.db.session import get_engine
from sigmasight_lib.exceptions import SigmaSightError


class BatchLockedError(SigmaSightError, RuntimeError):
    """Another batch run holds the lock for the same as-of date."""


def code_version() -> str:
    """``git describe --always --dirty`` of the checkout, else the package version."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=REPO_DIR, capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        return f"{__version__}+git.{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        return __version__


def market_data_hash(session: Session, symbols: Sequence[str], start: dt.date, end: dt.date) -> str:
    """SHA-256 of the cached prices of ``symbols`` and the treasury curve in ``[start, end]``.

    Two runs that read the same market data record the same hash.
    """
    digest = hashlib.sha256()
    prices = session.execute(
        select(MarketPrice.symbol, MarketPrice.date, MarketPrice.close, MarketPrice.adj_close,
               MarketPrice.total_return)
        .where(MarketPrice.symbol.in_(sorted(set(symbols))), MarketPrice.date >= start, MarketPrice.date <= end)
        .order_by(MarketPrice.symbol, MarketPrice.date)
    )  # fmt: skip
    for row in prices:
        digest.update(repr(tuple(row)).encode())
    rates = session.execute(
        select(TreasuryRate.date, TreasuryRate.tenor, TreasuryRate.yield_rate)
        .where(TreasuryRate.date >= start, TreasuryRate.date <= end)
        .order_by(TreasuryRate.date, TreasuryRate.tenor)
    )
    for row in rates:
        digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


def start_run(
    session: Session, as_of: dt.date, provider: str, parameters: dict[str, Any]
) -> BatchRun:
    run = BatchRun(
        as_of=as_of, status="running", provider=provider, code_version=code_version(),
        parameters=parameters, started_at=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run


def upsert_job(
    session: Session, run_id: int, portfolio_id: int | None, job: str, **fields: Any
) -> BatchJob:
    """The job row of (run, portfolio, job), created if absent, with ``fields`` set."""
    row = session.scalar(
        select(BatchJob).where(
            BatchJob.batch_run_id == run_id,
            BatchJob.portfolio_id.is_(None)
            if portfolio_id is None
            else BatchJob.portfolio_id == portfolio_id,
            BatchJob.job_name == job,
        )
    )
    if row is None:
        row = BatchJob(
            batch_run_id=run_id, portfolio_id=portfolio_id, job_name=job, status="pending"
        )
        session.add(row)
    for key, value in fields.items():
        setattr(row, key, value)
    session.flush()
    return row


@contextlib.contextmanager
def batch_lock(settings: Settings, as_of: dt.date) -> Iterator[None]:
    """Hold the lock of ``as_of`` for the duration of the block.

    PostgreSQL: a session-level advisory lock on a dedicated connection.
    SQLite: an exclusive transaction on a small lock database beside the
    main file. Either is released by the server or the OS if the process
    dies, so a crashed batch never blocks the next one.

    Raises
    ------
    BatchLockedError
        When another process holds the lock for the same date.
    """
    key = f"sigmasight-batch:{as_of.isoformat()}"
    if settings.dialect == "postgresql":
        lock_id = int(hashlib.sha256(key.encode()).hexdigest()[:15], 16)
        with get_engine(settings).connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_id}).scalar():
                raise BatchLockedError(
                    f"another batch run for {as_of} is in progress (advisory lock {lock_id})"
                )
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_id})
                conn.commit()
        return
    db_file = Path(settings.database_url.database or settings.outputs_dir / "sigmasight.db")
    lock_file = db_file.with_name(f"{db_file.name}.batch-{as_of.isoformat()}.lock")
    conn = sqlite3.connect(lock_file, timeout=0, isolation_level=None)
    try:
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError:
            raise BatchLockedError(
                f"another batch run for {as_of} is in progress (lock {lock_file.name})"
            ) from None
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


# --------------------------------------------------------------------------- manual runs


def run_manual(
    settings: Settings,
    engine: str,
    portfolio: str | int,
    as_of: dt.date | None = None,
    **options: Any,
) -> Any:
    """Run one engine as a recorded manual run (``sigmasight engine ...``).

    A ``batch_runs`` row of kind ``manual`` (status, timings, code version,
    provider, the engine and its options as ``parameters``) and one
    ``batch_jobs`` row for (portfolio, engine) are written first; the engine's
    result rows carry that run id, so their lineage is never lost, and a report
    sees a failed manual run as the latest job of that engine. The run and job
    end ``succeeded`` or ``failed`` (with ``{ename, evalue}``); the exception is
    re-raised.

    Returns
    -------
    sigmasight_lib.runs.EngineRun
    """
    from sigmasight_lib.db.session import session_scope
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.runs import ENGINE_RUNNERS, _resolve

    provider = options.pop("provider", None) or get_provider(settings)
    started = dt.datetime.now(dt.UTC)
    with session_scope(settings) as session:
        p, day = _resolve(session, portfolio, as_of)
        portfolio_id = p.id
        parameters = {
            "trigger": "cli",
            "engine": engine,
            "portfolio": portfolio_id,
            "as_of": day.isoformat(),
            **{k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        }
        run = BatchRun(
            as_of=day, status="running", kind="manual", provider=provider.name,
            code_version=code_version(), parameters=parameters, started_at=started,
        )  # fmt: skip
        session.add(run)
        session.flush()
        run_id = run.id
        upsert_job(session, run_id, portfolio_id, engine, status="running", started_at=started)
    error: dict[str, Any] | None = None
    try:
        result = ENGINE_RUNNERS[engine](
            settings, portfolio_id, day, run_id, provider=provider, **options
        )
    except BaseException as exc:
        error = {"ename": type(exc).__name__, "evalue": str(exc)}
        raise
    finally:
        finished = dt.datetime.now(dt.UTC)
        status = "failed" if error else "succeeded"
        with session_scope(settings) as session:
            upsert_job(session, run_id, portfolio_id, engine, status=status, error=error,
                       duration_seconds=(finished - started).total_seconds())  # fmt: skip
            row = session.get(BatchRun, run_id)
            row.status, row.finished_at = status, finished
    return result
