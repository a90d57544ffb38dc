"""The security layer: what depends on the securities held, not on who holds them.

:meth:`SecurityLayer.build` loads, for a set of portfolios and one as-of date, every
position held (one query), the market data of the union of their underlyings and
the factor proxies (once, with the longest history any engine needs) and the
settlement closes of expired options (for a snapshot backfill, also the positions held
on the sessions before the as-of it covers, their underlyings' prices and the longer
history their fits need); then computes once, for all positions and
all underlyings: valuation and Greeks (vectorized over positions), factor betas and
residual variances, realized volatilities. The portfolio layer
(:mod:`~sigmasight_lib.runs.portfolio_layer`) aggregates every portfolio from it.

A layer is identified by :class:`SecurityLayerKey` (as-of, provider, parameter
hash): two batches with the same key compute the same security figures.

Equality with the per-portfolio path (``run_<engine>``): an engine that loads
``h`` sessions of history gets :meth:`SecurityLayer.inputs_for` ``(h)`` — the same
price rows as a load of ``h`` sessions, returns recomputed from them (the first
observation of each symbol has no return, exactly as a fresh load), curves sliced
the same way. Price *levels* are the full loaded levels for every ``h``: engines
only look levels up at the days they value (the as-of, or the days of a snapshot
backfill), the sessions before them and settlement sessions.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    ContractGreeks,
    FactorDefinition,
    Portfolio,
    SecurityAnalytics,
    SecurityFactorBeta,
    SecurityLayerRecord,
)
from sigmasight_lib.engines.factors import FactorBetas
from sigmasight_lib.engines.greeks import realized_volatility
from sigmasight_lib.exceptions import MarketDataError
from sigmasight_lib.lineage import code_version
from sigmasight_lib.marketdata import MarketDataProvider
from sigmasight_lib.marketdata.calendar import previous_session, sessions_window
from sigmasight_lib.params import EngineParams
from sigmasight_lib.runs.inputs import (
    HISTORY_MARGIN_SESSIONS,
    MarketInputs,
    ProxySet,
    ScenarioSet,
    factor_proxies,
    proxy_tickers,
    with_expiry_closes,
)
from sigmasight_lib.runs.securities import (
    FactorModel,
    compute_position_analytics,
    fit_factor_model,
    position_notes,
    usable_factor_returns,
)

CURVE_MARGIN_DAYS = 10
"""Calendar days of treasury curve loaded before a window (as :func:`load_market_inputs`)."""


def history_sessions(params: EngineParams) -> dict[str, int]:
    """Sessions of history each engine loads (``run_<engine>``), before the
    realized-vol floor ``greeks.realized_vol_sessions + 1``."""
    fp, mp, rp = params.factors, params.market_risk, params.risk_metrics
    margin = HISTORY_MARGIN_SESSIONS
    return {
        "valuation": 0,
        "greeks": 0,
        "exposures": 0,
        "factors": fp.window + 1,
        "snapshot": fp.window + 1,
        "market_risk": fp.window + 1 + max(mp.rate_window - fp.window, 0) + margin,
        "risk_metrics": fp.window + 1 + max(rp.window - fp.window, 0) + margin,
        "stress": max(fp.window, params.stress.lookback) + 1 + margin,
        "correlations": params.correlations.window + 1 + margin,
    }


@dataclass(frozen=True)
class SecurityLayerKey:
    """What a security layer's figures depend on besides the market data cache."""

    as_of: dt.date
    provider: str
    params_hash: str


