"""Charts of engine result tables: every function is ``plot_x(data, ax=None, **kwargs) -> Axes``.

Each takes one table of an :class:`~sigmasight_lib.runs.EngineRun` (``run.tables[...]``)
as the engine returns it, draws on ``ax`` (a new figure when None) and returns
the Axes. Extra keyword arguments go to the main matplotlib call (``bar``,
``barh``, ``imshow``, ``hist``, ``plot``), so colours and widths can be changed
without new arguments. Nothing is computed here beyond what drawing needs, and
nothing is printed or displayed; the backend is left to the caller (notebooks:
``%matplotlib inline``; tests: ``MPLBACKEND=Agg``). matplotlib is imported
only when a function is called.

Input tables
------------
============================== =========================== ===================================
function                       table                       columns used
============================== =========================== ===================================
:func:`plot_exposures`         exposures ``portfolio``     ``gross_exposure_usd``,
                               (one row) or a breakdown    ``long_exposure_usd``,
                               (``sector``, ``underlying``, ``short_exposure_usd`` (negative),
                               ``tag``, ``type``)          ``net_exposure_usd``
:func:`plot_factor_betas`      factors ``portfolio``       ``beta_to_gross`` (NaN = N/A)
:func:`plot_correlation_heatmap` correlations              square frame, labels = assets
                               ``correlation``, stress
                               ``factor_correlation``
:func:`plot_stress_pnl`        stress ``scenarios``        ``direct_pnl_usd``,
                                                           ``correlated_pnl_usd``, ``partial``,
                                                           ``name``
:func:`plot_snapshot_history`  snapshot ``history``        ``as_of``,
                                                           ``net_liquidation_value_usd``,
                                                           ``cumulative_pnl_usd``
:func:`plot_var_histogram`     risk metrics ``returns``    ``return``; VaR from ``metrics`` or
                               (+ ``metrics`` or summary)  ``summary`` (``var_95``, ``var_99``)
:func:`plot_cumulative_returns` performance ``history``  ``cumulative_return``,
                                                           ``benchmark_cumulative_return``
:func:`plot_drawdown`          performance ``history``     ``drawdown``
:func:`plot_monthly_returns`   performance ``monthly``     years × months 1-12
:func:`plot_rolling_volatility` performance ``history``    ``rolling_volatility``,
                                                           ``benchmark_rolling_volatility``
:func:`plot_rolling_sharpe`    performance ``history``     ``rolling_sharpe``
:func:`plot_rolling_beta`      performance ``history``     ``rolling_beta``
:func:`plot_pnl_backtest`      market risk ``backtest``    ``predicted_pnl_usd``,
                                                           ``actual_pnl_usd``, by date
:func:`plot_position_values`   any ``positions`` table     one numeric column, ``symbol``
:func:`plot_greeks`            greeks ``positions``        ``delta`` ... ``rho``, ``symbol``
:func:`plot_coverage`          coverage ``symbols``        ``observations``, ``status``
:func:`plot_var_backtest`      validation ``daily``        ``pnl_usd``, ``var_95_usd``,
                                                           ``var_99_usd``, ``exception_95``,
                                                           ``exception_99``, ``realized_date``
:func:`plot_replays`           validation replay table     ``realized_pnl_usd``,
                                                           ``predicted_pnl_usd``,
                                                           ``stress_correlated_pnl_usd``, ``name``
============================== =========================== ===================================

Example: the exposures ``portfolio`` table (one row, default index)::

       gross_exposure_usd  long_exposure_usd  short_exposure_usd  net_exposure_usd  ...
    0        6.384232e+06       3.890843e+06       -2.493388e+06      1.397455e+06  ...

and its ``sector`` breakdown (one row per group, the group as the index)::

                            long_exposure_usd  short_exposure_usd  net_exposure_usd  ...
    Consumer Staples            187770.0          -649876.5         -462106.5  ...
    Energy                      301580.0          -555441.1         -253861.1  ...
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sigmasight_lib.marketdata.cache import COVERAGE_ACCEPTED, COVERAGE_FLOOR, COVERAGE_WANTED

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.ticker import Formatter

POSITIVE_COLOR = "tab:green"
NEGATIVE_COLOR = "tab:red"
NET_COLOR = "tab:blue"
GROSS_COLOR = "tab:gray"
MISSING_LABEL = "n/a"

GREEK_UNITS: dict[str, str] = {
    "delta": "share equivalents",
    "gamma": "delta change per $1 of the underlying",
    "theta": "USD per calendar day",
    "vega": "USD per vol point",
    "rho": "USD per rate point",
}
"""Units of the position Greeks (contract Greek × quantity × multiplier, mibian's units)."""

COVERAGE_COLORS: dict[str, str] = {
    "ok": "tab:green",
    "warning": "tab:olive",
    "minimal": "tab:orange",
    "insufficient": "tab:red",
}


# --------------------------------------------------------------------------- helpers


def _pyplot() -> Any:
    """``matplotlib.pyplot``, imported on first use (with the install hint when missing)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "sigmasight_lib.reporting.plots needs matplotlib: pip install matplotlib"
        ) from exc
    return plt


def _axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    _, new = _pyplot().subplots(figsize=figsize)
    return new


def _require(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} needs column(s) {missing}; got {list(map(str, frame.columns))}")


def _usd_formatter() -> Formatter:
    """Tick labels in USD with k / M / B suffixes (``$1.2M``, ``-$350k``)."""
    from matplotlib.ticker import FuncFormatter

    def fmt(value: float, _pos: int | None = None) -> str:
        if not np.isfinite(value):
            return ""
        sign, v = ("-" if value < 0 else ""), abs(value)
        for cut, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if v >= cut:
                return f"{sign}${v / cut:.3g}{suffix}"
        return f"{sign}${v:.3g}"

    return FuncFormatter(fmt)


def _percent_formatter(decimals: int = 1) -> Formatter:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1.0, decimals=decimals)


def _no_data(ax: Axes, title: str) -> Axes:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _labels(frame: pd.DataFrame, label: str | None) -> list[str]:
    if label is not None and label in frame.columns:
        return [str(v) for v in frame[label]]
    return [str(v) for v in frame.index]


def _legend_above(
    ax: Axes, handles: list | None = None, labels: list | None = None, ncols: int = 3
) -> None:
    """The legend above the plot area in rows of ``ncols`` (never over the data), the title
    above it."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ax.legend(handles, labels, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=ncols,
              fontsize=8, frameon=False, borderaxespad=0.2)  # fmt: skip
    rows = math.ceil(len(handles) / ncols)
    ax.set_title(ax.get_title(), pad=8 + 12 * rows)


