"""All-portfolio stress, correlations and market risk equal the per-portfolio runners
(demo and synthetic portfolios, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.config import Settings
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata import get_provider
from sigmasight_lib.params import load_engine_params
from sigmasight_lib.portfolios.synthetic import generate_synthetic_portfolios, snapshot_universe
from sigmasight_lib.portfolios.synthetic_store import save_synthetic
from sigmasight_lib.runs import run_correlations, run_market_risk
from sigmasight_lib.runs.portfolio_risk import (
    correlations_many,
    market_risk_many,
)
from sigmasight_lib.runs.result import records
from sigmasight_lib.runs.security_layer import SecurityLayer
from tests.conftest import seed_demo_database

AS_OF = dt.date(2017, 3, 29)
DEMOS = (
    "Balanced Individual Investor",
    "Sophisticated High Net Worth",
    "Long/Short Hedge Fund Style",
)
RTOL = 1e-9


def assert_same(actual: Any, expected: Any, where: str = "") -> None:
    """Numbers within RTOL (relative), everything else exactly, recursively."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert list(actual) == list(expected), where
        for k in expected:
            assert_same(actual[k], expected[k], f"{where}.{k}")
    elif isinstance(expected, list | tuple):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float | np.floating) and not isinstance(expected, bool):
        assert isinstance(actual, float | int | np.number), where
        if math.isnan(expected):
            assert math.isnan(actual), where
        else:
            assert actual == pytest.approx(expected, rel=RTOL, abs=1e-9), where
    elif expected is None or isinstance(expected, pd.Timestamp | dt.date | str | bool | int):
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"
    else:
        assert actual == expected, where


@pytest.fixture
def risk_db(db_settings: Settings) -> Settings:
    """Demo portfolios plus five small synthetic ones (fixed seed)."""
    seed_demo_database(db_settings)
    generated = generate_synthetic_portfolios(snapshot_universe(AS_OF), 5, 12, seed=7)
    with session_scope(db_settings) as session:
        save_synthetic(session, generated)
    return db_settings


def _union(settings: Settings):
    from sigmasight_lib.db.models import Portfolio

    params = load_engine_params(settings.params_dir)
    provider = get_provider(settings)
    with session_scope(settings) as session:
        ids = [p.id for p in session.query(Portfolio).order_by(Portfolio.id)]
        layer = SecurityLayer.build(session, provider, params, AS_OF, ids)
    return layer, list(layer.portfolio_names.values())


def _same_runs(settings: Settings, layer, many, runner):
    """``(name, got, run)`` per portfolio, summary and notes already checked equal."""
    for pid, name in layer.portfolio_names.items():
        run = runner(settings, name, AS_OF, save=False)
        got = many[pid]
        assert_same(got.summary, run.summary, name)
        assert got.notes == run.notes, name
        yield name, got, run


def test_correlations_many_equals_run_correlations(risk_db):
    layer, names = _union(risk_db)
    assert len(names) == 8 and set(DEMOS) <= set(names)
    many = correlations_many(layer)
    for _name, got, run in _same_runs(risk_db, layer, many, run_correlations):
        m = got.extra["metrics"]
        pd.testing.assert_frame_equal(m.correlation, run.tables["correlation"], rtol=RTOL)
        pd.testing.assert_frame_equal(m.most_correlated, run.tables["most_correlated"], rtol=RTOL)


def test_market_risk_many_equals_run_market_risk(risk_db):
    layer, _ = _union(risk_db)
    many = market_risk_many(layer)
    for name, got, run in _same_runs(risk_db, layer, many, run_market_risk):
        ir = run.tables["positions"]
        rows = {r["position_id"]: r for r in got.rows["position_interest_rate_betas"]}
        assert list(rows) == [int(i) for i in ir.index]
        for position_id, r in ir.iterrows():
            assert_same(rows[int(position_id)]["ir_beta"], float(r["ir_beta"]), name)
        scen = run.tables["scenarios"]
        stored = {r["scenario"]: r for r in got.rows["market_risk_scenarios"]}
        for key, r in scen.iterrows():
            assert_same(stored[key]["pnl_usd"], float(r["pnl_usd"]), f"{name} {key}")


def test_stress_many_equals_run_stress(risk_db):
    from sigmasight_lib.config import REPO_DIR
    from sigmasight_lib.params import load_stress_scenarios
    from sigmasight_lib.runs import run_stress
    from sigmasight_lib.runs.portfolio_risk import stress_many

    layer, _ = _union(risk_db)
    scenarios = load_stress_scenarios(REPO_DIR / "params" / "stress_scenarios.yaml")
    many, shared = stress_many(layer, scenarios)
    assert [r["key"] for r in shared["stress_scenarios"]] == [s.key for s in scenarios]
    assert shared["factor_correlations"]
    for name, got, run in _same_runs(risk_db, layer, many, run_stress):
        table = run.tables["scenarios"]
        for row in got.rows["stress_results"]:
            key = row["scenario_key"]
            assert_same(row["direct_pnl_usd"], float(table.at[key, "direct_pnl_usd"]), key)
            assert_same(row["correlated_pnl_usd"], float(table.at[key, "correlated_pnl_usd"]), key)
            assert row["partial"] == bool(table.at[key, "partial"])
            assert "; ".join(row["details"]["notes"]).startswith(table.at[key, "notes"])
            by_factor = records(run.tables["by_factor"].xs(key, level="scenario"))
            assert_same(row["details"]["by_factor"], by_factor, f"{name} {key} by_factor")
