"""Plain JSON values from what the library returns: the one place that maps NaN to null.

Every JSON the project prints or writes (CLI ``--json``, engine results, reports,
validation) goes through :func:`jsonable`, so a number that cannot be computed is
``null``, never a bare ``NaN`` that strict JSON parsers reject.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """``value`` with containers converted recursively to JSON-ready values.

    Dicts (keys as strings), lists and tuples recurse; NumPy scalars become
    Python scalars; non-finite floats, ``NaT`` and ``pd.NA`` become None;
    timestamps become ISO dates, datetimes and dates ISO strings, paths strings.
    Anything else is returned unchanged.
    """
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value