def _date_axis(ax: Axes) -> None:
    """Compact date tick labels (no rotation, no overlap)."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _bar_height(rows: int) -> float:
    """Figure height (inches) for ``rows`` horizontal bars."""
    return max(3.0, 0.32 * rows + 1.2)


# --------------------------------------------------------------------------- exposures


def plot_exposures(
    exposures: pd.DataFrame, ax: Axes | None = None, by: str | None = None, **kwargs: Any
) -> Axes:
    """Gross / long / short / net exposure bars, or long and short bars per group.

    Parameters
    ----------
    exposures : DataFrame
        The exposures run's ``portfolio`` table (one row, default RangeIndex):
        four vertical bars, gross, long, short (negative), net. Or one of its
        breakdowns — ``sector``, ``underlying``, ``tag``, ``type``: one row per
        group, the group as the index — drawn as a horizontal long bar
        (right of 0) and short bar (left of 0) per group, in the table's
        order, with the net exposure as a diamond marker. Columns used:
        ``gross_exposure_usd`` (totals only), ``long_exposure_usd``,
        ``short_exposure_usd``, ``net_exposure_usd`` (USD).
    ax : matplotlib Axes, optional
        Drawn on a new figure when None.
    by : str, optional
        What the groups are, for the title ("Exposure by sector"); default
        the index name, else "group".
    **kwargs
        Passed to ``ax.bar`` (totals) or ``ax.barh`` (groups).

    Returns
    -------
    matplotlib Axes
        Totals: 4 bars. Groups: 2 bars per group (NaN values draw nothing).
        An empty table gives an Axes saying "no data".
    """
    columns = ["long_exposure_usd", "short_exposure_usd", "net_exposure_usd"]
    totals = isinstance(exposures.index, pd.RangeIndex)
    _require(exposures, (["gross_exposure_usd"] if totals else []) + columns, "plot_exposures")
    if totals:
        ax = _axes(ax, (6.0, 3.5))
        if exposures.empty:
            return _no_data(ax, "Exposure")
        row = exposures.iloc[0]
        names = ["Gross", "Long", "Short", "Net"]
        values = [float(row[f"{n.lower()}_exposure_usd"]) for n in names]
        colors = [GROSS_COLOR, POSITIVE_COLOR, NEGATIVE_COLOR, NET_COLOR]
        bars = ax.bar(names, values, color=kwargs.pop("color", colors), **kwargs)
        ax.bar_label(bars, labels=[_usd_formatter()(v) for v in values], padding=2, fontsize=8)
        ax.margins(y=0.2)  # room for the value labels inside the frame
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.yaxis.set_major_formatter(_usd_formatter())
        ax.set_ylabel("exposure (USD)")
        ax.set_title("Portfolio exposure")
        return ax

    ax = _axes(ax, (7.0, _bar_height(len(exposures))))
    if exposures.empty:
        return _no_data(ax, "Exposure by group")
    labels = [str(i) for i in exposures.index]
    y = np.arange(len(labels))
    long_kwargs = {"color": POSITIVE_COLOR, "label": "long", **kwargs}
    short_kwargs = {"color": NEGATIVE_COLOR, "label": "short", **kwargs}
    ax.barh(y, exposures["long_exposure_usd"].to_numpy(dtype=float), **long_kwargs)
    ax.barh(y, exposures["short_exposure_usd"].to_numpy(dtype=float), **short_kwargs)
    ax.scatter(
        exposures["net_exposure_usd"].to_numpy(dtype=float),
        y,
        marker="D",
        color=NET_COLOR,
        zorder=3,
        label="net",
    )
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_usd_formatter())
    ax.set_xlabel("exposure (USD)")
    ax.set_title(f"Exposure by {by or exposures.index.name or 'group'}")
    _legend_above(ax)
    return ax


# --------------------------------------------------------------------------- factors


def plot_factor_betas(
    factor_betas: pd.DataFrame | pd.Series, ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """Portfolio beta to gross delta-adjusted exposure per factor; factors without
    data are shown as N/A, not as zero.

    Parameters
    ----------
    factor_betas : DataFrame or Series
        The factors run's ``portfolio`` table (indexed by factor, column
        ``beta_to_gross``; NaN for N/A factors such as Growth offline), or a
        Series of betas by factor (e.g. ``pd.Series(run.summary["betas_to_gross"])``).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.bar``.

    Returns
    -------
    matplotlib Axes
        One bar per factor with a finite beta, at that factor's position;
        every factor has a tick label, and an N/A factor gets the text
        ``N/A`` at 0 instead of a bar.
    """
    if isinstance(factor_betas, pd.DataFrame):
        _require(factor_betas, ["beta_to_gross"], "plot_factor_betas")
        betas = factor_betas["beta_to_gross"]
    else:
        betas = factor_betas
    betas = pd.to_numeric(betas, errors="coerce").astype(float)
    ax = _axes(ax, (max(5.0, 0.9 * len(betas) + 1.5), 3.5))
    if betas.empty:
        return _no_data(ax, "Portfolio factor betas")
    x = np.arange(len(betas))
    ok = np.isfinite(betas.to_numpy())
    values = betas.to_numpy()[ok]
    colors = np.where(values >= 0, POSITIVE_COLOR, NEGATIVE_COLOR)
    bars = ax.bar(x[ok], values, color=kwargs.pop("color", list(colors)), **kwargs)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], padding=2, fontsize=8)
    ax.margins(y=0.2)  # room for the value labels inside the frame
    for xi in x[~ok]:
        ax.text(xi, 0.0, "N/A", ha="center", va="bottom", fontsize=8, color="dimgray")
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xticks(x, [str(i) for i in betas.index], rotation=30, ha="right")
    ax.set_xlim(-0.6, len(betas) - 0.4)
    ax.set_ylabel("beta to gross exposure")
    ax.set_title("Portfolio factor betas")
    return ax


# --------------------------------------------------------------------------- correlations


def plot_correlation_heatmap(
    correlation: pd.DataFrame,
    ax: Axes | None = None,
    annotate: bool | None = None,
    **kwargs: Any,
) -> Axes:
    """Heatmap of a correlation matrix on a fixed [-1, 1] diverging scale.

    Parameters
    ----------
    correlation : DataFrame of shape (n, n)
        The correlations run's ``correlation`` table or the stress run's
        ``factor_correlation`` table; row and column labels name the assets
        or factors. NaN cells (pairs without enough overlap) are left blank.
    ax : matplotlib Axes, optional
    annotate : bool, optional
        Write each value in its cell; default when n <= 12.
    **kwargs
        Passed to ``ax.imshow`` (``cmap`` default ``RdBu_r``).

    Returns
    -------
    matplotlib Axes
        One image (``ax.images[0]``) with a colour bar beside it.
    """
    n = len(correlation)
    ax = _axes(ax, (max(4.5, 0.35 * n + 2.5), max(4.0, 0.35 * n + 2.0)))
    if correlation.empty:
        return _no_data(ax, "Correlation")
    values = np.ma.masked_invalid(correlation.to_numpy(dtype=float))
    image = ax.imshow(values, cmap=kwargs.pop("cmap", "RdBu_r"), vmin=-1.0, vmax=1.0, **kwargs)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="correlation")
    ax.set_xticks(
        np.arange(correlation.shape[1]),
        [str(c) for c in correlation.columns],
        rotation=90,
        fontsize=8,
    )
    ax.set_yticks(np.arange(n), [str(i) for i in correlation.index], fontsize=8)
    if annotate if annotate is not None else n <= 12:
        for (i, j), v in np.ndenumerate(correlation.to_numpy(dtype=float)):
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{v:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if abs(v) > 0.6 else "black",
                )
    ax.set_title("Correlation")
    return ax


# --------------------------------------------------------------------------- stress


def plot_stress_pnl(scenarios: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Direct and correlated P&L per stress scenario, as horizontal bars.

    Parameters
    ----------
    scenarios : DataFrame
        The stress run's ``scenarios`` table, one row per scenario (index =
        scenario key): ``direct_pnl_usd``, ``correlated_pnl_usd`` (USD),
        optional ``partial`` (bool: some shocks hit factors without data) and
        ``name`` (label; the index otherwise). Drawn in the table's order,
        first on top.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to both ``ax.barh`` calls.

    Returns
    -------
    matplotlib Axes
        Two bars per scenario (direct, correlated). Partial scenarios are
        hatched and their label ends with ``*``.
    """
    _require(scenarios, ["direct_pnl_usd", "correlated_pnl_usd"], "plot_stress_pnl")
    ax = _axes(ax, (8.0, _bar_height(2 * len(scenarios)) * 0.7))
    if scenarios.empty:
        return _no_data(ax, "Stress scenarios")
    partial = (
        scenarios["partial"].fillna(False).astype(bool).to_numpy()
        if "partial" in scenarios
        else np.zeros(len(scenarios), dtype=bool)
    )
    labels = [
        f"{label} *" if p else label
        for label, p in zip(_labels(scenarios, "name"), partial, strict=True)
    ]
    y = np.arange(len(scenarios))
    height = kwargs.pop("height", 0.4)
    hatch = ["//" if p else None for p in partial]
    direct = ax.barh(
        y - height / 2,
        scenarios["direct_pnl_usd"].to_numpy(dtype=float),
        height=height,
        **{"color": "tab:blue", "label": "direct", **kwargs},
    )
    correlated = ax.barh(
        y + height / 2,
        scenarios["correlated_pnl_usd"].to_numpy(dtype=float),
        height=height,
        **{"color": "tab:orange", "label": "correlated", **kwargs},
    )
    for bars in (direct, correlated):
        for bar, h in zip(bars, hatch, strict=True):
            if h:
                bar.set_hatch(h)
                bar.set_edgecolor("black")
    handles, names = ax.get_legend_handles_labels()
    if partial.any():
        from matplotlib.patches import Patch

        handles.append(Patch(facecolor="white", edgecolor="black", hatch="//"))
        names.append("* partial: unmapped shocks")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_usd_formatter())
    ax.set_xlabel("P&L (USD)")
    ax.set_title("Stress scenarios: direct vs correlated P&L")
    ax.margins(x=0.08)
    _legend_above(ax, handles, names, ncols=2)
    return ax


