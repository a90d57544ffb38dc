"""Model validation: replay the risk model over real history and compare with what happened.

``run_validation(settings, portfolio, start, end)`` is what ``sigmasight
validate`` and ``notebooks/11_validation.ipynb`` call. It loads the market data
once for every date it needs, computes per day from it with the engines' own
functions, and returns a :class:`ValidationResult`. No result is saved in the
database (only the price cache is synced first, unless ``sync=False``);
:func:`sigmasight_lib.reporting.validation_report.write_validation` writes the
files.

Holdings
    The portfolio's positions as of ``holdings_as_of`` (default: the default
    as-of date of the other commands), held **constant in quantity** over the
    whole history. On each day t their delta-adjusted exposure is recomputed at
    t's prices (:func:`~sigmasight_lib.runs.securities.compute_position_analytics`; options
    by BSM with the realized-volatility fallback, as the engines do offline; no
    provider option quotes are used because none exist for past days).

VaR backtest
    VaR_t is the risk-metrics engine's 1-day historical VaR
    (:func:`~sigmasight_lib.engines.risk_metrics.performance_stats`, called, not
    re-derived) of the constant-holdings returns over the ``risk_metrics.window``
    sessions ending at t with t's exposures: return_s = Σ_i e_i,t r_i,s / Σ_i
    |e_i,t|, VaR_t (USD) = VaR fraction × Σ_i |e_i,t|. It is compared with the
    next session's realized P&L_{t+1} = Σ_i e_i,t r_i,t+1 (USD). Forecast days t
    are the NYSE sessions from ``start`` to the session before ``end``.

Volatility bias
    σ_t = the same window's daily standard deviation (``annual_volatility`` of
    performance_stats / √252) × gross exposure; bias = std(P&L_{t+1} / σ_t).

Crash replays
    For each window of ``params/replays.yaml``: the dollar factor exposures as of
    the window start (market / style from the factor engine, macro / rate from
    the stress engine's [Market, factor] regressions:
    :func:`~sigmasight_lib.runs.portfolio.compute_stress_inputs`, on data up to the start
    only) × the factors' realized cumulative moves from start to end (style
    factors as spreads over the market in ``spread`` mode, as the exposures
    are), the matching stress scenario run at the start
    (:func:`~sigmasight_lib.engines.stress.run_scenario`), and the realized P&L
    of the holdings valued at start and end (stocks at their closes; options
    repriced by BSM at the end date's spot, time to expiry and realized
    volatility). Errors are (model − realized) / gross market value at the
    start (Σ |quantity × price × multiplier|).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sigmasight_lib.config import Settings
from sigmasight_lib.db import store
from sigmasight_lib.db.models import Portfolio
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.engines.exposures import delta_adjusted_exposure
from sigmasight_lib.engines.factors import MARKET_FACTOR
from sigmasight_lib.engines.risk_metrics import PERIODS_PER_YEAR, performance_stats
from sigmasight_lib.engines.stress import MoveModel, design_moves
from sigmasight_lib.engines.validation import (
    VAR_LEVELS,
    BiasStatistic,
    VaRBacktest,
    cumulative_move,
    exceptions,
    holdings_pnl,
    var_backtest,
    volatility_bias_statistic,
)
from sigmasight_lib.exceptions import ConfigError, MarketDataError
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.marketdata import MarketDataProvider, get_provider
from sigmasight_lib.marketdata.cache import default_as_of, sync_market_data
from sigmasight_lib.marketdata.calendar import (
    require_session,
    session_on_or_before,
    sessions_window,
    trading_sessions,
)
from sigmasight_lib.params import (
    REPLAYS_FILE,
    STRESS_SCENARIOS_FILE,
    EngineParams,
    Replay,
    load_engine_params,
    load_replays,
    load_stress_scenarios,
)
from sigmasight_lib.portfolios.service import find_portfolio
from sigmasight_lib.runs.inputs import (
    HISTORY_MARGIN_SESSIONS,
    FactorProxies,
    MarketInputs,
    factor_proxies,
    factor_returns_from,
    load_market_inputs,
    proxy_tickers,
)
from sigmasight_lib.runs.portfolio import (
    PositionAnalytics,
    StressInputs,
    compute_factor_exposures,
    compute_stress_inputs,
)
from sigmasight_lib.runs.result import records
from sigmasight_lib.runs.securities import compute_position_analytics

log = logging.getLogger(__name__)

ENDPOINT_TOLERANCE_SESSIONS = 5
"""A factor's realized move over a replay window needs an observation within this many
sessions up to the window's first and up to its last session; the factor model at the
start needs a Market observation within this many sessions of it (else N/A with the
reason)."""
DAILY_COLUMNS: tuple[str, ...] = (
    "realized_date",
    "gross_exposure_usd",
    "net_exposure_usd",
    "history_days",
    *(f"var_{round(level * 100)}_usd" for level in VAR_LEVELS),
    "sigma_usd",
    "pnl_usd",
    *(f"exception_{round(level * 100)}" for level in VAR_LEVELS),
)
"""Columns of :attr:`ValidationResult.daily`, indexed by the forecast day t."""
FACTOR_COLUMNS: tuple[str, ...] = ("kind", "exposure_usd", "move", "pnl_usd", "reason")
"""Columns of :attr:`ReplayResult.by_factor`, indexed by factor."""


def _suffix(level: float) -> str:
    return f"{round(level * 100)}"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ReplayResult:
    """One crash replay: model predictions vs the realized constant-holdings P&L.

    Attributes
    ----------
    key, name, scenario : str
        From ``params/replays.yaml``.
    start, end : datetime.date
        The window (NYSE sessions).
    gross_value_usd, net_value_usd : float
        Σ |market value| and Σ signed exposure (long − short value) at the start.
    realized_pnl_usd : float
        Holdings valued at end minus at start (NaN with ``realized_reason``).
    predicted_pnl_usd : float
        Σ factor dollar exposure at the start × realized factor move (NaN with
        ``predicted_reason``).
    stress_direct_pnl_usd, stress_correlated_pnl_usd : float
        The scenario's P&L at the start (NaN with ``stress_reason``).
    predicted_error, stress_error : float
        (predicted − realized) / gross value, (stress correlated − realized) /
        gross value; fractions (0.012 = 1.2 % of gross).
    by_factor : DataFrame indexed by factor, columns :data:`FACTOR_COLUMNS`
        ``kind`` of the move (``return``; ``spread``: the style proxy's return
        minus the market's, in spread mode; ``rates``: yield change), exposure
        (USD per unit move), realized move (decimal), P&L (USD).
    """

    key: str
    name: str
    scenario: str
    start: dt.date
    end: dt.date
    gross_value_usd: float
    net_value_usd: float
    realized_pnl_usd: float
    predicted_pnl_usd: float
    stress_direct_pnl_usd: float
    stress_correlated_pnl_usd: float
    realized_reason: str | None
    predicted_reason: str | None
    stress_reason: str | None
    stress_partial: bool
    stress_unmapped: tuple[str, ...]
    by_factor: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def predicted_error(self) -> float:
        return _error(self.predicted_pnl_usd, self.realized_pnl_usd, self.gross_value_usd)

    @property
    def stress_error(self) -> float:
        return _error(self.stress_correlated_pnl_usd, self.realized_pnl_usd, self.gross_value_usd)

    @property
    def status(self) -> str:
        """``ok`` when realized and predicted P&L exist, else ``n/a``."""
        ok = math.isfinite(self.realized_pnl_usd) and math.isfinite(self.predicted_pnl_usd)
        return "ok" if ok else "n/a"

    def summary(self) -> dict[str, Any]:
        """Flat figures (JSON-ready apart from NaN)."""
        return {
            "key": self.key, "name": self.name, "scenario": self.scenario,
            "start": self.start, "end": self.end, "status": self.status,
            "gross_value_usd": self.gross_value_usd, "net_value_usd": self.net_value_usd,
            "realized_pnl_usd": self.realized_pnl_usd, "predicted_pnl_usd": self.predicted_pnl_usd,
            "stress_direct_pnl_usd": self.stress_direct_pnl_usd,
            "stress_correlated_pnl_usd": self.stress_correlated_pnl_usd,
            "predicted_error_of_gross": self.predicted_error,
            "stress_error_of_gross": self.stress_error,
            "realized_reason": self.realized_reason, "predicted_reason": self.predicted_reason,
            "stress_reason": self.stress_reason, "stress_partial": self.stress_partial,
            "stress_unmapped": list(self.stress_unmapped),
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            **self.summary(), "notes": list(self.notes), "by_factor": records(self.by_factor),
        })  # fmt: skip


def _error(model: float, realized: float, gross: float) -> float:
    if not (math.isfinite(model) and math.isfinite(realized)) or not gross:
        return float("nan")
    return (model - realized) / gross


@dataclass(frozen=True)
class ValidationResult:
    """What :func:`run_validation` found.

    Attributes
    ----------
    daily : DataFrame indexed by forecast day t, columns :data:`DAILY_COLUMNS`
        Exposures, VaR and σ forecasts at t (USD), realized P&L on
        ``realized_date`` (the next session), exception flags (1.0 / 0.0 /
        NaN when not computable).
    backtests : dict of float to VaRBacktest
        Per confidence level.
    bias : BiasStatistic
    replays : tuple of ReplayResult
    """

    portfolio_id: int
    portfolio: str
    slug: str
    start: dt.date
    end: dt.date
    holdings_as_of: dt.date
    provider: str
    window: int
    positions: int
    daily: pd.DataFrame
    backtests: dict[float, VaRBacktest]
    bias: BiasStatistic
    replays: tuple[ReplayResult, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def backtest_table(self) -> pd.DataFrame:
        """One row per confidence level: every :class:`VaRBacktest` field."""
        return pd.DataFrame([b.to_dict() for b in self.backtests.values()]).set_index("level")

    def replay_table(self) -> pd.DataFrame:
        """One row per replay: :meth:`ReplayResult.summary`."""
        return (
            pd.DataFrame([r.summary() for r in self.replays]).set_index("key")
            if self.replays
            else pd.DataFrame()
        )

    def replay_factors(self) -> pd.DataFrame:
        """Every replay's ``by_factor`` table, indexed by (replay, factor)."""
        if not self.replays:
            return pd.DataFrame(columns=list(FACTOR_COLUMNS))
        return pd.concat({r.key: r.by_factor for r in self.replays}, names=["replay", "factor"])

    def notes_table(self) -> pd.DataFrame:
        """Notes of the backtest (``source`` = ``backtest``) and of each replay (its key)."""
        rows = [("backtest", n) for n in self.notes]
        rows += [(r.key, n) for r in self.replays for n in r.notes]
        return pd.DataFrame(rows, columns=["source", "note"])

    def metadata(self) -> dict[str, Any]:
        return {
            "portfolio": self.portfolio, "portfolio_id": self.portfolio_id, "slug": self.slug,
            "start": self.start, "end": self.end, "holdings_as_of": self.holdings_as_of,
            "provider": self.provider, "var_window_sessions": self.window,
            "positions": self.positions, "var_model": "historical (risk_metrics.performance_stats)",
            "pnl": "constant holdings: delta-adjusted exposure at t x underlying return on t+1 (USD)",
            "replay_error_base": "gross market value at the window start",
        }  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """The full result, JSON-ready (NaN → null, dates ISO)."""
        return jsonable({
            "metadata": self.metadata(),
            "var_backtest": {f"var_{_suffix(k)}": b.to_dict() for k, b in self.backtests.items()},
            "volatility_bias": self.bias.to_dict(),
            "replays": [r.to_dict() for r in self.replays],
            "notes": list(self.notes),
            "daily": records(self.daily.rename_axis("date")),
        })  # fmt: skip


# --------------------------------------------------------------------------- loading


def _slice(inputs: MarketInputs, first: dt.date, last: dt.date) -> MarketInputs:
    """``inputs`` restricted to ``[first, last]`` (what an engine run for ``last`` loads)."""
    lo, hi = pd.Timestamp(first), pd.Timestamp(last)

    def cut(frame: pd.DataFrame, lo: pd.Timestamp = lo) -> pd.DataFrame:
        return frame.loc[(frame.index >= lo) & (frame.index <= hi)] if not frame.empty else frame

    return MarketInputs(
        provider=inputs.provider,
        levels=cut(inputs.levels),
        returns=cut(inputs.returns),
        curves=cut(inputs.curves, lo - pd.Timedelta(days=10)),
        quotes=None,
        last_observed={k: d for k, d in inputs.last_observed.items() if d <= last},
    )


def _analytics(
    positions: pd.DataFrame, inputs: MarketInputs, day: dt.date, params: EngineParams, pa: Portfolio
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Positions joined with valuation and Greeks on ``day`` (the engines' frame)."""
    valuation, greeks, notes = compute_position_analytics(positions, inputs, day, params)
    joined = PositionAnalytics(pa.id, pa.name, day, positions, valuation, greeks, notes).joined()
    return joined, notes


def _history_sessions(params: EngineParams) -> int:
    """Sessions of history an engine run loads before its as-of date (the longest need)."""
    return (
        max(params.factors.window, params.stress.lookback, params.risk_metrics.window,
            params.greeks.realized_vol_sessions + 1)
        + 1 + HISTORY_MARGIN_SESSIONS
    )  # fmt: skip


# --------------------------------------------------------------------------- VaR backtest


def _backtest_days(
    positions: pd.DataFrame,
    inputs: MarketInputs,
    sessions: Sequence[dt.date],
    params: EngineParams,
    pa: Portfolio,
    equity_tickers: Sequence[str],
) -> tuple[pd.DataFrame, list[str]]:
    """The daily table: exposures, VaR and σ at each forecast day, P&L on the next session.

    The return window counts the dates of the risk-metrics engine's own frame (the
    held underlyings and the market / style proxies it loads), so VaR_t is the
    figure ``run_risk_metrics`` reports for t with these holdings.
    """
    window = params.risk_metrics.window
    underlyings = sorted(set(positions["underlying"]))
    engine_dates = inputs.returns.reindex(columns=[*underlyings, *equity_tickers]).dropna(how="all")
    returns = inputs.returns.reindex(index=engine_dates.index, columns=underlyings)
    notes: dict[str, None] = {}
    rows = []
    for t, t_next in zip(sessions[:-1], sessions[1:], strict=True):
        joined, day_notes = _analytics(positions, inputs, t, params, pa)
        notes.update(dict.fromkeys(n for n in day_notes if not n.startswith("no option quotes")))
        dae = delta_adjusted_exposure(joined)
        gross = float(dae.abs().sum())
        exposure = dae.groupby(joined["underlying"]).sum().fillna(0.0)
        history = returns.loc[returns.index <= pd.Timestamp(t)].iloc[-window:]
        pnl_window = holdings_pnl(history, exposure).dropna()
        port_returns = pnl_window / gross if gross else pnl_window * np.nan
        stats = performance_stats(port_returns, risk_free=params.risk_metrics.risk_free)
        nxt = returns.loc[returns.index == pd.Timestamp(t_next)]
        pnl_next = holdings_pnl(nxt, exposure).iloc[0] if not nxt.empty else np.nan
        row: dict[str, Any] = {
            "date": pd.Timestamp(t),
            "realized_date": t_next,
            "gross_exposure_usd": gross,
            "net_exposure_usd": float(dae.sum()),
            "history_days": len(port_returns),
        }
        for level in VAR_LEVELS:
            row[f"var_{_suffix(level)}_usd"] = stats[f"var_{_suffix(level)}"] * gross
        row["sigma_usd"] = stats["annual_volatility"] / math.sqrt(PERIODS_PER_YEAR) * gross
        row["pnl_usd"] = float(pnl_next)
        rows.append(row)
    daily = pd.DataFrame(rows, columns=["date", *DAILY_COLUMNS[: -len(VAR_LEVELS)]])
    daily = daily.set_index("date")
    for level in VAR_LEVELS:
        s = _suffix(level)
        daily[f"exception_{s}"] = exceptions(daily["pnl_usd"], daily[f"var_{s}_usd"])
    if not daily.empty and (daily["history_days"] < window).any():
        short = daily.loc[daily["history_days"] < window]
        notes[
            f"{len(short)} forecast day(s) have fewer than {window} sessions of return history "
            f"(min {int(short['history_days'].min())})"
        ] = None
    return daily, list(notes)


# --------------------------------------------------------------------------- replays


def _factor_moves(
    inputs: MarketInputs,
    proxies: FactorProxies,
    start: dt.date,
    end: dt.date,
    params: EngineParams,
) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Realized cumulative move of each factor from ``start`` to ``end`` (proxy units).

    Daily moves come from :func:`~sigmasight_lib.runs.inputs.factor_returns_from` at
    ``end`` (so the library's staleness rule applies: a proxy whose last
    observation is more than ``data.max_staleness_sessions`` sessions before
    ``end`` is N/A); a price proxy's return spans any missing day, so its
    compounded return needs an observation within :data:`ENDPOINT_TOLERANCE_SESSIONS`
    sessions up to ``start`` (a move that stops short of ``end`` is noted). A
    rate proxy's yield changes must also have no gap on a day the curve has a row.

    Returns
    -------
    (moves, reasons, notes)
        Decimal moves by factor; N/A reasons by factor; notes.
    """
    first = sessions_window(start, ENDPOINT_TOLERANCE_SESSIONS + 1)[0]
    chosen = factor_returns_from(
        _slice(inputs, first, end), proxies, end, params,
        window=len(trading_sessions(first, end)), min_obs=1,
    )  # fmt: skip
    moves: dict[str, float] = {}
    reasons = dict(chosen.na_reasons)
    notes: list[str] = []
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    for name in chosen.returns.columns:
        raw = chosen.returns[name]
        s = raw.dropna()
        proxy = chosen.proxies_used[name]
        if s.empty or s.index.max() <= lo:
            reasons[name] = f"proxy {proxy} has no observation after {start}"
            continue
        if s.index.max() < hi:
            notes.append(
                f"{name}: move measured to {s.index.max().date()}, the last observation of {proxy}"
            )
        if not (s.index <= lo).any():
            reasons[name] = (
                f"proxy {proxy} has no data in the {ENDPOINT_TOLERANCE_SESSIONS} sessions up to {start}"
            )
            continue
        window = raw.loc[(raw.index > lo) & (raw.index <= hi)]
        kind = "change" if name in chosen.additive else "return"
        if kind == "change":
            gaps = window.loc[window.index.isin(inputs.curves.index)].isna()
            if gaps.any():
                reasons[name] = f"proxy {proxy} has {int(gaps.sum())} gap(s) from {start} to {end}"
                continue
        moves[name] = cumulative_move(window.dropna(), kind)
    return moves, reasons, notes


@dataclass(frozen=True)
class _StartModel:
    """The factor model at a replay's start: dollar exposures (positions × factors),
    the stress inputs when they could be built, the move model and proxies used."""

    exposures: pd.DataFrame | None
    stress: StressInputs | None
    model: MoveModel
    proxies_used: dict[str, str]
    reason: str | None
    notes: list[str]


def _model_at_start(
    joined: pd.DataFrame,
    inputs: MarketInputs,
    day: dt.date,
    equity: tuple[FactorProxies, dict[str, str], dict[str, int]],
    macro: tuple[FactorProxies, dict[str, str], dict[str, int]],
    params: EngineParams,
) -> _StartModel:
    """The factor model on ``day`` from ``inputs`` (data up to ``day`` only).

    Dollar exposures (market, style, macro, rates) and the stress inputs from
    :func:`~sigmasight_lib.runs.portfolio.compute_stress_inputs`; when those cannot be
    built, the factor engine's market / style exposures alone and the reason;
    without a current Market series, nothing and the reason.
    """
    chosen = factor_returns_from(inputs, equity[0], day, params)
    if MARKET_FACTOR not in chosen.returns:
        reason = {**equity[1], **chosen.na_reasons}.get(MARKET_FACTOR, "not configured")
        return _StartModel(
            None, None, MoveModel(), {}, f"no factor model at {day}: Market: {reason}", []
        )
    try:
        si = compute_stress_inputs(joined, inputs, day, equity, macro, params)
    except MarketDataError as exc:
        reason = f"the stress inputs could not be built at {day} ({exc})"
        fx = compute_factor_exposures(joined, inputs, day, *equity, params)
        spread = frozenset(f for f in fx.factor_returns if f != MARKET_FACTOR)
        model = MoveModel(spread_factors=spread if params.factors.mode == "spread" else frozenset())
        notes = [f"factor model without macro and rate factors: {reason}"]
        notes += [f"{n}: no exposure at {day} ({why})" for n, why in fx.na_reasons.items()]
        return _StartModel(fx.dollar_exposures(), None, model, fx.proxies_used, reason, notes)
    notes = [f"{n}: no exposure at {day} ({why})" for n, why in si.na_reasons.items()]
    return _StartModel(si.exposures, si, si.model, si.proxies_used, None, notes)


def _factor_table(
    start_model: _StartModel,
    inputs: MarketInputs,
    start: dt.date,
    end: dt.date,
    params: EngineParams,
) -> tuple[pd.DataFrame, list[str]]:
    """:data:`FACTOR_COLUMNS` per factor with an exposure: the realized move of the
    proxy the model used, converted to the exposures' design by
    :func:`~sigmasight_lib.engines.stress.design_moves` (style spreads over the
    market in spread mode), and its P&L; and the notes of :func:`_factor_moves`."""
    model = start_model.model
    exposure = start_model.exposures.sum(axis=0, min_count=1).dropna()
    used = {f: (start_model.proxies_used[f],) for f in exposure.index}
    moves, move_na, notes = _factor_moves(inputs, used, start, end, params)
    raw = pd.Series(moves, dtype=float).reindex(exposure.index)
    move = design_moves(raw, model)  # NaN market move: NaN spreads
    reasons = {f: move_na.get(f) for f in exposure.index}
    if pd.isna(raw.get(model.market)):
        for f in model.spread_factors & set(exposure.index):
            reasons[f] = reasons[f] or "no Market move for the spread"
    kinds = {
        f: "rates" if f in model.additive
        else "spread" if f in model.spread_factors
        else "return"
        for f in exposure.index
    }  # fmt: skip
    table = pd.DataFrame({
        "kind": pd.Series(kinds, dtype=object), "exposure_usd": exposure, "move": move,
        "pnl_usd": exposure * move, "reason": pd.Series(reasons, dtype=object),
    })  # fmt: skip
    table.index.name = "factor"
    return table, notes


def _predicted(by_factor: pd.DataFrame) -> tuple[float, str | None]:
    """Σ factor P&L, or NaN with the reason when an exposed factor has no move."""
    lacking = by_factor.loc[by_factor["move"].isna() & (by_factor["exposure_usd"] != 0)]
    if lacking.empty:
        return float(by_factor["pnl_usd"].sum()), None
    return float("nan"), "no realized move for " + "; ".join(
        f"{f} ({why})" for f, why in lacking["reason"].items()
    )


def run_replay(
    replay: Replay,
    positions: pd.DataFrame,
    inputs: MarketInputs,
    params: EngineParams,
    pa: Portfolio,
    equity: tuple[dict[str, str], dict[str, str], dict[str, int]],
    macro: tuple[dict[str, str], dict[str, str], dict[str, int]],
    scenario: Any,
) -> ReplayResult:
    """One crash replay from preloaded market data (see the module docstring)."""
    start, end = session_on_or_before(replay.start), session_on_or_before(replay.end)
    notes: list[str] = []
    if (start, end) != (replay.start, replay.end):
        notes.append(f"window moved to NYSE sessions {start}..{end}")
    nan = float("nan")

    # realized: holdings valued at start and at end
    joined_start, n_start = _analytics(positions, inputs, start, params, pa)
    joined_end, _ = _analytics(positions, inputs, end, params, pa)
    notes += [n for n in n_start if not n.startswith("no option quotes")]
    gross = float(joined_start["market_value_usd"].abs().sum(min_count=1))
    net = float(joined_start["exposure_usd"].sum(min_count=1))
    missing = sorted(
        set(joined_start.loc[joined_start["exposure_usd"].isna(), "symbol"])
        | set(joined_end.loc[joined_end["exposure_usd"].isna(), "symbol"])
    )
    realized_reason = f"no price at {start} or {end} for: {', '.join(missing)}" if missing else None
    realized = (
        nan if missing else float((joined_end["exposure_usd"] - joined_start["exposure_usd"]).sum())
    )
    if missing:
        gross = net = nan

    # the model as of the start, from data up to the start only
    model_inputs = _slice(inputs, sessions_window(start, _history_sessions(params))[0], start)
    start_model = _model_at_start(joined_start, model_inputs, start, equity, macro, params)
    notes += start_model.notes
    by_factor = pd.DataFrame(columns=list(FACTOR_COLUMNS), index=pd.Index([], name="factor"))
    predicted = direct = correlated = nan
    predicted_reason = stress_reason = start_model.reason
    partial, unmapped = False, ()
    if start_model.exposures is not None:
        by_factor, move_notes = _factor_table(start_model, inputs, start, end, params)
        notes += move_notes
        predicted, predicted_reason = _predicted(by_factor)
    if start_model.stress is not None:
        if scenario is None:
            stress_reason = f"scenario {replay.scenario!r} is not in {STRESS_SCENARIOS_FILE}"
        else:
            res = start_model.stress.run([scenario])[0]
            direct, correlated = res.direct_pnl_usd, res.correlated_pnl_usd
            partial, unmapped = res.partial, tuple(res.unmapped)
            if not math.isfinite(correlated):
                stress_reason = "; ".join(res.notes) or "no shocked factor has data"
    return ReplayResult(
        key=replay.key, name=replay.name, scenario=replay.scenario, start=start, end=end,
        gross_value_usd=gross, net_value_usd=net, realized_pnl_usd=realized,
        predicted_pnl_usd=predicted, stress_direct_pnl_usd=direct,
        stress_correlated_pnl_usd=correlated, realized_reason=realized_reason,
        predicted_reason=predicted_reason, stress_reason=stress_reason, stress_partial=partial,
        stress_unmapped=unmapped, by_factor=by_factor, notes=tuple(dict.fromkeys(notes)),
    )  # fmt: skip


# --------------------------------------------------------------------------- entry point


def _select_replays(all_replays: list[Replay], replays: Sequence[str] | str | None) -> list[Replay]:
    if replays is None or replays == "all":
        return all_replays
    if replays == "none":
        return []
    keys = [replays] if isinstance(replays, str) else list(replays)
    known = {r.key: r for r in all_replays}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ConfigError(
            f"unknown replay(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    return [known[k] for k in keys]


def run_validation(
    settings: Settings,
    portfolio: str | int,
    start: dt.date,
    end: dt.date,
    *,
    holdings_as_of: dt.date | None = None,
    replays: Sequence[str] | str | None = "all",
    sync: bool = True,
    provider: MarketDataProvider | None = None,
) -> ValidationResult:
    """VaR backtest, volatility bias and crash replays of one portfolio.

    Parameters
    ----------
    settings : Settings
    portfolio : str or int
        Name, slug or id.
    start, end : datetime.date
        Backtest period: VaR forecasts for every NYSE session from ``start`` to
        the session before ``end``, each checked on the next session.
    holdings_as_of : datetime.date, optional
        Date of the holdings held constant (default: the default as-of date).
    replays : 'all', 'none' or sequence of str, default='all'
        Keys of ``params/replays.yaml`` to run.
    sync : bool, default=True
        First fetch into the price cache what it lacks for every needed date
        (the held underlyings and the factor proxies; a sync fetches only
        missing rows).
    provider : MarketDataProvider, optional
        Default: the settings' provider.

    Returns
    -------
    ValidationResult

    Raises
    ------
    ConfigError
        When ``start`` is not before ``end``, or a replay key is unknown.
    NotFoundError
        When the portfolio does not exist.
    MarketDataError
        When there is no holdings date or the portfolio holds nothing on it.
    """
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        raise ConfigError(f"start and end must be dates, got {start!r} and {end!r}")
    for label, day in (("--start", start), ("--end", end), ("--holdings-as-of", holdings_as_of)):
        if day is not None:
            require_session(day, label)
    if not start < end:
        raise ConfigError(f"start {start} must be before end {end}")
    provider = provider or get_provider(settings)
    params = load_engine_params(settings.params_dir)
    chosen = _select_replays(load_replays(settings.params_dir / REPLAYS_FILE), replays)
    scenarios = {
        s.key: s for s in load_stress_scenarios(settings.params_dir / STRESS_SCENARIOS_FILE)
    }
    history = _history_sessions(params)
    sessions = trading_sessions(start, end)
    if len(sessions) < 2:
        raise ConfigError(f"{start}..{end} holds fewer than 2 NYSE sessions")
    with session_scope(settings) as session:
        p = find_portfolio(session, portfolio)
        holdings_day = holdings_as_of or default_as_of(session)
        equity = factor_proxies(session, provider.name, params.factors.factor_types)
        macro = factor_proxies(session, provider.name, ("macro", "rates"))
        positions = store.load_positions(session, p.id, holdings_day) if holdings_day else None
        if positions is None or positions.empty:
            holding = (
                holdings_day
                or "the default as-of date (no cached data; run `sigmasight market-data sync`)"
            )
            raise MarketDataError(f"portfolio {p.name!r} holds no position on {holding}")
        symbols = sorted({*positions["underlying"], *proxy_tickers(equity[0], macro[0])})
        first = sessions_window(min([start, *(r.start for r in chosen)]), history)[0]
        last = max([end, *(r.end for r in chosen)])
        if sync:
            sync_market_data(session, provider, as_of=last, symbols=symbols,
                             history_sessions=len(trading_sessions(first, last)))  # fmt: skip
        inputs = load_market_inputs(session, provider, symbols, first, last)
        daily, notes = _backtest_days(
            positions, inputs, sessions, params, p, proxy_tickers(equity[0])
        )
        results = tuple(
            run_replay(r, positions, inputs, params, p, equity, macro, scenarios.get(r.scenario))
            for r in chosen
        )
        ident = (p.id, p.name, p.slug)
    backtests = {
        level: var_backtest(daily["pnl_usd"], daily[f"var_{_suffix(level)}_usd"], level)
        for level in VAR_LEVELS
    }
    bias = volatility_bias_statistic(daily["pnl_usd"], daily["sigma_usd"])
    return ValidationResult(
        portfolio_id=ident[0], portfolio=ident[1], slug=ident[2], start=start, end=end,
        holdings_as_of=holdings_day, provider=provider.name, window=params.risk_metrics.window,
        positions=len(positions), daily=daily, backtests=backtests, bias=bias,
        replays=results, notes=tuple(notes),
    )  # fmt: skip
