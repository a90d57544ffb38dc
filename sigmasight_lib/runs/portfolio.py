"""Per-portfolio aggregation: a portfolio's positions with their analytics, its
factor exposures (security betas × delta-adjusted exposure) and stress inputs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.engines.exposures import delta_adjusted_exposure
from sigmasight_lib.engines.factors import MARKET_FACTOR, FactorBetas, portfolio_factor_exposures
from sigmasight_lib.engines.stress import (
    MoveModel,
    Scenario,
    ScenarioBatch,
    ScenarioResult,
    evaluate_scenarios,
    ewma_covariance,
    option_inputs,
    propagation_returns,
)
from sigmasight_lib.jsonable import jsonable
from sigmasight_lib.marketdata import MarketDataProvider
from sigmasight_lib.marketdata.calendar import sessions_window
from sigmasight_lib.params import EngineParams
from sigmasight_lib.runs.inputs import (
    FactorProxies,
    MarketInputs,
    ProxySet,
    factor_proxies,
    factor_returns_from,
    load_market_inputs,
    proxy_tickers,
    resolve_portfolio,
    with_expiry_closes,
)
from sigmasight_lib.runs.securities import (
    FactorModel,
    compute_position_analytics,
    fit_factor_model,
    fit_macro_betas,
)


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


def load_position_analytics(
    session: Session,
    provider: MarketDataProvider,
    params: EngineParams,
    portfolio: str | int,
    as_of: dt.date | None,
) -> PositionAnalytics:
    """Valuation and Greeks of every position held at ``as_of`` (computed, not saved)."""
    p, day = resolve_portfolio(session, portfolio, as_of)
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


def load_with_history(
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
    p, day = resolve_portfolio(session, portfolio, as_of)
    positions = store.load_positions(session, p.id, day)
    inputs, valuation, greeks, notes = analyze_positions(
        session, provider, params, positions, day,
        extra_symbols=extra_symbols, history_sessions=history_sessions,
    )  # fmt: skip
    return PositionAnalytics(p.id, p.name, day, positions, valuation, greeks, notes), inputs


def analyze_positions(
    session: Session,
    provider: MarketDataProvider,
    params: EngineParams,
    positions: pd.DataFrame,
    day: dt.date,
    *,
    extra_symbols: Sequence[str] = (),
    history_sessions: int = 0,
) -> tuple[MarketInputs, pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """Load the market inputs of ``positions`` (stored or in memory, e.g. a what-if's
    pro-forma book) and value them on ``day``: ``(inputs, valuation, greeks, notes)``.

    The inputs reach back ``history_sessions`` sessions (at least the realized-vol
    window) for the positions' underlyings and ``extra_symbols``, with the held
    contracts' quotes and the closes their expiries settle on.
    """
    window = sessions_window(day, max(history_sessions, params.greeks.realized_vol_sessions + 1))
    is_option = positions["option_type"].isin(["C", "P"])
    inputs = load_market_inputs(
        session, provider, sorted({*positions["underlying"], *extra_symbols}), window[0], day,
        option_symbols=positions.loc[is_option, "symbol"].tolist(),
    )  # fmt: skip
    inputs = with_expiry_closes(session, provider, inputs, positions, day)
    valuation, greeks, notes = compute_position_analytics(positions, inputs, day, params)
    return inputs, valuation, greeks, notes


@dataclass(frozen=True)
class FactorExposures:
    """Factor betas of a portfolio's positions on one day and their portfolio roll-up.

    ``fit``, ``na_reasons``, ``factor_returns`` and ``proxies_used`` are those of
    the underlyings' :class:`~sigmasight_lib.runs.securities.FactorModel`.

    Attributes
    ----------
    position_betas : DataFrame (positions × factors)
        Each position's underlying's betas.
    dae : Series
        Delta-adjusted exposure per position (USD).
    portfolio : DataFrame indexed by every configured factor
        :func:`~sigmasight_lib.engines.factors.portfolio_factor_exposures`'
        columns (``dollar_beta_usd``, ``beta_to_gross``, ``beta_to_net`` of the
        delta-adjusted exposure, ...) plus ``proxy`` (the proxy used) and
        ``reason`` (N/A factors NaN).
    factor_ids : dict
        Factor -> its ``factor_definitions`` id.
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

    The fit is :func:`~sigmasight_lib.runs.securities.fit_factor_model` of the
    underlyings; each position takes its underlying's betas, weighted by its
    delta-adjusted exposure.

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy at ``day``.
    """
    model = fit_factor_model(
        inputs, sorted(set(joined["underlying"])), day, proxies, na_reasons, params
    )
    fit, na = model.fit, model.na_reasons
    dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
    position_betas = (
        joined["underlying"].to_frame().join(fit.betas, on="underlying").drop(columns="underlying")
    )
    rollup = portfolio_factor_exposures(position_betas, dae)
    portfolio = pd.DataFrame(index=pd.Index(list(factor_ids), name="factor")).join(rollup)
    portfolio["proxy"] = pd.Series(model.proxies_used, dtype=object)
    portfolio["reason"] = pd.Series({n: na.get(n) for n in portfolio.index}, dtype=object)
    return FactorExposures(
        fit, position_betas, dae, portfolio, na, factor_ids, model.factor_returns,
        model.proxies_used,
    )  # fmt: skip


def portfolio_factor_row(
    factor_id: int, rollup: pd.Series, mode: str, reason: str | None
) -> dict[str, Any]:
    """The ``portfolio_factor_exposures`` row of one factor from its roll-up
    (:func:`~sigmasight_lib.engines.factors.portfolio_factor_exposures` columns)."""
    positions = rollup["positions"]
    return {
        "factor_id": factor_id,
        "dollar_beta_usd": rollup["dollar_beta_usd"],
        "beta_to_gross": rollup["beta_to_gross"],
        "beta_to_net": rollup["beta_to_net"],
        "details": jsonable(
            {
                "mode": mode,
                "exposure": "delta-adjusted",
                "positions": 0 if pd.isna(positions) else int(positions),
                "gross_exposure_usd": rollup["gross_exposure_usd"],
                "net_exposure_usd": rollup["net_exposure_usd"],
                "beta_to_net_reason": rollup["beta_to_net_reason"],
                "reason": reason,
            }
        ),
    }


def equity_factor_exposures(
    session: Session, provider: MarketDataProvider, params: EngineParams,
    portfolio: str | int, as_of: dt.date | None, extra_history: int = 0,
) -> tuple[PositionAnalytics, MarketInputs, FactorExposures]:  # fmt: skip
    proxies, na, ids = factor_proxies(session, provider.name, params.factors.factor_types)
    pa, inputs = load_with_history(
        session, provider, params, portfolio, as_of,
        extra_symbols=proxy_tickers(proxies),
        history_sessions=params.factors.window + 1 + extra_history,
    )  # fmt: skip
    fx = compute_factor_exposures(pa.joined(), inputs, pa.as_of, proxies, na, ids, params)
    return pa, inputs, fx


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

    def evaluate(self, scenarios: Sequence[Scenario]) -> ScenarioBatch:
        """:func:`engines.stress.evaluate_scenarios` of ``scenarios`` on these inputs."""
        return evaluate_scenarios(
            scenarios, self.exposures, [self.covariance], self.options, self.underlying_betas,
            model=self.model, position_exposure_usd=self.position_exposure_usd,
        )  # fmt: skip

    def run(self, scenarios: Sequence[Scenario]) -> list[ScenarioResult]:
        """:func:`engines.stress.run_scenarios` of ``scenarios`` on these inputs."""
        return self.evaluate(scenarios).results(0)


@dataclass(frozen=True)
class StressFactors:
    """The factor side of the stress inputs, shared by the portfolios with the same
    macro factors: those factors, the covariance, the factor moves, N/A reasons,
    proxies and covariance window (as in :class:`StressInputs`)."""

    macro: tuple[str, ...]
    covariance: pd.DataFrame
    factor_returns: pd.DataFrame
    na_reasons: dict[str, str]
    proxies_used: dict[str, str]
    covariance_window: tuple[pd.Timestamp | None, pd.Timestamp | None, int]


@dataclass(frozen=True)
class StressModel:
    """The security level of the stress engine for a set of underlyings on one day.

    Factor betas (market / style from the factor model, macro / rate jointly with
    the market) of every underlying, the factors' daily moves over the stress
    lookback and their EWMA covariance. :meth:`inputs_for` turns it into one
    portfolio's :class:`StressInputs`; the covariance depends on the portfolio
    only through which macro factors any of its underlyings has a beta for, and is
    computed once per such set.
    """

    fx: FactorModel
    macro_betas: pd.DataFrame
    macro_failed: dict[str, str]
    base_na: dict[str, str]
    macro_columns: tuple[str, ...]
    equity_factors: tuple[str, ...]
    equity_returns: pd.DataFrame
    macro_returns: pd.DataFrame
    model: MoveModel
    proxies_used: dict[str, str]
    decay: float
    _covariances: dict = field(default_factory=dict, repr=False, compare=False)

    def covariance_for(self, macro: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame, tuple]:
        """``(factor moves, covariance, covariance window)`` with the macro factors ``macro``."""
        if macro not in self._covariances:
            factor_rets = pd.concat(
                [self.equity_returns, self.macro_returns[list(macro)]], axis=1, sort=True
            )
            complete = factor_rets.dropna(how="any").index
            self._covariances[macro] = (
                factor_rets,
                ewma_covariance(propagation_returns(factor_rets, self.model), decay=self.decay),
                (
                    complete[0] if len(complete) else None,
                    complete[-1] if len(complete) else None,
                    len(complete),
                ),
            )
        return self._covariances[macro]

    def factors_for(self, present: frozenset[str]) -> StressFactors:
        """The factor side of a portfolio whose underlyings have betas for the macro
        factors ``present`` (cached per set)."""
        na = dict(self.base_na)
        for name in self.macro_columns:
            if name in self.macro_failed:
                na[name] = self.macro_failed[name]
            elif name not in present:
                na[name] = "no asset has enough common history with the factor"
        macro = tuple(c for c in self.macro_betas.columns if c not in na)
        factor_rets, covariance, window = self.covariance_for(macro)
        return StressFactors(macro, covariance, factor_rets, na, self.proxies_used, window)

    def inputs_for(self, joined: pd.DataFrame, dividend_yield: float) -> StressInputs:
        """:class:`StressInputs` of the positions ``joined`` (underlyings in this model)."""
        held = sorted(set(joined["underlying"]))
        mine = self.macro_betas.reindex(held)
        sf = self.factors_for(frozenset(c for c in mine.columns if mine[c].notna().any()))
        underlying_betas = self.fx.fit.betas.join(self.macro_betas[list(sf.macro)]).reindex(held)
        dae = delta_adjusted_exposure(joined) if not joined.empty else pd.Series(dtype=float)
        position_betas = (
            joined["underlying"]
            .to_frame()
            .join(underlying_betas, on="underlying")
            .drop(columns="underlying")
        )
        return StressInputs(
            exposures=position_betas.mul(dae, axis=0),
            covariance=sf.covariance,
            options=option_inputs(joined, dividend_yield),
            underlying_betas=underlying_betas,
            factor_returns=sf.factor_returns,
            na_reasons=sf.na_reasons,
            model=self.model,
            position_exposure_usd=dae,
            proxies_used=sf.proxies_used,
            covariance_window=sf.covariance_window,
        )


def fit_stress_model(
    inputs: MarketInputs,
    underlyings: Sequence[str],
    day: dt.date,
    equity: ProxySet,
    macro: ProxySet,
    params: EngineParams,
) -> StressModel:
    """The :class:`StressModel` of ``underlyings`` on ``day`` (see :func:`compute_stress_inputs`)."""
    fp, sp = params.factors, params.stress
    ts = pd.Timestamp(day)
    eq_proxies, eq_na, _ = equity
    mac_proxies, mac_na, _ = macro
    fx = fit_factor_model(inputs, sorted(set(underlyings)), day, eq_proxies, eq_na, params)
    mac = factor_returns_from(inputs, mac_proxies, day, params)
    base_na = {**fx.na_reasons, **mac_na, **mac.na_reasons}
    asset_returns = inputs.returns.reindex(columns=sorted(set(underlyings))).loc[
        lambda f: f.index <= ts
    ]
    mbetas, mac_fail = fit_macro_betas(
        asset_returns, fx.factor_returns.get(MARKET_FACTOR), mac, params
    )
    equity_factors = [f for f in fx.fit.factors if f in fx.factor_returns]
    start = pd.Timestamp(sessions_window(day, sp.lookback)[0])

    def lookback(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.loc[(frame.index >= start) & (frame.index <= ts)]

    return StressModel(
        fx=fx,
        macro_betas=mbetas,
        macro_failed=mac_fail,
        base_na=base_na,
        macro_columns=tuple(mac.returns.columns),
        equity_factors=tuple(equity_factors),
        equity_returns=fx.factor_returns[equity_factors],
        macro_returns=mac.returns,
        model=MoveModel(
            additive=mac.additive,
            spread_factors=frozenset(f for f in equity_factors if f != MARKET_FACTOR)
            if fp.mode == "spread"
            else frozenset(),
        ),
        proxies_used={**fx.proxies_used, **mac.proxies_used},
        decay=sp.decay,
    )


def compute_stress_inputs(
    joined: pd.DataFrame,
    inputs: MarketInputs,
    day: dt.date,
    equity: ProxySet,
    macro: ProxySet,
    params: EngineParams,
) -> StressInputs:
    """Exposures, factor covariance and option inputs of ``joined`` on ``day``.

    ``equity`` and ``macro`` are :func:`~sigmasight_lib.runs.inputs.factor_proxies`
    results for the market / style and the macro / rate factors. Stale or short
    proxies are N/A (:func:`~sigmasight_lib.runs.inputs.factor_returns_from`); the
    covariance uses the days of the last ``stress.lookback`` sessions on which every
    usable factor has a move. :func:`fit_stress_model` of the positions'
    underlyings, then :meth:`StressModel.inputs_for` the positions.
    """
    model = fit_stress_model(inputs, list(joined["underlying"]), day, equity, macro, params)
    return model.inputs_for(joined, params.greeks.dividend_yield)
