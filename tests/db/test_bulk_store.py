"""The fast bulk writer (``store.bulk_insert`` / ``replace_results_many``) stores exactly
what SQLAlchemy's executemany stores, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from sigmasight_lib.config import Settings
from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    FactorDefinition,
    Owner,
    Portfolio,
    PortfolioFactorExposure,
    Position,
    PositionFactorExposure,
    PositionValuation,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.exceptions import DatabaseError

AS_OF = dt.date(2017, 3, 29)
OTHER = dt.date(2017, 3, 28)


def _seed(settings: Settings) -> tuple[list[int], list[int], list[int]]:
    """Two portfolios of three positions, two factors: (portfolio ids, position ids, factor ids)."""
    with session_scope(settings) as session:
        owner = Owner(email="bulk@example.com")
        factors = [
            FactorDefinition(name="Market", factor_type="market", proxies={"offline": "SPY"}),
            FactorDefinition(name="Value", factor_type="style", proxies={}),
        ]
        portfolios = [
            Portfolio(owner=owner, name=f"P{i}", slug=f"p{i}", positions=[
                Position(symbol=s, underlying=s, position_type="LONG", quantity=10.0)
                for s in ("AAPL", "MSFT", "SPY")
            ])
            for i in range(2)
        ]  # fmt: skip
        session.add_all([owner, *factors, *portfolios])
        session.flush()
        return (
            [p.id for p in portfolios],
            [pos.id for p in portfolios for pos in p.positions],
            [f.id for f in factors],
        )


def _frames(pids: list[int], positions: list[int], factors: list[int]) -> dict:
    rng = np.random.default_rng(7)
    owner = np.repeat(pids, 3)
    n = len(positions)
    valuation = pd.DataFrame(
        {
            "portfolio_id": owner,
            "position_id": positions,
            "price": rng.normal(100, 5, n),
            "previous_price": [np.nan, *rng.normal(100, 5, n - 1)],
            "price_source": ["market", None, "model", "market", np.nan, "intrinsic"],
            "market_value_usd": rng.normal(1e4, 1e3, n),
            "expired": [False, True, False, False, True, False],
            "reason": [None, "no price", None, None, None, "expired on 2017-03-17"],
        }
    )
    pairs = [(p, pos, f) for p, pos in zip(owner, positions, strict=True) for f in factors]
    exposures = pd.DataFrame(pairs, columns=["portfolio_id", "position_id", "factor_id"])
    m = len(exposures)
    exposures["beta"] = rng.normal(1, 0.3, m)
    exposures.loc[3, "beta"] = np.nan
    exposures["t_stat"] = rng.normal(3, 1, m)
    exposures["observations"] = 250.0
    exposures.loc[5, "observations"] = np.nan
    exposures["capped"] = [i % 3 == 0 for i in range(m)]
    portfolio = pd.DataFrame(
        {
            "portfolio_id": [pids[0], pids[0], pids[1]],
            "factor_id": [factors[0], factors[1], factors[0]],
            "dollar_beta_usd": [1234.5, np.nan, -7.25],
            "details": [{"proxy": "SPY", "window": [1, 2.5]}, None, {"reason": "é ü"}],
        }
    )
    return {
        PositionValuation: valuation,
        PositionFactorExposure: exposures,
        PortfolioFactorExposure: portfolio,
    }


def _stored(session, model, as_of: dt.date) -> tuple[list[tuple], list[tuple]]:
    """(rows read through the ORM, raw rows of SQL) of ``as_of``, without id and computed_at."""
    table = model.__table__
    names = [c.name for c in table.columns if c.name not in ("id", "as_of", "computed_at")]
    order = [c for c in ("portfolio_id", "position_id", "factor_id") if c in names]
    orm = session.scalars(
        sa.select(model).where(model.as_of == as_of).order_by(*(getattr(model, c) for c in order))
    ).all()
    as_orm = [tuple(getattr(o, c) for c in names) for o in orm]
    raw = session.execute(
        sa.text(
            f"SELECT {', '.join(names)} FROM {table.name} WHERE as_of = :d ORDER BY {', '.join(order)}"
        ),
        {"d": as_of if session.get_bind().dialect.name != "sqlite" else as_of.isoformat()},
    ).all()
    return as_orm, [tuple(r) for r in raw]


def _equal_rows(a: list[tuple], b: list[tuple]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float) and np.isnan(u) and np.isnan(v):
                continue
            if u != v or type(u) is not type(v):
                return False
    return True


def test_fast_path_stores_what_sqlalchemy_stores(db_settings: Settings) -> None:
    pids, positions, factors = _seed(db_settings)
    frames = _frames(pids, positions, factors)
    with session_scope(db_settings) as session:
        for model, frame in frames.items():
            extra = {"as_of": OTHER, "batch_run_id": None}
            store.bulk_insert(session, model, frame, constants=extra, method="sqlalchemy")
            assert store.replace_results_many(session, model, AS_OF, pids, frame) == len(frame)
    with session_scope(db_settings) as session:
        for model, frame in frames.items():
            fast_orm, fast_raw = _stored(session, model, AS_OF)
            ref_orm, ref_raw = _stored(session, model, OTHER)
            assert len(fast_orm) == len(frame)
            assert _equal_rows(fast_orm, ref_orm), model.__name__
            assert _equal_rows(fast_raw, ref_raw), model.__name__
        times = session.execute(
            sa.select(PositionValuation.as_of, PositionValuation.computed_at)
        ).all()
        assert {type(t) for _, t in times} == {dt.datetime}
        if db_settings.dialect == "sqlite":
            raw = session.execute(sa.text("SELECT as_of, computed_at FROM position_valuations"))
            assert {(len(a), len(c)) for a, c in raw} == {(10, 26)}
        # the Python-side default and NULLs
        capped = session.scalars(
            sa.select(PositionFactorExposure.capped).where(PositionFactorExposure.as_of == AS_OF)
        ).all()
        assert set(capped) == {True, False}


def test_records_input_and_python_defaults(db_settings: Settings) -> None:
    pids, positions, factors = _seed(db_settings)
    rows = [
        {"portfolio_id": pids[0], "position_id": positions[0], "factor_id": factors[0],
         "beta": np.float64(1.5), "observations": np.int64(250), "ignored": "x"},
        {"portfolio_id": pids[0], "position_id": positions[1], "factor_id": factors[0],
         "beta": float("nan"), "observations": None, "ignored": "y"},
    ]  # fmt: skip
    with session_scope(db_settings) as session:
        assert store.replace_results_many(session, PositionFactorExposure, AS_OF, pids, rows) == 2
    with session_scope(db_settings) as session:
        got = session.scalars(
            sa.select(PositionFactorExposure).order_by(PositionFactorExposure.position_id)
        ).all()
        assert [(g.beta, g.observations, g.capped) for g in got] == [
            (1.5, 250, False),
            (None, None, False),
        ]
        assert all(g.computed_at is not None and g.batch_run_id is None for g in got)


def test_failure_rolls_back_to_earlier_results(db_settings: Settings) -> None:
    pids, positions, factors = _seed(db_settings)
    frame = _frames(pids, positions, factors)[PositionValuation]
    with session_scope(db_settings) as session:
        store.replace_results_many(session, PositionValuation, AS_OF, pids, frame)
    broken = frame.assign(position_id=frame["position_id"].where(frame.index < 4, 10**6))
    with pytest.raises(DatabaseError), session_scope(db_settings) as session:
        store.replace_results_many(session, PositionValuation, AS_OF, pids, broken)
        session.flush()
    with session_scope(db_settings) as session:
        kept = session.scalars(sa.select(PositionValuation.position_id)).all()
        assert sorted(kept) == sorted(positions)


def test_empty_rows_delete_only(db_settings: Settings) -> None:
    pids, positions, factors = _seed(db_settings)
    frame = _frames(pids, positions, factors)[PositionValuation]
    with session_scope(db_settings) as session:
        store.replace_results_many(session, PositionValuation, AS_OF, pids, frame)
        assert store.replace_results_many(session, PositionValuation, AS_OF, [pids[0]], []) == 0
        left = session.scalars(sa.select(PositionValuation.portfolio_id)).all()
        assert set(left) == {pids[1]}
