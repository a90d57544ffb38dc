"""Store and remove synthetic portfolios in bulk (``sigmasight demo synthetic``).

Writes go through SQLAlchemy Core ``insert`` with executemany (one statement per
table, batched by the driver), not per-row ORM adds: 1,000 portfolios of 50
positions take a few seconds on SQLite and PostgreSQL. Removal deletes by
``portfolios.synthetic`` with one ``DELETE ... WHERE ... IN (subquery)`` per table,
children first, and never touches a portfolio that is not synthetic.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import (
    BatchJob,
    BatchRun,
    ModelingSession,
    Owner,
    Portfolio,
    Position,
    PositionHistory,
    PositionTag,
    ResultMixin,
    Strategy,
    Tag,
    utcnow,
)
from sigmasight_lib.exceptions import SigmaSightError
from sigmasight_lib.portfolios.service import slugify
from sigmasight_lib.portfolios.synthetic import SyntheticPortfolio

SOURCE = "synthetic"
"""``portfolios.source`` of synthetic portfolios (``portfolios.synthetic`` is true too)."""


class SyntheticPortfoliosExistError(SigmaSightError, RuntimeError):
    """Synthetic portfolios of other parameters exist; ``--replace`` or ``--remove`` first."""


@dataclass(frozen=True)
class SyntheticSummary:
    """What a create or remove did (counts of rows)."""

    portfolios: int
    positions: int
    owners: int = 0
    unchanged: bool = False
    """True when the stored synthetic portfolios already were the requested ones."""

    def to_dict(self) -> dict:
        return asdict(self)


def _synthetic_ids():  # noqa: ANN202 (a select)
    return select(Portfolio.id).where(Portfolio.synthetic.is_(True))


def count_synthetic(session: Session) -> tuple[int, int]:
    """(synthetic portfolios, their positions)."""
    portfolios = session.scalar(select(func.count()).where(Portfolio.synthetic.is_(True)))
    positions = session.scalar(
        select(func.count()).where(Position.portfolio_id.in_(_synthetic_ids()))
    )
    return int(portfolios or 0), int(positions or 0)


def _stored_content(session: Session) -> list[tuple]:
    """Every stored synthetic position as (portfolio name, owner, symbol, quantity,
    entry price, entry date), sorted: what :func:`_generated_content` is compared with."""
    stmt = (
        select(
            Portfolio.name,
            Owner.email,
            Portfolio.description,
            Position.symbol,
            Position.quantity,
            Position.entry_price,
            Position.entry_date,
        )
        .join(Owner, Owner.id == Portfolio.owner_id)
        .join(Position, Position.portfolio_id == Portfolio.id, isouter=True)
        .where(Portfolio.synthetic.is_(True))
    )
    rows = [
        (name, email, desc, sym, q, None if p is None else round(p, 8), d)
        for name, email, desc, sym, q, p, d in session.execute(stmt)
    ]
    return sorted(rows, key=_sort_key)


def _generated_content(portfolios: Sequence[SyntheticPortfolio]) -> list[tuple]:
    rows = [
        (p.name, p.owner_email, p.description, s.symbol, s.quantity, round(s.entry_price, 8),
         s.entry_date)
        for p in portfolios
        for s in p.positions
    ]  # fmt: skip
    return sorted(rows, key=_sort_key)


def _sort_key(row: tuple) -> tuple:
    return tuple("" if v is None else str(v) for v in row)


def save_synthetic(
    session: Session, portfolios: Sequence[SyntheticPortfolio], *, replace: bool = False
) -> SyntheticSummary:
    """Store ``portfolios`` as the synthetic set, in bulk.

    When synthetic portfolios exist already: identical ones (same names, owners and
    positions) are left as they are with their results (``unchanged=True``); others
    are removed first with ``replace=True`` (:func:`remove_synthetic`), else refused.

    Raises
    ------
    SyntheticPortfoliosExistError
        Different synthetic portfolios exist and ``replace`` is False.
    SigmaSightError
        A portfolio slug is taken by a portfolio that is not synthetic.
    """
    stored, stored_positions = count_synthetic(session)
    if stored:
        if _stored_content(session) == _generated_content(portfolios):
            return SyntheticSummary(len(portfolios), stored_positions, unchanged=True)
        if not replace:
            raise SyntheticPortfoliosExistError(
                f"{stored} synthetic portfolios ({stored_positions} positions) from other "
                "arguments exist: pass --replace to remove them and create the new set, or "
                "remove them with `sigmasight demo synthetic --remove`"
            )
        remove_synthetic(session)
    return _insert(session, portfolios)


def _ids_by(session: Session, key: Any, id_column: Any, values: Sequence[Any]) -> dict[Any, int]:
    """``key`` value → id of the rows whose ``key`` is in ``values`` (in chunks)."""
    return {
        k: i
        for chunk in _chunks(list(values))
        for k, i in session.execute(select(key, id_column).where(key.in_(chunk)))
    }


def _insert(session: Session, portfolios: Sequence[SyntheticPortfolio]) -> SyntheticSummary:
    now = utcnow()
    conn = session.connection()
    slugs = [slugify(p.name) for p in portfolios]
    taken = _ids_by(session, Portfolio.slug, Portfolio.id, slugs)
    if taken:
        slug, pid = min(taken.items())
        raise SigmaSightError(
            f"portfolio slug {slug!r} is taken by portfolio {pid}, which is not synthetic: "
            "rename that portfolio before creating synthetic ones"
        )

    emails = [p.owner_email for p in portfolios]
    owner_ids = _ids_by(session, Owner.email, Owner.id, emails)
    new_owners = [
        {"email": e, "name": p.name + " owner", "created_at": now}
        for e, p in zip(emails, portfolios, strict=True)
        if e not in owner_ids
    ]
    if new_owners:
        conn.execute(insert(Owner), new_owners)
        owner_ids.update(_ids_by(session, Owner.email, Owner.id, [o["email"] for o in new_owners]))

    portfolio_rows = [
        {
            "owner_id": owner_ids[p.owner_email],
            "name": p.name,
            "slug": slug,
            "description": p.description,
            "currency": "USD",
            "source": SOURCE,
            "synthetic": True,
            "positions_changed_at": now,
            "created_at": now,
        }
        for p, slug in zip(portfolios, slugs, strict=True)
    ]
    conn.execute(insert(Portfolio), portfolio_rows)
    id_of_slug = _ids_by(session, Portfolio.slug, Portfolio.id, slugs)
    portfolio_ids = [id_of_slug[slug] for slug in slugs]

    # the tags of each owner (a reused owner may have some already)
    wanted = {
        (owner_ids[p.owner_email], t) for p in portfolios for s in p.positions for t in s.tags
    }
    tag_ids = {
        (oid, name): tid
        for oid, name, tid in session.execute(
            select(Tag.owner_id, Tag.name, Tag.id).where(
                Tag.owner_id.in_({oid for oid, _ in wanted})
            )
        )
    }
    new_tags = [
        {"owner_id": oid, "name": name, "name_key": name.casefold(), "created_at": now}
        for oid, name in sorted(wanted - tag_ids.keys())
    ]
    if new_tags:
        conn.execute(insert(Tag), new_tags)
        tag_ids.update(
            ((oid, name), tid)
            for chunk in _chunks(sorted({t["owner_id"] for t in new_tags}))
            for oid, name, tid in session.execute(
                select(Tag.owner_id, Tag.name, Tag.id).where(Tag.owner_id.in_(chunk))
            )
        )

    # rows are inserted without RETURNING and their ids read back: RETURNING in
    # parameter order costs one statement per row on SQLite and is 4x slower on PostgreSQL;
    # a position's tags depend only on its portfolio and symbol
    position_rows: list[dict] = []
    tags_of: dict[tuple[int, str], list[int]] = {}
    for p, pid in zip(portfolios, portfolio_ids, strict=True):
        oid = owner_ids[p.owner_email]
        for s in p.positions:
            position_rows.append(
                {
                    "portfolio_id": pid,
                    "symbol": s.symbol,
                    "underlying": s.underlying,
                    "position_type": s.position_type.value,
                    "quantity": s.quantity,
                    "entry_price": s.entry_price,
                    "entry_date": s.entry_date,
                    "option_type": s.option_type,
                    "strike": s.strike,
                    "expiry": s.expiry,
                    "multiplier": s.multiplier,
                    "created_at": now,
                }
            )
            tids = [tag_ids[(oid, t)] for t in s.tags]
            if tags_of.setdefault((pid, s.symbol), tids) != tids:
                raise ValueError(f"{p.name}: lots of {s.symbol} with different tags")
    conn.execute(insert(Position), position_rows)
    links = [
        {"position_id": pos_id, "tag_id": tid}
        for chunk in _chunks(portfolio_ids)
        for pos_id, pid, symbol in session.execute(
            select(Position.id, Position.portfolio_id, Position.symbol).where(
                Position.portfolio_id.in_(chunk)
            )
        )
        for tid in tags_of[(pid, symbol)]
    ]
    if links:
        conn.execute(insert(PositionTag), links)
    return SyntheticSummary(len(portfolio_ids), len(position_rows), len(new_owners))


def remove_synthetic(session: Session) -> SyntheticSummary:
    """Delete every synthetic portfolio and all that hangs off it, in bulk.

    Result rows of every engine table, batch jobs (and batch runs left without
    jobs that only ran synthetic portfolios), modeling sessions, position history,
    tag links, positions, strategies, the portfolios, and then their owners when they
    own nothing else (with the owners' tags). Portfolios that are not synthetic and
    their rows are never touched.
    """
    n_portfolios, n_positions = count_synthetic(session)
    if not n_portfolios:
        return SyntheticSummary(0, 0)
    conn = session.connection()
    synthetic = _synthetic_ids().scalar_subquery()
    positions = select(Position.id).where(Position.portfolio_id.in_(synthetic)).scalar_subquery()
    owner_ids = set(
        session.scalars(select(Portfolio.owner_id).where(Portfolio.synthetic.is_(True)).distinct())
    )
    run_ids = set(
        session.scalars(
            select(BatchJob.batch_run_id).where(BatchJob.portfolio_id.in_(synthetic)).distinct()
        )
    )
    for model in _result_models():
        conn.execute(delete(model).where(model.portfolio_id.in_(synthetic)))
    conn.execute(delete(PositionHistory).where(PositionHistory.position_id.in_(positions)))
    conn.execute(delete(PositionTag).where(PositionTag.position_id.in_(positions)))
    conn.execute(delete(BatchJob).where(BatchJob.portfolio_id.in_(synthetic)))
    conn.execute(delete(ModelingSession).where(ModelingSession.portfolio_id.in_(synthetic)))
    conn.execute(delete(Position).where(Position.portfolio_id.in_(synthetic)))
    conn.execute(delete(Strategy).where(Strategy.portfolio_id.in_(synthetic)))
    conn.execute(delete(Portfolio).where(Portfolio.synthetic.is_(True)))
    for chunk in _chunks(sorted(run_ids)):
        conn.execute(
            delete(BatchRun).where(
                BatchRun.id.in_(chunk), ~exists().where(BatchJob.batch_run_id == BatchRun.id)
            )
        )
    orphans = [
        oid
        for chunk in _chunks(sorted(owner_ids))
        for oid in session.scalars(
            select(Owner.id).where(
                Owner.id.in_(chunk), ~exists().where(Portfolio.owner_id == Owner.id)
            )
        )
    ]
    for chunk in _chunks(orphans):
        conn.execute(delete(Tag).where(Tag.owner_id.in_(chunk)))
        conn.execute(delete(Owner).where(Owner.id.in_(chunk)))
    session.expire_all()
    return SyntheticSummary(n_portfolios, n_positions, len(orphans))


def _result_models() -> list[type]:
    """Every engine result table (the :class:`ResultMixin` models)."""
    return [m.class_ for m in Portfolio.registry.mappers if issubclass(m.class_, ResultMixin)]


def _chunks(items: Sequence, size: int = 500) -> list[Sequence]:
    """``items`` in slices of ``size`` (bounded ``IN`` lists)."""
    return [items[i : i + size] for i in range(0, len(items), size)]
