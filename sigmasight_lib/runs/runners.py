"""One entry point per engine: load its inputs, compute (pure engine), save its results.

``run_<engine>(settings, portfolio, as_of=None, batch_run_id=None, ..., save=True)``
is what the CLI, the notebooks and the batch call. Each returns an
:class:`~sigmasight_lib.runs.result.EngineRun` holding the result tables; each
saves its own results, replacing earlier rows for the same (portfolio, as-of) in
one transaction. With ``save=False`` (an exploration run from a notebook) the
same figures are computed and returned but the transaction is rolled back:
nothing stored changes (``rows_saved`` is 0). An engine that needs an upstream
engine's figures (exposures need valuation and Greeks) recomputes them in memory
from the same inputs rather than trusting possibly stale rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sigmasight_lib.config import Settings
from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    ExposureResult,
    MarketRiskScenarioResult,
    PortfolioCorrelationMetrics,
    PortfolioFactorExposure,
    PortfolioSnapshot,
    PositionCorrelation,
    PositionFactorExposure,
    PositionGreeks,
    PositionInterestRateBeta,
    PositionRiskContribution,
    PositionValuation,
    RiskMetric,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.engines.correlations import portfolio_correlation_metrics
from sigmasight_lib.engines.exposures import delta_adjusted_exposure, portfolio_exposures
from sigmasight_lib.engines.factors import MARKET_FACTOR, design_returns, market_betas
from sigmasight_lib.engines.market_risk import (
    RATE_FACTOR,
    pnl_backtest,
)
from sigmasight_lib.engines.risk_metrics import factor_risk, performance_stats
from sigmasight_lib.engines.snapshot import SNAPSHOT_COLUMNS, cumulative_pnl
from sigmasight_lib.engines.valuation import value_totals
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.marketdata import MarketDataProvider, get_provider
from sigmasight_lib.marketdata.calendar import sessions_window
from sigmasight_lib.params import (
    EngineParams,
    load_engine_params,
)
from sigmasight_lib.runs.inputs import (
    HISTORY_MARGIN_SESSIONS,
    factor_proxies,
    load_market_inputs,
    load_scenario_set,
    proxy_tickers,
    resolve_portfolio,
    with_expiry_closes,
)
from sigmasight_lib.runs.portfolio import (
    compute_stress_inputs,
    equity_factor_exposures,
    load_position_analytics,
    load_with_history,
    portfolio_factor_row,
)
from sigmasight_lib.runs.portfolio_risk import (
    correlation_result,
    correlation_tables,
    factor_correlation_rows,
    market_risk_tables,
    save_stress,
    scenario_table,
    stress_result,
    stress_tables,
)
from sigmasight_lib.runs.result import EngineRun
from sigmasight_lib.runs.securities import (
    fit_rate_betas,
    position_notes,
    rate_beta_summary,
)
from sigmasight_lib.runs.snapshots import plan_snapshot_days, snapshot_figures


def _context(
    settings: Settings, provider: MarketDataProvider | None
) -> tuple[MarketDataProvider, EngineParams]:
    return provider or get_provider(settings), load_engine_params(settings.params_dir)


@contextlib.contextmanager
def _engine_session(settings: Settings, save: bool) -> Iterator[Session]:
    """:func:`session_scope`, rolled back instead of committed when ``save`` is False:
    the run computes and returns its figures, and nothing stored changes."""
    with session_scope(settings) as session:
        yield session
        if not save:
            session.rollback()


def run_valuation(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
) -> EngineRun:
    """Value every position and save ``position_valuations``.

    The summary's value is the net liquidation value, long market value − short
    market value (``short_market_value_usd`` is a positive amount; a long option
    counts in the long, a short option in the short market value), with the gross
    market value (long + short) beside it.
    """
    provider, params = _context(settings, provider)
    with _engine_session(settings, save) as session:
        pa = load_position_analytics(session, provider, params, portfolio, as_of)
        table = pa.positions[["symbol", "position_type", "quantity"]].join(pa.valuation)
        rows = [
            {"position_id": int(pid), **{c: r[c] for c in pa.valuation.columns}}
            for pid, r in pa.valuation.iterrows()
        ]
        saved = store.replace_results(
            session,
            PositionValuation,
            portfolio_id=pa.portfolio_id,
            as_of=pa.as_of,
            rows=rows,
            batch_run_id=batch_run_id,
        )
    v = pa.valuation
    summary = {
        "positions": len(v),
        **value_totals(v),
        "net_exposure_usd": float(v["exposure_usd"].sum()),
        "unrealized_pnl_usd": float(v["unrealized_pnl_usd"].sum()),
        "realized_pnl_usd": float(np.nansum(v["realized_pnl_usd"].to_numpy(dtype=float))),
        "daily_pnl_usd": float(v["daily_pnl_usd"].sum()),
        "model_priced": int((v["price_source"] == "model").sum()),
        "unpriced": int(v["price"].isna().sum()),
        "expired": int(v["expired"].sum()),
    }
    return EngineRun("valuation", pa.portfolio_id, pa.portfolio, pa.as_of, batch_run_id,
                     {"positions": table}, summary, pa.notes, saved if save else 0)  # fmt: skip


def run_greeks(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
) -> EngineRun:
    """Position Greeks for every position; save ``position_greeks``."""
    provider, params = _context(settings, provider)
    with _engine_session(settings, save) as session:
        pa = load_position_analytics(session, provider, params, portfolio, as_of)
        g = pa.greeks
        rows = [
            {
                "position_id": int(pid),
                "delta": r["delta"], "gamma": r["gamma"], "theta": r["theta"], "vega": r["vega"], "rho": r["rho"],
                "model_price": r["model_price"], "underlying_price": r["underlying_price"],
                "years_to_expiry": r["years_to_expiry"], "implied_vol": r["implied_vol"],
                "vol_source": r["vol_source"], "risk_free_rate": r["risk_free_rate"], "reason": r["reason"],
            }
            for pid, r in g.iterrows()
        ]  # fmt: skip
        saved = store.replace_results(
            session,
            PositionGreeks,
            portfolio_id=pa.portfolio_id,
            as_of=pa.as_of,
            rows=rows,
            batch_run_id=batch_run_id,
        )
    table = pa.positions[["symbol", "position_type", "quantity"]].join(g)
    totals = {
        k: float(np.nansum(g[k].to_numpy(dtype=float)))
        for k in ("delta", "gamma", "theta", "vega", "rho")
    }
    summary = {
        **{f"portfolio_{k}": v for k, v in totals.items()},
        "options": int(pa.positions["option_type"].isin(["C", "P"]).sum()),
        "greeks_backend": params.greeks.greeks_backend,
        "vol_sources": {str(k): int(v) for k, v in g["vol_source"].value_counts().items()},
        "not_computed": int(g["delta"].isna().sum()),
    }
    return EngineRun("greeks", pa.portfolio_id, pa.portfolio, pa.as_of, batch_run_id,
                     {"positions": table}, summary, pa.notes, saved if save else 0)  # fmt: skip


def run_exposures(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
) -> EngineRun:
    """Portfolio exposures and breakdowns; save ``exposure_results``."""
    provider, params = _context(settings, provider)
    with _engine_session(settings, save) as session:
        pa = load_position_analytics(session, provider, params, portfolio, as_of)
        result = portfolio_exposures(pa.joined())
        frame = result.frame()
        saved = store.replace_results(
            session, ExposureResult, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
            rows=frame.to_dict(orient="records"), batch_run_id=batch_run_id,
        )  # fmt: skip
    tables = {"portfolio": pd.DataFrame([result.totals]), **result.breakdowns}
    return EngineRun("exposures", pa.portfolio_id, pa.portfolio, pa.as_of, batch_run_id,
                     tables, dict(result.totals), pa.notes + result.notes, saved if save else 0)  # fmt: skip


def run_factors(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
) -> EngineRun:
    """Position and portfolio factor betas; save both factor exposure tables.

    Stocks and ETFs are regressed on the factor proxies of the active
    provider; options inherit their underlying's betas, weighted by their
    delta-adjusted exposure. Factors without a proxy or without data are N/A
    with the reason.
    """
    provider, params = _context(settings, provider)
    with _engine_session(settings, save) as session:
        pa, _, fx = equity_factor_exposures(session, provider, params, portfolio, as_of)
        fit = fx.fit
        joined = pa.joined()
        position_rows = []
        for pid, row in joined.iterrows():
            u = row["underlying"]
            for name in fit.factors:
                beta = fit.betas.at[u, name]
                position_rows.append({
                    "position_id": int(pid), "factor_id": fx.factor_ids[name], "beta": beta,
                    "beta_uncapped": fit.betas_uncapped.at[u, name],
                    "t_stat": fit.t_stats.at[u, name], "exposure_usd": beta * fx.dae[pid],
                    "r_squared": fit.r_squared[u], "observations": int(fit.observations[u]),
                    "capped": bool(fit.capped.at[u, name]), "reason": fit.reasons[u],
                })  # fmt: skip
        portfolio_rows = [
            portfolio_factor_row(fx.factor_ids[name], r, fit.mode, fx.na_reasons.get(name))
            for name, r in fx.portfolio.iterrows()
        ]
        saved = store.replace_results(session, PositionFactorExposure, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                      rows=position_rows, batch_run_id=batch_run_id)  # fmt: skip
        saved += store.replace_results(session, PortfolioFactorExposure, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                       rows=portfolio_rows, batch_run_id=batch_run_id)  # fmt: skip

    positions_table = (
        joined[["symbol", "underlying", "position_type"]]
        .assign(delta_adjusted_exposure_usd=fx.dae)
        .join(fx.position_betas)
        .join(joined["underlying"].map(fit.r_squared).rename("r_squared"))
        .join(joined["underlying"].map(fit.reasons).rename("reason"))
    )
    notes = [*pa.notes, *(f"{n}: N/A ({r})" for n, r in fx.na_reasons.items())]
    notes += [f"{n}: beta to net N/A ({r})" for n, r in fx.portfolio["beta_to_net_reason"].dropna().items()]  # fmt: skip
    betas_long = fit.long()
    capped = betas_long[betas_long["capped"].astype(bool)]
    notes += [f"{a} {f}: beta capped at {r['beta']:+g}, OLS estimate {r['beta_uncapped']:.3f} (t {r['t_stat']:.2f})"
              for (a, f), r in capped.iterrows()]  # fmt: skip
    summary = {
        "mode": fit.mode,
        "window_start": fit.window_start,
        "window_end": fit.window_end,
        "factors": list(fit.factors),
        "not_available": fx.na_reasons,
        "condition_number": float(np.nanmedian(fit.condition_number))
        if fit.condition_number.notna().any()
        else None,
        **market_betas(fx.portfolio),
        "exposure_basis": "delta-adjusted",
        "dollar_betas_usd": fx.portfolio["dollar_beta_usd"].to_dict(),
        "betas_to_gross": fx.portfolio["beta_to_gross"].to_dict(),
        "betas_to_net": fx.portfolio["beta_to_net"].to_dict(),
        "capped_betas": [
            {
                "asset": a,
                "factor": f,
                "beta": r["beta"],
                "beta_uncapped": r["beta_uncapped"],
                "t_stat": r["t_stat"],
            }
            for (a, f), r in capped.iterrows()
        ],  # fmt: skip
    }
    tables = {
        "positions": positions_table,
        "portfolio": fx.portfolio,
        "assets": fit.summary(),
        "betas": betas_long.reset_index(),
    }
    return EngineRun(
        "factors",
        pa.portfolio_id,
        pa.portfolio,
        pa.as_of,
        batch_run_id,
        tables,
        summary,
        tuple(notes),
        saved if save else 0,
    )


def run_market_risk(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
) -> EngineRun:
    """Market and rate scenario P&L, position interest-rate betas and a P&L backtest.

    Saves one ``market_risk_scenarios`` row per scenario (and one for the
    backtest) and ``position_interest_rate_betas``.
    """
    provider, params = _context(settings, provider)
    mp = params.market_risk
    with _engine_session(settings, save) as session:
        # the rate window may be longer than the factor window, and the treasury
        # curve has no print on some NYSE sessions (Columbus, Veterans Day): load a margin
        extra = max(mp.rate_window - params.factors.window, 0) + HISTORY_MARGIN_SESSIONS
        pa, inputs, fx = equity_factor_exposures(
            session, provider, params, portfolio, as_of, extra_history=extra
        )
        joined, day = pa.joined(), pa.as_of
        notes = list(pa.notes)
        market = market_betas(fx.portfolio)
        market_exposure = market["market_dollar_beta_usd"]

        if pd.isna(market_exposure):
            notes.append(
                f"Market: N/A ({fx.na_reasons.get(MARKET_FACTOR, 'no market beta')}): "
                "market scenarios and the backtest are N/A"
            )
        rate_proxies, rate_na, _ = factor_proxies(session, provider.name, ("rates",))
        underlyings = sorted(set(joined["underlying"]))
        returns = inputs.returns.reindex(columns=underlyings)
        market_returns = fx.factor_returns.get(MARKET_FACTOR)
        rates, dy, ir, rate_reason = fit_rate_betas(
            inputs, rate_proxies, rate_na, day, underlyings, market_returns, params
        )
        if rate_reason is not None:
            notes.append(f"{RATE_FACTOR}: N/A ({rate_reason}): interest-rate betas are N/A")
        position_ir = joined["underlying"].map(ir["ir_beta"])
        rate_exposure = (
            float(np.nansum((fx.dae * position_ir).to_numpy(dtype=float)))
            if rate_reason is None
            else np.nan
        )
        scenarios = scenario_table(params, market_exposure, rate_exposure)

        if market_returns is not None:
            last = market_returns.dropna().index[-mp.backtest_days :]
            rate_part = rate_exposure * dy.reindex(last) if rate_reason is None else 0.0
            predicted = market_exposure * market_returns.loc[last] + rate_part
        else:
            last = pd.DatetimeIndex([])
            predicted = pd.Series(dtype=float)
        position_returns = returns.reindex(index=last)[joined["underlying"]].set_axis(
            joined.index, axis=1
        )
        actual = position_returns.mul(fx.dae, axis=1).sum(axis=1, min_count=1)
        backtest = pnl_backtest(predicted, actual)
        factor_detail = {
            "market": {"proxy": fx.proxies_used.get(MARKET_FACTOR),
                       "reason": fx.na_reasons.get(MARKET_FACTOR)},
            "rates": {"proxy": rates.proxies_used.get(RATE_FACTOR), "reason": rate_reason},
        }  # fmt: skip

        rows = [
            {"scenario": name, "scenario_type": r["scenario_type"], "shock": r["move"], "pnl_usd": r["pnl_usd"],
             "details": {"exposure_usd": market_exposure if r["scenario_type"] == "market" else rate_exposure,
                         **market, **factor_detail[r["scenario_type"]]}}
            for name, r in scenarios.iterrows()
        ] + [
            {"scenario": f"backtest_{mp.backtest_days}d", "scenario_type": "backtest", "shock": None,
             "pnl_usd": None, "details": {**backtest, "in_sample": True,
                                          "model": "market exposure x market return + rate exposure x "
                                                   "yield change (rate betas joint with the market)",
                                          "window_start": jsonable(last[0]) if len(last) else None,
                                          "window_end": jsonable(last[-1]) if len(last) else None}}
        ]  # fmt: skip
        ir_rows = [
            {"position_id": int(pid), "ir_beta": ir.at[u, "ir_beta"], "r_squared": ir.at[u, "r_squared"],
             "observations": int(ir.at[u, "observations"])}
            for pid, u in joined["underlying"].items()
        ]  # fmt: skip
        saved = store.replace_results(session, MarketRiskScenarioResult, portfolio_id=pa.portfolio_id,
                                      as_of=day, rows=rows, batch_run_id=batch_run_id)  # fmt: skip
        saved += store.replace_results(session, PositionInterestRateBeta, portfolio_id=pa.portfolio_id,
                                       as_of=day, rows=ir_rows, batch_run_id=batch_run_id)  # fmt: skip
    if rate_reason is None:
        excluded = ir["reason"].dropna()
        notes += [f"{u}: interest-rate beta N/A ({r})" for u, r in excluded.items()]
    summary = {
        **market,
        "rate_exposure_usd": rate_exposure,
        "market_proxy": fx.proxies_used.get(MARKET_FACTOR),
        "rate_proxy": rates.proxies_used.get(RATE_FACTOR),
        "rate_reason": rate_reason,
        **rate_beta_summary(ir),
        **{name: r["pnl_usd"] for name, r in scenarios.iterrows()},
        **{f"backtest_{k}": v for k, v in backtest.items()},
    }
    tables = market_risk_tables(
        params, joined, fx.dae, ir, market_exposure, rate_exposure, predicted, actual
    )
    return EngineRun(
        "market_risk",
        pa.portfolio_id,
        pa.portfolio,
        day,
        batch_run_id,
        tables,
        summary,
        tuple(notes),
        saved if save else 0,
    )


def run_snapshot(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
    backfill: int = 0,
) -> EngineRun:
    """The day's portfolio snapshot, optionally backfilling the previous ``backfill`` sessions.

    Backfill writes only the sessions that have no snapshot yet (so a daily run
    with a backfill window is cheap); the as-of day is always recomputed. Days
    are NYSE sessions (never weekends or holidays) on which the cache has
    prices; each day values the positions held that day. Rows older than the
    retention window are deleted; cumulative P&L is recomputed over what is
    kept. Returns the as-of snapshot and the stored history.

    Retention counts ``snapshot.retention_days`` calendar days back from the latest
    stored snapshot date (not from ``as_of``), and never deletes a row this run
    wrote (a rerun of an old date keeps its row).

    ``snapshot.retention_days`` is at least 1 (the params schema refuses less,
    before anything is written).
    """
    provider, params = _context(settings, provider)
    retention = params.snapshot.retention_days
    with _engine_session(settings, save) as session:
        p, day = resolve_portfolio(session, portfolio, as_of)
        portfolio_id, portfolio_name = p.id, p.name
        days = sessions_window(day, backfill + 1)
        held = store.load_positions_on_days(session, [p.id], days)
        equity = factor_proxies(session, provider.name, params.factors.factor_types)
        symbols = sorted({*held["underlying"].unique(), *proxy_tickers(equity[0])})
        history_start = sessions_window(days[0], params.factors.window + 1)[0]
        last = held.loc[held["as_of"] == day].drop(columns="as_of")
        inputs = load_market_inputs(
            session, provider, symbols, history_start, day,
            option_symbols=last.loc[last["option_type"].isin(["C", "P"]), "symbol"].tolist(),
        )  # fmt: skip
        inputs = with_expiry_closes(session, provider, inputs, held[~held.index.duplicated()], day)
        stored_days = session.scalars(
            select(PortfolioSnapshot.as_of).where(
                PortfolioSnapshot.portfolio_id == p.id, PortfolioSnapshot.as_of.in_(days)
            )
        )
        priced = [d for d in days if pd.Timestamp(d) in inputs.levels.index]
        pairs, unpriced = plan_snapshot_days([p.id], days, {(p.id, d) for d in stored_days}, priced)
        figures = snapshot_figures(held, pairs, inputs, equity, params)
        notes = list(unpriced[p.id])
        if day in priced:
            notes += position_notes(last, inputs, day, params)
        now = dt.datetime.now(dt.UTC)
        rows = [
            {"portfolio_id": pid, "as_of": d, "batch_run_id": batch_run_id, "computed_at": now,
             **{k: float(v) for k, v in r.items()}, "position_count": int(r["position_count"])}
            for (pid, d), r in figures.to_dict("index").items()
        ]  # fmt: skip
        store.upsert(session, PortfolioSnapshot, rows, key=("portfolio_id", "as_of"))
        latest = session.scalar(
            select(func.max(PortfolioSnapshot.as_of)).where(PortfolioSnapshot.portfolio_id == p.id)
        )
        if latest is not None:
            written = sorted({day, *(r["as_of"] for r in rows)})
            session.execute(
                delete(PortfolioSnapshot).where(
                    PortfolioSnapshot.portfolio_id == p.id,
                    PortfolioSnapshot.as_of < latest - dt.timedelta(days=retention),
                    PortfolioSnapshot.as_of.not_in(written),
                )
            )
        stored = list(session.scalars(
            select(PortfolioSnapshot).where(PortfolioSnapshot.portfolio_id == p.id).order_by(PortfolioSnapshot.as_of)
        ))  # fmt: skip
        cumulative = cumulative_pnl(
            pd.Series({s.as_of: s.daily_pnl_usd for s in stored}, dtype=float)
        )
        for s in stored:
            s.cumulative_pnl_usd = float(cumulative[s.as_of])
        columns = ["as_of", *SNAPSHOT_COLUMNS]
        history = pd.DataFrame(
            [{c: getattr(s, c) for c in columns} for s in stored], columns=columns
        )
    today = history[history["as_of"] == day]
    summary = today.iloc[0].to_dict() if not today.empty else {}
    summary["history_days"] = len(history)
    summary["written_days"] = len(rows)
    return EngineRun("snapshot", portfolio_id, portfolio_name, day, batch_run_id,
                     {"snapshot": today, "history": history}, summary, tuple(notes),
                     len(rows) if save else 0)  # fmt: skip


def run_stress(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
    scenarios_file: Path | None = None,
) -> EngineRun:
    """Every stress scenario of the library (or ``scenarios_file``): direct and correlated P&L.

    Exposures: market and style factors from the factor engine; macro and rate
    factors from 2-factor regressions on [Market, factor]. Covariance: EWMA
    (λ from params) of the same factor returns over the stress lookback, stored
    as ``factor_correlations``. Options are revalued by BSM under the implied
    move of their underlying. Shocks on factors without data are unmapped.

    Scenario sets: the library is the set ``library``; a custom file is stored as
    its own set named by :func:`scenario_set_name` (its file stem), beside the
    library and never over it. Results are replaced only within the run's set, so
    a custom run keeps the library's results of the same date and vice versa.
    """
    provider, params = _context(settings, provider)
    fp, sp = params.factors, params.stress
    scenario_set = load_scenario_set(settings.params_dir, scenarios_file)
    scenarios = scenario_set.scenarios
    with _engine_session(settings, save) as session:
        eq_proxies, eq_na, eq_ids = factor_proxies(session, provider.name, fp.factor_types)
        mac_proxies, mac_na, mac_ids = factor_proxies(session, provider.name, ("macro", "rates"))
        symbols = proxy_tickers(eq_proxies, mac_proxies)
        pa, inputs = load_with_history(
            session, provider, params, portfolio, as_of, extra_symbols=symbols,
            history_sessions=max(fp.window, sp.lookback) + 1 + HISTORY_MARGIN_SESSIONS,
        )  # fmt: skip
        joined, day = pa.joined(), pa.as_of
        si = compute_stress_inputs(
            joined, inputs, day, (eq_proxies, eq_na, eq_ids), (mac_proxies, mac_na, mac_ids), params
        )
        batch = si.evaluate(scenarios)
        result = stress_result(batch, 0, si, params, pa.notes, scenario_set.name)
        corr_rows = factor_correlation_rows(
            si.covariance, {**eq_ids, **mac_ids}, day, si.covariance_window[2], sp.decay,
            provider.name,
        )  # fmt: skip
        rows = [{**r, "portfolio_id": pa.portfolio_id} for r in result.rows["stress_results"]]
        saved = save_stress(
            session, scenario_set, day, [pa.portfolio_id], rows, corr_rows, batch_run_id
        )
    summary, notes = result.summary, list(result.notes)
    tables = stress_tables(batch, 0, si.covariance)
    return EngineRun(
        "stress",
        pa.portfolio_id,
        pa.portfolio,
        day,
        batch_run_id,
        tables,
        summary,
        tuple(notes),
        saved if save else 0,
    )


def run_correlations(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
) -> EngineRun:
    """Pairwise correlations of the positions' underlyings and portfolio metrics.

    Options enter through their underlying, weighted by delta-adjusted
    exposure. Saves ``position_correlations`` (one row per pair) and
    ``portfolio_correlation_metrics``.
    """
    provider, params = _context(settings, provider)
    cp = params.correlations
    with _engine_session(settings, save) as session:
        pa, inputs = load_with_history(
            session, provider, params, portfolio, as_of,
            history_sessions=cp.window + 1 + HISTORY_MARGIN_SESSIONS,
        )  # fmt: skip
        joined, ts = pa.joined(), pd.Timestamp(pa.as_of)
        dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
        exposure = (
            dae.groupby(joined["underlying"]).sum() if not joined.empty else pd.Series(dtype=float)
        )
        returns = inputs.returns.reindex(columns=list(exposure.index))
        returns = returns.loc[returns.index <= ts] if not returns.empty else returns
        m = portfolio_correlation_metrics(
            returns, exposure, window=cp.window, min_overlap=cp.min_overlap,
            top_n=cp.top_n, cluster_threshold=cp.cluster_threshold,
        )  # fmt: skip
        result = correlation_result(m, params, pa.notes)
        saved = store.replace_results(session, PositionCorrelation, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                      rows=result.rows["position_correlations"], batch_run_id=batch_run_id)  # fmt: skip
        saved += store.replace_results(session, PortfolioCorrelationMetrics, portfolio_id=pa.portfolio_id,
                                       as_of=pa.as_of, batch_run_id=batch_run_id,
                                       rows=result.rows["portfolio_correlation_metrics"])  # fmt: skip
    summary, notes = result.summary, list(result.notes)
    tables = correlation_tables(m)
    return EngineRun(
        "correlations",
        pa.portfolio_id,
        pa.portfolio,
        pa.as_of,
        batch_run_id,
        tables,
        summary,
        tuple(notes),
        saved if save else 0,
    )


def run_risk_metrics(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
    save: bool = True,
) -> EngineRun:
    """Performance statistics and VaR of the constant-holdings return history, and the
    ex-ante factor / specific risk split with each position's contribution.

    The return history holds today's delta-adjusted exposures fixed over the
    last ``risk_metrics.window`` sessions: P&L_t = Σ exposure_i × r_i,t (USD),
    return_t = P&L_t / Σ |exposure_i| (fraction of gross exposure).
    """
    provider, params = _context(settings, provider)
    rp, fp = params.risk_metrics, params.factors
    with _engine_session(settings, save) as session:
        extra = max(rp.window - fp.window, 0) + HISTORY_MARGIN_SESSIONS
        pa, inputs, fx = equity_factor_exposures(
            session, provider, params, portfolio, as_of, extra_history=extra
        )
        joined, ts, notes = pa.joined(), pd.Timestamp(pa.as_of), list(pa.notes)
        dae, gross = fx.dae, float(fx.dae.abs().sum())
        returns = inputs.returns.loc[inputs.returns.index <= ts].iloc[-rp.window :]
        position_returns = returns.reindex(columns=list(joined["underlying"])).set_axis(
            joined.index, axis=1
        )
        pnl = position_returns.mul(dae, axis=1).sum(axis=1, min_count=1).dropna()
        port_returns = pnl / gross if gross else pnl * np.nan
        stats = performance_stats(
            port_returns, risk_free=rp.risk_free, gaussian_mean=rp.gaussian_mean
        )

        # ex-ante factor risk at the underlying level (specific risk is shared by
        # positions on one underlying), then split exactly by each position's share
        by_u = dae.groupby(joined["underlying"]).sum()
        exposures_u = fx.fit.betas.reindex(by_u.index).mul(by_u, axis=0)
        design = (
            design_returns(fx.factor_returns, fp.mode)
            .loc[lambda f: f.index <= ts]
            .dropna()
            .iloc[-fp.window :]
        )
        covariance = design.cov()
        specific = by_u**2 * fx.fit.residual_variance.reindex(by_u.index)
        risk = factor_risk(exposures_u, covariance, specific)
        share_in_u = (
            (dae / joined["underlying"].map(by_u)).replace([np.inf, -np.inf], np.nan).fillna(0.0)
        )
        contrib = (
            risk.by_position.reindex(joined["underlying"])
            .set_axis(joined.index)
            .mul(share_in_u, axis=0)
        )
        contrib["share"] = (
            contrib["total_contribution_usd2"] / risk.total_variance
            if risk.total_variance
            else np.nan
        )
        notes += list(risk.notes)

        metrics: dict[str, tuple[float, str]] = {k: (v, "fraction") for k, v in stats.items()}
        for key in (
            "var_95",
            "cvar_95",
            "var_99",
            "cvar_99",
            "parametric_var_95",
            "parametric_var_99",
        ):
            metrics[f"{key}_usd"] = (stats[key] * gross, "usd")
        metrics.update({
            "gross_exposure_usd": (gross, "usd"),
            "history_days": (float(len(port_returns)), "days"),
            "ex_ante_volatility_usd": (risk.total_volatility_usd, "usd"),
            "ex_ante_variance_usd2": (risk.total_variance, "usd2"),
            "factor_variance_usd2": (risk.factor_variance, "usd2"),
            "specific_variance_usd2": (risk.specific_variance, "usd2"),
            "factor_risk_share": (risk.factor_variance / risk.total_variance if risk.total_variance else np.nan, "fraction"),
        })  # fmt: skip
        rows = [{"metric": k, "value": v, "unit": u, "reason": None if pd.notna(v) else "not computable from the data"}
                for k, (v, u) in metrics.items()]  # fmt: skip
        saved = store.replace_results(session, RiskMetric, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                      rows=rows, batch_run_id=batch_run_id)  # fmt: skip
        saved += store.replace_results(session, PositionRiskContribution, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                       batch_run_id=batch_run_id,
                                       rows=[{"position_id": int(i), **r} for i, r in contrib.iterrows()])  # fmt: skip
    summary = {k: v for k, (v, _) in metrics.items()}
    summary["history_start"] = port_returns.index[0] if len(port_returns) else None
    summary["history_end"] = port_returns.index[-1] if len(port_returns) else None
    tables = {
        "metrics": pd.DataFrame(
            [{"metric": k, "value": v, "unit": u} for k, (v, u) in metrics.items()]
        ),
        "positions": joined[["symbol", "underlying"]].join(contrib),
        "factors": risk.by_factor,
        "returns": pd.DataFrame({"pnl_usd": pnl, "return": port_returns}),
    }
    return EngineRun(
        "risk_metrics",
        pa.portfolio_id,
        pa.portfolio,
        pa.as_of,
        batch_run_id,
        tables,
        summary,
        tuple(notes),
        saved if save else 0,
    )


ENGINE_RUNNERS: dict[str, Callable[..., EngineRun]] = {
    "valuation": run_valuation,
    "greeks": run_greeks,
    "exposures": run_exposures,
    "factors": run_factors,
    "market_risk": run_market_risk,
    "stress": run_stress,
    "correlations": run_correlations,
    "risk_metrics": run_risk_metrics,
    "snapshot": run_snapshot,
}
"""Engines reachable from ``sigmasight engine NAME`` (CLI names use dashes)."""
