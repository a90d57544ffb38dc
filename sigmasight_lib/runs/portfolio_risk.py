"""Stress, correlations and market risk for every portfolio at once (issue #15).

The security layer is computed once per as-of for the union of held securities
(returns, factor and rate betas, factor covariance, the universe's pairwise
correlations, option revaluations); the portfolio layer aggregates every
portfolio at once from the all-portfolio positions frame. Each ``*_many``
function returns, per portfolio id, a :class:`PortfolioRisk`: the rows the
matching ``run_<engine>`` stores (same keys), its summary and its notes. The
figures equal the per-portfolio runners' (the runners build their rows with the
same functions).

Inputs (:class:`UnionInputs`)
-----------------------------
``joined``: one row per position of every portfolio, indexed by position id,
with the columns of :meth:`~sigmasight_lib.runs.portfolio.PositionAnalytics.joined`
plus ``portfolio_id``; within a portfolio, rows in the order its positions load.
``inputs``: one :class:`~sigmasight_lib.runs.inputs.MarketInputs` for the union of
underlyings and factor proxies, reaching back at least as far as the longest
engine history (:func:`history_sessions`). Each engine trims it to the history
its per-portfolio runner loads (:func:`since`).

Equality with the per-portfolio runners holds when each symbol's returns in an
engine's history equal those of a per-portfolio load. The one difference is the
first session of a per-portfolio load, whose return is NaN there (no previous
close in the loaded table) but known in a longer union load; every window used
ends well after it (the history holds ``HISTORY_MARGIN_SESSIONS`` extra sessions),
so it changes nothing unless the cache has large gaps.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import LIBRARY_SCENARIO_SET
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
    portfolio_factor_exposures,
)
from sigmasight_lib.engines.market_risk import (
    RATE_FACTOR,
    interest_rate_betas,
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
)
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.marketdata import MarketDataProvider
from sigmasight_lib.marketdata.calendar import sessions_window
from sigmasight_lib.params import EngineParams
from sigmasight_lib.portfolios.service import find_portfolio
from sigmasight_lib.runs.inputs import (
    HISTORY_MARGIN_SESSIONS,
    FactorProxies,
    MarketInputs,
    factor_proxies,
    factor_returns_from,
    load_market_inputs,
    proxy_tickers,
    resolve_portfolio,
    with_expiry_closes,
)
from sigmasight_lib.runs.portfolio import StressFactors, StressInputs, fit_stress_model
from sigmasight_lib.runs.result import records
from sigmasight_lib.runs.securities import (
    compute_position_analytics,
    fit_factor_model,
    position_notes,
)

ProxySet = tuple[FactorProxies, dict[str, str], dict[str, int]]
""":func:`~sigmasight_lib.runs.inputs.factor_proxies` result: proxies, N/A reasons, ids."""


@dataclass(frozen=True)
class UnionInputs:
    """Everything the all-portfolio engines read, loaded once (module docstring).

    Attributes
    ----------
    as_of : date
    joined : DataFrame indexed by position id
        Every portfolio's positions with valuation and Greeks, plus ``portfolio_id``.
    inputs : MarketInputs
        Union of underlyings and proxies, with the longest engine history.
    portfolios : dict of int to str
        Portfolio id -> name, in run order.
    position_notes : dict of int to tuple of str
        Portfolio id -> the notes of its position analytics (``PositionAnalytics.notes``).
    equity, macro, rates : ProxySet
        :func:`~sigmasight_lib.runs.inputs.factor_proxies` of the market / style,
        the macro and rate, and the rate factors.
    """

    as_of: dt.date
    joined: pd.DataFrame
    inputs: MarketInputs
    portfolios: dict[int, str]
    position_notes: dict[int, tuple[str, ...]]
    equity: ProxySet
    macro: ProxySet
    rates: ProxySet


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


# --------------------------------------------------------------------------- inputs


def history_sessions(params: EngineParams, engine: str) -> int:
    """Sessions of history ``run_<engine>`` loads (``stress``, ``correlations``, ``market_risk``)."""
    fp = params.factors
    if engine == "stress":
        sessions = max(fp.window, params.stress.lookback) + 1 + HISTORY_MARGIN_SESSIONS
    elif engine == "correlations":
        sessions = params.correlations.window + 1 + HISTORY_MARGIN_SESSIONS
    elif engine == "market_risk":
        extra = max(params.market_risk.rate_window - fp.window, 0) + HISTORY_MARGIN_SESSIONS
        sessions = fp.window + 1 + extra
    else:
        raise ValueError(f"engine must be stress, correlations or market_risk, got {engine!r}")
    return max(sessions, params.greeks.realized_vol_sessions + 1)


def history_start(params: EngineParams, engine: str, as_of: dt.date) -> dt.date:
    """First session of the history ``run_<engine>`` loads for ``as_of``."""
    return sessions_window(as_of, history_sessions(params, engine))[0]


def since(inputs: MarketInputs, start: dt.date) -> MarketInputs:
    """``inputs`` without the price rows before ``start`` (curves are kept)."""
    ts = pd.Timestamp(start)
    levels = (
        inputs.levels.loc[inputs.levels.index >= ts] if not inputs.levels.empty else inputs.levels
    )
    returns = (
        inputs.returns.loc[inputs.returns.index >= ts]
        if not inputs.returns.empty
        else inputs.returns
    )
    return replace(inputs, levels=levels, returns=returns)  # fmt: skip


def build_union_inputs(
    session: Session,
    provider: MarketDataProvider,
    params: EngineParams,
    portfolios: Sequence[str | int],
    as_of: dt.date | None = None,
) -> UnionInputs:
    """Load every portfolio's positions and the union market inputs once, value them once.

    A simple stand-in for the security layer: positions are loaded per portfolio,
    market data and position analytics once for the union; each portfolio's
    analytics notes are formatted from its subset of the union's facts
    (:func:`~sigmasight_lib.runs.securities.position_notes`).
    """
    first, day = resolve_portfolio(session, portfolios[0], as_of)
    resolved = [first, *(find_portfolio(session, p) for p in portfolios[1:])]
    positions = store.load_positions(session, [p.id for p in resolved], day)
    equity = factor_proxies(session, provider.name, params.factors.factor_types)
    macro = factor_proxies(session, provider.name, ("macro", "rates"))
    rates = factor_proxies(session, provider.name, ("rates",))
    symbols = sorted({*positions["underlying"], *proxy_tickers(equity[0], macro[0])})
    longest = max(history_sessions(params, e) for e in ("stress", "correlations", "market_risk"))
    is_option = positions["option_type"].isin(["C", "P"])
    inputs = load_market_inputs(
        session, provider, symbols, sessions_window(day, longest)[0], day,
        option_symbols=sorted(set(positions.loc[is_option, "symbol"])),
    )  # fmt: skip
    inputs = with_expiry_closes(session, provider, inputs, positions, day)
    plain = positions.drop(columns="portfolio_id")
    valuation, greeks, _ = compute_position_analytics(plain, inputs, day, params)
    joined = positions.join(valuation).join(greeks.drop(columns=["underlying_price", "reason"]))
    notes = position_notes(plain, inputs, day, params, by=positions["portfolio_id"])
    return UnionInputs(
        as_of=day,
        joined=joined,
        inputs=inputs,
        portfolios={p.id: p.name for p in resolved},
        position_notes={p.id: notes.get(p.id, ()) for p in resolved},
        equity=equity,
        macro=macro,
        rates=rates,
    )


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


def correlations_many(union: UnionInputs, params: EngineParams) -> dict[int, PortfolioRisk]:
    """``run_correlations`` of every portfolio of ``union``, from one pairwise pass.

    The pairwise statistics (:func:`~sigmasight_lib.engines.correlations.pairwise_statistics`)
    of every held underlying are computed once per distinct window: a portfolio's
    window is the last ``correlations.window`` dates on which any of its
    underlyings has a price (as its own load would give); portfolios share one
    pass per distinct set of window dates (normally one for all).
    """
    cp = params.correlations
    ts = pd.Timestamp(union.as_of)
    inputs = since(union.inputs, history_start(params, "correlations", union.as_of))
    joined = union.joined
    order = list(union.portfolios)
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
        results[pid] = correlation_result(m, params, union.position_notes.get(pid, ()))
    return results


# --------------------------------------------------------------------------- market risk


def _group_sum(values: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """Σ of the finite ``values`` per group ``0..n-1`` (NaN skipped, like ``np.nansum``)."""
    return np.bincount(groups, weights=np.where(np.isfinite(values), values, 0.0), minlength=n)


def market_risk_many(union: UnionInputs, params: EngineParams) -> dict[int, PortfolioRisk]:
    """``run_market_risk`` of every portfolio of ``union``.

    One factor model and one set of interest-rate betas for the union of
    underlyings; market and rate dollar exposures by group sums; the backtest's
    actual P&L as holdings matrix (portfolios × underlyings, sparse, USD) ×
    returns (underlyings × days).
    """
    mp = params.market_risk
    day, joined = union.as_of, union.joined
    inputs = since(union.inputs, history_start(params, "market_risk", day))
    order = list(union.portfolios)
    n = len(order)
    group = pd.Index(order).get_indexer(joined["portfolio_id"].to_numpy())
    eq_proxies, eq_na, eq_ids = union.equity
    underlyings = sorted(set(joined["underlying"]))
    model = fit_factor_model(inputs, underlyings, day, eq_proxies, eq_na, params)
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
        rollup = portfolio_factor_exposures(
            position_betas[[MARKET_FACTOR]], dae, by=joined["portfolio_id"]
        )
        for (pid, _), r in rollup.iterrows():
            market_rows[int(pid)] = {
                k: float(r[c])
                for k, c in zip(MARKET_BETA_KEYS, PORTFOLIO_BETA_COLUMNS, strict=True)
            }
    rate_proxies, rate_na, _ = union.rates
    rates = factor_returns_from(
        inputs, rate_proxies, day, params, window=mp.rate_window, min_obs=mp.rate_min_obs
    )
    rate_na = {**rate_na, **rates.na_reasons}
    returns = inputs.returns.reindex(columns=underlyings)
    market_returns = model.factor_returns.get(MARKET_FACTOR)
    rate_reason = None
    if RATE_FACTOR not in rates.returns:
        rate_reason = rate_na.get(RATE_FACTOR, f"no {RATE_FACTOR} factor configured")
    elif market_returns is None:
        rate_reason = f"estimated jointly with {MARKET_FACTOR}, which is N/A"
    if rate_reason is None:
        dy = rates.returns[RATE_FACTOR]
        ir = interest_rate_betas(
            returns, dy, market_returns, window=mp.rate_window, min_obs=mp.rate_min_obs
        )
    else:
        dy = pd.Series(dtype=float)
        ir = pd.DataFrame(
            {"ir_beta": np.nan, "t_stat": np.nan, "market_beta": np.nan, "r_squared": np.nan,
             "observations": 0, "window_start": None, "window_end": None,
             "reason": f"{RATE_FACTOR} N/A ({rate_reason})"},
            index=pd.Index(underlyings),
        )  # fmt: skip
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
        notes = list(union.position_notes.get(pid, ()))
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
        estimated = mine.loc[mine["observations"] > 0]
        summary = {
            **market,
            "rate_exposure_usd": exposure["rates"],
            "market_proxy": model.proxies_used.get(MARKET_FACTOR),
            "rate_proxy": rates.proxies_used.get(RATE_FACTOR),
            "rate_reason": rate_reason,
            "rate_window_start": estimated["window_start"].min() if len(estimated) else None,
            "rate_window_end": estimated["window_end"].max() if len(estimated) else None,
            "rate_observations_max": int(estimated["observations"].max()) if len(estimated) else 0,
            **pnl,
            **{f"backtest_{key}": v for key, v in backtest.items()},
        }
        results[pid] = PortfolioRisk(
            {"market_risk_scenarios": rows, "position_interest_rate_betas": ir_position_rows},
            summary,
            tuple(notes),
        )
    return results


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


def stress_many(
    union: UnionInputs,
    params: EngineParams,
    scenarios: Sequence[Scenario],
    scenario_set: str = LIBRARY_SCENARIO_SET,
    scenario_ids: Mapping[str, int] | None = None,
    source: str = "",
) -> tuple[dict[int, PortfolioRisk], dict[str, list[dict[str, Any]]]]:
    """``run_stress`` of every portfolio of ``union``, evaluated as one array batch.

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
    day, joined = union.as_of, union.joined
    inputs = since(union.inputs, history_start(params, "stress", day))
    underlyings = sorted(set(joined["underlying"]))
    model = fit_stress_model(inputs, underlyings, day, union.equity, union.macro, params)
    order = list(union.portfolios)
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
    out = {
        pid: stress_result(
            batch,
            k,
            sides[k],
            params,
            union.position_notes.get(pid, ()),
            scenario_set,
            scenario_ids,
        )
        for k, pid in enumerate(order)
    }
    ids = {**union.equity[2], **union.macro[2]}
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
