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
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from sigmasight_lib.db.models import Owner, Portfolio, Position, PositionHistory, Strategy
from sigmasight_lib.exceptions import NotFoundError
from sigmasight_lib.portfolios.limits import TEXT_LIMITS, check_text
from sigmasight_lib.portfolios.positions import PositionSpec
from sigmasight_lib.portfolios.tags import get_or_create_tags

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


def _unique_slug(session: Session, name: str, portfolio_id: int | None) -> str:
    base = slugify(name)[: TEXT_LIMITS["portfolio_name"] - 6]  # room for a "-NNNNN" suffix
    slug, n = base, 2
    while True:
        other = session.scalar(select(Portfolio.id).where(Portfolio.slug == slug))
        if other is None or other == portfolio_id:
            return slug
        slug, n = f"{base}-{n}", n + 1


def _position_key(symbol: str, entry_date, entry_price) -> tuple:  # noqa: ANN001
    price = None if entry_price is None else round(float(entry_price), 8)
    return (symbol, entry_date, price)


IMPORT_NOTE = "portfolio import"
"""Start of the ``position_history`` note written when an import overwrites an edit; such
an entry is not an edit itself (a later import may change the value again silently)."""

EDITABLE_FIELDS: tuple[str, ...] = ("quantity", "entry_price")
"""Position fields ``position edit`` changes and an import could revert."""


@dataclass(frozen=True)
class EditConflict:
    """A value of the file that differs from a later ``position edit`` still in force.

    Attributes
    ----------
    row : int or None
        Spreadsheet row of the file (None when the caller gave no row numbers).
    position_id, symbol, field : int, str, str
        The edited position and field (``quantity`` or ``entry_price``).
    file_value, edited_value : float
        What the file says; what the edit set (the stored value).
    edited_at : datetime.datetime
        When the edit was made; ``effective_date`` is when it takes effect.
    """

    row: int | None
    position_id: int
    symbol: str
    field: str
    file_value: float
    edited_value: float
    edited_at: dt.datetime
    effective_date: dt.date

    def __str__(self) -> str:
        where = f"row {self.row}, " if self.row is not None else ""
        return (
            f"{where}symbol {self.symbol}, field {self.field}: file value {self.file_value:g} vs "
            f"edited value {self.edited_value:g} (position {self.position_id}, edited "
            f"{self.edited_at:%Y-%m-%d}, effective {self.effective_date.isoformat()})"
        )

    def to_dict(self) -> dict:
        return {
            "row": self.row,
            "position_id": self.position_id,
            "symbol": self.symbol,
            "field": self.field,
            "file_value": self.file_value,
            "edited_value": self.edited_value,
            "edited_at": self.edited_at.isoformat(),
            "effective_date": self.effective_date.isoformat(),
            "message": str(self),
        }


@dataclass(frozen=True)
class AbsentPosition:
    """A stored position the new list does not contain, and what happened to it.

    ``action`` is ``removed``, ``kept`` (no ``sync``), ``kept: closed`` (closed
    positions are history and never removed) or ``kept: a row of SYMBOL failed``.
    """

    position_id: int
    symbol: str
    quantity: float
    action: str

    def __str__(self) -> str:
        return f"position {self.position_id} {self.symbol} qty {self.quantity:g}: {self.action}"


@dataclass(frozen=True)
class WriteSummary:
    """What :func:`write_portfolio` changed (with ``dry_run``: would change).

    ``kept`` counts the stored positions absent from the list that were not
    removed; ``conflicted`` the positions left unchanged because of
    ``conflicts``. ``portfolio_id`` is None for a dry run of a new portfolio.
    """

    portfolio_id: int | None
    created: int
    updated: int
    removed: int
    unchanged: int
    kept: int = 0
    conflicted: int = 0
    absent: tuple[AbsentPosition, ...] = ()
    conflicts: tuple[EditConflict, ...] = ()
    dry_run: bool = False

    def to_dict(self) -> dict:
        """JSON-ready mapping: the counts, ``absent`` and ``conflicts``."""
        return {
            **{k: getattr(self, k) for k in _SUMMARY_COUNTS},
            "dry_run": self.dry_run,
            "absent": [{**vars(a), "message": str(a)} for a in self.absent],
            "conflicts": [c.to_dict() for c in self.conflicts],
        }


_SUMMARY_COUNTS = (
    "portfolio_id",
    "created",
    "updated",
    "removed",
    "unchanged",
    "kept",
    "conflicted",
)


