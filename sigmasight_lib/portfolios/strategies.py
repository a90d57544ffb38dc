"""Strategies: named groups of positions of one portfolio, and their detection.

A strategy (covered call, protective put, vertical spread, straddle,
strangle, collar, pairs trade or free-form) groups positions of one
portfolio; a position belongs to at most one strategy (``Position.strategy_id``).

Detection
---------
:func:`detect_strategies` is pure: it looks at a positions frame (the columns
:func:`sigmasight_lib.db.store.load_positions` returns) and *proposes* the
common option strategies. Positions that already belong to a strategy are
never proposed, and each position is used in at most one proposal. The
search is greedy, per underlying, in this order (the more legs a pattern
has, the earlier it is tried, so a collar is not split into a covered call
and a stray put):

1. collar — long stock + long put + short call; the stock covers both
   option legs (shares >= contracts × multiplier for each);
2. covered call — long stock + short call; shares >= contracts × multiplier;
3. protective put — long stock + long put; shares >= contracts × multiplier;
4. straddle — call + put, both long or both short, same strike, expiry and
   number of contracts;
5. strangle — as a straddle but with different strikes;
6. vertical spread — a long and a short option of the same type and expiry,
   different strikes, same number of contracts.

Within each step stock positions are taken in id order and option legs by
(expiry, strike, id); the first leg that fits is used. Pairs trades are never
detected (they need the researcher's intent): create them by hand.

The service functions (:func:`create_strategy` ...) work on a SQLAlchemy
session and leave committing to the caller.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from sigmasight_lib.db.models import Portfolio, Position, Strategy
from sigmasight_lib.exceptions import NotFoundError, SigmaSightError
from sigmasight_lib.portfolios.service import find_portfolio

STRATEGY_TYPES: tuple[str, ...] = (
    "covered_call",
    "protective_put",
    "vertical_spread",
    "straddle",
    "strangle",
    "collar",
    "pairs_trade",
    "free_form",
)
"""Strategy types."""

STRATEGY_TYPE_VARIANTS: dict[str, str] = {
    "long_straddle": "straddle",
    "short_straddle": "straddle",
    "long_strangle": "strangle",
    "short_strangle": "strangle",
}
"""Accepted variants (stored as given) → their base type in :data:`STRATEGY_TYPES`."""

ACCEPTED_STRATEGY_TYPES: tuple[str, ...] = STRATEGY_TYPES + tuple(STRATEGY_TYPE_VARIANTS)
"""Every value :func:`create_strategy` accepts as ``strategy_type``."""

MAX_NAME_LENGTH = 200
STRATEGY_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "strategy_type",
    "description",
    "positions",
    "position_ids",
    "symbols",
)
"""Columns of :func:`list_strategies`."""


class StrategyError(SigmaSightError, ValueError):
    """A strategy request breaks a rule (bad type or name, position of another portfolio ...)."""


@dataclass(frozen=True)
class ProposedStrategy:
    """A strategy :func:`detect_strategies` proposes.

    Attributes
    ----------
    strategy_type : str
        One of :data:`STRATEGY_TYPES`.
    name : str
        Suggested name, e.g. ``"AAPL covered call 2017-04-21 35C"``.
    position_ids : tuple of int
        The legs, stock first.
    reason : str
        Why these positions form the strategy (sizes, strikes).
    strategy_id : int or None
        Id of the strategy created from the proposal (``detect_and_create(create=True)``).
    """

    strategy_type: str
    name: str
    position_ids: tuple[int, ...]
    reason: str
    strategy_id: int | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy_type": self.strategy_type,
            "name": self.name,
            "position_ids": list(self.position_ids),
            "reason": self.reason,
            "strategy_id": self.strategy_id,
        }


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True)
class _Leg:
    id: int
    symbol: str
    underlying: str
    quantity: float
    multiplier: int
    option_type: str | None
    strike: float | None
    expiry: dt.date | None

    @property
    def is_option(self) -> bool:
        return self.option_type in ("C", "P")

    @property
    def contracts(self) -> float:
        return abs(self.quantity)

    @property
    def shares_covered(self) -> float:
        return abs(self.quantity) * self.multiplier

    @property
    def label(self) -> str:
        return f"{self.expiry} {self.strike:g}{self.option_type}"

    def sort_key(self) -> tuple:
        return (self.expiry or dt.date.max, self.strike or 0.0, self.id)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _as_date(value: Any) -> dt.date | None:
    if _missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _legs(positions: pd.DataFrame) -> list[_Leg]:
    """Free legs (not in a strategy, non-zero quantity) of a positions frame, in id order."""
    frame = positions.reset_index() if "id" not in positions.columns else positions
    if "id" not in frame.columns:  # unnamed index: the ids are the index
        frame = positions.rename_axis("id").reset_index()
    legs = []
    for row in frame.to_dict(orient="records"):
        strategy = row.get("strategy")
        if not _missing(strategy) and str(strategy).strip():
            continue
        quantity = float(row["quantity"])
        if quantity == 0 or math.isnan(quantity):
            continue
        option_type = None if _missing(row.get("option_type")) else str(row["option_type"])
        multiplier = row.get("multiplier")
        legs.append(
            _Leg(
                id=int(row["id"]),
                symbol=str(row["symbol"]),
                underlying=str(row.get("underlying") or row["symbol"]),
                quantity=quantity,
                multiplier=1 if _missing(multiplier) else int(multiplier),
                option_type=option_type.upper() if option_type else None,
                strike=None if _missing(row.get("strike")) else float(row["strike"]),
                expiry=_as_date(row.get("expiry")),
            )
        )
    return sorted(legs, key=lambda leg: leg.id)


def detect_strategies(positions: pd.DataFrame) -> list[ProposedStrategy]:
    """Propose covered calls, protective puts, collars, straddles, strangles and verticals.

    Parameters
    ----------
    positions : DataFrame
        One row per position: ``id`` (column or index), symbol, underlying,
        quantity (signed; contracts for options), multiplier, option_type
        (``C``/``P``, empty for stocks), strike, expiry, strategy (name or
        empty). Pure: nothing is read or written.

    Returns
    -------
    list of ProposedStrategy
        In the greedy order of the module docstring, per underlying
        (alphabetical). Positions with a strategy are skipped; no position
        appears in two proposals.
    """
    by_underlying: dict[str, list[_Leg]] = {}
    for leg in _legs(positions):
        by_underlying.setdefault(leg.underlying, []).append(leg)
    proposals: list[ProposedStrategy] = []
    for underlying in sorted(by_underlying):
        proposals += _detect_underlying(underlying, by_underlying[underlying])
    return _unique_names(proposals, set())


class _FirstFit:
    """Option legs in (expiry, strike, id) order; the first free one with
    ``shares_covered <= shares`` in O(log n) (a segment tree of the minimum)."""

    def __init__(self, legs: list[_Leg]) -> None:
        self.legs = sorted(legs, key=_Leg.sort_key)
        self.size = 1
        while self.size < max(len(self.legs), 1):
            self.size *= 2
        self.tree = [math.inf] * (2 * self.size)
        self.slot = {leg.id: i for i, leg in enumerate(self.legs)}
        for i, leg in enumerate(self.legs):
            self.tree[self.size + i] = leg.shares_covered
        for i in range(self.size - 1, 0, -1):
            self.tree[i] = min(self.tree[2 * i], self.tree[2 * i + 1])

    def first(self, shares: float) -> _Leg | None:
        if self.tree[1] > shares:
            return None
        i = 1
        while i < self.size:
            i = 2 * i if self.tree[2 * i] <= shares else 2 * i + 1
        return self.legs[i - self.size]

    def remove(self, leg_id: int) -> None:
        if (slot := self.slot.get(leg_id)) is None:
            return
        i = self.size + slot
        self.tree[i] = math.inf
        while i > 1:
            i //= 2
            self.tree[i] = min(self.tree[2 * i], self.tree[2 * i + 1])


class _Buckets:
    """Option legs by (expiry, contracts) then strike, each list in (expiry, strike, id)
    order; used legs are dropped lazily from the front."""

    def __init__(self, legs: list[_Leg], used: set[int]) -> None:
        self.used = used
        self.by_key: dict[tuple, dict[float | None, list[_Leg]]] = {}
        for leg in sorted(legs, key=_Leg.sort_key):
            key = (leg.expiry, leg.contracts)
            self.by_key.setdefault(key, {}).setdefault(leg.strike, []).append(leg)
        self.head: dict[tuple, int] = {}

    def _front(self, key: tuple, strike: float | None, legs: list[_Leg]) -> _Leg | None:
        i = self.head.get((key, strike), 0)
        while i < len(legs) and legs[i].id in self.used:
            i += 1
        self.head[(key, strike)] = i
        return legs[i] if i < len(legs) else None

    def first(self, leg: _Leg, same_strike: bool) -> _Leg | None:
        """The first free leg with ``leg``'s expiry and contracts, and its strike
        (``same_strike``) or another one."""
        key = (leg.expiry, leg.contracts)
        strikes = self.by_key.get(key, {})
        if same_strike:
            legs = strikes.get(leg.strike)
            return None if legs is None else self._front(key, leg.strike, legs)
        fronts = [
            found
            for strike, legs in strikes.items()
            if strike != leg.strike and (found := self._front(key, strike, legs)) is not None
        ]
        return min(fronts, key=_Leg.sort_key, default=None)


def _detect_underlying(u: str, legs: list[_Leg]) -> list[ProposedStrategy]:
    """The greedy search of the module docstring for one underlying's free legs.

    Equivalent to scanning the free legs for every candidate, in O(n log n):
    stock legs are visited in id order, option legs are looked up in indexes
    sorted by (expiry, strike, id) from which used legs are removed.
    """
    used: set[int] = set()
    stocks = sorted((g for g in legs if not g.is_option and g.quantity > 0), key=lambda g: g.id)

    def options(option_type: str, long: bool) -> list[_Leg]:
        return sorted(
            (
                g
                for g in legs
                if g.is_option and g.option_type == option_type and (g.quantity > 0) == long
            ),
            key=_Leg.sort_key,
        )

    short_calls = _FirstFit(options("C", False))
    long_puts = _FirstFit(options("P", True))

    def take(*taken: _Leg) -> None:
        for leg in taken:
            used.add(leg.id)
            short_calls.remove(leg.id)
            long_puts.remove(leg.id)

    out: list[ProposedStrategy] = []

    # 1. collars, 2. covered calls, 3. protective puts
    for stock in stocks:
        call = short_calls.first(stock.quantity)
        put = long_puts.first(stock.quantity)
        if call and put:
            take(stock, call, put)
            out.append(
                ProposedStrategy(
                    "collar",
                    f"{u} collar {put.label}/{call.label}",
                    (stock.id, put.id, call.id),
                    f"{stock.quantity:g} {u} shares with a long {put.contracts:g}-contract "
                    f"{put.label} put and a short {call.contracts:g}-contract {call.label} call",
                )
            )
    for stock in [g for g in stocks if g.id not in used]:
        call = short_calls.first(stock.quantity)
        if call:
            take(stock, call)
            out.append(
                ProposedStrategy(
                    "covered_call",
                    f"{u} covered call {call.label}",
                    (stock.id, call.id),
                    f"{stock.quantity:g} {u} shares cover {call.contracts:g} short "
                    f"{call.label} call contracts × {call.multiplier} = "
                    f"{call.shares_covered:g} shares",
                )
            )
    for stock in [g for g in stocks if g.id not in used]:
        put = long_puts.first(stock.quantity)
        if put:
            take(stock, put)
            out.append(
                ProposedStrategy(
                    "protective_put",
                    f"{u} protective put {put.label}",
                    (stock.id, put.id),
                    f"{stock.quantity:g} {u} shares protected by {put.contracts:g} long "
                    f"{put.label} put contracts × {put.multiplier} = {put.shares_covered:g} shares",
                )
            )

    # 4. straddles, 5. strangles
    free_options = {
        (t, long): [g for g in options(t, long) if g.id not in used]
        for t in ("C", "P")
        for long in (True, False)
    }
    put_buckets = {long: _Buckets(free_options["P", long], used) for long in (True, False)}
    for same_strike, kind in ((True, "straddle"), (False, "strangle")):
        for long in (True, False):
            for call in [g for g in free_options["C", long] if g.id not in used]:
                if call.id in used:
                    continue
                put = put_buckets[long].first(call, same_strike)
                if put is None:
                    continue
                used |= {call.id, put.id}
                side = "long" if long else "short"
                strikes = f"{call.strike:g}" if same_strike else f"{put.strike:g}P/{call.strike:g}C"
                out.append(
                    ProposedStrategy(
                        kind,
                        f"{u} {side} {kind} {call.expiry} {strikes}",
                        (call.id, put.id),
                        f"{side} {call.contracts:g} calls and {put.contracts:g} puts on {u}, "
                        f"expiry {call.expiry}, strike{'' if same_strike else 's'} {strikes}",
                    )
                )

    # 6. vertical spreads
    for option_type in ("C", "P"):
        shorts = _Buckets([g for g in free_options[option_type, False] if g.id not in used], used)
        for long_leg in [g for g in free_options[option_type, True] if g.id not in used]:
            if long_leg.id in used:
                continue
            short_leg = shorts.first(long_leg, same_strike=False)
            if short_leg is None:
                continue
            used |= {long_leg.id, short_leg.id}
            word = "call" if option_type == "C" else "put"
            out.append(
                ProposedStrategy(
                    "vertical_spread",
                    f"{u} {long_leg.strike:g}/{short_leg.strike:g} {word} spread {long_leg.expiry}",
                    (long_leg.id, short_leg.id),
                    f"long {long_leg.contracts:g} {long_leg.label} and short "
                    f"{short_leg.contracts:g} {short_leg.label} {word}s on {u}",
                )
            )
    return out


def _unique_names(proposals: list[ProposedStrategy], taken: set[str]) -> list[ProposedStrategy]:
    """Suffix `` (2)``, `` (3)`` ... to names already in ``taken`` (compared case-insensitively)."""
    keys = {t.casefold() for t in taken}
    next_suffix: dict[str, int] = {}  # every suffix below it is taken already: linear time
    out = []
    for p in proposals:
        base = p.name.casefold()
        name, n = p.name, next_suffix.get(base, 2)
        if base in keys:
            name = f"{p.name} ({n})"
            while name.casefold() in keys:
                n += 1
                name = f"{p.name} ({n})"
            n += 1
        next_suffix[base] = n
        keys.add(name.casefold())
        out.append(replace(p, name=name))
    return out


# --------------------------------------------------------------------------- service


def _portfolio(session: Session, portfolio: Portfolio | str | int) -> Portfolio:
    if isinstance(portfolio, Portfolio):
        return portfolio
    return find_portfolio(session, portfolio)


def validate_strategy_type(strategy_type: str) -> str:
    """The type, lower-cased and stripped; raises :class:`StrategyError` when not accepted."""
    text = str(strategy_type).strip().lower().replace("-", "_")
    if text not in ACCEPTED_STRATEGY_TYPES:
        raise StrategyError(
            f"strategy type {strategy_type!r} is not one of: {', '.join(ACCEPTED_STRATEGY_TYPES)}"
        )
    return text


def _validate_name(session: Session, portfolio: Portfolio, name: str, own_id: int | None) -> str:
    text = str(name).strip()
    if not text:
        raise StrategyError(f"strategy name {name!r} is empty")
    if len(text) > MAX_NAME_LENGTH:
        raise StrategyError(f"strategy name {text!r} is longer than {MAX_NAME_LENGTH} characters")
    for other in session.scalars(select(Strategy).where(Strategy.portfolio_id == portfolio.id)):
        if other.id != own_id and other.name.casefold() == text.casefold():
            raise StrategyError(
                f"portfolio {portfolio.name!r} already has a strategy named {other.name!r} "
                f"(id {other.id})"
            )
    return text


def find_strategy(
    session: Session, ref: Strategy | str | int, portfolio: Portfolio | str | int | None = None
) -> Strategy:
    """A strategy by id or name (case-insensitive), optionally within one portfolio.

    Raises
    ------
    NotFoundError
        When nothing matches, or a name matches strategies of several portfolios.
    """
    if isinstance(ref, Strategy):
        return ref
    p = _portfolio(session, portfolio) if portfolio is not None else None
    text = str(ref).strip()
    if text.isdigit():
        strategy = session.get(Strategy, int(text))
        if strategy is not None and (p is None or strategy.portfolio_id == p.id):
            return strategy
    stmt = select(Strategy)
    if p is not None:
        stmt = stmt.where(Strategy.portfolio_id == p.id)
    matches = [s for s in session.scalars(stmt) if s.name.casefold() == text.casefold()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        ids = ", ".join(str(s.id) for s in matches)
        raise NotFoundError(
            f"strategy name {text!r} is ambiguous (ids {ids}); use the id or a portfolio"
        )
    where = f" in portfolio {p.name!r}" if p is not None else ""
    raise NotFoundError(f"no strategy {text!r}{where}")


def _positions(
    session: Session, portfolio: Portfolio, position_ids: Iterable[int | str]
) -> list[Position]:
    out: list[Position] = []
    seen: set[int] = set()
    for raw in position_ids:
        text = str(raw).strip()
        if not text.isdigit():
            raise StrategyError(f"position id {raw!r} is not a positive integer")
        pid = int(text)
        if pid in seen:
            continue
        seen.add(pid)
        position = session.get(Position, pid)
        if position is None:
            raise NotFoundError(f"no position with id {pid}")
        if position.portfolio_id != portfolio.id:
            raise StrategyError(
                f"position {pid} ({position.symbol}) belongs to portfolio id "
                f"{position.portfolio_id}, not to {portfolio.name!r} (id {portfolio.id})"
            )
        out.append(position)
    return out


def _attach(strategy: Strategy, positions: Sequence[Position], move: bool) -> None:
    for position in positions:
        current = position.strategy
        if current is not None and current.id != strategy.id and not move:
            raise StrategyError(
                f"position {position.id} ({position.symbol}) is already in strategy "
                f"{current.name!r} (id {current.id}); pass move=True (--move) to move it"
            )
    for position in positions:
        position.strategy = strategy


def strategy_dict(strategy: Strategy) -> dict[str, Any]:
    """JSON-ready description of one strategy (columns of :func:`list_strategies`)."""
    positions = sorted(strategy.positions, key=lambda p: p.id)
    return {
        "id": strategy.id,
        "name": strategy.name,
        "strategy_type": strategy.strategy_type,
        "description": strategy.description,
        "positions": len(positions),
        "position_ids": [p.id for p in positions],
        "symbols": [p.symbol for p in positions],
    }


def list_strategies(session: Session, portfolio: Portfolio | str | int) -> pd.DataFrame:
    """The portfolio's strategies, one row each, columns :data:`STRATEGY_COLUMNS`, id order."""
    p = _portfolio(session, portfolio)
    strategies = session.scalars(
        select(Strategy).where(Strategy.portfolio_id == p.id).order_by(Strategy.id)
    )
    rows = [strategy_dict(s) for s in strategies]
    return pd.DataFrame(rows, columns=list(STRATEGY_COLUMNS))


