"""The layered path (security layer → portfolio layer) equals the per-portfolio path.

For the three demo portfolios and five small synthetic ones, on SQLite and
PostgreSQL: each layered engine's summary, notes and tables equal what
``run_<engine>`` returns for that portfolio, and the rows the layered path saves
equal the rows ``run_<engine>`` saves — numbers to 1e-9 relative, text, flags
and notes exactly. (``run_<engine>`` computes the same figures with
``save=True`` as with ``save=False``; it runs with ``save=True`` here so that its
stored rows can be compared too.)
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import delete, select, update

from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    FactorCorrelation,
    MarketPrice,
    PortfolioSnapshot,
    Position,
    PositionHistory,
    StressScenario,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.calendar import sessions_window
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.params import load_engine_params
from sigmasight_lib.portfolios.synthetic import generate_synthetic_portfolios, snapshot_universe
from sigmasight_lib.portfolios.synthetic_store import save_synthetic
from sigmasight_lib.runs import ENGINE_RUNNERS, snapshots
from sigmasight_lib.runs.inputs import factor_choices, load_scenario_set
from sigmasight_lib.runs.portfolio_layer import LAYER_ENGINES
from sigmasight_lib.runs.security_layer import SecurityLayer

AS_OF = dt.date(2017, 3, 29)
RTOL = 1e-9
ATOL = 1e-12
"""Absolute floor, times the largest |value| of a table column, for figures that are
rounding noise around zero (the style betas of a factor ETF fitted on itself come out
~1e-16, and their USD exposures ~1e-12, with different noise when the least-squares
solve holds a different set of assets)."""
SKIPPED_COLUMNS = {"id", "computed_at", "batch_run_id"}
SHARED_MODELS = {"stress": (StressScenario, FactorCorrelation)}
"""Tables an engine writes once per as-of (or for good), not per portfolio: before the
layered save they are emptied (factor correlations of the as-of) or overwritten with
junk (scenarios, whose ids the results reference), so the comparison sees what the
layered save writes."""


def clobber_shared(settings) -> None:  # noqa: ANN001
    """Empty / overwrite the :data:`SHARED_MODELS` rows the per-portfolio runs wrote."""
    with session_scope(settings) as session:
        session.execute(delete(FactorCorrelation).where(FactorCorrelation.as_of == AS_OF))
        session.execute(
            update(StressScenario).values(name="junk", description="junk", shocks={}, source="")
        )


def same(got: Any, want: Any, where: str = "", atol: float = ATOL) -> None:
    """Assert ``got`` equals ``want``: numbers to :data:`RTOL` relative (:data:`ATOL` absolute
    floor), the rest exactly."""
    if isinstance(want, pd.DataFrame):
        assert isinstance(got, pd.DataFrame), where
        assert list(got.columns) == list(want.columns), where
        assert list(got.index) == list(want.index), where
        for c in want.columns:
            numeric = pd.to_numeric(want[c], errors="coerce").abs()
            scale = float(numeric.max()) if numeric.notna().any() else 0.0
            same(got[c].tolist(), want[c].tolist(), f"{where}.{c}", max(ATOL, ATOL * scale))
        return
    if isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (where, got, want)
        for k in want:
            same(got[k], want[k], f"{where}.{k}", atol)
        return
    if isinstance(want, list | tuple):
        assert len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            same(g, w, f"{where}[{i}]", atol)
        return
    if isinstance(want, float | np.floating) and not isinstance(want, bool):
        if math.isnan(want):
            assert got is None or (isinstance(got, float | np.floating) and math.isnan(got)), (
                where,
                got,
            )
            return
        assert isinstance(got, int | float | np.number), (where, got, want)
        assert abs(got - want) <= RTOL * max(abs(want), abs(got)) + atol, (where, got, want)
        return
    if want is None or (not isinstance(want, list | dict | str) and pd.isna(want)):
        assert got is None or pd.isna(got), (where, got, want)
        return
    assert got == want, (where, got, want)


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), None)


def stored(settings, models) -> dict[str, pd.DataFrame]:  # noqa: ANN001
    """Every stored row of ``models`` for :data:`AS_OF`, sorted, without ids and timestamps."""
    out = {}
    with session_scope(settings) as session:
        for model in models:
            query = select(model)
            if "as_of" in model.__table__.columns:
                query = query.where(model.as_of == AS_OF)
            rows = session.scalars(query).all()
            columns = [c.name for c in model.__table__.columns if c.name not in SKIPPED_COLUMNS]
            frame = pd.DataFrame(
                [{c: getattr(r, c) for c in columns} for r in rows], columns=columns
            )
            keys = [c for c in columns if frame[c].map(lambda v: isinstance(v, int | str)).all()]
            out[model.__tablename__] = frame.sort_values(keys).reset_index(drop=True)
    return out


@pytest.fixture
def layered_db(demo_db):  # noqa: ANN001, ANN201
    """The demo database plus five synthetic portfolios of twelve positions."""
    synthetic = generate_synthetic_portfolios(snapshot_universe(AS_OF), 5, 12, seed=7)
    with session_scope(demo_db) as session:
        save_synthetic(session, synthetic)
    return demo_db


def test_layered_engines_equal_the_per_portfolio_runs(layered_db) -> None:  # noqa: ANN001
    settings, provider = layered_db, OfflineSnapshotProvider()
    params = load_engine_params(settings.params_dir)
    with session_scope(settings) as session:
        ids = [p.id for p in store.load_portfolios(session)]
        layer = SecurityLayer.build(
            session, provider, params, AS_OF, ids,
            scenario_set=load_scenario_set(settings.params_dir),
        )  # fmt: skip
    assert len(ids) == 8
    assert {"stress", "market_risk"} <= set(LAYER_ENGINES)
    for engine, layered in LAYER_ENGINES.items():
        with session_scope(settings) as session:
            result = layered(layer, session)
        models = [model for model, _ in result.rows] + list(SHARED_MODELS.get(engine, ()))
        expected = {
            pid: ENGINE_RUNNERS[engine](settings, pid, AS_OF, provider=provider) for pid in ids
        }
        want_rows = stored(settings, models)
        assert all(len(frame) for frame in want_rows.values()), engine
        for pid in ids:
            got, want = result.run(pid), expected[pid]
            where = f"{engine}[{want.portfolio}]"
            assert (got.portfolio, got.as_of) == (want.portfolio, want.as_of)
            same(got.summary, want.summary, f"{where}.summary")
            assert got.notes == want.notes, where
            assert set(got.tables) == set(want.tables), where
            for name, table in want.tables.items():
                same(got.tables[name], table, f"{where}.tables.{name}")
        clobber_shared(settings)
        with session_scope(settings) as session:
            saved = result.save(session)
        assert saved == sum(r.rows_saved for r in expected.values()), engine
        got_rows = stored(settings, models)
        for table, frame in want_rows.items():
            same(got_rows[table], frame, f"{engine}.stored.{table}")


def test_load_positions_many_equals_load_positions(layered_db) -> None:  # noqa: ANN001
    with session_scope(layered_db) as session:
        ids = [p.id for p in store.load_portfolios(session)]
        many = store.load_positions_many(session, ids, AS_OF)
        for pid in ids:
            one = store.load_positions(session, pid, AS_OF)
            mine = many.loc[many["portfolio_id"] == pid].drop(columns="portfolio_id")
            # pandas infers a string dtype (missing = NaN) for a column holding strings,
            # object (missing = None) for one holding only None: compare the values
            pd.testing.assert_frame_equal(plain(mine), plain(one))


def short_retention(settings, tmp_path, days: int):  # noqa: ANN001, ANN201
    """``settings`` with a copy of its parameters whose ``snapshot.retention_days`` is ``days``."""
    params_dir = tmp_path / "params"
    shutil.copytree(settings.params_dir, params_dir)
    engines = params_dir / "engines.yaml"
    engines.write_text(
        engines.read_text(encoding="utf-8").replace(
            "retention_days: 365", f"retention_days: {days}"
        ),
        encoding="utf-8",
    )
    assert load_engine_params(params_dir).snapshot.retention_days == days
    return replace(settings, params_dir=params_dir)


def stored_snapshots(settings, pid: int) -> list[PortfolioSnapshot]:  # noqa: ANN001
    """Every stored snapshot of portfolio ``pid``, by date."""
    with session_scope(settings) as session:
        rows = session.scalars(
            select(PortfolioSnapshot)
            .where(PortfolioSnapshot.portfolio_id == pid)
            .order_by(PortfolioSnapshot.as_of)
        ).all()
        session.expunge_all()
    return list(rows)


def test_layered_snapshot_with_stored_history_and_retention_equals_run_snapshot(
    layered_db, tmp_path
) -> None:  # noqa: ANN001
    """Earlier snapshots exist (a backfill at the previous sessions) and the retention
    window is short: the layered snapshot deletes, keeps and re-accumulates exactly as
    ``run_snapshot`` does, for every portfolio (summary, history table and stored rows)."""
    settings, provider = short_retention(layered_db, tmp_path, 4), OfflineSnapshotProvider()
    params = load_engine_params(settings.params_dir)
    with session_scope(settings) as session:
        ids = [p.id for p in store.load_portfolios(session)]
    earlier = sessions_window(AS_OF, 8)[0]  # 7 sessions before the as-of
    for pid in ids:  # history: 8 sessions up to `earlier`, i.e. some beyond the retention
        ENGINE_RUNNERS["snapshot"](settings, pid, earlier, provider=provider, backfill=7)
    expected = {
        pid: ENGINE_RUNNERS["snapshot"](settings, pid, AS_OF, provider=provider, save=False)
        for pid in ids
    }
    assert all(len(e.tables["history"]) < 9 for e in expected.values())  # retention deleted
    with session_scope(settings) as session:
        layer = SecurityLayer.build(session, provider, params, AS_OF, ids)
    with session_scope(settings) as session:
        result = LAYER_ENGINES["snapshot"](layer, session)
        result.save(session)
    for pid in ids:
        got, want = result.run(pid), expected[pid]
        same(got.summary, want.summary, f"snapshot[{want.portfolio}].summary")
        assert got.notes == want.notes
        same(got.tables["history"], want.tables["history"], f"snapshot[{want.portfolio}].history")
    for pid in ids:
        rows = stored_snapshots(settings, pid)
        history = expected[pid].tables["history"]
        assert [r.as_of for r in rows] == list(history["as_of"])
        same([r.cumulative_pnl_usd for r in rows], history["cumulative_pnl_usd"].tolist())


BACKFILL = 30
"""Sessions before the as-of the backfill test fills (2017-02-14 .. 2017-03-28)."""
BALANCED = "Balanced Individual Investor"
HEDGE_FUND = "Long/Short Hedge Fund Style"


def reshape_backfill_window(settings, days: list[dt.date]) -> dict[str, dt.date]:  # noqa: ANN001
    """Make the backfill window ``days`` eventful: Balanced Individual Investor buys a call
    that expires in the window, sells its XOM on ``days[12]`` and resizes its KO (a quantity
    change effective ``days[20]``, replayed before it); the hedge fund sells a call it wrote
    before its expiry; the cache loses every price of ``days[17]``, and SPY's from
    ``days[23]`` on (the Market factor's first proxy, stale from ``days[28]``: the last three
    days' fits use the second, ^GSPC).

    Returns
    -------
    dict
        What happens when: ``expiry``, ``sold``, ``resized``, ``unpriced``, ``spy_stale``.
    """
    expiry = dt.date(2017, 3, 17)
    assert days[3] < expiry < days[-1]
    with session_scope(settings) as session:
        by_name = {p.name: p.id for p in store.load_portfolios(session)}
        balanced = by_name[BALANCED]

        def position(portfolio: str, symbol: str) -> Position:
            return session.scalars(
                select(Position).where(
                    Position.portfolio_id == by_name[portfolio], Position.symbol == symbol
                )
            ).one()

        session.add(
            Position(
                portfolio_id=balanced, symbol="MSFT170317C00064000", underlying="MSFT",
                position_type="LC", quantity=10.0, entry_price=1.25, entry_date=days[3],
                option_type="C", strike=64.0, expiry=expiry, multiplier=100,
            )
        )  # fmt: skip
        xom = position(BALANCED, "XOM")
        xom.exit_date, xom.exit_price = days[12], 80.0
        ko = position(BALANCED, "KO")
        session.add(
            PositionHistory(
                position_id=ko.id, effective_date=days[20], field="quantity",
                old_value=str(ko.quantity), new_value="900",
            )
        )  # fmt: skip
        ko.quantity = 900.0
        position(HEDGE_FUND, "AMD170421C00015000").exit_date = days[15]
        session.execute(delete(MarketPrice).where(MarketPrice.date == days[17]))
        session.execute(
            delete(MarketPrice).where(MarketPrice.symbol == "SPY", MarketPrice.date >= days[23])
        )
    return {"expiry": expiry, "sold": days[12], "resized": days[20], "unpriced": days[17],
            "spy_stale": days[28]}  # fmt: skip


def test_layered_snapshot_backfill_equals_run_snapshot(layered_db, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """A backfill of :data:`BACKFILL` sessions over an eventful window
    (:func:`reshape_backfill_window`: positions bought, sold and resized in it, an option
    expiring in it, a session without prices, the market proxy changing), with days stored
    already (some older than
    the 30-day retention, deleted) and older snapshots beyond the retention: the layered
    snapshot (in passes of a few days: :data:`~sigmasight_lib.runs.snapshots.ROWS_PER_PASS`
    lowered) equals ``run_snapshot(..., backfill=BACKFILL)`` of every portfolio — summary
    (``written_days``, ``history_days``), notes, ``snapshot`` and ``history`` tables — and
    stores the same rows."""
    settings, provider = short_retention(layered_db, tmp_path, 30), OfflineSnapshotProvider()
    params = load_engine_params(settings.params_dir)
    days = sessions_window(AS_OF, BACKFILL + 1)
    events = reshape_backfill_window(settings, days)
    with session_scope(settings) as session:
        ids = [p.id for p in store.load_portfolios(session)]
    older = sessions_window(AS_OF, 70)[0]
    for pid in ids:  # stored before: 3 sessions beyond the retention, 5 inside the window
        ENGINE_RUNNERS["snapshot"](settings, pid, older, provider=provider, backfill=2)
        ENGINE_RUNNERS["snapshot"](settings, pid, days[8], provider=provider, backfill=4)
    expected = {
        pid: ENGINE_RUNNERS["snapshot"](
            settings, pid, AS_OF, provider=provider, save=False, backfill=BACKFILL
        )
        for pid in ids
    }
    # the scenario is what the docstring says
    unpriced = f"{events['unpriced']}: no prices in the cache, no snapshot"
    assert all(unpriced in e.notes for e in expected.values())
    assert all(e.summary["written_days"] == BACKFILL + 1 - 5 - 1 for e in expected.values())
    for e in expected.values():
        history = list(e.tables["history"]["as_of"])
        assert older not in history and days[4] not in history and days[8] in history
        assert events["unpriced"] not in history and days[0] in history
    with session_scope(settings) as session:
        layer = SecurityLayer.build(
            session, provider, params, AS_OF, ids, snapshot_backfill=BACKFILL
        )
    inputs = layer.inputs_for(params.factors.window + 1 + BACKFILL)
    market = [used["Market"] for used, _ in factor_choices(inputs, layer.equity[0], days, params)]
    stale = days.index(events["spy_stale"])
    assert set(market[:stale]) == {"SPY"} and set(market[stale:]) == {"^GSPC"}
    monkeypatch.setattr(snapshots, "ROWS_PER_PASS", 500)
    with session_scope(settings) as session:
        result = LAYER_ENGINES["snapshot"](layer, session, backfill=BACKFILL)
        saved = result.save(session)
    assert saved == sum(e.summary["written_days"] for e in expected.values())
    for pid in ids:
        got, want = result.run(pid), expected[pid]
        where = f"snapshot[{want.portfolio}]"
        same(got.summary, want.summary, f"{where}.summary")
        assert got.notes == want.notes, where
        assert set(got.tables) == set(want.tables), where
        for name, table in want.tables.items():
            same(got.tables[name], table, f"{where}.tables.{name}")
        history = want.tables["history"]
        rows = stored_snapshots(settings, pid)
        got_rows = pd.DataFrame(
            [{c: getattr(r, c) for c in history.columns} for r in rows], columns=history.columns
        )
        same(got_rows, history, f"{where}.stored")
