"""The database price cache: sync (fetch only what is missing), coverage, as-of date.

Coverage rule (SPEC "Market data")
----------------------------------
Per symbol, count the NYSE sessions among the last 252 up to the as-of date on
which the cache holds a price:

============ ============== ============================================
status       observations   meaning
============ ============== ============================================
ok           >= 252         full factor window
warning      150 .. 251     accepted, results flagged
minimal      60 .. 149      above the hard floor only; results flagged
insufficient < 60           excluded from regressions
============ ============== ============================================
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmasight_lib.db import store
from sigmasight_lib.db.models import MarketDataCoverage, MarketPrice, TreasuryRate
from sigmasight_lib.marketdata.base import RATE_PROXY_PREFIX, MarketDataProvider
from sigmasight_lib.marketdata.calendar import sessions_window

log = logging.getLogger(__name__)

COVERAGE_WANTED = 252
"""Trading days of history the factor engine wants."""
COVERAGE_ACCEPTED = 150
"""Fewer than :data:`COVERAGE_WANTED` but at least this many: accepted with a warning."""
COVERAGE_FLOOR = 60
"""Hard floor: below it a symbol is excluded from regressions."""
DEFAULT_HISTORY_SESSIONS = 520
"""Sessions of history a sync keeps before the as-of date (factor window + backtests)."""
AS_OF_RATE_TENOR = "10y"
"""The treasury tenor the engines need on the as-of date (rate betas, BSM fallback)."""

ProgressCallback = Callable[[int, int, str], None]
"""``callback(done, total, label)`` for long steps."""


class CoverageStatus(StrEnum):
    OK = "ok"
    WARNING = "warning"
    MINIMAL = "minimal"
    INSUFFICIENT = "insufficient"


def classify_coverage(observations: int) -> CoverageStatus:
    """Status of a history of ``observations`` trading days under the 252/150/60 rule."""
    if observations >= COVERAGE_WANTED:
        return CoverageStatus.OK
    if observations >= COVERAGE_ACCEPTED:
        return CoverageStatus.WARNING
    if observations >= COVERAGE_FLOOR:
        return CoverageStatus.MINIMAL
    return CoverageStatus.INSUFFICIENT


# --------------------------------------------------------------------------- needed series


def needed_symbols(session: Session, provider_name: str) -> list[str]:
    """Tickers the engines need: every held underlying plus the provider's factor proxies.

    Treasury proxies (``UST:<tenor>``) are excluded; rates are synced separately.
    """
    symbols = set(store.load_position_underlyings(session))
    for factor in store.load_factor_definitions(session):
        symbols.update(
            s for s in factor.proxy_symbols(provider_name) if not s.startswith(RATE_PROXY_PREFIX)
        )
    return sorted(symbols)


def default_as_of(session: Session, symbols: Sequence[str] | None = None) -> dt.date | None:
    """Latest date on which every needed series exists in the cache.

    The needed series are ``symbols`` (default: :func:`needed_symbols` for every
    provider that has cached rows) and the 10-year treasury point; a symbol
    with no cached data at all is left out (it cannot be valued on any date,
    and coverage reports it). Computed from the data, never hard-coded; None
    when no such date exists.
    """
    if symbols is None:
        providers = set(session.scalars(select(MarketPrice.provider).distinct()))
        symbols = sorted({s for p in providers for s in needed_symbols(session, p)})
    # a series with no data at all cannot gate the date (coverage reports it)
    present = set(
        session.scalars(
            select(MarketPrice.symbol).where(MarketPrice.symbol.in_(list(symbols))).distinct()
        )
    )
    symbols = [s for s in symbols if s in present]
    if not symbols:
        return None
    usable = (
        MarketPrice.close.is_not(None)
        | MarketPrice.adj_close.is_not(None)
        | MarketPrice.total_return.is_not(None)
    )
    common = (
        select(MarketPrice.date)
        .where(MarketPrice.symbol.in_(list(symbols)), usable)
        .group_by(MarketPrice.date)
        .having(func.count(func.distinct(MarketPrice.symbol)) == len(set(symbols)))
    )
    stmt = (
        select(func.max(TreasuryRate.date))
        .where(TreasuryRate.tenor == AS_OF_RATE_TENOR)
        .where(TreasuryRate.date.in_(common.scalar_subquery()))
    )
    return session.scalar(stmt)


def latest_cached_date(session: Session) -> dt.date | None:
    """The newest date with any cached price (None for an empty cache)."""
    return session.scalar(select(func.max(MarketPrice.date)))


def check_as_of(session: Session, as_of: dt.date) -> dt.date:
    """``as_of`` when it is an NYSE session on or before the newest cached price.

    The one rule for an explicit as-of date (engines, report, batch after its
    sync): :func:`~sigmasight_lib.marketdata.calendar.require_session`, then the
    cache must reach the date. An empty cache is left to the callers' own
    "run market-data sync" messages.

    Raises
    ------
    AsOfDateError
        For a weekend or holiday (naming the previous session), a date outside
        the calendar, or a date after the newest cached price (naming it).
    """
    from sigmasight_lib.exceptions import AsOfDateError
    from sigmasight_lib.marketdata.calendar import require_session

    require_session(as_of)
    latest = latest_cached_date(session)
    if latest is not None and as_of > latest:
        raise AsOfDateError(
            f"as-of date {as_of.isoformat()} is after the newest cached market data "
            f"({latest.isoformat()}): run `sigmasight market-data sync --as-of {as_of.isoformat()}` "
            "if the provider has it, or choose an earlier date"
        )
    return as_of


# --------------------------------------------------------------------------- sync


@dataclass(frozen=True)
class SymbolSync:
    """What one sync did for one symbol over the window."""

    symbol: str
    cached_before: int
    fetched: int
    missing_after: int
    """Sessions in the window still without a price (the source lacks them)."""


@dataclass(frozen=True)
class SyncReport:
    provider: str
    start: dt.date
    end: dt.date
    symbols: tuple[SymbolSync, ...]
    rate_days_fetched: int
    metadata_fetched: int
    unknown_symbols: tuple[str, ...] = field(default_factory=tuple)

    @property
    def fetched(self) -> int:
        return sum(s.fetched for s in self.symbols)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat(), self.end.isoformat()
        out["fetched"] = self.fetched
        return out


def resolve_sync_end(provider: MarketDataProvider, symbols: Sequence[str]) -> dt.date:
    """Latest date the provider can serve for all ``symbols`` and the 10-year rate.

    Raises
    ------
    MarketDataError
        When the provider has no common date.
    """
    from sigmasight_lib.exceptions import MarketDataError

    price_end = provider.latest_date(symbols)
    rate_end = provider.latest_rate_date(AS_OF_RATE_TENOR)
    if price_end is None or rate_end is None:
        raise MarketDataError(
            f"provider {provider.name!r} has no date on which all of {len(symbols)} needed "
            f"series and the {AS_OF_RATE_TENOR} treasury rate exist; pass --as-of"
        )
    return min(price_end, rate_end)


def sync_market_data(
    session: Session,
    provider: MarketDataProvider,
    *,
    as_of: dt.date,
    symbols: Sequence[str] | None = None,
    history_sessions: int = DEFAULT_HISTORY_SESSIONS,
    progress: ProgressCallback | None = None,
) -> SyncReport:
    """Fetch into the cache only the prices, rates and metadata it lacks.

    Parameters
    ----------
    as_of : datetime.date
        Last day of the window.
    symbols : sequence of str, optional
        Tickers to sync; default :func:`needed_symbols`.
    history_sessions : int, default=520
        Window length in NYSE sessions ending at ``as_of``.

    Returns
    -------
    SyncReport
        Per symbol: rows cached before, fetched, and sessions still missing.
    """
    symbols = sorted(
        set(symbols if symbols is not None else needed_symbols(session, provider.name))
    )
    window = sessions_window(as_of, history_sessions)
    start, end = window[0], window[-1]
    unknown = provider.unknown_symbols(symbols) if symbols else set()
    known = [s for s in symbols if s not in unknown]
    if unknown:
        log.warning("provider %s does not know: %s", provider.name, ", ".join(sorted(unknown)))

    cached = store.load_price_dates(session, known, start, end)
    results: list[SymbolSync] = []
    for done, symbol in enumerate(known, start=1):
        have = cached[symbol]
        missing = [d for d in window if d not in have]
        fetched = 0
        if missing:
            prices = provider.fetch_prices([symbol], missing[0], missing[-1])
            prices = prices[~prices["date"].isin(have)]
            fetched = store.save_prices(session, prices, provider.name)
        results.append(
            SymbolSync(
                symbol=symbol,
                cached_before=len(have),
                fetched=fetched,
                missing_after=max(0, len(missing) - fetched),
            )
        )
        if progress:
            progress(done, len(known), symbol)

    rate_dates = store.load_rate_dates(session, start, end, AS_OF_RATE_TENOR)
    missing_rates = [d for d in window if d not in rate_dates]
    rate_days = 0
    if missing_rates:
        rates = provider.fetch_rates(missing_rates[0], missing_rates[-1])
        store.save_rates(session, rates, provider.name)
        rate_days = int(rates.loc[rates["tenor"] == AS_OF_RATE_TENOR, "date"].nunique())

    lacking_meta = [s for s in known if s not in store.load_metadata_symbols(session)]
    metadata_fetched = 0
    if lacking_meta:
        metadata_fetched = store.save_metadata(
            session, provider.fetch_metadata(lacking_meta), provider.name
        )
    session.flush()
    report = SyncReport(
        provider=provider.name,
        start=start,
        end=end,
        symbols=tuple(results),
        rate_days_fetched=rate_days,
        metadata_fetched=metadata_fetched,
        unknown_symbols=tuple(sorted(unknown)),
    )
    log.info(
        "sync %s %s..%s: %d price rows fetched for %d symbols, %d rate days",
        provider.name,
        start,
        end,
        report.fetched,
        len(known),
        rate_days,
    )
    return report


# --------------------------------------------------------------------------- coverage


@dataclass(frozen=True)
class SymbolCoverage:
    symbol: str
    observations: int
    window_sessions: int
    first_date: dt.date | None
    last_date: dt.date | None
    status: CoverageStatus
    message: str


@dataclass(frozen=True)
class CoverageReport:
    as_of: dt.date
    provider: str
    symbols: tuple[SymbolCoverage, ...]

    def by_status(self, status: CoverageStatus) -> list[SymbolCoverage]:
        return [s for s in self.symbols if s.status == status]

    @property
    def ok(self) -> bool:
        """True when no symbol is below the hard floor."""
        return not self.by_status(CoverageStatus.INSUFFICIENT)

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "provider": self.provider,
            "counts": {s.value: len(self.by_status(s)) for s in CoverageStatus},
            "symbols": [
                {
                    **asdict(s),
                    "status": s.status.value,
                    "first_date": s.first_date.isoformat() if s.first_date else None,
                    "last_date": s.last_date.isoformat() if s.last_date else None,
                }
                for s in self.symbols
            ],
        }


def _measure(
    session: Session, symbols: Iterable[str], window: list[dt.date]
) -> dict[str, list[dt.date]]:
    have = store.load_price_dates(session, symbols, window[0], window[-1])
    sessions = set(window)
    return {s: sorted(d for d in dates if d in sessions) for s, dates in have.items()}


def check_coverage(
    session: Session,
    provider: MarketDataProvider,
    *,
    as_of: dt.date,
    symbols: Sequence[str] | None = None,
    backfill: bool = True,
    batch_run_id: int | None = None,
) -> CoverageReport:
    """Apply the 252 / 150 / 60 rule per symbol, backfill short histories, record the report.

    Symbols short of 252 sessions are synced again over the window (when
    ``backfill``); what the provider cannot supply is reported, never invented.
    One ``market_data_coverage`` row per (as-of, symbol) is written; a rerun
    replaces it.
    """
    symbols = sorted(
        set(symbols if symbols is not None else needed_symbols(session, provider.name))
    )
    window = sessions_window(as_of, COVERAGE_WANTED)
    dates = _measure(session, symbols, window)
    short = [s for s in symbols if len(dates[s]) < COVERAGE_WANTED]
    if backfill and short:
        log.info("backfilling %d symbols short of %d sessions", len(short), COVERAGE_WANTED)
        sync_market_data(
            session, provider, as_of=as_of, symbols=short, history_sessions=COVERAGE_WANTED
        )
        dates.update(_measure(session, short, window))

    unknown = provider.unknown_symbols(symbols) if symbols else set()
    rows: list[SymbolCoverage] = []
    for symbol in symbols:
        seen = dates[symbol]
        status = classify_coverage(len(seen))
        if symbol in unknown:
            message = f"{provider.name} does not know {symbol}"
        elif not seen:
            message = f"no prices in the {COVERAGE_WANTED} sessions to {as_of}"
        else:
            message = f"{len(seen)} of {COVERAGE_WANTED} sessions"
            if seen[-1] != window[-1]:
                message += f"; last price {seen[-1]}, none on {window[-1]}"
        rows.append(
            SymbolCoverage(
                symbol=symbol,
                observations=len(seen),
                window_sessions=COVERAGE_WANTED,
                first_date=seen[0] if seen else None,
                last_date=seen[-1] if seen else None,
                status=status,
                message=message,
            )
        )
    store.upsert(
        session,
        MarketDataCoverage,
        [
            {
                "as_of": as_of,
                "symbol": r.symbol,
                "observations": r.observations,
                "window_sessions": r.window_sessions,
                "first_date": r.first_date,
                "last_date": r.last_date,
                "status": r.status.value,
                "message": r.message,
                "provider": provider.name,
                "batch_run_id": batch_run_id,
                "checked_at": dt.datetime.now(dt.UTC),
            }
            for r in rows
        ],
        key=("as_of", "symbol"),
    )
    return CoverageReport(as_of=as_of, provider=provider.name, symbols=tuple(rows))


def stored_coverage(
    session: Session, as_of: dt.date, provider: str, batch_run_id: int
) -> CoverageReport | None:
    """The coverage report :func:`check_coverage` recorded for ``as_of`` in batch run
    ``batch_run_id`` (what the batch's market-data notebook renders), or None when that
    run recorded none (or a later check of the same as-of replaced it)."""
    rows = session.scalars(
        select(MarketDataCoverage)
        .where(
            MarketDataCoverage.as_of == as_of,
            MarketDataCoverage.provider == provider,
            MarketDataCoverage.batch_run_id == batch_run_id,
        )
        .order_by(MarketDataCoverage.symbol)
    ).all()
    if not rows:
        return None
    symbols = tuple(
        SymbolCoverage(
            symbol=r.symbol, observations=r.observations, window_sessions=r.window_sessions,
            first_date=r.first_date, last_date=r.last_date, status=CoverageStatus(r.status),
            message=r.message or "",
        )
        for r in rows
    )  # fmt: skip
    return CoverageReport(as_of=as_of, provider=provider, symbols=symbols)
