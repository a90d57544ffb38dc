"""Stress, correlations and market risk for every portfolio at once (issue #15).

Each ``*_many`` function reads one
:class:`~sigmasight_lib.runs.security_layer.SecurityLayer` (positions, valuation and
Greeks of every position, the union market inputs and factor proxies, loaded and
computed once per as-of) and returns, per portfolio id, a :class:`PortfolioRisk`:
the rows the matching ``run_<engine>`` stores (same keys), its summary and its
notes. An engine reads :meth:`~SecurityLayer.engine_inputs` — the history its
per-portfolio runner loads — so the figures equal the per-portfolio runners'
(the runners build their rows with the same functions).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sqlalchemy import select
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import LIBRARY_SCENARIO_SET, FactorCorrelation, StressResult
from sigmasight_lib.db.models import StressScenario as StressScenarioModel
from sigmasight_lib.engines.correlations import (
    CorrelationMetrics,
    metrics_from_pairwise,
    pairwise_statistics,
    unusable_exposures,
)
from sigmasight_lib.engines.exposures import delta_adjusted_exposure
from sigmasight_lib.engines.factors import (
    MARKET_BETA_KEYS,
    MARKET_FACTOR,
    PORTFOLIO_BETA_COLUMNS,
    grouped_factor_exposures,
)
from sigmasight_lib.engines.market_risk import (
    RATE_FACTOR,
    pnl_backtests,
    scenario_pnl,
)
from sigmasight_lib.engines.stress import (
    BY_FACTOR_COLUMNS,
    Scenario,
    ScenarioBatch,
    covariance_to_correlation,
    evaluate_scenarios,
    option_inputs,
    scenario_summary,
)
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.params import EngineParams
from sigmasight_lib.runs.inputs import ScenarioSet
from sigmasight_lib.runs.portfolio import StressFactors, StressInputs, fit_stress_model
from sigmasight_lib.runs.result import records
from sigmasight_lib.runs.securities import (
    fit_rate_betas,
    rate_beta_summary,
)
from sigmasight_lib.runs.security_layer import SecurityLayer


@dataclass(frozen=True)
class PortfolioRisk:
    """One engine's result for one portfolio.

    Attributes
    ----------
    rows : dict of str to list of dict
        Table name -> the rows ``run_<engine>`` stores (same keys; no
        ``portfolio_id`` / ``as_of`` / ``batch_run_id``).
    summary : dict
        The ``EngineRun.summary`` of ``run_<engine>``.
    notes : tuple of str
        The ``EngineRun.notes``.
    extra : dict
        Engine-specific objects the per-portfolio runner turns into tables.
    """

    rows: dict[str, list[dict[str, Any]]]
    summary: dict[str, Any]
    notes: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def _holdings(
    portfolio_ids: np.ndarray, symbols: pd.Series, order: Sequence[int], columns: Sequence[str]
) -> sparse.csr_matrix:
    """Portfolios × symbols 0/1 matrix: which portfolio holds a position on which symbol."""
    row = pd.Index(order).get_indexer(portfolio_ids)
    col = pd.Index(columns).get_indexer(symbols.to_numpy())
    ok = (row >= 0) & (col >= 0)
    m = sparse.csr_matrix(
        (np.ones(int(ok.sum())), (row[ok], col[ok])), shape=(len(order), len(columns))
    )
    m.data[:] = 1.0
    return m


# --------------------------------------------------------------------------- correlations


def correlation_result(
    m: CorrelationMetrics, params: EngineParams, position_notes: Sequence[str]
) -> PortfolioRisk:
    """Rows, summary and notes of ``run_correlations`` from a portfolio's metrics."""
    cp = params.correlations
    assets = list(m.correlation.index)
    corr, overlap = m.correlation.to_numpy(), m.overlap.to_numpy()
    i, j = np.triu_indices(len(assets), 1)
    pair_rows = [
        {"symbol_1": assets[a], "symbol_2": assets[b], "correlation": c, "overlap_days": n}
        for a, b, c, n in zip(i.tolist(), j.tolist(), corr[i, j].tolist(), overlap[i, j].tolist(), strict=True)
    ]  # fmt: skip
    excluded = {str(k): v for k, v in m.excluded.items()}
    details = {
        "clusters": {str(k): int(v) for k, v in m.clusters.items()},
        "most_correlated": records(m.most_correlated),
        "least_correlated": records(m.least_correlated),
        "excluded": excluded,
        "notes": list(m.notes),
        "window_start": jsonable(m.window_start),
        "window_end": jsonable(m.window_end),
    }
    metrics_row = {
        "average_correlation": m.average_correlation,
        "diversification_ratio": m.diversification_ratio,
        "effective_bets": m.effective_bets, "window_days": cp.window,
        "min_overlap": cp.min_overlap, "details": details,
    }  # fmt: skip
    summary = {
        "average_correlation": m.average_correlation,
        "diversification_ratio": m.diversification_ratio,
        "effective_bets": m.effective_bets,
        "window_start": m.window_start,
        "window_end": m.window_end,
        "assets": len(assets),
        "clusters": int(m.clusters.max()) if len(m.clusters) else 0,
        "excluded": dict(excluded),
    }
    notes = [*position_notes, *m.notes, *(f"{a}: excluded ({r})" for a, r in m.excluded.items())]
    return PortfolioRisk(
        {"position_correlations": pair_rows, "portfolio_correlation_metrics": [metrics_row]},
        summary,
        tuple(notes),
        {"metrics": m},
    )


