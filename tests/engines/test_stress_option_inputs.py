"""The option positions' BSM inputs for stress revaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from sigmasight_lib.engines.stress import OPTION_COLUMNS, option_inputs


def test_option_inputs_keep_live_options_only():
    positions = pd.DataFrame(
        {
            "underlying": ["AAPL", "AAPL", "JPM"],
            "option_type": [None, "C", "P"],
            "underlying_price": [150.0, 150.0, 100.0],
            "strike": [np.nan, 160.0, 90.0],
            "years_to_expiry": [np.nan, 0.5, 0.0],
            "risk_free_rate": [np.nan, 0.02, 0.02],
            "implied_vol": [np.nan, 0.3, 0.25],
            "quantity": [100.0, 2.0, -1.0],
            "multiplier": [1.0, 100.0, 100.0],
            "price": [150.0, 5.0, 0.0],
            "delta": [100.0, 90.0, 0.0],
            "expired": [False, False, True],
        },
        index=pd.Index([1, 2, 3], name="position_id"),
    )
    options = option_inputs(positions, dividend_yield=0.01)
    assert list(options.index) == [2]
    assert set(OPTION_COLUMNS) <= set(options.columns)
    assert options.loc[2, ["spot", "strike", "years", "vol", "dividend_yield"]].tolist() == [
        150.0, 160.0, 0.5, 0.3, 0.01,
    ]  # fmt: skip
    assert option_inputs(positions.iloc[:1]) is None
    assert option_inputs(positions.drop(columns="expired")).index.tolist() == [2, 3]
