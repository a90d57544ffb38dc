"""One entry point per engine: load its inputs, compute (pure engine), save its results.

``run_<engine>(settings, portfolio, as_of=None, batch_run_id=None, ..., save=True)``
is what the CLI, the notebooks and the batch call. Each returns an :class:`EngineRun`
holding the result tables; each saves its own results, replacing earlier rows
for the same (portfolio, as-of) in one transaction. With ``save=False`` (an
exploration run from a notebook) the same figures are computed and returned but
the transaction is rolled back: nothing stored changes (``rows_saved`` is 0). An engine that needs an
upstream engine's figures (exposures need valuation and Greeks) recomputes them
in memory from the same inputs rather than trusting possibly stale rows.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from sigmasight_lib.config import Settings
from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    LIBRARY_SCENARIO_SET,
    ExposureResult,
    FactorCorrelation,
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
from sigmasight_lib.db.models import StressScenario as StressScenarioModel
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.engines.correlations import portfolio_correlation_metrics
from sigmasight_lib.engines.exposures import delta_adjusted_exposure, portfolio_exposures
from sigmasight_lib.engines.factors import (
    MARKET_FACTOR,
    FactorBetas,
    factor_betas,
    market_betas,
    market_conditional_betas,
    portfolio_factor_exposures,
    spread_design,
)
from sigmasight_lib.engines.greeks import position_greeks, realized_volatility
from sigmasight_lib.engines.market_risk import (
    RATE_FACTOR,
    interest_rate_betas,
    pnl_backtest,
    scenario_pnl,
)
from sigmasight_lib.engines.risk_metrics import factor_risk, performance_stats
from sigmasight_lib.engines.snapshot import SNAPSHOT_COLUMNS, cumulative_pnl, snapshot_row
from sigmasight_lib.engines.stress import (
    MoveModel,
    Scenario,
    ScenarioResult,
    covariance_to_correlation,
    ewma_covariance,
    propagation_returns,
    run_scenarios,
    scenario_summary,
)
from sigmasight_lib.engines.valuation import value_positions, value_totals
from sigmasight_lib.exceptions import ConfigError, MarketDataError
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.marketdata import MarketDataProvider, get_provider
from sigmasight_lib.marketdata.base import RATE_PROXY_PREFIX
from sigmasight_lib.marketdata.cache import check_as_of, default_as_of
from sigmasight_lib.marketdata.calendar import (
    previous_session,
    session_on_or_before,
    sessions_after,
    sessions_window,
)
from sigmasight_lib.params import (
    STRESS_SCENARIOS_FILE,
    EngineParams,
    load_engine_params,
    load_stress_scenarios,
)
from sigmasight_lib.portfolios.service import find_portfolio

log = logging.getLogger(__name__)


HISTORY_MARGIN_SESSIONS = 20
"""Extra sessions of history loaded so that series with gaps still fill their window."""


@dataclass(frozen=True)
class EngineRun:
    """What one engine run computed and saved.

    Attributes
    ----------
    tables : dict of str to DataFrame
        Result tables (``positions``, ``portfolio``, breakdowns ...).
    summary : dict
        Headline figures (flat, JSON-ready).
    notes : tuple of str
        N/A reasons, fallbacks, exclusions.
    """

    engine: str
    portfolio_id: int
    portfolio: str
    as_of: dt.date
    batch_run_id: int | None
    tables: dict[str, pd.DataFrame]
    summary: dict[str, Any]
    notes: tuple[str, ...] = field(default_factory=tuple)
    rows_saved: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The full result, JSON-ready (NaN → null, dates ISO)."""
        return {
            "engine": self.engine,
            "portfolio": self.portfolio,
            "portfolio_id": self.portfolio_id,
            "as_of": self.as_of.isoformat(),
            "batch_run_id": self.batch_run_id,
            "summary": jsonable(self.summary),
            "notes": list(self.notes),
            "rows_saved": self.rows_saved,
            "tables": {name: _records(frame) for name, frame in self.tables.items()},
        }


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    flat = (
        frame.reset_index()
        if frame.index.name or not isinstance(frame.index, pd.RangeIndex)
        else frame
    )
    return [
        jsonable(r) for r in flat.astype(object).where(flat.notna(), None).to_dict(orient="records")
    ]


# --------------------------------------------------------------------------- shared loading


@dataclass(frozen=True)
class PositionAnalytics:
    """Positions with their valuation and Greeks at one as-of date (in memory)."""

    portfolio_id: int
    portfolio: str
    as_of: dt.date
    positions: pd.DataFrame
    valuation: pd.DataFrame
    greeks: pd.DataFrame
    notes: tuple[str, ...]

    def joined(self) -> pd.DataFrame:
        """Positions, valuation and Greeks side by side (one row per position)."""
        greeks = self.greeks.drop(columns=["underlying_price", "reason"])
        return self.positions.join(self.valuation).join(greeks)


def _resolve(session: Session, portfolio: str | int, as_of: dt.date | None) -> tuple[Any, dt.date]:
    p = find_portfolio(session, portfolio)
    day = check_as_of(session, as_of) if as_of is not None else default_as_of(session)
    if day is None:
        raise MarketDataError(
            "no as-of date: the cache has no date with every needed series; "
            "run `sigmasight market-data sync` or pass --as-of"
        )
    return p, day