def correlation_tables(m: CorrelationMetrics) -> dict[str, pd.DataFrame]:
    """The tables of ``run_correlations``' :class:`~sigmasight_lib.runs.result.EngineRun`."""
    return {
        "most_correlated": m.most_correlated,
        "least_correlated": m.least_correlated,
        "clusters": m.clusters.to_frame(),
        "correlation": m.correlation,
    }


def correlations_many(layer: SecurityLayer) -> dict[int, PortfolioRisk]:
    """``run_correlations`` of every portfolio of ``layer``, from one pairwise pass.

    The pairwise statistics (:func:`~sigmasight_lib.engines.correlations.pairwise_statistics`)
    of every held underlying are computed once per distinct window: a portfolio's
    window is the last ``correlations.window`` dates on which any of its
    underlyings has a price (as its own load would give); portfolios share one
    pass per distinct set of window dates (normally one for all).
    """
    params = layer.params
    cp = params.correlations
    ts = pd.Timestamp(layer.as_of)
    inputs = layer.engine_inputs("correlations")
    joined = layer.joined()
    order = list(layer.portfolio_names)
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    exposure = dae.groupby([joined["portfolio_id"], joined["underlying"]]).sum()
    symbols = sorted(set(joined["underlying"]))
    returns = inputs.returns.loc[inputs.returns.index <= ts].reindex(columns=symbols)
    present = inputs.levels.reindex(index=returns.index, columns=symbols).notna()
    present |= returns.notna()
    held = _holdings(joined["portfolio_id"].to_numpy(), joined["underlying"], order, symbols)
    has_row = (held @ sparse.csr_matrix(present.to_numpy(dtype=float).T)).toarray() > 0
    window_rows = np.zeros_like(has_row)
    for k in range(len(order)):
        rows = np.flatnonzero(has_row[k])[-cp.window :]
        window_rows[k, rows] = True
    patterns: dict[bytes, tuple] = {}
    results: dict[int, PortfolioRisk] = {}
    x = returns.to_numpy(dtype=float)
    position = {s: i for i, s in enumerate(symbols)}
    for k, pid in enumerate(order):
        key = np.packbits(window_rows[k]).tobytes()
        if key not in patterns:
            rows = np.flatnonzero(window_rows[k])
            dates = returns.index[rows]
            patterns[key] = (
                pairwise_statistics(x[rows], cp.min_overlap),
                len(rows),
                dates[0] if len(rows) else None,
                dates[-1] if len(rows) else None,
            )
        (counts, corr, vol), n_rows, first, last = patterns[key]
        e = (
            exposure.loc[pid]
            if pid in exposure.index.get_level_values(0)
            else pd.Series(dtype=float)
        )
        e.index.name = "underlying"
        reasons = unusable_exposures(e, returns.columns)
        candidates = [a for a in e.index if a not in reasons]
        idx = [position[a] for a in candidates]
        m = metrics_from_pairwise(
            e, reasons, candidates, counts[np.ix_(idx, idx)], corr[np.ix_(idx, idx)], vol[idx],
            rows=n_rows, window_start=first, window_end=last, min_overlap=cp.min_overlap,
            top_n=cp.top_n, cluster_threshold=cp.cluster_threshold,
        )  # fmt: skip
        results[pid] = correlation_result(m, params, layer.notes.get(pid, ()))
    return results