def create_strategy(
    session: Session,
    portfolio: Portfolio | str | int,
    name: str,
    strategy_type: str,
    position_ids: Iterable[int | str],
    *,
    description: str | None = None,
    move: bool = False,
) -> Strategy:
    """Create the strategy ``name`` of ``portfolio`` holding ``position_ids``.

    Raises
    ------
    StrategyError
        Unknown type, empty / too long / duplicate name (case-insensitive, per
        portfolio), no positions, a position of another portfolio, or a
        position already in another strategy (unless ``move``).
    NotFoundError
        Unknown portfolio or position id.
    """
    p = _portfolio(session, portfolio)
    stype = validate_strategy_type(strategy_type)
    text = _validate_name(session, p, name, None)
    positions = _positions(session, p, position_ids)
    if not positions:
        raise StrategyError(f"strategy {text!r} needs at least one position")
    strategy = Strategy(portfolio_id=p.id, name=text, strategy_type=stype, description=description)
    _attach(strategy, positions, move)  # validates before anything is added
    session.add(strategy)
    session.flush()
    return strategy


def add_to_strategy(
    session: Session,
    strategy: Strategy | str | int,
    position_ids: Iterable[int | str],
    *,
    portfolio: Portfolio | str | int | None = None,
    move: bool = False,
) -> Strategy:
    """Add positions (of the strategy's portfolio) to ``strategy``; see :func:`create_strategy`."""
    s = find_strategy(session, strategy, portfolio)
    positions = _positions(session, s.portfolio, position_ids)
    if not positions:
        raise StrategyError("no position ids given")
    _attach(s, positions, move)
    session.flush()
    return s