# --------------------------------------------------------------------------- time series


def _dates(frame: pd.DataFrame, column: str) -> pd.DatetimeIndex:
    raw = frame[column] if column in frame.columns else frame.index
    return pd.DatetimeIndex(pd.to_datetime(raw))


def plot_snapshot_history(history: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Portfolio value (left axis) and cumulative P&L (right axis) over the snapshot dates.

    Parameters
    ----------
    history : DataFrame
        The snapshot run's ``history`` table: ``as_of`` (dates; the index is
        used when the column is absent), ``net_liquidation_value_usd`` (long −
        short market value) and ``cumulative_pnl_usd`` (USD), one row per
        trading day.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to both ``plot`` calls.

    Returns
    -------
    matplotlib Axes
        The value axis with one line; the cumulative P&L line is on its
        twin (``ax.right_ax``).
    """
    _require(history, ["net_liquidation_value_usd", "cumulative_pnl_usd"], "plot_snapshot_history")
    ax = _axes(ax, (8.0, 3.5))
    if history.empty:
        return _no_data(ax, "Snapshot history")
    dates = _dates(history, "as_of")
    (value,) = ax.plot(
        dates,
        history["net_liquidation_value_usd"].to_numpy(dtype=float),
        color=NET_COLOR,
        label="net liquidation value",
        **kwargs,
    )
    right = ax.twinx()
    (pnl,) = right.plot(
        dates,
        history["cumulative_pnl_usd"].to_numpy(dtype=float),
        color="tab:orange",
        label="cumulative P&L",
        **kwargs,
    )
    ax.right_ax = right
    ax.yaxis.set_major_formatter(_usd_formatter())
    right.yaxis.set_major_formatter(_usd_formatter())
    ax.set_ylabel("net liquidation value (USD)")
    right.set_ylabel("cumulative P&L (USD)")
    ax.set_title("Snapshot history")
    _legend_above(ax, [value, pnl], [value.get_label(), pnl.get_label()])
    _date_axis(ax)
    return ax


def plot_pnl_backtest(backtest: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Predicted vs actual daily P&L of the market-risk backtest.

    Parameters
    ----------
    backtest : DataFrame
        The market-risk run's ``backtest`` table, indexed by date:
        ``predicted_pnl_usd`` (market + rate model) and ``actual_pnl_usd``
        (constant holdings), USD per day.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to both ``ax.plot`` calls.

    Returns
    -------
    matplotlib Axes
        Two lines: actual, predicted.
    """
    _require(backtest, ["predicted_pnl_usd", "actual_pnl_usd"], "plot_pnl_backtest")
    ax = _axes(ax, (8.0, 3.5))
    if backtest.empty:
        return _no_data(ax, "P&L backtest")
    dates = _dates(backtest, "date")
    ax.plot(
        dates,
        backtest["actual_pnl_usd"].to_numpy(dtype=float),
        color="black",
        linewidth=1.0,
        label="actual",
        **kwargs,
    )
    ax.plot(
        dates,
        backtest["predicted_pnl_usd"].to_numpy(dtype=float),
        color="tab:orange",
        linewidth=1.0,
        label="predicted",
        **kwargs,
    )
    ax.axhline(0.0, color="gray", linewidth=0.6)
    ax.yaxis.set_major_formatter(_usd_formatter())
    ax.set_ylabel("daily P&L (USD)")
    ax.set_title("Market-risk model: predicted vs actual daily P&L (in sample)")
    ax.legend(loc="best", fontsize=8)
    ax.figure.autofmt_xdate()
    return ax


