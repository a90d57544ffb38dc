"""``sigmasight verify``: are the demo portfolios, market data and engine results in place?"""

from __future__ import annotations

import datetime as dt
import importlib.util
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmasight_lib.config import Settings
from sigmasight_lib.db.models import (
    Base,
    ExposureResult,
    MarketDataCoverage,
    MarketRiskScenarioResult,
    Owner,
    Portfolio,
    PortfolioSnapshot,
    Position,
    PositionCorrelation,
    PositionFactorExposure,
    PositionGreeks,
    PositionValuation,
    RiskMetric,
    StressResult,
)
from sigmasight_lib.engines import ENGINE_ORDER
from sigmasight_lib.marketdata.cache import default_as_of
from sigmasight_lib.portfolios.demo import load_demo_portfolios

RESULT_MODELS: dict[str, type[Base]] = {
    "valuation": PositionValuation,
    "greeks": PositionGreeks,
    "exposures": ExposureResult,
    "factors": PositionFactorExposure,
    "market_risk": MarketRiskScenarioResult,
    "stress": StressResult,
    "correlations": PositionCorrelation,
    "risk_metrics": RiskMetric,
    "snapshot": PortfolioSnapshot,
}
"""Engine → the table its results are stored in."""


@dataclass(frozen=True)
class VerifyReport:
    as_of: dt.date | None
    portfolios: list[dict]
    coverage: dict
    ok: bool

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "ok": self.ok,
            "portfolios": self.portfolios,
            "coverage": self.coverage,
        }


def engine_built(engine: str) -> bool:
    """True when ``sigmasight_lib.engines.<engine>`` exists."""
    return importlib.util.find_spec(f"sigmasight_lib.engines.{engine}") is not None


def _engine_status(session: Session, portfolio_id: int, as_of: dt.date | None) -> dict[str, str]:
    status: dict[str, str] = {}
    for engine in ENGINE_ORDER:
        model = RESULT_MODELS.get(engine)
        if model is None or not engine_built(engine):
            status[engine] = "not run (engine not built yet)"
            continue
        rows = 0
        if as_of is not None:
            rows = session.scalar(
                select(func.count())
                .select_from(model)
                .where(model.portfolio_id == portfolio_id, model.as_of == as_of)
            )
        status[engine] = f"ok ({rows} rows)" if rows else "not run"
    return status


def verify(session: Session, settings: Settings, as_of: dt.date | None = None) -> VerifyReport:
    """Demo positions found vs expected, coverage at ``as_of`` and per-engine results.

    ``as_of`` defaults to :func:`~sigmasight_lib.marketdata.cache.default_as_of`.
    ``ok`` is True when every demo portfolio holds exactly its expected
    positions and coverage was checked with no symbol below the hard floor.
    """
    as_of = as_of or default_as_of(session)
    portfolios: list[dict] = []
    ok = True
    for demo in load_demo_portfolios(settings.params_dir):
        portfolio = session.scalar(
            select(Portfolio)
            .join(Owner)
            .where(Owner.email == demo.owner_email, Portfolio.name == demo.name)
        )
        expected = sorted(p.symbol for p in demo.positions)
        found: list[str] = []
        if portfolio is not None:
            found = sorted(
                session.scalars(
                    select(Position.symbol).where(Position.portfolio_id == portfolio.id)
                )
            )
        missing = sorted(set(expected) - set(found))
        unexpected = sorted(set(found) - set(expected))
        matches = portfolio is not None and found == expected
        ok &= matches
        portfolios.append(
            {
                "name": demo.name,
                "owner": demo.owner_email,
                "id": portfolio.id if portfolio else None,
                "positions_expected": len(expected),
                "positions_found": len(found),
                "status": "ok" if matches else ("missing" if portfolio is None else "mismatch"),
                "missing_symbols": missing,
                "unexpected_symbols": unexpected,
                "engines": _engine_status(session, portfolio.id, as_of) if portfolio else {},
            }
        )

    coverage: dict = {"status": "not checked", "counts": {}, "below_floor": []}
    if as_of is not None:
        rows = list(
            session.scalars(select(MarketDataCoverage).where(MarketDataCoverage.as_of == as_of))
        )
        if rows:
            counts: dict[str, int] = {}
            for r in rows:
                counts[r.status] = counts.get(r.status, 0) + 1
            below = sorted(r.symbol for r in rows if r.status == "insufficient")
            coverage = {
                "status": "ok" if not below else "insufficient",
                "symbols": len(rows),
                "counts": counts,
                "below_floor": below,
            }
    ok &= coverage["status"] == "ok"
    return VerifyReport(as_of=as_of, portfolios=portfolios, coverage=coverage, ok=ok)
