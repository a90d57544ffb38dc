"""Number and text formats shared by every human-facing output.

The report writers (``report.md`` / ``report.html``), the validation report, the
notebook display layer (:mod:`sigmasight_lib.reporting.display`) and the CLI's
percent columns all format through these functions, so a dollar figure reads
``$1,397,455`` / ``-$15,009`` and a fraction ``0.48 %`` everywhere. Each returns
:data:`NA` for None, NaN, infinities and non-numbers; nothing here imports pandas.
"""

from __future__ import annotations

import math
from typing import Any

NA = "n/a"
"""What a missing figure reads in the reports."""

PERCENT_SUFFIXES = (
    "_pct", "weight", "return", "returns", "volatility", "fraction", "share", "confidence",
    "drawdown", "hit_rate", "tracking_error", "vol", "rate",
)  # fmt: skip
"""Column names ending in one of these hold fractions and are shown as % (0.0123 → 1.23%)."""


def is_percent_column(column: object) -> bool:
    """Whether a column named ``column`` holds a fraction shown as %.

    True for a snake-case name equal to one of :data:`PERCENT_SUFFIXES` or ending in
    ``_`` plus one (``weight``, ``portfolio_weight``, ``daily_return``); a label with
    spaces (a factor named "Low Volatility") is not a fraction column.
    """
    name = str(column).lower()
    return " " not in name and any(
        name == suffix.lstrip("_") or name.endswith("_" + suffix.lstrip("_"))
        for suffix in PERCENT_SUFFIXES
    )


def finite(value: Any) -> bool:
    """True for a finite int or float (numpy floats included; bools are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def usd(value: Any, decimals: int = 0) -> str:
    """``$1,234,567`` / ``-$1,234``; :data:`NA` for None or NaN."""
    if not finite(value):
        return NA
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{decimals}f}"


def price(value: Any) -> str:
    """A price per share or contract: ``$141.42``."""
    return usd(value, 2)


def pct(value: Any, decimals: int = 2) -> str:
    """A decimal fraction as a percentage: 0.0048 → ``0.48 %``."""
    return f"{value * 100:,.{decimals}f} %" if finite(value) else NA


def num(value: Any, decimals: int = 2) -> str:
    """A number with thousands separators: ``1,234.57``."""
    return f"{value:,.{decimals}f}" if finite(value) else NA


def integer(value: Any) -> str:
    """A count: ``1,234``."""
    return f"{int(value):,}" if finite(value) else NA


def text(value: Any) -> str:
    """Text as is; None and NaN give an empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def shock(value: Any, kind: str) -> str:
    """A scenario shock: basis points for ``kind == "rates"`` (``+50 bp``), else ``-10.0 %``."""
    if not finite(value):
        return NA
    if kind == "rates":
        return f"{value * 10_000:+,.0f} bp"
    return f"{value * 100:+,.1f} %"
