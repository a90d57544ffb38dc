"""The warm-kernel papermill engine: isolation between notebooks, papermill features,
failure and dead-kernel recovery. No timing is asserted (see
``tests/benchmarks/bench_notebooks.py`` for warm vs fresh figures)."""

from __future__ import annotations

import json
import os
import signal
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from nbclient.exceptions import CellTimeoutError
from papermill.engines import papermill_engines

from sigmasight_lib.batch.warm_kernel import (
    NOTEBOOK_METADATA_KEY,
    WARM_ENGINE_NAME,
    WarmKernelEngine,
    get_warm_kernel,
    register_warm_engine,
    shutdown_warm_kernels,
)

KERNEL = "python3"


@pytest.fixture(scope="module", autouse=True)
def warm_engine():
    register_warm_engine()
    yield
    shutdown_warm_kernels(now=True)


def make_notebook(path: Path, *cells: str, parameters: str | None = None) -> Path:
    """Write a notebook of ``cells`` (dedented) with an optional ``parameters`` cell first."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": KERNEL, "display_name": "Python 3", "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(textwrap.dedent(parameters).strip())
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.extend(nbformat.v4.new_code_cell(textwrap.dedent(c).strip()) for c in cells)
    nbformat.write(nb, path)
    return path


def run(source: Path, output: Path, engine: str | None = WARM_ENGINE_NAME, **kwargs):
    kwargs.setdefault("kernel_name", KERNEL)
    return pm.execute_notebook(
        str(source), str(output), engine_name=engine, progress_bar=False, **kwargs
    )


def reported(nb, marker: str = "REPORT ") -> dict:
    """The JSON a cell printed after ``marker`` (one report per notebook)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                for line in out.text.splitlines():
                    if line.startswith(marker):
                        return json.loads(line[len(marker) :])
    raise AssertionError(f"no {marker!r} line in the notebook outputs")


def report_cell(expr: str) -> str:
    return f'import json as _j\nprint("REPORT " + _j.dumps({expr}))'


# --------------------------------------------------------------------------- isolation


