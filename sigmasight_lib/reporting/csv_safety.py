"""CSV cells a spreadsheet will not run as formulas (OWASP "CSV injection").

Every CSV SigmaSight writes (``positions.csv`` of the reports, the what-if
trade export, ``portfolio template``) passes its cells through
:func:`safe_cell`: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return is prefixed with ``'``, so Excel / LibreOffice show it
as text — a tag ``-2-3`` stays ``-2-3`` instead of becoming ``-5``. Numbers,
and texts that are plain decimal numbers (``-5.2``, ``+3``, ``1e-4``), are
left alone: a negative quantity stays a number.

Reading such a file back with :mod:`csv` gives the ``'``-prefixed text.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """``value`` unchanged, unless it is a text a spreadsheet would evaluate: then ``'`` + text.

    Parameters
    ----------
    value : Any
        A cell. Only ``str`` values can change; numbers, None and NaN are returned as is.

    Examples
    --------
    >>> safe_cell("-2-3"), safe_cell("=1+1"), safe_cell("-5.2"), safe_cell(-5.2), safe_cell("AAPL")
    ("'-2-3", "'=1+1", '-5.2', -5.2, 'AAPL')
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_PREFIXES)
        and not _NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with :func:`safe_cell` applied to every text column (and the header).

    Numeric columns are untouched, so ``to_csv(float_format=...)`` formats them as before.
    """
    out = frame.copy()
    for column in out.columns:
        kind = out[column].dtype
        if not (pd.api.types.is_numeric_dtype(kind) or pd.api.types.is_datetime64_any_dtype(kind)):
            out[column] = out[column].map(safe_cell)
    out.columns = [safe_cell(c) for c in out.columns]
    return out


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """CSV text (``\\n`` line endings) of ``header`` and ``rows``, every cell through :func:`safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([safe_cell(c) for c in header])
    writer.writerows([safe_cell(c) for c in row] for row in rows)
    return buffer.getvalue()
