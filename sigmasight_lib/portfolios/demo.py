"""The demo portfolios of ``params/demo_portfolios.yaml`` and reference-data seeding."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import update
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import FactorDefinition
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.params import (
    DEMO_PORTFOLIOS_FILE,
    Strict,
    Text,
    did_you_mean,
    entry_where,
    load_factor_params,
    only_keys,
    parse_date,
    read_yaml,
    validate_entry,
)
from sigmasight_lib.portfolios.positions import PositionSpec, make_position_spec
from sigmasight_lib.portfolios.service import WriteSummary, write_portfolio
from sigmasight_lib.portfolios.strategies import ACCEPTED_STRATEGY_TYPES


class _DemoOwner(Strict):
    email: Text
    name: str | None = None


class _DemoStrategy(Strict):
    name: Text
    type: Literal[ACCEPTED_STRATEGY_TYPES] = "free_form"  # type: ignore[valid-type]


class _DemoEntry(Strict):
    """One portfolio of ``demo_portfolios.yaml``; strategies and positions are validated
    one by one (:class:`_DemoStrategy`, :class:`_DemoPosition`) so errors name the entry."""

    name: Text
    owner: _DemoOwner
    description: str | None = None
    strategies: list[dict[str, Any]] = Field(default_factory=list)
    positions: list[dict[str, Any]] = Field(
        min_length=1, json_schema_extra={"allowed": "a non-empty list of positions"}
    )


class _DemoPosition(Strict):
    symbol: Text
    quantity: float = Field(allow_inf_nan=False, json_schema_extra={"allowed": "a finite number"})
    entry_price: float | None = Field(
        None, gt=0, allow_inf_nan=False, json_schema_extra={"allowed": "a number > 0"}
    )
    entry_date: dt.date | str | None = None
    tags: list[str] = Field(default_factory=list)
    strategy: str | None = None


@dataclass(frozen=True)
class DemoPortfolio:
    name: str
    owner_email: str
    owner_name: str | None
    description: str | None
    strategies: dict[str, str]
    """Strategy name → type (``covered_call``, ``pairs_trade``, ...)."""
    positions: tuple[PositionSpec, ...]


def load_demo_portfolios(params_dir: Path) -> list[DemoPortfolio]:
    """Parse and validate ``params/demo_portfolios.yaml``.

    Typed like the other parameter files (unknown keys forbidden, strict types).

    Raises
    ------
    ConfigError
        One line naming the portfolio, the position, the field and the value.
    """
    path = params_dir / DEMO_PORTFOLIOS_FILE
    doc = read_yaml(path) or {}
    only_keys(path, doc, ("portfolios",), "a 'portfolios' list")
    entries = doc.get("portfolios")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: no portfolios defined (expected a non-empty 'portfolios' list)")
    out: list[DemoPortfolio] = []
    for i, raw_entry in enumerate(entries, start=1):
        where = entry_where(f"{path}: portfolio #{i}", raw_entry)
        entry = validate_entry(_DemoEntry, raw_entry, where)
        strategies: dict[str, str] = {}
        for k, raw in enumerate(entry.strategies, start=1):
            strategy = validate_entry(_DemoStrategy, raw, f"{where}, strategy #{k}")
            strategies[strategy.name] = strategy.type
        positions: list[PositionSpec] = []
        for j, raw in enumerate(entry.positions, start=1):
            at = entry_where(f"{where}, position #{j}", raw, "symbol")
            pos = validate_entry(_DemoPosition, raw, at)
            entry_date = parse_date(pos.entry_date, f"{at}: entry_date") if pos.entry_date else None
            try:
                spec = make_position_spec(
                    pos.symbol,
                    pos.quantity,
                    entry_price=pos.entry_price,
                    entry_date=entry_date,
                    tags=tuple(pos.tags),
                    strategy=pos.strategy,
                )
            except ValueError as exc:
                raise ConfigError(f"{at}: {exc}") from None
            if spec.strategy and spec.strategy not in strategies:
                raise ConfigError(
                    f"{at}: strategy {spec.strategy!r} is not declared"
                    f"{did_you_mean(spec.strategy, strategies)}; declared: {', '.join(strategies)}"
                )
            positions.append(spec)
        out.append(
            DemoPortfolio(
                name=entry.name,
                owner_email=entry.owner.email,
                owner_name=entry.owner.name,
                description=entry.description,
                strategies=strategies,
                positions=tuple(positions),
            )
        )
    return out


def seed_demo(session: Session, params_dir: Path) -> dict[str, WriteSummary]:
    """Create every demo portfolio's missing positions; running it twice changes nothing.

    Stored demo positions matched on (portfolio, symbol, entry date, entry price —
    also a price they had before a ``position edit``) are kept exactly as they are:
    same ids, and a user's edits, tags, closes and their history survive a reseed
    (``keep_matched=True``). A deleted demo position is recreated; a position that is
    not in ``params/demo_portfolios.yaml`` is removed unless closed (``sync``).
    """
    seed_factor_definitions(session, params_dir)
    return {
        demo.name: write_portfolio(
            session,
            name=demo.name,
            owner_email=demo.owner_email,
            owner_name=demo.owner_name,
            description=demo.description,
            positions=demo.positions,
            strategies=demo.strategies,
            source="demo",
            keep_matched=True,
        )
        for demo in load_demo_portfolios(params_dir)
    }


def seed_factor_definitions(session: Session, params_dir: Path) -> int:
    """Upsert the factor definitions of ``params/factors.yaml`` (keyed by name).

    Factors no longer in the file are kept (results refer to them) but deactivated.
    """
    rows = [
        {
            "name": f.name,
            "factor_type": f.factor_type,
            "description": f.description,
            "proxies": {provider: list(symbols) for provider, symbols in f.proxies.items()},
            "display_order": f.display_order,
            "active": True,
        }
        for f in load_factor_params(params_dir)
    ]
    written = store.upsert(session, FactorDefinition, rows, key=("name",))
    session.execute(
        update(FactorDefinition)
        .where(FactorDefinition.name.not_in([r["name"] for r in rows]))
        .values(active=False)
    )
    return written
