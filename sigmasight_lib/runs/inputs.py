"""Loading an engine's inputs: the portfolio and as-of date, market data for a set of
symbols, and the daily factor series chosen from each factor's proxies (with staleness).

Everything here reads the database (through :mod:`sigmasight_lib.db.store`) or the
provider; nothing is fitted. The inputs are keyed by symbol, not by portfolio, so
that one load can serve every portfolio holding the symbols.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import LIBRARY_SCENARIO_SET
from sigmasight_lib.engines.stress import Scenario
from sigmasight_lib.engines.valuation import as_of_dates
from sigmasight_lib.exceptions import ConfigError, MarketDataError
from sigmasight_lib.marketdata import MarketDataProvider
from sigmasight_lib.marketdata.base import RATE_PROXY_PREFIX
from sigmasight_lib.marketdata.cache import check_as_of, default_as_of
from sigmasight_lib.marketdata.calendar import (
    session_on_or_before,
    sessions_after,
    sessions_after_each,
    window_starts,
)
from sigmasight_lib.params import STRESS_SCENARIOS_FILE, EngineParams, load_stress_scenarios
from sigmasight_lib.portfolios.service import find_portfolio

log = logging.getLogger(__name__)


HISTORY_MARGIN_SESSIONS = 20
"""Extra sessions of history loaded so that series with gaps still fill their window."""


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
    name = re.sub(r"[^a-z0-9_-]+", "_", Path(path).stem.lower()).strip("_")[:80]
    if not name or name == LIBRARY_SCENARIO_SET:
        raise ConfigError(
            f"{path}: a custom scenario file cannot be stored as scenario set {name!r}; "
            f"rename the file (its stem names the set, {LIBRARY_SCENARIO_SET!r} is the library's)"
        )
    return name


@dataclass(frozen=True)
class ScenarioSet:
    """A stress scenario file and the set its scenarios are stored as.

    Attributes
    ----------
    name : str
        ``library`` for ``params/stress_scenarios.yaml``, else :func:`scenario_set_name`.
    path : Path
        The scenario file (stored as each scenario's ``source``).
    params_dir : Path
        Where ``factors.yaml`` is read for the factor-name check.
    text : str
        The file's text ('' when it does not exist): what a security layer's key holds.
    """

    name: str
    path: Path
    params_dir: Path
    text: str

    @functools.cached_property
    def scenarios(self) -> list[Scenario]:
        """The parsed scenarios (:func:`~sigmasight_lib.params.load_stress_scenarios`),
        parsed once; a missing or invalid file raises ``ConfigError`` here, when used."""
        return load_stress_scenarios(self.path, params_dir=self.params_dir)


def load_scenario_set(params_dir: Path, scenarios_file: Path | None = None) -> ScenarioSet:
    """The library scenario set (``params_dir / stress_scenarios.yaml``) or, with
    ``scenarios_file``, the custom set of that file (:func:`scenario_set_name`)."""
    path = (
        Path(scenarios_file) if scenarios_file is not None else params_dir / STRESS_SCENARIOS_FILE
    )
    name = LIBRARY_SCENARIO_SET if scenarios_file is None else scenario_set_name(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return ScenarioSet(name, path, params_dir, text)


def resolve_portfolio(
    session: Session, portfolio: str | int, as_of: dt.date | None
) -> tuple[Any, dt.date]:
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


def _settlement_sessions(positions: pd.DataFrame, day: dt.date | pd.Series) -> pd.Series:
    """The last NYSE session on or before the expiry of each option expired at ``day`` (one
    date, or each row's own: a Series aligned with ``positions``)."""
    gone = positions["option_type"].isin(["C", "P"]) & (
        pd.to_datetime(positions["expiry"]) < as_of_dates(day, positions.index)
    )
    expiries = positions.loc[gone, "expiry"]
    return expiries.map({e: session_on_or_before(e) for e in set(expiries)})


def expiry_closes(
    positions: pd.DataFrame, levels: pd.DataFrame, day: dt.date | pd.Series
) -> pd.Series:
    """The underlying's close on the settlement session of each option expired at ``day``
    (one date, or each row's own: a Series aligned with ``positions``), indexed like
    ``positions``' expired options; NaN when ``levels`` lacks it."""
    sessions = _settlement_sessions(positions, day)
    dates = levels.index.get_indexer(pd.to_datetime(pd.Series(sessions.to_numpy(), dtype=object)))
    symbols = levels.columns.get_indexer(positions.loc[sessions.index, "underlying"])
    found = (dates >= 0) & (symbols >= 0)
    closes = np.full(len(sessions), np.nan)
    closes[found] = levels.to_numpy(dtype=float)[dates[found], symbols[found]]
    return pd.Series(closes, index=sessions.index, dtype=float)


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


FactorProxies = dict[str, tuple[str, ...]]
"""Factor name -> its proxy symbols for the active provider, in order of preference."""


ProxySet = tuple[FactorProxies, dict[str, str], dict[str, int]]
""":func:`factor_proxies`' ``(proxies, na_reasons, factor_ids)``."""


def factor_proxies(session: Session, provider_name: str, factor_types: Sequence[str]) -> ProxySet:
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


def _proxy_checks(
    inputs: MarketInputs,
    proxy: str,
    days: Sequence[dt.date],
    window: int,
    min_obs: int,
    max_staleness: int,
) -> list[str | None]:
    """Why ``proxy`` is not usable on each of ``days`` (see :func:`factor_returns_from`), or
    None where it is: its last observation on or before the day (else the last one the cache
    knows, ``inputs.last_observed``) more than ``max_staleness`` NYSE sessions before the
    day ("last observation D, N sessions before as-of"), or fewer than ``min_obs``
    observations in the ``window`` sessions ending on the day."""
    series = _proxy_series(inputs, proxy)
    observed = series.index[series.notna().to_numpy()].sort_values()
    on = pd.DatetimeIndex(pd.to_datetime(list(days)))
    upto = observed.searchsorted(on, side="right")
    counts = upto - observed.searchsorted(window_starts(on, window), side="left")
    known = inputs.last_observed.get(proxy)
    fallback = pd.Timestamp(known) if known is not None else pd.NaT
    last = pd.DatetimeIndex([observed[u - 1] if u else fallback for u in upto])
    behind = sessions_after_each(last.fillna(on.min()), on)
    reasons: list[str | None] = []
    for day, seen, late, count in zip(days, last, behind, counts, strict=True):
        if pd.isna(seen):
            reasons.append(f"no observation on or before {day}")
        elif late > max_staleness:
            reasons.append(f"last observation {seen.date()}, {late} sessions before as-of")
        elif count < min_obs:
            reasons.append(
                f"{count} observations in the {window}-session window ending {day}, "
                f"fewer than {min_obs}"
            )
        else:
            reasons.append(None)
    return reasons


def factor_choices(
    inputs: MarketInputs,
    proxies: FactorProxies,
    days: Sequence[dt.date],
    params: EngineParams,
    *,
    window: int | None = None,
    min_obs: int | None = None,
) -> list[tuple[dict[str, str], dict[str, str]]]:
    """The proxy :func:`factor_returns_from` picks for each factor on each of ``days``.

    Returns
    -------
    list of (proxies_used, na_reasons), one per day
        Factor -> the first usable proxy; factor -> why none is usable (each
        candidate's reason). ``window`` and ``min_obs`` as in :func:`factor_returns_from`.
    """
    window = window or params.factors.window
    min_obs = params.factors.min_obs if min_obs is None else min_obs
    candidates = sorted({p for names in proxies.values() for p in names})
    checks = {
        p: _proxy_checks(inputs, p, days, window, min_obs, params.data.max_staleness_sessions)
        for p in candidates
    }
    choices = []
    for i in range(len(days)):
        used: dict[str, str] = {}
        na: dict[str, str] = {}
        for name, names in proxies.items():
            reasons = []
            for proxy in names:
                why = checks[proxy][i]
                if why is None:
                    used[name] = proxy
                    break
                reasons.append(f"proxy {proxy}: {why}")
            if name not in used:
                na[name] = "; ".join(reasons)
        choices.append((used, na))
    return choices


def factor_series(
    inputs: MarketInputs, used: dict[str, str], na: dict[str, str], day: dt.date
) -> FactorSeries:
    """The :class:`FactorSeries` of the proxies ``used`` (factor -> proxy) up to ``day``."""
    ts = pd.Timestamp(day)
    series = {name: _proxy_series(inputs, proxy) for name, proxy in used.items()}
    additive = {name for name, proxy in used.items() if proxy.startswith(RATE_PROXY_PREFIX)}
    return FactorSeries(
        pd.DataFrame({name: s.loc[s.index <= ts] for name, s in series.items()}),
        dict(used), dict(na), frozenset(additive),
    )  # fmt: skip


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
    in for another's. Returns only data on or before ``day``. Several days at
    once: :func:`factor_choices`.
    """
    [(used, na)] = factor_choices(inputs, proxies, [day], params, window=window, min_obs=min_obs)
    return factor_series(inputs, used, na, day)
