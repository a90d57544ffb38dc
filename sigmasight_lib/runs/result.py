"""What an engine run returns: :class:`EngineRun` (result tables, headline summary, notes)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from sigmasight_lib.jsonable import jsonable


@dataclass(frozen=True)
class EngineRun:
    """What one engine run computed and saved.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Result tables (``positions``, ``portfolio``, breakdowns ...).
    summary : dict
        Headline figures (flat, JSON-ready).
    notes : tuple of str
        N/A reasons, fallbacks, exclusions.
    """

    engine: str
    portfolio_id: int
    portfolio: str
    as_of: dt.date
    batch_run_id: int | None
    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    rows_saved: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The full result, JSON-ready (NaN → null, dates ISO)."""
        return {
            "engine": self.engine,
            "portfolio": self.portfolio,
            "portfolio_id": self.portfolio_id,
            "as_of": self.as_of.isoformat(),
            "batch_run_id": self.batch_run_id,
            "summary": jsonable(self.summary),
            "notes": list(self.notes),
            "rows_saved": self.rows_saved,
            "tables": {name: records(frame) for name, frame in self.tables.items()},
        }


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    flat = (
        frame.reset_index()
        if frame.index.name or not isinstance(frame.index, pd.RangeIndex)
        else frame
    )
    # jsonable turns NaN / NaT / NA into None (no frame-wide astype + where: that
    # cost ~3 ms per small frame, most of correlations_many for 1,000 portfolios)
    return [jsonable(r) for r in flat.to_dict(orient="records")]
