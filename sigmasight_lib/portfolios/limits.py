"""Field limits: the one place that says how large a number or how long a text may be.

Every entry point (CSV import, ``position edit`` / ``close``, what-if trades,
portfolio creation) checks its values here, so a value that would be stored as
``inf`` or break a column (PostgreSQL ``NumericValueOutOfRange`` /
``StringDataRightTruncation``) is refused at the door with the field, the value
and the limit.

Numbers
-------
``quantity``
    Finite, ``1e-8 <= |quantity| <= 1e12`` (shares or contracts). The column is
    ``NUMERIC(24, 8)``: eight decimals, so a smaller magnitude would be stored as 0.
``entry_price``, ``exit_price``, ``price``, ``strike``
    Finite, ``1e-8 <= price <= 1e9`` USD per share (the sign is checked by
    the caller: prices must be positive).

Texts (lengths from the column widths of :mod:`sigmasight_lib.db.models`)
--------------------------------------------------------------------------
``symbol`` 32 (a ticker, being its own underlying, 16), ``underlying`` 16,
``tags`` 40, ``strategy`` 200, ``owner_email`` 254, ``owner_name`` 200,
``portfolio_name`` 200, ``session_name`` 200.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType

from sigmasight_lib.db.models import ModelingSession, Owner, Portfolio, Position, Strategy, Tag
from sigmasight_lib.exceptions import SigmaSightError

MAX_QUANTITY = 1e12
"""Largest accepted ``|quantity|`` (shares or contracts)."""
MAX_PRICE = 1e9
"""Largest accepted price per share in USD (entry, exit, limit price, strike)."""
MIN_MAGNITUDE = 1e-8
"""Smallest non-zero magnitude the ``NUMERIC(24, 8)`` columns keep (smaller becomes 0)."""

NUMBER_LIMITS: Mapping[str, float] = MappingProxyType(
    {
        "quantity": MAX_QUANTITY,
        "entry_price": MAX_PRICE,
        "exit_price": MAX_PRICE,
        "price": MAX_PRICE,
        "strike": MAX_PRICE,
    }
)
"""Field -> largest accepted absolute value."""


def _width(column: object) -> int:
    return int(column.type.length)  # type: ignore[attr-defined]


TEXT_LIMITS: Mapping[str, int] = MappingProxyType(
    {
        "symbol": _width(Position.symbol),
        "underlying": _width(Position.underlying),
        "tags": _width(Tag.name),
        "strategy": _width(Strategy.name),
        "owner_email": _width(Owner.email),
        "owner_name": _width(Owner.name),
        "portfolio_name": min(_width(Portfolio.name), _width(Portfolio.slug)),
        "session_name": _width(ModelingSession.name),
    }
)
"""Field -> most characters accepted (the database column width)."""


class LimitError(SigmaSightError, ValueError):
    """A value beyond its field's limit; ``field``, ``value`` and ``reason`` say which."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"field {field}, value {_shown(value)}: {reason}")
        self.field, self.value, self.reason = field, value, reason


def _shown(value: object) -> str:
    """The value quoted, long ones shortened to their first and last 20 characters."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:20]}...{text[-20:]} ({len(str(value))} chars)"


def number_problem(field: str, value: float) -> str | None:
    """Why ``value`` is not acceptable for the number ``field``; None when it is.

    Zero is left to the caller (a zero quantity and a zero price have their own reasons).
    """
    limit = NUMBER_LIMITS[field]
    if not math.isfinite(value):
        return f"not a finite number (the limit is {limit:,.0f} in absolute value)"
    if abs(value) > limit:
        return f"out of range: the limit is {limit:,.0f} in absolute value"
    if value != 0 and abs(value) < MIN_MAGNITUDE:
        return f"too small: the smallest non-zero magnitude stored is {MIN_MAGNITUDE:.8f}"
    return None


def text_problem(field: str, value: str) -> str | None:
    """Why ``value`` is too long for the text ``field``; None when it fits."""
    limit = TEXT_LIMITS[field]
    if len(value) > limit:
        return f"longer than {limit} characters ({len(value)})"
    return None


def check_number(field: str, value: float) -> float:
    """``value`` unchanged, or :class:`LimitError` naming field, value and limit."""
    problem = number_problem(field, value)
    if problem is not None:
        raise LimitError(field, value, problem)
    return value


def check_text(field: str, value: str | None) -> str | None:
    """``value`` unchanged (None passes), or :class:`LimitError` naming field, value and limit."""
    problem = None if value is None else text_problem(field, value)
    if problem is not None:
        raise LimitError(field, value, problem)
    return value
