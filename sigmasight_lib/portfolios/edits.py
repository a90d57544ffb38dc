"""Position edits: quantity, entry price, close and reopen — each recorded in
``position_history`` with the date it takes effect.

Engines run for a date before an edit's effective date see the position as it
was (``store.load_positions`` replays the history backwards).
"""

from __future__ import annotations

import datetime as dt
import numbers

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import Position, PositionHistory
from sigmasight_lib.exceptions import NotFoundError, SigmaSightError
from sigmasight_lib.portfolios.limits import number_problem
from sigmasight_lib.portfolios.positions import detect_position_type

HISTORY_COLUMNS = ("changed_at", "effective_date", "field", "old_value", "new_value", "note")


class PositionEditError(SigmaSightError, ValueError):
    """An edit that is not allowed (zero quantity, closing a closed position, ...)."""


def _position(session: Session, position_id: int) -> Position:
    position = session.get(Position, position_id)
    if position is None:
        raise NotFoundError(f"no position {position_id}")
    return position


def _text(value: object) -> str | None:
    """History values as text: numbers as ``repr(float)`` whatever type the backend returned."""
    if value is None:
        return None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def _record(
    session: Session,
    position: Position,
    field: str,
    old: object,
    new: object,
    effective: dt.date,
    note: str | None,
) -> None:
    session.add(
        PositionHistory(
            position_id=position.id,
            effective_date=effective,
            field=field,
            old_value=_text(old),
            new_value=_text(new),
            note=note,
        )
    )


def _check_number(position_id: int, field: str, value: float) -> None:
    """A :class:`PositionEditError` quoting the value and the limit when ``value`` is beyond it."""
    problem = number_problem(field, value)
    if problem is not None:
        raise PositionEditError(f"position {position_id}: {field} {value!r}: {problem}")


def edit_position(
    session: Session,
    position_id: int,
    *,
    quantity: float | None = None,
    entry_price: float | None = None,
    effective: dt.date | None = None,
    note: str | None = None,
) -> Position:
    """Change a position's quantity and / or entry price from ``effective`` (default today).

    A sign change of the quantity changes the position type (LONG ↔ SHORT, LC ↔ SC, ...).

    Raises
    ------
    PositionEditError
        For a zero quantity (close the position instead), a non-positive entry
        price, a value that is not finite or beyond its limit
        (:mod:`~sigmasight_lib.portfolios.limits`), or an edit of a closed position.
    """
    position = _position(session, position_id)
    if quantity is not None:
        _check_number(position_id, "quantity", quantity)
    if entry_price is not None:
        _check_number(position_id, "entry_price", entry_price)
    effective = effective or dt.date.today()
    if position.exit_date is not None:
        raise PositionEditError(
            f"position {position_id} is closed (exit {position.exit_date}): reopen it first"
        )
    if quantity is not None:
        if quantity == 0:
            raise PositionEditError(
                f"position {position_id}: quantity 0 — use `sigmasight position close`"
            )
        new_type = detect_position_type(quantity, position.option_type).value
        if quantity != position.quantity:
            _record(session, position, "quantity", position.quantity, quantity, effective, note)
            if new_type != position.position_type:
                _record(
                    session,
                    position,
                    "position_type",
                    position.position_type,
                    new_type,
                    effective,
                    note,
                )
            position.quantity, position.position_type = float(quantity), new_type
    if entry_price is not None:
        if not entry_price > 0:
            raise PositionEditError(
                f"position {position_id}: entry price {entry_price!r} must be positive"
            )
        if entry_price != position.entry_price:
            _record(
                session, position, "entry_price", position.entry_price, entry_price, effective, note
            )
            position.entry_price = float(entry_price)
    session.flush()
    return position


def close_position(
    session: Session,
    position_id: int,
    *,
    exit_date: dt.date,
    exit_price: float,
    note: str | None = None,
) -> Position:
    """Close a position; realized P&L = quantity × (exit − entry) × multiplier is kept."""
    position = _position(session, position_id)
    _check_number(position_id, "exit_price", exit_price)
    if position.exit_date is not None:
        raise PositionEditError(
            f"position {position_id} is already closed (exit {position.exit_date})"
        )
    if not exit_price > 0:
        raise PositionEditError(
            f"position {position_id}: exit price {exit_price!r} must be positive"
        )
    if position.entry_date is not None and exit_date < position.entry_date:
        raise PositionEditError(
            f"position {position_id}: exit {exit_date} is before entry {position.entry_date}"
        )
    _record(session, position, "exit_date", None, exit_date.isoformat(), exit_date, note)
    _record(session, position, "exit_price", None, exit_price, exit_date, note)
    position.exit_date, position.exit_price = exit_date, float(exit_price)
    if position.entry_price is not None:
        position.realized_pnl_usd = (
            position.quantity * (exit_price - position.entry_price) * position.multiplier
        )
    session.flush()
    return position


def reopen_position(session: Session, position_id: int, *, note: str | None = None) -> Position:
    """Undo a close: the exit is cleared (and recorded); realized P&L is reset."""
    position = _position(session, position_id)
    if position.exit_date is None:
        raise PositionEditError(f"position {position_id} is open")
    today = dt.date.today()
    _record(session, position, "exit_date", position.exit_date.isoformat(), None, today, note)
    _record(session, position, "exit_price", position.exit_price, None, today, note)
    position.exit_date = position.exit_price = position.realized_pnl_usd = None
    session.flush()
    return position


def position_history(session: Session, position_id: int) -> pd.DataFrame:
    """Every recorded change of the position, oldest first."""
    _position(session, position_id)
    rows = session.scalars(
        select(PositionHistory)
        .where(PositionHistory.position_id == position_id)
        .order_by(PositionHistory.id)
    )
    return pd.DataFrame(
        [{c: getattr(r, c) for c in HISTORY_COLUMNS} for r in rows], columns=list(HISTORY_COLUMNS)
    )
