"""The research notebooks, the notebook API and the plots they draw.

1. Hygiene: every ``notebooks/*.ipynb`` is committed without outputs or
   execution counts, runs on the ``python3`` kernel, has exactly one cell
   tagged ``parameters`` declaring exactly ``portfolio``, ``as_of``, ``run_id``
   (what the batch passes) plus ``save = False`` in the engine notebooks, and stays thin (no ``def``, ``class`` or loops).
2. Execution: each notebook runs end to end with papermill, parameterized as
   the batch does, against a seeded SQLite database (demo portfolios and 400
   sessions of offline data to 2017-03-29, as ``demo_db`` in conftest; built
   once per module so the ten notebooks share it).
3. Plots: each ``plot_*`` returns an Axes with the expected bars / lines /
   images on small hand-built frames (Agg backend).
4. The notebook API's parameter parsing.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.config import REPO_DIR, Settings, load_settings
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.notebook import (
    SNAPSHOT_BACKFILL_SESSIONS,
    engine_name,
    parse_as_of,
    parse_portfolio,
    parse_run_id,
)

NOTEBOOKS_DIR = REPO_DIR / "notebooks"
ALL_NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
PARAMETERS = {"portfolio", "as_of", "run_id"}
TOOL_PARAMETERS = {
    "onboarding.ipynb": {"csv_path", "portfolio", "owner", "commit"},
    "whatif.ipynb": {"portfolio", "as_of", "run_id", "trades"},
    "11_validation.ipynb": {"portfolio", "start", "end", "run_id"},
}
"""Parameters of the interactive notebooks, which the batch does not run."""
NOTEBOOKS = [
    p for p in ALL_NOTEBOOKS if re.match(r"\d\d_", p.name) and p.name not in TOOL_PARAMETERS
]
"""The batch notebooks (NN_<engine>); the others are interactive tools."""
DEFAULTS = {"portfolio": "Long/Short Hedge Fund Style", "as_of": None, "run_id": None}
SAVE_DEFAULT = {"save": False}
"""The engine notebooks (01..09) also declare ``save = False``: without a run id they
compute and show, and store nothing unless asked (the batch never passes ``save``)."""
AS_OF = dt.date(2017, 3, 29)
EXPECTED_NOTEBOOKS = [
    "00_market_data.ipynb",
    "01_valuation.ipynb",
    "02_greeks.ipynb",
    "03_exposures.ipynb",
    "04_factors.ipynb",
    "05_market_risk.ipynb",
    "06_stress.ipynb",
    "07_correlations.ipynb",
    "08_risk_metrics.ipynb",
    "09_snapshot.ipynb",
    "10_report.ipynb",
]
FORBIDDEN = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.For, ast.AsyncFor, ast.While)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict[str, Any]) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _python(source: str) -> str:
    """Cell source without IPython magics and shell escapes (``%...``, ``!...``)."""
    return "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )


def _parameters_cells(nb: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]


# --------------------------------------------------------------------------- 1. hygiene


def test_interactive_notebooks_have_their_parameters():
    extra = [p for p in ALL_NOTEBOOKS if p not in NOTEBOOKS]
    assert {p.name for p in extra} <= set(TOOL_PARAMETERS)
    for path in extra:
        (cell,) = _parameters_cells(_read(path))
        names = {stmt.targets[0].id for stmt in ast.parse(_source(cell)).body}
        assert names == TOOL_PARAMETERS[path.name], path.name


def test_one_notebook_per_engine_in_batch_order():
    assert [p.name for p in NOTEBOOKS] == EXPECTED_NOTEBOOKS


def test_notebooks_match_what_the_batch_runs_and_passes():
    plan = pytest.importorskip("sigmasight_lib.batch.plan")
    assert sorted(plan.NOTEBOOKS.values()) == EXPECTED_NOTEBOOKS
    assert set(plan.NOTEBOOK_PARAMETERS) == PARAMETERS


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path):
    nb = _read(path)
    assert "papermill" not in nb["metadata"], "an executed copy was committed"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell["outputs"] == [], f"cell {i} has outputs"
        assert cell["execution_count"] is None, f"cell {i} has an execution count"
        assert "execution" not in cell["metadata"], f"cell {i} has execution metadata"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_pinned_to_the_sigmasight_kernel(path: Path):
    nb = _read(path)
    assert nb["metadata"]["kernelspec"]["name"] == "sigmasight"
    assert nb["metadata"]["kernelspec"]["language"] == "python"
    assert nb["nbformat"] == 4


def test_the_sigmasight_kernel_is_registered_in_this_environment():
    # `make install` registers it with `ipykernel install --sys-prefix`
    import sys

    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("sigmasight")
    assert spec.language == "python"
    assert Path(spec.resource_dir).is_relative_to(Path(sys.prefix))


def test_environment_yml_installs_the_lab_extra_with_pyprojects_bounds():
    import tomllib

    import yaml

    env = yaml.safe_load((REPO_DIR / "environment.yml").read_text(encoding="utf-8"))
    project = tomllib.loads((REPO_DIR / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {
        d.split(">")[0].split("<")[0].split("[")[0].strip(): d.replace(" ", "")
        for d in [*project["dependencies"], *project["optional-dependencies"]["lab"]]
    }
    conda = [d for d in env["dependencies"] if isinstance(d, str) and d not in ("pip",)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip == ["-e .[lab]"]
    for spec in conda:
        name = spec.split(">")[0].split("<")[0].split("=")[0]
        if name == "python":
            continue
        assert name in wanted, spec
        assert spec.replace(" ", "") == wanted[name], (spec, wanted[name])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exactly_one_parameters_cell_with_the_batch_parameters(path: Path):
    nb = _read(path)
    cells = _parameters_cells(nb)
    assert len(cells) == 1, f"{len(cells)} cells tagged parameters"
    tree = ast.parse(_source(cells[0]))
    values: dict[str, Any] = {}
    for stmt in tree.body:
        assert isinstance(stmt, ast.Assign), f"not an assignment: {ast.unparse(stmt)}"
        assert len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        values[stmt.targets[0].id] = ast.literal_eval(stmt.value)
    engine = path.name[:2] not in ("00", "10")
    assert values == ({**DEFAULTS, **SAVE_DEFAULT} if engine else DEFAULTS)
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert first_code is cells[0], "the parameters cell must be the first code cell"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_thin(path: Path):
    nb = _read(path)
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown" and _source(first).startswith("# ")
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse(_python(_source(cell)))):
            assert not isinstance(node, FORBIDDEN), (
                f"cell {i} has a {type(node).__name__}: move it into sigmasight_lib"
            )


# --------------------------------------------------------------------------- 2. execution


@pytest.fixture(scope="module")
def notebook_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """conftest's ``demo_db`` on SQLite only, built once for every notebook of the module."""
    from sigmasight_lib.db.session import dispose_engine, session_scope, upgrade
    from sigmasight_lib.marketdata.cache import sync_market_data
    from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
    from sigmasight_lib.portfolios.demo import seed_demo

    tmp = tmp_path_factory.mktemp("notebooks")
    settings = load_settings({
        "SIGMASIGHT_DATABASE_URL": f"sqlite:///{tmp / 'notebooks.db'}",
        "SIGMASIGHT_OUTPUTS_DIR": str(tmp / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(REPO_DIR / "params"),
        "SIGMASIGHT_MARKET_DATA": "offline",
    })  # fmt: skip
    upgrade(settings)
    with session_scope(settings) as session:
        seed_demo(session, REPO_DIR / "params")
        sync_market_data(session, OfflineSnapshotProvider(), as_of=AS_OF, history_sessions=400)
    yield settings
    dispose_engine(settings)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(
    path: Path, notebook_db: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    papermill = pytest.importorskip("papermill")
    # the kernel inherits the environment: settings reach it there, never as parameters
    monkeypatch.setenv(
        "SIGMASIGHT_DATABASE_URL", notebook_db.database_url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("SIGMASIGHT_OUTPUTS_DIR", str(notebook_db.outputs_dir))
    monkeypatch.setenv("SIGMASIGHT_PARAMS_DIR", str(notebook_db.params_dir))
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA", "offline")
    # as the batch passes them (portfolio None for the market-data notebook)
    portfolio = None if path.name.startswith("00_") else DEFAULTS["portfolio"]
    parameters = {"portfolio": portfolio, "as_of": AS_OF.isoformat(), "run_id": None}
    executed = tmp_path / path.name
    if path.name == "10_report.ipynb":  # the report reads stored results: store them first
        from sigmasight_lib.runs import ENGINE_RUNNERS

        for runner in ENGINE_RUNNERS.values():
            runner(notebook_db, portfolio, AS_OF)

    papermill.execute_notebook(
        str(path), str(executed), parameters=parameters, kernel_name="python3",
        cwd=str(NOTEBOOKS_DIR), progress_bar=False, log_output=False, execution_timeout=300,
    )  # fmt: skip

    nb = _read(executed)
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    errors = [f"{o['ename']}: {o['evalue']}" for o in outputs if o["output_type"] == "error"]
    assert errors == []
    texts = " ".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    if path.name == "10_report.ipynb":  # the report: files written, the markdown shown
        assert "2017-03-29" in texts and "report.json" in texts
        markdown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in outputs)
        assert "## Executive summary" in markdown
        return
    assert "as of 2017-03-29" in texts, "as_of did not reach the run"  # the header line
    assert any("image/png" in o.get("data", {}) for o in outputs), "no chart was drawn"
    assert any("text/html" in o.get("data", {}) for o in outputs), "no table was shown"


# --------------------------------------------------------------------------- 3. plots


def _texts(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.texts]


def _exposure_row(**values: float) -> dict[str, float]:
    base = {"gross_exposure_usd": 0.0, "long_exposure_usd": 0.0, "short_exposure_usd": 0.0,
            "net_exposure_usd": 0.0, "position_count": 1}  # fmt: skip
    return {**base, **values}


def test_plot_exposures_totals_draws_four_bars(plots):
    portfolio = pd.DataFrame([_exposure_row(
        gross_exposure_usd=1000.0, long_exposure_usd=700.0,
        short_exposure_usd=-300.0, net_exposure_usd=400.0,
    )])  # fmt: skip
    ax = plots.plot_exposures(portfolio)
    assert [p.get_height() for p in ax.patches] == [1000.0, 700.0, -300.0, 400.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Gross", "Long", "Short", "Net"]


def test_plot_exposures_by_group_draws_long_and_short_bars_and_net_markers(plots):
    sector = pd.DataFrame(
        [_exposure_row(long_exposure_usd=500.0, short_exposure_usd=-100.0, net_exposure_usd=400.0),
         _exposure_row(long_exposure_usd=0.0, short_exposure_usd=-200.0, net_exposure_usd=-200.0),
         _exposure_row(long_exposure_usd=50.0, short_exposure_usd=0.0, net_exposure_usd=50.0)],
        index=pd.Index(["Energy", "Financials", "Utilities"], name="sector"),
    )  # fmt: skip
    ax = plots.plot_exposures(sector)
    assert ax.get_title() == "Exposure by sector"
    assert len(ax.patches) == 6
    assert sorted(p.get_width() for p in ax.patches) == [-200.0, -100.0, 0.0, 0.0, 50.0, 500.0]
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Energy", "Financials", "Utilities"]


def test_plot_exposures_on_a_given_axes_and_empty_and_bad_input(plots):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert plots.plot_exposures(pd.DataFrame([_exposure_row()]), ax=ax) is ax
    empty = pd.DataFrame(columns=list(_exposure_row())).iloc[:0]
    assert "no data" in _texts(plots.plot_exposures(empty))
    with pytest.raises(ValueError, match="long_exposure_usd"):
        plots.plot_exposures(pd.DataFrame({"gross_exposure_usd": [1.0]}))


def test_plot_factor_betas_leaves_na_factors_without_a_bar(plots):
    portfolio = pd.DataFrame(
        {"beta_to_gross": [0.9, np.nan, -0.2, 0.1], "reason": [None, "no proxy", None, None]},
        index=pd.Index(["Market", "Growth", "Value", "Size"], name="factor"),
    )
    ax = plots.plot_factor_betas(portfolio)
    assert len(ax.patches) == 3
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.9, -0.2, 0.1])
    assert [p.get_x() + p.get_width() / 2 for p in ax.patches] == pytest.approx([0, 2, 3])
    assert "N/A" in _texts(ax)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Market", "Growth", "Value", "Size"]
    series = plots.plot_factor_betas(pd.Series({"Market": 1.1, "Momentum": 0.3}))
    assert len(series.patches) == 2


def test_plot_correlation_heatmap_draws_one_image_on_a_fixed_scale(plots):
    labels = ["AAPL", "MSFT", "XOM"]
    corr = pd.DataFrame([[1.0, 0.5, np.nan], [0.5, 1.0, -0.2], [np.nan, -0.2, 1.0]],
                        index=labels, columns=labels)  # fmt: skip
    ax = plots.plot_correlation_heatmap(corr)
    assert len(ax.images) == 1
    image = ax.images[0]
    assert image.get_array().shape == (3, 3)
    assert image.get_clim() == (-1.0, 1.0)
    assert len(ax.texts) == 7  # annotated, NaN cells blank
    assert [t.get_text() for t in ax.get_yticklabels()] == labels
    assert len(ax.figure.axes) == 2  # the colour bar
    assert len(plots.plot_correlation_heatmap(corr, annotate=False).texts) == 0


def test_plot_stress_pnl_draws_two_bars_per_scenario_and_marks_partial(plots):
    scenarios = pd.DataFrame(
        {"name": ["Market Down 10%", "Gold Rally", "Rates Up"],
         "direct_pnl_usd": [-100.0, 0.0, 20.0], "correlated_pnl_usd": [-150.0, 5.0, 35.0],
         "partial": [False, True, False]},
        index=pd.Index(["market_down_10", "gold_rally", "rates_up"], name="key"),
    )  # fmt: skip
    ax = plots.plot_stress_pnl(scenarios)
    assert len(ax.patches) == 6
    assert sum(1 for p in ax.patches if p.get_hatch()) == 2
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Market Down 10%", "Gold Rally *", "Rates Up"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["direct", "correlated"] and legend[2].startswith("* partial")


def test_plot_snapshot_history_draws_value_and_cumulative_pnl(plots):
    history = pd.DataFrame({
        "as_of": [dt.date(2017, 3, d) for d in (27, 28, 29)],
        "net_liquidation_value_usd": [100.0, 110.0, 105.0], "cumulative_pnl_usd": [0.0, 10.0, 5.0],
    })  # fmt: skip
    ax = plots.plot_snapshot_history(history)
    assert len(ax.get_lines()) == 1 and len(ax.right_ax.get_lines()) == 1
    assert list(ax.get_lines()[0].get_ydata()) == [100.0, 110.0, 105.0]
    assert list(ax.right_ax.get_lines()[0].get_ydata()) == [0.0, 10.0, 5.0]


def test_plot_pnl_backtest_draws_two_lines(plots):
    dates = pd.DatetimeIndex(["2017-03-27", "2017-03-28", "2017-03-29"], name="date")
    backtest = pd.DataFrame({"predicted_pnl_usd": [1.0, -2.0, 3.0],
                             "actual_pnl_usd": [2.0, -1.0, 2.5]}, index=dates)  # fmt: skip
    ax = plots.plot_pnl_backtest(backtest)
    labelled = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in labelled] == ["actual", "predicted"]
    assert list(labelled[1].get_ydata()) == [1.0, -2.0, 3.0]


