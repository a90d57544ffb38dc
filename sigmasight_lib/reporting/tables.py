"""Report data: what a portfolio report shows, read from the stored engine results.

:func:`load_report_data` reads, for one portfolio and as-of date, every result
table the engines saved (see :mod:`sigmasight_lib.runs`) and returns a frozen
:class:`ReportData`: :class:`ReportMetadata` plus one :class:`ReportSection` per
group of :data:`GROUPS`. A group whose engine stored nothing for the date is
N/A with the reason (``"not run for 2017-03-29"``); the rest of the report is
still built. Nothing is recomputed: sections hold the stored figures and their
sums and joins. The one derived figure is each position's
``correlation_to_portfolio`` in :func:`positions_table` (see there).

Flat metric keys
----------------
Every section's :attr:`ReportSection.metrics` is one flat mapping of key to a
JSON scalar (float, int, str, bool or None; dates as ISO strings), and it is
exactly what ``report.json`` holds for that group:

- portfolio-level figures use the engine run's summary key
  (``net_liquidation_value_usd``, ``portfolio_delta``, ``market_dollar_beta_usd``,
  ``var_95_usd``, ``worst_scenario``, ``average_correlation``);
- per-item figures are ``<item>.<metric>`` with the item written by
  :func:`item_key` (lower case, ``[a-z0-9_]``): ``market_down_10.correlated_pnl_usd``,
  ``low_volatility.beta_to_gross``, ``sector.energy.net_exposure_usd``, ``vol_sources.realized``;
- list entries are numbered from 1: ``most_correlated.1.asset_1``,
  ``excluded.2.reason``.

Every key therefore matches ``^[a-z0-9_]+(\\.[a-z0-9_]+)*$`` (checked by
``report.schema.json``).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import (
    LIBRARY_SCENARIO_SET,
    BatchJob,
    BatchRun,
    ExposureResult,
    FactorCorrelation,
    FactorDefinition,
    MarketDataCoverage,
    MarketPrice,
    MarketRiskScenarioResult,
    Portfolio,
    PortfolioCorrelationMetrics,
    PortfolioFactorExposure,
    PortfolioSnapshot,
    Position,
    PositionCorrelation,
    PositionFactorExposure,
    PositionGreeks,
    PositionHistory,
    PositionInterestRateBeta,
    PositionRiskContribution,
    PositionValuation,
    RiskMetric,
    StressResult,
    StressScenario,
)
from sigmasight_lib.engines.exposures import METRIC_COLUMNS
from sigmasight_lib.engines.factors import MARKET_BETA_KEYS, PORTFOLIO_BETA_COLUMNS
from sigmasight_lib.engines.snapshot import SNAPSHOT_COLUMNS
from sigmasight_lib.engines.valuation import value_totals
from sigmasight_lib.exceptions import NotFoundError
from sigmasight_lib.params import BenchmarkParams

GROUPS: tuple[str, ...] = (
    "valuation",
    "greeks",
    "exposures",
    "factors",
    "market_risk",
    "stress_tests",
    "correlations",
    "risk_metrics",
    "performance",
    "snapshot",
    "data_quality",
)
"""Report groups, in report order (the keys of ``report.json`` besides ``metadata``)."""

GROUP_TITLES: dict[str, str] = {
    "valuation": "Valuation",
    "greeks": "Greeks",
    "exposures": "Exposures",
    "factors": "Factors",
    "market_risk": "Market and rate scenarios",
    "stress_tests": "Stress tests",
    "correlations": "Correlations",
    "risk_metrics": "Risk metrics",
    "performance": "Performance (constant-holdings back-cast)",
    "snapshot": "Snapshot",
    "data_quality": "Data quality",
}
"""Section heading of each group."""

GROUP_JOBS: dict[str, str] = {
    "valuation": "valuation",
    "greeks": "greeks",
    "exposures": "exposures",
    "factors": "factors",
    "market_risk": "market_risk",
    "stress_tests": "stress",
    "correlations": "correlations",
    "risk_metrics": "risk_metrics",
    "performance": "exposures",
    "snapshot": "snapshot",
    "data_quality": "market_data",
}
"""Group → the engine (batch job name) whose stored results it reads (performance:
the back-cast is built from the stored exposures and the cached prices)."""

RESULT_MODELS: dict[str, type] = {
    "valuation": PositionValuation,
    "greeks": PositionGreeks,
    "exposures": ExposureResult,
    "factors": PortfolioFactorExposure,
    "market_risk": MarketRiskScenarioResult,
    "stress_tests": StressResult,
    "correlations": PortfolioCorrelationMetrics,
    "risk_metrics": RiskMetric,
    "snapshot": PortfolioSnapshot,
}
"""Group → the result table whose rows for (portfolio, as-of) mean "the engine ran"."""

CSV_FACTORS: tuple[str, ...] = (
    "Market",
    "Value",
    "Growth",
    "Momentum",
    "Quality",
    "Size",
    "Low Volatility",
)
"""Factors with a ``beta_<factor>`` column in positions.csv (the market and style
factors of ``params/factors.yaml``). A factor without data (Growth offline) keeps
its column, empty, so that the column set never depends on the data."""

POSITION_CSV_COLUMNS: tuple[str, ...] = (
    # identity
    "position_id",
    "symbol",
    "underlying",
    "position_type",
    "quantity",
    "multiplier",
    "strike",
    "expiry",
    "option_type",
    "tags",
    "sector",
    # valuation (USD)
    "price",
    "price_source",
    "market_value_usd",
    "exposure_usd",
    "unrealized_pnl_usd",
    "realized_pnl_usd",
    "daily_pnl_usd",
    # Greeks (position level, mibian units)
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
    "implied_vol",
    "delta_adjusted_exposure_usd",
    # factors
    *(f"beta_{'_'.join(f.lower().split())}" for f in CSV_FACTORS),
    "factor_r_squared",
    # rates, correlation, risk
    "ir_beta",
    "correlation_to_portfolio",
    "risk_contribution_share",
    "notes",
)
"""Columns of positions.csv, in order (37). ``tags`` are joined with ``"; "``;
``notes`` holds the position's exclusion reasons and, for each engine feeding
the file that has no results for the as-of date, ``"<group>: <reason>"``."""

CSV_COLUMN_GROUPS: dict[str, tuple[str, ...]] = {
    "valuation": (
        "price",
        "price_source",
        "market_value_usd",
        "exposure_usd",
        "unrealized_pnl_usd",
        "realized_pnl_usd",
        "daily_pnl_usd",
    ),
    "greeks": ("delta", "gamma", "theta", "vega", "rho", "implied_vol"),
    "factors": (*(c for c in POSITION_CSV_COLUMNS if c.startswith("beta_")), "factor_r_squared"),
    "market_risk": ("ir_beta",),
    "risk_metrics": ("risk_contribution_share",),
}
"""Which positions.csv columns come from which group's stored results."""

CORRELATION_MIN_OBS = 20
"""Fewest common return days for a position's ``correlation_to_portfolio`` (else NaN)."""

_KEY_RE = re.compile(r"[^a-z0-9]+")


def item_key(label: Any) -> str:
    """``label`` as one segment of a flat metric key: lower case, runs of anything
    outside ``[a-z0-9]`` become ``_`` (``"Low Volatility"`` → ``low_volatility``,
    ``"BRK.B"`` → ``brk_b``, ``"^VIX"`` → ``vix``). An empty result gives ``"x"``."""
    return _KEY_RE.sub("_", str(label).lower()).strip("_") or "x"


# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class ReportSection:
    """One report group: its flat metrics and tables, or N/A with the reason.

    Attributes
    ----------
    name : str
        One of :data:`GROUPS`.
    metrics : dict
        Flat JSON scalars (module docstring); empty or partial when N/A.
    tables : dict of str to DataFrame
        The stored rows behind the metrics (shapes in each loader's docstring).
    reason : str or None
        Why the group is N/A (``"not run for 2017-03-29"``), failed or stale; None
        when it is ok.
    batch_run_ids : tuple of int
        Batch runs that produced the rows (empty for ad-hoc CLI runs).
    state : str or None
        ``"failed"`` (the newest job of the engine for this as-of failed after the
        stored figures were computed) or ``"stale"`` (the positions changed after
        they were computed); None for ok and plain N/A. Failed and stale sections
        show no figures.
    run_id, run_kind, computed_at
        The run (``batch`` or ``manual``) and time of the stored figures (for a
        failed or stale section: of the figures withheld); None when there are none.
    """

    name: str
    metrics: dict[str, Any] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    reason: str | None = None
    batch_run_ids: tuple[int, ...] = ()
    state: str | None = None
    run_id: int | None = None
    run_kind: str | None = None
    computed_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def status(self) -> str:
        """``"ok"``, ``"failed"``, ``"stale"`` or ``"n/a"``."""
        return "ok" if self.reason is None else (self.state or "n/a")

    @property
    def title(self) -> str:
        return GROUP_TITLES.get(self.name, self.name)

    def table(self, name: str) -> pd.DataFrame:
        """The table ``name``, or an empty frame."""
        return self.tables.get(name, pd.DataFrame())