def params_hash(params: EngineParams, factor_definitions: list[dict], scenarios: str) -> str:
    """sha256 of the canonical JSON of the engine parameters, the factor definitions,
    the stress scenario set (file text) and the code version."""
    doc = {
        "params": params.model_dump(mode="json"),
        "factors": factor_definitions,
        "scenarios": scenarios,
        "code_version": code_version(),
    }
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class SecurityLayer:
    """Security-level inputs and fits for every position of a set of portfolios.

    Attributes
    ----------
    key : SecurityLayerKey
    as_of : date
    params : EngineParams
    portfolio_names : dict of int to str
        Portfolio id -> name, for every portfolio of the layer (also those holding
        nothing at the as-of).
    positions : DataFrame
        :func:`~sigmasight_lib.db.store.load_positions_many` (index = position id,
        column ``portfolio_id``).
    valuation, greeks : DataFrame
        :func:`~sigmasight_lib.runs.securities.compute_position_analytics` of all
        positions (index = position id).
    inputs : MarketInputs
        Market data of the union of underlyings and every factor proxy, with the
        longest history any engine loads.
    equity, macro, rates : tuple
        :func:`~sigmasight_lib.runs.inputs.factor_proxies` of the market / style,
        the macro / rate and the rate factors.
    notes : dict of int to tuple of str
        Each portfolio's position-analytics notes (what ``run_valuation`` reports).
    scenario_set : ScenarioSet or None
        The stress scenarios (their file text is part of :attr:`key`); None: no stress.
    snapshot_backfill : int
        Sessions before the as-of the layer has the data of a snapshot backfill for:
        :attr:`held` over them, the prices of every underlying held then and the
        history their factor fits need.
    held : DataFrame
        :func:`~sigmasight_lib.db.store.load_positions_on_days` of the
        ``snapshot_backfill`` sessions before the as-of and the as-of (the rows of the
        as-of are :attr:`positions`).
    """

    key: SecurityLayerKey
    as_of: dt.date
    params: EngineParams
    portfolio_names: dict[int, str]
    positions: pd.DataFrame
    valuation: pd.DataFrame
    greeks: pd.DataFrame
    inputs: MarketInputs
    equity: ProxySet
    macro: ProxySet
    rates: ProxySet
    notes: dict[int, tuple[str, ...]]
    _table: pd.DataFrame = field(repr=False)
    _cache: dict = field(default_factory=dict, repr=False, compare=False)
    scenario_set: ScenarioSet | None = None
    snapshot_backfill: int = 0
    held: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    @classmethod
    def build(
        cls,
        session: Session,
        provider: MarketDataProvider,
        params: EngineParams,
        as_of: dt.date,
        portfolio_ids: list[int],
        *,
        scenario_set: ScenarioSet | None = None,
        snapshot_backfill: int = 0,
    ) -> SecurityLayer:
        """Load and compute the layer of ``portfolio_ids`` at ``as_of`` (a resolved session).

        Parameters
        ----------
        scenario_set : ScenarioSet, optional
            The stress scenarios (:func:`~sigmasight_lib.runs.inputs.load_scenario_set`):
            its file text enters the key; the layered stress engine reads its scenarios.
        snapshot_backfill : int, default=0
            Sessions before ``as_of`` a layered snapshot may backfill: the positions
            held on them are loaded too, with their underlyings' prices (and the
            settlement closes of their options), and the history reaches
            ``factors.window + 1`` sessions before the first of them.
        """
        ids = sorted({int(i) for i in portfolio_ids})
        names = {
            p.id: p.name
            for chunk in range(0, len(ids), store.IN_CHUNK)
            for p in session.query(Portfolio).filter(
                Portfolio.id.in_(ids[chunk : chunk + store.IN_CHUNK])
            )
        }
        held = store.load_positions_on_days(
            session, ids, sessions_window(as_of, snapshot_backfill + 1)
        )
        positions = held.loc[held["as_of"] == as_of].drop(columns="as_of")
        equity = factor_proxies(session, provider.name, params.factors.factor_types)
        macro = factor_proxies(session, provider.name, ("macro", "rates"))
        rates = factor_proxies(session, provider.name, ("rates",))
        definitions = [
            {"name": f.name, "type": f.factor_type, "proxies": f.proxies, "order": f.display_order}
            for f in store.load_factor_definitions(session)
        ]
        key = SecurityLayerKey(
            as_of,
            provider.name,
            params_hash(params, definitions, scenario_set.text if scenario_set else ""),
        )
        sessions = history_sessions(params)
        longest = max(
            *sessions.values(),
            sessions["snapshot"] + snapshot_backfill,
            params.greeks.realized_vol_sessions + 1,
        )
        start = sessions_window(as_of, longest)[0]
        symbols = sorted({*held["underlying"].unique(), *proxy_tickers(equity[0], macro[0])})
        is_option = positions["option_type"].isin(["C", "P"])
        option_symbols = sorted(set(positions.loc[is_option, "symbol"]))
        table = store.load_price_table(session, symbols, start, as_of)
        quotes = provider.fetch_option_quotes(option_symbols, as_of) if option_symbols else None
        inputs = MarketInputs(
            provider=provider.name,
            levels=store.price_levels(table),
            returns=store.daily_returns(table),
            curves=store.load_treasury_curves(
                session, start - dt.timedelta(days=CURVE_MARGIN_DAYS), as_of
            ),
            quotes=quotes if quotes is not None and not quotes.empty else None,
            last_observed=store.load_last_observations(session, symbols, as_of),
        )
        inputs = with_expiry_closes(
            session, provider, inputs, held[~held.index.duplicated()], as_of
        )
        layer = cls(
            key, as_of, params, {i: names[i] for i in ids if i in names}, positions,
            pd.DataFrame(), pd.DataFrame(), inputs, equity, macro, rates, {}, table,
            scenario_set=scenario_set, snapshot_backfill=snapshot_backfill, held=held,
        )  # fmt: skip
        valuation, greeks = layer._position_analytics()
        object.__setattr__(layer, "valuation", valuation)
        object.__setattr__(layer, "greeks", greeks)
        object.__setattr__(layer, "notes", layer._analytics_notes())
        return layer

    # ------------------------------------------------------------------ inputs

    def inputs_for(self, sessions: int) -> MarketInputs:
        """The market inputs a per-portfolio run loading ``sessions`` sessions of history
        sees (at least ``greeks.realized_vol_sessions + 1``); see the module docstring."""
        sessions = max(sessions, self.params.greeks.realized_vol_sessions + 1)
        if ("inputs", sessions) not in self._cache:
            start = sessions_window(self.as_of, sessions)[0]
            table = self._table.loc[self._table["date"] >= start]
            curves = self.inputs.curves
            if not curves.empty:
                since = pd.Timestamp(start - dt.timedelta(days=CURVE_MARGIN_DAYS))
                curves = curves.loc[curves.index >= since].dropna(axis=1, how="all")
            self._cache["inputs", sessions] = MarketInputs(
                provider=self.inputs.provider,
                levels=self.inputs.levels,
                returns=store.daily_returns(table),
                curves=curves,
                quotes=self.inputs.quotes,
                last_observed=self.inputs.last_observed,
            )
        return self._cache["inputs", sessions]

    def observed(self, sessions: int) -> pd.DataFrame:
        """Dates × symbols, True where the price table has a row: over the history
        :meth:`inputs_for` ``(sessions)`` covers (its returns' dates are the rows' dates)."""
        key = ("observed", max(sessions, self.params.greeks.realized_vol_sessions + 1))
        if key not in self._cache:
            start = sessions_window(self.as_of, key[1])[0]
            table = self._table.loc[self._table["date"] >= start, ["date", "symbol"]]
            frame = pd.crosstab(pd.to_datetime(table["date"]), table["symbol"]) > 0
            self._cache[key] = frame.sort_index()
        return self._cache[key]

    def engine_inputs(self, engine: str) -> MarketInputs:
        """:meth:`inputs_for` the history ``run_<engine>`` loads."""
        return self.inputs_for(history_sessions(self.params)[engine])

    @property
    def underlyings(self) -> list[str]:
        """Every underlying held, sorted."""
        return sorted(set(self.positions["underlying"]))

    def joined(self) -> pd.DataFrame:
        """Positions, valuation and Greeks side by side, as
        :meth:`~sigmasight_lib.runs.portfolio.PositionAnalytics.joined` (plus ``portfolio_id``)."""
        if "joined" not in self._cache:
            greeks = self.greeks.drop(columns=["underlying_price", "reason"])
            self._cache["joined"] = self.positions.join(self.valuation).join(greeks)
        return self._cache["joined"]

    # ------------------------------------------------------------------ fits

    def factor_model(self, engine: str = "factors") -> FactorModel:
        """Factor betas of every underlying on the history ``run_<engine>`` loads.

        Raises
        ------
        MarketDataError
            When no factor has a usable proxy at the as-of date.
        """
        sessions = max(history_sessions(self.params)[engine], 0)
        if ("factor_model", sessions) not in self._cache:
            proxies, na, _ = self.equity
            self._cache["factor_model", sessions] = fit_factor_model(
                self.inputs_for(sessions), self.underlyings, self.as_of, proxies, na, self.params
            )
        return self._cache["factor_model", sessions]

    def realized_vol(self) -> pd.Series:
        """Annualized realized volatility of every loaded symbol over
        ``greeks.realized_vol_sessions`` sessions up to the as-of (decimal)."""
        returns = self.inputs_for(0).returns
        if returns.empty:
            return pd.Series(dtype=float)
        history = returns.loc[returns.index <= pd.Timestamp(self.as_of)]
        return realized_volatility(history, self.params.greeks.realized_vol_sessions)

    # ------------------------------------------------------------------ storage

    @property
    def reused(self) -> bool:
        """The factor fit came from a stored layer (:meth:`build_or_load`)."""
        return bool(self._cache.get("reused", False))

    def security_analytics(self) -> pd.DataFrame:
        """Per loaded symbol (index, sorted): ``price`` and ``previous_price`` (closes at the
        as-of and the previous session, NaN when missing) and ``realized_vol``."""
        levels = self.inputs.levels
        symbols = sorted(levels.columns)
        inputs = self.inputs_for(0)
        return pd.DataFrame(
            {
                "price": inputs.row(levels, self.as_of).reindex(symbols),
                "previous_price": inputs.row(levels, previous_session(self.as_of)).reindex(symbols),
                "realized_vol": self.realized_vol().reindex(symbols),
            },
            index=pd.Index(symbols, name="symbol"),
        ).astype(float)

    def contract_greeks(self) -> pd.DataFrame:
        """Per option contract held (index = symbol): Greeks per share of underlying (the
        position Greeks / (quantity × multiplier), from its first position with a nonzero
        quantity) and the BSM inputs, columns of :class:`~sigmasight_lib.db.models.ContractGreeks`."""
        positions, greeks = self.positions, self.greeks
        scale = positions["quantity"].astype(float) * positions["multiplier"].astype(float)
        held = positions["option_type"].isin(["C", "P"]) & (scale != 0)
        per_unit = greeks.loc[held, list(_UNIT_GREEKS)].astype(float).div(scale[held], axis=0)
        frame = per_unit.join(greeks.loc[held, list(_CONTRACT_INPUTS)])
        frame.insert(0, "symbol", positions.loc[held, "symbol"])
        return frame.drop_duplicates("symbol").set_index("symbol").sort_index()

    def save(self, session: Session) -> int:
        """Store the layer's security figures under its key (replacing a stored layer of
        the same key), in the caller's transaction: :meth:`security_analytics`, the factor
        fit of the ``factors`` engine (:meth:`factor_model`; none when no factor has usable
        data) and :meth:`contract_greeks`, written by :func:`~sigmasight_lib.db.store.bulk_insert`.

        Returns
        -------
        int
            The ``security_layers`` id.
        """
        key = self.key
        session.execute(
            delete(SecurityLayerRecord).where(
                SecurityLayerRecord.as_of == key.as_of,
                SecurityLayerRecord.provider == key.provider,
                SecurityLayerRecord.params_hash == key.params_hash,
            )
        )
        try:
            fit = self.factor_model().fit
        except MarketDataError:
            fit = None
        analytics = self.security_analytics()
        record = SecurityLayerRecord(
            as_of=key.as_of, provider=key.provider, params_hash=key.params_hash,
            code_version=code_version(), securities=len(analytics),
            factor_mode=fit.mode if fit else None, factors=list(fit.factors) if fit else None,
            factor_window_start=_date(fit.window_start) if fit else None,
            factor_window_end=_date(fit.window_end) if fit else None,
        )  # fmt: skip
        session.add(record)
        session.flush()
        store.bulk_insert(
            session, SecurityAnalytics, analytics.reset_index(), constants={"layer_id": record.id}
        )
        if fit is not None:
            store.bulk_insert(
                session, SecurityFactorBeta, _fit_rows(fit, self.equity[2]),
                constants={"layer_id": record.id},
            )  # fmt: skip
        store.bulk_insert(
            session, ContractGreeks, self.contract_greeks().reset_index(),
            constants={"layer_id": record.id},
        )  # fmt: skip
        return record.id

    @staticmethod
    def load(session: Session, key: SecurityLayerKey) -> StoredSecurityLayer | None:
        """The stored layer of ``key`` (:meth:`save`), or None."""
        record = session.scalars(
            select(SecurityLayerRecord).where(
                SecurityLayerRecord.as_of == key.as_of,
                SecurityLayerRecord.provider == key.provider,
                SecurityLayerRecord.params_hash == key.params_hash,
            )
        ).one_or_none()
        if record is None:
            return None
        analytics = _frame(session, SecurityAnalytics, record.id).set_index("symbol")
        greeks = _frame(session, ContractGreeks, record.id).set_index("symbol")
        fit = None
        if record.factors is not None:
            fit = _stored_fit(record, _frame(session, SecurityFactorBeta, record.id), session)
        return StoredSecurityLayer(key, record.id, analytics, fit, greeks)

    @classmethod
    def build_or_load(
        cls,
        session: Session,
        provider: MarketDataProvider,
        params: EngineParams,
        as_of: dt.date,
        portfolio_ids: list[int],
        *,
        scenario_set: ScenarioSet | None = None,
        snapshot_backfill: int = 0,
        save: bool = True,
    ) -> SecurityLayer:
        """:meth:`build`, reusing the factor fit of a stored layer with the same key that
        covers every underlying held (:attr:`reused` says so); otherwise the fit is
        computed and, with ``save``, the layer stored (replacing one of the same key),
        in the caller's transaction."""
        layer = cls.build(
            session, provider, params, as_of, portfolio_ids, scenario_set=scenario_set,
            snapshot_backfill=snapshot_backfill,
        )  # fmt: skip
        stored = cls.load(session, layer.key)
        if stored is not None and stored.covers(layer.underlyings):
            if stored.fit is not None:
                proxies, na, _ = layer.equity
                factor_rets, used, na = usable_factor_returns(
                    layer.inputs_for(history_sessions(params)["factors"]), as_of, proxies, na,
                    params,
                )  # fmt: skip
                fit = _subset_fit(stored.fit, layer.underlyings)
                sessions = history_sessions(params)["factors"]
                layer._cache["factor_model", sessions] = FactorModel(fit, factor_rets, used, na)
            layer._cache["reused"] = True
        elif save:
            layer.save(session)
        return layer

    # ------------------------------------------------------------------ internals

    def _position_analytics(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        valuation, greeks, _ = compute_position_analytics(
            self.positions, self.inputs_for(0), self.as_of, self.params
        )
        return valuation, greeks

    def _analytics_notes(self) -> dict[int, tuple[str, ...]]:
        """Each portfolio's :func:`position_notes`, as if its positions were analysed alone."""
        inputs, day, params = self.inputs_for(0), self.as_of, self.params
        notes = position_notes(
            self.positions, inputs, day, params, by=self.positions["portfolio_id"]
        )
        empty = position_notes(self.positions.iloc[:0], inputs, day, params)
        return {pid: notes.get(pid, empty) for pid in self.portfolio_names}


def portfolio_index(layer: SecurityLayer) -> tuple[np.ndarray, pd.Index]:
    """``(codes, portfolios)``: each position's row in ``portfolios`` (every portfolio of
    the layer, ascending id)."""
    portfolios = pd.Index(sorted(layer.portfolio_names), name="portfolio_id")
    return portfolios.get_indexer(layer.positions["portfolio_id"]), portfolios


_UNIT_GREEKS = ("delta", "gamma", "theta", "vega", "rho")
_CONTRACT_INPUTS = (
    "model_price", "implied_vol", "vol_source", "years_to_expiry", "risk_free_rate", "reason",
)  # fmt: skip


@dataclass(frozen=True)
class StoredSecurityLayer:
    """A security layer as stored (:meth:`SecurityLayer.save`).

    Attributes
    ----------
    key : SecurityLayerKey
    layer_id : int
        ``security_layers.id``.
    analytics : DataFrame indexed by symbol
        :meth:`SecurityLayer.security_analytics`.
    fit : FactorBetas or None
        The ``factors`` engine's fit (None when no factor had usable data).
    contract_greeks : DataFrame indexed by contract symbol
        :meth:`SecurityLayer.contract_greeks`.
    """

    key: SecurityLayerKey
    layer_id: int
    analytics: pd.DataFrame
    fit: FactorBetas | None
    contract_greeks: pd.DataFrame

    def covers(self, underlyings: list[str]) -> bool:
        """Every one of ``underlyings`` has stored figures (and a stored fit row)."""
        if not set(underlyings) <= set(self.analytics.index):
            return False
        return self.fit is None or set(underlyings) <= set(self.fit.betas.index)


def _date(value: pd.Timestamp | None) -> dt.date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _frame(session: Session, model: type, layer_id: int) -> pd.DataFrame:
    """Every row of ``model`` of the layer, without ``id`` and ``layer_id``."""
    table = model.__table__
    columns = [c for c in table.columns if c.name not in ("id", "layer_id")]
    rows = session.execute(select(*columns).where(table.c.layer_id == layer_id)).all()
    return pd.DataFrame(rows, columns=[c.name for c in columns])


def _fit_rows(fit: FactorBetas, factor_ids: dict[str, int]) -> pd.DataFrame:
    """One row per (security, factor) of ``fit``, the security statistics repeated."""
    factors = list(fit.factors)
    n, k = len(fit.betas.index), len(factors)
    per_security = {
        "alpha": fit.alpha, "alpha_t_stat": fit.t_stats["alpha"], "r_squared": fit.r_squared,
        "residual_variance": fit.residual_variance, "condition_number": fit.condition_number,
        "observations": fit.observations, "reason": fit.reasons,
    }  # fmt: skip
    frame = pd.DataFrame(
        {
            "symbol": np.repeat(fit.betas.index.to_numpy(dtype=object), k),
            "factor_id": np.tile([factor_ids[f] for f in factors], n),
            "beta": fit.betas[factors].to_numpy(dtype=float).ravel(),
            "beta_uncapped": fit.betas_uncapped[factors].to_numpy(dtype=float).ravel(),
            "t_stat": fit.t_stats[factors].to_numpy(dtype=float).ravel(),
            "capped": fit.capped[factors].to_numpy(dtype=bool).ravel(),
        }
    )
    for name, series in per_security.items():
        frame[name] = np.repeat(series.to_numpy(), k)
    return frame


def _stored_fit(record: SecurityLayerRecord, rows: pd.DataFrame, session: Session) -> FactorBetas:
    """The :class:`FactorBetas` of the stored rows (securities sorted)."""
    names = dict(session.execute(select(FactorDefinition.id, FactorDefinition.name)).all())
    factors = list(record.factors or [])
    rows = rows.assign(factor=rows["factor_id"].map(names))
    assets = pd.Index(sorted(set(rows["symbol"])), name="symbol")

    def wide(column: str, dtype: type = float) -> pd.DataFrame:
        table = rows.pivot(index="symbol", columns="factor", values=column)
        return table.reindex(index=assets, columns=factors).astype(dtype).rename_axis(columns=None)

    first = rows.drop_duplicates("symbol").set_index("symbol").reindex(assets)

    def series(column: str, name: str, dtype: type = float) -> pd.Series:
        return first[column].astype(dtype).rename(name)

    t_stats = wide("t_stat")
    t_stats.insert(0, "alpha", series("alpha_t_stat", "alpha"))
    reasons = first["reason"].astype(object)
    return FactorBetas(
        betas=wide("beta"), betas_uncapped=wide("beta_uncapped"), t_stats=t_stats,
        alpha=series("alpha", "alpha"), r_squared=series("r_squared", "r_squared"),
        observations=series("observations", "observations", int),
        capped=wide("capped", bool),
        condition_number=series("condition_number", "condition_number"),
        residual_variance=series("residual_variance", "residual_variance"),
        reasons=reasons.where(reasons.notna(), None).rename("reason"),
        mode=record.factor_mode or "", factors=tuple(factors),
        window_start=pd.Timestamp(record.factor_window_start) if record.factor_window_start else None,
        window_end=pd.Timestamp(record.factor_window_end) if record.factor_window_end else None,
    )  # fmt: skip


def _subset_fit(fit: FactorBetas, securities: list[str]) -> FactorBetas:
    """``fit`` restricted to ``securities``, in their order (as a fit of those alone)."""
    frames = {
        name: getattr(fit, name).reindex(securities)
        for name in ("betas", "betas_uncapped", "t_stats", "alpha", "r_squared", "observations",
                     "capped", "condition_number", "residual_variance", "reasons")
    }  # fmt: skip
    return replace(fit, **frames)
