"""What-if modeling sessions: a base portfolio plus hypothetical trades.

Sessions live in the ``modeling_sessions`` table and survive restarts. A trade
is a JSON object ``{"id", "symbol", "quantity", "price", "added_at"}``:
``symbol`` a ticker or compact OCC option symbol, ``quantity`` signed
(shares, or contracts for options; negative = sell), ``price`` optional (a
limit price per share; None = market). Trade ids are stable within a session:
removing a trade never renumbers the others (a new trade gets the highest id
so far + 1).

Trades are validated like the rows of a positions CSV: the same parsers and
the same reasons (``not a number``, ``must not be zero``, ``invalid OCC option
symbol: ...``, ``must be a whole number of option contracts``), raised as an
:class:`~sigmasight_lib.exceptions.ImportValidationError` whose ``issues`` are
:class:`~sigmasight_lib.portfolios.csv_import.ImportIssue` (without a row).
A trade whose underlying has no cached market data is rejected with the reason.

Status: ``open`` (trades can change) or ``saved`` (frozen by :func:`save_session`
with the as-of date and batch run id of its impacts).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import BatchJob, BatchRun, MarketPrice, ModelingSession
from sigmasight_lib.exceptions import ImportValidationError, NotFoundError, SigmaSightError
from sigmasight_lib.portfolios.csv_import import (
    ImportIssue,
    _InvalidValue,
    _parse_entry_price,
    _parse_quantity,
    _parse_symbol,
)
from sigmasight_lib.portfolios.limits import text_problem
from sigmasight_lib.portfolios.occ import OccContract
from sigmasight_lib.portfolios.positions import PositionSpec, make_position_spec
from sigmasight_lib.portfolios.service import find_portfolio

STATUS_OPEN = "open"
STATUS_SAVED = "saved"

NO_DATA_REASON = "no market data for {underlying} in the cache (run `sigmasight market-data sync`)"
"""Reason of a trade whose underlying has no cached prices at all."""


class SessionFrozenError(SigmaSightError, ValueError):
    """A saved session's trades cannot change."""


# --------------------------------------------------------------------------- validation


