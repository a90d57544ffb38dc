"""The batch without notebooks (``sigmasight batch run --render none``).

After the market-data job, every selected engine runs for every portfolio in this
process: one :class:`~sigmasight_lib.runs.security_layer.SecurityLayer` for all
portfolios, then each engine of
:data:`~sigmasight_lib.runs.portfolio_layer.LAYER_ENGINES` for all portfolios at once
(saved in one transaction per engine), the other engines per portfolio through
``run_<engine>`` (one transaction per portfolio, as today). The report job writes
each portfolio's report artifacts from the stored results (no notebook) — for
real portfolios only: a report costs about 0.5 s, half an hour for thousands of
synthetic portfolios, so a synthetic portfolio gets no report job (no job row:
the run's status is about the engines; ``sigmasight report <portfolio>`` writes
its report on demand).

Job rows (one per (portfolio, job), as the notebook batch records them) are
written in bulk at the end; a layered engine's duration is shared equally among
its portfolios. A failed job skips its dependents for that portfolio only.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import delete, insert, select

from sigmasight_lib.batch.plan import REPORT_JOB, dependents
from sigmasight_lib.config import Settings
from sigmasight_lib.db.models import BatchJob, Portfolio
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.logs import Progress
from sigmasight_lib.marketdata import MarketDataProvider
from sigmasight_lib.params import load_engine_params
from sigmasight_lib.runs import ENGINE_RUNNERS
from sigmasight_lib.runs.inputs import load_scenario_set
from sigmasight_lib.runs.portfolio_layer import LAYER_ENGINES
from sigmasight_lib.runs.result import EngineRun
from sigmasight_lib.runs.security_layer import SecurityLayer
from sigmasight_lib.runs.stored import save_engine_runs

log = logging.getLogger(__name__)

Outcome = tuple[str, float, dict[str, Any] | None]
"""(status, duration in seconds, error) of one (portfolio, job)."""


def _error(exc: BaseException) -> dict[str, Any]:
    return {"cell_index": None, "ename": type(exc).__name__, "evalue": str(exc), "notebook": None}


def run_layered(
    settings: Settings,
    provider: MarketDataProvider,
    as_of: dt.date,
    run_id: int,
    todo: dict[int, tuple[str, ...]],
    jobs: Sequence[str],
    *,
    store_runs: Collection[int] | None = None,
    record_jobs: bool = True,
    snapshot_backfill: int = 0,
) -> dict[tuple[int, str], Outcome]:
    """Run ``todo`` (portfolio id -> its jobs, in dependency order) and record the job rows.

    Parameters
    ----------
    store_runs : collection of int, optional
        Portfolio ids whose engine runs are stored (``engine_runs``, one bulk insert
        per engine) for the notebooks that render them (or a researcher opening a
        notebook with the run id); default: every portfolio that is not synthetic
        (thousands of synthetic accounts are a scale test: their rows are saved, their
        runs not stored, as they get no report).
    record_jobs : bool, default=True
        Write the job rows (False when the notebooks that follow record them).
    snapshot_backfill : int, default=0
        Sessions the snapshot engine backfills (the notebook batch: 90, as its
        notebooks do), through the layers as every engine (the security layer loads
        the positions and history of those sessions).

    Returns
    -------
    dict
        (portfolio id, job) -> :data:`Outcome`.
    """
    params = load_engine_params(settings.params_dir)
    scenario_set = load_scenario_set(settings.params_dir)
    outcomes: dict[tuple[int, str], Outcome] = {}
    skipped: dict[tuple[int, str], str] = {}
    progress = Progress(f"batch {as_of} (no notebooks)", unit="engine")
    layer: SecurityLayer | None = None
    layer_error: dict[str, Any] | None = None
    ids = sorted(todo)
    with session_scope(settings) as session:
        synthetic = {
            p
            for start in range(0, len(ids), 900)
            for p in session.scalars(
                select(Portfolio.id).where(
                    Portfolio.id.in_(ids[start : start + 900]), Portfolio.synthetic.is_(True)
                )
            )
        }
    stored = set(ids) - synthetic if store_runs is None else set(store_runs)
    if any(set(todo[p]) & set(LAYER_ENGINES) for p in ids):
        started = time.perf_counter()
        backfill = snapshot_backfill if any("snapshot" in todo[p] for p in ids) else 0
        try:
            with session_scope(settings) as session:
                layer = SecurityLayer.build_or_load(
                    session, provider, params, as_of, ids, scenario_set=scenario_set,
                    snapshot_backfill=backfill,
                )  # fmt: skip
        except Exception as exc:  # every layered job fails with the reason; the others go on
            log.error("security layer for %s failed: %s: %s", as_of, type(exc).__name__, exc)
            layer_error = _error(exc)
        log.info(
            "security layer for %d portfolios: %.2f s", len(ids), time.perf_counter() - started
        )

    def fail(pid: int, job: str, error: dict[str, Any], seconds: float = 0.0) -> None:
        outcomes[pid, job] = ("failed", seconds, error)
        for dep in dependents(job, todo[pid]):
            skipped.setdefault((pid, dep), f"skipped: {job} failed ({error.get('ename')})")

    for step, job in enumerate(jobs):
        progress(step, len(jobs), job)
        mine = [p for p in ids if job in todo[p] and not (job == REPORT_JOB and p in synthetic)]
        for p in mine:
            if (p, job) in skipped:
                outcomes[p, job] = ("skipped", 0.0, {"reason": skipped[p, job]})
        mine = [p for p in mine if (p, job) not in outcomes]
        if not mine:
            continue
        if job in LAYER_ENGINES:
            options = {"backfill": snapshot_backfill} if job == "snapshot" else {}
            started = time.perf_counter()
            try:
                if layer is None:
                    raise RuntimeError(f"no security layer: {(layer_error or {}).get('evalue')}")
                with session_scope(settings) as session:
                    result = LAYER_ENGINES[job](layer, session, **options)
                runs = [result.run(p, run_id) for p in mine if p in stored]
                with session_scope(settings) as session:
                    result.save(session, run_id, portfolio_ids=mine)
            except Exception as exc:  # the engine fails for these portfolios, the run goes on
                seconds = (time.perf_counter() - started) / len(mine)
                error = layer_error if layer is None and layer_error else _error(exc)
                for p in mine:
                    fail(p, job, error, seconds)
                continue
            store_engine_runs(settings, runs, run_id)
            seconds = (time.perf_counter() - started) / len(mine)
            for p in mine:
                outcomes[p, job] = ("succeeded", seconds, None)
            continue
        runs = []
        for p in mine:
            started = time.perf_counter()
            try:
                if job == REPORT_JOB:
                    from sigmasight_lib.reporting.writers import write_reports

                    write_reports(settings, p, as_of)
                else:
                    run = ENGINE_RUNNERS[job](
                        settings, p, as_of, batch_run_id=run_id, provider=provider
                    )
                    if p in stored:
                        runs.append(run)
            except Exception as exc:
                fail(p, job, _error(exc), time.perf_counter() - started)
            else:
                outcomes[p, job] = ("succeeded", time.perf_counter() - started, None)
        store_engine_runs(settings, runs, run_id)
    progress(len(jobs), len(jobs), f"{len(ids)} portfolios x {len(jobs)} jobs")
    if record_jobs:
        save_job_rows(settings, run_id, outcomes)
    return outcomes


def store_engine_runs(settings: Settings, runs: Sequence[EngineRun], run_id: int) -> None:
    """Store ``runs`` for the notebooks (one transaction); a failure is logged, not raised:
    their notebooks then compute live."""
    if not runs:
        return
    try:
        with session_scope(settings) as session:
            save_engine_runs(session, runs, run_id)
    except Exception as exc:  # the results are saved; only the rendering shortcut is lost
        log.warning("storing %d %s runs failed (their notebooks compute live): %s: %s",
                    len(runs), runs[0].engine, type(exc).__name__, exc)  # fmt: skip


def save_job_rows(
    settings: Settings, run_id: int, outcomes: dict[tuple[int, str], Outcome]
) -> None:
    """Replace the job rows of ``outcomes`` in run ``run_id`` (bulk insert)."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        {"batch_run_id": run_id, "portfolio_id": p, "job_name": job, "status": status,
         "started_at": now, "duration_seconds": seconds, "error": error, "artifact_path": None}
        for (p, job), (status, seconds, error) in outcomes.items()
    ]  # fmt: skip
    ids = sorted({p for p, _ in outcomes})
    jobs = sorted({j for _, j in outcomes})
    with session_scope(settings) as session:
        for start in range(0, len(ids), 900):
            session.execute(
                delete(BatchJob).where(
                    BatchJob.batch_run_id == run_id,
                    BatchJob.portfolio_id.in_(ids[start : start + 900]),
                    BatchJob.job_name.in_(jobs),
                )
            )
        for start in range(0, len(rows), 5000):
            session.execute(insert(BatchJob), rows[start : start + 5000])
