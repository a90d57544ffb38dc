"""The batch: market data once per as-of, then per portfolio the engine notebooks.

``run_batch`` is the one entry point (CLI ``sigmasight batch run``, the
schedule, tests). Per as-of it takes the run lock, syncs market data and checks
coverage (recording the report), computes every engine for every portfolio in this
process through the security and portfolio layers and stores each run
(:mod:`sigmasight_lib.batch.layered`, :mod:`sigmasight_lib.runs.stored`), then runs
the notebooks through papermill — the market-data notebook shows the recorded
coverage report, the engine notebooks render the stored runs instead of
recomputing — inline, in a process pool or on a dask cluster, one notebook per
task, each as soon as the jobs it depends on have succeeded (:class:`JobGraph`), so
that portfolios and the independent engines of one portfolio run in parallel. It
writes executed notebooks and code-free HTML under
``outputs/<as_of>/<portfolio-slug>/``, one tracked job row per (portfolio, engine),
and finally ``outputs/index.html``.

Notebooks receive only ``portfolio``, ``as_of`` and ``run_id``; the database
URL and any API key reach the kernel through the environment, never through
parameters, so they appear in no notebook, HTML page or log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field, replace
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import select

from sigmasight_lib.batch.plan import (
    DEPENDS_ON,
    MARKET_DATA_JOB,
    NOTEBOOK_PARAMETERS,
    NOTEBOOKS,
    REPORT_JOB,
    select_jobs,
)
from sigmasight_lib.batch.tracking import (
    batch_lock,
    claim_run,
    market_data_hash,
    record,
    start_run,
    upsert_job,
)
from sigmasight_lib.config import Settings, load_settings
from sigmasight_lib.db import store
from sigmasight_lib.db.models import BatchJob, BatchRun, Portfolio
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.exceptions import (
    AsOfDateError,
    ConfigError,
    MarketDataError,
    NotFoundError,
)
from sigmasight_lib.logs import Progress
from sigmasight_lib.marketdata import get_provider
from sigmasight_lib.marketdata.cache import (
    DEFAULT_HISTORY_SESSIONS,
    check_coverage,
    default_as_of,
    latest_cached_date,
    needed_symbols,
    resolve_sync_end,
    sync_market_data,
)
from sigmasight_lib.marketdata.calendar import require_session, sessions_window
from sigmasight_lib.portfolios.service import find_portfolio

log = logging.getLogger(__name__)

EXECUTORS = ("inline", "processes", "dask")
RENDERS = ("html", "none")
"""``html``: engine notebooks through papermill; ``none``: the layered engines in-process
(:mod:`sigmasight_lib.batch.layered`)."""
KERNEL_MODES = ("warm", "fresh")
KERNEL_NAME = "python3"
CELL_TIMEOUT_SECONDS = 600
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class JobOutcome:
    """The result of one (portfolio, job)."""

    portfolio_id: int | None
    job: str
    status: str
    """``succeeded``, ``failed`` or ``skipped``."""
    duration_seconds: float = 0.0
    notebook: str | None = None
    html: str | None = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class BatchResult:
    run_id: int
    as_of: dt.date
    status: str
    outcomes: tuple[JobOutcome, ...]
    index_html: Path
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failed(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "as_of": self.as_of.isoformat(),
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "index_html": str(self.index_html),
            "jobs": [asdict(o) for o in self.outcomes],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- parameters


def notebook_path(job: str, notebooks_dir: Path) -> Path:
    return notebooks_dir / NOTEBOOKS[job]


def validate_parameters(notebook: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    """Check ``parameters`` against the notebook's ``parameters`` cell and our whitelist.

    Raises
    ------
    ConfigError
        Naming an unknown or ill-typed parameter; nothing is injected then.
    """
    import papermill

    declared = set(papermill.inspect_notebook(str(notebook)))
    for name, value in parameters.items():
        if name not in NOTEBOOK_PARAMETERS or name not in declared:
            raise ConfigError(
                f"parameter {name!r} is not a parameter of {notebook.name} "
                f"(accepted: {', '.join(sorted(declared & set(NOTEBOOK_PARAMETERS)))})"
            )
        expected = NOTEBOOK_PARAMETERS[name]
        if value is not None and not (isinstance(value, expected) and not isinstance(value, bool)):
            raise ConfigError(
                f"parameter {name!r} of {notebook.name} must be {expected.__name__} or None, "
                f"got {type(value).__name__} {value!r}"
            )
    return parameters


# --------------------------------------------------------------------------- one notebook


def page_title(job: str, portfolio: str, as_of: dt.date | str) -> str:
    """``<Engine> — <portfolio> — <as-of>``, the title of an engine's HTML render."""
    as_of_text = as_of.isoformat() if isinstance(as_of, dt.date) else str(as_of)
    return f"{job.replace('_', ' ').capitalize()} — {portfolio} — {as_of_text}"


