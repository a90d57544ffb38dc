"""Benchmark: per-notebook cost with a fresh kernel (papermill default) vs the warm kernel.

Run with ``python tests/benchmarks/bench_notebooks.py``. The notebook is small
and typical of ours: a ``parameters`` cell, then ``import sigmasight_lib`` +
pandas + numpy + matplotlib, a 250-row DataFrame, one line chart (rendered
inline to PNG, as in the batch) and a table. Each mode runs it through
``papermill.execute_notebook`` (progress bar off, output written), one warm-up
run, then the median of 5:

* fresh: papermill's default ``nbclient`` engine, a new kernel per notebook;
* warm: the ``sigmasight-warm`` engine (kernel started by the warm-up run,
  namespace reset before every run — the reset is inside the timing).

Goal: warm at least 3x faster than fresh. Exits non-zero when missed. (The
full-batch figures are in ``bench_batch.py``.)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import nbformat
import papermill as pm

try:
    from ._harness import environment, info_row, measure, report, speedup_row
except ImportError:  # run as a script: the benchmarks folder is sys.path[0]
    from _harness import environment, info_row, measure, report, speedup_row

from sigmasight_lib.batch.warm_kernel import (
    WARM_ENGINE_NAME,
    register_warm_engine,
    shutdown_warm_kernels,
)

REPEATS = 5
GOAL_SPEEDUP = 3.0

CELLS = [
    "import numpy as np\n"
    "import pandas as pd\n"
    "import matplotlib.pyplot as plt\n"
    "import sigmasight_lib",
    "rng = np.random.default_rng(run_id)\n"
    "prices = pd.DataFrame(\n"
    "    100 * np.exp(np.cumsum(rng.normal(0, 0.01, (250, 3)), axis=0)),\n"
    "    index=pd.bdate_range(as_of, periods=250), columns=['A', 'B', 'C'],\n"
    ")",
    "ax = prices.plot(title=portfolio, figsize=(6, 3))\nplt.show()",
    "prices.pct_change().describe().round(4)",
]


def build_notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell('portfolio = "demo"\nas_of = "2016-03-31"\nrun_id = 0')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(src) for src in CELLS)]
    nbformat.write(nb, path)
    return path


def main() -> int:
    print(environment())
    register_warm_engine()
    with tempfile.TemporaryDirectory(prefix="sigmasight-bench-nb-") as tmp:
        folder = Path(tmp)
        source = build_notebook(folder / "small.ipynb")

        def run(engine: str | None):
            def once():
                nb = pm.execute_notebook(
                    str(source),
                    str(folder / f"out-{engine or 'fresh'}.ipynb"),
                    parameters={"portfolio": "Balanced Individual Investor", "run_id": 1},
                    engine_name=engine,
                    kernel_name="python3",
                    progress_bar=False,
                    cwd=str(folder),
                )
                pngs = [
                    o
                    for c in nb.cells
                    for o in c.get("outputs", [])
                    if "image/png" in o.get("data", {})
                ]
                assert len(pngs) == 1, "the chart must be rendered in both modes"
                return nb

            return once

        try:
            fresh = measure(run(None), repeats=REPEATS, warmup=1)
            warm = measure(run(WARM_ENGINE_NAME), repeats=REPEATS, warmup=1)
        finally:
            shutdown_warm_kernels()

    rows = [
        info_row("fresh kernel, per notebook (median of 5)", fresh.median, "s"),
        info_row("warm kernel, per notebook (median of 5)", warm.median, "s"),
        info_row("fresh - warm, saved per notebook", fresh.median - warm.median, "s"),
        speedup_row(
            "notebooks per second, warm vs fresh",
            1.0 / warm.median,
            1.0 / fresh.median,
            GOAL_SPEEDUP,
            unit="/s",
        ),
    ]
    return 0 if report(rows, title="notebook execution: fresh vs warm kernel") else 1


if __name__ == "__main__":
    sys.exit(main())