def test_no_state_leaks_between_notebooks(tmp_path: Path, monkeypatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "helper_mod.py").write_text("VALUE = 1\n")
    monkeypatch.setenv("SIGMASIGHT_PROBE", "kept-by-caller")
    a = make_notebook(
        tmp_path / "a.ipynb",
        """
        import os, sys, warnings, logging
        import matplotlib
        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import helper_mod

        backend = matplotlib.get_backend()
        matplotlib.use("Agg")  # no inline flush: the figure survives the cell
        x = 1
        fig = plt.figure()
        fig.add_subplot().plot([1, 2, 3])
        os.makedirs("elsewhere", exist_ok=True)
        os.chdir("elsewhere")
        os.environ["LEAK"] = "1"
        os.environ["SIGMASIGHT_PROBE"] = "changed-by-notebook"
        sys.path.insert(0, "/nonexistent-leak")
        warnings.simplefilter("error")
        logging.basicConfig(level=logging.DEBUG)
        plt.style.use("ggplot")
        matplotlib.rcParams["lines.linewidth"] = 7.5
        pd.set_option("display.max_rows", 3)
        np.seterr(all="raise")
        np.random.seed(0)
        """,
        # A later cell of the same notebook: the figure survives cell boundaries,
        # so an empty figure list in B is the reset's doing.
        report_cell(
            "{'pid': os.getpid(), 'figs': plt.get_fignums(), 'cwd': os.getcwd(), 'backend': backend,"
            " 'helper': helper_mod.VALUE, 'draw': float(np.random.random_sample())}"
        ),
    )
    b = make_notebook(
        tmp_path / "b.ipynb",
        """
        import os, sys, warnings, logging
        import matplotlib
        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        import helper_mod

        assert "x" not in globals()
        assert "fig" not in globals()
        assert plt.get_fignums() == [], plt.get_fignums()
        assert os.getcwd() == expected_cwd, os.getcwd()
        assert "LEAK" not in os.environ
        assert os.environ["SIGMASIGHT_PROBE"] == "kept-by-caller"
        assert "/nonexistent-leak" not in sys.path
        assert not any(f[0] == "error" and f[2] is Warning for f in warnings.filters)
        assert logging.getLogger().handlers == []
        assert matplotlib.rcParams["lines.linewidth"] != 7.5
        assert matplotlib.rcParams["axes.facecolor"] == "white"
        assert pd.get_option("display.max_rows") == 60
        assert np.geterr()["divide"] == "warn"
        assert helper_mod.VALUE == 22, "a notebook-local module must be re-imported"
        """,
        report_cell(
            "{'pid': os.getpid(), 'draw': float(np.random.random_sample()),"
            " 'backend': matplotlib.get_backend()}"
        ),
        "plt.plot([1, 2, 3]);",
        parameters='expected_cwd = ""',
    )
    out_a = run(a, tmp_path / "a_out.ipynb", cwd=str(work))
    (work / "helper_mod.py").write_text("VALUE = 22\n")  # new size: no stale .pyc
    out_b = run(
        b,
        tmp_path / "b_out.ipynb",
        cwd=str(work),
        parameters={"expected_cwd": os.path.realpath(work)},
    )
    ra, rb = reported(out_a), reported(out_b)
    assert ra["figs"] == [1]
    assert rb["backend"] == ra["backend"] != "agg"
    pngs = [o for o in out_b.cells[-1].outputs if "image/png" in o.get("data", {})]
    assert len(pngs) == 1, "charts are still rendered into the notebook"
    assert ra["cwd"] == os.path.realpath(work / "elsewhere")
    assert ra["helper"] == 1
    # The same kernel ran both notebooks.
    assert ra["pid"] == rb["pid"] == get_warm_kernel(KERNEL).pid
    meta_a, meta_b = out_a.metadata[NOTEBOOK_METADATA_KEY], out_b.metadata[NOTEBOOK_METADATA_KEY]
    assert meta_a["pid"] == meta_b["pid"] == ra["pid"]
    assert meta_b["sequence"] == meta_a["sequence"] + 1
    # np.random.seed(0) in A does not make B's draw reproducible (reseeded).
    assert rb["draw"] != ra["draw"]
    # The caller's process is untouched by the notebooks.
    assert "LEAK" not in os.environ
    assert os.environ["SIGMASIGHT_PROBE"] == "kept-by-caller"


def test_environment_follows_the_caller_between_notebooks(tmp_path: Path, monkeypatch) -> None:
    nb = make_notebook(
        tmp_path / "env.ipynb",
        report_cell(
            "{'probe': os.environ.get('SIGMASIGHT_PROBE'), 'gone': os.environ.get('SIGMASIGHT_GONE'),"
            " 'pid': os.getpid(), 'jpy': 'JPY_PARENT_PID' in os.environ}"
        ),
        parameters="import os",
    )
    monkeypatch.setenv("SIGMASIGHT_PROBE", "first")
    monkeypatch.setenv("SIGMASIGHT_GONE", "present")
    first = reported(run(nb, tmp_path / "env1.ipynb"))
    monkeypatch.setenv("SIGMASIGHT_PROBE", "second")
    monkeypatch.delenv("SIGMASIGHT_GONE")
    second = reported(run(nb, tmp_path / "env2.ipynb"))
    assert first["pid"] == second["pid"]
    assert (first["probe"], first["gone"]) == ("first", "present")
    assert (second["probe"], second["gone"]) == ("second", None)
    assert second["jpy"]  # variables the kernel launch set are kept


def test_warm_kernel_has_the_library_preloaded_fresh_kernel_does_not(tmp_path: Path) -> None:
    """Why warm mode is faster (timed in tests/benchmarks/bench_notebooks.py, not here)."""
    nb = make_notebook(
        tmp_path / "mods.ipynb",
        report_cell(
            "{m: m in __import__('sys').modules for m in "
            "('sigmasight_lib', 'pandas', 'numpy', 'matplotlib.pyplot')}"
        ),
        "import pandas, matplotlib.pyplot as plt, sigmasight_lib",
    )
    warm = reported(run(nb, tmp_path / "warm.ipynb"))
    fresh = reported(run(nb, tmp_path / "fresh.ipynb", engine=None))
    assert all(warm.values()), warm
    assert not any(fresh.values()), fresh