@dataclass(frozen=True)
class MarketInputs:
    """Market data for a date range, loaded once: prices, returns, treasury curves, quotes.

    Attributes
    ----------
    levels : DataFrame (dates × symbols)
        Traded price per share (close, else adjusted close).
    returns : DataFrame (dates × symbols)
        Daily simple returns (decimal).
    curves : DataFrame (dates × tenors)
        Treasury yields (decimal).
    quotes : DataFrame or None
        Provider option quotes for the last day (``OPTION_QUOTE_COLUMNS``).
    last_observed : dict of str to date
        Last cached observation on or before the end of the range, per symbol
        and per ``UST:<tenor>`` (also for series with no data in the range).
    """

    provider: str
    levels: pd.DataFrame
    returns: pd.DataFrame
    curves: pd.DataFrame
    quotes: pd.DataFrame | None = None
    last_observed: dict[str, dt.date] = field(default_factory=dict)

    def curve_on(self, day: dt.date, max_staleness_sessions: int) -> pd.Series:
        """The latest curve on or before ``day`` at most ``max_staleness_sessions``
        NYSE sessions old (empty if none)."""
        if self.curves.empty:
            return pd.Series(dtype=float)
        ts = pd.Timestamp(day)
        past = self.curves.loc[self.curves.index <= ts]
        if past.empty or sessions_after(past.index[-1].date(), day) > max_staleness_sessions:
            return pd.Series(dtype=float)
        return past.iloc[-1].dropna()

    def row(self, frame: pd.DataFrame, day: dt.date) -> pd.Series:
        ts = pd.Timestamp(day)
        return frame.loc[ts] if ts in frame.index else pd.Series(dtype=float)


def load_market_inputs(
    session: Session,
    provider: MarketDataProvider,
    symbols: Sequence[str],
    start: dt.date,
    end: dt.date,
    option_symbols: Sequence[str] = (),
) -> MarketInputs:
    """Load prices and curves of ``symbols`` for ``[start, end]``, option quotes for ``end``."""
    table = store.load_price_table(session, symbols, start, end)
    quotes = provider.fetch_option_quotes(list(option_symbols), end) if option_symbols else None
    return MarketInputs(
        provider=provider.name,
        levels=store.price_levels(table),
        returns=store.daily_returns(table),
        curves=store.load_treasury_curves(session, start - dt.timedelta(days=10), end),
        quotes=quotes if quotes is not None and not quotes.empty else None,
        last_observed=store.load_last_observations(session, symbols, end),
    )


