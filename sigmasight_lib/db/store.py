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

import numpy as np
import pandas as pd
from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import (
    Base,
    FactorDefinition,
    MarketPrice,
    Portfolio,
    Position,
    PositionHistory,
    SecurityMetadata,
    TreasuryRate,
)

EXECUTEMANY_ROWS = 5000
"""Rows per executemany call (bounds memory for very large writes)."""


def _clean(value: Any) -> Any:
    """NaN / NaT → None (stored as NULL); NumPy scalars → Python scalars."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
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
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    records = [{k: _clean(v) for k, v in r.items()} for r in rows]
    stmt = insert_for(table)
    columns = [c for c in records[0] if c not in key]
    if update and columns:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(key), set_={c: stmt.excluded[c] for c in columns}
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    # one statement, executemany: SQLAlchemy batches it ("insertmanyvalues") and
    # compiles it once, whatever the number of rows
    for start in range(0, len(records), EXECUTEMANY_ROWS):
        session.execute(stmt, records[start : start + EXECUTEMANY_ROWS])
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


# --------------------------------------------------------------------------- engine inputs


def load_positions(
    session: Session, portfolio_id: int | Sequence[int], as_of: dt.date
) -> pd.DataFrame:
    """Positions held at ``as_of``, indexed by position id, with sector and asset type.

    Held = entered on or before ``as_of`` (or no entry date) and not exited by
    then. Columns: symbol, underlying, position_type, quantity, multiplier,
    option_type, strike, expiry, entry_price, entry_date, strategy, tags (list),
    sector, asset_type. With a sequence of portfolio ids: every listed
    portfolio's positions in one query, plus a ``portfolio_id`` column, ordered
    by portfolio (in the order given), then position id.
    """
    from sqlalchemy.orm import selectinload

    many = None if isinstance(portfolio_id, int | np.integer) else list(portfolio_id)
    stmt = (
        select(Position)
        .where(
            Position.portfolio_id == portfolio_id
            if many is None
            else Position.portfolio_id.in_(list(many))
        )
        .where(Position.entry_date.is_(None) | (Position.entry_date <= as_of))
        .where(Position.exit_date.is_(None) | (Position.exit_date > as_of))
        .options(selectinload(Position.tags), selectinload(Position.strategy))
        .order_by(Position.id)
    )
    rows = [
        {
            "id": p.id,
            "symbol": p.symbol,
            "underlying": p.underlying,
            "position_type": p.position_type,
            "quantity": float(p.quantity),
            "multiplier": int(p.multiplier),
            "option_type": p.option_type,
            "strike": p.strike,
            "expiry": p.expiry,
            "entry_price": p.entry_price,
            "entry_date": p.entry_date,
            "strategy": p.strategy.name if p.strategy else None,
            "tags": [t.name for t in p.tags],
            "portfolio_id": p.portfolio_id,
        }
        for p in session.scalars(stmt)
    ]
    columns = [
        "id", "symbol", "underlying", "position_type", "quantity", "multiplier", "option_type",
        "strike", "expiry", "entry_price", "entry_date", "strategy", "tags",
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=[*columns, "portfolio_id"]).set_index("id")
    if many is None:
        frame = frame.drop(columns="portfolio_id")
    else:
        rank = frame["portfolio_id"].map({pid: k for k, pid in enumerate(many)})
        frame = frame.iloc[np.argsort(rank.to_numpy(), kind="stable")]
    _replay_history(session, frame, as_of)
    meta = {
        m.symbol: m
        for m in session.scalars(
            select(SecurityMetadata).where(
                SecurityMetadata.symbol.in_(frame["underlying"].unique().tolist())
            )
        )
    }
    frame["sector"] = frame["underlying"].map(lambda s: meta[s].sector if s in meta else None)
    frame["asset_type"] = frame["underlying"].map(
        lambda s: meta[s].asset_type if s in meta else None
    )
    return frame


REPLAYED_FIELDS = {"quantity": float, "entry_price": float, "position_type": str}


IN_CHUNK = 5000
"""Most ids bound in one ``IN`` clause (SQLite limits a statement's parameters)."""


def _replay_history(session: Session, frame: pd.DataFrame, as_of: dt.date) -> None:
    """Put back the values positions had at ``as_of``: for each field changed after
    ``as_of``, the old value of its first such change (in place)."""
    if frame.empty:
        return
    ids = [int(i) for i in frame.index]
    changes = [
        change
        for start in range(0, len(ids), IN_CHUNK)  # positions are independent: chunk the ids
        for change in session.execute(
            select(PositionHistory.position_id, PositionHistory.field, PositionHistory.old_value)
            .where(
                PositionHistory.position_id.in_(ids[start : start + IN_CHUNK]),
                PositionHistory.effective_date > as_of,
                PositionHistory.field.in_(list(REPLAYED_FIELDS)),
            )
            .order_by(PositionHistory.effective_date, PositionHistory.id)
        ).all()
    ]
    seen: set[tuple[int, str]] = set()
    for pid, field, old in changes:
        if (pid, field) in seen:
            continue
        seen.add((pid, field))
        frame.at[pid, field] = None if old is None else REPLAYED_FIELDS[field](old)


def load_price_table(
    session: Session, symbols: Iterable[str], start: dt.date, end: dt.date
) -> pd.DataFrame:
    """Cached bars of ``symbols`` in ``[start, end]``, long format (date, symbol, close,
    adj_close, total_return)."""
    stmt = select(
        MarketPrice.date, MarketPrice.symbol, MarketPrice.close, MarketPrice.adj_close,
        MarketPrice.total_return,
    ).where(MarketPrice.symbol.in_(sorted(set(symbols))), MarketPrice.date >= start, MarketPrice.date <= end)  # fmt: skip
    table = pd.DataFrame(
        session.execute(stmt).all(),
        columns=["date", "symbol", "close", "adj_close", "total_return"],
    )
    numeric = ["close", "adj_close", "total_return"]
    table[numeric] = table[numeric].astype(float)  # all-NULL columns come back as object
    return table


def price_levels(table: pd.DataFrame) -> pd.DataFrame:
    """Wide frame (Timestamp dates × symbols) of the traded price: close, else adjusted close."""
    if table.empty:
        return pd.DataFrame()
    level = table["close"].fillna(table["adj_close"])
    wide = table.assign(level=level).pivot(index="date", columns="symbol", values="level")
    wide.index = pd.to_datetime(wide.index)
    return wide.sort_index().astype(float)


def daily_returns(table: pd.DataFrame) -> pd.DataFrame:
    """Wide frame of daily simple returns (decimal) per symbol.

    A symbol's published total return is used as is; otherwise the change of
    its adjusted close (else close) from its previous observation. The first
    observation of each symbol has no return (NaN).
    """
    if table.empty:
        return pd.DataFrame()
    table = table.sort_values(["symbol", "date"])
    level = table["adj_close"].fillna(table["close"])
    from_level = level.groupby(table["symbol"]).pct_change(fill_method=None)
    ret = table["total_return"].where(table["total_return"].notna(), from_level)
    wide = table.assign(ret=ret).pivot(index="date", columns="symbol", values="ret")
    wide.index = pd.to_datetime(wide.index)
    return wide.sort_index().astype(float)


def load_treasury_curves(session: Session, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Treasury yields (decimal) in ``[start, end]``: Timestamp dates × tenors."""
    rows = session.execute(
        select(TreasuryRate.date, TreasuryRate.tenor, TreasuryRate.yield_rate).where(
            TreasuryRate.date >= start, TreasuryRate.date <= end
        )
    ).all()
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows, columns=["date", "tenor", "yield_rate"])
    wide = frame.pivot(index="date", columns="tenor", values="yield_rate")
    wide.index = pd.to_datetime(wide.index)
    return wide.sort_index().astype(float)


def load_last_observations(
    session: Session, symbols: Iterable[str], end: dt.date
) -> dict[str, dt.date]:
    """Date of the last cached observation on or before ``end`` of each symbol and of
    each treasury tenor (keyed ``UST:<tenor>``, as factor proxies name them).

    Lets an engine that loads a window say how stale a series is even when the
    window holds none of it. Symbols with no cached row are absent.
    """
    prices = session.execute(
        select(MarketPrice.symbol, func.max(MarketPrice.date))
        .where(MarketPrice.symbol.in_(sorted(set(symbols))), MarketPrice.date <= end)
        .group_by(MarketPrice.symbol)
    ).all()
    tenors = session.execute(
        select(TreasuryRate.tenor, func.max(TreasuryRate.date))
        .where(TreasuryRate.date <= end, TreasuryRate.yield_rate.is_not(None))
        .group_by(TreasuryRate.tenor)
    ).all()
    return {**{s: d for s, d in prices}, **{f"UST:{t}": d for t, d in tenors}}


def replace_results(
    session: Session,
    model: type[Base],
    *,
    portfolio_id: int,
    as_of: dt.date,
    rows: Sequence[Mapping[str, Any]],
    batch_run_id: int | None = None,
    scope: Any = None,
) -> int:
    """Replace ``model``'s rows for (portfolio, as-of) with ``rows`` in the open transaction.

    Deleting then inserting inside the caller's transaction means a rerun
    leaves exactly the new rows (also for positions that disappeared), and a
    failure rolls back to the earlier results. ``scope`` (a SQL condition, e.g.
    ``StressResult.scenario_id.in_(...)``) narrows what is replaced: rows outside
    it are kept.
    """
    stmt = delete(model).where(model.portfolio_id == portfolio_id, model.as_of == as_of)  # type: ignore[attr-defined]
    if scope is not None:
        stmt = stmt.where(scope)
    session.execute(stmt)
    now = dt.datetime.now(dt.UTC)
    records = [
        {
            **{k: _clean(v) for k, v in row.items()},
            "portfolio_id": portfolio_id,
            "as_of": as_of,
            "batch_run_id": batch_run_id,
            "computed_at": now,
        }
        for row in rows
    ]
    for start in range(0, len(records), EXECUTEMANY_ROWS):
        session.execute(insert(model), records[start : start + EXECUTEMANY_ROWS])
    return len(records)
