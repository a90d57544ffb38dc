"""The store: loads engine inputs from the database and saves results idempotently.

Writes are dialect-aware upserts (``INSERT ... ON CONFLICT``) that behave the
same on SQLite and PostgreSQL, so a rerun replaces rows instead of duplicating
them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, Integer, Table, delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import (
    Base,
    FactorDefinition,
    MarketPrice,
    Portfolio,
    Position,
    PositionHistory,
    PositionTag,
    SecurityMetadata,
    Strategy,
    Tag,
    TreasuryRate,
)

EXECUTEMANY_ROWS = 5000
"""Rows per executemany call (bounds memory for very large writes)."""
IN_CHUNK = 900
"""Values per ``IN (...)`` list (under SQLite's 999 bound-parameter limit of old builds)."""


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


POSITION_COLUMNS: tuple[str, ...] = (
    "symbol", "underlying", "position_type", "quantity", "multiplier", "option_type",
    "strike", "expiry", "entry_price", "entry_date", "strategy", "tags",
)  # fmt: skip
"""Columns of :func:`load_positions` before ``sector`` and ``asset_type``."""


def load_positions(session: Session, portfolio_id: int, as_of: dt.date) -> pd.DataFrame:
    """Positions held at ``as_of``, indexed by position id, with sector and asset type.

    Held = entered on or before ``as_of`` (or no entry date) and not exited by
    then. Columns: symbol, underlying, position_type, quantity, multiplier,
    option_type, strike, expiry, entry_price, entry_date, strategy, tags (list),
    sector, asset_type. Several portfolios in one query:
    :func:`load_positions_many`.
    """
    return load_positions_many(session, [portfolio_id], as_of).drop(columns="portfolio_id")


def load_positions_many(
    session: Session, portfolio_ids: Sequence[int], as_of: dt.date
) -> pd.DataFrame:
    """:func:`load_positions` of several portfolios in one query per table.

    Returns
    -------
    DataFrame indexed by position id (ascending)
        :func:`load_positions`' columns plus ``portfolio_id``; the rows of one
        portfolio equal what :func:`load_positions` gives for it.
    """
    return load_positions_on_days(session, portfolio_ids, [as_of]).drop(columns="as_of")


def load_positions_on_days(
    session: Session, portfolio_ids: Sequence[int], days: Sequence[dt.date]
) -> pd.DataFrame:
    """:func:`load_positions_many` of each of ``days``, in one query per table.

    Parameters
    ----------
    portfolio_ids : sequence of int
    days : sequence of date
        At least one; repeats are ignored.

    Returns
    -------
    DataFrame indexed by position id, one row per (day, position held that day),
    sorted by day, then id
        :func:`load_positions_many`' columns plus ``as_of`` (the day, a date): the
        rows of one day equal :func:`load_positions_many` of that day (held that
        day, fields replayed to it from ``position_history``).
    """
    ids = sorted({int(i) for i in portfolio_ids})
    wanted = sorted(set(days))
    first, last = wanted[0], wanted[-1]
    held = (
        select(
            Position.id, Position.portfolio_id, Position.symbol, Position.underlying,
            Position.position_type, Position.quantity, Position.multiplier, Position.option_type,
            Position.strike, Position.expiry, Position.entry_price, Position.entry_date,
            Strategy.name, Position.exit_date,
        )
        .outerjoin(Strategy, Strategy.id == Position.strategy_id)
        .where(Position.entry_date.is_(None) | (Position.entry_date <= last))
        .where(Position.exit_date.is_(None) | (Position.exit_date > first))
        .order_by(Position.id)
    )  # fmt: skip
    rows: list[Any] = []
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        rows += session.execute(held.where(Position.portfolio_id.in_(chunk))).all()
    rows.sort(key=lambda r: r[0])
    base = pd.DataFrame(
        [(r[0], r[2], r[3], r[4], float(r[5]), int(r[6]), *r[7:13], [], r[1]) for r in rows],
        columns=["id", *POSITION_COLUMNS, "portfolio_id"],
    ).set_index("id")
    position_ids = [int(i) for i in base.index]
    tags: dict[int, list[str]] = {}
    for start in range(0, len(position_ids), IN_CHUNK):
        chunk = position_ids[start : start + IN_CHUNK]
        links = session.execute(
            select(PositionTag.position_id, Tag.name)
            .join(Tag, Tag.id == PositionTag.tag_id)
            .where(PositionTag.position_id.in_(chunk))
            .order_by(PositionTag.position_id, Tag.name)
        )
        for pid, name in links:
            tags.setdefault(pid, []).append(name)
    if tags:
        base["tags"] = [tags.get(pid, []) for pid in position_ids]
    meta = {
        m.symbol: m
        for m in session.scalars(
            select(SecurityMetadata).where(
                SecurityMetadata.symbol.in_(base["underlying"].unique().tolist())
            )
        )
    }
    base["sector"] = base["underlying"].map(lambda s: meta[s].sector if s in meta else None)
    base["asset_type"] = base["underlying"].map(lambda s: meta[s].asset_type if s in meta else None)
    base = base[[*POSITION_COLUMNS, "sector", "asset_type", "portfolio_id"]]
    # the (day, position) pairs held: entered on or before the day, not exited by then
    on = pd.to_datetime(pd.Series(wanted)).to_numpy()[:, None]
    entry = pd.to_datetime(pd.Series([r[11] for r in rows], dtype=object)).to_numpy()
    exit_ = pd.to_datetime(pd.Series([r[13] for r in rows], dtype=object)).to_numpy()
    is_held = (np.isnat(entry) | (entry <= on)) & (np.isnat(exit_) | (exit_ > on))
    day_of, row_of = np.nonzero(is_held)  # day-major, then position id
    frame = base.iloc[row_of].copy()
    frame["as_of"] = np.array(wanted, dtype=object)[day_of]
    _replay_history(session, frame, first)
    return frame


REPLAYED_FIELDS = {"quantity": float, "entry_price": float, "position_type": str}


def _replay_history(session: Session, frame: pd.DataFrame, since: dt.date) -> None:
    """Put back the values the positions had on their row's ``as_of`` (in place): for each
    field changed after that day, the old value of its first such change (changes after
    ``since``, the earliest ``as_of``, are read)."""
    if frame.empty:
        return
    ids = sorted(frame.index.unique().tolist())
    changes = pd.DataFrame(
        [
            tuple(change)
            for start in range(0, len(ids), IN_CHUNK)
            for change in session.execute(
                select(
                    PositionHistory.position_id, PositionHistory.field,
                    PositionHistory.effective_date, PositionHistory.old_value,
                )
                .where(
                    PositionHistory.position_id.in_(ids[start : start + IN_CHUNK]),
                    PositionHistory.effective_date > since,
                    PositionHistory.field.in_(list(REPLAYED_FIELDS)),
                )
                .order_by(PositionHistory.effective_date, PositionHistory.id)
            ).all()
        ],
        columns=["position_id", "field", "effective", "old"],
    )  # fmt: skip
    if changes.empty:
        return
    # a change is the first after day d for the days from the previous change of its
    # field (inclusive; none: any earlier day) to its own effective date (exclusive)
    changes["effective"] = pd.to_datetime(changes["effective"])
    changes["after"] = changes.groupby(["position_id", "field"])["effective"].shift()
    changed = np.flatnonzero(frame.index.isin(changes["position_id"]))
    rows = pd.DataFrame(
        {"row": changed, "position_id": frame.index.to_numpy(dtype=np.int64)[changed],
         "day": pd.to_datetime(pd.Series(frame["as_of"].to_numpy()[changed], dtype=object))}
    )  # fmt: skip
    hits = rows.merge(changes, on="position_id")
    first = (hits["day"] < hits["effective"]) & (
        hits["after"].isna() | (hits["day"] >= hits["after"])
    )
    for field, part in hits.loc[first].groupby("field"):
        cast = REPLAYED_FIELDS[str(field)]
        values = [None if pd.isna(old) else cast(old) for old in part["old"]]
        frame.iloc[part["row"].to_numpy(), frame.columns.get_loc(field)] = values


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


def result_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of ``frame`` as dicts of Python scalars, NaN / NaT as None (for bulk inserts)."""
    if frame.empty:
        return []
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def replace_results_many(
    session: Session,
    model: type[Base],
    as_of: dt.date,
    portfolio_ids: Sequence[int],
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    batch_run_id: int | None = None,
    *,
    scope: Any = None,
) -> int:
    """:func:`replace_results` of many portfolios at once: one DELETE per chunk of
    portfolio ids, then a bulk insert (:func:`bulk_insert`).

    Parameters
    ----------
    portfolio_ids : sequence of int
        The portfolios whose rows for ``as_of`` are replaced (also those with no
        row in ``rows``: their old rows are deleted).
    rows : DataFrame or sequence of mappings
        Each row carries its ``portfolio_id``; NaN is stored as NULL. A DataFrame
        (converted column by column) is the fast input.

    Everything runs in the caller's transaction: the caller commits once per
    engine (and chunk of portfolios), so a failure rolls back to the earlier
    results of those portfolios. (SQLite connections run in WAL mode with
    ``synchronous=NORMAL``: :mod:`sigmasight_lib.db.session`.)

    Returns
    -------
    int
        Rows inserted.
    """
    ids = sorted({int(i) for i in portfolio_ids})
    for start in range(0, len(ids), IN_CHUNK):
        stmt = delete(model).where(
            model.portfolio_id.in_(ids[start : start + IN_CHUNK]),  # type: ignore[attr-defined]
            model.as_of == as_of,  # type: ignore[attr-defined]
        )
        session.execute(stmt if scope is None else stmt.where(scope))
    constants = {
        "as_of": as_of,
        "batch_run_id": batch_run_id,
        "computed_at": dt.datetime.now(dt.UTC),
    }
    return bulk_insert(session, model, rows, constants=constants)


BULK_ROWS = 20_000
"""Rows converted and sent per driver call by :func:`bulk_insert` (bounds memory)."""


def bulk_insert(
    session: Session,
    model: type[Base],
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    constants: Mapping[str, Any] | None = None,
    method: str = "auto",
) -> int:
    """Insert ``rows`` into ``model``'s table through the driver's fastest bulk path,
    in the caller's transaction.

    SQLite: the DB-API cursor's ``executemany`` of one prepared ``INSERT``;
    PostgreSQL with psycopg 3: ``COPY ... FROM STDIN``; any other driver:
    SQLAlchemy's executemany. Values are converted as SQLAlchemy converts them for
    the dialect (each column type's bind processor: dates as SQLite strings, JSON
    through the column's serializer, booleans as 0/1 on SQLite); NaN / NaT / None
    are NULL. Columns of the table missing from ``rows`` and ``constants`` take
    their Python-side default (``capped=False``, ``computed_at=now``) or, without
    one, the database's.

    Parameters
    ----------
    rows : DataFrame or sequence of mappings
        Columns / keys not in the table are ignored. A DataFrame is converted
        column by column (the fast input); mappings use the first row's keys.
    constants : mapping, optional
        Column -> one value for every row (overrides a column of ``rows``).
    method : {'auto', 'sqlalchemy'}, default='auto'
        ``sqlalchemy`` forces SQLAlchemy's executemany (the reference the fast paths
        are tested against).

    Returns
    -------
    int
        Rows inserted (0 for an empty input, which sends nothing).
    """
    n = len(rows)
    if n == 0:
        return 0
    table: Table = model.__table__  # type: ignore[assignment]
    dialect = session.get_bind().dialect
    constants = dict(constants or {})
    given = list(rows.columns) if isinstance(rows, pd.DataFrame) else list(rows[0])
    varying = [c.name for c in table.columns if c.name in given and c.name not in constants]
    for column in table.columns:
        if column.name in given or column.name in constants or column.default is None:
            continue
        if column.primary_key and column.autoincrement in (True, "auto"):
            continue
        default = column.default
        if default.is_scalar:  # type: ignore[attr-defined]
            constants[column.name] = default.arg  # type: ignore[attr-defined]
        elif default.is_callable:  # type: ignore[attr-defined]
            constants[column.name] = default.arg(None)  # type: ignore[attr-defined]
    fixed = [c for c in constants if c in table.columns]
    names = varying + fixed
    if method not in ("auto", "sqlalchemy"):
        raise ValueError(f"method must be 'auto' or 'sqlalchemy', not {method!r}")
    raw = method == "auto" and (
        dialect.name == "sqlite" or (dialect.name == "postgresql" and dialect.driver == "psycopg")
    )
    # the raw paths convert as SQLAlchemy would; the fallback lets SQLAlchemy convert
    processors = {c: _bind_processor(table.columns[c], dialect) if raw else None for c in names}
    if raw and dialect.name == "postgresql":
        # COPY parses text: an integer column takes no "250.0" (a bound float8 is cast)
        for c in names:
            if isinstance(table.columns[c].type, Integer) and processors[c] is None:
                processors[c] = _as_integer
    fixed_values = []
    for c in fixed:
        value = _clean(constants[c])
        proc = processors[c]
        fixed_values.append(proc(value) if proc is not None else value)

    if raw and dialect.name == "sqlite":
        send = _sqlite_sender(session, table, names, dialect)
    elif raw:
        send = _copy_sender(session, table, names, dialect)
    else:
        send = _executemany_sender(session, table, names)
    for start in range(0, n, BULK_ROWS):
        part = (
            rows.iloc[start : start + BULK_ROWS]
            if isinstance(rows, pd.DataFrame)
            else rows[start : start + BULK_ROWS]
        )
        size = len(part)
        columns = [_column_values(part, c, table.columns[c].type, processors[c]) for c in varying]
        columns += [itertools.repeat(v, size) for v in fixed_values]
        send(list(zip(*columns, strict=False)) if columns else [()] * size)
    return n


def _as_integer(value: Any) -> Any:
    """A float for an integer column rounded as PostgreSQL casts float8 (half to even)."""
    return round(value) if isinstance(value, float) else value


def _bind_processor(column: Any, dialect: Any) -> Any:
    """The column type's bind processor for ``dialect`` (None when values pass as they are)."""
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _column_values(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], name: str, type_: Any, processor: Any
) -> list[Any]:
    """One column of ``rows`` as driver values: Python scalars, NULL for NaN / NaT / None,
    then the column type's bind processor (skipped for floats of a float column, which
    it returns unchanged)."""
    if isinstance(rows, pd.DataFrame):
        series = rows[name]
        kind = series.dtype.kind
        if kind == "f":
            values = series.to_numpy().tolist()
            if series.isna().any():
                values = [None if v != v else v for v in values]
            if isinstance(type_, Float):
                return values
        elif kind in "iub":
            values = series.to_numpy().tolist()
            if processor is _as_integer:
                return values
        else:
            values = series.astype(object).where(series.notna(), None).tolist()
            values = [v if v is None or type(v) is str else _clean(v) for v in values]
    else:
        values = [_clean(r.get(name)) for r in rows]
    if processor is None:
        return values
    return [processor(v) for v in values]


