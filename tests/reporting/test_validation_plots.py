"""The validation charts on small hand-built tables (Agg backend)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest


def _daily() -> pd.DataFrame:
    days = pd.bdate_range("2016-01-04", periods=6)
    return pd.DataFrame(
        {
            "realized_date": [d.date() + dt.timedelta(days=1) for d in days],
            "pnl_usd": [5.0, -12.0, 3.0, -30.0, np.nan, 1.0],
            "var_95_usd": 10.0,
            "var_99_usd": 20.0,
            "exception_95": [0.0, 1.0, 0.0, 1.0, np.nan, 0.0],
            "exception_99": [0.0, 0.0, 0.0, 1.0, np.nan, 0.0],
        },
        index=days,
    )


def test_plot_var_backtest_draws_pnl_bars_var_lines_and_marks_exceptions(plots):
    ax = plots.plot_var_backtest(_daily())
    assert len(ax.patches) == 6  # one bar per day (NaN drawn empty)
    lines = [line for line in ax.get_lines() if line.get_label().startswith("−VaR")]
    assert [line.get_label() for line in lines] == ["−VaR 95 %", "−VaR 99 %"]
    np.testing.assert_allclose(lines[0].get_ydata(), -10.0)
    marks = {c.get_label(): c.get_offsets() for c in ax.collections}
    assert len(marks["exceptions 95 % (2)"]) == 2 and len(marks["exceptions 99 % (1)"]) == 1
    assert marks["exceptions 99 % (1)"][0][1] == -30.0


def test_plot_var_backtest_empty_and_missing_columns(plots):
    ax = plots.plot_var_backtest(_daily().iloc[:0])
    assert [t.get_text() for t in ax.texts] == ["no data"]
    with pytest.raises(ValueError, match="pnl_usd"):
        plots.plot_var_backtest(pd.DataFrame({"x": [1.0]}))


def test_plot_replays_leaves_na_figures_without_a_bar(plots):
    table = pd.DataFrame(
        {
            "name": ["A", "B"],
            "realized_pnl_usd": [-100.0, -300.0],
            "predicted_pnl_usd": [-90.0, np.nan],
            "stress_correlated_pnl_usd": [-120.0, np.nan],
        },
        index=["a", "b"],
    )
    ax = plots.plot_replays(table)
    assert len(ax.patches) == 6
    heights = sorted(abs(p.get_width()) for p in ax.patches)
    assert heights[:2] == [0.0, 0.0]
    assert [t.get_text().strip() for t in ax.texts] == ["n/a", "n/a"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B"]
