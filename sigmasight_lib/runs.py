"""One entry point per engine: load its inputs, compute (pure engine), save its results.

``run_<engine>(settings, portfolio, as_of=None, batch_run_id=None)`` is what the
CLI, the notebooks and the batch call. Each returns an :class:`EngineRun`
holding the result tables; each saves its own results, replacing earlier rows
for the same (portfolio, as-of) in one transaction. An engine that needs an
upstream engine's figures (exposures need valuation and Greeks) recomputes them
in memory from the same inputs rather than trusting possibly stale rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from sigmasight_lib.config import Settings
from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    ExposureResult,
    PortfolioFactorExposure,
    PositionFactorExposure,
    PositionGreeks,
    PositionValuation,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.engines.exposures import delta_adjusted_exposure, portfolio_exposures
from sigmasight_lib.engines.factors import factor_betas, portfolio_factor_exposures
from sigmasight_lib.engines.greeks import position_greeks, realized_volatility
from sigmasight_lib.engines.valuation import value_positions
from sigmasight_lib.exceptions import MarketDataError
from sigmasight_lib.marketdata import MarketDataProvider, get_provider
from sigmasight_lib.marketdata.base import RATE_PROXY_PREFIX
from sigmasight_lib.marketdata.cache import default_as_of
from sigmasight_lib.marketdata.calendar import previous_session, sessions_window
from sigmasight_lib.params import EngineParams, load_engine_params
from sigmasight_lib.portfolios.service import find_portfolio

log = logging.getLogger(__name__)


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
            "summary": _jsonable(self.summary),
            "notes": list(self.notes),
            "rows_saved": self.rows_saved,
            "tables": {name: _records(frame) for name, frame in self.tables.items()},
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is pd.NaT:
        return None
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    flat = (
        frame.reset_index()
        if frame.index.name or not isinstance(frame.index, pd.RangeIndex)
        else frame
    )
    return [
        _jsonable(r)
        for r in flat.astype(object).where(flat.notna(), None).to_dict(orient="records")
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
    day = as_of or default_as_of(session)
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
    """

    provider: str
    levels: pd.DataFrame
    returns: pd.DataFrame
    curves: pd.DataFrame
    quotes: pd.DataFrame | None = None

    def curve_on(self, day: dt.date, max_age_days: int = 10) -> pd.Series:
        """The latest curve on or before ``day`` within ``max_age_days`` (empty if none)."""
        if self.curves.empty:
            return pd.Series(dtype=float)
        ts = pd.Timestamp(day)
        past = self.curves.loc[self.curves.index <= ts]
        if past.empty or (ts - past.index[-1]).days > max_age_days:
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
    )