def _edits_in_force(
    session: Session, positions: Sequence[Position]
) -> tuple[dict[tuple[int, str], PositionHistory], dict[int, set[float]]]:
    """(position id, field) → the ``position edit`` that set the stored value, and position
    id → every entry price it ever had (so a file row with the pre-edit price still matches).

    An edit is in force when it is the field's latest history entry, was not written
    by an import, and its new value is the stored value.
    """
    ids = [p.id for p in positions]
    if not ids:
        return {}, {}
    history = session.scalars(
        select(PositionHistory)
        .where(PositionHistory.position_id.in_(ids), PositionHistory.field.in_(EDITABLE_FIELDS))
        .order_by(PositionHistory.id)
    )
    latest: dict[tuple[int, str], PositionHistory] = {}
    prices: dict[int, set[float]] = defaultdict(set)
    for entry in history:
        latest[(entry.position_id, entry.field)] = entry
        if entry.field == "entry_price":
            prices[entry.position_id] |= {
                round(float(v), 8) for v in (entry.old_value, entry.new_value) if v is not None
            }
    by_id = {p.id: p for p in positions}
    in_force = {
        key: entry
        for key, entry in latest.items()
        if not (entry.note or "").startswith(IMPORT_NOTE)
        and entry.new_value is not None
        and _same(float(entry.new_value), getattr(by_id[key[0]], key[1]))
    }
    return in_force, prices


def _same(a: float | None, b: float | None) -> bool:
    """Equal as the NUMERIC(24, 8) columns store them."""
    if a is None or b is None:
        return a is b
    return round(float(a), 8) == round(float(b), 8)


def _match(
    stored: Sequence[Position],
    positions: Sequence[PositionSpec],
    past_prices: Mapping[int, set[float]],
) -> list[Position | None]:
    """The stored position each spec updates (None: a new position).

    By (symbol, entry date, entry price), in id order when several share a key;
    then, for specs still unmatched, by a price the position had before an edit.
    """
    existing: dict[tuple, list[Position]] = defaultdict(list)
    for pos in sorted(stored, key=lambda p: p.id):
        existing[_position_key(pos.symbol, pos.entry_date, pos.entry_price)].append(pos)
    matched: list[Position | None] = []
    for spec in positions:
        bucket = existing.get(_position_key(spec.symbol, spec.entry_date, spec.entry_price))
        matched.append(bucket.pop(0) if bucket else None)
    taken = {p.id for p in matched if p is not None}
    for i, spec in enumerate(positions):
        if matched[i] is not None or spec.entry_price is None:
            continue
        price = round(float(spec.entry_price), 8)
        for pos in sorted(stored, key=lambda p: p.id):
            if (
                pos.id not in taken
                and (pos.symbol, pos.entry_date) == (spec.symbol, spec.entry_date)
                and price in past_prices.get(pos.id, set())
            ):
                matched[i] = pos
                taken.add(pos.id)
                break
    return matched


def _conflicts(
    pos: Position,
    spec: PositionSpec,
    row: int | None,
    in_force: Mapping[tuple[int, str], PositionHistory],
) -> list[EditConflict]:
    out = []
    for field in EDITABLE_FIELDS:
        edit = in_force.get((pos.id, field))
        file_value = getattr(spec, field)
        if edit is None or file_value is None or _same(file_value, getattr(pos, field)):
            continue
        out.append(
            EditConflict(
                row=row,
                position_id=pos.id,
                symbol=pos.symbol,
                field=field,
                file_value=float(file_value),
                edited_value=float(getattr(pos, field)),
                edited_at=edit.changed_at,
                effective_date=edit.effective_date,
            )
        )
    return out