@dataclass(frozen=True)
class ReportMetadata:
    """Who, when and from what: the report header.

    ``run_id`` is the newest run (batch or manual) found on the results shown (None
    when no shown result carries a run id); ``provider`` and ``code_version`` come
    from that run, else from the coverage rows / price cache and the current
    checkout.
    """

    portfolio: str
    portfolio_id: int
    portfolio_slug: str
    owner: str
    owner_name: str | None
    currency: str
    as_of: dt.date
    run_id: int | None
    provider: str | None
    generated_at: dt.datetime
    code_version: str
    positions: int
    missing_groups: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready metadata (dates ISO)."""
        return {
            "portfolio": self.portfolio,
            "portfolio_id": self.portfolio_id,
            "portfolio_slug": self.portfolio_slug,
            "owner": self.owner,
            "owner_name": self.owner_name,
            "currency": self.currency,
            "as_of": self.as_of.isoformat(),
            "run_id": self.run_id,
            "provider": self.provider,
            "generated_at": self.generated_at.isoformat(timespec="seconds"),
            "code_version": self.code_version,
            "positions": self.positions,
            "missing_groups": ", ".join(self.missing_groups) or None,
        }


@dataclass(frozen=True)
class ReportData:
    """Everything a report of one portfolio at one as-of date shows.

    Attributes
    ----------
    metadata : ReportMetadata
    positions : DataFrame
        Positions held at the as-of date, indexed by position id
        (:func:`~sigmasight_lib.db.store.load_positions` columns).
    valuation, greeks, ..., data_quality : ReportSection
        One per :data:`GROUPS` entry.
    """

    metadata: ReportMetadata
    positions: pd.DataFrame
    valuation: ReportSection
    greeks: ReportSection
    exposures: ReportSection
    factors: ReportSection
    market_risk: ReportSection
    stress_tests: ReportSection
    correlations: ReportSection
    risk_metrics: ReportSection
    performance: ReportSection
    snapshot: ReportSection
    data_quality: ReportSection
    position_table: pd.DataFrame = field(default_factory=pd.DataFrame)
    """:data:`POSITION_CSV_COLUMNS` rows, built once by :func:`load_report_data`."""
    returns: pd.DataFrame = field(default_factory=pd.DataFrame)
    """Constant-holdings daily history rebuilt from stored prices and exposures:
    ``pnl_usd``, ``return`` (fraction of gross), by date; empty when unavailable."""

    def sections(self) -> dict[str, ReportSection]:
        """Group name → section, in :data:`GROUPS` order."""
        return {name: getattr(self, name) for name in GROUPS}

    @property
    def missing(self) -> dict[str, str]:
        """Group → reason, for every N/A group."""
        return {n: s.reason for n, s in self.sections().items() if s.reason is not None}


# --------------------------------------------------------------------------- helpers


def _scalar(value: Any) -> Any:
    """A JSON scalar: numpy → Python, NaN/inf → None, dates → ISO strings."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _int(value: Any) -> int | None:
    """An int, or None for None / NaN."""
    return None if value is None or pd.isna(value) else int(value)


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    """Add ``value`` to ``out`` under ``prefix``: mappings by :func:`item_key` of their
    keys, lists numbered from 1, scalars through :func:`_scalar`."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            flatten(f"{prefix}.{item_key(k)}" if prefix else item_key(k), v, out)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value, start=1):
            flatten(f"{prefix}.{i}", v, out)
    else:
        out[prefix] = _scalar(value)


def _frame(session: Session, stmt: Any, columns: list[str]) -> pd.DataFrame:
    """The rows of ``stmt`` as a frame (rows as plain tuples: much faster than Row objects)."""
    return pd.DataFrame.from_records([tuple(r) for r in session.execute(stmt)], columns=columns)


def _rows(session: Session, model: type, portfolio_id: int, as_of: dt.date, *columns: str):
    """Stored rows of ``model`` for (portfolio, as-of) as a frame with ``columns``."""
    stmt = select(*(getattr(model, c) for c in columns)).where(
        model.portfolio_id == portfolio_id, model.as_of == as_of
    )
    return _frame(session, stmt, list(columns))


def _run_ids(frame: pd.DataFrame) -> tuple[int, ...]:
    if frame.empty or "batch_run_id" not in frame:
        return ()
    return tuple(sorted({int(v) for v in frame["batch_run_id"].dropna()}))


def _total(series: pd.Series) -> float:
    return float(np.nansum(pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)))


def _na(name: str, reason: str, **kwargs: Any) -> ReportSection:
    return ReportSection(name, reason=reason, **kwargs)


@dataclass(frozen=True)
class _Context:
    session: Session
    portfolio_id: int
    as_of: dt.date
    positions: pd.DataFrame
    jobs: dict[str, BatchJob]
    scenario_set: str = LIBRARY_SCENARIO_SET

    def missing_reason(self, group: str) -> str:
        """Why ``group`` has no results for the as-of date."""
        day = self.as_of.isoformat()
        job = self.jobs.get(GROUP_JOBS[group])
        if job is not None and job.status in ("failed", "skipped"):
            err = job.error or {}
            detail = err.get("evalue") or err.get("reason")
            ename = err.get("ename")
            detail = f"{ename}: {detail}" if ename and detail else detail
            reason = f"{job.status} for {day} in batch run {job.batch_run_id}"
            reason += f" ({detail})" if detail else ""
        else:
            reason = f"not run for {day}"
        model = RESULT_MODELS.get(group)
        if model is not None:
            latest = self.session.scalar(
                select(func.max(model.as_of)).where(model.portfolio_id == self.portfolio_id)
            )
            if latest is not None and latest != self.as_of:
                reason += f" (latest stored results: {latest.isoformat()})"
        return reason


# --------------------------------------------------------------------------- freshness


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """``value`` as an aware UTC datetime (SQLite returns naive UTC)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def stamp(value: dt.datetime | None) -> str | None:
    """``2026-12-01T09:00:00Z`` (None stays None)."""
    value = _utc(value)
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _figures_origin(ctx: _Context, group: str) -> tuple[int | None, dt.datetime | None]:
    """(run id, computed at) of the newest stored rows of ``group`` for (portfolio, as-of)."""
    model = RESULT_MODELS[group]
    stmt = select(model.batch_run_id, model.computed_at).where(
        model.portfolio_id == ctx.portfolio_id, model.as_of == ctx.as_of
    )
    if group == "stress_tests":
        stmt = stmt.join(StressScenario, StressScenario.id == StressResult.scenario_id).where(
            StressScenario.scenario_set == ctx.scenario_set
        )
    row = ctx.session.execute(stmt.order_by(model.computed_at.desc()).limit(1)).first()
    return (None, None) if row is None else (row[0], _utc(row[1]))


def _positions_change(ctx: _Context) -> tuple[dt.datetime | None, str]:
    """When the portfolio's positions last changed, and what changed (for the reason)."""
    stamped = _utc(
        ctx.session.scalar(
            select(Portfolio.positions_changed_at).where(Portfolio.id == ctx.portfolio_id)
        )
    )
    edit = ctx.session.execute(
        select(PositionHistory.position_id, PositionHistory.field, PositionHistory.old_value,
               PositionHistory.new_value, PositionHistory.changed_at)
        .where(PositionHistory.position_id.in_(
            select(Position.id).where(Position.portfolio_id == ctx.portfolio_id)))
        .order_by(PositionHistory.changed_at.desc(), PositionHistory.id.desc())
        .limit(1)
    ).first()  # fmt: skip
    edited = _utc(edit[4]) if edit is not None else None
    if edited is not None and (stamped is None or edited >= stamped):
        pid, fld, old, new, _ = edit
        return edited, f"position {pid}'s {fld} edit ({old} → {new}) at {stamp(edited)}"
    if stamped is not None:
        return stamped, f"a change to the positions (added, edited or removed) at {stamp(stamped)}"
    return None, ""