# --------------------------------------------------------------------------- risk metrics


def _var_levels(var: Mapping[str, Any] | pd.DataFrame | None) -> dict[str, float]:
    if var is None:
        return {}
    if isinstance(var, pd.DataFrame):
        _require(var, ["metric", "value"], "plot_var_histogram (metrics table)")
        var = dict(zip(var["metric"], var["value"], strict=True))
    out = {}
    for key in ("var_95", "var_99"):
        value = var.get(key)
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            out[key] = value
    return out


def plot_var_histogram(
    returns: pd.DataFrame | pd.Series,
    var: Mapping[str, Any] | pd.DataFrame | None = None,
    ax: Axes | None = None,
    bins: int = 50,
    **kwargs: Any,
) -> Axes:
    """Histogram of daily returns with the 95 % and 99 % VaR as vertical lines.

    Parameters
    ----------
    returns : DataFrame or Series
        The risk-metrics run's ``returns`` table (column ``return``: daily
        constant-holdings return as a fraction of gross exposure) or a Series
        of returns. NaN values are dropped.
    var : mapping or DataFrame, optional
        Where the VaR figures are: the run's ``summary`` or its ``metrics``
        table (``metric`` / ``value`` columns). Keys ``var_95`` and ``var_99``
        are positive loss fractions, drawn at ``-var``; missing or NaN
        levels draw no line.
    ax : matplotlib Axes, optional
    bins : int, default=50
    **kwargs
        Passed to ``ax.hist``.

    Returns
    -------
    matplotlib Axes
        The histogram bars and one vertical line per available VaR level.
    """
    if isinstance(returns, pd.DataFrame):
        _require(returns, ["return"], "plot_var_histogram")
        returns = returns["return"]
    values = pd.to_numeric(returns, errors="coerce").dropna().to_numpy(dtype=float)
    ax = _axes(ax, (7.0, 3.5))
    if values.size == 0:
        return _no_data(ax, "Daily returns")
    ax.hist(values, bins=bins, color=kwargs.pop("color", "tab:blue"), alpha=0.75, **kwargs)
    styles = {"var_95": ("tab:orange", "--", "95 %"), "var_99": ("tab:red", "-", "99 %")}
    for key, level in _var_levels(var).items():
        color, style, name = styles[key]
        ax.axvline(
            -level,
            color=color,
            linestyle=style,
            linewidth=1.5,
            label=f"VaR {name}: {level:.2%} loss",
        )
    ax.xaxis.set_major_formatter(_percent_formatter())
    ax.set_xlabel("daily return (fraction of gross exposure)")
    ax.set_ylabel("days")
    ax.set_title(f"Daily returns ({values.size} sessions)")
    _legend_above(ax, ncols=1)
    return ax