def compute_position_analytics(
    positions: pd.DataFrame, inputs: MarketInputs, day: dt.date, params: EngineParams
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """Valuation and Greeks of ``positions`` on ``day`` from preloaded market data.

    Returns ``(valuation, greeks, notes)``. Options are priced from the
    provider's quote on the last day of ``inputs`` when one exists, else by BSM
    (flagged ``model``); the previous-session price of an option is its model
    price on that session.
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
    curve = inputs.curve_on(day)
    if curve.empty:
        notes.append(
            f"no treasury curve near {day}: rate {params.greeks.risk_free_rate} from params"
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
    source = pd.Series(np.where(is_option & ~has_quote, "model", "market"), index=positions.index)
    valuation = value_positions(
        positions,
        price=price,
        previous_price=previous,
        price_source=source,
        underlying_price=positions["underlying"].map(spot),
        as_of=day,
    )
    return valuation, greeks, tuple(notes)


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
    valuation, greeks, notes = compute_position_analytics(positions, inputs, day, params)
    return PositionAnalytics(p.id, p.name, day, positions, valuation, greeks, notes)


def _context(
    settings: Settings, provider: MarketDataProvider | None
) -> tuple[MarketDataProvider, EngineParams]:
    return provider or get_provider(settings), load_engine_params(settings.params_dir)


# --------------------------------------------------------------------------- engines


def run_valuation(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
) -> EngineRun:
    """Value every position and save ``position_valuations``."""
    provider, params = _context(settings, provider)
    with session_scope(settings) as session:
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
        "market_value_usd": float(v["market_value_usd"].sum()),
        "net_exposure_usd": float(v["exposure_usd"].sum()),
        "unrealized_pnl_usd": float(v["unrealized_pnl_usd"].sum()),
        "daily_pnl_usd": float(v["daily_pnl_usd"].sum()),
        "model_priced": int((v["price_source"] == "model").sum()),
        "unpriced": int(v["price"].isna().sum()),
    }
    return EngineRun("valuation", pa.portfolio_id, pa.portfolio, pa.as_of, batch_run_id,
                     {"positions": table}, summary, pa.notes, saved)  # fmt: skip


def run_greeks(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
) -> EngineRun:
    """Position Greeks for every position; save ``position_greeks``."""
    provider, params = _context(settings, provider)
    with session_scope(settings) as session:
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
                     {"positions": table}, summary, pa.notes, saved)  # fmt: skip


def run_exposures(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
) -> EngineRun:
    """Portfolio exposures and breakdowns; save ``exposure_results``."""
    provider, params = _context(settings, provider)
    with session_scope(settings) as session:
        pa = load_position_analytics(session, provider, params, portfolio, as_of)
        result = portfolio_exposures(pa.joined())
        frame = result.frame()
        saved = store.replace_results(
            session, ExposureResult, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
            rows=frame.to_dict(orient="records"), batch_run_id=batch_run_id,
        )  # fmt: skip
    tables = {"portfolio": pd.DataFrame([result.totals]), **result.breakdowns}
    return EngineRun("exposures", pa.portfolio_id, pa.portfolio, pa.as_of, batch_run_id,
                     tables, dict(result.totals), pa.notes + result.notes, saved)  # fmt: skip


def run_factors(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    batch_run_id: int | None = None,
    provider: MarketDataProvider | None = None,
) -> EngineRun:
    """Position and portfolio factor betas; save both factor exposure tables.

    Stocks and ETFs are regressed on the factor proxies of the active
    provider; options inherit their underlying's betas, weighted by their
    delta-adjusted exposure. Factors without a proxy or without data are N/A
    with the reason.
    """
    provider, params = _context(settings, provider)
    fp = params.factors
    with session_scope(settings) as session:
        pa = load_position_analytics(session, provider, params, portfolio, as_of)
        notes = list(pa.notes)
        definitions = [
            f for f in store.load_factor_definitions(session) if f.factor_type in fp.factor_types
        ]
        proxies: dict[str, str] = {}
        na_reasons: dict[str, str] = {}
        for f in definitions:
            proxy = f.proxies.get(provider.name)
            if not proxy:
                na_reasons[f.name] = f"no {provider.name} proxy for {f.name}"
            elif proxy.startswith(RATE_PROXY_PREFIX):
                na_reasons[f.name] = f"{f.name} is a rate factor, not regressed with equity factors"
            else:
                proxies[f.name] = proxy
        window = sessions_window(pa.as_of, fp.window + 1)
        underlyings = sorted(set(pa.positions["underlying"]))
        table = store.load_price_table(
            session, [*underlyings, *proxies.values()], window[0], pa.as_of
        )
        returns = store.daily_returns(table)
        available = {
            name: sym
            for name, sym in proxies.items()
            if sym in returns.columns and returns[sym].notna().sum() >= fp.min_obs
        }
        for name, sym in proxies.items():
            if name not in available:
                na_reasons[name] = f"proxy {sym} has fewer than {fp.min_obs} returns in the window"
        for name, reason in na_reasons.items():
            notes.append(f"{name}: N/A ({reason})")
        if not available:
            raise MarketDataError(
                f"no factor has usable proxy returns at {pa.as_of}: "
                + "; ".join(na_reasons.values())
            )
        factor_returns = pd.DataFrame({name: returns[sym] for name, sym in available.items()})
        asset_returns = returns.reindex(columns=underlyings)
        fit = factor_betas(
            asset_returns,
            factor_returns,
            mode=fp.mode,
            window=fp.window,
            min_obs=fp.min_obs,
            cap=fp.cap,
        )
        factor_ids = {f.name: f.id for f in definitions}

        joined = pa.joined()
        dae = delta_adjusted_exposure(joined)
        pos_betas = (
            joined["underlying"]
            .to_frame()
            .join(fit.betas, on="underlying")
            .drop(columns="underlying")
        )
        portfolio_table = portfolio_factor_exposures(pos_betas, dae)

        position_rows = []
        for pid, row in joined.iterrows():
            u = row["underlying"]
            for name in fit.factors:
                beta = fit.betas.at[u, name]
                position_rows.append({
                    "position_id": int(pid), "factor_id": factor_ids[name], "beta": beta,
                    "t_stat": fit.t_stats.at[u, name], "exposure_usd": beta * dae[pid],
                    "r_squared": fit.r_squared[u], "observations": int(fit.observations[u]),
                    "capped": bool(fit.capped.at[u, name]), "reason": fit.reasons[u],
                })  # fmt: skip
        portfolio_rows = [
            {
                "factor_id": factor_ids[name],
                "beta": portfolio_table.at[name, "beta"] if name in portfolio_table.index else None,
                "exposure_usd": portfolio_table.at[name, "exposure_usd"]
                if name in portfolio_table.index
                else None,
                "details": {
                    "mode": fit.mode,
                    "positions": int(portfolio_table.at[name, "positions"])
                    if name in portfolio_table.index
                    else 0,
                    "reason": na_reasons.get(name),
                },
            }
            for name in [f.name for f in definitions]
        ]
        saved = store.replace_results(session, PositionFactorExposure, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                      rows=position_rows, batch_run_id=batch_run_id)  # fmt: skip
        saved += store.replace_results(session, PortfolioFactorExposure, portfolio_id=pa.portfolio_id, as_of=pa.as_of,
                                       rows=portfolio_rows, batch_run_id=batch_run_id)  # fmt: skip

    positions_table = (
        joined[["symbol", "underlying", "position_type"]]
        .assign(delta_adjusted_exposure_usd=dae)
        .join(pos_betas)
        .join(joined["underlying"].map(fit.r_squared).rename("r_squared"))
        .join(joined["underlying"].map(fit.reasons).rename("reason"))
    )
    portfolio_out = pd.DataFrame(index=pd.Index([f.name for f in definitions], name="factor"))
    portfolio_out = portfolio_out.join(portfolio_table)
    portfolio_out["reason"] = [na_reasons.get(n) for n in portfolio_out.index]
    summary = {
        "mode": fit.mode,
        "window_start": fit.window_start,
        "window_end": fit.window_end,
        "factors": list(fit.factors),
        "not_available": na_reasons,
        "condition_number": float(np.nanmedian(fit.condition_number))
        if fit.condition_number.notna().any()
        else None,
        "portfolio_betas": {n: portfolio_out.at[n, "beta"] for n in portfolio_out.index},
    }
    tables = {"positions": positions_table, "portfolio": portfolio_out, "assets": fit.summary()}
    return EngineRun(
        "factors",
        pa.portfolio_id,
        pa.portfolio,
        pa.as_of,
        batch_run_id,
        tables,
        summary,
        tuple(notes),
        saved,
    )


ENGINE_RUNNERS: dict[str, Callable[..., EngineRun]] = {
    "valuation": run_valuation,
    "greeks": run_greeks,
    "exposures": run_exposures,
    "factors": run_factors,
}
"""Engines reachable from ``sigmasight engine NAME`` (CLI names use dashes)."""
