"""Per-security model fits on loaded inputs: prices and Greeks of each position's
instrument, factor betas and residual variance of each underlying, macro / rate betas.

Pure given :class:`~sigmasight_lib.runs.inputs.MarketInputs` (no session, no
provider): they call the engines in :mod:`sigmasight_lib.engines` with the
parameters of :class:`~sigmasight_lib.params.EngineParams`. What a fit returns
depends on the securities, never on a portfolio's quantities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sigmasight_lib.engines.factors import MARKET_FACTOR, FactorBetas, factor_betas, macro_betas
from sigmasight_lib.engines.greeks import position_greeks, realized_volatility_on
from sigmasight_lib.engines.market_risk import RATE_FACTOR, interest_rate_betas
from sigmasight_lib.engines.valuation import value_positions
from sigmasight_lib.exceptions import MarketDataError
from sigmasight_lib.marketdata.calendar import previous_session
from sigmasight_lib.params import EngineParams
from sigmasight_lib.runs.inputs import (
    FactorProxies,
    FactorSeries,
    MarketInputs,
    expiry_closes,
    factor_choices,
    factor_returns_from,
    factor_series,
)


def compute_position_analytics(
    positions: pd.DataFrame, inputs: MarketInputs, day: dt.date, params: EngineParams
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """Valuation and Greeks of ``positions`` on ``day`` from preloaded market data.

    Returns ``(valuation, greeks, notes)``: :func:`position_analytics_on_days` of
    every position on ``day`` and its :func:`position_notes`.
    """
    on = pd.Series(pd.Timestamp(day), index=positions.index)
    valuation, greeks = position_analytics_on_days(positions, on, inputs, params)
    return valuation, greeks, position_notes(positions, inputs, day, params)


def position_analytics_on_days(
    positions: pd.DataFrame, days: pd.Series, inputs: MarketInputs, params: EngineParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Valuation and Greeks of each row of ``positions`` on its own day.

    Parameters
    ----------
    positions : DataFrame with a unique index
        :func:`~sigmasight_lib.db.store.load_positions`' columns; a position held
        on several days is one row per day.
    days : Series of Timestamps aligned with ``positions``
        Each row's valuation day (an NYSE session).
    inputs : MarketInputs
        Covering every day of ``days`` with the history the realized vol needs.
    params : EngineParams

    Returns
    -------
    (valuation, greeks) : DataFrames indexed like ``positions``
        :func:`~sigmasight_lib.engines.valuation.value_positions` and
        :func:`~sigmasight_lib.engines.greeks.position_greeks`. Options are priced
        from the provider's quote on the last day of ``inputs`` when one exists,
        else by BSM (flagged ``model``); the previous-session price of an option is
        its model price on that session (with the day's vol and curve). An option
        is marked at intrinsic value on its expiry date (``intrinsic``) and settled
        after it (``settled``, flagged ``expired``) from its underlying's close on
        the settlement session, which ``inputs.levels`` must hold (see
        :func:`~sigmasight_lib.runs.inputs.with_expiry_closes`).
    """
    sessions = pd.DatetimeIndex(days.unique()).sort_values()
    day_of = sessions.get_indexer(days)
    previous = pd.DatetimeIndex([previous_session(d.date()) for d in sessions])
    underlying = positions["underlying"]
    spot = _at(inputs.levels, sessions, day_of, underlying)
    spot_prev = _at(inputs.levels, previous, day_of, underlying)
    is_option = positions["option_type"].isin(["C", "P"])
    rvol = pd.Series(np.nan, index=positions.index)
    held = sorted(underlying[is_option].unique())
    if held and not inputs.returns.empty:
        returns = inputs.returns.reindex(columns=held)
        vol = realized_volatility_on(returns, sessions, params.greeks.realized_vol_sessions)
        rvol = _at(vol, sessions, day_of, underlying)
    stale = params.data.max_staleness_sessions
    curves = [inputs.curve_on(d.date(), stale) for d in sessions]
    quoted = inputs.levels.index.max() if not inputs.levels.empty else None
    implied, quote_price = _option_quotes(inputs, quoted)
    on_quote_day = (days == quoted).to_numpy()
    implied_vol = (
        positions["symbol"].map(implied).where(on_quote_day) if implied is not None else None
    )
    option_market = (
        positions["symbol"].map(quote_price).where(on_quote_day)
        if not quote_price.empty
        else pd.Series(np.nan, index=positions.index)
    )
    greek_kwargs = dict(
        realized_vol=rvol,
        implied_vol=implied_vol,
        curve=curves,
        curve_of=day_of,
        fallback_rate=params.greeks.risk_free_rate,
        dividend_yield=params.greeks.dividend_yield,
        backend=params.greeks.greeks_backend,
    )
    greeks = position_greeks(positions, as_of=days, underlying_price=spot, **greek_kwargs)
    prev_days = pd.Series(previous[day_of], index=positions.index)
    greeks_prev = position_greeks(
        positions, as_of=prev_days, underlying_price=spot_prev, **greek_kwargs
    )
    has_quote = is_option & option_market.notna()
    price = spot.where(~is_option, option_market.where(has_quote, greeks["model_price"]))
    previous_price = spot_prev.where(~is_option, greeks_prev["model_price"])
    expiring = is_option & (pd.to_datetime(positions["expiry"]) == days)
    source = pd.Series(np.where(is_option & ~has_quote, "model", "market"), index=positions.index)
    source[expiring & ~has_quote] = "intrinsic"
    valuation = value_positions(
        positions,
        price=price,
        previous_price=previous_price,
        price_source=source,
        underlying_price=spot,
        as_of=days,
        expiry_close=expiry_closes(positions, inputs.levels, days),
    )
    return valuation, greeks