def _text(value: Any) -> str:
    """A cell as the CSV parser would see it (numbers written out in full)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return format(float(value), "f") if math.isfinite(value) else str(value)
    return "" if value is None else str(value).strip()


def validate_trade(
    symbol: Any, quantity: Any, price: Any = None
) -> tuple[PositionSpec, float | None]:
    """Check one trade like a CSV row: ``(position spec, price)``.

    Raises
    ------
    ImportValidationError
        With one :class:`ImportIssue` per bad field (reasons as in CSV import).
    """
    issues: list[ImportIssue] = []
    cells = {"symbol": _text(symbol), "quantity": _text(quantity), "price": _text(price)}

    def parse(name: str, parser: Any, required: bool = True) -> Any:
        value = cells[name]
        if not value:
            if required:
                issues.append(ImportIssue(None, name, value, "required value is empty"))
            return None
        try:
            return parser(value)
        except _InvalidValue as exc:
            issues.append(ImportIssue(None, name, value, str(exc)))
            return None

    contract = parse("symbol", _parse_symbol)
    qty = parse("quantity", _parse_quantity)
    limit = parse("price", _parse_entry_price, required=False)
    if isinstance(contract, OccContract) and qty is not None and not float(qty).is_integer():
        issues.append(
            ImportIssue(
                None, "quantity", cells["quantity"], "must be a whole number of option contracts"
            )
        )
    if issues:
        detail = "; ".join(str(i) for i in issues)
        raise ImportValidationError(f"invalid trade: {detail}", issues)
    assert contract is not None and qty is not None
    text = contract.compact if isinstance(contract, OccContract) else contract
    return make_position_spec(text, qty, entry_price=limit), limit


def trade_spec(trade: Mapping[str, Any]) -> PositionSpec:
    """The position a stored trade describes (its quantity signed, price as entry price)."""
    return validate_trade(trade["symbol"], trade["quantity"], trade.get("price"))[0]


def missing_data_reasons(session: Session, underlyings: list[str]) -> dict[str, str]:
    """Underlying → reason, for each underlying without any cached price."""
    present = set(
        session.scalars(
            select(MarketPrice.symbol).where(MarketPrice.symbol.in_(underlyings)).distinct()
        )
    )
    return {u: NO_DATA_REASON.format(underlying=u) for u in underlyings if u not in present}


# --------------------------------------------------------------------------- lookups


def get_session(
    session: Session, ref: str | int, portfolio: str | int | None = None
) -> ModelingSession:
    """A modeling session by id or name (case-insensitive), optionally within ``portfolio``.

    Raises
    ------
    NotFoundError
        Nothing matches, or a name matches sessions of several portfolios.
    """
    text = str(ref).strip()
    if text.isdigit():
        found = session.get(ModelingSession, int(text))
        if found is not None:
            return found
    stmt = select(ModelingSession).where(func.lower(ModelingSession.name) == text.lower())
    if portfolio is not None:
        stmt = stmt.where(ModelingSession.portfolio_id == find_portfolio(session, portfolio).id)
    matches = list(session.scalars(stmt))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        ids = ", ".join(str(m.id) for m in matches)
        raise NotFoundError(f"modeling session name {text!r} is ambiguous (ids {ids}); use the id")
    raise NotFoundError(f"no modeling session {text!r} (see `sigmasight whatif list`)")


def session_dict(ms: ModelingSession, *, with_impacts: bool = False) -> dict[str, Any]:
    """JSON-ready description of a session (trades in id order)."""
    out: dict[str, Any] = {
        "id": ms.id,
        "name": ms.name,
        "portfolio_id": ms.portfolio_id,
        "portfolio": None,
        "status": ms.status,
        "trades": sorted((dict(t) for t in ms.trades or []), key=lambda t: t["id"]),
        "saved_as_of": ms.saved_as_of.isoformat() if ms.saved_as_of else None,
        "saved_batch_run_id": ms.saved_batch_run_id,
        "calculated_as_of": (ms.impacts or {}).get("as_of"),
        "created_at": ms.created_at.isoformat() if ms.created_at else None,
        "updated_at": ms.updated_at.isoformat() if ms.updated_at else None,
    }
    if with_impacts:
        out["impacts"] = ms.impacts
    return out


def _describe(
    session: Session, ms: ModelingSession, *, with_impacts: bool = False
) -> dict[str, Any]:
    out = session_dict(ms, with_impacts=with_impacts)
    out["portfolio"] = find_portfolio(session, ms.portfolio_id).name
    return out


# --------------------------------------------------------------------------- operations


def create_session(session: Session, portfolio: str | int, name: str) -> dict[str, Any]:
    """A new, empty, open session on ``portfolio`` (names are unique per portfolio)."""
    p = find_portfolio(session, portfolio)
    clean = name.strip()
    if not clean:
        raise ImportValidationError("invalid session name: required value is empty")
    too_long = text_problem("session_name", clean)
    if too_long is not None:
        raise ImportValidationError(f"invalid session name {clean[:40]!r}...: {too_long}")
    if clean.isdigit():
        raise ImportValidationError(
            f"invalid session name {clean!r}: must not be a number (numbers are session ids)"
        )
    exists = session.scalar(
        select(ModelingSession).where(
            ModelingSession.portfolio_id == p.id,
            func.lower(ModelingSession.name) == clean.lower(),
        )
    )
    if exists is not None:
        raise ImportValidationError(
            f"portfolio {p.name!r} already has a modeling session named {exists.name!r} (id {exists.id})"
        )
    ms = ModelingSession(portfolio_id=p.id, name=clean, status=STATUS_OPEN, trades=[])
    session.add(ms)
    session.flush()
    return _describe(session, ms)


def _check_open(ms: ModelingSession) -> None:
    if ms.status == STATUS_SAVED:
        raise SessionFrozenError(
            f"modeling session {ms.name!r} (id {ms.id}) is saved (frozen at "
            f"{ms.saved_as_of}); create a new session to change trades"
        )


def add_trade(
    session: Session, ref: str | int, symbol: Any, quantity: Any, price: Any = None
) -> dict[str, Any]:
    """Validate and append a trade; returns the stored trade (with its id).

    Clears the session's stored impacts (they no longer match its trades).
    """
    ms = get_session(session, ref)
    _check_open(ms)
    spec, limit = validate_trade(symbol, quantity, price)
    missing = missing_data_reasons(session, [spec.underlying])
    if missing:
        issue = ImportIssue(None, "symbol", _text(symbol), missing[spec.underlying])
        raise ImportValidationError(f"invalid trade: {issue}", [issue])
    trades = [dict(t) for t in ms.trades or []]
    trade = {
        "id": max((int(t["id"]) for t in trades), default=0) + 1,
        "symbol": spec.symbol,
        "quantity": spec.quantity,
        "price": limit,
        "added_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    ms.trades = [*trades, trade]  # a new list, so the JSON column is marked changed
    ms.impacts = None
    session.flush()
    return trade


def remove_trade(session: Session, ref: str | int, trade_id: int) -> dict[str, Any]:
    """Remove trade ``trade_id``; returns it. Other trades keep their ids."""
    ms = get_session(session, ref)
    _check_open(ms)
    trades = [dict(t) for t in ms.trades or []]
    kept = [t for t in trades if int(t["id"]) != int(trade_id)]
    if len(kept) == len(trades):
        ids = ", ".join(str(t["id"]) for t in trades) or "none"
        raise NotFoundError(f"session {ms.name!r} has no trade {trade_id} (trade ids: {ids})")
    removed = next(t for t in trades if int(t["id"]) == int(trade_id))
    ms.trades = kept
    ms.impacts = None
    session.flush()
    return removed


def show_session(session: Session, ref: str | int) -> dict[str, Any]:
    """The session with its trades and its last calculated impacts (None if stale)."""
    return _describe(session, get_session(session, ref), with_impacts=True)


def list_sessions(session: Session, portfolio: str | int | None = None) -> list[dict[str, Any]]:
    """Every session (optionally of one portfolio), in id order, without impacts."""
    stmt = select(ModelingSession).order_by(ModelingSession.id)
    if portfolio is not None:
        stmt = stmt.where(ModelingSession.portfolio_id == find_portfolio(session, portfolio).id)
    names: dict[int, str] = {}
    out = []
    for ms in session.scalars(stmt):
        if ms.portfolio_id not in names:
            names[ms.portfolio_id] = find_portfolio(session, ms.portfolio_id).name
        row = session_dict(ms)
        row["portfolio"] = names[ms.portfolio_id]
        row["trade_count"] = len(row.pop("trades"))
        out.append(row)
    return out


def latest_batch_run_id(session: Session, portfolio_id: int, as_of: dt.date) -> int | None:
    """The latest succeeded / partial batch run for ``as_of`` with a job for the portfolio."""
    return session.scalar(
        select(BatchRun.id)
        .join(BatchJob, BatchJob.batch_run_id == BatchRun.id)
        .where(
            BatchRun.as_of == as_of,
            BatchRun.status.in_(["succeeded", "partial"]),
            BatchJob.portfolio_id == portfolio_id,
        )
        .order_by(BatchRun.id.desc())
        .limit(1)
    )


def freeze_session(
    session: Session, ref: str | int, impacts: Mapping[str, Any], batch_run_id: int | None
) -> dict[str, Any]:
    """Store ``impacts`` and mark the session saved at their as-of date and ``batch_run_id``."""
    ms = get_session(session, ref)
    ms.impacts = dict(impacts)
    ms.status = STATUS_SAVED
    ms.saved_as_of = dt.date.fromisoformat(impacts["as_of"])
    ms.saved_batch_run_id = batch_run_id
    session.flush()
    return _describe(session, ms, with_impacts=True)
