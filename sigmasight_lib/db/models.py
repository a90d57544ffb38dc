"""SQLAlchemy 2 typed ORM models: one class per table of SPEC "Database".

Conventions
-----------
- Money in USD, prices per share, rates and returns as decimals (0.05 = 5 %).
- Every engine result row carries ``portfolio_id``, ``as_of`` (the valuation
  date) and ``batch_run_id`` (the run that produced it: a batch run, or the manual
  run a CLI ``engine`` call records; NULL only for a notebook saved with
  ``save=True`` and no run id) through :class:`ResultMixin`; result tables are unique on
  (portfolio, as-of, the row's own key) so that a rerun replaces, never
  duplicates.
- Quantities and entry prices are exact ``NUMERIC`` read back as float.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    declared_attr,
    mapped_column,
    relationship,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Quantity = Numeric(24, 8, asdecimal=False)
"""Exact storage for share/contract counts and entry prices, float in Python."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


# --------------------------------------------------------------------------- portfolios


class Owner(TimestampMixin, Base):
    __tablename__ = "owners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))

    portfolios: Mapped[list[Portfolio]] = relationship(back_populates="owner")
    tags: Mapped[list[Tag]] = relationship(back_populates="owner")


class Portfolio(TimestampMixin, Base):
    __tablename__ = "portfolios"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    source: Mapped[str] = mapped_column(String(20), default="manual")
    """How the portfolio was created: ``demo``, ``csv`` or ``manual``."""
    positions_changed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """When a position of the portfolio was last added, changed or removed (set on every
    ORM flush, see :func:`_stamp_position_changes`); NULL before migration 0008."""

    owner: Mapped[Owner] = relationship(back_populates="portfolios")
    positions: Mapped[list[Position]] = relationship(
        back_populates="portfolio", cascade="all, delete-orphan", order_by="Position.id"
    )
    strategies: Mapped[list[Strategy]] = relationship(
        back_populates="portfolio", cascade="all, delete-orphan"
    )