def _at(
    frame: pd.DataFrame, dates: pd.DatetimeIndex, date_of: np.ndarray, symbols: pd.Series
) -> pd.Series:
    """``frame`` (dates × symbols) at each row's (``dates[date_of]``, symbol), aligned with
    ``symbols``; NaN where the frame lacks the date or the symbol."""
    rows = frame.index.get_indexer(dates)[date_of]
    codes, uniques = pd.factorize(symbols)
    columns = np.append(frame.columns.get_indexer(uniques), -1)[codes]  # code -1: missing
    found = (rows >= 0) & (columns >= 0)
    values = np.full(len(symbols), np.nan)
    values[found] = frame.to_numpy(dtype=float)[rows[found], columns[found]]
    return pd.Series(values, index=symbols.index)


def _option_quotes(
    inputs: MarketInputs, day: dt.date | pd.Timestamp | None
) -> tuple[pd.Series | None, pd.Series]:
    """Implied vol and market price per contract symbol on ``day`` (None, empty without quotes)."""
    quoted_day = inputs.levels.index.max() if not inputs.levels.empty else None
    if inputs.quotes is None or day is None or quoted_day != pd.Timestamp(day):
        return None, pd.Series(dtype=float)
    q = inputs.quotes.set_index("contract_symbol")
    mid = (q["bid"] + q["ask"]) / 2
    return q["implied_vol"], mid.where((q["bid"] > 0) & (q["ask"] > 0), q["last_price"])