def compute_position_analytics(
    positions: pd.DataFrame, inputs: MarketInputs, day: dt.date, params: EngineParams
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """Valuation and Greeks of ``positions`` on ``day`` from preloaded market data.

    Returns ``(valuation, greeks, notes)``. Options are priced from the
    provider's quote on the last day of ``inputs`` when one exists, else by BSM
    (flagged ``model``); the previous-session price of an option is its model
    price on that session. An option is marked at intrinsic value on its expiry
    date (``intrinsic``) and settled after it (``settled``, flagged ``expired``)
    from its underlying's close on the settlement session, which ``inputs.levels``
    must hold (see :func:`with_expiry_closes`).
    """
    notes: list[str] = []
    prev_day = previous_session(day)
    spot, spot_prev = inputs.row(inputs.levels, day), inputs.row(inputs.levels, prev_day)
    underlyings = sorted(set(positions["underlying"]))
    missing = [u for u in underlyings if pd.isna(spot.get(u))]
    if missing:
        notes.append(f"no price on {day} for: {', '.join(missing)}")
    vol_sessions = params.greeks.realized_vol_sessions
    rvol = pd.Series(dtype=float)
    if not inputs.returns.empty:
        history = inputs.returns.loc[inputs.returns.index <= pd.Timestamp(day)]
        rvol = realized_volatility(history, vol_sessions)
    curve = inputs.curve_on(day, params.data.max_staleness_sessions)
    if curve.empty:
        notes.append(
            f"no treasury curve within {params.data.max_staleness_sessions} sessions of {day}: "
            f"rate {params.greeks.risk_free_rate} from params"
        )

    is_option = positions["option_type"].isin(["C", "P"])
    implied, quote_price = None, pd.Series(dtype=float)
    quoted_day = inputs.levels.index.max() if not inputs.levels.empty else None
    if inputs.quotes is not None and quoted_day == pd.Timestamp(day):
        q = inputs.quotes.set_index("contract_symbol")
        implied = q["implied_vol"]
        mid = (q["bid"] + q["ask"]) / 2
        quote_price = mid.where((q["bid"] > 0) & (q["ask"] > 0), q["last_price"])
    if is_option.any() and implied is None:
        notes.append(
            f"no option quotes from {inputs.provider} for {day}: implied vol = {vol_sessions}-session "
            "realized vol of the underlying; option prices are model (BSM) prices"
        )
    greek_kwargs = dict(
        realized_vol=rvol,
        implied_vol=implied,
        curve=curve,
        fallback_rate=params.greeks.risk_free_rate,
        dividend_yield=params.greeks.dividend_yield,
        backend=params.greeks.greeks_backend,
    )
    greeks = position_greeks(positions, as_of=day, underlying_price=spot, **greek_kwargs)
    greeks_prev = position_greeks(
        positions, as_of=prev_day, underlying_price=spot_prev, **greek_kwargs
    )

    option_market = (
        positions["symbol"].map(quote_price)
        if not quote_price.empty
        else pd.Series(np.nan, index=positions.index)
    )
    has_quote = is_option & option_market.notna()
    price = (
        positions["underlying"]
        .map(spot)
        .where(~is_option, option_market.where(has_quote, greeks["model_price"]))
    )
    previous = positions["underlying"].map(spot_prev).where(~is_option, greeks_prev["model_price"])
    expiring = is_option & (pd.to_datetime(positions["expiry"]) == pd.Timestamp(day))
    source = pd.Series(np.where(is_option & ~has_quote, "model", "market"), index=positions.index)
    source[expiring & ~has_quote] = "intrinsic"
    valuation = value_positions(
        positions,
        price=price,
        previous_price=previous,
        price_source=source,
        underlying_price=positions["underlying"].map(spot),
        as_of=day,
        expiry_close=expiry_closes(positions, inputs.levels, day),
    )
    return valuation, greeks, tuple(notes)


def _settlement_sessions(positions: pd.DataFrame, day: dt.date) -> pd.Series:
    """The last NYSE session on or before the expiry of each option expired at ``day``."""
    gone = positions["option_type"].isin(["C", "P"]) & (
        pd.to_datetime(positions["expiry"]) < pd.Timestamp(day)
    )
    return positions.loc[gone, "expiry"].map(session_on_or_before)


def expiry_closes(positions: pd.DataFrame, levels: pd.DataFrame, day: dt.date) -> pd.Series:
    """The underlying's close on the settlement session of each option expired at ``day``
    (indexed by position id; NaN when ``levels`` lacks it)."""
    sessions = _settlement_sessions(positions, day)
    return pd.Series(
        [
            levels.at[pd.Timestamp(d), u]
            if pd.Timestamp(d) in levels.index and u in levels.columns
            else np.nan
            for u, d in zip(positions.loc[sessions.index, "underlying"], sessions, strict=True)
        ],
        index=sessions.index,
        dtype=float,
    )


def with_expiry_closes(
    session: Session,
    provider: MarketDataProvider,
    inputs: MarketInputs,
    positions: pd.DataFrame,
    day: dt.date,
) -> MarketInputs:
    """``inputs`` whose ``levels`` also hold the underlying's close on the settlement
    session (last session on or before expiry) of every option expired at ``day``.

    The expiry is usually before the loaded window: the close is read from the
    cache, else fetched from ``provider`` and cached (a provider without it, or
    unreachable, leaves it missing: the valuation says so). Returns are untouched.
    """
    sessions = _settlement_sessions(positions, day)
    need = expiry_closes(positions, inputs.levels, day)
    wanted = {(positions.at[pid, "underlying"], sessions[pid]) for pid in need.index[need.isna()]}
    if not wanted:
        return inputs
    levels = inputs.levels
    for d in sorted({d for _, d in wanted}):
        symbols = sorted({u for u, x in wanted if x == d})
        table = store.load_price_table(session, symbols, d, d)
        absent = sorted(set(symbols) - set(table["symbol"]))
        if absent:
            try:
                fetched = provider.fetch_prices(absent, d, d)
            except MarketDataError as exc:
                log.warning("no expiry close of %s on %s: %s", ", ".join(absent), d, exc)
                fetched = pd.DataFrame()
            if not fetched.empty:
                store.save_prices(session, fetched, provider.name)
                table = store.load_price_table(session, symbols, d, d)
        extra = store.price_levels(table)
        levels = extra if levels.empty else levels.combine_first(extra)
    return replace(inputs, levels=levels)


def load_position_analytics(
    session: Session,
    provider: MarketDataProvider,
    params: EngineParams,
    portfolio: str | int,
    as_of: dt.date | None,
) -> PositionAnalytics:
    """Valuation and Greeks of every position held at ``as_of`` (computed, not saved)."""
    p, day = _resolve(session, portfolio, as_of)
    positions = store.load_positions(session, p.id, day)
    window = sessions_window(day, params.greeks.realized_vol_sessions + 1)
    is_option = positions["option_type"].isin(["C", "P"])
    inputs = load_market_inputs(
        session, provider, sorted(set(positions["underlying"])), window[0], day,
        option_symbols=positions.loc[is_option, "symbol"].tolist(),
    )  # fmt: skip
    inputs = with_expiry_closes(session, provider, inputs, positions, day)
    valuation, greeks, notes = compute_position_analytics(positions, inputs, day, params)
    return PositionAnalytics(p.id, p.name, day, positions, valuation, greeks, notes)


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


# --------------------------------------------------------------------------- engines


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


@dataclass(frozen=True)
class FactorExposures:
    """Factor betas of a portfolio's positions on one day and their portfolio roll-up.

    Attributes
    ----------
    fit : FactorBetas
        Betas per underlying.
    position_betas : DataFrame (positions × factors)
        Each position's underlying's betas.
    dae : Series
        Delta-adjusted exposure per position (USD).
    portfolio : DataFrame indexed by every configured factor
        :func:`~sigmasight_lib.engines.factors.portfolio_factor_exposures`'
        columns (``dollar_beta_usd``, ``beta_to_gross``, ``beta_to_net`` of the
        delta-adjusted exposure, ...) plus ``proxy`` (the proxy used) and
        ``reason`` (N/A factors NaN).
    na_reasons : dict
        Factor -> why it is N/A.
    factor_ids : dict
        Factor -> its ``factor_definitions`` id.
    factor_returns : DataFrame (dates × factors)
        The usable factors' daily proxy moves up to the as-of date (raw, not
        the spread design).
    proxies_used : dict
        Factor -> the proxy symbol whose series was used.
    """

    fit: FactorBetas
    position_betas: pd.DataFrame
    dae: pd.Series
    portfolio: pd.DataFrame
    na_reasons: dict[str, str]
    factor_ids: dict[str, int]
    factor_returns: pd.DataFrame
    proxies_used: dict[str, str]

    def dollar_exposures(self) -> pd.DataFrame:
        """USD factor exposure per position (dae × beta), positions × factors."""
        return self.position_betas.mul(self.dae, axis=0)


FactorProxies = dict[str, tuple[str, ...]]
"""Factor name -> its proxy symbols for the active provider, in order of preference."""


def factor_proxies(
    session: Session, provider_name: str, factor_types: Sequence[str]
) -> tuple[FactorProxies, dict[str, str], dict[str, int]]:
    """``(proxies, na_reasons, factor_ids)`` of the configured factors of ``factor_types``.

    ``proxies`` maps each factor to its candidate proxies in order of
    preference (:func:`factor_returns_from` picks one per as-of date). Factors
    without a proxy for the provider are N/A with a reason.
    """
    proxies: FactorProxies = {}
    na_reasons: dict[str, str] = {}
    ids: dict[str, int] = {}
    for f in store.load_factor_definitions(session):
        if f.factor_type not in factor_types:
            continue
        ids[f.name] = f.id
        candidates = f.proxy_symbols(provider_name)
        if not candidates:
            na_reasons[f.name] = f"no {provider_name} proxy for {f.name}"
        else:
            proxies[f.name] = candidates
    return proxies, na_reasons, ids


@dataclass(frozen=True)
class FactorSeries:
    """Daily factor moves chosen from the factors' proxies for one as-of date.

    Attributes
    ----------
    returns : DataFrame (dates × factors)
        Daily moves up to the as-of date (decimal returns of price proxies;
        decimal yield changes of ``UST:<tenor>`` proxies); only usable factors.
    proxies_used : dict of str to str
        Factor -> the proxy symbol whose series is used.
    na_reasons : dict of str to str
        Factor -> why no proxy was usable (every candidate's reason).
    additive : frozenset of str
        Factors whose moves are changes, not returns (the rate proxies).
    """

    returns: pd.DataFrame
    proxies_used: dict[str, str]
    na_reasons: dict[str, str]
    additive: frozenset[str] = frozenset()


def _proxy_series(inputs: MarketInputs, proxy: str) -> pd.Series:
    """Daily moves of one proxy: returns of a ticker, changes of a ``UST:<tenor>`` yield."""
    if proxy.startswith(RATE_PROXY_PREFIX):
        tenor = proxy[len(RATE_PROXY_PREFIX) :]
        if tenor in inputs.curves:
            return inputs.curves[tenor].diff()
    elif proxy in inputs.returns:
        return inputs.returns[proxy]
    return pd.Series(dtype=float, index=pd.DatetimeIndex([]))


def series_staleness(
    series: pd.Series, day: dt.date, max_staleness: int, last_observed: dt.date | None = None
) -> str | None:
    """Why ``series`` (dated index) is not current at ``day``, or None when it is.

    A series is stale when its last observation on or before ``day`` is more than
    ``max_staleness`` NYSE sessions before ``day``; the reason reads
    "last observation D, N sessions before as-of". ``last_observed`` is the last
    observation known outside ``series`` (the cache), used when ``series`` has none.
    """
    observed = series.loc[series.index <= pd.Timestamp(day)].dropna()
    if observed.empty and last_observed is None:
        return f"no observation on or before {day}"
    last = observed.index[-1].date() if not observed.empty else last_observed
    behind = sessions_after(last, day)
    if behind > max_staleness:
        return f"last observation {last}, {behind} sessions before as-of"
    return None


def factor_returns_from(
    inputs: MarketInputs,
    proxies: FactorProxies,
    day: dt.date,
    params: EngineParams,
    *,
    window: int | None = None,
    min_obs: int | None = None,
) -> FactorSeries:
    """Daily factor moves from the first usable proxy of each factor.

    A proxy is usable at ``day`` when its series is current (last observation at
    most ``data.max_staleness_sessions`` sessions before ``day``) and has at
    least ``min_obs`` observations in the ``window`` sessions ending on ``day``
    (defaults: ``factors.window`` and ``factors.min_obs``). Rate proxies
    (``UST:10y``) give daily yield changes. A factor none of whose proxies is
    usable is N/A with each candidate's reason; one factor's series never stands
    in for another's. Returns only data on or before ``day``.
    """
    window = window or params.factors.window
    min_obs = params.factors.min_obs if min_obs is None else min_obs
    max_staleness = params.data.max_staleness_sessions
    ts = pd.Timestamp(day)
    start = pd.Timestamp(sessions_window(day, window)[0])
    series: dict[str, pd.Series] = {}
    used: dict[str, str] = {}
    na: dict[str, str] = {}
    additive: set[str] = set()
    for name, candidates in proxies.items():
        reasons = []
        for proxy in candidates:
            s = _proxy_series(inputs, proxy)
            s = s.loc[s.index <= ts]
            stale = series_staleness(s, day, max_staleness, inputs.last_observed.get(proxy))
            observations = int(s.loc[s.index >= start].notna().sum())
            if stale:
                reasons.append(f"proxy {proxy}: {stale}")
            elif observations < min_obs:
                reasons.append(
                    f"proxy {proxy}: {observations} observations in the {window}-session "
                    f"window ending {day}, fewer than {min_obs}"
                )
            else:
                series[name], used[name] = s, proxy
                if proxy.startswith(RATE_PROXY_PREFIX):
                    additive.add(name)
                break
        if name not in used:
            na[name] = "; ".join(reasons)
    return FactorSeries(pd.DataFrame(series), used, na, frozenset(additive))


def compute_factor_exposures(
    joined: pd.DataFrame,
    inputs: MarketInputs,
    day: dt.date,
    proxies: FactorProxies,
    na_reasons: dict[str, str],
    factor_ids: dict[str, int],
    params: EngineParams,
) -> FactorExposures:
    """Regress the positions' underlyings on the factors up to ``day`` and roll up.

    In ``spread`` mode the style factors are spreads over Market: without a
    usable Market proxy they are N/A too (never regressed on another series
    standing in for the market).

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy at ``day``.
    """
    fp = params.factors
    ts = pd.Timestamp(day)
    chosen = factor_returns_from(inputs, proxies, day, params)
    factor_rets = chosen.returns
    na = {**na_reasons, **chosen.na_reasons}
    if fp.mode == "spread" and MARKET_FACTOR not in factor_rets and not factor_rets.empty:
        why = na.get(MARKET_FACTOR, "not configured")
        for name in factor_rets.columns:
            na[name] = f"spread over {MARKET_FACTOR} needs {MARKET_FACTOR}, which is N/A ({why})"
        factor_rets = factor_rets.iloc[:, :0]
    if factor_rets.empty:
        raise MarketDataError(
            f"no factor has usable proxy data at {day}: "
            + "; ".join(f"{n}: {r}" for n, r in na.items())
        )
    underlyings = sorted(set(joined["underlying"]))
    returns = (
        inputs.returns.loc[inputs.returns.index <= ts]
        if not inputs.returns.empty
        else inputs.returns
    )
    asset_returns = returns.reindex(columns=underlyings)
    fit = factor_betas(
        asset_returns, factor_rets, mode=fp.mode,
        window=fp.window, min_obs=fp.min_obs, cap=fp.cap,
    )  # fmt: skip
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    position_betas = (
        joined["underlying"].to_frame().join(fit.betas, on="underlying").drop(columns="underlying")
    )
    rollup = portfolio_factor_exposures(position_betas, dae)
    portfolio = pd.DataFrame(index=pd.Index(list(factor_ids), name="factor")).join(rollup)
    portfolio["proxy"] = pd.Series(chosen.proxies_used, dtype=object)
    portfolio["reason"] = pd.Series({n: na.get(n) for n in portfolio.index}, dtype=object)
    return FactorExposures(
        fit, position_betas, dae, portfolio, na, factor_ids, factor_rets, chosen.proxies_used
    )


def _load_with_history(
    session: Session,
    provider: MarketDataProvider,
    params: EngineParams,
    portfolio: str | int,
    as_of: dt.date | None,
    *,
    extra_symbols: Sequence[str] = (),
    history_sessions: int,
) -> tuple[PositionAnalytics, MarketInputs]:
    """Position analytics at the as-of date plus market inputs reaching back
    ``history_sessions`` sessions for the positions' underlyings and ``extra_symbols``."""
    p, day = _resolve(session, portfolio, as_of)
    positions = store.load_positions(session, p.id, day)
    window = sessions_window(day, max(history_sessions, params.greeks.realized_vol_sessions + 1))
    is_option = positions["option_type"].isin(["C", "P"])
    inputs = load_market_inputs(
        session, provider, sorted({*positions["underlying"], *extra_symbols}), window[0], day,
        option_symbols=positions.loc[is_option, "symbol"].tolist(),
    )  # fmt: skip
    inputs = with_expiry_closes(session, provider, inputs, positions, day)
    valuation, greeks, notes = compute_position_analytics(positions, inputs, day, params)
    return PositionAnalytics(p.id, p.name, day, positions, valuation, greeks, notes), inputs


def _equity_factor_exposures(
    session: Session, provider: MarketDataProvider, params: EngineParams,
    portfolio: str | int, as_of: dt.date | None, extra_history: int = 0,
) -> tuple[PositionAnalytics, MarketInputs, FactorExposures]:  # fmt: skip
    proxies, na, ids = factor_proxies(session, provider.name, params.factors.factor_types)
    pa, inputs = _load_with_history(
        session, provider, params, portfolio, as_of,
        extra_symbols=proxy_tickers(proxies),
        history_sessions=params.factors.window + 1 + extra_history,
    )  # fmt: skip
    fx = compute_factor_exposures(pa.joined(), inputs, pa.as_of, proxies, na, ids, params)
    return pa, inputs, fx


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
        pa, _, fx = _equity_factor_exposures(session, provider, params, portfolio, as_of)
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
            {
                "factor_id": fx.factor_ids[name],
                "dollar_beta_usd": r["dollar_beta_usd"],
                "beta_to_gross": r["beta_to_gross"],
                "beta_to_net": r["beta_to_net"],
                "details": jsonable(
                    {
                        "mode": fit.mode,
                        "exposure": "delta-adjusted",
                        "positions": 0 if pd.isna(r["positions"]) else int(r["positions"]),
                        "gross_exposure_usd": r["gross_exposure_usd"],
                        "net_exposure_usd": r["net_exposure_usd"],
                        "beta_to_net_reason": r["beta_to_net_reason"],
                        "reason": fx.na_reasons.get(name),
                    }
                ),
            }
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
        pa, inputs, fx = _equity_factor_exposures(
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
        rates = factor_returns_from(
            inputs, rate_proxies, day, params, window=mp.rate_window, min_obs=mp.rate_min_obs
        )
        rate_na = {**rate_na, **rates.na_reasons}
        underlyings = sorted(set(joined["underlying"]))
        returns = inputs.returns.reindex(columns=underlyings)
        market_returns = fx.factor_returns.get(MARKET_FACTOR)
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
            notes.append(f"{RATE_FACTOR}: N/A ({rate_reason}): interest-rate betas are N/A")
            ir = pd.DataFrame(
                {"ir_beta": np.nan, "t_stat": np.nan, "market_beta": np.nan, "r_squared": np.nan,
                 "observations": 0, "window_start": None, "window_end": None,
                 "reason": f"{RATE_FACTOR} N/A ({rate_reason})"},
                index=pd.Index(underlyings),
            )  # fmt: skip
        position_ir = joined["underlying"].map(ir["ir_beta"])
        rate_exposure = (
            float(np.nansum((fx.dae * position_ir).to_numpy(dtype=float)))
            if rate_reason is None
            else np.nan
        )
        scenarios = pd.concat([
            scenario_pnl(market_exposure, mp.market_moves, "market").assign(scenario_type="market"),
            scenario_pnl(rate_exposure, mp.rate_moves, "rates").assign(scenario_type="rates"),
        ])  # fmt: skip

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
    estimated = ir.loc[ir["observations"] > 0]
    positions_table = joined[["symbol", "underlying", "position_type"]].assign(
        delta_adjusted_exposure_usd=fx.dae,
        ir_beta=position_ir,
        r_squared=joined["underlying"].map(ir["r_squared"]),
    )
    summary = {
        **market,
        "rate_exposure_usd": rate_exposure,
        "market_proxy": fx.proxies_used.get(MARKET_FACTOR),
        "rate_proxy": rates.proxies_used.get(RATE_FACTOR),
        "rate_reason": rate_reason,
        "rate_window_start": estimated["window_start"].min() if len(estimated) else None,
        "rate_window_end": estimated["window_end"].max() if len(estimated) else None,
        "rate_observations_max": int(estimated["observations"].max()) if len(estimated) else 0,
        **{name: r["pnl_usd"] for name, r in scenarios.iterrows()},
        **{f"backtest_{k}": v for k, v in backtest.items()},
    }
    tables = {
        "scenarios": scenarios,
        "positions": positions_table,
        "backtest": pd.DataFrame({"predicted_pnl_usd": predicted, "actual_pnl_usd": actual}),
    }
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
        p, day = _resolve(session, portfolio, as_of)
        portfolio_id, portfolio_name = p.id, p.name
        days = sessions_window(day, backfill + 1)
        held = {d: store.load_positions(session, p.id, d) for d in days}
        proxies, na, ids = factor_proxies(session, provider.name, params.factors.factor_types)
        symbols = sorted({u for frame in held.values() for u in frame["underlying"]}
                         | set(proxy_tickers(proxies)))  # fmt: skip
        history_start = sessions_window(days[0], params.factors.window + 1)[0]
        last = held[day]
        inputs = load_market_inputs(
            session, provider, symbols, history_start, day,
            option_symbols=last.loc[last["option_type"].isin(["C", "P"]), "symbol"].tolist(),
        )  # fmt: skip
        every = pd.concat(list(held.values()))
        inputs = with_expiry_closes(
            session, provider, inputs, every[~every.index.duplicated()], day
        )
        notes: list[str] = []
        rows = []
        stored_days = set(
            session.scalars(
                select(PortfolioSnapshot.as_of).where(
                    PortfolioSnapshot.portfolio_id == p.id, PortfolioSnapshot.as_of.in_(days)
                )
            )
        )
        for d in days:
            if d != day and d in stored_days:
                continue  # backfill fills missing days; the as-of day is always recomputed
            if pd.Timestamp(d) not in inputs.levels.index:
                notes.append(f"{d}: no prices in the cache, no snapshot")
                continue
            positions = held[d]
            valuation, greeks, day_notes = compute_position_analytics(positions, inputs, d, params)
            if d == day:
                notes.extend(day_notes)
            joined = positions.join(valuation).join(
                greeks.drop(columns=["underlying_price", "reason"])
            )
            market: dict[str, float] = {}
            if not joined.empty:
                fx = compute_factor_exposures(joined, inputs, d, proxies, na, ids, params)
                market = market_betas(fx.portfolio)
            rows.append({"portfolio_id": p.id, "as_of": d, "batch_run_id": batch_run_id,
                         "computed_at": dt.datetime.now(dt.UTC), **snapshot_row(joined, market)})  # fmt: skip
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


def design_returns(factor_rets: pd.DataFrame, mode: str) -> pd.DataFrame:
    """Factor returns in the regression's design: style factors as spreads over Market
    in ``spread`` mode (so covariances match the betas), unchanged in ``raw`` mode."""
    if mode == "spread" and "Market" in factor_rets:
        return spread_design(factor_rets, "Market")
    return factor_rets


def macro_betas(
    asset_returns: pd.DataFrame,
    market_returns: pd.Series | None,
    macro: FactorSeries,
    params: EngineParams,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Each asset's beta to each macro / rate factor, estimated jointly with the market
    (:func:`~sigmasight_lib.engines.factors.market_conditional_betas`).

    Rate factors use the market-risk rate window (``market_risk.rate_window`` /
    ``rate_min_obs``), so the stress engine's rate betas are the market-risk
    engine's; other factors the factor window. Without a market series every
    factor is N/A (no single-factor fit that would carry market beta).
    """
    fp, mp = params.factors, params.market_risk
    columns = list(macro.returns.columns)
    if market_returns is None:
        reason = f"estimated jointly with {MARKET_FACTOR}, which is N/A"
        return pd.DataFrame(index=asset_returns.columns), dict.fromkeys(columns, reason)
    betas: dict[str, pd.Series] = {}
    reasons: dict[str, str] = {}
    for name in columns:
        rate = name in macro.additive
        fit = market_conditional_betas(
            asset_returns,
            market_returns,
            macro.returns[[name]],
            window=mp.rate_window if rate else fp.window,
            min_obs=mp.rate_min_obs if rate else fp.min_obs,
        )[name]
        if fit.betas[name].isna().all():
            reasons[name] = "no asset has enough common history with the factor"
        else:
            betas[name] = fit.betas[name]
    return pd.DataFrame(betas, index=asset_returns.columns), reasons


@dataclass(frozen=True)
class StressInputs:
    """Everything the stress engine needs for one portfolio on one day.

    Attributes
    ----------
    exposures : DataFrame (positions × factors)
        USD exposure per unit design move: market / style betas from the factor
        engine (style factors as spreads over Market in ``spread`` mode), macro /
        rate betas estimated jointly with the market.
    covariance : DataFrame
        EWMA covariance of the factors' proxy moves in propagation space (log
        returns; yield changes) over the stress lookback.
    options : DataFrame or None
        The option positions' BSM inputs for revaluation.
    underlying_betas : DataFrame (underlyings × factors)
    factor_returns : DataFrame (dates × factors)
        The proxies' daily moves (simple returns; yield changes) in the lookback.
    na_reasons : dict
        Factor -> why it is N/A.
    model : MoveModel
        Additive factors and spread factors (:func:`engines.stress.design_moves`).
    position_exposure_usd : Series
        Delta-adjusted exposure per position (USD), for the loss floor.
    proxies_used : dict
        Factor -> the proxy symbol whose series is used.
    covariance_window : tuple of (Timestamp or None, Timestamp or None, int)
        First and last date and number of complete days the covariance used.
    """

    exposures: pd.DataFrame
    covariance: pd.DataFrame
    options: pd.DataFrame | None
    underlying_betas: pd.DataFrame
    factor_returns: pd.DataFrame
    na_reasons: dict[str, str]
    model: MoveModel
    position_exposure_usd: pd.Series
    proxies_used: dict[str, str]
    covariance_window: tuple[pd.Timestamp | None, pd.Timestamp | None, int]

    def run(self, scenarios: Sequence[Scenario]) -> list[ScenarioResult]:
        """:func:`engines.stress.run_scenarios` of ``scenarios`` on these inputs."""
        return run_scenarios(
            scenarios, self.exposures, self.covariance, self.options, self.underlying_betas,
            model=self.model, position_exposure_usd=self.position_exposure_usd,
        )  # fmt: skip


def option_inputs(joined: pd.DataFrame, params: EngineParams) -> pd.DataFrame | None:
    """BSM inputs of the option positions (spot, strike, years, rate, vol, ...), or None.

    Options flagged ``expired`` (settled before the as-of) are out of the book
    and are not revalued."""
    is_option = joined["option_type"].isin(["C", "P"])
    if "expired" in joined:
        is_option &= ~joined["expired"].fillna(False).astype(bool)
    if not is_option.any():
        return None
    opt = joined.loc[is_option]
    return pd.DataFrame({
        "underlying": opt["underlying"], "option_type": opt["option_type"], "spot": opt["underlying_price"],
        "strike": opt["strike"], "years": opt["years_to_expiry"], "rate": opt["risk_free_rate"],
        "vol": opt["implied_vol"], "dividend_yield": params.greeks.dividend_yield,
        "quantity": opt["quantity"], "multiplier": opt["multiplier"], "price": opt["price"], "delta": opt["delta"],
    })  # fmt: skip


def proxy_tickers(*proxy_maps: FactorProxies) -> list[str]:
    """Every candidate ticker proxy (not treasury tenors) of the given factor → proxies maps."""
    return sorted(
        {
            s
            for m in proxy_maps
            for candidates in m.values()
            for s in candidates
            if not s.startswith(RATE_PROXY_PREFIX)
        }
    )


def compute_stress_inputs(
    joined: pd.DataFrame,
    inputs: MarketInputs,
    day: dt.date,
    equity: tuple[FactorProxies, dict[str, str], dict[str, int]],
    macro: tuple[FactorProxies, dict[str, str], dict[str, int]],
    params: EngineParams,
) -> StressInputs:
    """Exposures, factor covariance and option inputs of ``joined`` on ``day``.

    ``equity`` and ``macro`` are :func:`factor_proxies` results for the market /
    style and the macro / rate factors. Stale or short proxies are N/A
    (:func:`factor_returns_from`); the covariance uses the days of the last
    ``stress.lookback`` sessions on which every usable factor has a move.
    """
    fp, sp = params.factors, params.stress
    ts = pd.Timestamp(day)
    eq_proxies, eq_na, eq_ids = equity
    mac_proxies, mac_na, _ = macro
    fx = compute_factor_exposures(joined, inputs, day, eq_proxies, eq_na, eq_ids, params)
    mac = factor_returns_from(inputs, mac_proxies, day, params)
    na = {**fx.na_reasons, **mac_na, **mac.na_reasons}
    underlyings = sorted(set(joined["underlying"]))
    asset_returns = inputs.returns.reindex(columns=underlyings).loc[lambda f: f.index <= ts]
    mbetas, mac_fail = macro_betas(asset_returns, fx.factor_returns.get(MARKET_FACTOR), mac, params)
    na.update(mac_fail)
    underlying_betas = fx.fit.betas.join(mbetas)
    position_betas = (
        joined["underlying"]
        .to_frame()
        .join(underlying_betas, on="underlying")
        .drop(columns="underlying")
    )
    equity_factors = [f for f in fx.fit.factors if f in fx.factor_returns]
    factor_rets = pd.concat(
        [fx.factor_returns[equity_factors], mac.returns[list(mbetas.columns)]], axis=1, sort=True
    )
    start = pd.Timestamp(sessions_window(day, sp.lookback)[0])
    factor_rets = factor_rets.loc[(factor_rets.index >= start) & (factor_rets.index <= ts)]
    model = MoveModel(
        additive=mac.additive,
        spread_factors=frozenset(f for f in equity_factors if f != MARKET_FACTOR)
        if fp.mode == "spread"
        else frozenset(),
    )
    complete = factor_rets.dropna(how="any").index
    return StressInputs(
        exposures=position_betas.mul(fx.dae, axis=0),
        covariance=ewma_covariance(propagation_returns(factor_rets, model), decay=sp.decay),
        options=option_inputs(joined, params),
        underlying_betas=underlying_betas,
        factor_returns=factor_rets,
        na_reasons=na,
        model=model,
        position_exposure_usd=fx.dae,
        proxies_used={**fx.proxies_used, **mac.proxies_used},
        covariance_window=(
            complete[0] if len(complete) else None,
            complete[-1] if len(complete) else None,
            len(complete),
        ),
    )


def scenario_set_name(path: Path) -> str:
    """The scenario set a custom scenario file is stored as: its file stem, lower case,
    runs of characters outside ``[a-z0-9_-]`` as ``_`` (``My Scenarios.yaml`` →
    ``my_scenarios``), at most 80 characters.

    Raises
    ------
    ConfigError
        When the name would be ``library`` (the set of ``params/stress_scenarios.yaml``)
        or empty.
    """
    import re

    name = re.sub(r"[^a-z0-9_-]+", "_", Path(path).stem.lower()).strip("_")[:80]
    if not name or name == LIBRARY_SCENARIO_SET:
        raise ConfigError(
            f"{path}: a custom scenario file cannot be stored as scenario set {name!r}; "
            f"rename the file (its stem names the set, {LIBRARY_SCENARIO_SET!r} is the library's)"
        )
    return name


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
    path = scenarios_file or settings.params_dir / STRESS_SCENARIOS_FILE
    scenario_set = LIBRARY_SCENARIO_SET if scenarios_file is None else scenario_set_name(path)
    scenarios = load_stress_scenarios(path, params_dir=settings.params_dir)
    with _engine_session(settings, save) as session:
        eq_proxies, eq_na, eq_ids = factor_proxies(session, provider.name, fp.factor_types)
        mac_proxies, mac_na, mac_ids = factor_proxies(session, provider.name, ("macro", "rates"))
        symbols = proxy_tickers(eq_proxies, mac_proxies)
        pa, inputs = _load_with_history(
            session, provider, params, portfolio, as_of, extra_symbols=symbols,
            history_sessions=max(fp.window, sp.lookback) + 1 + HISTORY_MARGIN_SESSIONS,
        )  # fmt: skip
        joined, day = pa.joined(), pa.as_of
        si = compute_stress_inputs(
            joined, inputs, day, (eq_proxies, eq_na, eq_ids), (mac_proxies, mac_na, mac_ids), params
        )
        covariance, na = si.covariance, si.na_reasons
        cov_start, cov_end, cov_days = si.covariance_window
        correlation = covariance_to_correlation(covariance)
        results = si.run(scenarios)

        store.upsert(session, StressScenarioModel, [
            {"scenario_set": scenario_set, "key": sc.key, "name": sc.name, "category": sc.category,
             "description": sc.description, "shocks": dict(sc.shocks), "source": str(path)[-200:],
             "active": True}
            for sc in scenarios
        ], key=("scenario_set", "key"))  # fmt: skip
        in_set = select(StressScenarioModel.id).where(
            StressScenarioModel.scenario_set == scenario_set
        )
        scenario_ids = dict(session.execute(
            select(StressScenarioModel.key, StressScenarioModel.id).where(
                StressScenarioModel.scenario_set == scenario_set,
                StressScenarioModel.key.in_([sc.key for sc in scenarios]))
        ).all())  # fmt: skip
        rows = [
            {"scenario_id": scenario_ids[r.key], "direct_pnl_usd": r.direct_pnl_usd,
             "correlated_pnl_usd": r.correlated_pnl_usd, "partial": r.partial,
             "details": {"unmapped": list(r.unmapped),
                         "notes": [*r.notes, *(f"{f}: {na[f]}" for f in r.unmapped if f in na)],
                         "by_factor": _records(r.by_factor)}}
            for r in results
        ]  # fmt: skip
        saved = store.replace_results(session, StressResult, portfolio_id=pa.portfolio_id, as_of=day,
                                      rows=rows, batch_run_id=batch_run_id,
                                      scope=StressResult.scenario_id.in_(in_set))  # fmt: skip
        all_ids = {**eq_ids, **mac_ids}
        corr_rows = [
            {"as_of": day, "factor_1_id": all_ids[a], "factor_2_id": all_ids[b],
             "correlation": float(correlation.at[a, b]), "lookback_days": cov_days,
             "decay": sp.decay, "provider": provider.name, "batch_run_id": batch_run_id}
            for a in correlation.index for b in correlation.columns
            if a in all_ids and b in all_ids and pd.notna(correlation.at[a, b])
        ]  # fmt: skip
        store.upsert(
            session,
            FactorCorrelation,
            corr_rows,
            key=("as_of", "factor_1_id", "factor_2_id", "provider"),
        )
    summary_table = scenario_summary(results)
    worst = (
        summary_table["correlated_pnl_usd"].idxmin()
        if summary_table["correlated_pnl_usd"].notna().any()
        else None
    )
    notes = [*pa.notes, *(f"{n}: no exposure ({r})" for n, r in na.items())]
    if cov_days < sp.lookback:
        notes.append(
            f"factor covariance from {cov_days} complete days ({cov_start and cov_start.date()} .. "
            f"{cov_end and cov_end.date()}), fewer than the {sp.lookback}-session lookback"
        )
    summary = {
        "scenario_set": scenario_set,
        "scenarios": len(results),
        "partial": int(summary_table["partial"].sum()),
        "worst_scenario": worst,
        "worst_correlated_pnl_usd": summary_table.at[worst, "correlated_pnl_usd"]
        if worst
        else None,
        "factors_with_data": list(covariance.columns),
        "unmapped_factors": sorted({u for r in results for u in r.unmapped}),
        "decay": sp.decay,
        "lookback_sessions": sp.lookback,
        "covariance_window_start": cov_start,
        "covariance_window_end": cov_end,
        "covariance_observations": cov_days,
        "proxies_used": si.proxies_used,
        "shock_convention": "proxy moves (returns; yield changes), propagated in log-return space",
    }
    by_position = pd.concat(
        {r.key: r.by_position for r in results}, names=["scenario", "position_id"]
    ) if results else pd.DataFrame()  # fmt: skip
    by_factor = pd.concat(
        {r.key: r.by_factor for r in results}, names=["scenario", "factor"]
    ) if results else pd.DataFrame()  # fmt: skip
    tables = {
        "scenarios": summary_table,
        "factor_correlation": correlation,
        "by_factor": by_factor,
        "by_position": by_position,
    }
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
        pa, inputs = _load_with_history(
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
        assets = list(m.correlation.index)
        pair_rows = [
            {"symbol_1": a, "symbol_2": b, "correlation": m.correlation.at[a, b],
             "overlap_days": int(m.overlap.at[a, b])}
            for i, a in enumerate(assets) for b in assets[i + 1 :]
        ]  # fmt: skip
        details = {
            "clusters": {str(k): int(v) for k, v in m.clusters.items()},
            "most_correlated": _records(m.most_correlated),
            "least_correlated": _records(m.least_correlated),
            "excluded": {str(k): v for k, v in m.excluded.items()},
            "notes": list(m.notes),
            "window_start": jsonable(m.window_start),
            "window_end": jsonable(m.window_end),
        }
        saved = store.replace_results(session, PositionCorrelation, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                      rows=pair_rows, batch_run_id=batch_run_id)  # fmt: skip
        saved += store.replace_results(session, PortfolioCorrelationMetrics, portfolio_id=pa.portfolio_id,
                                       as_of=pa.as_of, batch_run_id=batch_run_id, rows=[{
                                           "average_correlation": m.average_correlation,
                                           "diversification_ratio": m.diversification_ratio,
                                           "effective_bets": m.effective_bets, "window_days": cp.window,
                                           "min_overlap": cp.min_overlap, "details": details}])  # fmt: skip
    summary = {
        "average_correlation": m.average_correlation,
        "diversification_ratio": m.diversification_ratio,
        "effective_bets": m.effective_bets,
        "window_start": m.window_start,
        "window_end": m.window_end,
        "assets": len(assets),
        "clusters": int(m.clusters.max()) if len(m.clusters) else 0,
        "excluded": {str(k): v for k, v in m.excluded.items()},
    }
    tables = {
        "most_correlated": m.most_correlated,
        "least_correlated": m.least_correlated,
        "clusters": m.clusters.to_frame(),
        "correlation": m.correlation,
    }
    notes = [*pa.notes, *m.notes, *(f"{a}: excluded ({r})" for a, r in m.excluded.items())]
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
        pa, inputs, fx = _equity_factor_exposures(
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
