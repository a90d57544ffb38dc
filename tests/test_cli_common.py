"""The console formatting helper, against hand-written tables."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from sigmasight_lib.cli_common import format_frame, format_value, is_percent_column


def test_format_frame_aligns_with_thousands_separators_percent_and_na():
    frame = pd.DataFrame(
        {
            "symbol": ["AAPL", "MSFT"],
            "quantity": [400, 12500],
            "market_value_usd": [1234567.891, np.nan],
            "weight": [0.1234, 0.05],
            "market_beta": [1.23456, None],
            "expiry": [dt.date(2017, 4, 21), None],
        }
    )
    expected = (
        "symbol      quantity    market_value_usd    weight    market_beta  expiry\n"
        "--------  ----------  ------------------  --------  -------------  ----------\n"
        "AAPL             400        1,234,567.89    12.34%          1.235  2017-04-21\n"
        "MSFT          12,500                 N/A     5.00%            N/A  N/A"
    )
    assert format_frame(frame) == expected


def test_format_frame_one_precision_per_column_and_named_percent_columns():
    frame = pd.DataFrame({"name": ["a", "b"], "loading": [0.5, 1.25], "share_of_var": [0.25, 0.75]})
    expected = (
        "name      loading    share_of_var\n"
        "------  ---------  --------------\n"
        "a          0.5000          25.00%\n"
        "b          1.2500          75.00%"
    )
    assert format_frame(frame, percent=["share_of_var"]) == expected
    assert format_frame(pd.DataFrame()) == "(none)"


def test_format_value():
    assert format_value(float("nan")) == "N/A"
    assert format_value(None, "weight") == "N/A"
    assert format_value(1234567) == "1,234,567"
    assert format_value(-1817.759, "dollar_beta_usd") == "-1,817.76"
    assert format_value(0.0525, "daily_return") == "5.25%"
    assert format_value({"Market": 0.92488, "Growth": None}, "betas_to_gross") == (
        "Market: 0.925, Growth: N/A"
    )
    assert format_value([], "excluded") == "none"
    assert format_value(1.0, "portfolio_id") == "1" and format_value(2.3, "seconds") == "2.30"
    assert format_value(pd.Timestamp("2017-03-29")) == "2017-03-29"
    assert is_percent_column("portfolio_weight") and is_percent_column("implied_vol")
    assert not is_percent_column("Low Volatility") and not is_percent_column("symbol")