def position_notes(
    positions: pd.DataFrame,
    inputs: MarketInputs,
    day: dt.date,
    params: EngineParams,
    by: pd.Series | None = None,
) -> tuple[str, ...] | dict[object, tuple[str, ...]]:
    """The notes of :func:`compute_position_analytics`, without valuing anything.

    Parameters
    ----------
    positions : DataFrame
        With ``symbol``, ``underlying`` and ``option_type``.
    inputs, day, params
        As for :func:`compute_position_analytics`.
    by : Series aligned with ``positions``, optional
        Group label per position (e.g. ``portfolio_id``). Given: a dict group ->
        the notes each group's positions alone would get (groups in order of
        first appearance; a group without positions is absent); else the tuple
        for all of ``positions``.

    Notes
    -----
    A group holding options gets the "no option quotes" note when none of its
    contracts has a quote on ``day``: what a load of its positions alone gives
    (quotes are fetched for the held contracts only).
    """
    spot = inputs.row(inputs.levels, day)
    stale = params.data.max_staleness_sessions
    curve_note = (
        f"no treasury curve within {stale} sessions of {day}: "
        f"rate {params.greeks.risk_free_rate} from params"
        if inputs.curve_on(day, stale).empty
        else None
    )
    quote_note = (
        f"no option quotes from {inputs.provider} for {day}: implied vol = "
        f"{params.greeks.realized_vol_sessions}-session realized vol of the underlying; "
        "option prices are model (BSM) prices"
    )
    implied, _ = _option_quotes(inputs, day)
    quoted = pd.Index([] if implied is None else implied.index)
    labels = by if by is not None else pd.Series(0, index=positions.index)
    option = positions["option_type"].isin(["C", "P"]).to_numpy()
    frame = pd.DataFrame({
        "group": labels.to_numpy(), "underlying": positions["underlying"].to_numpy(),
        "option": option, "quoted": option & positions["symbol"].isin(quoted).to_numpy(),
    })  # fmt: skip
    frame["missing"] = frame["underlying"].map(spot).isna().to_numpy()
    missing = (
        frame.loc[frame["missing"]].groupby("group", sort=False)["underlying"]
        .agg(lambda u: sorted(set(u)))
    )  # fmt: skip
    grouped = frame.groupby("group", sort=False)[["option", "quoted"]].any()
    out: dict[object, tuple[str, ...]] = {}
    for group, has_option, has_quote in grouped.itertuples():
        notes = []
        if group in missing.index:
            notes.append(f"no price on {day} for: {', '.join(missing[group])}")
        if curve_note:
            notes.append(curve_note)
        if has_option and not has_quote:
            notes.append(quote_note)
        out[group] = tuple(notes)
    if by is not None:
        return out
    return out.get(0, tuple(n for n in (curve_note,) if n))


@dataclass(frozen=True)
class FactorModel:
    """Factor betas of a set of securities on one day and the factor series they were fit on.

    Attributes
    ----------
    fit : FactorBetas
        Betas (and residual variance, R², ...) per security.
    factor_returns : DataFrame (dates × factors)
        The usable factors' daily proxy moves up to the as-of date (raw, not
        the spread design).
    proxies_used : dict
        Factor -> the proxy symbol whose series was used.
    na_reasons : dict
        Factor -> why it is N/A (no proxy, stale or short proxy data, no market
        in ``spread`` mode).
    """

    fit: FactorBetas
    factor_returns: pd.DataFrame
    proxies_used: dict[str, str]
    na_reasons: dict[str, str]


def fit_factor_model(
    inputs: MarketInputs,
    securities: Sequence[str],
    day: dt.date,
    proxies: FactorProxies,
    na_reasons: dict[str, str],
    params: EngineParams,
) -> FactorModel:
    """Regress the daily returns of ``securities`` on the factors up to ``day``.

    Each factor's series comes from its first usable proxy
    (:func:`~sigmasight_lib.runs.inputs.factor_returns_from`). In ``spread``
    mode the style factors are spreads over Market: without a usable Market
    proxy they are N/A too (never regressed on another series standing in for
    the market).

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy at ``day``.
    """
    fp = params.factors
    ts = pd.Timestamp(day)
    factor_rets, proxies_used, na = usable_factor_returns(inputs, day, proxies, na_reasons, params)
    returns = (
        inputs.returns.loc[inputs.returns.index <= ts]
        if not inputs.returns.empty
        else inputs.returns
    )
    asset_returns = returns.reindex(columns=list(securities))
    fit = factor_betas(
        asset_returns, factor_rets, mode=fp.mode,
        window=fp.window, min_obs=fp.min_obs, cap=fp.cap,
    )  # fmt: skip
    return FactorModel(fit, factor_rets, proxies_used, na)


def usable_factor_returns(
    inputs: MarketInputs,
    day: dt.date,
    proxies: FactorProxies,
    na_reasons: dict[str, str],
    params: EngineParams,
) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """The factor series :func:`fit_factor_model` regresses on: ``(factor_returns,
    proxies_used, na_reasons)`` (see :class:`FactorModel`).

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy at ``day``.
    """
    [(used, na)] = factor_choices(inputs, proxies, [day], params)
    used, na = usable_factors(used, {**na_reasons, **na}, day, params)
    return factor_series(inputs, used, na, day).returns, used, na


