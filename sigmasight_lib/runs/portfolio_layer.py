"""The portfolio layer: every portfolio's engine results at once from a security layer.

Each ``layer_<engine>(layer)`` aggregates all portfolios of a
:class:`~sigmasight_lib.runs.security_layer.SecurityLayer` with group-bys on
``portfolio_id`` and sparse (portfolios × positions) products, and returns a
:class:`LayerRun`: the result rows of every portfolio (saved in bulk by
:meth:`LayerRun.save`), each portfolio's summary and notes, and — on request —
its :class:`~sigmasight_lib.runs.result.EngineRun`, equal to what
``run_<engine>(..., save=False)`` returns for it (to rounding, ≤ 1e-9 relative).

Engines here: all nine — valuation, greeks, exposures, factors, risk_metrics,
snapshot, correlations, stress and market_risk (:data:`LAYER_ENGINES`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    Base,
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
    StressResult,
)
from sigmasight_lib.engines.exposures import (
    METRIC_COLUMNS,
    delta_adjusted_exposure,
    grouped_exposure_metrics,
)
from sigmasight_lib.engines.factors import (
    design_returns,
    grouped_factor_exposures,
    market_betas,
)
from sigmasight_lib.engines.risk_metrics import (
    METRIC_KEYS,
    grouped_factor_risk,
    performance_stats_many,
)
from sigmasight_lib.engines.snapshot import SNAPSHOT_COLUMNS
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.marketdata.calendar import sessions_window
from sigmasight_lib.runs.inputs import proxy_tickers
from sigmasight_lib.runs.portfolio import portfolio_factor_row
from sigmasight_lib.runs.portfolio_risk import (
    PortfolioRisk,
    correlation_tables,
    correlations_many,
    market_risk_many,
    market_risk_tables,
    save_stress,
    stress_many,
    stress_tables,
)
from sigmasight_lib.runs.result import EngineRun
from sigmasight_lib.runs.security_layer import SecurityLayer, history_sessions, portfolio_index
from sigmasight_lib.runs.snapshots import plan_snapshot_days, snapshot_figures

GREEK_NAMES = ("delta", "gamma", "theta", "vega", "rho")
GREEK_ROW_COLUMNS = (
    *GREEK_NAMES, "model_price", "underlying_price", "years_to_expiry", "implied_vol",
    "vol_source", "risk_free_rate", "reason",
)  # fmt: skip
"""``position_greeks`` columns ``run_greeks`` saves (besides ``position_id``)."""


@dataclass(frozen=True)
class LayerRun:
    """One engine's results for every portfolio of a security layer.

    Attributes
    ----------
    rows : tuple of (model, DataFrame)
        Result rows per table, each with a ``portfolio_id`` column.
    summaries, notes : dict keyed by portfolio id
        What each portfolio's :class:`EngineRun` reports.
    tables : callable
        Portfolio id -> its result tables (built on request).
    """

    engine: str
    as_of: dt.date
    portfolio_names: dict[int, str]
    rows: tuple[tuple[type[Base], pd.DataFrame], ...]
    summaries: dict[int, dict]
    notes: dict[int, tuple[str, ...]]
    tables: Callable[[int], dict[str, pd.DataFrame]]
    saver: Callable[[Session, int | None, list[int]], int] | None = None
    """How the rows are saved when not by ``replace_results_many`` (session, batch run
    id, portfolio ids) -> rows written."""

    def run(self, portfolio_id: int, batch_run_id: int | None = None) -> EngineRun:
        """The portfolio's :class:`EngineRun` (``rows_saved`` 0: nothing saved here)."""
        return EngineRun(
            self.engine, portfolio_id, self.portfolio_names[portfolio_id], self.as_of,
            batch_run_id, self.tables(portfolio_id), self.summaries[portfolio_id],
            self.notes[portfolio_id],
        )  # fmt: skip

    def save(
        self,
        session: Session,
        batch_run_id: int | None = None,
        *,
        portfolio_ids: Sequence[int] | None = None,
    ) -> int:
        """Replace the rows of this as-of of ``portfolio_ids`` (default: every portfolio)
        (:func:`~sigmasight_lib.db.store.replace_results_many`), in the caller's transaction."""
        ids = list(self.portfolio_names) if portfolio_ids is None else list(portfolio_ids)
        if self.saver is not None:
            return self.saver(session, batch_run_id, ids)
        subset = portfolio_ids is not None and len(ids) < len(self.portfolio_names)
        return sum(
            store.replace_results_many(
                session,
                model,
                self.as_of,
                ids,
                frame.loc[frame["portfolio_id"].isin(ids)] if subset else frame,
                batch_run_id,
            )  # fmt: skip
            for model, frame in self.rows
        )


def _sums(frame: pd.DataFrame, portfolios: pd.Index, by: pd.Series) -> pd.DataFrame:
    """Column sums per portfolio (NaN skipped; 0 for a portfolio without rows)."""
    return frame.groupby(by).sum().reindex(portfolios, fill_value=0)


