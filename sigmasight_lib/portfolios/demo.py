"""The demo portfolios of ``params/demo_portfolios.yaml`` and reference-data seeding."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import update
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import FactorDefinition
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.params import DEMO_PORTFOLIOS_FILE, load_factor_params, parse_date, read_yaml
from sigmasight_lib.portfolios.positions import PositionSpec, make_position_spec
from sigmasight_lib.portfolios.service import WriteSummary, write_portfolio


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

    Raises
    ------
    ConfigError
        Naming the portfolio, the position and the field that is wrong.
    """
    path = params_dir / DEMO_PORTFOLIOS_FILE
    doc = read_yaml(path) or {}
    out: list[DemoPortfolio] = []
    for i, entry in enumerate(doc.get("portfolios") or [], start=1):
        name = entry.get("name")
        owner = entry.get("owner") or {}
        if not name or not owner.get("email"):
            raise ConfigError(f"{path}: portfolio #{i} needs 'name' and 'owner.email'")
        strategies = {s["name"]: s.get("type", "free_form") for s in entry.get("strategies") or []}
        positions: list[PositionSpec] = []
        for j, raw in enumerate(entry.get("positions") or [], start=1):
            where = f"{path}: portfolio {name!r}, position #{j}"
            try:
                spec = make_position_spec(
                    str(raw["symbol"]),
                    float(raw["quantity"]),
                    entry_price=float(raw["entry_price"])
                    if raw.get("entry_price") is not None
                    else None,
                    entry_date=parse_date(raw["entry_date"], where)
                    if raw.get("entry_date")
                    else None,
                    tags=tuple(raw.get("tags") or ()),
                    strategy=raw.get("strategy"),
                )
            except KeyError as exc:
                raise ConfigError(f"{where}: field {exc.args[0]!r} is missing") from None
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{where} ({raw.get('symbol')!r}): {exc}") from None
            if spec.strategy and spec.strategy not in strategies:
                raise ConfigError(f"{where}: strategy {spec.strategy!r} is not declared")
            positions.append(spec)
        out.append(
            DemoPortfolio(
                name=name,
                owner_email=owner["email"],
                owner_name=owner.get("name"),
                description=entry.get("description"),
                strategies=strategies,
                positions=tuple(positions),
            )
        )
    if not out:
        raise ConfigError(f"{path}: no portfolios defined")
    return out


def seed_demo(session: Session, params_dir: Path) -> dict[str, WriteSummary]:
    """Create or reconcile every demo portfolio; running it twice changes nothing."""
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