class PositionTag(Base):
    __tablename__ = "position_tags"

    position_id: Mapped[int] = mapped_column(
        ForeignKey("positions.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class Tag(TimestampMixin, Base):
    """A label owned by one owner; unique per owner case-insensitively (``name_key``)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("owner_id", "name_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owners.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    name_key: Mapped[str] = mapped_column(String(40))
    """``name`` case-folded: the uniqueness key."""

    owner: Mapped[Owner] = relationship(back_populates="tags")
    positions: Mapped[list[Position]] = relationship(
        secondary="position_tags", back_populates="tags"
    )


class Strategy(TimestampMixin, Base):
    """A named group of positions of one portfolio (covered call, pairs trade, ...)."""

    __tablename__ = "strategies"
    __table_args__ = (UniqueConstraint("portfolio_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    strategy_type: Mapped[str] = mapped_column(String(40), default="free_form")
    description: Mapped[str | None] = mapped_column(Text)

    portfolio: Mapped[Portfolio] = relationship(back_populates="strategies")
    positions: Mapped[list[Position]] = relationship(back_populates="strategy")


class Position(TimestampMixin, Base):
    """A stock, ETF or listed option position. ``quantity`` is signed (negative = short)."""

    __tablename__ = "positions"
    __table_args__ = (Index("ix_positions_portfolio_symbol", "portfolio_id", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(String(32))
    """Ticker, or compact OCC symbol for options."""
    underlying: Mapped[str] = mapped_column(String(16))
    position_type: Mapped[str] = mapped_column(String(5))
    """LONG, SHORT, LC, LP, SC or SP."""
    quantity: Mapped[float] = mapped_column(Quantity)
    entry_price: Mapped[float | None] = mapped_column(Quantity)
    entry_date: Mapped[dt.date | None] = mapped_column(Date)
    exit_price: Mapped[float | None] = mapped_column(Quantity)
    exit_date: Mapped[dt.date | None] = mapped_column(Date)
    option_type: Mapped[str | None] = mapped_column(String(1))
    strike: Mapped[float | None] = mapped_column(Float)
    expiry: Mapped[dt.date | None] = mapped_column(Date)
    multiplier: Mapped[int] = mapped_column(Integer, default=1)
    strategy_id: Mapped[int | None] = mapped_column(
        ForeignKey("strategies.id", ondelete="SET NULL")
    )
    realized_pnl_usd: Mapped[float | None] = mapped_column(Float)
    """quantity × (exit price − entry price) × multiplier, set when the position is closed."""

    portfolio: Mapped[Portfolio] = relationship(back_populates="positions")
    strategy: Mapped[Strategy | None] = relationship(back_populates="positions")
    tags: Mapped[list[Tag]] = relationship(
        secondary="position_tags", back_populates="positions", order_by="Tag.name"
    )


class PositionHistory(Base):
    """One change of one field of a position; ``effective_date`` is when it takes effect,
    so engines run for earlier dates use ``old_value``."""

    __tablename__ = "position_history"
    __table_args__ = (
        Index("ix_position_history_position_effective", "position_id", "effective_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    position_id: Mapped[int] = mapped_column(ForeignKey("positions.id", ondelete="CASCADE"))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    effective_date: Mapped[dt.date] = mapped_column(Date)
    field: Mapped[str] = mapped_column(String(20))
    """``quantity``, ``entry_price``, ``position_type``, ``exit_date``, ``exit_price``."""
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)


# --------------------------------------------------------------------------- market data


class MarketPrice(Base):
    """One daily bar. Fields a provider lacks are NULL (the offline snapshot has adjusted
    closes only; SPY offline has total returns only)."""

    __tablename__ = "market_prices"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    open: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    low: Mapped[float | None] = mapped_column(Float)
    close: Mapped[float | None] = mapped_column(Float)
    adj_close: Mapped[float | None] = mapped_column(Float)
    volume: Mapped[float | None] = mapped_column(Float)
    total_return: Mapped[float | None] = mapped_column(Float)
    """Daily total return (decimal) for series published as returns only."""
    provider: Mapped[str] = mapped_column(String(20))
    fetched_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SecurityMetadata(Base):
    __tablename__ = "security_metadata"

    symbol: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    sector: Mapped[str | None] = mapped_column(String(100))
    industry: Mapped[str | None] = mapped_column(String(200))
    asset_type: Mapped[str | None] = mapped_column(String(32))
    currency: Mapped[str | None] = mapped_column(String(3))
    provider: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TreasuryRate(Base):
    """A treasury curve point; ``yield_rate`` as a decimal."""

    __tablename__ = "treasury_rates"

    date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    tenor: Mapped[str] = mapped_column(String(4), primary_key=True)
    yield_rate: Mapped[float] = mapped_column(Float)
    provider: Mapped[str] = mapped_column(String(20))


class FactorDefinition(Base):
    """A risk factor and its proxy symbols per provider, in order of preference
    (``{"offline": ["SPY", "^GSPC"], ...}``; a plain string is a one-symbol list)."""

    __tablename__ = "factor_definitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    factor_type: Mapped[str] = mapped_column(String(20))
    """``market``, ``style``, ``macro`` or ``rates``."""
    proxies: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    display_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    def proxy_symbols(self, provider: str) -> tuple[str, ...]:
        """The provider's proxy symbols in order of preference (empty when it has none)."""
        value = (self.proxies or {}).get(provider)
        if not value:
            return ()
        return (value,) if isinstance(value, str) else tuple(value)


class MarketDataCoverage(Base):
    """Depth of one symbol's price history at an as-of date (the 252/150/60 rule)."""

    __tablename__ = "market_data_coverage"
    __table_args__ = (UniqueConstraint("as_of", "symbol"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    symbol: Mapped[str] = mapped_column(String(32))
    observations: Mapped[int] = mapped_column(Integer)
    """Trading days with a price among the last ``window_sessions`` sessions to ``as_of``."""
    window_sessions: Mapped[int] = mapped_column(Integer)
    first_date: Mapped[dt.date | None] = mapped_column(Date)
    last_date: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    """``ok`` (>= 252), ``warning`` (>= 150), ``minimal`` (>= 60), ``insufficient``."""
    message: Mapped[str | None] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(20))
    batch_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("batch_runs.id", ondelete="SET NULL")
    )
    checked_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# --------------------------------------------------------------------------- batch


class BatchRun(Base):
    __tablename__ = "batch_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(20), default="running")
    """``running``, ``succeeded``, ``failed``, ``partial`` (shown ``interrupted`` when a
    ``running`` run's process is gone: :func:`sigmasight_lib.batch.tracking.run_state`)."""
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    provider: Mapped[str | None] = mapped_column(String(20))
    code_version: Mapped[str | None] = mapped_column(String(100))
    market_data_hash: Mapped[str | None] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pid: Mapped[int | None] = mapped_column(Integer)
    """Process id of the process running the batch (with ``host``: is it still alive?)."""
    host: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    """Last bookkeeping write of the running process (judges runs from another host)."""
    kind: Mapped[str] = mapped_column(String(20), default="batch", server_default="batch")
    """``batch`` (the papermill batch or schedule) or ``manual`` (a CLI ``engine`` run)."""

    jobs: Mapped[list[BatchJob]] = relationship(
        back_populates="batch_run", cascade="all, delete-orphan"
    )


class BatchJob(Base):
    """One (portfolio, engine) job of a batch run; ``error`` is a structured record."""

    __tablename__ = "batch_jobs"
    __table_args__ = (UniqueConstraint("batch_run_id", "portfolio_id", "job_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_run_id: Mapped[int] = mapped_column(ForeignKey("batch_runs.id", ondelete="CASCADE"))
    portfolio_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolios.id", ondelete="CASCADE")
    )
    job_name: Mapped[str] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    """``pending``, ``running``, ``succeeded``, ``failed``, ``skipped``."""
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    artifact_path: Mapped[str | None] = mapped_column(Text)

    batch_run: Mapped[BatchRun] = relationship(back_populates="jobs")


# --------------------------------------------------------------------------- engine results


class ResultMixin:
    """Columns every engine result row carries."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @declared_attr
    def portfolio_id(cls) -> Mapped[int]:  # noqa: N805
        return mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"), index=True)

    @declared_attr
    def batch_run_id(cls) -> Mapped[int | None]:  # noqa: N805
        return mapped_column(ForeignKey("batch_runs.id", ondelete="SET NULL"))


def _position_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("positions.id", ondelete="CASCADE"))


class PositionValuation(ResultMixin, Base):
    """Price, market value, exposure and P&L of one position at the as-of date (USD)."""

    __tablename__ = "position_valuations"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "position_id"),)

    position_id: Mapped[int] = _position_fk()
    price: Mapped[float | None] = mapped_column(Float)
    """Per share (premium per share of underlying for options)."""
    previous_price: Mapped[float | None] = mapped_column(Float)
    price_source: Mapped[str | None] = mapped_column(String(20))
    """``market``, ``model`` (BSM, no quote), ``intrinsic`` (an option on its expiry
    date), ``settled`` (an option expired before the as-of) or NULL when no price."""
    underlying_price: Mapped[float | None] = mapped_column(Float)
    market_value_usd: Mapped[float | None] = mapped_column(Float)
    exposure_usd: Mapped[float | None] = mapped_column(Float)
    notional_usd: Mapped[float | None] = mapped_column(Float)
    cost_basis_usd: Mapped[float | None] = mapped_column(Float)
    unrealized_pnl_usd: Mapped[float | None] = mapped_column(Float)
    realized_pnl_usd: Mapped[float | None] = mapped_column(Float)
    """P&L of an option settled at expiry (0 for live positions)."""
    daily_pnl_usd: Mapped[float | None] = mapped_column(Float)
    expired: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """An option expired before the as-of: settled at intrinsic, out of the book."""
    reason: Mapped[str | None] = mapped_column(Text)


class ExposureResult(ResultMixin, Base):
    """Exposure aggregates: the whole portfolio (``group_by='portfolio'``) or one group
    of a breakdown (``underlying``, ``sector``, ``tag``, ``type``)."""

    __tablename__ = "exposure_results"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "group_by", "group_key"),)

    group_by: Mapped[str] = mapped_column(String(20))
    group_key: Mapped[str] = mapped_column(String(100))
    position_count: Mapped[int] = mapped_column(Integer)
    long_count: Mapped[int] = mapped_column(Integer)
    short_count: Mapped[int] = mapped_column(Integer)
    gross_exposure_usd: Mapped[float] = mapped_column(Float)
    net_exposure_usd: Mapped[float] = mapped_column(Float)
    long_exposure_usd: Mapped[float] = mapped_column(Float)
    short_exposure_usd: Mapped[float] = mapped_column(Float)
    net_liquidation_value_usd: Mapped[float | None] = mapped_column(Float)
    """Long market value − short market value (Σ quantity × price × multiplier)."""
    gross_market_value_usd: Mapped[float] = mapped_column(Float)
    """Σ |market value| (long + short)."""
    notional_usd: Mapped[float] = mapped_column(Float)
    options_exposure_usd: Mapped[float] = mapped_column(Float)
    stock_exposure_usd: Mapped[float] = mapped_column(Float)
    delta_adjusted_exposure_usd: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    gamma: Mapped[float] = mapped_column(Float)
    theta: Mapped[float] = mapped_column(Float)
    vega: Mapped[float] = mapped_column(Float)
    rho: Mapped[float] = mapped_column(Float)


class PositionGreeks(ResultMixin, Base):
    """Position Greeks (contract Greeks × quantity × multiplier), mibian units:
    theta per calendar day, vega per 1 vol point, rho per 1 rate point."""

    __tablename__ = "position_greeks"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "position_id"),)

    position_id: Mapped[int] = _position_fk()
    delta: Mapped[float | None] = mapped_column(Float)
    gamma: Mapped[float | None] = mapped_column(Float)
    theta: Mapped[float | None] = mapped_column(Float)
    vega: Mapped[float | None] = mapped_column(Float)
    rho: Mapped[float | None] = mapped_column(Float)
    model_price: Mapped[float | None] = mapped_column(Float)
    underlying_price: Mapped[float | None] = mapped_column(Float)
    years_to_expiry: Mapped[float | None] = mapped_column(Float)
    implied_vol: Mapped[float | None] = mapped_column(Float)
    vol_source: Mapped[str | None] = mapped_column(String(20))
    risk_free_rate: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)
    """Why a Greek is NULL (invalid input, expired, ...)."""


class PositionFactorExposure(ResultMixin, Base):
    __tablename__ = "position_factor_exposures"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "position_id", "factor_id"),)

    position_id: Mapped[int] = _position_fk()
    factor_id: Mapped[int] = mapped_column(ForeignKey("factor_definitions.id", ondelete="CASCADE"))
    beta: Mapped[float | None] = mapped_column(Float)
    """The underlying's beta, capped at ±cap (``capped`` says when)."""
    beta_uncapped: Mapped[float | None] = mapped_column(Float)
    """The OLS estimate before capping."""
    t_stat: Mapped[float | None] = mapped_column(Float)
    """t-statistic of the OLS (uncapped) estimate."""
    exposure_usd: Mapped[float | None] = mapped_column(Float)
    """The position's dollar beta: delta-adjusted exposure × (capped) beta, USD."""
    r_squared: Mapped[float | None] = mapped_column(Float)
    observations: Mapped[int | None] = mapped_column(Integer)
    capped: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)


class PortfolioFactorExposure(ResultMixin, Base):
    __tablename__ = "portfolio_factor_exposures"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "factor_id"),)

    factor_id: Mapped[int] = mapped_column(ForeignKey("factor_definitions.id", ondelete="CASCADE"))
    dollar_beta_usd: Mapped[float | None] = mapped_column(Float)
    """Σ delta-adjusted exposure × beta: USD P&L per unit factor return."""
    beta_to_gross: Mapped[float | None] = mapped_column(Float)
    """dollar_beta_usd / Σ |delta-adjusted exposure|."""
    beta_to_net: Mapped[float | None] = mapped_column(Float)
    """dollar_beta_usd / Σ delta-adjusted exposure; NULL when the net is ~0 (reason in details)."""
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PositionInterestRateBeta(ResultMixin, Base):
    """OLS beta of daily position returns on daily changes of the 10-year yield."""

    __tablename__ = "position_interest_rate_betas"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "position_id"),)

    position_id: Mapped[int] = _position_fk()
    ir_beta: Mapped[float | None] = mapped_column(Float)
    r_squared: Mapped[float | None] = mapped_column(Float)
    observations: Mapped[int | None] = mapped_column(Integer)


