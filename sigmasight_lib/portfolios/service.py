"""Portfolio persistence: owners, portfolios, positions, tags and strategies.

:func:`write_portfolio` is the one place positions are written: demo seeding
and CSV import both call it, and it reconciles instead of appending, so running
the same seed or import twice leaves the database as after the first run.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from sigmasight_lib.db.models import Owner, Portfolio, Position, Strategy, Tag
from sigmasight_lib.exceptions import NotFoundError
from sigmasight_lib.portfolios.positions import PositionSpec

POSITION_COLUMNS: tuple[str, ...] = (
    "id",
    "symbol",
    "quantity",
    "position_type",
    "underlying",
    "strike",
    "expiry",
    "option_type",
    "multiplier",
    "entry_price",
    "entry_date",
    "strategy",
    "tags",
)
"""Columns of :func:`positions_frame`."""


def slugify(text: str) -> str:
    """A file-system and URL safe slug: ``"Long/Short Hedge Fund Style"`` → ``long-short-hedge-fund-style``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug or "portfolio"


def get_or_create_owner(session: Session, email: str, name: str | None = None) -> Owner:
    email = email.strip().lower()
    owner = session.scalar(select(Owner).where(Owner.email == email))
    if owner is None:
        owner = Owner(email=email, name=name)
        session.add(owner)
        session.flush()
    elif name and owner.name != name:
        owner.name = name
    return owner


def get_or_create_tag(session: Session, owner: Owner, name: str) -> Tag:
    """The owner's tag named ``name`` (case-insensitive match), created if absent.

    Raises ``TagError`` for a name that breaks the tag rules.
    """
    from sigmasight_lib.portfolios.tags import validate_tag_name

    name = validate_tag_name(name)
    key = name.casefold()
    tag = session.scalar(select(Tag).where(Tag.owner_id == owner.id, Tag.name_key == key))
    if tag is None:
        tag = Tag(owner_id=owner.id, name=name.strip(), name_key=key)
        session.add(tag)
        session.flush()
    return tag


def _unique_slug(session: Session, name: str, portfolio_id: int | None) -> str:
    base = slugify(name)
    slug, n = base, 2
    while True:
        other = session.scalar(select(Portfolio.id).where(Portfolio.slug == slug))
        if other is None or other == portfolio_id:
            return slug
        slug, n = f"{base}-{n}", n + 1


def _position_key(symbol: str, entry_date, entry_price) -> tuple:  # noqa: ANN001
    price = None if entry_price is None else round(float(entry_price), 8)
    return (symbol, entry_date, price)


@dataclass(frozen=True)
class WriteSummary:
    """What :func:`write_portfolio` changed."""

    portfolio_id: int
    created: int
    updated: int
    removed: int
    unchanged: int


def write_portfolio(
    session: Session,
    *,
    name: str,
    owner_email: str,
    positions: Sequence[PositionSpec],
    owner_name: str | None = None,
    description: str | None = None,
    strategies: Mapping[str, str] | None = None,
    source: str = "manual",
) -> WriteSummary:
    """Create or reconcile the portfolio ``name`` of ``owner_email`` to hold ``positions``.

    Positions are matched to stored ones by (symbol, entry date, entry price)
    — in order when several share a key — so ids, tags and engine results of
    unchanged positions survive; changed quantities are updated, missing
    positions created and positions no longer listed removed.

    Parameters
    ----------
    strategies : mapping of str to str, optional
        Strategy name → strategy type for the strategies ``positions`` name;
        unnamed types default to ``free_form``.
    source : str
        ``demo``, ``csv`` or ``manual``.
    """
    owner = get_or_create_owner(session, owner_email, owner_name)
    portfolio = session.scalar(
        select(Portfolio)
        .where(Portfolio.owner_id == owner.id, Portfolio.name == name)
        .options(selectinload(Portfolio.positions).selectinload(Position.tags))
    )
    if portfolio is None:
        portfolio = Portfolio(
            owner_id=owner.id,
            name=name,
            slug=_unique_slug(session, name, None),
            description=description,
            source=source,
        )
        session.add(portfolio)
        session.flush()
    elif description is not None:
        portfolio.description = description

    strategy_types = dict(strategies or {})
    strategy_by_name: dict[str, Strategy] = {s.name: s for s in portfolio.strategies}
    for spec in positions:
        if spec.strategy and spec.strategy not in strategy_by_name:
            strategy = Strategy(
                portfolio_id=portfolio.id,
                name=spec.strategy,
                strategy_type=strategy_types.get(spec.strategy, "free_form"),
            )
            session.add(strategy)
            strategy_by_name[spec.strategy] = strategy
    for sname, stype in strategy_types.items():
        if sname in strategy_by_name:
            strategy_by_name[sname].strategy_type = stype
    session.flush()

    existing: dict[tuple, list[Position]] = defaultdict(list)
    for pos in sorted(portfolio.positions, key=lambda p: p.id):
        existing[_position_key(pos.symbol, pos.entry_date, pos.entry_price)].append(pos)

    created = updated = unchanged = 0
    for spec in positions:
        bucket = existing.get(_position_key(spec.symbol, spec.entry_date, spec.entry_price))
        pos = bucket.pop(0) if bucket else None
        strategy = strategy_by_name.get(spec.strategy) if spec.strategy else None
        tags = [get_or_create_tag(session, owner, t) for t in spec.tags]
        fields = {
            "underlying": spec.underlying,
            "position_type": spec.position_type.value,
            "quantity": float(spec.quantity),
            "option_type": spec.option_type,
            "strike": spec.strike,
            "expiry": spec.expiry,
            "multiplier": spec.multiplier,
            "strategy_id": strategy.id if strategy else None,
        }
        if pos is None:
            pos = Position(
                portfolio_id=portfolio.id,
                symbol=spec.symbol,
                entry_price=spec.entry_price,
                entry_date=spec.entry_date,
                **fields,
            )
            pos.tags = tags
            session.add(pos)
            created += 1
            continue
        changed = any(getattr(pos, k) != v for k, v in fields.items())
        changed |= {t.id for t in pos.tags} != {t.id for t in tags}
        for k, v in fields.items():
            setattr(pos, k, v)
        pos.tags = tags
        updated += changed
        unchanged += not changed

    removed = 0
    for leftovers in existing.values():
        for pos in leftovers:
            session.delete(pos)
            removed += 1
    session.flush()
    return WriteSummary(portfolio.id, created, updated, removed, unchanged)