# --------------------------------------------------------------------------- performance

BENCHMARK_COLOR = "tab:gray"


def _series_or_na(history: pd.DataFrame, column: str) -> np.ndarray:
    if column not in history:
        return np.full(len(history), np.nan)
    return pd.to_numeric(history[column], errors="coerce").to_numpy(dtype=float)


def plot_cumulative_returns(
    history: pd.DataFrame, ax: Axes | None = None, benchmark: str | None = None, **kwargs: Any
) -> Axes:
    """Cumulative return of the portfolio and of its benchmark over the window.

    Parameters
    ----------
    history : DataFrame
        The performance section's ``history`` table, indexed by date:
        ``cumulative_return`` and optional ``benchmark_cumulative_return``
        (decimal, compounded since the window start; NaN = no benchmark).
    ax : matplotlib Axes, optional
    benchmark : str, optional
        Legend label of the benchmark line (default "benchmark").
    **kwargs
        Passed to the portfolio's ``ax.plot``.

    Returns
    -------
    matplotlib Axes
        One line for the portfolio, one for the benchmark when it has data.
    """
    _require(history, ["cumulative_return"], "plot_cumulative_returns")
    ax = _axes(ax, (7.0, 3.2))
    if history.empty:
        return _no_data(ax, "Cumulative return")
    dates = _dates(history, "date")
    ax.plot(dates, _series_or_na(history, "cumulative_return"),
            **{"color": NET_COLOR, "linewidth": 1.4, "label": "portfolio", **kwargs})  # fmt: skip
    bench = _series_or_na(history, "benchmark_cumulative_return")
    if np.isfinite(bench).any():
        ax.plot(dates, bench, color=BENCHMARK_COLOR, linewidth=1.1,
                label=benchmark or "benchmark")  # fmt: skip
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.yaxis.set_major_formatter(_percent_formatter(0))
    ax.set_ylabel("cumulative return")
    ax.set_title("Cumulative return")
    _legend_above(ax)
    _date_axis(ax)
    return ax