def check_freshness(ctx: _Context, section: ReportSection) -> ReportSection:
    """``section`` with the run and time of its figures; ``failed`` or ``stale`` (figures
    withheld, the reason says why) when they are not current.

    Failed: the newest batch or manual job of the engine for this portfolio and as-of
    failed (or was skipped) after the stored figures were computed. Stale: the
    portfolio's positions changed (``portfolios.positions_changed_at``, a
    ``position_history`` edit) after they were computed. A section without stored
    rows is returned as it is (N/A with its reason).
    """
    if section.name not in RESULT_MODELS:
        return section
    run_id, computed = _figures_origin(ctx, section.name)
    if computed is None:
        return section
    run = ctx.session.get(BatchRun, run_id) if run_id is not None else None
    kind = run.kind if run is not None else None
    origin = (
        f"results from {kind or 'batch'} run {run_id} at {stamp(computed)}"
        if run_id is not None
        else f"results saved without a run id at {stamp(computed)}"
    )
    fields = {"run_id": run_id, "run_kind": kind, "computed_at": computed}
    if not section.ok:
        return replace(section, **fields)
    job = ctx.jobs.get(GROUP_JOBS[section.name])
    if job is not None and job.status in ("failed", "skipped") and job.batch_run_id != run_id:
        started = _utc(job.started_at) or _utc(job.batch_run.started_at)
        if started is not None and started > computed:
            err = job.error or {}
            detail = err.get("evalue") or err.get("reason") or "no error recorded"
            detail = f"{err['ename']}: {detail}" if err.get("ename") else detail
            verb = "failed" if job.status == "failed" else "was skipped"
            reason = (
                f"the latest {GROUP_JOBS[section.name]} job of run {job.batch_run_id} "
                f"{verb}: {detail}; stored {origin} are not shown"
            )
            return ReportSection(section.name, reason=reason, state="failed", **fields)
    changed, what = _positions_change(ctx)
    if changed is not None and changed > computed:
        reason = f"{origin} predate {what}; rerun the engine for {ctx.as_of.isoformat()}"
        return ReportSection(section.name, reason=reason, state="stale", **fields)
    return replace(section, **fields)


# --------------------------------------------------------------------------- groups


def _valuation(ctx: _Context) -> ReportSection:
    """Tables: ``positions`` (position id × PositionValuation columns)."""
    v = _rows(ctx.session, PositionValuation, ctx.portfolio_id, ctx.as_of,
              "position_id", "price", "previous_price", "price_source", "underlying_price",
              "market_value_usd", "exposure_usd", "notional_usd", "cost_basis_usd",
              "unrealized_pnl_usd", "realized_pnl_usd", "daily_pnl_usd", "expired", "reason",
              "batch_run_id")  # fmt: skip
    if v.empty:
        return _na("valuation", ctx.missing_reason("valuation"))
    v = v.set_index("position_id")
    metrics = {
        "positions": len(v),
        **value_totals(v),
        "net_exposure_usd": _total(v["exposure_usd"]),
        "unrealized_pnl_usd": _total(v["unrealized_pnl_usd"]),
        "realized_pnl_usd": _total(v["realized_pnl_usd"]),
        "daily_pnl_usd": _total(v["daily_pnl_usd"]),
        "model_priced": int((v["price_source"] == "model").sum()),
        "unpriced": int(v["price"].isna().sum()),
        "expired": int(v["expired"].fillna(False).astype(bool).sum()),
    }
    return ReportSection("valuation", metrics, {"positions": v}, batch_run_ids=_run_ids(v))


def _greeks(ctx: _Context) -> ReportSection:
    """Tables: ``positions`` (position id × PositionGreeks columns)."""
    g = _rows(ctx.session, PositionGreeks, ctx.portfolio_id, ctx.as_of,
              "position_id", "delta", "gamma", "theta", "vega", "rho", "model_price",
              "underlying_price", "years_to_expiry", "implied_vol", "vol_source",
              "risk_free_rate", "reason", "batch_run_id")  # fmt: skip
    if g.empty:
        return _na("greeks", ctx.missing_reason("greeks"))
    g = g.set_index("position_id")
    option_type = ctx.positions["option_type"].reindex(g.index)
    metrics: dict[str, Any] = {
        f"portfolio_{k}": _total(g[k]) for k in ("delta", "gamma", "theta", "vega", "rho")
    }
    metrics["options"] = int(option_type.isin(["C", "P"]).sum())
    metrics["not_computed"] = int(g["delta"].isna().sum())
    flatten("vol_sources", g["vol_source"].dropna().value_counts().to_dict(), metrics)
    return ReportSection("greeks", metrics, {"positions": g}, batch_run_ids=_run_ids(g))


EXPOSURE_METRICS: tuple[str, ...] = METRIC_COLUMNS
"""Stored exposure columns (the exposures run's summary keys)."""

EXPOSURE_BREAKDOWNS: tuple[str, ...] = ("underlying", "sector", "tag", "type")


def _exposures(ctx: _Context) -> ReportSection:
    """Tables: ``portfolio`` (one row, RangeIndex, :data:`EXPOSURE_METRICS`) and one
    per breakdown (``underlying``, ``sector``, ``tag``, ``type``: group key as the
    index, named after the breakdown) — the shapes ``plot_exposures`` takes."""
    e = _rows(ctx.session, ExposureResult, ctx.portfolio_id, ctx.as_of,
              "group_by", "group_key", *EXPOSURE_METRICS, "batch_run_id")  # fmt: skip
    if e.empty:
        return _na("exposures", ctx.missing_reason("exposures"))
    total = e[e["group_by"] == "portfolio"]
    tables: dict[str, pd.DataFrame] = {
        "portfolio": total[list(EXPOSURE_METRICS)].reset_index(drop=True)
    }
    metrics: dict[str, Any] = {}
    if not total.empty:
        row = total.iloc[0]
        metrics = {k: _scalar(row[k]) for k in EXPOSURE_METRICS}
        for k in ("position_count", "long_count", "short_count"):
            metrics[k] = int(row[k])
    for by in EXPOSURE_BREAKDOWNS:
        part = e[e["group_by"] == by]
        frame = part.set_index("group_key")[list(EXPOSURE_METRICS)]
        frame.index.name = by
        tables[by] = frame
        for key, r in frame.iterrows():
            item = f"{by}.{item_key(key)}"
            metrics[f"{item}.gross_exposure_usd"] = _scalar(r["gross_exposure_usd"])
            metrics[f"{item}.net_exposure_usd"] = _scalar(r["net_exposure_usd"])
    return ReportSection("exposures", metrics, tables, batch_run_ids=_run_ids(e))


def _factor_definitions(session: Session) -> pd.DataFrame:
    stmt = select(
        FactorDefinition.id, FactorDefinition.name, FactorDefinition.factor_type,
        FactorDefinition.proxies, FactorDefinition.display_order,
    ).order_by(FactorDefinition.display_order, FactorDefinition.id)  # fmt: skip
    return _frame(session, stmt, ["id", "name", "factor_type", "proxies", "display_order"])