# --------------------------------------------------------------------------- papermill features


def test_parameters_are_injected(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "params.ipynb",
        report_cell("{'portfolio': portfolio, 'as_of': as_of, 'run_id': run_id}"),
        parameters="""
        portfolio = "default"
        as_of = None
        run_id = 0
        """,
    )
    out1 = run(nb, tmp_path / "p1.ipynb", parameters={"portfolio": "Balanced", "run_id": 7})
    out2 = run(nb, tmp_path / "p2.ipynb", parameters={"as_of": "2017-03-29"})
    assert reported(out1) == {"portfolio": "Balanced", "as_of": None, "run_id": 7}
    assert reported(out2) == {"portfolio": "default", "as_of": "2017-03-29", "run_id": 0}
    tags = [c.metadata.get("tags", []) for c in out1.cells]
    assert tags[0] == ["parameters"] and tags[1] == ["injected-parameters"]
    written = nbformat.read(tmp_path / "p1.ipynb", as_version=4)
    assert reported(written)["portfolio"] == "Balanced"


def test_failing_cell_raises_with_location_and_writes_output(tmp_path: Path) -> None:
    nb = make_notebook(
        tmp_path / "fail.ipynb",
        'import os\nprint("REPORT " + str(os.getpid()))\na_global = 1',
        "raise ValueError('boom')",
        "print('never reached')",
    )
    out_path = tmp_path / "fail_out.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as warm:
        run(nb, out_path)
    assert (warm.value.cell_index, warm.value.ename, warm.value.evalue) == (1, "ValueError", "boom")
    written = nbformat.read(out_path, as_version=4)
    assert written.metadata.papermill["exception"] is True
    errors = [o for c in written.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert [(e.ename, e.evalue) for e in errors] == [("ValueError", "boom")]
    assert not any("never reached" in json.dumps(c.get("outputs", [])) for c in written.cells)
    failed_pid = reported(written)

    # Same error as papermill's default engine.
    with pytest.raises(pm.PapermillExecutionError) as fresh:
        run(nb, tmp_path / "fail_fresh.ipynb", engine=None)
    assert (fresh.value.cell_index, fresh.value.ename, fresh.value.evalue) == (
        warm.value.cell_index,
        warm.value.ename,
        warm.value.evalue,
    )

    # The next notebook runs in the same warm kernel, without the failed notebook's state.
    after = make_notebook(
        tmp_path / "after.ipynb",
        report_cell("{'pid': __import__('os').getpid(), 'leak': 'a_global' in globals()}"),
    )
    result = reported(run(after, tmp_path / "after_out.ipynb"))
    assert result == {"pid": failed_pid, "leak": False}


def test_output_notebook_written_at_start_and_end_not_per_cell(tmp_path: Path, monkeypatch) -> None:
    import papermill.engines

    writes: list[int] = []
    real_write = papermill.engines.write_ipynb

    def counting_write(nb, path):  # noqa: ANN001, ANN202
        writes.append(sum(len(c.get("outputs", [])) for c in nb.cells))
        return real_write(nb, path)

    monkeypatch.setattr(papermill.engines, "write_ipynb", counting_write)
    nb = make_notebook(tmp_path / "cells.ipynb", "print(1)", "print(2)", "print(3)", "print(4)")
    out_path = tmp_path / "cells_out.ipynb"
    run(nb, out_path)
    # the engine's start and end (papermill's own final write is in papermill.execute)
    assert writes == [0, 4]
    written = nbformat.read(out_path, as_version=4)
    assert [c.outputs[0].text for c in written.cells] == ["1\n", "2\n", "3\n", "4\n"]
    assert {c.metadata.papermill["status"] for c in written.cells} == {"completed"}


def test_execution_timeout_then_next_notebook_gets_a_new_kernel(tmp_path: Path) -> None:
    kernel = get_warm_kernel(KERNEL)
    nb = make_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(60)")
    out_path = tmp_path / "slow_out.ipynb"
    run(make_notebook(tmp_path / "warmup.ipynb", "1"), tmp_path / "warmup_out.ipynb")
    starts = kernel.starts
    with pytest.raises(CellTimeoutError):
        run(nb, out_path, execution_timeout=1)
    assert out_path.exists()  # written even though execution was cut short
    # The timed-out kernel was still busy: it was discarded, the next notebook starts one.
    ok = make_notebook(tmp_path / "ok.ipynb", report_cell("{'ok': True}"))
    assert reported(run(ok, tmp_path / "ok_out.ipynb")) == {"ok": True}
    assert kernel.starts == starts + 1


# --------------------------------------------------------------------------- kernel health


def _wait_dead(pid: int) -> None:
    for _ in range(200):
        if not get_warm_kernel(KERNEL).is_alive():
            return
        time.sleep(0.05)
    raise AssertionError(f"kernel {pid} still alive after SIGKILL")


def test_dead_kernel_is_restarted_transparently(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "pid.ipynb", report_cell("{'pid': __import__('os').getpid()}"))
    first = reported(run(nb, tmp_path / "pid1.ipynb"))["pid"]
    kernel = get_warm_kernel(KERNEL)
    starts = kernel.starts
    os.kill(first, signal.SIGKILL)
    _wait_dead(first)
    second = reported(run(nb, tmp_path / "pid2.ipynb"))["pid"]
    assert second != first
    assert kernel.starts == starts + 1
    third = reported(run(nb, tmp_path / "pid3.ipynb"))["pid"]
    assert third == second  # and it is warm again


def test_kernel_dying_during_a_notebook_fails_it_and_the_next_one_runs(tmp_path: Path) -> None:
    dies = make_notebook(
        tmp_path / "dies.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    with pytest.raises(Exception) as excinfo:
        run(dies, tmp_path / "dies_out.ipynb")
    assert "died" in str(excinfo.value).lower() or "dead" in type(excinfo.value).__name__.lower()
    assert (tmp_path / "dies_out.ipynb").exists()
    nb = make_notebook(tmp_path / "ok.ipynb", report_cell("{'ok': True}"))
    assert reported(run(nb, tmp_path / "ok_out.ipynb")) == {"ok": True}


def test_notebook_from_another_thread_uses_the_same_kernel(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "pid.ipynb", report_cell("{'pid': __import__('os').getpid()}"))
    main = reported(run(nb, tmp_path / "main.ipynb"))["pid"]
    result: dict = {}

    def worker() -> None:
        try:
            result["pid"] = reported(run(nb, tmp_path / "thread.ipynb"))["pid"]
        except BaseException as exc:  # surfaced below
            result["error"] = exc

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert "error" not in result, result.get("error")
    assert result["pid"] == main
    assert reported(run(nb, tmp_path / "main2.ipynb"))["pid"] == main


# --------------------------------------------------------------------------- API


def test_register_is_idempotent_and_fresh_mode_stays_available() -> None:
    assert register_warm_engine() == WARM_ENGINE_NAME
    assert register_warm_engine() == WARM_ENGINE_NAME
    assert papermill_engines.get_engine(WARM_ENGINE_NAME) is WarmKernelEngine
    assert papermill_engines.get_engine("nbclient") is not WarmKernelEngine
    assert papermill_engines.get_engine(None) is not WarmKernelEngine


def test_shutdown_stops_the_kernel_and_the_next_notebook_starts_one(tmp_path: Path) -> None:
    nb = make_notebook(tmp_path / "pid.ipynb", report_cell("{'pid': __import__('os').getpid()}"))
    pid = reported(run(nb, tmp_path / "before.ipynb"))["pid"]
    assert shutdown_warm_kernels() == 1
    assert shutdown_warm_kernels() == 0
    with pytest.raises(ProcessLookupError):
        for _ in range(200):  # reaped by the manager; gone at the latest shortly after
            os.kill(pid, 0)
            time.sleep(0.05)
    assert reported(run(nb, tmp_path / "after.ipynb"))["pid"] != pid