def remove_from_strategy(
    session: Session,
    strategy: Strategy | str | int,
    position_ids: Iterable[int | str],
    *,
    portfolio: Portfolio | str | int | None = None,
) -> Strategy:
    """Detach positions from ``strategy`` (the strategy stays, even when empty).

    Raises
    ------
    StrategyError
        When a position is not in this strategy.
    """
    s = find_strategy(session, strategy, portfolio)
    positions = _positions(session, s.portfolio, position_ids)
    for position in positions:
        if position.strategy_id != s.id:
            raise StrategyError(
                f"position {position.id} ({position.symbol}) is not in strategy {s.name!r}"
            )
    for position in positions:
        position.strategy = None
    session.flush()
    return s


def delete_strategy(
    session: Session,
    strategy: Strategy | str | int,
    *,
    portfolio: Portfolio | str | int | None = None,
) -> int:
    """Delete ``strategy``; its positions stay, detached. Returns how many were detached."""
    s = find_strategy(session, strategy, portfolio)
    positions = list(s.positions)
    for position in positions:
        position.strategy = None
    session.flush()
    session.delete(s)
    session.flush()
    return len(positions)


def open_positions_frame(session: Session, portfolio: Portfolio | str | int) -> pd.DataFrame:
    """The portfolio's open positions (no exit date) as :func:`detect_strategies` takes them."""
    p = _portfolio(session, portfolio)
    rows = [
        {
            "id": pos.id,
            "symbol": pos.symbol,
            "underlying": pos.underlying,
            "position_type": pos.position_type,
            "quantity": float(pos.quantity),
            "multiplier": int(pos.multiplier),
            "option_type": pos.option_type,
            "strike": pos.strike,
            "expiry": pos.expiry,
            "strategy": pos.strategy.name if pos.strategy else None,
        }
        for pos in session.scalars(
            select(Position)
            .where(Position.portfolio_id == p.id, Position.exit_date.is_(None))
            .order_by(Position.id)
            .options(selectinload(Position.strategy))
        )
    ]
    columns = [
        "id", "symbol", "underlying", "position_type", "quantity", "multiplier",
        "option_type", "strike", "expiry", "strategy",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns).set_index("id")