def _slice(frame: pd.DataFrame, portfolio_id: int) -> pd.DataFrame:
    return frame.loc[frame["portfolio_id"] == portfolio_id].drop(columns="portfolio_id")


def layer_valuation(layer: SecurityLayer) -> LayerRun:
    """``run_valuation`` of every portfolio: ``position_valuations`` and the value summary."""
    positions, v = layer.positions, layer.valuation
    _, portfolios = portfolio_index(layer)
    pid = positions["portfolio_id"]
    signed = v["exposure_usd"].astype(float)
    parts = pd.DataFrame(
        {
            "long": signed.where(signed > 0, 0.0),
            "short": -signed.where(signed < 0, 0.0),
            "net_exposure_usd": signed,
            "unrealized_pnl_usd": v["unrealized_pnl_usd"].astype(float),
            "realized_pnl_usd": v["realized_pnl_usd"].astype(float),
            "daily_pnl_usd": v["daily_pnl_usd"].astype(float),
            "positions": 1,
            "model_priced": (v["price_source"] == "model").astype(int),
            "unpriced": v["price"].isna().astype(int),
            "expired": v["expired"].astype(bool).astype(int),
        }
    )
    s = _sums(parts.fillna({c: 0.0 for c in parts.columns}), portfolios, pid)
    summaries = {
        int(p): {
            "positions": int(r["positions"]),
            "net_liquidation_value_usd": float(r["long"]) - float(r["short"]),
            "gross_market_value_usd": float(r["long"]) + float(r["short"]),
            "long_market_value_usd": float(r["long"]),
            "short_market_value_usd": float(r["short"]),
            "net_exposure_usd": float(r["net_exposure_usd"]),
            "unrealized_pnl_usd": float(r["unrealized_pnl_usd"]),
            "realized_pnl_usd": float(r["realized_pnl_usd"]),
            "daily_pnl_usd": float(r["daily_pnl_usd"]),
            "model_priced": int(r["model_priced"]),
            "unpriced": int(r["unpriced"]),
            "expired": int(r["expired"]),
        }
        for p, r in s.iterrows()
    }
    rows = v.rename_axis("position_id").reset_index().assign(portfolio_id=pid.to_numpy())
    table = positions[["symbol", "position_type", "quantity", "portfolio_id"]].join(v)
    return LayerRun(
        "valuation", layer.as_of, layer.portfolio_names, ((PositionValuation, rows),),
        summaries, layer.notes, lambda p: {"positions": _slice(table, p)},
    )  # fmt: skip


def layer_greeks(layer: SecurityLayer) -> LayerRun:
    """``run_greeks`` of every portfolio: ``position_greeks`` and the Greek totals."""
    positions, g = layer.positions, layer.greeks
    _, portfolios = portfolio_index(layer)
    pid = positions["portfolio_id"]
    parts = g[list(GREEK_NAMES)].astype(float).fillna(0.0)
    parts["options"] = positions["option_type"].isin(["C", "P"]).astype(int)
    parts["not_computed"] = g["delta"].isna().astype(int)
    s = _sums(parts, portfolios, pid)
    sources = g["vol_source"].groupby([pid, g["vol_source"]]).size()
    vol_sources: dict[int, dict[str, int]] = {int(p): {} for p in portfolios}
    for (p, source), n in sources.items():
        vol_sources[int(p)][str(source)] = int(n)
    backend = layer.params.greeks.greeks_backend
    summaries = {
        int(p): {
            **{f"portfolio_{k}": float(r[k]) for k in GREEK_NAMES},
            "options": int(r["options"]),
            "greeks_backend": backend,
            "vol_sources": vol_sources[int(p)],
            "not_computed": int(r["not_computed"]),
        }
        for p, r in s.iterrows()
    }
    rows = (
        g[list(GREEK_ROW_COLUMNS)]
        .rename_axis("position_id")
        .reset_index()
        .assign(portfolio_id=pid.to_numpy())
    )
    table = positions[["symbol", "position_type", "quantity", "portfolio_id"]].join(g)
    return LayerRun(
        "greeks", layer.as_of, layer.portfolio_names, ((PositionGreeks, rows),),
        summaries, layer.notes, lambda p: {"positions": _slice(table, p)},
    )  # fmt: skip


def _symbol_lists(joined: pd.DataFrame, mask: pd.Series) -> dict[int, tuple[int, str]]:
    """Portfolio id -> (count, comma-joined symbols) of the positions where ``mask``."""
    picked = joined.loc[mask]
    grouped = picked.groupby("portfolio_id")["symbol"]
    return {
        int(p): (len(s), ", ".join(s.astype(str)))
        for p, s in grouped  # position-id order
    }


BREAKDOWN_KEYS: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "underlying": lambda j: j["underlying"],
    "sector": lambda j: j["sector"].fillna("Unclassified").replace("", "Unclassified"),
    "type": lambda j: j["position_type"],
    "strategy": lambda j: j["strategy"].fillna("(no strategy)"),
}
"""Breakdowns of :func:`~sigmasight_lib.engines.exposures.portfolio_exposures` keyed by a
column (``tag`` explodes the tag lists)."""


