"""Warm-kernel papermill engine: one live IPython kernel per worker process.

papermill's default engine (``nbclient``) starts a new kernel for every
notebook, which costs about 0.6 s for an empty notebook and about 1.4 s once
pandas and matplotlib are imported, before the notebook does any work. The
``sigmasight-warm`` engine (:class:`WarmKernelEngine`) instead keeps one
kernel per ``(kernel_name, process)`` alive with :data:`PRELOAD_MODULES`
already imported, and resets it before every notebook so that nothing a
notebook does leaks into the next notebook or portfolio::

    import papermill as pm
    from sigmasight_lib.batch.warm_kernel import WARM_ENGINE_NAME, register_warm_engine

    register_warm_engine()
    pm.execute_notebook("in.ipynb", "out.ipynb", parameters={...},
                        engine_name=WARM_ENGINE_NAME, progress_bar=False)

Fresh-kernel mode stays available: pass no ``engine_name`` (papermill's
default ``nbclient`` engine).

Everything papermill offers works as with the default engine, because the
notebook is executed by papermill's own ``PapermillNotebookClient``, only
handed the pooled kernel instead of starting one: parameter injection, the
output notebook written at the start, at the end and on failure,
``PapermillExecutionError`` (``cell_index``, ``ename``, ``evalue``) for a
failing cell, ``execution_timeout``, ``progress_bar=False``, ``log_output``,
``stdout_file``/``stderr_file``, ``cwd``. One difference: papermill's default
engine also rewrites the output notebook before and after every cell; the warm
engine writes it during execution only when papermill's time-based autosave is
due (``autosave_cell_every``, 30 s), which saves ~30 writes of the whole
notebook, charts included, per notebook.

The pool
--------
One kernel manager and client per ``(kernel_name, os.getpid())``, started
lazily by the first notebook (``start_timeout`` applies), shut down at
interpreter exit (``atexit``, and a ``multiprocessing`` finalizer for pool
workers, which skip ``atexit``) or by :func:`shutdown_warm_kernels`. A forked or
spawned worker gets its own kernel (the pid is part of the key; a child never
touches its parent's kernel). Threads of one process share the kernel one
notebook at a time (a lock); use processes for parallel notebooks.

Before each notebook the kernel is health-checked: a dead kernel (killed, OOM,
a notebook that called ``exit()``) or one that does not answer the reset
within :data:`RESET_TIMEOUT_SECONDS` is replaced by a new one, transparently.
If a notebook ends abnormally — cell timeout, kernel death, interrupt, any
error other than a failing cell — the kernel may still be busy or in an
unknown state, so it is shut down at once and the next notebook starts a new
one. A failing cell (``PapermillExecutionError``) leaves the kernel idle and
healthy: it is kept.

The reset (before every notebook, in the kernel)
------------------------------------------------
Reset — as in a fresh kernel:

* user namespace: ``get_ipython().reset(new_session=True)`` (what ``%reset -f``
  does, plus a new history session): every user global, ``In``/``Out``/``_``
  caches, the execution counter back to 1 (so ``execute_result`` counts match
  fresh mode);
* matplotlib: ``plt.close('all')``, the backend (a notebook's
  ``matplotlib.use("Agg")`` is undone) and ``rcParams`` (styles, ``rc(...)``)
  back to the state after preload;
* working directory: ``os.chdir`` to the engine's current directory at the
  time of the notebook (papermill's ``cwd=`` argument, else the caller's cwd —
  where a fresh kernel would start);
* ``os.environ``: made equal to what a kernel started *now* would see: the
  calling process's ``os.environ`` at the time of the notebook (so
  ``SIGMASIGHT_*`` and any other variable set, changed or removed by the caller
  between runs is re-applied), except the variables the kernel launch itself
  set or overrode (``JPY_PARENT_PID``, ``MPLBACKEND``, ``PAGER``, ``CLICOLOR``,
  kernelspec ``env``...), which keep their launch values. Variables a notebook
  set, changed or deleted are undone; ``time.tzset()`` is called afterwards;
* ``sys.path`` (restored in place to the post-preload list), ``sys.stdout`` /
  ``sys.stderr``;
* ``sys.modules``: modules a notebook imported from *outside* the installed
  environment (not under ``sys.prefix``/``sys.base_prefix``/site-packages, not
  part of ``sigmasight_lib``) — notebook-local helpers, ``sys.path`` hacks —
  are dropped so the next notebook re-imports its own copy;
* ``warnings`` filters and ``showwarning`` (the "once"/"default" registries are
  invalidated too, so a warning shown in one notebook shows again in the next); the root logger's handlers and
  level and ``logging.disable``; numpy ``seterr`` and print options; pandas
  options (``pd.reset_option('all')``);
* random state: ``random`` and numpy's global ``np.random`` are reseeded from
  OS entropy, as in a new process (a seed set by one notebook does not carry
  over);
* IPython event callbacks and the set of loaded extensions (``%load_ext
  autoreload`` in one notebook does not affect the next);
* ``gc.collect()`` (part of IPython's reset) so the previous notebook's data is
  freed; the preloaded modules were ``gc.freeze()``-d after preload so this
  full collection stays cheap.

Kept — this is the point of being warm:

* ``sys.modules`` entries from the installed environment: the preloaded
  ``sigmasight_lib``/numpy/pandas/matplotlib and anything else a notebook
  imported from site-packages or ``sigmasight_lib`` stays imported, with its
  module-level state (``functools.cache`` results such as the SQLAlchemy
  engine per database URL or the parsed offline snapshot per directory —
  both keyed by their inputs, so a different ``SIGMASIGHT_*`` setting gets its
  own entry);
* monkeypatches a notebook applies to such modules, loggers other than root,
  ``%config`` changes, threads or subprocesses a notebook started: not undone
  (notebooks must not do these);
* the matplotlib backend choice: made once at kernel start exactly as a fresh
  kernel makes it (ipykernel's inline backend, which renders with Agg and
  needs no display, unless ``MPLBACKEND`` is set), so executed notebooks
  contain the same PNG charts as in fresh mode; changing ``MPLBACKEND`` in
  the caller between notebooks has no effect on a warm kernel. The preload
  draws one throwaway figure to load that backend (and fonts); so the one
  visible difference to a fresh kernel is that ``matplotlib.is_interactive()``
  is already True in the first cell (a fresh kernel turns it on at its first
  figure).
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import inspect
import json
import logging
import multiprocessing.util
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_core.utils import run_sync
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from papermill.exceptions import PapermillException
from papermill.log import logger as papermill_logger
from papermill.utils import merge_kwargs, remove_args

log = logging.getLogger(__name__)

WARM_ENGINE_NAME = "sigmasight-warm"
"""The name :func:`register_warm_engine` registers with papermill."""

PRELOAD_MODULES: tuple[str, ...] = (
    "numpy",
    "pandas",
    "matplotlib",
    "matplotlib.pyplot",
    "sigmasight_lib",
    "sigmasight_lib.runs",
    "sigmasight_lib.notebook",
    "sigmasight_lib.reporting.display",
    "sigmasight_lib.reporting.writers",
    "empyrical",
)
"""Imported once per kernel. A module that fails to import is logged and skipped
(the notebook then gets the same ImportError as in fresh mode). ``empyrical`` (~0.9 s
to import) is imported lazily by the report's performance section: preloaded, the
first report of each kernel does not pay it."""

RESET_TIMEOUT_SECONDS = 30.0
"""A kernel that does not finish the reset within this time is replaced."""

NOTEBOOK_METADATA_KEY = "sigmasight_warm_kernel"
"""Output notebooks record ``{"pid", "sequence", "kernel_starts"}`` here."""

_RUNTIME_MODULE = "_sigmasight_warm_runtime"
_HISTORY_IN_MEMORY = "--HistoryManager.hist_file=:memory:"  # as nbclient does


class WarmKernelError(PapermillException):
    """The warm kernel could not be started, preloaded or reset."""


# --------------------------------------------------------------------------- kernel side


class _KernelRuntime:
    """Runs INSIDE the kernel: its source is sent there once per kernel start.

    Self-contained (imports inside methods) because only this class's source
    travels; nothing of this module is imported in the kernel.
    """

    def __init__(self, preload: list[str], launch_env: dict[str, str]) -> None:
        import gc
        import importlib
        import sys

        self.pid = os.getpid()
        self.preload_errors: dict[str, str] = {}
        for name in preload:
            try:
                importlib.import_module(name)
            except Exception as exc:  # the notebook will hit it again, visibly
                self.preload_errors[name] = f"{type(exc).__name__}: {exc}"
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            # matplotlib loads its backend lazily, at the first figure; with ipykernel's
            # inline backend that is also when it hooks into IPython (post_execute
            # flush, interactive mode). Do it now, so the baseline below includes it,
            # and so fonts and the Agg renderer are warm too.
            try:
                fig = plt.figure()
                fig.canvas.draw()
                plt.close(fig)
            except Exception as exc:
                self.preload_errors["first matplotlib figure"] = f"{type(exc).__name__}: {exc}"
        kernel_env = dict(os.environ)
        # Variables the launch (jupyter_client, kernelspec, ipykernel) set, changed
        # or removed relative to the launching process: they keep their kernel value.
        self.kernel_owned = {
            k: kernel_env.get(k)
            for k in set(kernel_env) | set(launch_env)
            if kernel_env.get(k) != launch_env.get(k)
        }
        self._snapshot()
        # Everything alive now (the preloaded modules) is long-lived: move it out of
        # the collector's reach so the full collection in each reset only scans
        # what notebooks created (~75 ms -> a few ms with sigmasight_lib.runs loaded).
        gc.collect()
        gc.freeze()
        self.last = json.dumps({"pid": self.pid, "preload_errors": self.preload_errors})

    def _snapshot(self) -> None:
        import contextlib
        import logging
        import site
        import sys
        import sysconfig
        import warnings

        self.sys_path = list(sys.path)
        self.modules = set(sys.modules)
        self.streams = (sys.stdout, sys.stderr)
        self.warning_filters = list(warnings.filters)
        self.showwarning = warnings.showwarning
        root = logging.getLogger()
        self.root_handlers = list(root.handlers)
        self.root_level = root.level
        self.logging_disable = logging.root.manager.disable
        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
        paths = sysconfig.get_paths()
        roots.update(paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths)
        with contextlib.suppress(Exception):
            roots.add(site.getusersitepackages())
        lib = sys.modules.get("sigmasight_lib")
        if lib is not None and getattr(lib, "__file__", None):
            roots.add(os.path.dirname(lib.__file__))
        self.keep_roots = tuple(os.path.join(os.path.realpath(r), "") for r in roots if r)
        mpl = sys.modules.get("matplotlib")
        self.rc = None
        self.backend = None
        if "matplotlib.pyplot" in sys.modules:
            self.backend = mpl.get_backend()
        if mpl is not None:
            rc = dict(mpl.rcParams.copy())
            rc.pop("backend", None)
            self.rc = rc
        np = sys.modules.get("numpy")
        if np is not None:
            self.np_err = np.geterr()
            self.np_print = np.get_printoptions()
        ip = self._shell()
        self.events = {name: list(cbs) for name, cbs in ip.events.callbacks.items()}
        self.extensions = set(ip.extension_manager.loaded)

    @staticmethod
    def _shell() -> Any:
        from IPython import get_ipython

        return get_ipython()

    def reset(self, cwd: str, caller_env: dict[str, str]) -> None:
        import logging
        import random
        import sys
        import time
        import warnings

        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            plt.close("all")
            if self.backend is not None and plt.get_backend() != self.backend:
                plt.switch_backend(self.backend)  # e.g. after matplotlib.use("Agg")
        ip = self._shell()
        ip.reset(new_session=True)  # also runs gc.collect() (DisplayHook.flush)

        for name in set(sys.modules) - self.modules:
            module = sys.modules.get(name)
            path = getattr(module, "__file__", None)
            if isinstance(path, str) and not os.path.realpath(path).startswith(self.keep_roots):
                del sys.modules[name]
        sys.path[:] = self.sys_path
        sys.stdout, sys.stderr = self.streams

        os.chdir(cwd)
        target = {k: v for k, v in caller_env.items() if k not in self.kernel_owned}
        target.update({k: v for k, v in self.kernel_owned.items() if v is not None})
        for key in [k for k in os.environ if k not in target]:
            del os.environ[key]
        for key, value in target.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        if hasattr(time, "tzset"):
            time.tzset()

        mpl = sys.modules.get("matplotlib")
        if mpl is not None and self.rc is not None:
            mpl.rcParams._update_raw(self.rc)
        warnings.filters[:] = self.warning_filters
        warnings._filters_mutated()
        warnings.showwarning = self.showwarning
        root = logging.getLogger()
        root.handlers[:] = self.root_handlers
        root.setLevel(self.root_level)
        logging.disable(self.logging_disable)
        np = sys.modules.get("numpy")
        if np is not None:
            np.seterr(**self.np_err)
            np.set_printoptions(**self.np_print)
            np.random.seed()
        random.seed()
        pd = sys.modules.get("pandas")
        if pd is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pd.reset_option("all")

        for name, callbacks in self.events.items():
            ip.events.callbacks[name][:] = callbacks
        ip.extension_manager.loaded.clear()
        ip.extension_manager.loaded.update(self.extensions)
        self.last = json.dumps({"pid": self.pid, "cwd": os.getcwd()})


def _bootstrap_code(preload: tuple[str, ...], launch_env: Mapping[str, str]) -> str:
    """Code that installs :class:`_KernelRuntime` as module ``_sigmasight_warm_runtime``."""
    source = "import json\nimport os\nfrom typing import Any\n\n" + inspect.getsource(
        _KernelRuntime
    )
    return (
        "def __sigmasight_warm_bootstrap():\n"
        "    import sys, types\n"
        f"    mod = types.ModuleType({_RUNTIME_MODULE!r})\n"
        f"    exec(compile({source!r}, '<sigmasight-warm-runtime>', 'exec'), mod.__dict__)\n"
        f"    sys.modules[{_RUNTIME_MODULE!r}] = mod\n"
        f"    mod.runtime = mod._KernelRuntime({list(preload)!r}, "
        f"json_loads({json.dumps(dict(launch_env))!r}))\n"
        "json_loads = __import__('json').loads\n"
        "__sigmasight_warm_bootstrap()\n"
        "del __sigmasight_warm_bootstrap, json_loads\n"
    )


def _reset_code(cwd: str, environ: Mapping[str, str]) -> str:
    # One expression, no name bound in the user namespace.
    return (
        f"__import__('sys').modules[{_RUNTIME_MODULE!r}].runtime.reset("
        f"{cwd!r}, __import__('json').loads({json.dumps(dict(environ))!r}))"
    )


_RESULT_EXPRESSION = f"__import__('sys').modules[{_RUNTIME_MODULE!r}].runtime.last"


# --------------------------------------------------------------------------- the pool


def transport_encryption() -> str:
    """CurveZMQ when available ('auto': if the kernelspec declares it): the reset sends
    the caller's environment, which may hold credentials, to the kernel."""
    import zmq

    return "auto" if zmq.has("curve") else "disabled"