def detect_and_create(
    session: Session, portfolio: Portfolio | str | int, create: bool = False
) -> list[ProposedStrategy]:
    """Propose strategies for the portfolio's open positions; create them when ``create``.

    Proposed names are made unique against the portfolio's existing
    strategies. Created proposals carry their ``strategy_id``. The strategies are
    created together (one flush): the proposals already satisfy what
    :func:`create_strategy` checks one at a time (known type, unique name, free
    positions of this portfolio).
    """
    p = _portfolio(session, portfolio)
    existing = set(session.scalars(select(Strategy.name).where(Strategy.portfolio_id == p.id)))
    frame = open_positions_frame(session, p)
    proposals = _unique_names(detect_strategies(frame), existing)
    if not create or not proposals:
        return proposals
    by_id = {
        pos.id: pos
        for pos in session.scalars(
            select(Position).where(Position.portfolio_id == p.id, Position.exit_date.is_(None))
        )
    }
    strategies = []
    for proposal in proposals:
        strategy = Strategy(
            portfolio_id=p.id,
            name=proposal.name,
            strategy_type=validate_strategy_type(proposal.strategy_type),
            description=proposal.reason,
        )
        _attach(strategy, [by_id[i] for i in proposal.position_ids], move=False)
        strategies.append(strategy)
    session.add_all(strategies)
    session.flush()
    return [replace(pr, strategy_id=st.id) for pr, st in zip(proposals, strategies, strict=True)]
