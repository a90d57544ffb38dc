"""Stored engine runs: the lossless encoding, the bulk save and the load by key.

The encoding must give back exactly what it was given (``assert_frame_equal`` with
``check_exact``, value types included), since the batch's notebooks render stored runs
and their HTML must equal a live run's.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.runs.result import EngineRun
from sigmasight_lib.runs.stored import (
    UnstorableRunError,
    decode_frame,
    decode_run,
    decode_value,
    encode_frame,
    encode_run,
    encode_value,
)

AS_OF = dt.date(2017, 3, 29)


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [type(value).__name__, *(_types(v) for v in value)]
    return type(value).__name__


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types, NaN equal to NaN."""
    if _types(a) != _types(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a is b if a is pd.NaT or a is pd.NA or a is None else a == b


def _mixed_frame() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "price": [1.5, np.nan, 0.1 + 0.2, np.inf, -np.inf],
            "quantity": np.array([1, -2, 3, 0, 2**40], dtype="int64"),
            "flag": [True, False, True, True, False],
            "symbol": pd.array(["AAPL", None, "é", "", "X"], dtype="str"),
            "reason": [None, np.nan, "stale", None, "ok"],
            "mixed": [True, 1, 1.0, "1", dt.date(2017, 3, 29)],
            "when": [
                pd.Timestamp("2017-03-29"),
                pd.NaT,
                pd.Timestamp("2016-01-04 15:30"),
                pd.Timestamp("2017-03-28"),
                pd.Timestamp("2017-03-27"),
            ],  # fmt: skip
            "when_tz": pd.date_range("2017-03-27", periods=5, freq="D", tz="America/New_York"),
            "day": [dt.date(2017, 3, 29), None, dt.date(2016, 2, 29), dt.date(2017, 1, 3), None],
            "stamp_obj": [
                pd.Timestamp("2017-03-29"),
                None,
                pd.Timestamp("2017-03-29", tz="UTC"),
                dt.datetime(2017, 3, 29, 12),
                np.float64(2.5),
            ],  # fmt: skip
            "count": pd.array([1, None, 3, 4, 5], dtype="Int64"),
            "small": np.array([1.25, 2, 3, 4, 5], dtype="float32"),
        },
        index=pd.Index([34, 35, 36, 37, 38], name="id"),
    )
    frame["when"] = frame["when"].astype("datetime64[s]")
    return frame


@pytest.mark.parametrize(
    "frame",
    [
        _mixed_frame(),
        _mixed_frame().reset_index(drop=True),
        pd.DataFrame(
            {"v": [1.0, 2.0]},
            index=pd.DatetimeIndex(["2017-03-28", "2017-03-29"], name="date").as_unit("s"),
        ),  # fmt: skip
        pd.DataFrame(
            {"r": [0.1, 0.2, 0.3]},
            index=pd.date_range("2017-03-27", periods=3, freq="B", name="date"),
        ),  # fmt: skip
        pd.DataFrame(
            {"pnl_usd": [1.0, -2.0, np.nan], "hit": [True, False, np.nan]},
            index=pd.MultiIndex.from_tuples(
                [("up", 34), ("up", 35), ("down", 34)], names=["scenario", "position_id"]
            ),  # fmt: skip
        ),
        pd.DataFrame(
            np.eye(2),
            index=pd.Index(["A", "B"], name="underlying"),
            columns=pd.Index(["A", "B"], name="underlying"),
        ),  # fmt: skip
        pd.DataFrame({"a": pd.Series([], dtype="float64"), "b": pd.Series([], dtype="str")}),
        pd.DataFrame(index=pd.Index(["x"], dtype=object)),
        pd.DataFrame({0: [1], "0": [2]}),
    ],
    ids=[
        "mixed",
        "range-index",
        "dates-s",
        "dates-freq",
        "multi",
        "named-columns",
        "empty",
        "no-columns",
        "int-and-str-names",
    ],  # fmt: skip
)
def test_frames_round_trip_exactly_through_strict_json(frame: pd.DataFrame) -> None:
    text = json.dumps(encode_frame(frame), allow_nan=False)
    back = decode_frame(json.loads(text))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)
    for column in range(frame.shape[1]):
        if frame.iloc[:, column].dtype == object:
            assert _same(list(back.iloc[:, column]), list(frame.iloc[:, column]))


def test_values_keep_their_types() -> None:
    summary = {
        "as_of": AS_OF,
        "window_start": pd.Timestamp("2016-03-31"),
        "nan": math.nan,
        "np_nan": np.float64("nan"),
        "np_float": np.float64(-656231.25),
        "np_int": np.int64(7),
        "np_bool": np.bool_(True),
        "inf": -math.inf,
        "none": None,
        "nat": pd.NaT,
        "na": pd.NA,
        "tuple": (1, "a"),
        "nested": {"Growth": math.nan, "Market": 1.5, "list": [dt.date(2017, 1, 3), None]},
        "odd_keys": {1: "one", "$date": "not a tag"},
        "text": "$date",
    }
    text = json.dumps(encode_value(summary), allow_nan=False)
    assert _same(decode_value(json.loads(text)), summary)


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(UnstorableRunError, match="object"):
        encode_value(object())
    with pytest.raises(UnstorableRunError, match="category"):
        encode_frame(pd.DataFrame({"c": pd.Categorical(["a"])}))


def test_a_run_round_trips() -> None:
    run = EngineRun("valuation", 3, "Fund", AS_OF, 4, {"positions": _mixed_frame()},
                    {"total": np.float64(1.5), "as_of": AS_OF}, ("a note",))  # fmt: skip
    tables, summary = decode_run(encode_run(run))
    pd.testing.assert_frame_equal(tables["positions"], run.tables["positions"], check_exact=True)
    assert _same(summary, run.summary)