def _check_names(
    name: str,
    owner_email: str,
    owner_name: str | None,
    positions: Sequence[PositionSpec],
) -> None:
    """:class:`LimitError` for a portfolio, owner or strategy name wider than its column."""
    check_text("portfolio_name", name)
    check_text("owner_email", owner_email.strip())
    check_text("owner_name", owner_name)
    for spec in positions:
        check_text("strategy", spec.strategy)


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
    rows: Sequence[int] | None = None,
    sync: bool = True,
    protected_symbols: Collection[str] = (),
    overwrite_edits: bool = True,
    keep_matched: bool = False,
    dry_run: bool = False,
) -> WriteSummary:
    """Create or reconcile the portfolio ``name`` of ``owner_email`` to hold ``positions``.

    Positions are matched to stored ones by (symbol, entry date, entry price)
    — in order when several share a key; a price the position had before a
    ``position edit`` matches too — so ids, tags and engine results of
    unchanged positions survive; changed quantities are updated and missing
    positions created.

    Parameters
    ----------
    strategies : mapping of str to str, optional
        Strategy name → strategy type for the strategies ``positions`` name;
        unnamed types default to ``free_form``.
    source : str
        ``demo``, ``csv`` or ``manual``.
    rows : sequence of int, optional
        The spreadsheet row of each of ``positions`` (named in conflicts).
    sync : bool, default=True
        Remove stored positions absent from ``positions`` — except closed ones
        and those whose symbol is in ``protected_symbols``. When False they are
        kept and listed in ``WriteSummary.absent``.
    protected_symbols : collection of str, default=()
        Symbols never removed (those of rows that failed validation).
    overwrite_edits : bool, default=True
        When False, a position whose quantity or entry price was set by a
        ``position edit`` still in force and differs from ``positions`` is left
        unchanged and reported in ``WriteSummary.conflicts``. When True the
        value is overwritten and the overwrite recorded in the position history
        (effective from the edit's effective date, note starting with
        :data:`IMPORT_NOTE`).
    keep_matched : bool, default=False
        Leave every stored position that matches a spec exactly as it is
        (quantity, tags, strategy, exit, history): only missing positions are
        created. Demo seeding uses it so a second seed never undoes a user's
        ``position edit`` / ``position tag`` / ``close``; no conflicts are reported.
    dry_run : bool, default=False
        Compute the summary only; nothing is written (not even the owner).

    Raises
    ------
    LimitError
        A portfolio, owner or strategy name longer than its column.
    """
    _check_names(name, owner_email, owner_name, positions)
    rows = list(rows) if rows is not None else [None] * len(positions)
    owner = session.scalar(select(Owner).where(Owner.email == owner_email.strip().lower()))
    portfolio = (
        None
        if owner is None
        else session.scalar(
            select(Portfolio)
            .where(Portfolio.owner_id == owner.id, Portfolio.name == name)
            .options(selectinload(Portfolio.positions).selectinload(Position.tags))
        )
    )
    stored = list(portfolio.positions) if portfolio is not None else []
    in_force, past_prices = _edits_in_force(session, stored)
    matched = _match(stored, positions, past_prices)
    conflicts = {
        pos.id: found
        for pos, spec, row in zip(matched, positions, rows, strict=True)
        if pos is not None and not keep_matched and (found := _conflicts(pos, spec, row, in_force))
    }
    taken = {p.id for p in matched if p is not None}
    absent = tuple(
        AbsentPosition(
            p.id, p.symbol, float(p.quantity), _absent_action(p, sync, protected_symbols)
        )
        for p in sorted(stored, key=lambda p: p.id)
        if p.id not in taken
    )
    all_conflicts = tuple(c for found in conflicts.values() for c in found)
    if dry_run:
        updated = sum(
            _differs(pos, spec)
            for pos, spec in zip(matched, positions, strict=True)
            if pos and not keep_matched
        )
        held = 0 if overwrite_edits else len(conflicts)
        return WriteSummary(
            portfolio_id=portfolio.id if portfolio else None,
            created=matched.count(None),
            updated=updated - held,
            removed=sum(a.action == "removed" for a in absent),
            unchanged=len(taken) - updated,
            kept=sum(a.action != "removed" for a in absent),
            conflicted=held,
            absent=absent,
            conflicts=all_conflicts,
            dry_run=True,
        )

    owner = get_or_create_owner(session, owner_email, owner_name)
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

    # with keep_matched, matched positions are not touched: nor are their strategies and tags
    written = [
        spec
        for spec, pos in zip(positions, matched, strict=True)
        if pos is None or not keep_matched
    ]
    strategy_types = dict(strategies or {})
    strategy_by_name: dict[str, Strategy] = {s.name: s for s in portfolio.strategies}
    for spec in written:
        if spec.strategy and spec.strategy not in strategy_by_name:
            strategy = Strategy(
                portfolio_id=portfolio.id,
                name=spec.strategy,
                strategy_type=strategy_types.get(spec.strategy, "free_form"),
            )
            session.add(strategy)
            strategy_by_name[spec.strategy] = strategy
    for sname, stype in strategy_types.items():
        if sname in strategy_by_name and not keep_matched:
            strategy_by_name[sname].strategy_type = stype
    session.flush()

    tag_by_key = get_or_create_tags(session, owner, (t for spec in written for t in spec.tags))
    created = updated = unchanged = conflicted = 0
    for spec, pos in zip(positions, matched, strict=True):
        if pos is not None and keep_matched:
            unchanged += 1
            continue
        if pos is not None and pos.id in conflicts:
            if not overwrite_edits:
                conflicted += 1
                continue
            for c in conflicts[pos.id]:
                _record_overwrite(session, c)
        strategy = strategy_by_name.get(spec.strategy) if spec.strategy else None
        tags = [tag_by_key[t.strip().casefold()] for t in spec.tags]
        fields = _fields(spec, strategy)
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
        changed = _differs(pos, spec, fields) or {t.id for t in pos.tags} != {t.id for t in tags}
        if not _same(pos.entry_price, spec.entry_price):  # matched by a pre-edit price
            pos.entry_price = spec.entry_price
        for k, v in fields.items():
            setattr(pos, k, v)
        pos.tags = tags
        updated += changed
        unchanged += not changed

    by_id = {p.id: p for p in stored}
    removed = 0
    for a in absent:
        if a.action == "removed":
            session.delete(by_id[a.position_id])
            removed += 1
    session.flush()
    return WriteSummary(
        portfolio_id=portfolio.id,
        created=created,
        updated=updated,
        removed=removed,
        unchanged=unchanged,
        kept=len(absent) - removed,
        conflicted=conflicted,
        absent=absent,
        conflicts=all_conflicts,
    )