def plot_drawdown(history: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Underwater chart: the fall below the running peak, with the maximum drawdown marked.

    Parameters
    ----------
    history : DataFrame
        The performance section's ``history`` table, indexed by date:
        ``drawdown`` (decimal, ≤ 0).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.fill_between``.

    Returns
    -------
    matplotlib Axes
        The filled area and a marker at the deepest point.
    """
    _require(history, ["drawdown"], "plot_drawdown")
    ax = _axes(ax, (7.0, 3.0))
    values = _series_or_na(history, "drawdown")
    if history.empty or not np.isfinite(values).any():
        return _no_data(ax, "Drawdown")
    dates = _dates(history, "date")
    ax.fill_between(dates, values, 0.0,
                    **{"color": NEGATIVE_COLOR, "alpha": 0.35, "linewidth": 0, **kwargs})  # fmt: skip
    ax.plot(dates, values, color=NEGATIVE_COLOR, linewidth=0.8)
    i = int(np.nanargmin(values))
    ax.scatter([dates[i]], [values[i]], color="black", s=14, zorder=3,
               label=f"max drawdown {values[i]:.2%} ({dates[i]:%Y-%m-%d})")  # fmt: skip
    ax.set_ylim(min(values[i] * 1.25, -0.001), 0.0)
    ax.yaxis.set_major_formatter(_percent_formatter(1))
    ax.set_ylabel("below peak")
    ax.set_title("Drawdown (underwater)")
    _legend_above(ax)
    _date_axis(ax)
    return ax


MONTH_LABELS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                "Dec")  # fmt: skip


def plot_monthly_returns(monthly: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Heatmap of monthly returns, years × months, with each value written in its cell.

    Parameters
    ----------
    monthly : DataFrame of shape (n_years, 12)
        The performance section's ``monthly`` table: index years, columns months
        1 … 12, compounded return (decimal); NaN = no session in the window.
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.imshow`` (``cmap`` default ``RdYlGn``, centred on 0).

    Returns
    -------
    matplotlib Axes
        One image; blank cells for months outside the window.
    """
    ax = _axes(ax, (7.0, 0.45 * len(monthly) + 1.2))
    if monthly.empty:
        return _no_data(ax, "Monthly returns")
    values = monthly.reindex(columns=range(1, 13)).to_numpy(dtype=float)
    finite = values[np.isfinite(values)]
    bound = max(float(np.abs(finite).max()) if finite.size else 0.0, 1e-4)
    ax.imshow(np.ma.masked_invalid(values), aspect="auto",
              **{"cmap": "RdYlGn", "vmin": -bound, "vmax": bound, **kwargs})  # fmt: skip
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v * 100:.1f}", ha="center", va="center", fontsize=7,
                    color="white" if abs(v) > 0.7 * bound else "black")  # fmt: skip
    ax.set_xticks(np.arange(12), MONTH_LABELS, fontsize=8)
    ax.set_yticks(np.arange(len(monthly)), [str(y) for y in monthly.index], fontsize=8)
    ax.tick_params(length=0)
    ax.set_title("Monthly returns (%)")
    return ax


def plot_rolling_volatility(
    history: pd.DataFrame,
    ax: Axes | None = None,
    window: int = 63,
    benchmark: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Rolling annualized volatility of the portfolio (and of the benchmark).

    Parameters
    ----------
    history : DataFrame
        The performance section's ``history`` table, indexed by date:
        ``rolling_volatility`` and optional ``benchmark_rolling_volatility``
        (annualized, decimal; NaN before the first full window).
    ax : matplotlib Axes, optional
    window : int, default=63
        Sessions per window (for the title).
    benchmark : str, optional
        Legend label of the benchmark line.
    **kwargs
        Passed to the portfolio's ``ax.plot``.

    Returns
    -------
    matplotlib Axes
    """
    _require(history, ["rolling_volatility"], "plot_rolling_volatility")
    ax = _axes(ax, (7.0, 3.0))
    values = _series_or_na(history, "rolling_volatility")
    if history.empty or not np.isfinite(values).any():
        return _no_data(ax, f"Rolling {window}-day volatility")
    dates = _dates(history, "date")
    ax.plot(dates, values, **{"color": NET_COLOR, "linewidth": 1.3, "label": "portfolio", **kwargs})
    bench = _series_or_na(history, "benchmark_rolling_volatility")
    if np.isfinite(bench).any():
        ax.plot(dates, bench, color=BENCHMARK_COLOR, linewidth=1.0,
                label=benchmark or "benchmark")  # fmt: skip
    ax.set_ylim(bottom=0.0)
    ax.yaxis.set_major_formatter(_percent_formatter(0))
    ax.set_ylabel("annualized volatility")
    ax.set_title(f"Rolling {window}-day volatility")
    _legend_above(ax)
    _date_axis(ax)
    return ax


def plot_rolling_sharpe(
    history: pd.DataFrame, ax: Axes | None = None, window: int = 63, **kwargs: Any
) -> Axes:
    """Rolling annualized Sharpe ratio, with its mean as a dashed line.

    Parameters
    ----------
    history : DataFrame
        The performance section's ``history`` table, indexed by date:
        ``rolling_sharpe`` (NaN before the first full window).
    ax : matplotlib Axes, optional
    window : int, default=63
        Sessions per window (for the title).
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib Axes
    """
    _require(history, ["rolling_sharpe"], "plot_rolling_sharpe")
    return _rolling_line(
        history, "rolling_sharpe", ax, title=f"Rolling {window}-day Sharpe ratio",
        label="rolling Sharpe", ylabel="Sharpe ratio (annualized)", **kwargs,
    )  # fmt: skip


def _rolling_line(
    history: pd.DataFrame, column: str, ax: Axes | None, *, title: str, label: str,
    ylabel: str, **kwargs: Any,
) -> Axes:  # fmt: skip
    """A rolling statistic over time with its mean (dashed) and zero; "no data" when
    ``column`` has no finite value."""
    ax = _axes(ax, (7.0, 3.0))
    values = _series_or_na(history, column)
    if history.empty or not np.isfinite(values).any():
        return _no_data(ax, title)
    dates = _dates(history, "date")
    ax.plot(dates, values, **{"color": NET_COLOR, "linewidth": 1.3, "label": label, **kwargs})
    ax.axhline(float(np.nanmean(values)), color=BENCHMARK_COLOR, linestyle="--", linewidth=0.9,
               label=f"mean {np.nanmean(values):.2f}")  # fmt: skip
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.margins(y=0.15)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _legend_above(ax)
    _date_axis(ax)
    return ax


def plot_rolling_beta(
    history: pd.DataFrame,
    ax: Axes | None = None,
    window: int = 63,
    benchmark: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Rolling OLS beta of the portfolio to its benchmark, with the full-window beta.

    Parameters
    ----------
    history : DataFrame
        The performance section's ``history`` table, indexed by date:
        ``rolling_beta`` (NaN before the first full window or without a benchmark).
    ax : matplotlib Axes, optional
    window : int, default=63
    benchmark : str, optional
        The benchmark's name, for the title.
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    matplotlib Axes
        "no data" when the benchmark is N/A.
    """
    _require(history, ["rolling_beta"], "plot_rolling_beta")
    return _rolling_line(
        history, "rolling_beta", ax,
        title=f"Rolling {window}-day beta to {benchmark or 'the benchmark'}",
        label="rolling beta", ylabel="beta", **kwargs,
    )  # fmt: skip


# --------------------------------------------------------------------------- positions


def plot_position_values(
    positions: pd.DataFrame,
    column: str,
    ax: Axes | None = None,
    label: str = "symbol",
    **kwargs: Any,
) -> Axes:
    """One horizontal bar per position for a numeric column (green ≥ 0, red < 0).

    Parameters
    ----------
    positions : DataFrame
        Any per-position table of a run (``valuation``, ``greeks``,
        ``market_risk`` or ``risk_metrics`` ``positions``), in its order,
        first on top.
    column : str
        The column to draw, e.g. ``exposure_usd``, ``unrealized_pnl_usd``,
        ``share`` (risk contribution). Its name is the axis label.
    ax : matplotlib Axes, optional
    label : str, default="symbol"
        Column with the bar labels (the index when absent).
    **kwargs
        Passed to ``ax.barh``.

    Returns
    -------
    matplotlib Axes
        One bar per position with a finite value; a NaN value gets the text
        ``n/a`` instead of a bar.
    """
    _require(positions, [column], "plot_position_values")
    ax = _axes(ax, (7.0, _bar_height(len(positions))))
    if positions.empty:
        return _no_data(ax, column)
    values = pd.to_numeric(positions[column], errors="coerce").to_numpy(dtype=float)
    y = np.arange(len(values))
    ok = np.isfinite(values)
    colors = np.where(values[ok] >= 0, POSITIVE_COLOR, NEGATIVE_COLOR)
    ax.barh(y[ok], values[ok], color=kwargs.pop("color", list(colors)), **kwargs)
    for yi in y[~ok]:
        ax.text(0.0, yi, MISSING_LABEL, va="center", ha="left", fontsize=8, color="dimgray")
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, _labels(positions, label), fontsize=8)
    ax.set_ylim(len(values) - 0.5, -0.5)
    if column.endswith("_usd"):
        ax.xaxis.set_major_formatter(_usd_formatter())
    ax.set_xlabel(column)
    ax.set_title(column)
    return ax