def test_plot_var_histogram_draws_var_lines_at_minus_the_loss(plots):
    returns = pd.DataFrame({"return": np.linspace(-0.03, 0.03, 61), "pnl_usd": 0.0})
    ax = plots.plot_var_histogram(returns, {"var_95": 0.02, "var_99": 0.025}, bins=12)
    assert len(ax.patches) == 12
    assert [line.get_xdata()[0] for line in ax.get_lines()] == [-0.02, -0.025]
    metrics = pd.DataFrame({"metric": ["var_95", "var_99", "sharpe"],
                            "value": [0.01, np.nan, 1.0], "unit": "fraction"})  # fmt: skip
    assert len(plots.plot_var_histogram(returns["return"], metrics).get_lines()) == 1
    assert len(plots.plot_var_histogram(returns).get_lines()) == 0


def test_plot_position_values_marks_missing_values(plots):
    positions = pd.DataFrame({"symbol": ["AAPL", "XOM", "KO", "AMD"],
                              "exposure_usd": [100.0, -50.0, np.nan, 25.0]})  # fmt: skip
    ax = plots.plot_position_values(positions, "exposure_usd")
    assert [p.get_width() for p in ax.patches] == [100.0, -50.0, 25.0]
    assert "n/a" in _texts(ax)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["AAPL", "XOM", "KO", "AMD"]