def layer_exposures(layer: SecurityLayer) -> LayerRun:
    """``run_exposures`` of every portfolio: totals and breakdowns (``exposure_results``)."""
    joined = layer.joined()
    _, portfolios = portfolio_index(layer)
    empty_totals = dict.fromkeys(METRIC_COLUMNS, 0.0) | {
        k: 0 for k in ("position_count", "long_count", "short_count")
    }
    totals = grouped_exposure_metrics(joined, [joined["portfolio_id"]])
    breakdowns: dict[str, pd.DataFrame] = {}
    for name, key in BREAKDOWN_KEYS.items():
        breakdowns[name] = grouped_exposure_metrics(joined, [joined["portfolio_id"], key(joined)])
    tagged = joined.explode("tags")
    tagged = tagged.loc[tagged["tags"].notna()]
    breakdowns["tag"] = grouped_exposure_metrics(tagged, [tagged["portfolio_id"], tagged["tags"]])
    order = ["underlying", "sector", "tag", "type", "strategy"]

    summaries: dict[int, dict] = {}
    for p in portfolios:
        r = totals.loc[p] if p in totals.index else None
        summaries[int(p)] = (
            {
                k: (
                    int(r[k])
                    if k in ("position_count", "long_count", "short_count")
                    else float(r[k])
                )
                for k in METRIC_COLUMNS
            }
            if r is not None
            else dict(empty_totals)
        )
    expired = joined["expired"].fillna(False).astype(bool)
    gone = _symbol_lists(joined, expired)
    unpriced = _symbol_lists(joined, ~expired & joined["exposure_usd"].isna())
    live = (~expired).groupby(joined["portfolio_id"]).sum()
    notes: dict[int, tuple[str, ...]] = {}
    for p in portfolios:
        own: list[str] = []
        if int(p) in gone:
            n, symbols = gone[int(p)]
            own.append(
                f"{n} options expired before the as-of are settled and out of the book: {symbols}"
            )
        if not live.get(p, 0):
            own.append("portfolio has no positions at the as-of date: all exposures are zero")
        if int(p) in unpriced:
            n, symbols = unpriced[int(p)]
            own.append(f"{n} positions without a price are left out of the sums: {symbols}")
        notes[int(p)] = layer.notes[int(p)] + tuple(own)

    parts = [
        pd.DataFrame(
            [{"portfolio_id": p, "group_by": "portfolio", "group_key": "all", **s}
             for p, s in summaries.items()]
        )
    ]  # fmt: skip
    for name in order:
        frame = breakdowns[name]
        frame = frame.rename_axis(["portfolio_id", "group_key"]).reset_index()
        parts.append(frame.assign(group_by=name, group_key=frame["group_key"].astype(str)))
    rows = pd.concat(parts, ignore_index=True)[
        ["portfolio_id", "group_by", "group_key", *METRIC_COLUMNS]
    ]

    def tables(p: int) -> dict[str, pd.DataFrame]:
        out = {"portfolio": pd.DataFrame([summaries[p]])}
        for name in order:
            frame = breakdowns[name]
            part = frame.xs(p, level=0) if p in frame.index.get_level_values(0) else frame.iloc[:0]
            if isinstance(part.index, pd.MultiIndex):
                part = part.droplevel(0)
            out[name] = part.set_axis(pd.Index([str(k) for k in part.index], dtype=object))
        return out

    return LayerRun(
        "exposures", layer.as_of, layer.portfolio_names, ((ExposureResult, rows),),
        summaries, notes, tables,
    )  # fmt: skip


