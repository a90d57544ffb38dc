"""Stored engine runs: what a batch computed, kept for the notebooks that render it.

The batch computes every engine for every portfolio through the layers first and
saves each portfolio's :class:`~sigmasight_lib.runs.result.EngineRun` here
(:func:`save_engine_runs`, one bulk insert per engine); the batch's notebooks then
load it (:func:`load_engine_run`) instead of recomputing. A run is stored losslessly
as strict JSON (:func:`encode_run` / :func:`decode_run`): every table keeps its
index (range, labels, multi-level, names), column names, dtypes (float, int, bool,
``str``, datetime64 with unit and time zone, nullable extension types) and values
(NaN, None, ±inf, NaT, ``datetime.date``, ``pd.Timestamp``), so a notebook renders a
stored run exactly as the live one.

Encoding, once:

- a frame: ``{"index": <index>, "columns": <index>, "data": [<array>, ...]}``;
- an index: ``{"kind": "range", "start", "stop", "step", "name"}``,
  ``{"kind": "multi", "names", "levels": [<array>, ...]}`` or
  ``{"kind": "index", "name", "freq", "values": <array>}``;
- an array: ``{"dtype": str(dtype), "values": [...]}``; float64 NaN is null and ±inf
  the strings ``"inf"`` / ``"-inf"``; datetime64 / timedelta64 are their int64 ticks;
  an object array's values are tagged values;
- a tagged value: JSON scalars as they are; ``{"$float": "nan"}``,
  ``{"$np": "<f8", "value": 1.5}`` (a NumPy scalar keeps its type), ``{"$date": iso}``,
  ``{"$datetime": iso}``, ``{"$timestamp": iso, "tz", "unit"}``, ``{"$nat": 1}``,
  ``{"$na": 1}``, ``{"$tuple": [...]}``, ``{"$dict": [[key, value], ...]}`` for a
  dict with a non-string or ``$``-prefixed key.

Anything else (a category column, an arbitrary object) raises
:class:`UnstorableRunError`: that run is not stored and its notebook computes live.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import StoredEngineRun
from sigmasight_lib.exceptions import SigmaSightError
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.runs.result import EngineRun

log = logging.getLogger(__name__)

_CHUNK = 900
"""Ids per ``IN (...)`` (SQLite's bound-parameter limit)."""


class UnstorableRunError(SigmaSightError, TypeError):
    """A run holds a value or dtype the lossless encoding does not cover."""


# --------------------------------------------------------------------------- values


def encode_value(value: Any) -> Any:
    """A tagged, strict-JSON form of ``value`` (see the module docstring).

    Raises
    ------
    UnstorableRunError
        For a type outside the encoding, naming it.
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, np.bool_ | np.number):
        return {"$np": value.dtype.str, "value": encode_value(value.item())}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if value is pd.NaT:
        return {"$nat": 1}
    if value is pd.NA:
        return {"$na": 1}
    if isinstance(value, pd.Timestamp):
        tz = None if value.tz is None else str(value.tz)
        naive = value if value.tz is None else value.tz_convert("UTC").tz_localize(None)
        return {"$timestamp": naive.isoformat(), "tz": tz, "unit": value.unit}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(v) for v in value]}
    if isinstance(value, list):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in value):
            return {k: encode_value(v) for k, v in value.items()}
        return {"$dict": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    raise UnstorableRunError(f"cannot store a value of type {type(value).__name__}: {value!r}")


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) >= 1 and next(iter(value)).startswith("$"):
        tag = next(iter(value))
        body = value[tag]
        if tag == "$float":
            return float(body)
        if tag == "$np":
            return np.dtype(body).type(decode_value(value["value"]))
        if tag == "$nat":
            return pd.NaT
        if tag == "$na":
            return pd.NA
        if tag == "$timestamp":
            stamp = pd.Timestamp(body).as_unit(value["unit"])
            return (
                stamp if value["tz"] is None else stamp.tz_localize("UTC").tz_convert(value["tz"])
            )
        if tag == "$datetime":
            return dt.datetime.fromisoformat(body)
        if tag == "$date":
            return dt.date.fromisoformat(body)
        if tag == "$tuple":
            return tuple(decode_value(v) for v in body)
        if tag == "$dict":
            return {decode_value(k): decode_value(v) for k, v in body}
    return {k: decode_value(v) for k, v in value.items()}


# --------------------------------------------------------------------------- arrays


def _encode_array(values: pd.Series | pd.Index) -> dict[str, Any]:
    dtype = values.dtype
    name = str(dtype)
    if isinstance(dtype, pd.CategoricalDtype):
        raise UnstorableRunError(f"cannot store a category column ({values.name!r})")
    if dtype.kind in "Mm":  # datetime64 / timedelta64, with or without a time zone
        ticks = np.asarray(values.array.asi8 if hasattr(values.array, "asi8") else values)
        return {"dtype": name, "values": ticks.view("i8").tolist()}
    if dtype == np.float64 or dtype == np.float32:
        out = [
            v if math.isfinite(v) else (None if math.isnan(v) else repr(v))
            for v in np.asarray(values, dtype=np.float64).tolist()
        ]
        return {"dtype": name, "values": out}
    if dtype.kind in "iub" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return {"dtype": name, "values": np.asarray(values).tolist()}
    if dtype.kind == "O" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return {"dtype": name, "values": [encode_value(v) for v in values]}
    # extension dtypes (str, Int64, boolean, Float64 ...): missing values as null
    missing = pd.isna(values)
    items = np.asarray(values, dtype=object).tolist()
    return {
        "dtype": name,
        "values": [None if m else encode_value(v) for v, m in zip(items, missing, strict=True)],
    }


def _decode_array(data: dict[str, Any]) -> pd.api.extensions.ExtensionArray | np.ndarray:
    name, values = data["dtype"], data["values"]
    dtype = pd.api.types.pandas_dtype(name)
    if dtype.kind in "Mm":
        ticks = np.asarray(values, dtype="i8")
        if isinstance(dtype, pd.DatetimeTZDtype):
            naive = ticks.view(f"M8[{dtype.unit}]")
            return pd.DatetimeIndex(naive).tz_localize("UTC").tz_convert(dtype.tz).array
        return pd.array(ticks.view(dtype))
    if dtype.kind == "f" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        floats = [math.nan if v is None else float(v) for v in values]
        return np.asarray(floats, dtype=dtype)
    if dtype.kind == "O" and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        out = np.empty(len(values), dtype=object)
        out[:] = [decode_value(v) for v in values]
        return out
    if isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return pd.array([decode_value(v) for v in values], dtype=dtype)
    return np.asarray(values, dtype=dtype)


# --------------------------------------------------------------------------- frames


def _encode_index(index: pd.Index) -> dict[str, Any]:
    if isinstance(index, pd.RangeIndex):
        return {"kind": "range", "start": index.start, "stop": index.stop,
                "step": index.step, "name": encode_value(index.name)}  # fmt: skip
    if isinstance(index, pd.MultiIndex):
        return {
            "kind": "multi",
            "names": [encode_value(n) for n in index.names],
            "levels": [_encode_array(index.get_level_values(i)) for i in range(index.nlevels)],
        }
    freq = getattr(index, "freqstr", None)
    return {"kind": "index", "name": encode_value(index.name), "freq": freq,
            "values": _encode_array(index)}  # fmt: skip


def _decode_index(data: dict[str, Any]) -> pd.Index:
    if data["kind"] == "range":
        return pd.RangeIndex(data["start"], data["stop"], data["step"],
                             name=decode_value(data["name"]))  # fmt: skip
    if data["kind"] == "multi":
        arrays = [pd.Index(a, dtype=a.dtype) for a in map(_decode_array, data["levels"])]
        return pd.MultiIndex.from_arrays(arrays, names=[decode_value(n) for n in data["names"]])
    values = _decode_array(data["values"])
    index = pd.Index(values, dtype=values.dtype, name=decode_value(data["name"]), copy=False)
    if data.get("freq"):
        index.freq = data["freq"]
    return index


def encode_frame(frame: pd.DataFrame) -> dict[str, Any]:
    """A lossless, strict-JSON form of ``frame`` (see the module docstring).

    Raises
    ------
    UnstorableRunError
        For a dtype or value outside the encoding.
    """
    return {
        "index": _encode_index(frame.index),
        "columns": _encode_index(frame.columns),
        "data": [_encode_array(frame.iloc[:, i]) for i in range(frame.shape[1])],
    }


def decode_frame(data: dict[str, Any]) -> pd.DataFrame:
    """The frame :func:`encode_frame` encoded: same index, columns, dtypes and values."""
    index, columns = _decode_index(data["index"]), _decode_index(data["columns"])
    arrays = [_decode_array(column) for column in data["data"]]
    if not arrays:
        return pd.DataFrame(index=index, columns=columns)
    # explicit dtypes: pandas would infer ``str`` for an object column of strings
    series = {i: pd.Series(a, index=index, dtype=a.dtype, copy=False) for i, a in enumerate(arrays)}
    frame = pd.DataFrame(series, index=index, copy=False)
    frame.columns = columns
    return frame


def encode_run(run: EngineRun) -> str:
    """The payload of a stored run: its tables and summary as strict JSON text."""
    payload = {
        "tables": {name: encode_frame(frame) for name, frame in run.tables.items()},
        "summary": encode_value(run.summary),
    }
    return json.dumps(payload, allow_nan=False, separators=(",", ":"))


def decode_run(payload: str) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """(tables, summary) of a payload :func:`encode_run` wrote."""
    data = json.loads(payload)
    tables = {name: decode_frame(frame) for name, frame in data["tables"].items()}
    return tables, decode_value(data["summary"])


# --------------------------------------------------------------------------- database


def engine_run_rows(runs: Iterable[EngineRun], batch_run_id: int) -> list[dict[str, Any]]:
    """``engine_runs`` rows of ``runs`` (a run that cannot be encoded is left out, logged)."""
    now = dt.datetime.now(dt.UTC)
    rows = []
    for run in runs:
        try:
            payload = encode_run(run)
        except UnstorableRunError as exc:
            log.warning("%s of portfolio %d not stored (its notebook computes live): %s",
                        run.engine, run.portfolio_id, exc)  # fmt: skip
            continue
        rows.append({
            "batch_run_id": batch_run_id, "portfolio_id": run.portfolio_id,
            "engine": run.engine, "as_of": run.as_of, "portfolio": run.portfolio,
            "summary": jsonable(run.summary), "notes": list(run.notes),
            "payload": payload, "computed_at": now,
        })  # fmt: skip
    return rows


def save_engine_runs(session: Session, runs: Sequence[EngineRun], batch_run_id: int) -> int:
    """Replace the stored runs of ``runs`` in batch run ``batch_run_id``; rows written.

    One delete per 900 portfolios and one bulk insert (executemany) per call: pass one
    engine's runs for every portfolio at once. In the caller's transaction.
    """
    if not runs:
        return 0
    rows = engine_run_rows(runs, batch_run_id)
    for engine, as_of in {(r.engine, r.as_of) for r in runs}:
        ids = sorted({r.portfolio_id for r in runs if r.engine == engine and r.as_of == as_of})
        for start in range(0, len(ids), _CHUNK):
            session.execute(
                delete(StoredEngineRun).where(
                    StoredEngineRun.batch_run_id == batch_run_id,
                    StoredEngineRun.engine == engine,
                    StoredEngineRun.as_of == as_of,
                    StoredEngineRun.portfolio_id.in_(ids[start : start + _CHUNK]),
                )
            )
    if rows:
        session.execute(insert(StoredEngineRun), rows)
    return len(rows)


def load_engine_run(
    session: Session, batch_run_id: int, portfolio_id: int, engine: str, as_of: dt.date | None
) -> EngineRun | None:
    """The stored run of (batch run, portfolio, engine, as-of), or None when there is none.

    ``as_of`` None: the run's only as-of for that portfolio and engine (a batch run has
    one). ``rows_saved`` of the returned run is 0: loading saves nothing.
    """
    query = select(StoredEngineRun).where(
        StoredEngineRun.batch_run_id == batch_run_id,
        StoredEngineRun.portfolio_id == portfolio_id,
        StoredEngineRun.engine == engine,
    )
    if as_of is not None:
        query = query.where(StoredEngineRun.as_of == as_of)
    row = session.scalars(query.order_by(StoredEngineRun.as_of.desc()).limit(1)).first()
    if row is None:
        return None
    tables, summary = decode_run(row.payload)
    return EngineRun(
        row.engine, row.portfolio_id, row.portfolio, row.as_of, row.batch_run_id,
        tables, summary, tuple(row.notes),
    )  # fmt: skip