def _absent_action(pos: Position, sync: bool, protected_symbols: Collection[str]) -> str:
    if not sync:
        return "kept"
    if pos.exit_date is not None:
        return "kept: closed"
    if pos.symbol in protected_symbols:
        return f"kept: a row of {pos.symbol} failed"
    return "removed"


def _fields(spec: PositionSpec, strategy: Strategy | None) -> dict:
    """The columns a spec sets besides the key (symbol, entry date, entry price)."""
    return {
        "underlying": spec.underlying,
        "position_type": spec.position_type.value,
        "quantity": float(spec.quantity),
        "option_type": spec.option_type,
        "strike": spec.strike,
        "expiry": spec.expiry,
        "multiplier": spec.multiplier,
        "strategy_id": strategy.id if strategy else None,
    }


def _differs(pos: Position, spec: PositionSpec, fields: Mapping | None = None) -> bool:
    """Whether writing ``spec`` changes ``pos`` (tags aside; strategy only with ``fields``)."""
    if fields is None:
        strategy = pos.strategy.name if pos.strategy else None
        tags = {t.name.casefold() for t in pos.tags}
        if strategy != spec.strategy or tags != {t.casefold() for t in spec.tags}:
            return True
        fields = {k: v for k, v in _fields(spec, None).items() if k != "strategy_id"}
    if not _same(pos.entry_price, spec.entry_price):
        return True
    return any(
        not _same(getattr(pos, k), v) if k == "quantity" else getattr(pos, k) != v
        for k, v in fields.items()
    )


def _record_overwrite(session: Session, conflict: EditConflict) -> None:
    """Record that an import set ``conflict.field`` back to the file's value."""
    session.add(
        PositionHistory(
            position_id=conflict.position_id,
            effective_date=conflict.effective_date,
            field=conflict.field,
            old_value=repr(conflict.edited_value),
            new_value=repr(conflict.file_value),
            note=f"{IMPORT_NOTE}: overwrote the edit of {conflict.edited_at:%Y-%m-%d}",
        )
    )


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


def list_portfolios(
    session: Session, as_of: dt.date | None = None, synthetic: bool | None = None
) -> pd.DataFrame:
    """One row per portfolio: id, name, slug, owner, source, synthetic, positions.

    With ``as_of``, ``positions`` counts only positions entered on or before it
    (positions without an entry date always count). ``synthetic`` True or False keeps
    only the synthetic (``sigmasight demo synthetic``) or the other portfolios.
    """
    count_stmt = select(Position.portfolio_id, func.count()).group_by(Position.portfolio_id)
    if as_of is not None:
        count_stmt = count_stmt.where(
            Position.entry_date.is_(None) | (Position.entry_date <= as_of)
        )
    counts = {portfolio_id: n for portfolio_id, n in session.execute(count_stmt)}
    stmt = (
        select(Portfolio, Owner.email)
        .join(Owner, Owner.id == Portfolio.owner_id)
        .order_by(Portfolio.id)
    )
    if synthetic is not None:
        stmt = stmt.where(Portfolio.synthetic.is_(synthetic))
    rows = [
        {
            "id": p.id,
            "name": p.name,
            "slug": p.slug,
            "owner": email,
            "source": p.source,
            "synthetic": p.synthetic,
            "positions": counts.get(p.id, 0),
        }
        for p, email in session.execute(stmt)
    ]
    columns = ["id", "name", "slug", "owner", "source", "synthetic", "positions"]
    return pd.DataFrame(rows, columns=columns)


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
