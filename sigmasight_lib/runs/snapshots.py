"""Daily snapshots of a set of portfolios over a window of sessions, computed at once.

The core ``run_snapshot`` (one portfolio and its backfill window) and the layered
snapshot (every portfolio of a security layer) share: which (portfolio, day)
snapshots a run writes (:func:`plan_snapshot_days`) and their figures
(:func:`snapshot_figures`).

A snapshot day of a portfolio values the positions it held that day; every (day,
position) row of every portfolio is valued in one pass
(:func:`~sigmasight_lib.runs.securities.position_analytics_on_days`). Its market
betas come from one factor fit per day of the underlyings any of the portfolios
held that day: an underlying's betas depend only on its own returns and the
factors' up to that day, so the fit of the union gives each portfolio the betas
of a fit of its own underlyings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from sigmasight_lib.engines.exposures import delta_adjusted_exposure
from sigmasight_lib.engines.factors import (
    MARKET_BETA_KEYS,
    MARKET_FACTOR,
    PORTFOLIO_BETA_COLUMNS,
    factor_betas_on_days,
    grouped_factor_exposures,
)
from sigmasight_lib.engines.snapshot import snapshot_rows
from sigmasight_lib.params import EngineParams
from sigmasight_lib.runs.inputs import MarketInputs, ProxySet, factor_choices, factor_series
from sigmasight_lib.runs.securities import position_analytics_on_days, usable_factors

ROWS_PER_PASS = 500_000
"""(day, position) rows valued at once: a long backfill of many portfolios goes in passes
of whole days of about this many rows, which bounds its memory."""


def unpriced_note(day: dt.date) -> str:
    """The note of a snapshot day the cache has no prices for."""
    return f"{day}: no prices in the cache, no snapshot"


def plan_snapshot_days(
    portfolio_ids: Sequence[int],
    days: Sequence[dt.date],
    stored: Collection[tuple[int, dt.date]],
    priced: Collection[dt.date],
) -> tuple[pd.MultiIndex, dict[int, tuple[str, ...]]]:
    """The snapshots a run over ``days`` (ascending, the as-of last) writes, and why not others.

    A backfill fills the days without a stored snapshot; the as-of day is always
    recomputed; a day without prices in the cache gets no snapshot, but a note.

    Parameters
    ----------
    portfolio_ids : sequence of int
    days : sequence of date
        The backfill window, ascending; its last day is the as-of.
    stored : collection of (portfolio id, date)
        Snapshots stored already.
    priced : collection of date
        The days the cache has prices for.

    Returns
    -------
    pairs : MultiIndex of (portfolio_id, as_of)
        The snapshots to compute, by portfolio, then day.
    notes : dict of int to tuple of str
        Per portfolio, :func:`unpriced_note` of each day it would write without prices.
    """
    as_of, stored, priced = days[-1], set(stored), set(priced)
    pairs: list[tuple[int, dt.date]] = []
    notes: dict[int, tuple[str, ...]] = {}
    for pid in portfolio_ids:
        wanted = [d for d in days if d == as_of or (pid, d) not in stored]
        pairs += [(pid, d) for d in wanted if d in priced]
        notes[pid] = tuple(unpriced_note(d) for d in wanted if d not in priced)
    return pd.MultiIndex.from_tuples(pairs, names=["portfolio_id", "as_of"]), notes


def snapshot_figures(
    held: pd.DataFrame,
    pairs: pd.MultiIndex,
    inputs: MarketInputs,
    equity: ProxySet,
    params: EngineParams,
) -> pd.DataFrame:
    """The snapshot of each (portfolio, day) of ``pairs``.

    Parameters
    ----------
    held : DataFrame
        :func:`~sigmasight_lib.db.store.load_positions_on_days` of the portfolios over
        the days of ``pairs`` (rows of other pairs are ignored).
    pairs : MultiIndex of (portfolio_id, as_of)
        The snapshots to compute; the cache has prices on each day.
    inputs : MarketInputs
        Prices of every underlying held and factor proxy, from ``factors.window + 1``
        sessions before the first day to the last (and the settlement closes of the
        options expired by then).
    equity : ProxySet
        The market and style factors (:func:`~sigmasight_lib.runs.inputs.factor_proxies`).
    params : EngineParams

    Returns
    -------
    DataFrame indexed by ``pairs``, columns :data:`~sigmasight_lib.engines.snapshot.SNAPSHOT_FIELDS`
        USD figures; a portfolio holding nothing on a day has zeros and NaN betas.
        The days go in passes of about :data:`ROWS_PER_PASS` (day, position) rows.

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy on a day some portfolio holds positions.
    """

    def in_one_pass(held: pd.DataFrame, pairs: pd.MultiIndex) -> pd.DataFrame:
        rows = held.rename_axis("position_id").reset_index()
        keys = pd.MultiIndex.from_arrays([rows["portfolio_id"], rows["as_of"]])
        group_of = pairs.get_indexer(keys)
        rows = rows.loc[group_of >= 0].reset_index(drop=True)
        group_of = group_of[group_of >= 0]
        days = pd.Series(pd.to_datetime(rows["as_of"].to_numpy()), index=rows.index)
        valuation, greeks = position_analytics_on_days(rows, days, inputs, params)
        joined = rows.join(valuation).join(greeks.drop(columns=["underlying_price", "reason"]))
        betas = market_betas_on_days(joined["underlying"], days, inputs, equity, params)
        rollup = grouped_factor_exposures(
            betas.to_frame(MARKET_FACTOR), delta_adjusted_exposure(joined), group_of, len(pairs)
        ).xs(MARKET_FACTOR, level="factor")  # a group without positions: NaN
        market = rollup[list(PORTFOLIO_BETA_COLUMNS)].set_axis(list(MARKET_BETA_KEYS), axis=1)
        return snapshot_rows(joined, group_of, len(pairs), market).set_axis(pairs)

    days = pd.Index(sorted(set(pairs.get_level_values("as_of"))))
    day_of = days.get_indexer(held["as_of"])  # -1: a day without a snapshot to compute
    rows_per_day = np.bincount(day_of[day_of >= 0], minlength=len(days))
    parts = [
        in_one_pass(
            held.loc[(day_of >= start) & (day_of < end)],
            pairs[pairs.get_level_values("as_of").isin(days[start:end])],
        )
        for start, end in _passes(rows_per_day, ROWS_PER_PASS)
    ]
    return pd.concat(parts).reindex(pairs)


def _passes(rows_per_day: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Consecutive ranges ``[start, end)`` of days of about ``rows`` rows each (a day is
    never split; at least one range)."""
    passes, start, total = [], 0, 0
    for day, count in enumerate(rows_per_day):
        if total and total + count > rows:
            passes.append((start, day))
            start, total = day, 0
        total += count
    return [*passes, (start, len(rows_per_day))]