def _dbapi_error(sql: str, exc: Exception, dialect: Any) -> DBAPIError:
    """The driver's error as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``...),
    so that callers (``session_scope``) see the same exceptions on every path."""
    return DBAPIError.instance(sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect)


def _sqlite_sender(session: Session, table: Table, names: list[str], dialect: Any) -> Any:
    quote = dialect.identifier_preparer.quote
    sql = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(c) for c in names)}) VALUES ({', '.join('?' * len(names))})"
    )
    connection = session.connection().connection  # the DB-API connection, same transaction

    def send(batch: list[tuple]) -> None:
        cursor = connection.cursor()
        try:
            cursor.executemany(sql, batch)
        except dialect.loaded_dbapi.Error as exc:
            raise _dbapi_error(sql, exc, dialect) from exc
        finally:
            cursor.close()

    return send


def _copy_sender(session: Session, table: Table, names: list[str], dialect: Any) -> Any:
    quote = dialect.identifier_preparer.quote
    sql = (
        f"COPY {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(c) for c in names)}) FROM STDIN"
    )
    connection = session.connection().connection

    def send(batch: list[tuple]) -> None:
        cursor = connection.cursor()
        try:
            with cursor.copy(sql) as copy:
                for row in batch:
                    copy.write_row(row)
        except dialect.loaded_dbapi.Error as exc:
            raise _dbapi_error(sql, exc, dialect) from exc
        finally:
            cursor.close()

    return send


def _executemany_sender(session: Session, table: Table, names: list[str]) -> Any:
    stmt = insert(table)

    def send(batch: list[tuple]) -> None:
        session.execute(stmt, [dict(zip(names, row, strict=True)) for row in batch])

    return send