def layer_factors(layer: SecurityLayer) -> LayerRun:
    """``run_factors`` of every portfolio: position and portfolio factor exposures.

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy at the as-of date.
    """
    model = layer.factor_model("factors")
    fit, na, proxies_used = model.fit, model.na_reasons, model.proxies_used
    factor_ids = layer.equity[2]
    joined = layer.joined()
    codes, portfolios = portfolio_index(layer)
    pid = joined["portfolio_id"]
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    under = joined["underlying"].to_numpy()
    u_idx = fit.betas.index.get_indexer(under)
    position_betas = fit.betas.reindex(under).set_axis(joined.index)

    # position rows: one per (position, factor of the fit)
    factors = list(fit.factors)
    n, k = len(joined), len(factors)
    beta = fit.betas[factors].to_numpy(dtype=float)[u_idx]
    rows_pos = pd.DataFrame(
        {
            "portfolio_id": np.repeat(pid.to_numpy(), k),
            "position_id": np.repeat(joined.index.to_numpy(), k),
            "factor_id": np.tile([factor_ids[f] for f in factors], n),
            "beta": beta.ravel(),
            "beta_uncapped": fit.betas_uncapped[factors].to_numpy(dtype=float)[u_idx].ravel(),
            "t_stat": fit.t_stats[factors].to_numpy(dtype=float)[u_idx].ravel(),
            "exposure_usd": (beta * dae.to_numpy(dtype=float)[:, None]).ravel(),
            "r_squared": np.repeat(fit.r_squared.to_numpy(dtype=float)[u_idx], k),
            "observations": np.repeat(fit.observations.to_numpy()[u_idx], k).astype(int),
            "capped": fit.capped[factors].to_numpy(dtype=bool)[u_idx].ravel(),
            "reason": pd.Series(
                np.repeat(fit.reasons.to_numpy(dtype=object)[u_idx], k), dtype=object
            ),
        }
    )

    rollup = grouped_factor_exposures(position_betas, dae, codes, len(portfolios))
    configured = pd.Index(list(factor_ids), name="factor")
    proxy = pd.Series(proxies_used, dtype=object)
    reasons = pd.Series({f: na.get(f) for f in configured}, dtype=object)
    by_portfolio: dict[int, pd.DataFrame] = {}
    for g, p in enumerate(portfolios):
        frame = pd.DataFrame(index=configured).join(rollup.xs(g, level="group"))
        frame["proxy"] = proxy
        frame["reason"] = reasons
        by_portfolio[int(p)] = frame

    # per-portfolio statistics of the portfolio's own underlyings
    pairs = joined[["portfolio_id", "underlying"]].drop_duplicates()
    cond = pairs["underlying"].map(fit.condition_number).groupby(pairs["portfolio_id"]).median()
    long = fit.long()
    capped_long = long[long["capped"].astype(bool)]
    held = pairs.groupby("portfolio_id")["underlying"].agg(lambda u: set(u)).to_dict()

    summaries: dict[int, dict] = {}
    notes: dict[int, tuple[str, ...]] = {}
    rows_port = []
    for p, frame in by_portfolio.items():
        mine = held.get(p, set())
        capped = capped_long[capped_long.index.get_level_values("asset").isin(mine)]
        c = cond.get(p, np.nan)
        summaries[p] = {
            "mode": fit.mode,
            "window_start": fit.window_start,
            "window_end": fit.window_end,
            "factors": factors,
            "not_available": na,
            "condition_number": float(c) if pd.notna(c) else None,
            **market_betas(frame),
            "exposure_basis": "delta-adjusted",
            "dollar_betas_usd": frame["dollar_beta_usd"].to_dict(),
            "betas_to_gross": frame["beta_to_gross"].to_dict(),
            "betas_to_net": frame["beta_to_net"].to_dict(),
            "capped_betas": [
                {"asset": a, "factor": f, "beta": r["beta"], "beta_uncapped": r["beta_uncapped"],
                 "t_stat": r["t_stat"]}
                for (a, f), r in capped.iterrows()
            ],
        }  # fmt: skip
        notes[p] = (
            *layer.notes[p],
            *(f"{f}: N/A ({r})" for f, r in na.items()),
            *(f"{f}: beta to net N/A ({r})" for f, r in frame["beta_to_net_reason"].dropna().items()),
            *(f"{a} {f}: beta capped at {r['beta']:+g}, OLS estimate {r['beta_uncapped']:.3f} (t {r['t_stat']:.2f})"
              for (a, f), r in capped.iterrows()),
        )  # fmt: skip
        rows_port += [
            {"portfolio_id": p, **portfolio_factor_row(factor_ids[name], r, fit.mode, na.get(name))}
            for name, r in frame.iterrows()
        ]

    def tables(p: int) -> dict[str, pd.DataFrame]:
        mine = joined.loc[pid == p]
        assets = sorted(held.get(p, set()))
        positions_table = (
            mine[["symbol", "underlying", "position_type"]]
            .assign(delta_adjusted_exposure_usd=dae.loc[mine.index])
            .join(position_betas.loc[mine.index])
            .join(mine["underlying"].map(fit.r_squared).rename("r_squared"))
            .join(mine["underlying"].map(fit.reasons).rename("reason"))
        )
        betas = long[long.index.get_level_values("asset").isin(assets)]
        return {
            "positions": positions_table,
            "portfolio": by_portfolio[p],
            "assets": fit.summary().loc[assets],
            "betas": betas.reset_index(),
        }

    return LayerRun(
        "factors", layer.as_of, layer.portfolio_names,
        ((PositionFactorExposure, rows_pos), (PortfolioFactorExposure, pd.DataFrame(rows_port))),
        summaries, notes, tables,
    )  # fmt: skip


VAR_USD_KEYS = ("var_95", "cvar_95", "var_99", "cvar_99", "parametric_var_95", "parametric_var_99")
"""Statistics ``run_risk_metrics`` also reports in USD (× gross exposure)."""