def market_betas_on_days(
    underlying: pd.Series,
    days: pd.Series,
    inputs: MarketInputs,
    equity: ProxySet,
    params: EngineParams,
) -> pd.Series:
    """Each row's market beta: its underlying's capped
    :data:`~sigmasight_lib.engines.factors.MARKET_FACTOR` beta of the factor fit of its day
    (:func:`~sigmasight_lib.runs.securities.fit_factor_model`; NaN when the market is N/A
    or the beta not estimable).

    The days whose factors have the same proxies are fitted in one pass
    (:func:`~sigmasight_lib.engines.factors.factor_betas_on_days`) on every underlying
    held on any of them.

    Parameters
    ----------
    underlying : Series
        Each row's underlying.
    days : Series of Timestamps aligned with ``underlying``
        Each row's day.
    inputs, equity, params
        As for :func:`snapshot_figures`.

    Raises
    ------
    MarketDataError
        When no factor has a usable proxy on one of ``days``.
    """
    proxies, na_reasons, _ = equity
    fp = params.factors
    sessions = pd.DatetimeIndex(days.unique()).sort_values()
    day_of = sessions.get_indexer(days)
    dates = [d.date() for d in sessions]
    by_factors: dict[tuple[tuple[str, str], ...], list[int]] = {}
    for i, (used, na) in enumerate(factor_choices(inputs, proxies, dates, params)):
        used, _ = usable_factors(used, {**na_reasons, **na}, dates[i], params)
        by_factors.setdefault(tuple(used.items()), []).append(i)
    symbol_of, symbols = pd.factorize(underlying)
    beta = np.full(len(underlying), np.nan)
    for used, group in by_factors.items():
        last = dates[group[-1]]
        factor_returns = factor_series(inputs, dict(used), {}, last).returns
        rows = np.flatnonzero(np.isin(day_of, group))
        held = np.unique(symbol_of[rows])  # the group's underlyings, as codes of `symbols`
        returns = inputs.returns.loc[inputs.returns.index <= pd.Timestamp(last)]
        factors, betas = factor_betas_on_days(
            returns.reindex(columns=symbols[held]), factor_returns, sessions[group],
            mode=fp.mode, window=fp.window, min_obs=fp.min_obs, cap=fp.cap,
        )  # fmt: skip
        if MARKET_FACTOR in factors:
            market = betas[:, :, factors.index(MARKET_FACTOR)]
            position = pd.Index(group).get_indexer(day_of[rows])
            beta[rows] = market[position, np.searchsorted(held, symbol_of[rows])]
    return pd.Series(beta, index=underlying.index)