def _factors(ctx: _Context, factors: pd.DataFrame, dae: pd.Series) -> ReportSection:
    """Tables: ``portfolio`` (indexed by factor name: ``factor_type``,
    ``dollar_beta_usd``, ``beta_to_gross``, ``beta_to_net`` of the delta-adjusted
    exposure, ``positions``, ``reason``, ``beta_to_net_reason`` — the shape
    ``plot_factor_betas`` takes), ``positions`` (position id × ``beta_<factor>``
    columns, ``r_squared``, ``reason``) and ``capped`` (one row per capped position
    beta: ``position_id``, ``factor``, ``beta``, ``beta_uncapped``, ``t_stat``)."""
    pf = _rows(ctx.session, PortfolioFactorExposure, ctx.portfolio_id, ctx.as_of,
               "factor_id", *PORTFOLIO_BETA_COLUMNS, "details", "batch_run_id")  # fmt: skip
    pos = _rows(ctx.session, PositionFactorExposure, ctx.portfolio_id, ctx.as_of,
                "position_id", "factor_id", "beta", "beta_uncapped", "t_stat", "exposure_usd",
                "r_squared", "observations", "capped", "reason", "batch_run_id")  # fmt: skip
    if pf.empty:
        return _na("factors", ctx.missing_reason("factors"))
    names = dict(zip(factors["id"], factors["name"], strict=True))
    types = dict(zip(factors["name"], factors["factor_type"], strict=True))
    pf["factor"] = pf["factor_id"].map(names)
    details = pf["details"].apply(lambda d: d if isinstance(d, dict) else {})
    pf["positions"] = details.apply(lambda d: d.get("positions"))
    pf["reason"] = details.apply(lambda d: d.get("reason"))
    pf["beta_to_net_reason"] = details.apply(lambda d: d.get("beta_to_net_reason"))
    pf["mode"] = details.apply(lambda d: d.get("mode"))
    order = {n: i for i, n in enumerate(factors["name"])}
    pf = pf.sort_values("factor", key=lambda s: s.map(order))
    portfolio = pf.set_index("factor")[
        [*PORTFOLIO_BETA_COLUMNS, "positions", "reason", "beta_to_net_reason"]
    ]
    portfolio.insert(0, "factor_type", [types.get(n) for n in portfolio.index])

    metrics: dict[str, Any] = {
        "mode": next((m for m in pf["mode"] if m), None),
        "exposure_basis": "delta-adjusted",
    }
    for name, r in portfolio.iterrows():
        k = item_key(name)
        for c in PORTFOLIO_BETA_COLUMNS:
            metrics[f"{k}.{c}"] = _scalar(r[c])
        metrics[f"{k}.positions"] = _int(r["positions"])
        metrics[f"{k}.reason"] = _scalar(r["reason"])
        metrics[f"{k}.beta_to_net_reason"] = _scalar(r["beta_to_net_reason"])
    metrics["factors_with_data"] = int(portfolio["beta_to_gross"].notna().sum())
    metrics["factors_not_available"] = int(portfolio["beta_to_gross"].isna().sum())

    positions = pd.DataFrame(index=pd.Index([], name="position_id"))
    capped = pd.DataFrame(columns=["position_id", "factor", "beta", "beta_uncapped", "t_stat"])
    if not pos.empty:
        pos["factor"] = pos["factor_id"].map(names)
        capped = pos.loc[pos["capped"].astype(bool), list(capped.columns)].reset_index(drop=True)
        positions = pos.pivot_table(
            index="position_id", columns="factor", values="beta", aggfunc="first", dropna=False
        )
        positions.columns = [f"beta_{item_key(c)}" for c in positions.columns]
        first = pos.groupby("position_id").first()
        positions = positions.join(first[["r_squared", "observations", "reason"]])
        r2 = positions["r_squared"].astype(float)
        weights = dae.reindex(positions.index).abs()
        ok = r2.notna() & weights.notna() & (weights > 0)
        metrics["r_squared_weighted"] = (
            float((r2[ok] * weights[ok]).sum() / weights[ok].sum()) if ok.any() else None
        )
        metrics["r_squared_median"] = _scalar(r2.median()) if r2.notna().any() else None
        metrics["r_squared_min"] = _scalar(r2.min()) if r2.notna().any() else None
        metrics["r_squared_max"] = _scalar(r2.max()) if r2.notna().any() else None
    metrics["capped_betas"] = len(capped)
    ids = _run_ids(pf) or _run_ids(pos)
    tables = {"portfolio": portfolio, "positions": positions, "capped": capped}
    return ReportSection("factors", metrics, tables, batch_run_ids=ids)


BACKTEST_KEYS: tuple[str, ...] = (
    "days",
    "rmse_usd",
    "mean_abs_error_usd",
    "correlation",
    "hit_rate",
)


def _market_risk(ctx: _Context) -> ReportSection:
    """Tables: ``scenarios`` (indexed by scenario: ``scenario_type``, ``shock``,
    ``pnl_usd``; the backtest row left out) and ``positions`` (position id ×
    ``ir_beta``, ``r_squared``, ``observations``)."""
    s = _rows(ctx.session, MarketRiskScenarioResult, ctx.portfolio_id, ctx.as_of,
              "scenario", "scenario_type", "shock", "pnl_usd", "details", "batch_run_id")  # fmt: skip
    ir = _rows(ctx.session, PositionInterestRateBeta, ctx.portfolio_id, ctx.as_of,
               "position_id", "ir_beta", "r_squared", "observations", "batch_run_id")  # fmt: skip
    if s.empty:
        return _na("market_risk", ctx.missing_reason("market_risk"))
    details = s["details"].apply(lambda d: d if isinstance(d, dict) else {})
    market = s[s["scenario_type"] == "market"]
    rates = s[s["scenario_type"] == "rates"]
    backtest = s[s["scenario_type"] == "backtest"]
    first = details[market.index[0]] if len(market) else details.iloc[0]
    metrics: dict[str, Any] = {
        **{k: _scalar(first.get(k)) for k in MARKET_BETA_KEYS},
        "rate_exposure_usd": _scalar(details[rates.index[0]].get("exposure_usd"))
        if len(rates)
        else None,
        "market_proxy": first.get("proxy"),
        "rate_proxy": details[rates.index[0]].get("proxy") if len(rates) else None,
        "rate_reason": details[rates.index[0]].get("reason") if len(rates) else None,
    }
    scenarios = s[s["scenario_type"] != "backtest"].set_index("scenario")[
        ["scenario_type", "shock", "pnl_usd"]
    ]
    for name, r in scenarios.iterrows():
        metrics[item_key(name)] = _scalar(r["pnl_usd"])
    bt = details[backtest.index[0]] if len(backtest) else {}
    for k in BACKTEST_KEYS:
        metrics[f"backtest_{k}"] = _int(bt.get(k)) if k == "days" else _scalar(bt.get(k))
    positions = ir.set_index("position_id").drop(columns="batch_run_id")
    metrics["positions_with_ir_beta"] = int(positions["ir_beta"].notna().sum())
    metrics["positions_without_ir_beta"] = int(positions["ir_beta"].isna().sum())
    tables = {"scenarios": scenarios, "positions": positions}
    return ReportSection("market_risk", metrics, tables, batch_run_ids=_run_ids(s))


def _stress(ctx: _Context, provider: str | None) -> ReportSection:
    """Tables: ``scenarios`` (indexed by scenario key: ``name``, ``category``,
    ``direct_pnl_usd``, ``correlated_pnl_usd``, ``partial``, ``unmapped``, ``notes``
    — the engine's summary table, the shape ``plot_stress_pnl`` takes)."""
    stmt = (
        select(StressScenario.key, StressScenario.name, StressScenario.category,
               StressResult.direct_pnl_usd, StressResult.correlated_pnl_usd,
               StressResult.partial, StressResult.details, StressResult.batch_run_id)
        .join(StressScenario, StressScenario.id == StressResult.scenario_id)
        .where(StressResult.portfolio_id == ctx.portfolio_id, StressResult.as_of == ctx.as_of,
               StressScenario.scenario_set == ctx.scenario_set)
        .order_by(StressScenario.id)
    )  # fmt: skip
    rows = _frame(
        ctx.session, stmt,
        ["key", "name", "category", "direct_pnl_usd", "correlated_pnl_usd", "partial",
         "details", "batch_run_id"],
    )  # fmt: skip
    if rows.empty:
        reason = ctx.missing_reason("stress_tests")
        if ctx.scenario_set != LIBRARY_SCENARIO_SET:
            reason = f"scenario set {ctx.scenario_set!r}: {reason}"
        return _na("stress_tests", reason)
    details = rows["details"].apply(lambda d: d if isinstance(d, dict) else {})
    rows["unmapped"] = details.apply(lambda d: ", ".join(d.get("unmapped") or []))
    rows["notes"] = details.apply(lambda d: "; ".join(d.get("notes") or []))
    rows["partial"] = rows["partial"].astype(bool)
    for c in ("direct_pnl_usd", "correlated_pnl_usd"):
        rows[c] = rows[c].astype(float)
    scenarios = rows.set_index("key")[
        ["name", "category", "direct_pnl_usd", "correlated_pnl_usd", "partial", "unmapped", "notes"]
    ]
    correlated = scenarios["correlated_pnl_usd"]
    worst = correlated.idxmin() if correlated.notna().any() else None
    unmapped = sorted({u for d in details for u in (d.get("unmapped") or [])})
    metrics: dict[str, Any] = {
        "scenario_set": ctx.scenario_set,
        "scenarios": len(scenarios),
        "partial": int(scenarios["partial"].sum()),
        "worst_scenario": worst,
        "worst_scenario_name": scenarios.at[worst, "name"] if worst else None,
        "worst_correlated_pnl_usd": _scalar(correlated[worst]) if worst else None,
        "unmapped_factors": ", ".join(unmapped) or None,
    }
    if provider:
        fc = ctx.session.execute(
            select(FactorCorrelation.decay, FactorCorrelation.lookback_days)
            .where(FactorCorrelation.as_of == ctx.as_of, FactorCorrelation.provider == provider)
            .limit(1)
        ).first()  # fmt: skip
        if fc is not None:
            metrics["decay"], metrics["lookback_days"] = float(fc[0]), int(fc[1])
    for key, r in scenarios.iterrows():
        k = item_key(key)
        metrics[f"{k}.name"] = r["name"]
        metrics[f"{k}.category"] = r["category"]
        metrics[f"{k}.direct_pnl_usd"] = _scalar(r["direct_pnl_usd"])
        metrics[f"{k}.correlated_pnl_usd"] = _scalar(r["correlated_pnl_usd"])
        metrics[f"{k}.partial"] = bool(r["partial"])
        metrics[f"{k}.unmapped"] = r["unmapped"] or None
    return ReportSection(
        "stress_tests", metrics, {"scenarios": scenarios}, batch_run_ids=_run_ids(rows)
    )


