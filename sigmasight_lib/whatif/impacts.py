"""Before / after / change of a portfolio's risk under hypothetical trades.

The pro-forma portfolio is the stored positions held at the as-of date plus the
trades, built in memory: a trade in a symbol already held nets against it (the
lots of that symbol merge into one row with the summed quantity; a position
netted to zero disappears), a trade in a new symbol becomes a new position
(negative id, entry date = as-of, entry price = the trade's price). Both sides
are computed with the engines' own loading and computing functions
(:mod:`sigmasight_lib.runs`) with the same history windows, so "before" equals
what the engines would compute for the stored portfolio and "after" what they
would compute for a real portfolio holding the pro-forma positions. Nothing is
written except, for :func:`calculate_impacts`, the session's ``impacts`` JSON.

Impacts (``rows``: one per ``section`` / ``metric``, with ``before``,
``after``, ``change`` = after − before):

* ``exposures``: ``gross_exposure_usd``, ``net_exposure_usd``,
  ``long_exposure_usd``, ``short_exposure_usd`` (as the exposures engine);
* ``greeks``: portfolio ``delta``, ``gamma``, ``theta``, ``vega``, ``rho``
  (as the Greeks engine);
* ``factor_betas``: per configured factor ``<factor>.dollar_beta_usd``,
  ``<factor>.beta_to_gross`` and ``<factor>.beta_to_net`` of the
  delta-adjusted exposure (as the factors engine; N/A factors null);
* ``var``: ``var_95_usd``, the 1-day 95 % historical VaR of the
  constant-holdings P&L in USD (as the risk-metrics engine);
* ``stress``: for each scenario ``<key>.correlated_pnl_usd`` and
  ``<key>.direct_pnl_usd`` (as the stress engine).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from sigmasight_lib.config import Settings
from sigmasight_lib.db import store
from sigmasight_lib.db.models import MarketPrice, SecurityMetadata
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.engines.exposures import portfolio_exposures
from sigmasight_lib.engines.factors import PORTFOLIO_BETA_COLUMNS
from sigmasight_lib.engines.risk_metrics import performance_stats
from sigmasight_lib.exceptions import ImportValidationError, MarketDataError
from sigmasight_lib.marketdata import MarketDataProvider, get_provider
from sigmasight_lib.marketdata.cache import check_as_of, default_as_of
from sigmasight_lib.params import (
    STRESS_SCENARIOS_FILE,
    EngineParams,
    load_engine_params,
    load_stress_scenarios,
)
from sigmasight_lib.portfolios.csv_import import ImportIssue
from sigmasight_lib.portfolios.positions import PositionSpec, detect_position_type
from sigmasight_lib.portfolios.service import find_portfolio
from sigmasight_lib.runs.inputs import (
    HISTORY_MARGIN_SESSIONS,
    MarketInputs,
    factor_proxies,
    proxy_tickers,
)
from sigmasight_lib.runs.portfolio import (
    analyze_positions,
    compute_factor_exposures,
    compute_stress_inputs,
)
from sigmasight_lib.whatif import sessions as ws

EXPOSURE_METRICS = (
    "gross_exposure_usd",
    "net_exposure_usd",
    "long_exposure_usd",
    "short_exposure_usd",
)
GREEKS = ("delta", "gamma", "theta", "vega", "rho")
SECTIONS = ("exposures", "greeks", "factor_betas", "var", "stress")

_ZERO_TOLERANCE = 1e-9


# --------------------------------------------------------------------------- pro forma


def check_trades(
    session: Session, trades: Sequence[Mapping[str, Any]], day: dt.date
) -> list[tuple[Mapping[str, Any], PositionSpec]]:
    """Revalidate ``trades`` and check their market data on ``day``.

    Raises
    ------
    ImportValidationError
        One issue per rejected trade: invalid values (CSV-import reasons), an
        underlying without cached data, without a price on ``day``, or an option
        expired before ``day``.
    """
    checked = []
    issues: list[ImportIssue] = []
    for t in trades:
        try:
            checked.append((t, ws.trade_spec(t)))
        except ImportValidationError as exc:
            issues.extend(exc.issues)
    underlyings = sorted({spec.underlying for _, spec in checked})
    no_data = ws.missing_data_reasons(session, underlyings)
    priced = set(
        session.scalars(
            select(MarketPrice.symbol)
            .where(MarketPrice.symbol.in_(underlyings), MarketPrice.date == day)
            .distinct()
        )
    )
    for t, spec in checked:
        u = spec.underlying
        if u in no_data:
            reason = no_data[u]
        elif u not in priced:
            reason = f"no price for {u} on {day.isoformat()} in the cache"
        elif spec.expiry is not None and spec.expiry < day:
            reason = f"option expired on {spec.expiry.isoformat()} (before {day.isoformat()})"
        else:
            continue
        issues.append(ImportIssue(None, "symbol", str(t["symbol"]), reason))
    if issues:
        ids = [t.get("id") for t in trades]
        detail = "; ".join(str(i) for i in issues)
        raise ImportValidationError(f"trades rejected (trade ids {ids}): {detail}", issues)
    return checked


def pro_forma_positions(
    session: Session, base: pd.DataFrame, specs: Sequence[PositionSpec], day: dt.date
) -> pd.DataFrame:
    """``base`` (a :func:`~sigmasight_lib.db.store.load_positions` frame) plus ``specs``.

    Trades in one symbol are summed; a held symbol's lots merge into its first
    lot (lowest id) with the summed quantity and a recomputed position type,
    dropped when the total is zero. New symbols get ids -1, -2, ... in trade
    order.
    """
    frame = base.copy()
    totals: dict[str, float] = {}
    first: dict[str, PositionSpec] = {}
    for spec in specs:
        totals[spec.symbol] = totals.get(spec.symbol, 0.0) + float(spec.quantity)
        first.setdefault(spec.symbol, spec)
    new_rows: list[dict[str, Any]] = []
    for symbol, traded in totals.items():
        lots = frame.index[frame["symbol"] == symbol]
        if len(lots):
            keep = lots[0]
            total = float(frame.loc[lots, "quantity"].sum()) + traded
            frame = frame.drop(index=lots[1:])
            if math.isclose(total, 0.0, abs_tol=_ZERO_TOLERANCE):
                frame = frame.drop(index=keep)
                continue
            option_type = frame.at[keep, "option_type"]
            option_type = option_type if option_type in ("C", "P") else None
            frame.at[keep, "quantity"] = total
            frame.at[keep, "position_type"] = detect_position_type(total, option_type).value
            continue
        if math.isclose(traded, 0.0, abs_tol=_ZERO_TOLERANCE):
            continue
        spec = first[symbol]
        new_rows.append({
            "id": -(len(new_rows) + 1), "symbol": spec.symbol, "underlying": spec.underlying,
            "position_type": detect_position_type(traded, spec.option_type).value,
            "quantity": traded, "multiplier": int(spec.multiplier), "option_type": spec.option_type,
            "strike": spec.strike, "expiry": spec.expiry, "entry_price": spec.entry_price,
            "entry_date": day, "strategy": None, "tags": [],
        })  # fmt: skip
    if new_rows:
        added = pd.DataFrame(new_rows).set_index("id")
        meta = {
            m.symbol: m
            for m in session.scalars(
                select(SecurityMetadata).where(
                    SecurityMetadata.symbol.in_(added["underlying"].unique().tolist())
                )
            )
        }
        added["sector"] = added["underlying"].map(lambda s: meta[s].sector if s in meta else None)
        added["asset_type"] = added["underlying"].map(
            lambda s: meta[s].asset_type if s in meta else None
        )
        frame = pd.concat([frame, added.astype(object)]) if not frame.empty else added
    frame["quantity"] = frame["quantity"].astype(float)
    frame["multiplier"] = frame["multiplier"].astype(int)
    frame.index.name = "id"
    return frame


# --------------------------------------------------------------------------- one side


def _analytics(
    session: Session,
    provider: MarketDataProvider,
    params: EngineParams,
    positions: pd.DataFrame,
    day: dt.date,
    *,
    extra_symbols: Sequence[str] = (),
    history_sessions: int = 0,
) -> tuple[pd.DataFrame, MarketInputs, tuple[str, ...]]:
    """:func:`~sigmasight_lib.runs.portfolio.analyze_positions` of an in-memory positions
    frame, joined: ``(joined, inputs, notes)``."""
    inputs, valuation, greeks, notes = analyze_positions(
        session, provider, params, positions, day,
        extra_symbols=extra_symbols, history_sessions=history_sessions,
    )  # fmt: skip
    joined = positions.join(valuation).join(greeks.drop(columns=["underlying_price", "reason"]))
    return joined, inputs, notes


def portfolio_figures(
    session: Session,
    provider: MarketDataProvider,
    params: EngineParams,
    scenarios: Sequence[Any],
    positions: pd.DataFrame,
    day: dt.date,
) -> tuple[dict[tuple[str, str], float], list[str]]:
    """Every impact figure of one positions frame: ``{(section, metric): value}``, notes."""
    fp, rp, sp = params.factors, params.risk_metrics, params.stress
    eq_proxies, eq_na, eq_ids = factor_proxies(session, provider.name, fp.factor_types)
    out: dict[tuple[str, str], float] = {}
    if positions.empty:
        out.update({("exposures", m): 0.0 for m in EXPOSURE_METRICS})
        out.update({("greeks", g): 0.0 for g in GREEKS})
        out.update({("factor_betas", f"{f}.{c}"): np.nan for f in eq_ids for c in PORTFOLIO_BETA_COLUMNS})  # fmt: skip
        out[("var", "var_95_usd")] = 0.0
        for sc in scenarios:
            out[("stress", f"{sc.key}.correlated_pnl_usd")] = 0.0
            out[("stress", f"{sc.key}.direct_pnl_usd")] = 0.0
        return out, ["no positions"]

    # exposures and Greeks (valuation window, as run_exposures / run_greeks)
    joined, _, notes_t = _analytics(session, provider, params, positions, day)
    notes = list(notes_t)
    totals = portfolio_exposures(joined).totals
    out.update({("exposures", m): float(totals[m]) for m in EXPOSURE_METRICS})
    out.update({("greeks", g): float(np.nansum(joined[g].to_numpy(dtype=float))) for g in GREEKS})

    # factor betas (as run_factors)
    eq_symbols = proxy_tickers(eq_proxies)
    joined, inputs, _ = _analytics(
        session, provider, params, positions, day,
        extra_symbols=eq_symbols, history_sessions=fp.window + 1,
    )  # fmt: skip
    fx = compute_factor_exposures(joined, inputs, day, eq_proxies, eq_na, eq_ids, params)
    out.update(
        {
            ("factor_betas", f"{n}.{c}"): float(fx.portfolio.at[n, c])
            for n in fx.portfolio.index
            for c in PORTFOLIO_BETA_COLUMNS
        }
    )
    notes += [f"{n}: N/A ({r})" for n, r in fx.na_reasons.items()]

    # 1-day historical VaR 95 in USD (as run_risk_metrics)
    extra = max(rp.window - fp.window, 0) + HISTORY_MARGIN_SESSIONS
    joined, inputs, _ = _analytics(
        session, provider, params, positions, day,
        extra_symbols=eq_symbols, history_sessions=fp.window + 1 + extra,
    )  # fmt: skip
    fx = compute_factor_exposures(joined, inputs, day, eq_proxies, eq_na, eq_ids, params)
    ts = pd.Timestamp(day)
    dae, gross = fx.dae, float(fx.dae.abs().sum())
    returns = inputs.returns.loc[inputs.returns.index <= ts].iloc[-rp.window :]
    position_returns = returns.reindex(columns=list(joined["underlying"])).set_axis(
        joined.index, axis=1
    )
    pnl = position_returns.mul(dae, axis=1).sum(axis=1, min_count=1).dropna()
    port_returns = pnl / gross if gross else pnl * np.nan
    stats = performance_stats(port_returns, risk_free=rp.risk_free, gaussian_mean=rp.gaussian_mean)
    out[("var", "var_95_usd")] = float(stats["var_95"] * gross)

    # stress scenarios (as run_stress, without its writes)
    mac_proxies, mac_na, _ = factor_proxies(session, provider.name, ("macro", "rates"))
    joined, inputs, _ = _analytics(
        session, provider, params, positions, day,
        extra_symbols=proxy_tickers(eq_proxies, mac_proxies),
        history_sessions=max(fp.window, sp.lookback) + 1 + HISTORY_MARGIN_SESSIONS,
    )  # fmt: skip
    si = compute_stress_inputs(
        joined, inputs, day, (eq_proxies, eq_na, eq_ids), (mac_proxies, mac_na, {}), params
    )
    for r in si.run(scenarios):
        out[("stress", f"{r.key}.correlated_pnl_usd")] = float(r.correlated_pnl_usd)
        out[("stress", f"{r.key}.direct_pnl_usd")] = float(r.direct_pnl_usd)
        if r.partial:
            notes.append(f"stress {r.key}: partial (unmapped: {', '.join(r.unmapped)})")
    return out, notes


# --------------------------------------------------------------------------- impacts


def _num(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _merge_notes(before: Sequence[str], after: Sequence[str]) -> list[str]:
    """Notes of both sides once; a note of only one side prefixed ``before:`` / ``after:``."""
    both = [n for n in dict.fromkeys(before) if n in after]
    return [
        *both,
        *(f"before: {n}" for n in dict.fromkeys(before) if n not in both),
        *(f"after: {n}" for n in dict.fromkeys(after) if n not in both),
    ]


def calculate_trades(
    settings: Settings,
    portfolio: str | int,
    trades: Sequence[Mapping[str, Any]],
    as_of: dt.date | None = None,
    provider: MarketDataProvider | None = None,
) -> dict[str, Any]:
    """Impacts of ``trades`` (``{"symbol", "quantity", "price"?}``) on ``portfolio``; no writes.

    Returns a JSON-ready dict: ``portfolio``, ``portfolio_id``, ``as_of``,
    ``calculated_at``, ``trades``, ``positions`` (before / after counts),
    ``rows`` (``section``, ``metric``, ``before``, ``after``, ``change``) and
    ``notes``.

    Raises
    ------
    ImportValidationError
        A trade is invalid or its symbol has no market data (with the reason).
    """
    provider = provider or get_provider(settings)
    params = load_engine_params(settings.params_dir)
    scenarios = load_stress_scenarios(settings.params_dir / STRESS_SCENARIOS_FILE)
    trades = [
        {"id": t.get("id", i + 1), "symbol": t["symbol"], "quantity": t["quantity"],
         "price": t.get("price")}
        for i, t in enumerate(trades)
    ]  # fmt: skip
    with session_scope(settings) as session:
        p = find_portfolio(session, portfolio)
        portfolio_id, portfolio_name = p.id, p.name
        day = check_as_of(session, as_of) if as_of is not None else default_as_of(session)
        if day is None:
            raise MarketDataError(
                "no as-of date: the cache has no date with every needed series; "
                "run `sigmasight market-data sync` or pass --as-of"
            )
        checked = check_trades(session, trades, day)
        base = store.load_positions(session, portfolio_id, day)
        after = pro_forma_positions(session, base, [spec for _, spec in checked], day)
        before_vals, before_notes = portfolio_figures(
            session, provider, params, scenarios, base, day
        )
        after_vals, after_notes = portfolio_figures(
            session, provider, params, scenarios, after, day
        )
        session.rollback()  # read only: nothing of this transaction is kept
    rows = []
    for key in [*before_vals, *(k for k in after_vals if k not in before_vals)]:
        b, a = before_vals.get(key, np.nan), after_vals.get(key, np.nan)
        rows.append({"section": key[0], "metric": key[1], "before": _num(b), "after": _num(a),
                     "change": _num(a - b)})  # fmt: skip
    rows.sort(key=lambda r: SECTIONS.index(r["section"]))
    return {
        "portfolio": portfolio_name,
        "portfolio_id": portfolio_id,
        "as_of": day.isoformat(),
        "calculated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "provider": provider.name,
        "trades": [
            {**t, "symbol": spec.symbol, "quantity": spec.quantity, "underlying": spec.underlying}
            for t, spec in checked
        ],
        "positions": {"before": len(base), "after": len(after)},
        "rows": rows,
        "notes": _merge_notes(before_notes, after_notes),
    }


def calculate_impacts(
    settings: Settings,
    session_id: str | int,
    as_of: dt.date | None = None,
    provider: MarketDataProvider | None = None,
) -> dict[str, Any]:
    """Impacts of a modeling session's trades; stores them as the session's ``impacts``.

    A saved session is recomputed at its saved as-of date (unless ``as_of`` is
    given) and its frozen impacts are left as they are. The only write is the
    session's ``impacts`` JSON.
    """
    with session_scope(settings) as session:
        ms = ws.get_session(session, session_id)
        sid, portfolio_id, trades = ms.id, ms.portfolio_id, [dict(t) for t in ms.trades or []]
        frozen, saved_as_of, name = ms.status == ws.STATUS_SAVED, ms.saved_as_of, ms.name
    result = calculate_trades(
        settings, portfolio_id, trades, as_of or (saved_as_of if frozen else None), provider
    )
    result = {"session_id": sid, "session": name, **result}
    if not frozen:
        with session_scope(settings) as session:
            ms = ws.get_session(session, sid)
            if [dict(t) for t in ms.trades or []] == trades:  # unchanged meanwhile
                ms.impacts = result
    return result


def save_session(
    settings: Settings,
    session_id: str | int,
    batch_run_id: int | None = None,
    as_of: dt.date | None = None,
    provider: MarketDataProvider | None = None,
) -> dict[str, Any]:
    """Freeze a session: its impacts (recalculated unless stored for ``as_of``), as-of
    date and batch run id (default: the latest succeeded / partial batch run of that
    day with a job for the portfolio; None when there is none)."""
    with session_scope(settings) as session:
        ms = ws.get_session(session, session_id)
        ws._check_open(ms)
        impacts = ms.impacts
        sid = ms.id
    if impacts is None or (as_of is not None and impacts.get("as_of") != as_of.isoformat()):
        impacts = calculate_impacts(settings, sid, as_of, provider)
    with session_scope(settings) as session:
        ms = ws.get_session(session, sid)
        day = dt.date.fromisoformat(impacts["as_of"])
        run_id = (
            batch_run_id
            if batch_run_id is not None
            else ws.latest_batch_run_id(session, ms.portfolio_id, day)
        )
        return ws.freeze_session(session, sid, impacts, run_id)


def impacts_frame(impacts: Mapping[str, Any]) -> pd.DataFrame:
    """The ``rows`` of an impacts dict as a table (section, metric, before, after, change)."""
    frame = pd.DataFrame(
        impacts.get("rows", []), columns=["section", "metric", "before", "after", "change"]
    )
    for c in ("before", "after", "change"):
        frame[c] = frame[c].astype(float)
    return frame