def test_plot_greeks_leaves_out_zero_greeks(plots):
    greeks = pd.DataFrame({"symbol": ["AAPL", "AAPL170721P00032000", "AMD170421C00015000"],
                           "delta": [100.0, -30.0, 12.0], "vega": [0.0, 290.0, -60.0]})  # fmt: skip
    assert len(plots.plot_greeks(greeks, "delta").patches) == 3
    ax = plots.plot_greeks(greeks, "vega")
    assert [p.get_width() for p in ax.patches] == [290.0, -60.0]
    assert "vol point" in ax.get_xlabel()
    with pytest.raises(ValueError, match="'charm'"):
        plots.plot_greeks(greeks, "charm")


def test_plot_coverage_draws_a_bar_per_symbol_and_the_thresholds(plots):
    coverage = pd.DataFrame({"status": ["ok", "warning", "insufficient"],
                             "observations": [252, 180, 10]},
                            index=pd.Index(["AAPL", "MTUM", "NEW"], name="symbol"))  # fmt: skip
    ax = plots.plot_coverage(coverage)
    assert [p.get_width() for p in ax.patches] == [252, 180, 10]
    assert sorted(line.get_xdata()[0] for line in ax.get_lines()) == [60, 150, 252]


# --------------------------------------------------------------------------- 4. notebook API


