"""The store: loads engine inputs from the database and saves results idempotently.

Writes are dialect-aware upserts (``INSERT ... ON CONFLICT``) that behave the
same on SQLite and PostgreSQL, so a rerun replaces rows instead of duplicating
them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import (
    Base,
    FactorDefinition,
    MarketPrice,
    Portfolio,
    Position,
    SecurityMetadata,
    TreasuryRate,
)

CHUNK_ROWS = 500
"""Rows per INSERT statement (keeps SQLite under its bound-parameter limit)."""


def _clean(value: Any) -> Any:
    """NaN / NaT → None so that missing values are stored as NULL."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT:
        return None
    return value


def upsert(
    session: Session,
    model: type[Base],
    rows: Sequence[Mapping[str, Any]],
    key: Sequence[str],
    *,
    update: bool = True,
) -> int:
    """Insert ``rows`` into ``model``'s table; on a ``key`` conflict update (or skip).

    Parameters
    ----------
    key : sequence of str
        Columns of a unique constraint or primary key.
    update : bool, default=True
        Replace the non-key columns of existing rows; with False existing rows
        are left untouched (``ON CONFLICT DO NOTHING``).

    Returns
    -------
    int
        Number of rows sent (inserted or updated).
    """
    if not rows:
        return 0
    table: Table = model.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = [{k: _clean(v) for k, v in r.items()} for r in rows[start : start + CHUNK_ROWS]]
        stmt = insert(table).values(chunk)
        columns = [c for c in chunk[0] if c not in key]
        if update and columns:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(key),
                set_={c: stmt.excluded[c] for c in columns},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
        session.execute(stmt)
    return len(rows)


# --------------------------------------------------------------------------- market data


def save_prices(session: Session, prices: pd.DataFrame, provider: str) -> int:
    """Cache provider prices (:data:`~sigmasight_lib.marketdata.base.PRICE_COLUMNS`).

    Rows already cached for (symbol, date) are kept as they are: a sync only
    adds what is missing.
    """
    if prices.empty:
        return 0
    fetched_at = dt.datetime.now(dt.UTC)
    records = [
        {**rec, "provider": provider, "fetched_at": fetched_at}
        for rec in prices.to_dict(orient="records")
    ]
    return upsert(session, MarketPrice, records, key=("symbol", "date"), update=False)


def save_rates(session: Session, rates: pd.DataFrame, provider: str) -> int:
    """Cache treasury curve points; existing (date, tenor) rows are kept."""
    if rates.empty:
        return 0
    records = [{**rec, "provider": provider} for rec in rates.to_dict(orient="records")]
    return upsert(session, TreasuryRate, records, key=("date", "tenor"), update=False)


def save_metadata(session: Session, metadata: pd.DataFrame, provider: str) -> int:
    """Insert or refresh security metadata rows."""
    if metadata.empty:
        return 0
    now = dt.datetime.now(dt.UTC)
    records = [
        {**rec, "provider": provider, "updated_at": now}
        for rec in metadata.to_dict(orient="records")
    ]
    return upsert(session, SecurityMetadata, records, key=("symbol",))


def load_price_dates(
    session: Session, symbols: Iterable[str], start: dt.date, end: dt.date
) -> dict[str, set[dt.date]]:
    """Cached price dates per symbol in ``[start, end]`` (symbols without rows map to ∅)."""
    wanted = sorted(set(symbols))
    found: dict[str, set[dt.date]] = {s: set() for s in wanted}
    if not wanted:
        return found
    stmt = select(MarketPrice.symbol, MarketPrice.date).where(
        MarketPrice.symbol.in_(wanted), MarketPrice.date >= start, MarketPrice.date <= end
    )
    for symbol, day in session.execute(stmt):
        found[symbol].add(day)
    return found


def load_rate_dates(session: Session, start: dt.date, end: dt.date, tenor: str) -> set[dt.date]:
    """Dates in ``[start, end]`` with a cached treasury point at ``tenor``."""
    stmt = select(TreasuryRate.date).where(
        TreasuryRate.tenor == tenor, TreasuryRate.date >= start, TreasuryRate.date <= end
    )
    return set(session.scalars(stmt))


def load_metadata_symbols(session: Session) -> set[str]:
    return set(session.scalars(select(SecurityMetadata.symbol)))


def load_position_underlyings(
    session: Session, portfolio_ids: Iterable[int] | None = None
) -> set[str]:
    """Every underlying held (stocks/ETFs and the underlyings of options)."""
    stmt = select(Position.underlying).distinct()
    if portfolio_ids is not None:
        stmt = stmt.where(Position.portfolio_id.in_(list(portfolio_ids)))
    return set(session.scalars(stmt))


def load_factor_definitions(session: Session, active_only: bool = True) -> list[FactorDefinition]:
    stmt = select(FactorDefinition).order_by(FactorDefinition.display_order, FactorDefinition.name)
    if active_only:
        stmt = stmt.where(FactorDefinition.active.is_(True))
    return list(session.scalars(stmt))


def load_portfolios(session: Session) -> list[Portfolio]:
    return list(session.scalars(select(Portfolio).order_by(Portfolio.id)))