def _correlations(ctx: _Context) -> ReportSection:
    """Tables: ``most_correlated`` and ``least_correlated`` (``asset_1``, ``asset_2``,
    ``correlation``, ``overlap``), ``clusters`` (asset → ``cluster``),
    ``excluded`` (asset → ``reason``) and ``correlation`` (assets × assets, the
    stored pairs made symmetric, 1 on the diagonal)."""
    m = _rows(ctx.session, PortfolioCorrelationMetrics, ctx.portfolio_id, ctx.as_of,
              "average_correlation", "diversification_ratio", "effective_bets", "window_days",
              "min_overlap", "details", "batch_run_id")  # fmt: skip
    if m.empty:
        return _na("correlations", ctx.missing_reason("correlations"))
    row = m.iloc[0]
    details = row["details"] if isinstance(row["details"], dict) else {}
    pairs = _rows(ctx.session, PositionCorrelation, ctx.portfolio_id, ctx.as_of,
                  "symbol_1", "symbol_2", "correlation", "overlap_days")  # fmt: skip
    assets = sorted(set(pairs["symbol_1"]) | set(pairs["symbol_2"]))
    clusters = pd.Series(details.get("clusters") or {}, dtype="Int64", name="cluster")
    clusters.index.name = "asset"
    if not assets:
        assets = sorted(clusters.index)
    both = pd.concat([
        pairs[["symbol_1", "symbol_2", "correlation"]],
        pairs[["symbol_2", "symbol_1", "correlation"]].set_axis(["symbol_1", "symbol_2", "correlation"], axis=1),
        pd.DataFrame({"symbol_1": assets, "symbol_2": assets, "correlation": 1.0}),
    ])  # fmt: skip
    corr = (
        both.astype({"correlation": float})
        .pivot(index="symbol_1", columns="symbol_2", values="correlation")
        .reindex(index=assets, columns=assets)
    )
    corr.index.name = corr.columns.name = None
    pair_cols = ["asset_1", "asset_2", "correlation", "overlap"]
    most = pd.DataFrame(details.get("most_correlated") or [], columns=pair_cols)
    least = pd.DataFrame(details.get("least_correlated") or [], columns=pair_cols)
    excluded = pd.Series(details.get("excluded") or {}, dtype=object, name="reason")
    excluded.index.name = "asset"
    metrics: dict[str, Any] = {
        "average_correlation": _scalar(row["average_correlation"]),
        "diversification_ratio": _scalar(row["diversification_ratio"]),
        "effective_bets": _scalar(row["effective_bets"]),
        "assets": len(assets),
        "clusters": int(clusters.max()) if len(clusters) else 0,
        "window_days": int(row["window_days"]),
        "min_overlap": int(row["min_overlap"]),
    }
    flatten("excluded", excluded.to_dict(), metrics)
    flatten("most_correlated", most.to_dict(orient="records"), metrics)
    flatten("least_correlated", least.to_dict(orient="records"), metrics)
    flatten("cluster", clusters.to_dict(), metrics)
    tables = {
        "most_correlated": most,
        "least_correlated": least,
        "clusters": clusters.to_frame(),
        "excluded": excluded.to_frame(),
        "correlation": corr,
    }
    return ReportSection("correlations", metrics, tables, batch_run_ids=_run_ids(m))


TOP_CONTRIBUTORS = 5
"""Positions listed as the largest risk contributors."""


def _risk_metrics(ctx: _Context) -> ReportSection:
    """Tables: ``metrics`` (``metric``, ``value``, ``unit``, ``reason``; the engine's
    metrics table) and ``contributions`` (position id × ``symbol``,
    ``factor_contribution_usd2``, ``specific_contribution_usd2``,
    ``total_contribution_usd2``, ``share``; largest share first)."""
    r = _rows(ctx.session, RiskMetric, ctx.portfolio_id, ctx.as_of,
              "metric", "value", "unit", "reason", "batch_run_id")  # fmt: skip
    if r.empty:
        return _na("risk_metrics", ctx.missing_reason("risk_metrics"))
    c = _rows(ctx.session, PositionRiskContribution, ctx.portfolio_id, ctx.as_of,
              "position_id", "factor_contribution_usd2", "specific_contribution_usd2",
              "total_contribution_usd2", "share")  # fmt: skip
    metrics: dict[str, Any] = {}
    for metric, value, reason in r[["metric", "value", "reason"]].itertuples(index=False):
        metrics[item_key(metric)] = _scalar(value)
        if reason:
            metrics[f"{item_key(metric)}.reason"] = reason
    c = c.set_index("position_id")
    c.insert(0, "symbol", ctx.positions["symbol"].reindex(c.index))
    c = c.sort_values("share", ascending=False, key=lambda s: s.abs())
    top = c.head(TOP_CONTRIBUTORS)
    flatten(
        "top_contributors",
        [{"symbol": s, "share": v} for s, v in zip(top["symbol"], top["share"], strict=True)],
        metrics,
    )
    tables = {"metrics": r.drop(columns="batch_run_id"), "contributions": c}
    return ReportSection("risk_metrics", metrics, tables, batch_run_ids=_run_ids(r))


def _snapshot(ctx: _Context) -> ReportSection:
    """Tables: ``snapshot`` (the as-of row) and ``history`` (``as_of`` and
    :data:`SNAPSHOT_COLUMNS`, every stored day up to the as-of date, oldest
    first — the shape ``plot_snapshot_history`` takes)."""
    stmt = (
        select(PortfolioSnapshot.as_of, PortfolioSnapshot.batch_run_id,
               *(getattr(PortfolioSnapshot, c) for c in SNAPSHOT_COLUMNS))
        .where(PortfolioSnapshot.portfolio_id == ctx.portfolio_id,
               PortfolioSnapshot.as_of <= ctx.as_of)
        .order_by(PortfolioSnapshot.as_of)
    )  # fmt: skip
    history = _frame(ctx.session, stmt, ["as_of", "batch_run_id", *SNAPSHOT_COLUMNS])
    today = history[history["as_of"] == ctx.as_of]
    if today.empty:
        return _na("snapshot", ctx.missing_reason("snapshot"))
    row = today.iloc[0]
    metrics = {k: _scalar(row[k]) for k in SNAPSHOT_COLUMNS}
    metrics["position_count"] = _int(row["position_count"])
    metrics["history_days"] = len(history)
    metrics["history_start"] = history["as_of"].iloc[0].isoformat()
    history = history.drop(columns="batch_run_id")
    return ReportSection(
        "snapshot",
        metrics,
        {"snapshot": today.drop(columns="batch_run_id"), "history": history},
        batch_run_ids=_run_ids(today),
    )


COVERAGE_STATUSES: tuple[str, ...] = ("ok", "warning", "minimal", "insufficient")


