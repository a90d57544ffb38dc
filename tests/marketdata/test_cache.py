"""The price cache on SQLite and PostgreSQL: sync only what is missing, coverage, as-of."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from sigmasight_lib.db.models import MarketDataCoverage, MarketPrice, TreasuryRate
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.cache import (
    CoverageStatus,
    check_coverage,
    classify_coverage,
    default_as_of,
    resolve_sync_end,
    sync_market_data,
)
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider

# NYSE full-day closures in 2014, written out by hand (the independent oracle for
# session counts): New Year, MLK, Presidents, Good Friday, Memorial, Independence,
# Labor, Thanksgiving, Christmas.
NYSE_HOLIDAYS_2014 = [
    "2014-01-01", "2014-01-20", "2014-02-17", "2014-04-18", "2014-05-26",
    "2014-07-04", "2014-09-01", "2014-11-27", "2014-12-25",
]  # fmt: skip


def hand_sessions(start: str, end: str) -> int:
    days = pd.bdate_range(start, end)
    return int((~days.isin(pd.to_datetime(NYSE_HOLIDAYS_2014))).sum())


class CountingProvider(OfflineSnapshotProvider):
    """The real offline provider, recording every price request."""

    def __init__(self) -> None:
        super().__init__()
        self.price_calls: list[tuple[tuple[str, ...], dt.date, dt.date]] = []

    def fetch_prices(self, symbols, start, end):
        self.price_calls.append((tuple(symbols), start, end))
        return super().fetch_prices(symbols, start, end)


@pytest.mark.parametrize(
    ("observations", "status"),
    [
        (300, CoverageStatus.OK),
        (252, CoverageStatus.OK),
        (251, CoverageStatus.WARNING),
        (150, CoverageStatus.WARNING),
        (149, CoverageStatus.MINIMAL),
        (60, CoverageStatus.MINIMAL),
        (59, CoverageStatus.INSUFFICIENT),
        (0, CoverageStatus.INSUFFICIENT),
    ],
)
def test_coverage_thresholds(observations, status):
    assert classify_coverage(observations) is status


def test_sync_fetches_only_missing_sessions(db_settings):
    provider = CountingProvider()
    as_of = dt.date(2017, 3, 29)
    with session_scope(db_settings) as session:
        first = sync_market_data(
            session, provider, as_of=as_of, symbols=["AAPL", "SPY"], history_sessions=20
        )
    assert {s.symbol: s.fetched for s in first.symbols} == {"AAPL": 20, "SPY": 20}
    with session_scope(db_settings) as session:
        # knock out three sessions of AAPL in the middle of the window
        session.execute(
            sa.delete(MarketPrice).where(
                MarketPrice.symbol == "AAPL",
                MarketPrice.date.in_(
                    [dt.date(2017, 3, 20), dt.date(2017, 3, 21), dt.date(2017, 3, 22)]
                ),
            )
        )
    provider.price_calls.clear()
    with session_scope(db_settings) as session:
        second = sync_market_data(
            session, provider, as_of=as_of, symbols=["AAPL", "SPY"], history_sessions=20
        )
        rows = session.scalar(sa.select(sa.func.count()).select_from(MarketPrice))
    assert provider.price_calls == [(("AAPL",), dt.date(2017, 3, 20), dt.date(2017, 3, 22))]
    assert {s.symbol: s.fetched for s in second.symbols} == {"AAPL": 3, "SPY": 0}
    assert rows == 40  # no duplicates
    provider.price_calls.clear()
    with session_scope(db_settings) as session:
        third = sync_market_data(
            session, provider, as_of=as_of, symbols=["AAPL", "SPY"], history_sessions=20
        )
    assert provider.price_calls == [] and third.fetched == 0


def test_sync_values_match_the_snapshot(db_settings):
    with session_scope(db_settings) as session:
        sync_market_data(
            session,
            OfflineSnapshotProvider(),
            as_of=dt.date(2017, 3, 29),
            symbols=["AAPL"],
            history_sessions=5,
        )
        row = session.get(MarketPrice, ("AAPL", dt.date(2017, 3, 29)))
        ten_year = session.get(TreasuryRate, (dt.date(2017, 3, 29), "10y"))
    # read by hand from skfolio's sp500_dataset.csv.gz and zipline's treasury_curves.csv
    assert row.adj_close == pytest.approx(33.767, abs=5e-4)
    assert row.close is None and row.provider == "offline"
    assert ten_year.yield_rate == pytest.approx(0.0240, abs=5e-4)


def test_default_as_of_is_computed_from_the_data(db_settings):
    provider = OfflineSnapshotProvider()
    symbols = ["AAPL", "MTUM", "SPY"]
    assert resolve_sync_end(provider, symbols) == dt.date(2017, 3, 29)  # treasury curve ends
    with session_scope(db_settings) as session:
        assert default_as_of(session, symbols) is None
        sync_market_data(
            session, provider, as_of=dt.date(2017, 3, 29), symbols=symbols, history_sessions=10
        )
        assert default_as_of(session, symbols) == dt.date(2017, 3, 29)
        session.execute(
            sa.delete(MarketPrice).where(
                MarketPrice.symbol == "MTUM", MarketPrice.date == dt.date(2017, 3, 29)
            )
        )
        assert default_as_of(session, symbols) == dt.date(2017, 3, 28)
        session.execute(sa.delete(TreasuryRate).where(TreasuryRate.date == dt.date(2017, 3, 28)))
        assert default_as_of(session, symbols) == dt.date(2017, 3, 27)


def test_coverage_rule_on_real_history_with_backfill(db_settings):
    """The factor ETFs start on 2014-01-02, so early as-of dates have short histories."""
    provider = CountingProvider()
    cases = {
        dt.date(2014, 10, 31): ("2014-01-02", "2014-10-31"),
        dt.date(2014, 5, 30): ("2014-01-02", "2014-05-30"),
        dt.date(2014, 2, 28): ("2014-01-02", "2014-02-28"),
    }
    expected_status = {
        dt.date(2014, 10, 31): CoverageStatus.WARNING,
        dt.date(2014, 5, 30): CoverageStatus.MINIMAL,
        dt.date(2014, 2, 28): CoverageStatus.INSUFFICIENT,
    }
    for as_of, (start, end) in cases.items():
        with session_scope(db_settings) as session:
            report = check_coverage(session, provider, as_of=as_of, symbols=["MTUM", "AAPL"])
        by_symbol = {s.symbol: s for s in report.symbols}
        assert by_symbol["MTUM"].observations == hand_sessions(start, end)
        assert by_symbol["MTUM"].status is expected_status[as_of]
        assert by_symbol["MTUM"].first_date == dt.date(2014, 1, 2)
        assert by_symbol["AAPL"].status is CoverageStatus.OK  # backfilled from 1990 data
        assert by_symbol["AAPL"].observations == 252
    assert hand_sessions("2014-01-02", "2014-10-31") == 211  # 150 <= 211 < 252
    assert hand_sessions("2014-01-02", "2014-05-30") == 103  # 60 <= 103 < 150
    assert hand_sessions("2014-01-02", "2014-02-28") == 40  # < 60


def test_coverage_without_backfill_reports_and_rerun_replaces(db_settings):
    provider = OfflineSnapshotProvider()
    as_of = dt.date(2017, 3, 29)
    with session_scope(db_settings) as session:
        report = check_coverage(session, provider, as_of=as_of, symbols=["KO"], backfill=False)
    assert report.symbols[0].observations == 0
    assert report.symbols[0].status is CoverageStatus.INSUFFICIENT
    assert not report.ok
    with session_scope(db_settings) as session:
        report = check_coverage(session, provider, as_of=as_of, symbols=["KO"])
        rows = list(session.scalars(sa.select(MarketDataCoverage)))
    assert report.ok and report.symbols[0].observations == 252
    assert len(rows) == 1 and rows[0].status == "ok"


def test_coverage_names_unknown_symbols(db_settings):
    with session_scope(db_settings) as session:
        report = check_coverage(
            session, OfflineSnapshotProvider(), as_of=dt.date(2017, 3, 29), symbols=["NOPE"]
        )
    assert report.symbols[0].status is CoverageStatus.INSUFFICIENT
    assert "does not know NOPE" in report.symbols[0].message


def test_stored_coverage_is_the_report_of_that_batch_run(db_settings):
    """The batch checks coverage once and its market-data notebook shows that report:
    ``stored_coverage`` returns exactly what the run recorded, nothing for another run,
    and nothing once a later check of the same as-of replaced the rows."""
    from sigmasight_lib.batch.tracking import start_run
    from sigmasight_lib.marketdata.cache import stored_coverage

    provider, as_of = OfflineSnapshotProvider(), dt.date(2017, 3, 29)
    with session_scope(db_settings) as session:
        first, second = (start_run(session, as_of, provider.name, {}).id for _ in range(2))
        check_coverage(session, provider, as_of=as_of, symbols=["KO", "NOPE"], batch_run_id=first)
    with session_scope(db_settings) as session:
        shown = stored_coverage(session, as_of, provider.name, first)
        assert stored_coverage(session, as_of, provider.name, second) is None
        assert stored_coverage(session, as_of, "yfinance", first) is None
    by_symbol = {s.symbol: s for s in shown.symbols}
    assert set(by_symbol) == {"KO", "NOPE"} and shown.as_of == as_of
    assert by_symbol["KO"].observations == 252 and by_symbol["KO"].status is CoverageStatus.OK
    assert by_symbol["KO"].last_date == as_of
    assert by_symbol["NOPE"].status is CoverageStatus.INSUFFICIENT
    assert by_symbol["NOPE"].message == "offline does not know NOPE"
    assert not shown.ok
    with session_scope(db_settings) as session:
        check_coverage(session, provider, as_of=as_of, symbols=["KO", "NOPE"], batch_run_id=second)
        assert stored_coverage(session, as_of, provider.name, first) is None
        assert stored_coverage(session, as_of, provider.name, second) == shown
