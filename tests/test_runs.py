"""Engine runs (load → compute → save) on the demo portfolios, SQLite and PostgreSQL.

Expected values come from the snapshot read independently, mibian and hand sums.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import mibian
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from sigmasight_lib.cli import main
from sigmasight_lib.db.models import (
    ExposureResult,
    FactorDefinition,
    PortfolioFactorExposure,
    PositionFactorExposure,
    PositionGreeks,
    PositionValuation,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.runs import run_exposures, run_factors, run_greeks, run_valuation

AS_OF = dt.date(2017, 3, 29)
PREV = dt.date(2017, 3, 28)
HF = "Long/Short Hedge Fund Style"


@pytest.fixture(scope="module")
def snapshot_prices() -> pd.DataFrame:
    """Adjusted closes straight from the snapshot provider (not the cache)."""
    p = OfflineSnapshotProvider().fetch_prices(
        ["AAPL", "AMD", "JPM", "XOM", "CVX", "MTUM", "KO"], dt.date(2016, 12, 1), AS_OF
    )
    return p.pivot(index="date", columns="symbol", values="adj_close")


def test_valuation_of_stocks_matches_snapshot(demo_db, snapshot_prices):
    run = run_valuation(demo_db, HF)
    t = run.tables["positions"].set_index("symbol")
    for symbol, qty in (("AAPL", 10000), ("CVX", -4000), ("KO", -6000), ("MTUM", 4000)):
        price, prev = snapshot_prices.loc[AS_OF, symbol], snapshot_prices.loc[PREV, symbol]
        assert t.loc[symbol, "market_value_usd"] == pytest.approx(abs(qty) * price, rel=1e-12)
        assert t.loc[symbol, "exposure_usd"] == pytest.approx(qty * price, rel=1e-12)
        assert t.loc[symbol, "daily_pnl_usd"] == pytest.approx(qty * (price - prev), rel=1e-9)
        assert t.loc[symbol, "price_source"] == "market"
    assert run.summary["model_priced"] == 5 and run.summary["unpriced"] == 0
    # net liquidation value = long MV − short MV, by hand from quantity × price × multiplier
    # (long options count in the long MV, short options in the short MV)
    table = run.tables["positions"]
    signed = (
        table["quantity"]
        * table["price"]
        * np.where(table["position_type"].isin(["LC", "LP", "SC", "SP"]), 100.0, 1.0)
    )
    long_mv, short_mv = signed[signed > 0].sum(), -signed[signed < 0].sum()
    assert short_mv > 0 and table.loc[table["position_type"].isin(["SC", "SP"])].shape[0] > 0
    assert run.summary["long_market_value_usd"] == pytest.approx(long_mv, rel=1e-12)
    assert run.summary["short_market_value_usd"] == pytest.approx(short_mv, rel=1e-12)
    assert run.summary["net_liquidation_value_usd"] == pytest.approx(long_mv - short_mv, rel=1e-12)
    assert run.summary["gross_market_value_usd"] == pytest.approx(long_mv + short_mv, rel=1e-12)
    with session_scope(demo_db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PositionValuation)) == 30


def test_option_model_price_equals_mibian_with_realized_vol(demo_db):
    """AMD 15 call, 2017-04-21: realized vol from 61 snapshot closes, rate from the curve by hand."""
    provider = OfflineSnapshotProvider()
    amd = provider.fetch_prices(["AMD"], dt.date(2016, 12, 1), AS_OF).set_index("date")["adj_close"]
    vol = float(np.log(amd.iloc[-61:]).diff().dropna().std(ddof=1) * np.sqrt(252))
    curve = provider.fetch_rates(AS_OF, AS_OF).set_index("tenor")["yield_rate"]
    days = (dt.date(2017, 4, 21) - AS_OF).days  # 23, shorter than the 1-month tenor
    rate = curve["1m"]  # flat below the shortest point of the curve
    expected = mibian.BS([amd.loc[AS_OF], 15.0, rate * 100, days], volatility=vol * 100)
    greeks = run_greeks(demo_db, HF).tables["positions"].set_index("symbol")
    row = greeks.loc["AMD170421C00015000"]
    assert row["implied_vol"] == pytest.approx(vol, rel=1e-12)
    assert row["vol_source"] == "realized"
    assert row["risk_free_rate"] == pytest.approx(rate, rel=1e-12)
    assert row["model_price"] == pytest.approx(expected.callPrice, abs=1e-10)
    # position Greeks = contract Greeks × quantity (−50) × multiplier (100)
    assert row["delta"] == pytest.approx(expected.callDelta * -5000, abs=1e-7)
    assert row["theta"] == pytest.approx(expected.callTheta * -5000, abs=1e-7)
    assert row["vega"] == pytest.approx(expected.vega * -5000, abs=1e-7)
    assert greeks.loc["AAPL", "delta"] == 10000 and greeks.loc["CVX", "delta"] == -4000
    valuation = run_valuation(demo_db, HF).tables["positions"].set_index("symbol")
    assert valuation.loc["AMD170421C00015000", "price"] == pytest.approx(
        expected.callPrice, abs=1e-10
    )
    assert valuation.loc["AMD170421C00015000", "price_source"] == "model"


def test_rate_is_interpolated_on_the_curve(demo_db):
    """XOM put, 2017-05-19: 51 days, between the 1-month and 3-month points."""
    curve = OfflineSnapshotProvider().fetch_rates(AS_OF, AS_OF).set_index("tenor")["yield_rate"]
    years = 51 / 365
    rate = curve["1m"] + (curve["3m"] - curve["1m"]) * (years - 1 / 12) / (0.25 - 1 / 12)
    greeks = run_greeks(demo_db, HF).tables["positions"].set_index("symbol")
    assert greeks.loc["XOM170519P00057500", "years_to_expiry"] == pytest.approx(years, rel=1e-15)
    assert greeks.loc["XOM170519P00057500", "risk_free_rate"] == pytest.approx(rate, rel=1e-12)


def test_exposures_equal_hand_sums(demo_db, snapshot_prices):
    valuation = run_valuation(demo_db, HF).tables["positions"]
    greeks = run_greeks(demo_db, HF).tables["positions"]
    result = run_exposures(demo_db, HF)
    totals = result.summary
    exposure = valuation["exposure_usd"]
    assert totals["gross_exposure_usd"] == pytest.approx(exposure.abs().sum(), rel=1e-12)
    assert totals["net_exposure_usd"] == pytest.approx(exposure.sum(), rel=1e-12)
    assert totals["long_exposure_usd"] == pytest.approx(exposure[exposure > 0].sum(), rel=1e-12)
    assert (totals["long_count"], totals["short_count"]) == (13 + 3, 12 + 2)
    # the stock book by hand from snapshot prices: 13 longs, 12 shorts
    aapl_long = 10000 * snapshot_prices.loc[AS_OF, "AAPL"]
    assert result.tables["underlying"].loc["AAPL", "stock_exposure_usd"] == pytest.approx(
        aapl_long, rel=1e-12
    )
    is_option = greeks["position_type"].isin(["LC", "LP", "SC", "SP"])
    spot = valuation["underlying_price"]
    dae = np.where(is_option, greeks["delta"] * spot, exposure)
    assert totals["delta_adjusted_exposure_usd"] == pytest.approx(dae.sum(), rel=1e-12)
    for name in ("underlying", "sector", "type"):
        assert result.tables[name]["net_exposure_usd"].sum() == pytest.approx(
            totals["net_exposure_usd"], rel=1e-9
        )
    with session_scope(demo_db) as session:
        stored = session.scalar(
            sa.select(ExposureResult).where(ExposureResult.group_by == "portfolio")
        )
        assert stored.gross_exposure_usd == pytest.approx(totals["gross_exposure_usd"])


def test_factor_run_gives_betas_for_every_stock_and_the_portfolio(demo_db):
    run = run_factors(demo_db, HF)
    positions = run.tables["positions"]
    styles = ["Market", "Value", "Momentum", "Quality", "Size", "Low Volatility"]
    assert positions[styles].notna().all().all()  # options inherit their underlying's
    assert "Growth" not in positions.columns
    portfolio = run.tables["portfolio"]
    assert portfolio.loc["Growth", "reason"] == "no offline proxy for Growth"
    dae = positions["delta_adjusted_exposure_usd"]
    for factor in styles:
        dollar = (dae * positions[factor]).sum()  # Σ delta-adjusted exposure × beta, by hand
        assert portfolio.loc[factor, "dollar_beta_usd"] == pytest.approx(dollar, rel=1e-10)
        assert portfolio.loc[factor, "beta_to_gross"] == pytest.approx(
            dollar / dae.abs().sum(), rel=1e-10
        )
        assert portfolio.loc[factor, "beta_to_net"] == pytest.approx(dollar / dae.sum(), rel=1e-10)
    market = (dae * positions["Market"]).sum()
    assert run.summary["market_dollar_beta_usd"] == pytest.approx(market, rel=1e-10)
    assert run.summary["market_beta_to_gross"] == pytest.approx(market / dae.abs().sum())
    assert run.summary["market_beta_to_net"] == pytest.approx(market / dae.sum())
    assert run.summary["exposure_basis"] == "delta-adjusted"
    flagged = {(r["asset"], r["factor"]) for r in run.summary["capped_betas"]}
    assert flagged == {("AMD", "Value"), ("RRC", "Quality")}
    assert run.summary["window_end"] == pd.Timestamp(AS_OF)
    with session_scope(demo_db) as session:
        assert (
            session.scalar(sa.select(sa.func.count()).select_from(PositionFactorExposure)) == 30 * 6
        )
        # a capped beta is stored at ±3 with its OLS estimate beside it; others are equal
        rows = session.execute(
            sa.select(
                PositionFactorExposure.beta,
                PositionFactorExposure.beta_uncapped,
                PositionFactorExposure.capped,
            )  # fmt: skip
        ).all()
        capped = [(b, u) for b, u, c in rows if c]
        assert capped and all(abs(u) > 3.0 and b == np.sign(u) * 3.0 for b, u in capped)
        assert all(b == u for b, u, c in rows if not c)
        assert session.scalar(sa.select(sa.func.count()).select_from(PortfolioFactorExposure)) == 7
        stored = session.execute(
            sa.select(
                PortfolioFactorExposure.dollar_beta_usd,
                PortfolioFactorExposure.beta_to_gross,
                PortfolioFactorExposure.beta_to_net,
            ).where(
                PortfolioFactorExposure.factor_id == FactorDefinition.id,
                FactorDefinition.name == "Market",
            )  # fmt: skip
        ).one()
        assert stored == pytest.approx(
            (market, market / dae.abs().sum(), market / dae.sum()), rel=1e-10
        )


def test_rerun_replaces_rows_and_records_the_batch_run(demo_db):
    run_greeks(demo_db, HF)
    run_greeks(demo_db, HF, batch_run_id=None)
    with session_scope(demo_db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(PositionGreeks)) == 30


def test_engine_runs_as_of_an_earlier_date_use_positions_held_then(demo_db):
    run = run_valuation(demo_db, "Sophisticated High Net Worth", as_of=dt.date(2016, 6, 30))
    assert len(run.tables["positions"]) == 10  # entered on or before 2016-06-30 (see test_cli)


def test_engine_cli_json(demo_db, monkeypatch, capsys):
    monkeypatch.setenv(
        "SIGMASIGHT_DATABASE_URL", demo_db.database_url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("SIGMASIGHT_PARAMS_DIR", str(demo_db.params_dir))
    main(["-q", "engine", "factors", "--portfolio", HF, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["engine"] == "factors" and out["as_of"] == "2017-03-29"
    assert len(out["tables"]["positions"]) == 30
    assert out["summary"]["dollar_betas_usd"]["Growth"] is None
    assert out["summary"]["betas_to_gross"]["Growth"] is None
    assert isinstance(out["summary"]["dollar_betas_usd"]["Market"], float)
    assert isinstance(out["summary"]["market_beta_to_net"], float)


def test_empty_portfolio_gives_zero_exposures_with_a_note(demo_db):
    from sigmasight_lib.portfolios.service import write_portfolio

    with session_scope(demo_db) as session:
        write_portfolio(session, name="Empty", owner_email="empty@example.com", positions=[])
    run = run_exposures(demo_db, "Empty")
    assert run.summary["gross_exposure_usd"] == 0 and run.summary["position_count"] == 0
    assert any("no positions" in n for n in run.notes)
    assert run_valuation(demo_db, "Empty").summary["positions"] == 0


def test_mibian_backend_selected_in_params_gives_the_same_greeks(demo_db, tmp_path):
    import shutil

    params = tmp_path / "params"
    shutil.copytree(demo_db.params_dir, params)
    (params / "engines.yaml").write_text("greeks:\n  greeks_backend: mibian\n", encoding="utf-8")
    numpy_run = run_greeks(demo_db, HF).tables["positions"]
    mibian_run = run_greeks(replace(demo_db, params_dir=params), HF)
    assert mibian_run.summary["greeks_backend"] == "mibian"
    for col in ("delta", "gamma", "theta", "vega", "rho", "model_price"):
        np.testing.assert_allclose(
            mibian_run.tables["positions"][col].to_numpy(dtype=float),
            numpy_run[col].to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
        )