async def _await_reply(kernel: WarmKernel, msg_id: str, timeout: float) -> dict[str, Any]:
    """The shell reply to ``msg_id``; WarmKernelError if the kernel dies or times out."""
    from queue import Empty

    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WarmKernelError(f"warm kernel did not answer within {timeout:g} s")
        try:
            msg = await kernel.kc.get_shell_msg(timeout=min(remaining, 1.0))
        except Empty:
            if not await kernel.km.is_alive():
                raise WarmKernelError("warm kernel died") from None
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg


async def _graceful_shutdown(km: Any) -> None:
    """``km.shutdown_kernel()`` without its SIGINT first: the pooled kernel is idle here
    (its lock is held), and the interrupt only makes ipykernel log a KeyboardInterrupt."""
    await km.request_shutdown()
    await km.finish_shutdown()  # waits up to shutdown_wait_time, then kills
    await km.cleanup_resources()


@dataclass
class _KernelInfo:
    pid: int | None = None
    started_at: float | None = None


class WarmKernel:
    """One pooled kernel: manager, client, preload done, reset before each notebook.

    Obtain it with :func:`get_warm_kernel`; the engine does the rest. Attributes
    for monitoring: ``pid`` (kernel process id, ``None`` when not running),
    ``starts`` (kernels started so far for this slot), ``notebooks_run``
    (notebooks run in the current kernel).
    """

    def __init__(self, kernel_name: str, owner_pid: int) -> None:
        self.kernel_name = kernel_name
        self.owner_pid = owner_pid
        self.lock = threading.RLock()
        self.km: Any = None
        self.kc: Any = None
        self._kc_thread: int | None = None
        self._info = _KernelInfo()
        self.starts = 0
        self.notebooks_run = 0

    def __repr__(self) -> str:
        return (
            f"WarmKernel({self.kernel_name!r}, pid={self.pid}, starts={self.starts}, "
            f"notebooks_run={self.notebooks_run})"
        )

    @property
    def pid(self) -> int | None:
        return self._info.pid if self.km is not None else None

    # -- lifecycle ---------------------------------------------------------------

    def is_alive(self) -> bool:
        """Whether the kernel process is running (no round trip to the kernel)."""
        if self.km is None:
            return False
        try:
            return bool(run_sync(self.km.is_alive)())
        except Exception:
            return False

    def start(self, startup_timeout: float = 60.0) -> None:
        """Start a kernel, connect a client and run the preload (any previous one is shut down)."""
        from jupyter_client import AsyncKernelManager

        self.shutdown(now=True)
        launch_env = dict(os.environ)
        km = AsyncKernelManager(kernel_name=self.kernel_name)
        spec = km.kernel_spec
        if spec is None or spec.language.lower() != "python":
            raise WarmKernelError(
                f"the warm engine needs an IPython kernel; {self.kernel_name!r} is "
                f"{getattr(spec, 'language', 'unknown')}"
            )
        try:
            run_sync(km.start_kernel)(
                extra_arguments=[_HISTORY_IN_MEMORY],
                env=launch_env,
                cwd=os.getcwd(),
                transport_encryption=transport_encryption(),
            )
        except Exception as exc:
            raise WarmKernelError(f"could not start kernel {self.kernel_name!r}: {exc}") from exc
        self.km = km
        self.starts += 1
        self.notebooks_run = 0
        try:
            self._connect(startup_timeout)
            result = self._run(_bootstrap_code(PRELOAD_MODULES, launch_env), startup_timeout)
        except BaseException:
            self.shutdown(now=True)
            raise
        self._info = _KernelInfo(pid=result["pid"], started_at=time.time())
        for name, error in result["preload_errors"].items():
            log.warning("warm kernel: preloading %s failed: %s", name, error)
        log.info("warm kernel %s started (pid %s)", self.kernel_name, self.pid)

    def _connect(self, timeout: float) -> None:
        if self.kc is not None:
            with contextlib.suppress(Exception):
                self.kc.stop_channels()
        kc = self.km.client()
        kc.start_channels()
        self.kc = kc
        self._kc_thread = threading.get_ident()
        run_sync(kc.wait_for_ready)(timeout=timeout)
        kc.allow_stdin = False

    def shutdown(self, now: bool = False) -> None:
        """Stop the client and the kernel (``now``: kill instead of a shutdown request)."""
        km, kc = self.km, self.kc
        self.km = self.kc = None
        self._kc_thread = None
        self._info = _KernelInfo()
        if kc is not None:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        if km is not None:
            try:
                if run_sync(km.is_alive)():
                    if now:
                        run_sync(km.shutdown_kernel)(now=True)  # also cleans up resources
                    else:
                        run_sync(_graceful_shutdown)(km)
                    return
            except Exception as exc:  # best effort; still remove files below
                log.debug("warm kernel shutdown: %s", exc)
            with contextlib.suppress(Exception):  # dead kernel: connection file, sockets
                run_sync(km.cleanup_resources)()

    # -- per notebook ------------------------------------------------------------

    def _run(self, code: str, timeout: float, attempts: int = 20) -> dict[str, Any]:
        """Execute ``code`` silently; return the runtime's ``last`` result (JSON)."""
        for _ in range(attempts):
            msg_id = self.kc.execute(
                code,
                silent=True,
                store_history=False,
                allow_stdin=False,
                stop_on_error=False,
                user_expressions={"r": _RESULT_EXPRESSION},
            )
            reply = run_sync(_await_reply)(self, msg_id, timeout)["content"]
            if reply["status"] == "aborted":  # still aborting after a failed cell
                time.sleep(0.05)
                continue
            if reply["status"] != "ok":
                raise WarmKernelError(
                    f"warm kernel setup failed: {reply.get('ename')}: {reply.get('evalue')}"
                )
            expr = reply["user_expressions"]["r"]
            if expr.get("status") != "ok":
                raise WarmKernelError(f"warm kernel setup failed: {expr.get('evalue')}")
            return json.loads(ast.literal_eval(expr["data"]["text/plain"]))
        raise WarmKernelError("warm kernel kept aborting the reset request")

    def prepare(
        self,
        cwd: str | None = None,
        environ: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        """Make the kernel ready for the next notebook: start or restart it, then reset.

        ``cwd`` and ``environ`` default to the calling process's current ones.
        """
        cwd = os.getcwd() if cwd is None else cwd
        environ = os.environ if environ is None else environ
        if not self.is_alive():
            if self.km is not None:
                log.warning(
                    "warm kernel %s (pid %s) is dead; restarting", self.kernel_name, self.pid
                )
            self.start(startup_timeout)
        elif self._kc_thread != threading.get_ident():
            self._connect(startup_timeout)  # zmq sockets follow the calling thread's event loop
        try:
            self._run(_reset_code(cwd, environ), RESET_TIMEOUT_SECONDS)
        except WarmKernelError as exc:
            log.warning("warm kernel %s failed the reset (%s); restarting", self.kernel_name, exc)
            self.start(startup_timeout)
            self._run(_reset_code(cwd, environ), RESET_TIMEOUT_SECONDS)


_POOL: dict[tuple[str, int], WarmKernel] = {}
_POOL_LOCK = threading.Lock()
_ATEXIT_REGISTERED = False


def get_warm_kernel(kernel_name: str = "python3") -> WarmKernel:
    """The pooled kernel slot for ``(kernel_name, this process)``; the kernel starts lazily."""
    global _ATEXIT_REGISTERED
    key = (kernel_name, os.getpid())
    with _POOL_LOCK:
        kernel = _POOL.get(key)
        if kernel is None:
            kernel = _POOL[key] = WarmKernel(kernel_name, key[1])
        if not _ATEXIT_REGISTERED:
            atexit.register(shutdown_warm_kernels)
            # multiprocessing workers leave through os._exit (no atexit) but run
            # these finalizers first. (A kernel whose parent vanished without
            # either exits by itself: ipykernel polls its parent pid.)
            multiprocessing.util.Finalize(None, shutdown_warm_kernels, exitpriority=10)
            _ATEXIT_REGISTERED = True
    return kernel


def shutdown_warm_kernels(now: bool = False) -> int:
    """Shut down this process's warm kernels; return how many were running.

    Kernels belonging to another process (a fork's parent) are left alone.
    Called at interpreter exit; safe to call any time (the next notebook in
    warm mode starts a new kernel).
    """
    pid = os.getpid()
    with _POOL_LOCK:
        mine = [k for key, k in _POOL.items() if key[1] == pid]
        for key in [key for key in _POOL if key[1] == pid]:
            del _POOL[key]
    running = 0
    for kernel in mine:
        with kernel.lock:
            if kernel.km is not None:
                running += 1
            kernel.shutdown(now=now)
    return running


# --------------------------------------------------------------------------- the engine


def _save_when_due(nb_man: Any) -> Any:
    """A ``save`` for ``nb_man`` that writes only when papermill's autosave is due.

    papermill writes the whole output notebook (charts included) before and after
    every cell, ~30 writes per notebook; during execution the warm engine keeps
    only the time-based autosave (every ``autosave_cell_every`` seconds, for long
    cells). papermill writes the notebook at its start and, success or failure,
    at its end (``notebook_complete``), so the file on disk is the same.
    """
    real_save = type(nb_man).save.__get__(nb_man)

    def save(**kwargs: Any) -> None:
        every = nb_man.autosave_cell_every
        if every and (nb_man.now() - nb_man.last_save_time).total_seconds() >= every:
            real_save(**kwargs)

    return save


class WarmKernelEngine(NBClientEngine):
    """papermill engine executing notebooks in the process's warm kernel (see module doc)."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: float = 60,
        execution_timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        # Same argument handling as papermill's NBClientEngine.
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=papermill_logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
        )
        kernel = get_warm_kernel(kernel_name or "python3")
        with kernel.lock:
            kernel.prepare(startup_timeout=start_timeout)
            client = PapermillNotebookClient(nb_man, km=kernel.km, **final_kwargs)
            client.kc = kernel.kc  # reuse the connected client: no new channels per notebook
            kernel.notebooks_run += 1
            nb_man.nb.metadata[NOTEBOOK_METADATA_KEY] = {
                "pid": kernel.pid,
                "sequence": kernel.notebooks_run,
                "kernel_starts": kernel.starts,
            }
            clean = False
            nb_man.save = _save_when_due(nb_man)  # no write per cell; the class's save after
            try:
                # A failing cell is caught inside (papermill marks it, execute_notebook
                # raises PapermillExecutionError afterwards): the kernel is idle and kept.
                result = client.execute()
                clean = True
            finally:
                del nb_man.save  # papermill's notebook_complete writes the notebook, always
                if not clean:  # timeout, dead kernel, interrupt...: state unknown
                    log.warning(
                        "warm kernel %s (pid %s): notebook ended abnormally; discarding kernel",
                        kernel.kernel_name,
                        kernel.pid,
                    )
                    kernel.shutdown(now=True)
            return result


def register_warm_engine(name: str = WARM_ENGINE_NAME) -> str:
    """Register :class:`WarmKernelEngine` with papermill under ``name`` (idempotent)."""
    papermill_engines.register(name, WarmKernelEngine)
    return name


def execute_notebook_warm(
    input_path: Any,
    output_path: Any,
    parameters: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """``papermill.execute_notebook`` in the warm kernel (progress bar off by default)."""
    import papermill

    register_warm_engine()
    kwargs.setdefault("progress_bar", False)
    return papermill.execute_notebook(
        input_path, output_path, parameters=parameters, engine_name=WARM_ENGINE_NAME, **kwargs
    )


__all__ = [
    "NOTEBOOK_METADATA_KEY",
    "PRELOAD_MODULES",
    "WARM_ENGINE_NAME",
    "WarmKernel",
    "WarmKernelEngine",
    "WarmKernelError",
    "execute_notebook_warm",
    "get_warm_kernel",
    "register_warm_engine",
    "shutdown_warm_kernels",
]