def plot_greeks(
    greeks: pd.DataFrame, greek: str = "delta", ax: Axes | None = None, **kwargs: Any
) -> Axes:
    """One position Greek per position, leaving out positions where it is exactly zero.

    Parameters
    ----------
    greeks : DataFrame
        The greeks run's ``positions`` table: ``symbol`` and the position
        Greeks ``delta``, ``gamma``, ``theta``, ``vega``, ``rho`` (units in
        :data:`GREEK_UNITS`). Stocks have delta = quantity and zero for the
        other Greeks, so for gamma ... rho only options are drawn; a Greek
        that could not be computed (NaN) is drawn as ``n/a``.
    greek : str, default="delta"
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.barh``.

    Returns
    -------
    matplotlib Axes
        One bar per position with a non-zero, finite value.
    """
    if greek not in GREEK_UNITS:
        raise ValueError(f"greek must be one of {list(GREEK_UNITS)}, got {greek!r}")
    _require(greeks, [greek], "plot_greeks")
    shown = greeks.loc[pd.to_numeric(greeks[greek], errors="coerce").fillna(np.inf) != 0]
    ax = plot_position_values(shown, greek, ax=ax, **kwargs)
    ax.set_xlabel(f"{greek} ({GREEK_UNITS[greek]})")
    ax.set_title(f"Position {greek}")
    return ax


# --------------------------------------------------------------------------- market data