class MarketRiskScenarioResult(ResultMixin, Base):
    __tablename__ = "market_risk_scenarios"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "scenario"),)

    scenario: Mapped[str] = mapped_column(String(60))
    scenario_type: Mapped[str] = mapped_column(String(20))
    """``market``, ``rates`` or ``backtest``."""
    shock: Mapped[float | None] = mapped_column(Float)
    pnl_usd: Mapped[float | None] = mapped_column(Float)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


LIBRARY_SCENARIO_SET = "library"
"""The scenario set of ``params/stress_scenarios.yaml``; a custom file is its own set."""


class StressScenario(Base):
    """A scenario definition of one scenario set: the library (``params/stress_scenarios.yaml``)
    or a custom file (set named after the file's stem), unique on (set, key)."""

    __tablename__ = "stress_scenarios"
    __table_args__ = (UniqueConstraint("scenario_set", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scenario_set: Mapped[str] = mapped_column(
        String(80), default=LIBRARY_SCENARIO_SET, server_default=LIBRARY_SCENARIO_SET
    )
    key: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str | None] = mapped_column(Text)
    shocks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Factor name → shock as a decimal (−0.10 = −10 %; rates in decimal yield units)."""
    source: Mapped[str] = mapped_column(String(200), default="params/stress_scenarios.yaml")
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class StressResult(ResultMixin, Base):
    __tablename__ = "stress_results"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "scenario_id"),)

    scenario_id: Mapped[int] = mapped_column(ForeignKey("stress_scenarios.id", ondelete="CASCADE"))
    direct_pnl_usd: Mapped[float | None] = mapped_column(Float)
    correlated_pnl_usd: Mapped[float | None] = mapped_column(Float)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class FactorCorrelation(Base):
    """Exponentially weighted factor correlation (λ = decay) at an as-of date."""

    __tablename__ = "factor_correlations"
    __table_args__ = (UniqueConstraint("as_of", "factor_1_id", "factor_2_id", "provider"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    factor_1_id: Mapped[int] = mapped_column(
        ForeignKey("factor_definitions.id", ondelete="CASCADE")
    )
    factor_2_id: Mapped[int] = mapped_column(
        ForeignKey("factor_definitions.id", ondelete="CASCADE")
    )
    correlation: Mapped[float] = mapped_column(Float)
    lookback_days: Mapped[int] = mapped_column(Integer)
    decay: Mapped[float] = mapped_column(Float)
    provider: Mapped[str] = mapped_column(String(20))
    batch_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("batch_runs.id", ondelete="SET NULL")
    )


class PositionCorrelation(ResultMixin, Base):
    __tablename__ = "position_correlations"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "symbol_1", "symbol_2"),)

    symbol_1: Mapped[str] = mapped_column(String(32))
    symbol_2: Mapped[str] = mapped_column(String(32))
    correlation: Mapped[float | None] = mapped_column(Float)
    overlap_days: Mapped[int] = mapped_column(Integer)


class PortfolioCorrelationMetrics(ResultMixin, Base):
    """Portfolio-level correlation metrics of one as-of date."""

    __tablename__ = "portfolio_correlation_metrics"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of"),)

    average_correlation: Mapped[float | None] = mapped_column(Float)
    diversification_ratio: Mapped[float | None] = mapped_column(Float)
    effective_bets: Mapped[float | None] = mapped_column(Float)
    window_days: Mapped[int] = mapped_column(Integer)
    min_overlap: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Clusters, most / least correlated pairs, excluded assets with reasons, notes."""


class PositionRiskContribution(ResultMixin, Base):
    """Each position's Euler contribution to the portfolio's ex-ante daily variance (USD²)."""

    __tablename__ = "position_risk_contributions"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "position_id"),)

    position_id: Mapped[int] = _position_fk()
    factor_contribution_usd2: Mapped[float | None] = mapped_column(Float)
    specific_contribution_usd2: Mapped[float | None] = mapped_column(Float)
    total_contribution_usd2: Mapped[float | None] = mapped_column(Float)
    share: Mapped[float | None] = mapped_column(Float)