def usable_factors(
    used: dict[str, str], na: dict[str, str], day: dt.date, params: EngineParams
) -> tuple[dict[str, str], dict[str, str]]:
    """The factors :func:`fit_factor_model` regresses on at ``day`` among those with a usable
    proxy: all of them, but none in ``spread`` mode without a usable Market (the style
    factors are spreads over it).

    Parameters
    ----------
    used : dict
        Factor -> its usable proxy (:func:`~sigmasight_lib.runs.inputs.factor_choices`).
    na : dict
        Factor -> why it is N/A.
    day : date
    params : EngineParams

    Returns
    -------
    (used, na)
        The factors regressed on, and every N/A factor's reason.

    Raises
    ------
    MarketDataError
        When no factor is left.
    """
    na = dict(na)
    if params.factors.mode == "spread" and MARKET_FACTOR not in used and used:
        why = na.get(MARKET_FACTOR, "not configured")
        for name in used:
            na[name] = f"spread over {MARKET_FACTOR} needs {MARKET_FACTOR}, which is N/A ({why})"
        used = {}
    if not used:
        raise MarketDataError(
            f"no factor has usable proxy data at {day}: "
            + "; ".join(f"{n}: {r}" for n, r in na.items())
        )
    return dict(used), na


def fit_macro_betas(
    asset_returns: pd.DataFrame,
    market_returns: pd.Series | None,
    macro: FactorSeries,
    params: EngineParams,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """:func:`~sigmasight_lib.engines.factors.macro_betas` of the securities in
    ``asset_returns`` on the ``macro`` series, with the parameters' windows.

    Rate factors use the market-risk rate window (``market_risk.rate_window`` /
    ``rate_min_obs``), so the stress engine's rate betas are the market-risk
    engine's; other factors the factor window.
    """
    fp, mp = params.factors, params.market_risk
    return macro_betas(
        asset_returns, market_returns, macro.returns, additive=macro.additive,
        window=fp.window, min_obs=fp.min_obs,
        rate_window=mp.rate_window, rate_min_obs=mp.rate_min_obs,
    )  # fmt: skip


def fit_rate_betas(
    inputs: MarketInputs,
    rate_proxies: FactorProxies,
    rate_na: dict[str, str],
    day: dt.date,
    underlyings: Sequence[str],
    market_returns: pd.Series | None,
    params: EngineParams,
) -> tuple[FactorSeries, pd.Series, pd.DataFrame, str | None]:
    """Interest-rate betas of ``underlyings`` (joint with the market) on ``day``.

    Returns
    -------
    rates : FactorSeries
        The rate factor series (``market_risk.rate_window`` / ``rate_min_obs``).
    dy : Series
        Daily yield change of ``RATE_FACTOR`` (empty when N/A).
    ir : DataFrame indexed by underlying
        :func:`~sigmasight_lib.engines.market_risk.interest_rate_betas`' columns;
        NaN with 0 observations and the reason when the rate factor is N/A.
    rate_reason : str or None
        Why the rate betas are N/A (no rate factor, or no market factor).
    """
    mp = params.market_risk
    rates = factor_returns_from(
        inputs, rate_proxies, day, params, window=mp.rate_window, min_obs=mp.rate_min_obs
    )
    rate_na = {**rate_na, **rates.na_reasons}
    returns = inputs.returns.reindex(columns=list(underlyings))
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
        return rates, dy, ir, None
    ir = pd.DataFrame(
        {"ir_beta": np.nan, "t_stat": np.nan, "market_beta": np.nan, "r_squared": np.nan,
         "observations": 0, "window_start": None, "window_end": None,
         "reason": f"{RATE_FACTOR} N/A ({rate_reason})"},
        index=pd.Index(underlyings),
    )  # fmt: skip
    return rates, pd.Series(dtype=float), ir, rate_reason


def rate_beta_summary(ir: pd.DataFrame) -> dict[str, object]:
    """Window and observations of the estimated rows of ``ir`` (:func:`fit_rate_betas`):
    ``rate_window_start`` / ``rate_window_end`` (None without an estimate) and
    ``rate_observations_max`` (0)."""
    estimated = ir.loc[ir["observations"] > 0]
    if not len(estimated):
        return {"rate_window_start": None, "rate_window_end": None, "rate_observations_max": 0}
    return {
        "rate_window_start": estimated["window_start"].min(),
        "rate_window_end": estimated["window_end"].max(),
        "rate_observations_max": int(estimated["observations"].max()),
    }