def find_portfolio(session: Session, name_or_id: str | int) -> Portfolio:
    """A portfolio by id, slug or name (case-insensitive).

    Raises
    ------
    NotFoundError
        When nothing matches, or a name matches portfolios of several owners
        (the message lists each candidate's id, name and owner).
    """
    text = str(name_or_id).strip()
    if text.isdigit():
        portfolio = session.get(Portfolio, int(text))
        if portfolio is not None:
            return portfolio
    matches = list(
        session.scalars(
            select(Portfolio).where(
                (Portfolio.slug == text.lower()) | (func.lower(Portfolio.name) == text.lower())
            )
        )
    )
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        candidates = "; ".join(
            f"id {p.id}: {p.name} ({p.owner.email})" for p in sorted(matches, key=lambda p: p.id)
        )
        raise NotFoundError(
            f"portfolio name {text!r} matches {len(matches)} portfolios ({candidates}); use the id"
        )
    known = ", ".join(f"{p.id}: {p.name}" for p in session.scalars(select(Portfolio)))
    raise NotFoundError(f"no portfolio {text!r}" + (f" (known: {known})" if known else ""))


def list_portfolios(session: Session, as_of: dt.date | None = None) -> pd.DataFrame:
    """One row per portfolio: id, name, slug, owner, source, positions.

    With ``as_of``, ``positions`` counts only positions entered on or before it
    (positions without an entry date always count).
    """
    count_stmt = select(Position.portfolio_id, func.count()).group_by(Position.portfolio_id)
    if as_of is not None:
        count_stmt = count_stmt.where(
            Position.entry_date.is_(None) | (Position.entry_date <= as_of)
        )
    counts = {portfolio_id: n for portfolio_id, n in session.execute(count_stmt)}
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "slug": p.slug,
            "owner": p.owner.email,
            "source": p.source,
            "positions": counts.get(p.id, 0),
        }
        for p in session.scalars(select(Portfolio).order_by(Portfolio.id))
    ]
    return pd.DataFrame(rows, columns=["id", "name", "slug", "owner", "source", "positions"])


def positions_frame(portfolio: Portfolio) -> pd.DataFrame:
    """The portfolio's positions with :data:`POSITION_COLUMNS`, in id order."""
    rows = [
        {
            "id": p.id,
            "symbol": p.symbol,
            "quantity": p.quantity,
            "position_type": p.position_type,
            "underlying": p.underlying,
            "strike": p.strike,
            "expiry": p.expiry,
            "option_type": p.option_type,
            "multiplier": p.multiplier,
            "entry_price": p.entry_price,
            "entry_date": p.entry_date,
            "strategy": p.strategy.name if p.strategy else None,
            "tags": [t.name for t in p.tags],
        }
        for p in portfolio.positions
    ]
    return pd.DataFrame(rows, columns=list(POSITION_COLUMNS))