def _exclusions(ctx: _Context, sections: dict[str, ReportSection]) -> pd.DataFrame:
    """Positions left out of some engine, one row per (position, engine): ``position_id``,
    ``symbol``, ``engine``, ``reason``."""
    pos = ctx.positions
    out: list[tuple[int, str, str]] = []

    def add(pids: Any, engine: str, reasons: Any) -> None:
        for pid, why in zip(pids, reasons, strict=True):
            out.append((int(pid), engine, str(why)))

    val = sections["valuation"]
    if val.ok:
        v = val.table("positions")
        bad = v[v["price"].isna() | v["reason"].notna()]
        add(bad.index, "valuation", bad["reason"].fillna("no price"))
        absent = pos.index.difference(v.index)
        add(absent, "valuation", ["no stored valuation row"] * len(absent))
    gr = sections["greeks"]
    if gr.ok:
        g = gr.table("positions")
        bad = g[g["reason"].notna()]
        add(bad.index, "greeks", bad["reason"])
    fa = sections["factors"]
    if fa.ok and "reason" in fa.table("positions"):
        f = fa.table("positions")
        bad = f[f["reason"].notna()]
        add(bad.index, "factors", bad["reason"])
    mr = sections["market_risk"]
    if mr.ok:
        ir = mr.table("positions")
        bad = ir[ir["ir_beta"].isna()]
        rate_reason = mr.metrics.get("rate_reason")
        add(bad.index, "market_risk",
            [f"no interest-rate beta ({rate_reason or f'{_int(n) or 0} observations'})"
             for n in bad["observations"]])  # fmt: skip
    co = sections["correlations"]
    if co.ok:
        excluded = co.table("excluded")
        if not excluded.empty:
            for pid, u in pos["underlying"].items():
                if u in excluded.index:
                    out.append((int(pid), "correlations", str(excluded.at[u, "reason"])))
    frame = pd.DataFrame(out, columns=["position_id", "engine", "reason"])
    frame.insert(1, "symbol", frame["position_id"].map(pos["symbol"]))
    return frame


def _data_quality(
    ctx: _Context, sections: dict[str, ReportSection], provider: str | None
) -> ReportSection:
    """Tables: ``coverage`` (the portfolio's underlyings: ``status``,
    ``observations``, ``window_sessions``, ``first_date``, ``last_date``,
    ``message``; status ``missing`` when no coverage row) and ``excluded``
    (:func:`_exclusions`)."""
    stmt = select(
        MarketDataCoverage.symbol, MarketDataCoverage.status, MarketDataCoverage.observations,
        MarketDataCoverage.window_sessions, MarketDataCoverage.first_date,
        MarketDataCoverage.last_date, MarketDataCoverage.message, MarketDataCoverage.provider,
        MarketDataCoverage.batch_run_id,
    ).where(MarketDataCoverage.as_of == ctx.as_of)  # fmt: skip
    cov = _frame(
        ctx.session, stmt,
        ["symbol", "status", "observations", "window_sessions", "first_date", "last_date",
         "message", "provider", "batch_run_id"],
    ).set_index("symbol")  # fmt: skip
    excluded = _exclusions(ctx, sections)
    underlyings = sorted(set(ctx.positions["underlying"]))
    mine = cov.drop(columns=["provider", "batch_run_id"]).reindex(underlyings)
    mine.index.name = "symbol"
    mine["status"] = mine["status"].fillna("missing")
    metrics: dict[str, Any] = {"provider": provider}
    metrics["symbols_checked"] = len(cov)
    for s in COVERAGE_STATUSES:
        metrics[f"coverage.{s}"] = int((cov["status"] == s).sum())
    metrics["underlyings"] = len(underlyings)
    for s in (*COVERAGE_STATUSES, "missing"):
        metrics[f"underlyings.{s}"] = int((mine["status"] == s).sum())
    metrics["excluded_positions"] = int(excluded["position_id"].nunique())
    flatten(
        "excluded",
        excluded[["position_id", "symbol", "engine", "reason"]].to_dict(orient="records"),
        metrics,
    )
    tables = {"coverage": mine, "excluded": excluded}
    reason = None
    if cov.empty:
        reason = f"market data coverage not checked for {ctx.as_of.isoformat()}"
        job = ctx.jobs.get("market_data")
        if job is not None and job.status in ("failed", "skipped"):
            reason += f" ({job.status} in batch run {job.batch_run_id})"
    return ReportSection("data_quality", metrics, tables, reason, _run_ids(cov))


# --------------------------------------------------------------------------- positions


def _position_dae(positions: pd.DataFrame, valuation: pd.DataFrame, greeks: pd.DataFrame):
    """Delta-adjusted exposure per position (USD) by the exposures engine's definition."""
    from sigmasight_lib.engines.exposures import delta_adjusted_exposure

    frame = pd.DataFrame(index=positions.index)
    frame["option_type"] = positions["option_type"]
    frame["exposure_usd"] = (
        valuation["exposure_usd"].reindex(positions.index) if not valuation.empty else np.nan
    )
    frame["delta"] = greeks["delta"].reindex(positions.index) if not greeks.empty else np.nan
    under = greeks["underlying_price"] if not greeks.empty else pd.Series(dtype=float)
    if under.isna().all() and not valuation.empty:
        under = valuation["underlying_price"]
    frame["underlying_price"] = under.reindex(positions.index)
    return delta_adjusted_exposure(frame).astype(float)


def _cached_returns(session: Session, symbols: Any, as_of: dt.date, window: int) -> pd.DataFrame:
    """Daily returns (Timestamp dates × symbols) from the cached prices, covering at
    least the last ``window`` sessions up to ``as_of``; empty without prices."""
    start = as_of - dt.timedelta(days=int(window * 1.6) + 30)
    stmt = select(
        MarketPrice.date, MarketPrice.symbol, MarketPrice.close, MarketPrice.adj_close,
        MarketPrice.total_return,
    ).where(
        MarketPrice.symbol.in_(sorted(symbols)), MarketPrice.date >= start,
        MarketPrice.date <= as_of,
    )  # fmt: skip
    table = _frame(session, stmt, ["date", "symbol", "close", "adj_close", "total_return"])
    numeric = ["close", "adj_close", "total_return"]
    table[numeric] = table[numeric].astype(float)
    return store.daily_returns(table)