class RiskMetric(ResultMixin, Base):
    """One portfolio risk metric (``sharpe``, ``var_95``, ...); units in ``unit``."""

    __tablename__ = "risk_metrics"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of", "metric"),)

    metric: Mapped[str] = mapped_column(String(60))
    value: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)


class PortfolioSnapshot(ResultMixin, Base):
    """One row per portfolio per trading day."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (UniqueConstraint("portfolio_id", "as_of"),)

    net_liquidation_value_usd: Mapped[float | None] = mapped_column(Float)
    """Long market value − short market value (options: long +, short −)."""
    gross_market_value_usd: Mapped[float | None] = mapped_column(Float)
    """Σ |market value|."""
    long_exposure_usd: Mapped[float | None] = mapped_column(Float)
    short_exposure_usd: Mapped[float | None] = mapped_column(Float)
    gross_exposure_usd: Mapped[float | None] = mapped_column(Float)
    net_exposure_usd: Mapped[float | None] = mapped_column(Float)
    daily_pnl_usd: Mapped[float | None] = mapped_column(Float)
    cumulative_pnl_usd: Mapped[float | None] = mapped_column(Float)
    """Running sum of daily P&L over the stored (retained) history."""
    delta: Mapped[float | None] = mapped_column(Float)
    gamma: Mapped[float | None] = mapped_column(Float)
    theta: Mapped[float | None] = mapped_column(Float)
    vega: Mapped[float | None] = mapped_column(Float)
    market_dollar_beta_usd: Mapped[float | None] = mapped_column(Float)
    """Σ delta-adjusted exposure × market beta, USD per unit market return."""
    market_beta_to_gross: Mapped[float | None] = mapped_column(Float)
    market_beta_to_net: Mapped[float | None] = mapped_column(Float)
    position_count: Mapped[int | None] = mapped_column(Integer)


# --------------------------------------------------------------------------- what-if


class ModelingSession(TimestampMixin, Base):
    """A base portfolio plus hypothetical trades, with its last calculated impacts."""

    __tablename__ = "modeling_sessions"
    __table_args__ = (UniqueConstraint("portfolio_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    portfolio_id: Mapped[int] = mapped_column(ForeignKey("portfolios.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    trades: Mapped[list[Any]] = mapped_column(JSON, default=list)
    impacts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    saved_as_of: Mapped[dt.date | None] = mapped_column(Date)
    saved_batch_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("batch_runs.id", ondelete="SET NULL")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class ExportHistory(TimestampMixin, Base):
    __tablename__ = "export_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("modeling_sessions.id", ondelete="SET NULL")
    )
    export_format: Mapped[str] = mapped_column(String(10))
    path: Mapped[str | None] = mapped_column(Text)
    trade_count: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64))
    # FIX exports: the session pair and the MsgSeqNum range (the next export continues it)
    sender_comp_id: Mapped[str | None] = mapped_column(String(64))
    target_comp_id: Mapped[str | None] = mapped_column(String(64))
    first_seq_num: Mapped[int | None] = mapped_column(Integer)
    last_seq_num: Mapped[int | None] = mapped_column(Integer)


# --------------------------------------------------------------------------- change stamps


@sa_event.listens_for(Session, "before_flush")
def _stamp_position_changes(session: Session, _context: Any, _instances: Any) -> None:
    """Set ``portfolios.positions_changed_at`` for every portfolio whose positions are
    added, modified (fields or tags) or deleted in this flush, so a report can tell
    results computed before the change from current ones."""
    changed: list[Position] = [o for o in session.new | session.deleted if isinstance(o, Position)]
    changed += [o for o in session.dirty if isinstance(o, Position) and session.is_modified(o)]
    if not changed:
        return
    now = utcnow()
    for pos in changed:
        portfolio = (
            pos.portfolio if pos.portfolio_id is None else session.get(Portfolio, pos.portfolio_id)
        )
        if portfolio is not None:
            portfolio.positions_changed_at = now
