"""Batch bookkeeping: run and job rows, lineage, liveness and the per-as-of run lock.

Every bookkeeping write goes through :func:`record`, which retries a transient
``database is locked`` with exponential backoff instead of crashing the run. A
run row carries the pid and host of its process and a heartbeat, so
:func:`run_state` tells a live ``running`` run from an ``interrupted`` one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from sigmasight_lib.config import Settings
from sigmasight_lib.db.models import BatchJob, BatchRun, MarketPrice, TreasuryRate
from sigmasight_lib.db.session import get_engine, session_scope
from sigmasight_lib.exceptions import DatabaseLockedError, SigmaSightError
from sigmasight_lib.lineage import code_version

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_ATTEMPTS = 6
"""Tries of one bookkeeping write before the lock error is raised."""
RETRY_FIRST_DELAY_SECONDS = 0.25
"""Wait before the second try; doubled before each next one (0.25, 0.5, 1, 2, 4 s)."""
HEARTBEAT_STALE = dt.timedelta(hours=2)
"""A ``running`` run on another host without a heartbeat for this long is ``interrupted``
(longer than any single notebook may run: cells time out after 600 s)."""


class BatchLockedError(SigmaSightError, RuntimeError):
    """Another batch run holds the lock for the same as-of date."""


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


def record(settings: Settings, write: Callable[[Session], T], what: str = "bookkeeping") -> T:
    """Run ``write(session)`` in its own transaction, retrying a locked database.

    A ``database is locked`` past the busy timeout
    (:class:`~sigmasight_lib.exceptions.DatabaseLockedError`) is retried
    :data:`RETRY_ATTEMPTS` times with exponential backoff from
    :data:`RETRY_FIRST_DELAY_SECONDS`; the last failure is raised.
    """
    delay = RETRY_FIRST_DELAY_SECONDS
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        try:
            with session_scope(settings) as session:
                return write(session)
        except DatabaseLockedError:
            if attempt == RETRY_ATTEMPTS:
                raise
            log.warning("batch %s: database locked, try %d of %d in %.2f s",
                        what, attempt + 1, RETRY_ATTEMPTS, delay)  # fmt: skip
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _this_process() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(),
            "heartbeat_at": dt.datetime.now(dt.UTC)}  # fmt: skip


def start_run(
    session: Session, as_of: dt.date, provider: str, parameters: dict[str, Any]
) -> BatchRun:
    run = BatchRun(
        as_of=as_of, status="running", provider=provider, code_version=code_version(),
        parameters=parameters, started_at=dt.datetime.now(dt.UTC), **_this_process(),
    )  # fmt: skip
    session.add(run)
    session.flush()
    return run


def claim_run(run: BatchRun) -> None:
    """Mark ``run`` as running in this process (a resumed run)."""
    run.status, run.finished_at = "running", None
    for key, value in _this_process().items():
        setattr(run, key, value)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def run_state(run: BatchRun, now: dt.datetime | None = None) -> str:
    """The status to show: ``interrupted`` for a ``running`` run whose process is gone.

    On the run's own host a gone pid is ``interrupted`` at once; otherwise (a
    live pid may be a reused one, another host, a row without pid) a heartbeat
    older than :data:`HEARTBEAT_STALE` is.
    """
    if run.status != "running":
        return run.status
    if run.pid is not None and run.host == socket.gethostname() and not _pid_alive(run.pid):
        return "interrupted"
    last = run.heartbeat_at or run.started_at
    if last is None:
        return "running"
    if last.tzinfo is None:  # SQLite returns naive UTC
        last = last.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return "interrupted" if now - last > HEARTBEAT_STALE else "running"


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
    run = session.get(BatchRun, run_id)
    if run is not None and run.status == "running":
        run.heartbeat_at = dt.datetime.now(dt.UTC)
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
    from sigmasight_lib.runs import ENGINE_RUNNERS
    from sigmasight_lib.runs.inputs import resolve_portfolio

    provider = options.pop("provider", None) or get_provider(settings)
    started = dt.datetime.now(dt.UTC)
    with session_scope(settings) as session:
        p, day = resolve_portfolio(session, portfolio, as_of)
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
