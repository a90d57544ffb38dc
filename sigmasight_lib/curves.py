"""Treasury curve vocabulary: the tenor labels and their maturities in years.

Depends on nothing in the package, so that market data (the rates frame, whose
``tenor`` column holds :data:`TENORS`) and the engines (rates interpolated along
the curve by maturity) share it without the engines importing market data.
"""

from __future__ import annotations

TENOR_YEARS: dict[str, float] = {
    "1m": 1 / 12,
    "3m": 0.25,
    "6m": 0.5,
    "1y": 1.0,
    "2y": 2.0,
    "3y": 3.0,
    "5y": 5.0,
    "7y": 7.0,
    "10y": 10.0,
    "20y": 20.0,
    "30y": 30.0,
}
"""Tenor label → maturity in years, shortest first."""

TENORS: tuple[str, ...] = tuple(TENOR_YEARS)
"""Treasury curve tenors, shortest first."""