def layer_risk_metrics(layer: SecurityLayer) -> LayerRun:
    """``run_risk_metrics`` of every portfolio: ``risk_metrics`` and
    ``position_risk_contributions``.

    The constant-holdings P&L of all portfolios is one product of the returns
    (dates × underlyings) with the sparse exposures (underlyings × portfolios); each
    portfolio's window is the last ``risk_metrics.window`` dates its own load would
    hold (dates with a price row of one of its underlyings or of an equity factor
    proxy). Statistics: :func:`~sigmasight_lib.engines.risk_metrics.performance_stats_many`;
    factor / specific split: :func:`~sigmasight_lib.engines.risk_metrics.grouped_factor_risk`
    over (portfolio, underlying) holdings, split over positions by their share.

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy at the as-of date.
    """
    from scipy import sparse

    rp, fp = layer.params.risk_metrics, layer.params.factors
    model = layer.factor_model("risk_metrics")
    fit = model.fit
    sessions = history_sessions(layer.params)["risk_metrics"]
    inputs = layer.inputs_for(sessions)
    ts = pd.Timestamp(layer.as_of)
    joined = layer.joined()
    codes, portfolios = portfolio_index(layer)
    n_p = len(portfolios)
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    dae_v = dae.to_numpy(dtype=float)
    known = ~np.isnan(dae_v)
    gross = np.bincount(codes, np.abs(np.where(known, dae_v, 0.0)), minlength=n_p)

    # holdings: (portfolio, underlying), sorted as each portfolio's groupby
    under = joined["underlying"].to_numpy(dtype=object)
    holdings = (
        pd.Series(dae_v).groupby([codes, under], sort=True).sum()
        if len(joined)
        else pd.Series(dtype=float, index=pd.MultiIndex.from_arrays([[], []]))
    )
    h_g = holdings.index.get_level_values(0).to_numpy(dtype=int)
    h_u = holdings.index.get_level_values(1).to_numpy(dtype=object)
    h_e = holdings.to_numpy(dtype=float)
    position_holding = holdings.index.get_indexer(pd.MultiIndex.from_arrays([codes, under]))

    # ex-ante factor risk
    design = (
        design_returns(model.factor_returns, fp.mode)
        .loc[lambda f: f.index <= ts]
        .dropna()
        .iloc[-fp.window :]
    )
    risk = grouped_factor_risk(
        fit.betas.reindex(h_u), h_e, fit.residual_variance.reindex(h_u).to_numpy(dtype=float),
        design.cov(), h_g, n_p,
    )  # fmt: skip
    with np.errstate(divide="ignore", invalid="ignore"):
        share_in_u = dae_v / h_e[position_holding]
    share_in_u = np.where(np.isfinite(share_in_u), share_in_u, 0.0)
    factor_c = risk.factor_contribution_usd2[position_holding] * share_in_u
    specific_c = risk.specific_contribution_usd2[position_holding] * share_in_u
    total_c = (risk.factor_contribution_usd2 + risk.specific_contribution_usd2)[
        position_holding
    ] * share_in_u
    total_var = risk.total_variance
    denominator = np.where(total_var != 0, total_var, np.nan)  # NaN stays NaN
    contrib = pd.DataFrame(
        {
            "factor_contribution_usd2": factor_c,
            "specific_contribution_usd2": specific_c,
            "total_contribution_usd2": total_c,
            "share": total_c / denominator[codes],
        },
        index=joined.index,
    )

    # constant-holdings P&L, every portfolio at once
    observed = layer.observed(sessions)
    observed = observed.loc[observed.index <= ts]
    dates = observed.index
    underlyings = pd.Index(layer.underlyings)
    u_code = underlyings.get_indexer(under)
    holds = sparse.csr_matrix((np.ones(len(codes)), (u_code, codes)), shape=(len(underlyings), n_p))
    base = observed.reindex(columns=proxy_tickers(layer.equity[0]), fill_value=False).any(axis=1)
    rows_u = observed.reindex(columns=underlyings, fill_value=False).to_numpy(dtype=float)
    in_index = base.to_numpy()[:, None] | (np.asarray((holds.T @ rows_u.T).T) > 0)
    from_end = np.cumsum(in_index[::-1], axis=0)[::-1]
    in_window = in_index & (from_end <= rp.window)
    returns = inputs.returns.reindex(index=dates, columns=underlyings).to_numpy(dtype=float)
    has_return = ~np.isnan(returns)
    exposure = sparse.csr_matrix(
        (np.where(known, dae_v, 0.0), (u_code, codes)), shape=(len(underlyings), n_p)
    )
    counted = sparse.csr_matrix(
        (known.astype(float), (u_code, codes)), shape=(len(underlyings), n_p)
    )
    pnl = np.asarray((exposure.T @ np.where(has_return, returns, 0.0).T).T)
    count = np.asarray((counted.T @ has_return.astype(float).T).T)
    defined = in_window & (count > 0)
    pnl = np.where(defined, pnl, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        port_returns = pnl / np.where(gross != 0, gross, np.nan)
    stats = performance_stats_many(
        pd.DataFrame(port_returns, index=dates, columns=portfolios),
        risk_free=rp.risk_free, gaussian_mean=rp.gaussian_mean,
    )  # fmt: skip
    history_days = defined.sum(axis=0)

    summaries: dict[int, dict] = {}
    units: dict[int, dict[str, str]] = {}
    notes: dict[int, tuple[str, ...]] = {}
    metric_rows: list[dict] = []
    for g, p in enumerate(portfolios):
        p = int(p)
        s = stats.iloc[g]
        metrics: dict[str, tuple[float, str]] = {k: (float(s[k]), "fraction") for k in METRIC_KEYS}
        for key in VAR_USD_KEYS:
            metrics[f"{key}_usd"] = (float(s[key]) * float(gross[g]), "usd")
        t = float(total_var[g])
        metrics.update({
            "gross_exposure_usd": (float(gross[g]), "usd"),
            "history_days": (float(history_days[g]), "days"),
            "ex_ante_volatility_usd": (float(risk.total_volatility_usd[g]), "usd"),
            "ex_ante_variance_usd2": (t, "usd2"),
            "factor_variance_usd2": (float(risk.factor_variance[g]), "usd2"),
            "specific_variance_usd2": (float(risk.specific_variance[g]), "usd2"),
            "factor_risk_share": (float(risk.factor_variance[g]) / t if t else np.nan, "fraction"),
        })  # fmt: skip
        metric_rows += [
            {"portfolio_id": p, "metric": k, "value": v, "unit": u,
             "reason": None if pd.notna(v) else "not computable from the data"}
            for k, (v, u) in metrics.items()
        ]  # fmt: skip
        days = np.flatnonzero(defined[:, g])
        summaries[p] = {k: v for k, (v, _) in metrics.items()}
        summaries[p]["history_start"] = dates[days[0]] if len(days) else None
        summaries[p]["history_end"] = dates[days[-1]] if len(days) else None
        units[p] = {k: u for k, (_, u) in metrics.items()}
        notes[p] = (*layer.notes[p], *risk.notes[g])
    contrib_rows = contrib.rename_axis("position_id").reset_index()
    contrib_rows.insert(0, "portfolio_id", joined["portfolio_id"].to_numpy())

    def tables(p: int) -> dict[str, pd.DataFrame]:
        g = portfolios.get_loc(p)
        mine = joined.loc[joined["portfolio_id"] == p]
        days = defined[:, g]
        factors = pd.DataFrame(
            {
                "exposure_usd": risk.exposure_usd[g],
                "contribution_usd2": risk.contribution_usd2[g],
                "share": risk.contribution_usd2[g] / denominator[g],
            },
            index=pd.Index(risk.factors, name="factor"),
        )
        return {
            "metrics": pd.DataFrame(
                [
                    {"metric": k, "value": v, "unit": units[p][k]}
                    for k, v in summaries[p].items()
                    if k in units[p]
                ]
            ),  # fmt: skip
            "positions": mine[["symbol", "underlying"]].join(contrib.loc[mine.index]),
            "factors": factors,
            "returns": pd.DataFrame(
                {"pnl_usd": pnl[days, g], "return": port_returns[days, g]}, index=dates[days]
            ),
        }

    return LayerRun(
        "risk_metrics", layer.as_of, layer.portfolio_names,
        ((RiskMetric, pd.DataFrame(metric_rows)), (PositionRiskContribution, contrib_rows)),
        summaries, notes, tables,
    )  # fmt: skip


def _stored_snapshots(session: Session, portfolio_ids: Sequence[int]) -> pd.DataFrame:
    """Every stored snapshot of ``portfolio_ids`` (id, portfolio_id, as_of and
    :data:`SNAPSHOT_COLUMNS`), in chunks of ``store.IN_CHUNK`` ids."""
    columns = ["id", "portfolio_id", "as_of", *SNAPSHOT_COLUMNS]
    ids = list(portfolio_ids)
    rows = [
        r._asdict()
        for start in range(0, len(ids), store.IN_CHUNK)
        for r in session.execute(
            select(*(getattr(PortfolioSnapshot, c) for c in columns)).where(
                PortfolioSnapshot.portfolio_id.in_(ids[start : start + store.IN_CHUNK])
            )
        )
    ]
    return pd.DataFrame(rows, columns=columns)


def layer_snapshot(layer: SecurityLayer, session: Session, *, backfill: int = 0) -> LayerRun:
    """``run_snapshot(..., backfill=backfill)`` of every portfolio: the snapshots of the as-of
    and of the ``backfill`` sessions before it that have none stored, the retention rule
    and the cumulative P&L, in bulk.

    Which snapshots are written and their figures come from the core ``run_snapshot``
    uses (:func:`~sigmasight_lib.runs.snapshots.plan_snapshot_days`,
    :func:`~sigmasight_lib.runs.snapshots.snapshot_figures`), for all portfolios at once.
    The stored snapshots of all portfolios are read in one query (``session``); the
    history each portfolio will have after the save — earlier rows, the written rows
    added (the as-of row replaced), rows older than ``snapshot.retention_days`` before
    the latest date dropped unless written now, cumulative P&L recomputed — is computed
    here. :meth:`LayerRun.save` upserts the written rows, deletes the dropped rows and
    updates the cumulative P&L that changed, one bulk statement each.

    Parameters
    ----------
    layer : SecurityLayer
        Built with a ``snapshot_backfill`` of at least ``backfill``.
    session : Session
    backfill : int, default=0
        NYSE sessions before the as-of to fill where no snapshot is stored.

    Raises
    ------
    ValueError
        When the layer was built for a shorter backfill.
    MarketDataError
        When no factor has a usable proxy on a day some portfolio holds positions.
    """
    if backfill > layer.snapshot_backfill:
        raise ValueError(
            f"a snapshot backfill of {backfill} sessions needs a security layer built with "
            f"snapshot_backfill >= {backfill} (this one: {layer.snapshot_backfill})"
        )
    day, retention = layer.as_of, layer.params.snapshot.retention_days
    portfolios = [int(p) for p in portfolio_index(layer)[1]]
    days = sessions_window(day, backfill + 1)
    inputs = layer.inputs_for(history_sessions(layer.params)["snapshot"] + backfill)
    priced = [d for d in days if pd.Timestamp(d) in inputs.levels.index]
    stored = _stored_snapshots(session, portfolios)
    pairs, unpriced = plan_snapshot_days(
        portfolios, days, set(zip(stored["portfolio_id"], stored["as_of"], strict=True)), priced
    )
    figures = snapshot_figures(layer.held, pairs, inputs, layer.equity, layer.params)
    fresh = figures.reset_index().assign(id=None)
    replaced = pd.MultiIndex.from_frame(stored[["portfolio_id", "as_of"]]).isin(pairs)
    stored = stored.loc[~replaced]
    history = pd.concat([stored, fresh], ignore_index=True) if len(fresh) else stored
    history = history.sort_values(["portfolio_id", "as_of"], kind="stable")
    latest = history.groupby("portfolio_id")["as_of"].transform("max")
    cutoff = latest - dt.timedelta(days=retention)
    keep = (history["as_of"] >= cutoff) | (history["as_of"] == day) | history["id"].isna()
    dropped = history.loc[~keep, "id"].astype(int).tolist()
    history = history.loc[keep].copy()
    history["cumulative_pnl_usd"] = (
        history["daily_pnl_usd"].astype(float).fillna(0.0).groupby(history["portfolio_id"]).cumsum()
    )
    columns = ["as_of", *SNAPSHOT_COLUMNS]
    counts = history.groupby("portfolio_id").size()
    written = pairs.get_level_values("portfolio_id").value_counts()
    today_rows = {
        int(r["portfolio_id"]): {c: r[c] for c in columns}
        for r in history.loc[history["as_of"] == day, ["portfolio_id", *columns]].to_dict("records")
    }
    summaries = {
        p: {
            **today_rows.get(p, {}),
            "history_days": int(counts.get(p, 0)),
            "written_days": int(written.get(p, 0)),
        }
        for p in portfolios
    }
    as_of_notes = layer.notes if day in priced else {}
    notes = {p: (*unpriced[p], *as_of_notes.get(p, ())) for p in portfolios}
    rows = fresh.drop(columns="id").assign(cumulative_pnl_usd=np.nan)[
        ["portfolio_id", "as_of", *SNAPSHOT_COLUMNS]
    ]
    cumulative = history[["id", "portfolio_id", "as_of", "cumulative_pnl_usd"]]
    changed = cumulative.loc[cumulative["id"].notna()]
    before = stored.set_index("id")["cumulative_pnl_usd"]
    changed = changed.loc[
        changed["cumulative_pnl_usd"].to_numpy() != before.reindex(changed["id"]).to_numpy()
    ]
    dropped_by = stored.loc[stored["id"].isin(dropped)].groupby("portfolio_id")["id"]

    def save(session: Session, batch_run_id: int | None, ids: list[int]) -> int:
        wanted = set(ids)
        now = dt.datetime.now(dt.UTC)
        final = cumulative.loc[cumulative["id"].isna()].set_index(["portfolio_id", "as_of"])
        upserts = [
            {**r, "cumulative_pnl_usd": float(final.at[(r["portfolio_id"], r["as_of"]), "cumulative_pnl_usd"]),
             "batch_run_id": batch_run_id, "computed_at": now}
            for r in rows.to_dict("records") if r["portfolio_id"] in wanted
        ]  # fmt: skip
        store.upsert(session, PortfolioSnapshot, upserts, key=("portfolio_id", "as_of"))
        gone = [int(i) for p, g in dropped_by for i in g if p in wanted]
        for start in range(0, len(gone), store.IN_CHUNK):
            session.execute(
                delete(PortfolioSnapshot).where(
                    PortfolioSnapshot.id.in_(gone[start : start + store.IN_CHUNK])
                )
            )
        updates = [
            {"id": int(i), "cumulative_pnl_usd": float(c)}
            for i, p, c in changed[["id", "portfolio_id", "cumulative_pnl_usd"]].itertuples(
                index=False
            )
            if p in wanted
        ]
        for start in range(0, len(updates), store.EXECUTEMANY_ROWS):
            session.execute(
                update(PortfolioSnapshot), updates[start : start + store.EXECUTEMANY_ROWS]
            )
        return len(upserts)

    def tables(p: int) -> dict[str, pd.DataFrame]:
        mine = history.loc[history["portfolio_id"] == p, columns]
        mine = pd.DataFrame(mine.to_dict("records"), columns=columns)
        return {"snapshot": mine[mine["as_of"] == day], "history": mine}

    return LayerRun(
        "snapshot", day, layer.portfolio_names, ((PortfolioSnapshot, rows),),
        summaries, notes, tables, save,
    )  # fmt: skip


def _risk_run(
    engine: str,
    layer: SecurityLayer,
    results: dict[int, PortfolioRisk],
    models: dict[str, type[Base]],
    tables: Callable[[int], dict[str, pd.DataFrame]],
) -> LayerRun:
    """A :class:`LayerRun` of per-portfolio :class:`PortfolioRisk` results: ``models`` maps
    each table name of ``PortfolioRisk.rows`` to the model its rows are saved in."""
    frames = {}
    for name in models:  # one frame per table, built once (the bulk writer's fast input)
        counts = [len(res.rows[name]) for res in results.values()]
        frame = pd.DataFrame([r for res in results.values() for r in res.rows[name]])
        frame.insert(0, "portfolio_id", np.repeat(np.array(list(results), dtype=int), counts))
        frames[name] = frame

    return LayerRun(
        engine, layer.as_of, layer.portfolio_names,
        tuple((model, frames[name]) for name, model in models.items()),
        {pid: r.summary for pid, r in results.items()},
        {pid: r.notes for pid, r in results.items()}, tables,
    )  # fmt: skip


def layer_correlations(layer: SecurityLayer) -> LayerRun:
    """``run_correlations`` of every portfolio (:func:`correlations_many`)."""
    results = correlations_many(layer)
    models = {
        "position_correlations": PositionCorrelation,
        "portfolio_correlation_metrics": PortfolioCorrelationMetrics,
    }
    return _risk_run(
        "correlations", layer, results, models,
        lambda pid: correlation_tables(results[pid].extra["metrics"]),
    )  # fmt: skip


def layer_market_risk(layer: SecurityLayer) -> LayerRun:
    """``run_market_risk`` of every portfolio (:func:`market_risk_many`)."""
    results = market_risk_many(layer)
    joined = layer.joined()
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    models = {
        "market_risk_scenarios": MarketRiskScenarioResult,
        "position_interest_rate_betas": PositionInterestRateBeta,
    }

    def tables(pid: int) -> dict[str, pd.DataFrame]:
        x = results[pid].extra
        mine = joined["portfolio_id"] == pid
        return market_risk_tables(
            layer.params, joined.loc[mine], dae.loc[mine], x["ir"], x["market_exposure"],
            x["rate_exposure"], x["predicted"], x["actual"],
        )  # fmt: skip

    return _risk_run("market_risk", layer, results, models, tables)


def layer_stress(layer: SecurityLayer) -> LayerRun:
    """``run_stress`` of every portfolio (:func:`stress_many`) on the layer's scenario set.

    Saved as ``run_stress`` saves (:func:`save_stress`): the set's ``stress_scenarios``
    and the ``factor_correlations`` once, every portfolio's ``stress_results`` replaced
    within the set.

    Raises
    ------
    ConfigError
        The layer has no scenario set, or its file is missing or invalid.
    """
    scenario_set = layer.scenario_set
    if scenario_set is None:
        raise ConfigError(
            "the security layer has no stress scenario set: build it with "
            "scenario_set=load_scenario_set(params_dir)"
        )
    results, shared = stress_many(
        layer, scenario_set.scenarios, scenario_set.name, source=str(scenario_set.path)
    )
    run = _risk_run(
        "stress", layer, results, {"stress_results": StressResult},
        lambda pid: stress_tables(*(results[pid].extra[k] for k in ("batch", "portfolio", "covariance"))),
    )  # fmt: skip
    rows = run.rows[0][1]

    def save(session: Session, batch_run_id: int | None, ids: list[int]) -> int:
        mine = (
            rows
            if len(ids) == len(layer.portfolio_names)
            else rows.loc[rows["portfolio_id"].isin(ids)]
        )
        return save_stress(
            session, scenario_set, layer.as_of, ids, mine.to_dict("records") if len(mine) else [],
            shared["factor_correlations"], batch_run_id,
        )  # fmt: skip

    return replace(run, saver=save)


LayerEngine = Callable[..., LayerRun]
"""A layered engine: (security layer, session for what it reads stored) -> :class:`LayerRun`;
the snapshot also takes its ``backfill`` (keyword)."""


def _reads_nothing(engine: Callable[[SecurityLayer], LayerRun]) -> LayerEngine:
    """``engine`` as a :data:`LayerEngine` (it reads nothing stored: the session is unused)."""

    @functools.wraps(engine)
    def layered(layer: SecurityLayer, session: Session) -> LayerRun:
        return engine(layer)

    return layered


LAYER_ENGINES: dict[str, LayerEngine] = {
    "valuation": _reads_nothing(layer_valuation),
    "greeks": _reads_nothing(layer_greeks),
    "exposures": _reads_nothing(layer_exposures),
    "factors": _reads_nothing(layer_factors),
    "risk_metrics": _reads_nothing(layer_risk_metrics),
    "snapshot": layer_snapshot,
    "correlations": _reads_nothing(layer_correlations),
    "stress": _reads_nothing(layer_stress),
    "market_risk": _reads_nothing(layer_market_risk),
}
"""Engines computed for every portfolio at once; the others run per portfolio."""