def plot_coverage(coverage: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Sessions with a price among the last 252, per symbol, coloured by coverage status.

    Parameters
    ----------
    coverage : DataFrame
        The coverage run's ``symbols`` table
        (:func:`sigmasight_lib.notebook.coverage`), indexed by symbol:
        ``observations`` (sessions) and ``status`` (``ok``, ``warning``,
        ``minimal``, ``insufficient``).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.barh``.

    Returns
    -------
    matplotlib Axes
        One bar per symbol and three vertical lines at 252, 150 and 60
        sessions (the coverage rule's thresholds).
    """
    _require(coverage, ["observations", "status"], "plot_coverage")
    ax = _axes(ax, (7.0, _bar_height(len(coverage))))
    if coverage.empty:
        return _no_data(ax, "Market data coverage")
    y = np.arange(len(coverage))
    colors = [COVERAGE_COLORS.get(str(s), GROSS_COLOR) for s in coverage["status"]]
    ax.barh(
        y,
        coverage["observations"].to_numpy(dtype=float),
        color=kwargs.pop("color", colors),
        **kwargs,
    )
    for sessions, style in (
        (COVERAGE_WANTED, "-"),
        (COVERAGE_ACCEPTED, "--"),
        (COVERAGE_FLOOR, ":"),
    ):
        ax.axvline(
            sessions, color="black", linestyle=style, linewidth=0.8, label=f"{sessions} sessions"
        )
    ax.set_yticks(y, _labels(coverage, "symbol"), fontsize=8)
    ax.set_ylim(len(coverage) - 0.5, -0.5)
    ax.set_xlabel(f"sessions with a price among the last {COVERAGE_WANTED}")
    ax.set_title("Market data coverage")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return ax


# --------------------------------------------------------------------------- model validation


def plot_var_backtest(daily: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Daily realized P&L with the −VaR lines and the exceptions marked.

    Parameters
    ----------
    daily : DataFrame
        :attr:`~sigmasight_lib.validation.ValidationResult.daily`, one row per
        forecast day: ``realized_date`` (the day the P&L is realized; the
        index otherwise), ``pnl_usd`` (USD), ``var_95_usd`` / ``var_99_usd``
        (positive losses, USD; either may be absent) and ``exception_95`` /
        ``exception_99`` (1.0 where the P&L fell below −VaR).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to ``ax.bar`` (the P&L bars).

    Returns
    -------
    matplotlib Axes
        P&L bars, one step line per VaR level at −VaR, and markers on the
        exceptions of each level (labelled with their count).
    """
    _require(daily, ["pnl_usd"], "plot_var_backtest")
    ax = _axes(ax, (9.0, 4.0))
    if daily.empty or daily["pnl_usd"].notna().sum() == 0:
        return _no_data(ax, "VaR backtest")
    dates = _dates(daily, "realized_date")
    pnl = daily["pnl_usd"].to_numpy(dtype=float)
    ax.bar(dates, pnl, width=1.0, **{"color": GROSS_COLOR, "label": "daily P&L", **kwargs})
    styles = {"95": ("tab:orange", "o"), "99": ("tab:red", "v")}
    for level, (color, marker) in styles.items():
        var_col, hit_col = f"var_{level}_usd", f"exception_{level}"
        if var_col not in daily:
            continue
        ax.step(dates, -daily[var_col].to_numpy(dtype=float), where="mid", color=color,
                linewidth=1.0, label=f"−VaR {level} %")  # fmt: skip
        if hit_col in daily:
            hits = daily[hit_col].to_numpy(dtype=float) == 1.0
            ax.scatter(dates[hits], pnl[hits], color=color, marker=marker, s=28, zorder=3,
                       label=f"exceptions {level} % ({int(hits.sum())})")  # fmt: skip
    ax.axhline(0.0, color="black", linewidth=0.6)
    ax.yaxis.set_major_formatter(_usd_formatter())
    ax.set_ylabel("P&L (USD)")
    ax.set_title("VaR backtest: next-session P&L vs 1-day VaR")
    ax.legend(loc="upper left", ncols=5, fontsize=7, framealpha=0.85)
    ax.figure.autofmt_xdate()
    return ax


REPLAY_SERIES: dict[str, tuple[str, str]] = {
    "realized_pnl_usd": ("realized", "black"),
    "predicted_pnl_usd": ("factor model", "tab:blue"),
    "stress_correlated_pnl_usd": ("stress scenario (correlated)", "tab:orange"),
}
"""Columns drawn by :func:`plot_replays`: label and colour."""


def plot_replays(replays: pd.DataFrame, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Realized vs predicted P&L of each crash replay, as grouped horizontal bars.

    Parameters
    ----------
    replays : DataFrame
        :meth:`~sigmasight_lib.validation.ValidationResult.replay_table`, one
        row per replay: ``realized_pnl_usd``, ``predicted_pnl_usd``,
        ``stress_correlated_pnl_usd`` (USD, NaN = N/A) and ``name`` (label; the
        index otherwise).
    ax : matplotlib Axes, optional
    **kwargs
        Passed to every ``ax.barh`` call.

    Returns
    -------
    matplotlib Axes
        One bar per available figure; an N/A figure has no bar and the text
        ``n/a`` at zero.
    """
    _require(replays, list(REPLAY_SERIES), "plot_replays")
    ax = _axes(ax, (8.0, _bar_height(3 * len(replays)) * 0.7))
    if replays.empty:
        return _no_data(ax, "Crash replays")
    y = np.arange(len(replays))
    height = kwargs.pop("height", 0.27)
    missing: list[float] = []
    for i, (column, (label, color)) in enumerate(REPLAY_SERIES.items()):
        offset = (i - 1) * height
        values = replays[column].to_numpy(dtype=float)
        ax.barh(y + offset, np.nan_to_num(values), height=height,
                **{"color": color, "label": label, **kwargs})  # fmt: skip
        missing += [yi + offset for yi, v in zip(y, values, strict=True) if not np.isfinite(v)]
    lo, hi = ax.get_xlim()
    left = -lo > hi  # write the n/a labels on the side with room
    for yi in missing:
        ax.text(0.0, yi, f" {MISSING_LABEL} ", va="center", ha="right" if left else "left",
                fontsize=7)  # fmt: skip
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.set_yticks(y, _labels(replays, "name"), fontsize=8)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(_usd_formatter())
    ax.set_xlabel("P&L over the window (USD)")
    ax.set_title("Crash replays: realized vs predicted P&L")
    ax.legend(loc="best", fontsize=8)
    return ax