def test_parse_as_of():
    assert parse_as_of(None) is None and parse_as_of(" ") is None
    assert parse_as_of("2017-03-29") == AS_OF
    assert parse_as_of(AS_OF) == AS_OF
    assert parse_as_of(dt.datetime(2017, 3, 29, 16, 0)) == AS_OF
    with pytest.raises(ConfigError, match="'29/03/2017'"):
        parse_as_of("29/03/2017")


def test_parse_run_id_and_portfolio():
    assert parse_run_id(None) is None and parse_run_id(7) == 7 and parse_run_id("7") == 7
    for bad in (True, "seven", 1.5):
        with pytest.raises(ConfigError, match="run_id"):
            parse_run_id(bad)
    assert parse_portfolio(" Long/Short Hedge Fund Style ") == "Long/Short Hedge Fund Style"
    assert parse_portfolio(3) == 3
    for bad in (None, "", True):
        with pytest.raises(ConfigError, match="portfolio"):
            parse_portfolio(bad)


def test_engine_names_accept_the_cli_spelling():
    assert engine_name("market-risk") == "market_risk"
    assert engine_name("Risk_Metrics") == "risk_metrics"
    with pytest.raises(ConfigError, match="'valuations'.*valuation"):
        engine_name("valuations")
    assert SNAPSHOT_BACKFILL_SESSIONS == 90
