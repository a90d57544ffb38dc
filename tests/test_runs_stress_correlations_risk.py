"""Stress, correlations and risk-metrics runs on the demo portfolios (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import empyrical
import numpy as np
import pytest
import sqlalchemy as sa

from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.models import (
    FactorCorrelation,
    PortfolioCorrelationMetrics,
    PositionCorrelation,
    StressResult,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.params import load_stress_scenarios
from sigmasight_lib.runs import run_correlations, run_factors, run_risk_metrics, run_stress

AS_OF = dt.date(2017, 3, 29)
HF = "Long/Short Hedge Fund Style"
DEMOS = ("Balanced Individual Investor", "Sophisticated High Net Worth", HF)
OFFLINE_UNMAPPED = {"China", "Credit Spread", "DAX", "Emerging Markets", "Gold", "Growth"}


def test_every_scenario_runs_on_every_demo_portfolio(demo_db):
    library = load_stress_scenarios(REPO_DIR / "params" / "stress_scenarios.yaml")
    for name in DEMOS:
        run = run_stress(demo_db, name)
        table = run.tables["scenarios"]
        assert list(table.index) == [s.key for s in library]
        for scenario in library:
            expected = sorted(set(scenario.shocks) & (OFFLINE_UNMAPPED | {"Travel", "Tech"}))
            unmapped = table.at[scenario.key, "unmapped"]
            assert sorted(unmapped.split(", ") if unmapped else []) == expected, (
                name,
                scenario.key,
            )
            assert bool(table.at[scenario.key, "partial"]) == bool(expected)
        mapped_only = [
            s.key for s in library if not set(s.shocks) & (OFFLINE_UNMAPPED | {"Travel", "Tech"})
        ]
        assert table.loc[mapped_only, ["direct_pnl_usd", "correlated_pnl_usd"]].notna().all().all()
    with session_scope(demo_db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(StressResult)) == 3 * len(
            library
        )


def test_single_factor_direct_pnl_by_hand(demo_db):
    """Market −10 %: stocks Σ exposure × market beta × −0.10, options by their revaluation."""
    factors = run_factors(demo_db, HF).tables["positions"]
    run = run_stress(demo_db, HF)
    by_position = run.tables["by_position"].loc["market_down_10"]
    is_option = factors["position_type"].isin(["LC", "LP", "SC", "SP"])
    stocks = factors.loc[~is_option]
    linear = (stocks["delta_adjusted_exposure_usd"] * stocks["Market"] * -0.10).sum()
    options = by_position.loc[is_option[is_option].index, "revaluation_pnl_direct"].sum()
    assert run.tables["scenarios"].at["market_down_10", "direct_pnl_usd"] == pytest.approx(
        linear + options, rel=1e-10
    )


def test_factor_correlations_are_stored_symmetric(demo_db):
    run_stress(demo_db, HF)
    with session_scope(demo_db) as session:
        rows = session.execute(
            sa.select(
                FactorCorrelation.factor_1_id,
                FactorCorrelation.factor_2_id,
                FactorCorrelation.correlation,
            )
        ).all()
    matrix = {(a, b): c for a, b, c in rows}
    assert all(matrix[(b, a)] == pytest.approx(c) for (a, b), c in matrix.items())
    assert all(c == pytest.approx(1.0) for (a, b), c in matrix.items() if a == b)
    assert len({a for a, _ in matrix}) == 9  # 6 equity factors + Interest Rate, Oil, Volatility


def test_correlations_run_stores_pairs_and_metrics(demo_db):
    run = run_correlations(demo_db, HF)
    n = run.summary["assets"]
    assert n == 25 and not run.summary["excluded"]
    with session_scope(demo_db) as session:
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(PositionCorrelation))
            == n * (n - 1) // 2
        )
        stored = session.scalar(sa.select(PortfolioCorrelationMetrics))
        assert stored.average_correlation == pytest.approx(run.summary["average_correlation"])
    corr = run.tables["correlation"]
    assert (
        corr.at["JPM", "BAC"] == pytest.approx(corr.at["BAC", "JPM"])
        and corr.at["JPM", "BAC"] > 0.8
    )


def test_risk_metrics_match_empyrical_and_contributions_sum(demo_db):
    run = run_risk_metrics(demo_db, HF)
    returns = run.tables["returns"]["return"]
    assert len(returns) == 252
    assert run.summary["sharpe"] == pytest.approx(
        empyrical.sharpe_ratio(returns.to_numpy()), rel=1e-12
    )
    assert run.summary["max_drawdown"] == pytest.approx(
        empyrical.max_drawdown(returns.to_numpy()), rel=1e-12
    )
    # historical VaR: the 13th worst of the 252 returns (k = ⌈252 × 0.05⌉), as a loss;
    # oracle: numpy's lower empirical quantile; CVaR: mean of the 13 worst
    assert run.summary["var_95"] == pytest.approx(
        -np.quantile(returns, 0.05, method="inverted_cdf"), rel=1e-12
    )
    assert run.summary["var_95"] == pytest.approx(-np.sort(returns)[12], rel=1e-12)
    assert run.summary["cvar_99"] == pytest.approx(-np.sort(returns)[:3].mean(), rel=1e-12)
    # Gaussian VaR with zero mean (params default)
    z = -1.6448536269514722
    assert run.summary["parametric_var_95"] == pytest.approx(-z * returns.std(ddof=1), rel=1e-9)
    assert run.summary["var_95_usd"] == pytest.approx(
        run.summary["var_95"] * run.summary["gross_exposure_usd"]
    )
    positions = run.tables["positions"]
    assert positions["total_contribution_usd2"].sum() == pytest.approx(
        run.summary["ex_ante_variance_usd2"], rel=1e-9
    )
    assert positions["share"].sum() == pytest.approx(1.0, rel=1e-9)
    assert run.summary["factor_variance_usd2"] + run.summary[
        "specific_variance_usd2"
    ] == pytest.approx(run.summary["ex_ante_variance_usd2"], rel=1e-12)


def test_gaussian_mean_is_configurable_and_validated(demo_db, tmp_path):
    import shutil
    from dataclasses import replace

    from sigmasight_lib.exceptions import ConfigError

    params = tmp_path / "params"
    shutil.copytree(demo_db.params_dir, params)
    (params / "engines.yaml").write_text("risk_metrics:\n  gaussian_mean: sample\n")
    run = run_risk_metrics(replace(demo_db, params_dir=params), HF)
    returns = run.tables["returns"]["return"]
    z = -1.6448536269514722
    expected = -(returns.mean() + z * returns.std(ddof=1))
    assert run.summary["parametric_var_95"] == pytest.approx(expected, rel=1e-9)
    (params / "engines.yaml").write_text("risk_metrics:\n  gaussian_mean: median\n")
    with pytest.raises(ConfigError, match="gaussian_mean = 'median'"):
        run_risk_metrics(replace(demo_db, params_dir=params), HF)