# --------------------------------------------------------------------------- market risk


def _group_sum(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Σ of the finite ``values`` per group ``0..n-1`` (NaN skipped, like ``np.nansum``)."""
    return np.bincount(groups, weights=np.where(np.isfinite(values), values, 0.0), minlength=n)


def market_risk_many(layer: SecurityLayer) -> dict[int, PortfolioRisk]:
    """``run_market_risk`` of every portfolio of ``layer``.

    One factor model and one set of interest-rate betas for the union of
    underlyings; market and rate dollar exposures by group sums; the backtest's
    actual P&L as holdings matrix (portfolios × underlyings, sparse, USD) ×
    returns (underlyings × days).
    """
    params = layer.params
    mp = params.market_risk
    day, joined = layer.as_of, layer.joined()
    inputs = layer.engine_inputs("market_risk")
    order = list(layer.portfolio_names)
    n = len(order)
    group = pd.Index(order).get_indexer(joined["portfolio_id"].to_numpy())
    eq_ids = layer.equity[2]
    underlyings = sorted(set(joined["underlying"]))
    model = layer.factor_model("market_risk")
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    position_betas = (
        joined["underlying"]
        .to_frame()
        .join(model.fit.betas, on="underlying")
        .drop(columns="underlying")
    )
    market_rows: dict[int, dict[str, float]] = {
        pid: dict.fromkeys(MARKET_BETA_KEYS, float("nan")) for pid in order
    }
    if MARKET_FACTOR in eq_ids and MARKET_FACTOR in position_betas:
        rollup = grouped_factor_exposures(position_betas[[MARKET_FACTOR]], dae, group, n)
        for (g, _), r in rollup.iterrows():
            market_rows[order[g]] = {
                k: float(r[c])
                for k, c in zip(MARKET_BETA_KEYS, PORTFOLIO_BETA_COLUMNS, strict=True)
            }
    rate_proxies, rate_na, _ = layer.rates
    returns = inputs.returns.reindex(columns=underlyings)
    market_returns = model.factor_returns.get(MARKET_FACTOR)
    rates, dy, ir, rate_reason = fit_rate_betas(
        inputs, rate_proxies, rate_na, day, underlyings, market_returns, params
    )
    position_ir = joined["underlying"].map(ir["ir_beta"])
    dae_values = dae.to_numpy(dtype=float)
    rate_exposure = _group_sum(dae_values * position_ir.to_numpy(dtype=float), group, n)
    if rate_reason is not None:
        rate_exposure[:] = np.nan
    market_exposure = np.array([market_rows[pid]["market_dollar_beta_usd"] for pid in order])

    # backtest: predicted = market exposure × market return + rate exposure × Δy; actual
    # = holdings (portfolios × underlyings, USD) × returns, NaN where no position has a return
    if market_returns is not None:
        last = market_returns.dropna().index[-mp.backtest_days :]
        m_last = market_returns.loc[last].to_numpy(dtype=float)
        rate_part = (
            rate_exposure[:, None] * dy.reindex(last).to_numpy(dtype=float)[None, :]
            if rate_reason is None
            else 0.0
        )
        predicted = market_exposure[:, None] * m_last[None, :] + rate_part
    else:
        last = pd.DatetimeIndex([])
        predicted = np.zeros((n, 0))
    r_last = returns.reindex(index=last).to_numpy(dtype=float).T  # underlyings × days
    col = pd.Index(underlyings).get_indexer(joined["underlying"].to_numpy())
    ok = np.isfinite(dae_values)
    weights = sparse.csr_matrix((dae_values[ok], (group[ok], col[ok])), shape=(n, len(underlyings)))
    held = sparse.csr_matrix(
        (np.ones(int(ok.sum())), (group[ok], col[ok])), shape=(n, len(underlyings))
    )
    finite = np.isfinite(r_last)
    actual = np.asarray(weights @ np.where(finite, r_last, 0.0))
    counted = np.asarray(held @ finite.astype(float))
    actual = np.where(counted > 0, actual, np.nan)
    backtests = (
        pnl_backtests(predicted, actual)
        if len(last)
        else pnl_backtests(np.zeros((n, 0)), np.zeros((n, 0)))
    )

    kinds = [("market", mp.market_moves), ("rates", mp.rate_moves)]
    unit = {kind: scenario_pnl(1.0, moves, kind) for kind, moves in kinds}
    factor_detail = {
        "market": {"proxy": model.proxies_used.get(MARKET_FACTOR), "reason": model.na_reasons.get(MARKET_FACTOR)},
        "rates": {"proxy": rates.proxies_used.get(RATE_FACTOR), "reason": rate_reason},
    }  # fmt: skip
    ir_rows = {
        u: (ir.at[u, "ir_beta"], ir.at[u, "r_squared"], int(ir.at[u, "observations"]))
        for u in underlyings
    }
    window = {
        "window_start": jsonable(last[0]) if len(last) else None,
        "window_end": jsonable(last[-1]) if len(last) else None,
    }
    positions_by = joined.groupby("portfolio_id", sort=False)["underlying"]
    results: dict[int, PortfolioRisk] = {}
    for k, pid in enumerate(order):
        market = market_rows[pid]
        exposure = {"market": market["market_dollar_beta_usd"], "rates": float(rate_exposure[k])}
        notes = list(layer.notes.get(pid, ()))
        if pd.isna(exposure["market"]):
            notes.append(
                f"Market: N/A ({model.na_reasons.get(MARKET_FACTOR, 'no market beta')}): "
                "market scenarios and the backtest are N/A"
            )
        if rate_reason is not None:
            notes.append(f"{RATE_FACTOR}: N/A ({rate_reason}): interest-rate betas are N/A")
        held_u = (
            positions_by.get_group(pid) if pid in positions_by.groups else pd.Series(dtype=object)
        )
        own = sorted(set(held_u))
        pnl = {
            name: exposure[kind] * r["move"]
            for kind, _ in kinds
            for name, r in unit[kind].iterrows()
        }
        backtest = backtests[k]
        rows = [
            {"scenario": name, "scenario_type": kind, "shock": r["move"], "pnl_usd": pnl[name],
             "details": {"exposure_usd": exposure[kind], **market, **factor_detail[kind]}}
            for kind, _ in kinds for name, r in unit[kind].iterrows()
        ] + [
            {"scenario": f"backtest_{mp.backtest_days}d", "scenario_type": "backtest", "shock": None,
             "pnl_usd": None, "details": {**backtest, "in_sample": True,
                                          "model": "market exposure x market return + rate exposure x "
                                                   "yield change (rate betas joint with the market)",
                                          **window}}
        ]  # fmt: skip
        ir_position_rows = [
            {"position_id": int(i), "ir_beta": ir_rows[u][0], "r_squared": ir_rows[u][1], "observations": ir_rows[u][2]}
            for i, u in held_u.items()
        ]  # fmt: skip
        mine = ir.loc[own]
        if rate_reason is None:
            notes += [
                f"{u}: interest-rate beta N/A ({r})" for u, r in mine["reason"].dropna().items()
            ]
        summary = {
            **market,
            "rate_exposure_usd": exposure["rates"],
            "market_proxy": model.proxies_used.get(MARKET_FACTOR),
            "rate_proxy": rates.proxies_used.get(RATE_FACTOR),
            "rate_reason": rate_reason,
            **rate_beta_summary(mine),
            **pnl,
            **{f"backtest_{key}": v for key, v in backtest.items()},
        }
        results[pid] = PortfolioRisk(
            {"market_risk_scenarios": rows, "position_interest_rate_betas": ir_position_rows},
            summary,
            tuple(notes),
            {"market_exposure": exposure["market"], "rate_exposure": exposure["rates"],
             "predicted": pd.Series(predicted[k], index=last),
             "actual": pd.Series(actual[k], index=last), "ir": ir},
        )  # fmt: skip
    return results


def scenario_table(
    params: EngineParams, market_exposure: float, rate_exposure: float
) -> pd.DataFrame:
    """``run_market_risk``'s ``scenarios`` table: the P&L of each market and rate move
    (:func:`~sigmasight_lib.engines.market_risk.scenario_pnl`), column ``scenario_type``."""
    mp = params.market_risk
    return pd.concat([
        scenario_pnl(market_exposure, mp.market_moves, "market").assign(scenario_type="market"),
        scenario_pnl(rate_exposure, mp.rate_moves, "rates").assign(scenario_type="rates"),
    ])  # fmt: skip


def market_risk_tables(
    params: EngineParams,
    positions: pd.DataFrame,
    dae: pd.Series,
    ir: pd.DataFrame,
    market_exposure: float,
    rate_exposure: float,
    predicted: pd.Series,
    actual: pd.Series,
) -> dict[str, pd.DataFrame]:
    """The tables of ``run_market_risk``'s :class:`~sigmasight_lib.runs.result.EngineRun`.

    Parameters
    ----------
    positions : DataFrame
        The portfolio's positions (index = position id; ``symbol``, ``underlying``,
        ``position_type``).
    dae : Series
        Delta-adjusted exposure (USD) per position id.
    ir : DataFrame
        Interest-rate betas per underlying (``ir_beta``, ``r_squared``).
    market_exposure, rate_exposure : float
        USD P&L per unit market / yield move (NaN when N/A).
    predicted, actual : Series
        The backtest's daily P&L (USD), indexed by date.
    """
    return {
        "scenarios": scenario_table(params, market_exposure, rate_exposure),
        "positions": positions[["symbol", "underlying", "position_type"]].assign(
            delta_adjusted_exposure_usd=dae,
            ir_beta=positions["underlying"].map(ir["ir_beta"]),
            r_squared=positions["underlying"].map(ir["r_squared"]),
        ),
        "backtest": pd.DataFrame({"predicted_pnl_usd": predicted, "actual_pnl_usd": actual}),
    }


# --------------------------------------------------------------------------- stress


def scenario_rows(
    scenarios: Sequence[Scenario], scenario_set: str, source: str
) -> list[dict[str, Any]]:
    """``stress_scenarios`` rows of ``scenarios`` (key ``scenario_set``, ``key``)."""
    return [
        {"scenario_set": scenario_set, "key": sc.key, "name": sc.name, "category": sc.category,
         "description": sc.description, "shocks": dict(sc.shocks), "source": source[-200:],
         "active": True}
        for sc in scenarios
    ]  # fmt: skip


def factor_correlation_rows(
    covariance: pd.DataFrame,
    factor_ids: Mapping[str, int],
    as_of: dt.date,
    lookback_days: int,
    decay: float,
    provider: str,
    batch_run_id: int | None = None,
) -> list[dict[str, Any]]:
    """``factor_correlations`` rows of a stress covariance (factors with an id, non-NaN)."""
    correlation = covariance_to_correlation(covariance)
    return [
        {"as_of": as_of, "factor_1_id": factor_ids[a], "factor_2_id": factor_ids[b],
         "correlation": float(correlation.at[a, b]), "lookback_days": lookback_days,
         "decay": decay, "provider": provider, "batch_run_id": batch_run_id}
        for a in correlation.index for b in correlation.columns
        if a in factor_ids and b in factor_ids and pd.notna(correlation.at[a, b])
    ]  # fmt: skip


def _by_factor_records(batch: ScenarioBatch, portfolio: int, scenario: int) -> list[dict]:
    """``records(by_factor)`` of one portfolio's scenario, from the batch's arrays
    (already JSON-ready: non-finite values None, as :func:`jsonable` gives)."""
    labels, values = batch.by_factor(portfolio, scenario)
    return [
        {"factor": str(f), **{c: v if math.isfinite(v) else None
                              for c, v in zip(BY_FACTOR_COLUMNS, row, strict=True)}}
        for f, row in zip(labels, values.tolist(), strict=True)
    ]  # fmt: skip


def stress_result(
    batch: ScenarioBatch,
    portfolio: int,
    sf: StressFactors | StressInputs,
    params: EngineParams,
    position_notes: Sequence[str],
    scenario_set: str,
    scenario_ids: Mapping[str, int] | None = None,
) -> PortfolioRisk:
    """Rows, summary and notes of ``run_stress`` for portfolio number ``portfolio`` of ``batch``.

    ``sf`` is the portfolio's factor side (N/A reasons, covariance, window,
    proxies). ``scenario_ids`` maps scenario key -> ``stress_scenarios`` id;
    without it the rows carry ``scenario_key`` instead of ``scenario_id``.
    """
    sp = params.stress
    na = sf.na_reasons
    cov_start, cov_end, cov_days = sf.covariance_window
    moves = batch.moves[portfolio]
    direct = batch.direct_pnl_usd[portfolio].tolist()
    correlated = batch.correlated_pnl_usd[portfolio].tolist()
    rows = []
    for s, sc in enumerate(batch.scenarios):
        m = moves[s]
        key = (
            {"scenario_id": scenario_ids[sc.key]}
            if scenario_ids is not None
            else {"scenario_key": sc.key}
        )
        rows.append({
            **key, "direct_pnl_usd": direct[s], "correlated_pnl_usd": correlated[s], "partial": bool(m.unmapped),
            "details": {"unmapped": list(m.unmapped),
                        "notes": [*batch.notes[portfolio][s], *(f"{f}: {na[f]}" for f in m.unmapped if f in na)],
                        "by_factor": _by_factor_records(batch, portfolio, s)},
        })  # fmt: skip
    finite = [s for s, v in enumerate(correlated) if not np.isnan(v)]
    worst = min(finite, key=lambda s: correlated[s]) if finite else None
    notes = [*position_notes, *(f"{n}: no exposure ({r})" for n, r in na.items())]
    if cov_days < sp.lookback:
        notes.append(
            f"factor covariance from {cov_days} complete days ({cov_start and cov_start.date()} .. "
            f"{cov_end and cov_end.date()}), fewer than the {sp.lookback}-session lookback"
        )
    summary = {
        "scenario_set": scenario_set,
        "scenarios": len(batch.scenarios),
        "partial": sum(bool(m.unmapped) for m in moves),
        "worst_scenario": batch.scenarios[worst].key if worst is not None else None,
        "worst_correlated_pnl_usd": correlated[worst] if worst is not None else None,
        "factors_with_data": list(sf.covariance.columns),
        "unmapped_factors": sorted({u for m in moves for u in m.unmapped}),
        "decay": sp.decay,
        "lookback_sessions": sp.lookback,
        "covariance_window_start": cov_start,
        "covariance_window_end": cov_end,
        "covariance_observations": cov_days,
        "proxies_used": sf.proxies_used,
        "shock_convention": "proxy moves (returns; yield changes), propagated in log-return space",
    }
    return PortfolioRisk({"stress_results": rows}, summary, tuple(notes))


def stress_tables(
    batch: ScenarioBatch, portfolio: int, covariance: pd.DataFrame
) -> dict[str, pd.DataFrame]:
    """The tables of ``run_stress``'s :class:`~sigmasight_lib.runs.result.EngineRun` for
    portfolio number ``portfolio`` of ``batch`` (``covariance``: its factor covariance)."""
    results = batch.results(portfolio)
    by_position = pd.concat(
        {r.key: r.by_position for r in results}, names=["scenario", "position_id"]
    ) if results else pd.DataFrame()  # fmt: skip
    by_factor = pd.concat(
        {r.key: r.by_factor for r in results}, names=["scenario", "factor"]
    ) if results else pd.DataFrame()  # fmt: skip
    return {
        "scenarios": scenario_summary(results),
        "factor_correlation": covariance_to_correlation(covariance),
        "by_factor": by_factor,
        "by_position": by_position,
    }


def save_stress(
    session: Session,
    scenario_set: ScenarioSet,
    as_of: dt.date,
    portfolio_ids: Sequence[int],
    rows: Sequence[Mapping[str, Any]],
    correlation_rows: Sequence[Mapping[str, Any]],
    batch_run_id: int | None = None,
) -> int:
    """Save stress results as ``run_stress`` does, in the caller's transaction.

    Upserts the set's ``stress_scenarios`` (key ``scenario_set``, ``key``), maps each
    row's ``scenario_key`` to its ``scenario_id``, replaces the ``stress_results`` of
    ``portfolio_ids`` at ``as_of`` within the set only (other sets' results are kept),
    and upserts ``factor_correlations`` (with ``batch_run_id``).

    Parameters
    ----------
    rows : sequence of mappings
        :func:`stress_result` rows with ``scenario_key``, each with its ``portfolio_id``.
    correlation_rows : sequence of mappings
        :func:`factor_correlation_rows`.

    Returns
    -------
    int
        ``stress_results`` rows inserted.
    """
    scenarios = scenario_set.scenarios
    store.upsert(
        session, StressScenarioModel,
        scenario_rows(scenarios, scenario_set.name, str(scenario_set.path)),
        key=("scenario_set", "key"),
    )  # fmt: skip
    in_set = select(StressScenarioModel.id).where(
        StressScenarioModel.scenario_set == scenario_set.name
    )
    ids = dict(session.execute(
        select(StressScenarioModel.key, StressScenarioModel.id).where(
            StressScenarioModel.scenario_set == scenario_set.name,
            StressScenarioModel.key.in_([sc.key for sc in scenarios]))
    ).all())  # fmt: skip
    records = [
        {**{k: v for k, v in r.items() if k != "scenario_key"}, "scenario_id": ids[r["scenario_key"]]}
        for r in rows
    ]  # fmt: skip
    saved = store.replace_results_many(
        session, StressResult, as_of, portfolio_ids, records, batch_run_id,
        scope=StressResult.scenario_id.in_(in_set),
    )  # fmt: skip
    store.upsert(
        session, FactorCorrelation,
        [{**r, "batch_run_id": batch_run_id} for r in correlation_rows],
        key=("as_of", "factor_1_id", "factor_2_id", "provider"),
    )  # fmt: skip
    return saved


def stress_many(
    layer: SecurityLayer,
    scenarios: Sequence[Scenario],
    scenario_set: str = LIBRARY_SCENARIO_SET,
    scenario_ids: Mapping[str, int] | None = None,
    source: str = "",
) -> tuple[dict[int, PortfolioRisk], dict[str, list[dict[str, Any]]]]:
    """``run_stress`` of every portfolio of ``layer``, evaluated as one array batch.

    The security level (:func:`~sigmasight_lib.runs.portfolio.fit_stress_model`:
    factor and macro betas of every underlying, EWMA covariance per set of macro
    factors) is fitted once; every position of every portfolio then goes through
    one :func:`~sigmasight_lib.engines.stress.evaluate_scenarios` call (moves once
    per set of factors with data and covariance, options priced once per contract
    and move).

    Returns
    -------
    results : dict of int to PortfolioRisk
        Per portfolio id, the rows, summary and notes of ``run_stress``.
    shared : dict of str to list of dict
        Rows written once per as-of, not per portfolio: ``stress_scenarios``
        (:func:`scenario_rows`, with ``source``) and ``factor_correlations`` (one
        set per distinct covariance, later sets over earlier ones on the same
        key, as consecutive per-portfolio runs would leave them).
    """
    params = layer.params
    day, joined = layer.as_of, layer.joined()
    inputs = layer.engine_inputs("stress")
    underlyings = sorted(set(joined["underlying"]))
    model = fit_stress_model(inputs, underlyings, day, layer.equity, layer.macro, params)
    order = list(layer.portfolio_names)
    group = pd.Index(order).get_indexer(joined["portfolio_id"].to_numpy())
    macro_betas = model.macro_betas.reindex(underlyings)
    held = _holdings(joined["portfolio_id"].to_numpy(), joined["underlying"], order, underlyings)
    present = (held @ sparse.csr_matrix(macro_betas.notna().to_numpy(dtype=float))).toarray() > 0
    factor_sides: dict[frozenset[str], StressFactors] = {}
    sides = []
    for k in range(len(order)):
        names = frozenset(macro_betas.columns[present[k]])
        if names not in factor_sides:
            factor_sides[names] = model.factors_for(names)
        sides.append(factor_sides[names])
    usable = sorted(
        {c for sf in factor_sides.values() for c in sf.macro}, key=list(macro_betas.columns).index
    )
    underlying_betas = model.fx.fit.betas.join(model.macro_betas[usable])
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    position_betas = (
        joined["underlying"].to_frame().join(underlying_betas, on="underlying").drop(columns="underlying")
    )  # fmt: skip
    equity_columns = list(model.fx.fit.betas.columns)
    batch = evaluate_scenarios(
        scenarios, position_betas.mul(dae, axis=0), [sf.covariance for sf in sides],
        option_inputs(joined, params.greeks.dividend_yield), underlying_betas,
        model=model.model, position_exposure_usd=dae,
        portfolio=pd.Series(group, index=joined.index),
        columns=[[*equity_columns, *sf.macro] for sf in sides],
    )  # fmt: skip
    out = {}
    for k, pid in enumerate(order):
        r = stress_result(
            batch, k, sides[k], params, layer.notes.get(pid, ()), scenario_set, scenario_ids
        )
        extra = {"batch": batch, "portfolio": k, "covariance": sides[k].covariance}
        out[pid] = PortfolioRisk(r.rows, r.summary, r.notes, extra)
    ids = {**layer.equity[2], **layer.macro[2]}
    correlations: dict[tuple, dict[str, Any]] = {}
    last = {id(sf): sf for sf in sides}  # in order of each set's last portfolio
    for sf in sorted(last.values(), key=lambda sf: max(k for k, x in enumerate(sides) if x is sf)):
        for row in factor_correlation_rows(
            sf.covariance, ids, day, sf.covariance_window[2], params.stress.decay, inputs.provider
        ):
            correlations[(row["factor_1_id"], row["factor_2_id"])] = row
    shared = {
        "stress_scenarios": scenario_rows(scenarios, scenario_set, source),
        "factor_correlations": list(correlations.values()),
    }
    return out, shared