def _constant_holdings(
    session: Session, exposure: pd.Series, gross: float, as_of: dt.date, window: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Underlying returns and the constant-holdings P&L over the last ``window`` sessions.

    Returns ``(returns, history)``: ``returns`` dates × underlyings (decimal);
    ``history`` by date with ``pnl_usd`` = Σ exposure × return and ``return`` =
    P&L / ``gross`` (Σ |position delta-adjusted exposure|: the risk-metrics
    engine's definition). Both empty when no exposure or no prices.
    """
    exposure = exposure.dropna()
    exposure = exposure[exposure != 0]
    if exposure.empty:
        return pd.DataFrame(), pd.DataFrame(columns=["pnl_usd", "return"])
    returns = _cached_returns(session, exposure.index, as_of, window)
    if returns.empty:
        return returns, pd.DataFrame(columns=["pnl_usd", "return"])
    returns = returns.reindex(columns=list(exposure.index)).iloc[-window:]
    pnl = returns.mul(exposure, axis=1).sum(axis=1, min_count=1).dropna()
    history = pd.DataFrame({"pnl_usd": pnl, "return": pnl / gross})
    history.index.name = "date"
    return returns, history


BACKCAST_BASIS = "constant-holdings back-cast"
"""What the performance section measures (its ``basis`` metric)."""


def backcast_label(sessions: int) -> str:
    """The sentence that labels every performance figure: a back-cast, not a track record."""
    return (
        f"{BACKCAST_BASIS}: today's holdings held fixed over the last {sessions} sessions "
        "— not the realized track record"
    )


def _performance(
    session: Session,
    history: pd.DataFrame,
    as_of: dt.date,
    provider: str | None,
    benchmark: BenchmarkParams,
    risk_free: float,
) -> ReportSection:
    """Performance of the constant-holdings back-cast against the provider's benchmark.

    Tables: ``history`` (Timestamp dates: ``return``, ``cumulative_return``,
    ``drawdown``, ``rolling_volatility``, ``rolling_sharpe``, ``benchmark_return``,
    ``benchmark_cumulative_return``, ``benchmark_rolling_volatility``,
    ``rolling_beta``; benchmark columns NaN without a benchmark), ``monthly``
    (years × months 1-12, compounded return) and ``stats`` (indexed by
    :data:`~sigmasight_lib.engines.performance.STAT_KEYS`: ``value``, ``observations``,
    ``benchmark`` — the benchmark's own figure on the common dates, NaN for the
    relative figures —, ``annualized``, ``reason``). The benchmark is the first of
    ``benchmark.candidates(provider)`` with a price on the as-of date
    (:func:`~sigmasight_lib.engines.performance.choose_benchmark`).
    """
    from sigmasight_lib.engines import performance as perf

    if history.empty:
        return _na(
            "performance",
            "no constant-holdings history: no stored exposure or no cached prices of the "
            "underlyings",
        )
    r = history["return"].astype(float)
    n = len(r)
    candidates = benchmark.candidates(provider)
    cached = _cached_returns(session, candidates, as_of, n + 5) if candidates else pd.DataFrame()
    choice = perf.choose_benchmark({c: cached[c] for c in cached.columns}, candidates, as_of)
    b = pd.Series(choice.returns.to_numpy(dtype=float), index=pd.to_datetime(choice.returns.index))
    b = b.reindex(r.index) if choice.symbol else pd.Series(np.nan, index=r.index)
    stats = perf.performance_stats(
        r, b if choice.symbol else None, risk_free=risk_free, benchmark_reason=choice.reason
    )
    common = b[b.notna() & r.notna()]
    own = perf.performance_stats(common, risk_free=risk_free) if choice.symbol else None
    table = pd.DataFrame(index=r.index)
    table["return"] = r
    table["cumulative_return"] = perf.cumulative_returns(r)
    table["drawdown"] = perf.drawdown(r)
    table["rolling_volatility"] = perf.rolling_volatility(r)
    table["rolling_sharpe"] = perf.rolling_sharpe(r, risk_free=risk_free)
    table["benchmark_return"] = b
    has_b = b.notna()
    table["benchmark_cumulative_return"] = perf.cumulative_returns(b[has_b]).reindex(r.index)
    table["benchmark_rolling_volatility"] = perf.rolling_volatility(b)
    table["rolling_beta"] = perf.rolling_beta(r, b).reindex(r.index)
    table.index.name = "date"
    monthly = perf.monthly_returns(r)

    metrics: dict[str, Any] = {
        "basis": BACKCAST_BASIS,
        "label": backcast_label(n),
        "window_start": r.index[0].date().isoformat(),
        "window_end": r.index[-1].date().isoformat(),
        "observations": stats.observations,
        "benchmark": choice.symbol,
        "benchmark_name": benchmark.name if choice.symbol else None,
        "benchmark_description": benchmark.description if choice.symbol else None,
        "benchmark_reason": choice.reason,
        "benchmark_observations": stats.benchmark_observations,
        "rolling_window": perf.ROLLING_WINDOW,
    }
    for key in perf.STAT_KEYS:
        metrics[key] = _scalar(stats.values[key])
        if key in stats.reasons:
            metrics[f"{key}.reason"] = stats.reasons[key]
    for key in perf.STAT_KEYS:
        if key in perf.BENCHMARK_KEYS:
            continue
        value = own.values[key] if own is not None else math.nan
        metrics[f"benchmark_stats.{key}"] = _scalar(value)
    for (year, month), value in monthly.stack().dropna().items():
        metrics[f"monthly.{year}_{month:02d}"] = _scalar(value)
    observations = {
        k: stats.benchmark_observations if k in perf.BENCHMARK_KEYS else stats.observations
        for k in perf.STAT_KEYS
    }
    stat_table = pd.DataFrame(
        {
            "value": [stats.values[k] for k in perf.STAT_KEYS],
            "observations": [observations[k] for k in perf.STAT_KEYS],
            "benchmark": [
                own.values[k] if own is not None and k not in perf.BENCHMARK_KEYS else math.nan
                for k in perf.STAT_KEYS
            ],
            "annualized": [k in perf.ANNUALIZED_KEYS for k in perf.STAT_KEYS],
            "reason": [stats.reasons.get(k) for k in perf.STAT_KEYS],
        },
        index=pd.Index(perf.STAT_KEYS, name="metric"),
    )
    tables = {"history": table, "monthly": monthly, "stats": stat_table}
    return ReportSection("performance", metrics, tables)


def _build_positions(
    positions: pd.DataFrame,
    sections: dict[str, ReportSection],
    dae: pd.Series,
    correlation: pd.Series,
    missing: dict[str, str],
    excluded: pd.DataFrame,
) -> pd.DataFrame:
    out = pd.DataFrame(index=positions.index)
    out["position_id"] = positions.index.astype(int)
    for c in ("symbol", "underlying", "position_type", "quantity", "multiplier", "strike",
              "expiry", "option_type", "sector"):  # fmt: skip
        out[c] = positions[c]
    out["tags"] = positions["tags"].apply(lambda t: "; ".join(t) if isinstance(t, list) else t)
    out["expiry"] = out["expiry"].apply(lambda d: d.isoformat() if isinstance(d, dt.date) else d)
    val = sections["valuation"].table("positions")
    for c in CSV_COLUMN_GROUPS["valuation"]:
        out[c] = val[c].reindex(out.index) if c in val else np.nan
    gr = sections["greeks"].table("positions")
    for c in CSV_COLUMN_GROUPS["greeks"]:
        out[c] = gr[c].reindex(out.index) if c in gr else np.nan
    out["delta_adjusted_exposure_usd"] = dae.reindex(out.index)
    fac = sections["factors"].table("positions")
    for c in CSV_COLUMN_GROUPS["factors"]:
        src = "r_squared" if c == "factor_r_squared" else c
        out[c] = fac[src].reindex(out.index) if src in fac else np.nan
    ir = sections["market_risk"].table("positions")
    out["ir_beta"] = ir["ir_beta"].reindex(out.index) if "ir_beta" in ir else np.nan
    out["correlation_to_portfolio"] = positions["underlying"].map(correlation)
    rc = sections["risk_metrics"].table("contributions")
    out["risk_contribution_share"] = rc["share"].reindex(out.index) if "share" in rc else np.nan

    notes: dict[int, list[str]] = {int(p): [] for p in out.index}
    for pid, engine, reason in excluded[["position_id", "engine", "reason"]].itertuples(
        index=False
    ):
        notes[int(pid)].append(f"{engine}: {reason}")
    feeding = [g for g in CSV_COLUMN_GROUPS if g in missing]
    for pid in notes:
        notes[pid] += [f"{g}: {missing[g]}" for g in feeding]
    out["notes"] = pd.Series({p: "; ".join(n) or None for p, n in notes.items()}, dtype=object)
    return out[list(POSITION_CSV_COLUMNS)].reset_index(drop=True)


def positions_table(data: ReportData) -> pd.DataFrame:
    """One row per position held at the as-of date, columns :data:`POSITION_CSV_COLUMNS`.

    Values are the stored results joined on the position id (NaN where an
    engine left the position out or did not run; ``notes`` says why).
    ``delta_adjusted_exposure_usd`` uses the exposures engine's definition
    (option delta × underlying price; stocks: their exposure).
    ``correlation_to_portfolio`` is the Pearson correlation, over the last
    risk-metrics window of sessions (default 252), of the underlying's daily
    returns from the stored prices with the portfolio's constant-holdings daily
    P&L (Σ stored delta-adjusted exposure per underlying × return — the
    risk-metrics engine's return series); NaN with fewer than
    :data:`CORRELATION_MIN_OBS` common days.
    """
    return data.position_table.copy()


def executive_summary(data: ReportData) -> dict[str, Any]:
    """The headline figures, picked from the sections (None when a group is N/A).

    Keys: ``net_liquidation_value_usd`` (long − short market value),
    ``gross_market_value_usd``, ``daily_pnl_usd`` (valuation);
    ``gross_exposure_usd``, ``net_exposure_usd`` (exposures);
    ``market_dollar_beta_usd``, ``market_beta_to_gross``, ``market_beta_to_net``
    (factors' Market row, else market risk); ``var_95``, ``var_95_usd``
    (risk metrics, 1-day historical, positive loss); ``worst_scenario``,
    ``worst_scenario_name``, ``worst_correlated_pnl_usd`` (stress tests);
    ``average_correlation`` (correlations).
    """
    v, e, f, m = data.valuation, data.exposures, data.factors, data.market_risk
    r, s, c = data.risk_metrics, data.stress_tests, data.correlations
    betas = {k: f.metrics.get(f"market.{c}") if f.ok else None
             for k, c in zip(MARKET_BETA_KEYS, PORTFOLIO_BETA_COLUMNS, strict=True)}  # fmt: skip
    if all(b is None for b in betas.values()) and m.ok:
        betas = {k: m.metrics.get(k) for k in MARKET_BETA_KEYS}
    return {
        "net_liquidation_value_usd": v.metrics.get("net_liquidation_value_usd") if v.ok else None,
        "gross_market_value_usd": v.metrics.get("gross_market_value_usd") if v.ok else None,
        "daily_pnl_usd": v.metrics.get("daily_pnl_usd") if v.ok else None,
        "gross_exposure_usd": e.metrics.get("gross_exposure_usd") if e.ok else None,
        "net_exposure_usd": e.metrics.get("net_exposure_usd") if e.ok else None,
        **betas,
        "var_95": r.metrics.get("var_95") if r.ok else None,
        "var_95_usd": r.metrics.get("var_95_usd") if r.ok else None,
        "worst_scenario": s.metrics.get("worst_scenario") if s.ok else None,
        "worst_scenario_name": s.metrics.get("worst_scenario_name") if s.ok else None,
        "worst_correlated_pnl_usd": s.metrics.get("worst_correlated_pnl_usd") if s.ok else None,
        "average_correlation": c.metrics.get("average_correlation") if c.ok else None,
    }


# --------------------------------------------------------------------------- entry points


def latest_result_as_of(session: Session, portfolio_id: int) -> dt.date | None:
    """The newest as-of date with any stored engine result of the portfolio (None if none)."""
    latest = [
        session.scalar(select(func.max(model.as_of)).where(model.portfolio_id == portfolio_id))
        for model in RESULT_MODELS.values()
    ]
    found = [d for d in latest if d is not None]
    return max(found) if found else None


@functools.lru_cache(maxsize=1)
def _current_code_version() -> str:
    from sigmasight_lib.lineage import code_version

    return code_version()


def _jobs(session: Session, portfolio_id: int, as_of: dt.date) -> dict[str, BatchJob]:
    """The newest batch job row per job name for (portfolio, as-of), plus the
    as-of's market-data job."""
    stmt = (
        select(BatchJob)
        .join(BatchRun, BatchRun.id == BatchJob.batch_run_id)
        .where(BatchRun.as_of == as_of)
        .where((BatchJob.portfolio_id == portfolio_id) | BatchJob.portfolio_id.is_(None))
        .order_by(BatchRun.id)
    )
    return {job.job_name: job for job in session.scalars(stmt)}


def _provider(session: Session, run: BatchRun | None, as_of: dt.date, symbols: list[str]):
    if run is not None and run.provider:
        return run.provider
    found = session.scalar(
        select(MarketDataCoverage.provider).where(MarketDataCoverage.as_of == as_of).limit(1)
    )
    if found:
        return found
    return session.scalar(
        select(MarketPrice.provider)
        .where(MarketPrice.symbol.in_(symbols), MarketPrice.date <= as_of)
        .order_by(MarketPrice.date.desc())
        .limit(1)
    )


def load_report_data(
    session: Session,
    portfolio_id: int,
    as_of: dt.date,
    *,
    window: int = 252,
    generated_at: dt.datetime | None = None,
    scenario_set: str = LIBRARY_SCENARIO_SET,
    risk_free: float = 0.0,
    benchmark: BenchmarkParams | None = None,
) -> ReportData:
    """Read every stored result of one portfolio at one as-of date.

    Parameters
    ----------
    session : Session
    portfolio_id : int
    as_of : datetime.date
        The valuation date whose results are read.
    window : int, default=252
        Sessions of constant-holdings history for ``correlation_to_portfolio``
        and :attr:`ReportData.returns` (the risk-metrics window).
    generated_at : datetime, optional
        Stamp for the header; default now (UTC).
    scenario_set : str, default="library"
        The stress scenario set shown (a custom file's set by its name).
    risk_free : float, default=0.0
        Risk-free return per day for the performance section's Sharpe, Sortino and
        alpha (``risk_metrics.risk_free`` of ``params/engines.yaml``).
    benchmark : BenchmarkParams, optional
        The performance section's benchmark symbols per provider
        (``params/benchmarks.yaml``); default :class:`~sigmasight_lib.params.BenchmarkParams`'
        defaults (offline ^GSPC then SPY, live SPY then ^GSPC).

    Returns
    -------
    ReportData
        Groups without results for ``as_of`` are N/A with the reason.

    Raises
    ------
    NotFoundError
        When the portfolio does not exist.
    """
    portfolio = session.get(Portfolio, portfolio_id)
    if portfolio is None:
        raise NotFoundError(f"no portfolio with id {portfolio_id!r}")
    positions = store.load_positions(session, portfolio_id, as_of)
    ctx = _Context(
        session, portfolio_id, as_of, positions, _jobs(session, portfolio_id, as_of), scenario_set
    )

    sections: dict[str, ReportSection] = {}
    sections["valuation"] = check_freshness(ctx, _valuation(ctx))
    sections["greeks"] = check_freshness(ctx, _greeks(ctx))
    sections["exposures"] = check_freshness(ctx, _exposures(ctx))
    dae = _position_dae(
        positions, sections["valuation"].table("positions"), sections["greeks"].table("positions")
    )
    sections["factors"] = check_freshness(ctx, _factors(ctx, _factor_definitions(session), dae))
    sections["market_risk"] = check_freshness(ctx, _market_risk(ctx))
    sections["correlations"] = check_freshness(ctx, _correlations(ctx))
    sections["risk_metrics"] = check_freshness(ctx, _risk_metrics(ctx))
    sections["snapshot"] = check_freshness(ctx, _snapshot(ctx))
    ids = {i for s in sections.values() for i in s.batch_run_ids}
    run = session.get(BatchRun, max(ids)) if ids else None
    provider = _provider(session, run, as_of, sorted(set(positions["underlying"])))
    sections["stress_tests"] = check_freshness(ctx, _stress(ctx, provider))
    sections["data_quality"] = _data_quality(ctx, sections, provider)
    checked = session.execute(
        select(MarketDataCoverage.batch_run_id, MarketDataCoverage.checked_at)
        .where(MarketDataCoverage.as_of == as_of)
        .order_by(MarketDataCoverage.checked_at.desc())
        .limit(1)
    ).first()
    if checked is not None:
        dq_run = session.get(BatchRun, checked[0]) if checked[0] is not None else None
        sections["data_quality"] = replace(
            sections["data_quality"], run_id=checked[0], computed_at=_utc(checked[1]),
            run_kind=dq_run.kind if dq_run is not None else None,
        )  # fmt: skip
    ids = {i for s in sections.values() for i in s.batch_run_ids}
    run_id = max(ids) if ids else None
    if run_id is not None and (run is None or run.id != run_id):
        run = session.get(BatchRun, run_id)

    # constant-holdings history: stored exposure per underlying, else the positions' dae
    by_underlying = sections["exposures"].table("underlying")
    if "delta_adjusted_exposure_usd" in by_underlying:
        exposure = by_underlying["delta_adjusted_exposure_usd"].astype(float)
    else:
        exposure = dae.groupby(positions["underlying"]).sum(min_count=1)
    gross = float(dae.abs().sum()) or float(exposure.abs().sum())
    returns, history = _constant_holdings(session, exposure, gross, as_of, window)
    sections["performance"] = _performance(
        session, history, as_of, provider, benchmark or BenchmarkParams(), risk_free
    )
    correlation = pd.Series(dtype=float)
    if not history.empty:
        aligned = returns.reindex(history.index)
        counts = aligned.notna().sum()
        correlation = aligned.corrwith(history["pnl_usd"]).where(counts >= CORRELATION_MIN_OBS)

    missing = {n: s.reason for n, s in sections.items() if s.reason is not None}
    table = _build_positions(
        positions, sections, dae, correlation, missing, sections["data_quality"].table("excluded")
    )
    owner = portfolio.owner
    metadata = ReportMetadata(
        portfolio=portfolio.name,
        portfolio_id=portfolio.id,
        portfolio_slug=portfolio.slug,
        owner=owner.email,
        owner_name=owner.name,
        currency=portfolio.currency or "USD",
        as_of=as_of,
        run_id=run_id,
        provider=provider,
        generated_at=(generated_at or dt.datetime.now(dt.UTC)).replace(microsecond=0),
        code_version=(run.code_version if run is not None and run.code_version else None)
        or _current_code_version(),
        positions=len(positions),
        missing_groups=tuple(n for n in GROUPS if n in missing),
    )
    return ReportData(
        metadata=metadata,
        positions=positions,
        **{n: sections[n] for n in GROUPS},
        position_table=table,
        returns=history,
    )