_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/:]+)+[\\/]([^\s'\"\\/:]+)")
_ERROR_BOX = (
    '<div class="sigmasight-error" role="alert" style="border:1px solid #c0392b;'
    "background:#fdecea;color:#611a15;padding:0.8em 1em;margin:1em 0;border-radius:4px;"
    'font-family:sans-serif"><strong>{engine} failed</strong><br>'
    "<code>{ename}</code>: {evalue}<br><small>The traceback is in the executed notebook."
    "</small></div>"
)


def error_box(engine: str, ename: str, evalue: str) -> str:
    """A short HTML error box: engine, exception name and message, no traceback.

    File paths in the message are cut to their last component, so no server
    path reaches the page; the message is cut to 300 characters.
    """
    message = _PATH.sub(r"\1", str(evalue)).strip()
    if len(message) > 300:
        message = message[:299] + "…"
    return _ERROR_BOX.format(
        engine=escape(engine), ename=escape(str(ename)), evalue=escape(message)
    )


_EXPORTERS = threading.local()


def _html_exporter() -> Any:
    """This thread's ``HTMLExporter`` (outputs only, no prompts, no JS or MathJax URLs).

    Built once per thread and reused, as nbconvert's own CLI does for many notebooks:
    constructing it is cheap, but its Jinja templates are loaded and compiled on first
    use (~0.1 s per notebook otherwise). One per thread because ``from_notebook_node``
    re-registers filters on the exporter.
    """
    exporter = getattr(_EXPORTERS, "html", None)
    if exporter is None:
        from nbconvert import HTMLExporter

        exporter = _EXPORTERS.html = HTMLExporter(
            template_name="lab", exclude_input=True, exclude_input_prompt=True,
            exclude_output_prompt=True, require_js_url="", mathjax_url="",
        )  # fmt: skip
    return exporter


def render_html(
    executed: Path, html_path: Path, title: str | None = None, error: dict[str, Any] | None = None
) -> None:
    """Write a self-contained HTML render of ``executed`` with all code hidden.

    Outputs only (no input cells, no prompts); scripts are removed, so the
    page opens from disk with no network: charts are inline PNG, tables HTML.
    ``title`` becomes the page's ``<title>`` (default: the notebook's file
    name). For a failed run (``error`` with ``ename`` / ``evalue``) the page
    shows a short error box in place of papermill's banner, and error outputs
    and stderr streams (tracebacks, warnings with paths) are left out; the
    executed notebook keeps the full traceback.
    """
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    if error is not None:
        engine = (title or executed.stem).split(" — ")[0]
        cells = [
            c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata.get("tags", [])
        ]
        for cell in cells:
            if cell.cell_type == "code":
                cell.outputs = [
                    o for o in cell.get("outputs", [])
                    if o.output_type != "error"
                    and not (o.output_type == "stream" and o.get("name") == "stderr")
                ]  # fmt: skip
        box = error_box(engine, error.get("ename") or "Error", error.get("evalue") or "")
        nb.cells = [nbformat.v4.new_markdown_cell(box), *cells]
    resources = {"metadata": {"name": title or executed.stem}}
    body, _ = _html_exporter().from_notebook_node(nb, resources=resources)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(_SCRIPT.sub("", body), encoding="utf-8")


def _fresh_kernel_options() -> dict[str, Any]:
    """papermill options for a fresh kernel: CurveZMQ transport encryption when zmq has it.

    Without it ipykernel logs "Kernel is running over TCP without encryption" on the
    console for every notebook; the warm engine sets the same policy.
    """
    from traitlets.config import Config

    from sigmasight_lib.batch.warm_kernel import transport_encryption

    return {
        "config": Config({"KernelManager": {"transport_encryption": transport_encryption()}}),
        "kernel_manager_class": _quiet_shutdown_manager(),
    }


@functools.cache
def _quiet_shutdown_manager() -> type:
    """An ``AsyncKernelManager`` whose shutdown sends no SIGINT before the shutdown request.

    jupyter_client interrupts the kernel first; after the last cell the kernel is idle,
    and the interrupt only makes ipykernel log "KeyboardInterrupt caught in kernel." on
    the console when it lands inside a message handler. A kernel that does not answer
    the request is still killed after ``shutdown_wait_time``.
    """
    from jupyter_client import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


def execute_job(
    job: str,
    parameters: dict[str, Any],
    out_dir: Path,
    notebooks_dir: Path,
    kernel_mode: str = "fresh",
    title: str | None = None,
) -> JobOutcome:
    """Run one notebook with papermill, render its HTML, and describe the outcome.

    A failing notebook is still saved (papermill writes it) and rendered; the
    outcome carries papermill's ``cell_index``, ``ename``, ``evalue`` and the
    executed notebook's path.
    """
    import papermill

    source = notebook_path(job, notebooks_dir)
    executed = out_dir / "notebooks" / source.name
    html = out_dir / "html" / source.with_suffix(".html").name
    executed.parent.mkdir(parents=True, exist_ok=True)
    engine = None
    if kernel_mode == "warm":
        from sigmasight_lib.batch.warm_kernel import WARM_ENGINE_NAME, register_warm_engine

        register_warm_engine()
        engine = WARM_ENGINE_NAME
    start = time.perf_counter()
    error: dict[str, Any] | None = None
    try:
        validate_parameters(source, parameters)  # a missing notebook fails this job only
        papermill.execute_notebook(
            str(source), str(executed), parameters=parameters, kernel_name=KERNEL_NAME,
            engine_name=engine, progress_bar=False, log_output=False,
            execution_timeout=CELL_TIMEOUT_SECONDS, cwd=str(notebooks_dir),
            **({} if engine else _fresh_kernel_options()),
        )  # fmt: skip
    except papermill.PapermillExecutionError as exc:
        error = {"cell_index": exc.cell_index, "ename": exc.ename, "evalue": exc.evalue,
                 "notebook": str(executed)}  # fmt: skip
    except Exception as exc:  # missing notebook, kernel died, timeout: a job failure, not a crash
        error = {
            "cell_index": None,
            "ename": type(exc).__name__,
            "evalue": str(exc),
            "notebook": str(executed),
        }
    seconds = time.perf_counter() - start
    if executed.exists():
        render_html(executed, html, title=title, error=error)
    return JobOutcome(
        portfolio_id=None, job=job, status="failed" if error else "succeeded",
        duration_seconds=seconds, notebook=str(executed) if executed.exists() else None,
        html=str(html) if html.exists() else None, error=error,
    )  # fmt: skip


# --------------------------------------------------------------------------- one notebook job


@dataclass(frozen=True)
class NotebookTask:
    """Everything a worker needs to run one notebook of a batch (picklable).

    ``portfolio_id`` is None for the market-data notebook (it covers every portfolio).
    """

    run_id: int
    portfolio_id: int | None
    portfolio_name: str
    slug: str
    as_of: dt.date
    job: str
    kernel_mode: str
    outputs_dir: str
    environment: dict[str, str]
    """SIGMASIGHT_* variables for a worker in another process (not notebook parameters)."""


@contextlib.contextmanager
def scoped_environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block and restore the previous values after.

    Notebook kernels inherit (fresh) or are re-synced to (warm) this process's
    environment: this is how the database URL reaches them without ever being
    a notebook parameter.
    """
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_notebook_task(task: NotebookTask) -> JobOutcome:
    """Run one notebook of a batch and record its job row (running, then its outcome).

    Runs in the calling process (inline), a pool worker or a dask worker.
    """
    with scoped_environ(task.environment):
        settings = load_settings({**os.environ, **task.environment})
        if _job_started is not None:
            _job_started(task.portfolio_name, task.job)
        record(settings, lambda s: upsert_job(
            s, task.run_id, task.portfolio_id, task.job, status="running",
            started_at=dt.datetime.now(dt.UTC), error=None), "job start")  # fmt: skip
        params = {
            "portfolio": task.portfolio_id,  # the id: names are not unique across owners
            "as_of": task.as_of.isoformat(),
            "run_id": task.run_id,
        }
        result = execute_job(
            task.job, params, Path(task.outputs_dir) / task.as_of.isoformat() / task.slug,
            settings.notebooks_dir, task.kernel_mode,
            title=page_title(task.job, task.portfolio_name, task.as_of),
        )  # fmt: skip
        outcome = replace(result, portfolio_id=task.portfolio_id)
        record(settings, lambda s: upsert_job(
            s, task.run_id, task.portfolio_id, task.job, status=outcome.status,
            duration_seconds=outcome.duration_seconds, error=outcome.error,
            artifact_path=outcome.html or outcome.notebook), "job status")  # fmt: skip
        return outcome


_job_started: Callable[[str, str], None] | None = None
"""Called with (portfolio name, job) as each job starts, in this process: the inline
executor's progress bar names portfolio and engine (workers report when a job ends)."""


# --------------------------------------------------------------------------- scheduling


class JobGraph:
    """Which notebooks of a batch may start, and which are skipped.

    A portfolio's job starts once every job it depends on (:data:`DEPENDS_ON`, among
    that portfolio's jobs in this run) has succeeded, and is skipped — with the reason
    of the first failure it depends on, directly or not — once one of them failed or
    was skipped. The report, which reads the stored results and shows a missing engine
    as N/A, starts once every other job of its portfolio that may still write results
    has ended, whatever their status: all of them, except the ``saved`` ones. The
    market-data notebook (portfolio None) depends on nothing. So portfolios, and the
    independent jobs of one portfolio, run in parallel on a pool, in task order on one
    worker.

    Parameters
    ----------
    tasks : sequence of NotebookTask
        One per notebook, in the order they are preferred (portfolio, then job order).
    saved : collection of (portfolio id, job), optional
        Jobs whose results the layers computed and saved before any notebook (their
        notebooks render the stored run and write no results).
    """

    def __init__(
        self, tasks: Sequence[NotebookTask], saved: Collection[tuple[int, str]] = ()
    ) -> None:
        self._waiting: list[NotebookTask] = list(tasks)
        self._jobs: dict[int | None, set[str]] = {}
        for t in tasks:
            self._jobs.setdefault(t.portfolio_id, set()).add(t.job)
        self._saved = set(saved)
        self._ended: dict[tuple[int | None, str], JobOutcome] = {}

    def _needs(self, task: NotebookTask) -> list[str]:
        pid, mine = task.portfolio_id, self._jobs[task.portfolio_id]
        if task.job == REPORT_JOB:
            return sorted(j for j in mine - {REPORT_JOB} if (pid, j) not in self._saved)
        return [d for d in DEPENDS_ON.get(task.job, ()) if d in mine]

    def _blocked_by(self, task: NotebookTask) -> str | None:
        """Why ``task`` is skipped (a failed or skipped dependency), else None."""
        if task.job == REPORT_JOB:
            return None
        for dep in self._needs(task):
            ended = self._ended.get((task.portfolio_id, dep))
            if ended is None or ended.status == "succeeded":
                continue
            if ended.status == "skipped":
                return (ended.error or {}).get("reason")
            return f"skipped: {dep} failed ({(ended.error or {}).get('ename')})"
        return None

    def end(self, outcome: JobOutcome) -> None:
        """Record that ``outcome``'s job ended."""
        self._ended[outcome.portfolio_id, outcome.job] = outcome

    def take_skipped(self) -> list[tuple[NotebookTask, str]]:
        """Remove and return the waiting tasks that can no longer run, with the reason."""
        out = []
        for task in list(self._waiting):
            reason = self._blocked_by(task)
            if reason is not None:
                self._waiting.remove(task)
                out.append((task, reason))
        return out

    def take_ready(self) -> NotebookTask | None:
        """Remove and return the first waiting task whose dependencies all succeeded
        (ended, for the report), or None."""
        for task in self._waiting:
            if all((task.portfolio_id, d) in self._ended for d in self._needs(task)):
                self._waiting.remove(task)
                return task
        return None

    @property
    def waiting(self) -> int:
        return len(self._waiting)


def _warm_up_worker(environment: dict[str, str]) -> int:
    """Start this process's warm kernel ahead of its first notebook; return the pid.

    Submitted once per pool worker when the pool starts, so that the worker's
    start-up (spawn, imports, kernel start and preload) overlaps the market-data
    notebook and the layered engines in the parent. A failure is left to the first
    notebook, which starts the kernel again and reports it as that job's error.
    """
    from sigmasight_lib.batch.warm_kernel import get_warm_kernel

    with scoped_environ(environment):
        kernel = get_warm_kernel(KERNEL_NAME)
        with kernel.lock:
            if not kernel.is_alive():
                kernel.start()
    return os.getpid()


def _process_pool(workers: int, warm_environment: dict[str, str] | None = None) -> Any:
    """A spawn-context ``ProcessPoolExecutor`` of ``workers`` processes.

    With ``warm_environment`` (warm kernel mode) each worker starts its warm kernel
    at once (:func:`_warm_up_worker`), before any notebook is submitted.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")  # no inherited DB connections or kernels
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    if warm_environment is not None:
        for _ in range(workers):  # one per process: each submit spawns a worker while none is idle
            pool.submit(_warm_up_worker, warm_environment)
    return pool


def _run_tasks(
    tasks: Sequence[NotebookTask],
    executor: str,
    workers: int,
    scheduler_address: str | None,
    on_done: Callable[[JobOutcome], None],
    settle: Callable[[NotebookTask, str, dict[str, Any]], JobOutcome],
    pool: Any = None,
    saved: Collection[tuple[int, str]] = (),
) -> None:
    """Run every task on ``executor`` as :class:`JobGraph` (``saved``) releases it.

    ``on_done`` gets each job's outcome as it ends. ``settle(task, status, error)``
    records, in this process, the outcome of a task no worker ran: ``skipped`` (with the
    reason) or ``failed`` when its worker raised or died (the other tasks go on).
    ``pool``: for the ``processes`` executor, an already started :func:`_process_pool`
    to use (its owner shuts it down); default, a new one.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    with contextlib.ExitStack() as stack:
        if executor == "inline":
            submit, limit = _inline_submit, 1  # one at a time, in task order: depth first
        elif executor == "processes":
            if pool is None:
                pool = stack.enter_context(_process_pool(workers))
            submit, limit = functools.partial(pool.submit, run_notebook_task), None
        else:
            client = stack.enter_context(_dask_client(workers, scheduler_address))
            submit, limit = functools.partial(_dask_submit, client), None
        _drive(JobGraph(tasks, saved), submit, limit, on_done, settle)


def _drive(
    graph: JobGraph,
    submit: Callable[[NotebookTask], Any],
    limit: int | None,
    on_done: Callable[[JobOutcome], None],
    settle: Callable[[NotebookTask, str, dict[str, Any]], JobOutcome],
) -> None:
    """Submit what ``graph`` releases (at most ``limit`` running), until every task ended."""
    finished: queue.SimpleQueue = queue.SimpleQueue()
    running = 0
    while True:
        while skipped := graph.take_skipped():
            for task, reason in skipped:
                outcome = settle(task, "skipped", {"reason": reason})
                graph.end(outcome)
                on_done(outcome)
        while limit is None or running < limit:
            task = graph.take_ready()
            if task is None:
                break
            try:
                future = submit(task)
            except Exception as exc:  # a broken pool refuses new work: this job fails
                future = Future()
                future.set_exception(exc)
            running += 1
            future.add_done_callback(lambda f, t=task: finished.put((t, f)))
        if not running:
            if graph.waiting:  # cannot happen: every dependency is a task of the graph
                raise RuntimeError(f"{graph.waiting} batch jobs can never start")
            return
        task, future = finished.get()
        running -= 1
        try:
            outcome = future.result()
        except Exception as exc:  # the worker raised or its process died
            log.error("batch run %d: worker for %s of portfolio %s failed: %s: %s",
                      task.run_id, task.job, task.portfolio_id, type(exc).__name__, exc)  # fmt: skip
            outcome = settle(task, "failed", {"cell_index": None, "ename": type(exc).__name__,
                                              "evalue": str(exc), "notebook": None})  # fmt: skip
        graph.end(outcome)
        on_done(outcome)


def _inline_submit(task: NotebookTask) -> Future:
    """Run ``task`` here and now; its (already done) future."""
    future: Future = Future()
    try:
        future.set_result(run_notebook_task(task))
    except Exception as exc:
        future.set_exception(exc)
    return future


@contextlib.contextmanager
def _dask_client(workers: int, scheduler_address: str | None) -> Iterator[Any]:
    """A ``distributed.Client`` of ``scheduler_address``, or of a new ``LocalCluster``
    of ``workers`` single-threaded worker processes (closed after)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - optional dependency
        raise ConfigError(
            "the dask executor needs dask.distributed: pip install 'dask[distributed]'"
        ) from exc
    with contextlib.ExitStack() as stack:
        if scheduler_address:
            client = stack.enter_context(Client(scheduler_address))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                dashboard_address=None))  # fmt: skip
            client = stack.enter_context(Client(cluster))
        yield client


def _dask_submit(client: Any, task: NotebookTask) -> Any:
    return client.submit(run_notebook_task, task, pure=False,
                         key=f"{task.slug}-{task.job}-{task.run_id}")  # fmt: skip


# --------------------------------------------------------------------------- the batch


def _environment(settings: Settings) -> dict[str, str]:
    """What a worker process needs to find the same database, outputs and params."""
    return {
        "SIGMASIGHT_DATABASE_URL": settings.database_url.render_as_string(hide_password=False),
        "SIGMASIGHT_OUTPUTS_DIR": str(settings.outputs_dir),
        "SIGMASIGHT_PARAMS_DIR": str(settings.params_dir),
        "SIGMASIGHT_NOTEBOOKS_DIR": str(settings.notebooks_dir),
        "SIGMASIGHT_MARKET_DATA": settings.market_data,
    }


def run_batch(
    settings: Settings,
    *,
    portfolios: Sequence[str | int] | None = None,
    as_of: dt.date | None = None,
    jobs: Sequence[str] | None = None,
    executor: str = "inline",
    workers: int = 2,
    scheduler_address: str | None = None,
    kernel_mode: str = "warm",
    resume: int | None = None,
    render: str = "html",
) -> BatchResult:
    """Run the batch for one as-of date; see the module docstring.

    Parameters
    ----------
    portfolios : sequence of str or int, optional
        Ids, slugs or names (an ambiguous name is refused listing the
        candidates); None = every portfolio. The run records the ids, and each
        notebook receives its portfolio's id.
    jobs : sequence of str, optional
        Engine names; None = all, in dependency order.
    executor : {'inline', 'processes', 'dask'}
    kernel_mode : {'warm', 'fresh'}
        ``warm`` reuses one kernel per worker (namespace reset between
        notebooks); ``fresh`` starts a kernel per notebook.
    resume : int, optional
        Rerun only the failed and skipped jobs of that run (same as-of).
    render : {'html', 'none'}, default='html'
        ``html`` computes every engine for every portfolio through the layers first
        (as ``none``), storing each run (:mod:`sigmasight_lib.runs.stored`), then
        executes the engine notebooks, which render the stored runs (executed notebooks
        and HTML renders);
        ``none`` runs every engine for every portfolio in this process without
        notebooks, through the security and portfolio layers
        (:mod:`sigmasight_lib.batch.layered`); ``executor`` and ``kernel_mode`` are
        then unused. The market-data job and the report job run in both.

    Raises
    ------
    BatchLockedError
        When a batch for the same as-of is already running.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
    if kernel_mode not in KERNEL_MODES:
        raise ConfigError(f"kernel mode {kernel_mode!r} is not one of {', '.join(KERNEL_MODES)}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    if render not in RENDERS:
        raise ConfigError(f"render {render!r} is not one of {', '.join(RENDERS)}")
    started = time.perf_counter()
    provider = get_provider(settings)
    selected = select_jobs(jobs)
    previous: dict[tuple[int | None, str], str] = {}
    with session_scope(settings) as session:
        if resume is not None:
            old = session.get(BatchRun, resume)
            if old is None:
                raise NotFoundError(f"no batch run {resume}")
            if old.kind == "manual":
                raise ConfigError(
                    f"run {resume} is a manual `sigmasight engine` run, not a batch run; "
                    "rerun that engine instead"
                )
            as_of = old.as_of
            previous = {(j.portfolio_id, j.job_name): j.status for j in old.jobs}
            # ids since issue 12 (older runs stored names, still resolvable when unique)
            portfolios = portfolios or old.parameters.get("portfolios")
            selected = select_jobs(old.parameters.get("jobs"))
        targets = (
            [find_portfolio(session, p) for p in portfolios]
            if portfolios
            else list(session.scalars(select(Portfolio).order_by(Portfolio.id)))
        )
        if not targets:
            raise NotFoundError(
                "no portfolios to run: seed the demo (`sigmasight demo seed`) or import one"
            )
        if as_of is None:
            symbols = needed_symbols(session, provider.name)
            as_of = default_as_of(session) or resolve_sync_end(provider, symbols)
        elif resume is None:
            _check_batch_as_of(session, provider, as_of)
        target_rows = [(p.id, p.name, p.slug) for p in targets]

    with batch_lock(settings, as_of), scoped_environ(_environment(settings)), \
            contextlib.ExitStack() as stack:  # fmt: skip
        pool = None
        if render == "html" and executor == "processes":
            # started now: the workers start up (warm kernels too) while this process
            # runs the market-data notebook and the layered engines
            pool = stack.enter_context(_process_pool(
                workers, _environment(settings) if kernel_mode == "warm" else None))  # fmt: skip
        return _locked_batch(settings, provider, as_of, target_rows, selected, executor, workers,
                             scheduler_address, kernel_mode, resume, previous, started,
                             render, pool)  # fmt: skip


def _check_batch_as_of(session, provider, as_of: dt.date) -> None:  # noqa: ANN001
    """An explicit batch as-of must be a session the cache or the provider reaches.

    Raises
    ------
    AsOfDateError
        For a weekend, holiday or out-of-calendar date, or a date after both the
        newest cached price and the newest price the provider serves for any held
        underlying (series that end earlier, such as the offline treasury curve,
        make their factors N/A at that date; they do not refuse it).
    """
    require_session(as_of)
    latest = latest_cached_date(session)
    if latest is not None and as_of <= latest:
        return
    symbols = store.load_position_underlyings(session) or needed_symbols(session, provider.name)
    try:
        ends = [provider.latest_date([symbol]) for symbol in symbols]
    except MarketDataError:  # provider unreachable: the market_data job reports it
        return
    served = max((d for d in ends if d is not None), default=None)
    if served is not None and as_of > served:
        raise AsOfDateError(
            f"as-of date {as_of.isoformat()} is after the newest market data "
            f"{provider.name!r} serves ({served.isoformat()}); choose an earlier date"
        )


def _locked_batch(
    settings, provider, as_of, target_rows, selected, executor, workers,
    scheduler_address, kernel_mode, resume, previous, started, render="html", pool=None,
) -> BatchResult:  # fmt: skip
    from sigmasight_lib.batch.index import write_index

    run_started = started  # ``started`` below counts started jobs for the progress bar
    parameters = {
        "portfolios": [pid for pid, _, _ in target_rows],
        "portfolio_names": [name for _, name, _ in target_rows], "jobs": selected, "executor": executor,
        "workers": workers, "kernel_mode": kernel_mode, "as_of": as_of.isoformat(),
        "render": render,
    }  # fmt: skip
    notes: list[str] = []

    def open_run(session) -> int:  # noqa: ANN001
        if resume is not None:
            run = session.get(BatchRun, resume)
            claim_run(run)
        else:
            run = start_run(session, as_of, provider.name, parameters)
        return run.id

    run_id = record(settings, open_run, "run start")
    log.info("batch run %d for %s: %d portfolios x %d jobs (%s, %s kernels)",
             run_id, as_of, len(target_rows), len(selected), executor, kernel_mode)  # fmt: skip

    # market data: sync and the coverage check once per as-of, here, before any engine
    outcomes: list[JobOutcome] = []
    tasks: list[NotebookTask] = []
    environment = _environment(settings)
    market_ok = previous.get((None, MARKET_DATA_JOB)) == "succeeded"
    if not market_ok:
        record(settings, lambda s: upsert_job(s, run_id, None, MARKET_DATA_JOB, status="running",
                                              started_at=dt.datetime.now(dt.UTC)), "job start")  # fmt: skip
        t0 = time.perf_counter()
        try:
            with session_scope(settings) as session:
                sync_market_data(
                    session, provider, as_of=as_of, history_sessions=DEFAULT_HISTORY_SESSIONS
                )
                check_coverage(session, provider, as_of=as_of, batch_run_id=run_id)
            md = JobOutcome(None, MARKET_DATA_JOB, "succeeded", time.perf_counter() - t0)
        except Exception as exc:  # sync or check failed: this job fails, the engines are skipped
            md = JobOutcome(None, MARKET_DATA_JOB, "failed", time.perf_counter() - t0,
                            error={"cell_index": None, "ename": type(exc).__name__, "evalue": str(exc)})  # fmt: skip
        market_ok = md.status == "succeeded"
        if market_ok and render == "html":
            # the notebook shows the report just recorded; its outcome is the job's
            tasks.append(NotebookTask(run_id, None, "all portfolios", "market-data", as_of,
                                      MARKET_DATA_JOB, kernel_mode, str(settings.outputs_dir),
                                      environment))  # fmt: skip
        else:
            outcomes.append(md)

        def market_data_done(session) -> None:  # noqa: ANN001
            if not tasks:
                upsert_job(session, run_id, None, MARKET_DATA_JOB, status=md.status,
                           duration_seconds=md.duration_seconds, error=md.error)  # fmt: skip
            if market_ok:
                window = sessions_window(as_of, DEFAULT_HISTORY_SESSIONS)
                session.get(BatchRun, run_id).market_data_hash = market_data_hash(
                    session, needed_symbols(session, provider.name), window[0], as_of
                )

        record(settings, market_data_done, "job status")

    todo: dict[int, tuple[str, ...]] = {}
    for pid, name, slug in target_rows:
        jobs = tuple(j for j in selected if previous.get((pid, j)) != "succeeded")
        if not jobs:
            continue
        if not market_ok:
            record(settings, lambda s, pid=pid, jobs=jobs: [
                upsert_job(s, run_id, pid, job, status="skipped",
                           error={"reason": "skipped: market_data failed"}) for job in jobs
            ], "job status")  # fmt: skip
            outcomes += [
                JobOutcome(pid, j, "skipped", error={"reason": "skipped: market_data failed"})
                for j in jobs
            ]
            continue
        todo[pid] = jobs
        tasks += [NotebookTask(run_id, pid, name, slug, as_of, job, kernel_mode,
                               str(settings.outputs_dir), environment) for job in jobs]  # fmt: skip

    from sigmasight_lib.batch.layered import run_layered

    if render == "none":
        done_jobs = run_layered(settings, provider, as_of, run_id, todo, selected)
        outcomes += [
            JobOutcome(pid, job, status, seconds, error=error)
            for (pid, job), (status, seconds, error) in done_jobs.items()
        ]
    else:
        from sigmasight_lib.notebook import SNAPSHOT_BACKFILL_SESSIONS

        # every engine through the layers first, stored; the notebooks render what is stored
        engines = [j for j in selected if j != REPORT_JOB]
        layered: dict = {}
        if engines and todo:
            layered = run_layered(settings, provider, as_of, run_id,
                        {p: tuple(j for j in jobs if j != REPORT_JOB) for p, jobs in todo.items()},
                        engines, record_jobs=False, store_runs=list(todo),
                        snapshot_backfill=SNAPSHOT_BACKFILL_SESSIONS)  # fmt: skip
        progress = Progress(f"batch {as_of}", unit="notebook")
        total, names = len(tasks), {t.portfolio_id: t.portfolio_name for t in tasks}
        head = "market data + " if any(t.portfolio_id is None for t in tasks) else ""
        done = started = 0

        def on_start(portfolio: str, job: str) -> None:
            nonlocal started
            progress(started, max(total, 1), f"{portfolio} · {job}")
            started += 1

        def on_done(outcome: JobOutcome) -> None:
            nonlocal done, started
            outcomes.append(outcome)
            done += 1
            started = max(started, done)
            progress(done, max(total, 1),
                     f"{names.get(outcome.portfolio_id, '')} · {outcome.job} {outcome.status}"
                     if done < total else f"{head}{len(todo)} portfolios x {len(selected)} jobs")  # fmt: skip

        def settle(task: NotebookTask, status: str, error: dict[str, Any]) -> JobOutcome:
            """Record a job no worker ran to its end: skipped, or failed when its worker
            raised or died (unless the worker recorded its end before)."""

            def mark(session) -> JobOutcome:  # noqa: ANN001
                row = upsert_job(session, run_id, task.portfolio_id, task.job)
                if status == "skipped" or row.status in ("pending", "running"):
                    row.status, row.error = status, error
                return JobOutcome(task.portfolio_id, task.job, row.status, error=row.error)

            return record(settings, mark, "job status")

        global _job_started
        _job_started = on_start if executor == "inline" else None
        try:
            _run_tasks(tasks, executor, workers, scheduler_address, on_done, settle, pool,
                       saved=[key for key, (status, _, _) in layered.items() if status == "succeeded"])  # fmt: skip
        finally:
            _job_started = None

    def finish(session) -> tuple[str, Path]:  # noqa: ANN001
        jobs = list(session.scalars(select(BatchJob).where(BatchJob.batch_run_id == run_id)))
        statuses = {j.status for j in jobs}
        status = (
            "succeeded"
            if statuses <= {"succeeded"}
            else ("failed" if "succeeded" not in statuses else "partial")
        )
        run = session.get(BatchRun, run_id)
        run.status, run.finished_at = status, dt.datetime.now(dt.UTC)
        return status, write_index(session, settings.outputs_dir)

    status, index = record(settings, finish, "run status")
    return BatchResult(
        run_id,
        as_of,
        status,
        tuple(outcomes),
        index,
        time.perf_counter() - run_started,
        tuple(notes),
    )


__all__ = ["BatchResult", "JobOutcome", "run_batch", "DEPENDS_ON"]
