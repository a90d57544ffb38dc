"""Options at and after expiry, end to end on the demo data (SQLite and PostgreSQL).

Issue 11, defect 7: the Long/Short book's JPM 75 put (40 long at 1.53) closed in
the money on its expiry, 2017-06-16, and must be settled at intrinsic value on
that close — not left at 0. Expected figures are computed by hand from the
offline snapshot read directly (not from the cache the engines read).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from sigmasight_lib.db.models import PositionValuation
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.engines.stress import option_inputs
from sigmasight_lib.marketdata.cache import sync_market_data
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.params import load_engine_params
from sigmasight_lib.runs import run_exposures, run_greeks, run_snapshot, run_valuation
from sigmasight_lib.runs.portfolio import load_position_analytics

HF = "Long/Short Hedge Fund Style"
EXPIRY = dt.date(2017, 6, 16)  # a Friday session
JUNE_END = dt.date(2017, 6, 30)
LATE = dt.date(2020, 2, 19)  # every demo option long expired
JPM_PUT, JPM_CALL = "JPM170616P00075000", "JPM170616C00075000"
AAPL_PUT = "AAPL170721P00032000"
EXPIRED_BY_JUNE_END = {JPM_PUT, JPM_CALL, "AMD170421C00015000", "XOM170519P00057500"}


def snapshot_close(symbol: str, day: dt.date) -> float:
    """The traded close (else adjusted close) of ``symbol`` on ``day``, from the snapshot."""
    row = OfflineSnapshotProvider().fetch_prices([symbol], day, day).iloc[0]
    return float(row["close"] if pd.notna(row["close"]) else row["adj_close"])


def synced_to(settings, as_of: dt.date, history_sessions: int = 80):
    with session_scope(settings) as session:
        sync_market_data(
            session, OfflineSnapshotProvider(), as_of=as_of, history_sessions=history_sessions
        )
    return settings


@pytest.fixture
def june_db(demo_db):
    """The demo database with offline prices through 2017-06-30."""
    return synced_to(demo_db, JUNE_END)


def _by_symbol(run) -> pd.DataFrame:
    return run.tables["positions"].reset_index().set_index("symbol")


def test_expired_in_the_money_put_is_settled_at_intrinsic_and_its_pnl_realized(june_db):
    run = run_valuation(june_db, HF, JUNE_END)
    t = _by_symbol(run)
    put = t.loc[JPM_PUT]
    # hand: settlement = max(K − S_expiry_close, 0); P&L = qty × (settlement − entry) × 100
    s = snapshot_close("JPM", EXPIRY)
    settlement = max(75.0 - s, 0.0)
    realized = 40 * (settlement - 1.53) * 100
    assert settlement == pytest.approx(2.892, abs=1e-9)  # the figure of the issue
    assert put["price"] == pytest.approx(settlement, abs=1e-12)
    assert put["realized_pnl_usd"] == pytest.approx(realized, abs=1e-9)
    assert put["realized_pnl_usd"] == pytest.approx(5448.0, abs=0.01)  # not −6,120
    assert put["price_source"] == "settled" and bool(put["expired"])
    for col in ("market_value_usd", "exposure_usd", "notional_usd", "unrealized_pnl_usd",
                "daily_pnl_usd"):  # fmt: skip
        assert put[col] == 0.0, col
    assert put["reason"] == (
        f"expired 2017-06-16, settled at intrinsic 2.892 (underlying close {s:g}; exercised)"
    )
    # the out-of-the-money call of the straddle expired worthless: −40 × 4.62 × 100
    assert t.loc[JPM_CALL, "realized_pnl_usd"] == pytest.approx(-18480.0)
    assert set(t.index[t["expired"]]) == EXPIRED_BY_JUNE_END
    assert not t.loc[AAPL_PUT, "expired"] and t.loc[AAPL_PUT, "price_source"] == "model"
    assert run.summary["expired"] == 4
    assert run.summary["realized_pnl_usd"] == pytest.approx(t["realized_pnl_usd"].sum())
    assert run.summary["unpriced"] == 0
    with session_scope(june_db) as session:
        stored = session.execute(
            sa.select(PositionValuation.expired, PositionValuation.realized_pnl_usd,
                      PositionValuation.price_source)
            .where(PositionValuation.as_of == JUNE_END,
                   PositionValuation.position_id == int(t.loc[JPM_PUT, "id"]))
        ).one()  # fmt: skip
    assert stored.expired is True and stored.price_source == "settled"
    assert stored.realized_pnl_usd == pytest.approx(realized, abs=1e-9)


def test_expiry_day_is_marked_at_intrinsic_so_daily_pnl_adds_up_to_the_realized(june_db):
    before = _by_symbol(run_valuation(june_db, HF, dt.date(2017, 6, 15))).loc[JPM_PUT]
    on = _by_symbol(run_valuation(june_db, HF, EXPIRY)).loc[JPM_PUT]
    after = _by_symbol(run_valuation(june_db, HF, dt.date(2017, 6, 19))).loc[JPM_PUT]
    settlement = 75.0 - snapshot_close("JPM", EXPIRY)
    # on its expiry date the put is still held, marked at its close = intrinsic
    assert on["price"] == pytest.approx(settlement, abs=1e-12)
    assert on["price_source"] == "intrinsic" and not on["expired"]
    # from the previous session's model price (BSM with the expiry day's vol window, so it
    # differs from the 06-15 run's own price by the one-session shift of that window)
    assert on["previous_price"] == pytest.approx(before["price"], rel=1e-3)
    assert on["daily_pnl_usd"] == pytest.approx(40 * (settlement - on["previous_price"]) * 100)
    # the next session it is settled: nothing moves any more, the P&L is realized
    assert after["expired"] and after["daily_pnl_usd"] == 0.0
    assert after["previous_price"] == pytest.approx(on["price"], abs=1e-12)
    assert after["realized_pnl_usd"] == pytest.approx(on["unrealized_pnl_usd"], abs=1e-9)
    # unrealized at the previous mark + the expiry-day move = the realized P&L
    unrealized_before = 40 * (on["previous_price"] - 1.53) * 100
    assert unrealized_before + on["daily_pnl_usd"] == pytest.approx(
        after["realized_pnl_usd"], abs=1e-9
    )
    # Greeks on the expiry close: exercise delta (ITM put: −40 × 100 shares), nothing else
    g = _by_symbol(run_greeks(june_db, HF, EXPIRY))
    assert g.loc[JPM_PUT, "delta"] == -4000.0 and g.loc[JPM_CALL, "delta"] == 0.0
    assert g.loc[JPM_PUT, "model_price"] == pytest.approx(settlement, abs=1e-12)
    assert g.loc[JPM_PUT, ["gamma", "theta", "vega", "rho"]].tolist() == [0.0] * 4


def test_expired_options_leave_greeks_exposures_and_stress_inputs(june_db):
    greeks = _by_symbol(run_greeks(june_db, HF, JUNE_END))
    for symbol in EXPIRED_BY_JUNE_END:
        assert greeks.loc[symbol, ["delta", "gamma", "theta", "vega", "rho"]].tolist() == [0.0] * 5
        assert greeks.loc[symbol, "reason"].endswith(": settled, out of the book (Greeks 0)")
    valuation = _by_symbol(run_valuation(june_db, HF, JUNE_END))
    live = valuation[~valuation["expired"]]
    run = run_exposures(june_db, HF, JUNE_END)
    assert run.summary["position_count"] == 30 - 4
    assert run.summary["options_exposure_usd"] == pytest.approx(live.loc[AAPL_PUT, "exposure_usd"])
    assert run.summary["notional_usd"] == pytest.approx(live["notional_usd"].sum())
    assert run.summary["gross_exposure_usd"] == pytest.approx(live["exposure_usd"].abs().sum())
    assert any("4 options expired before the as-of" in n for n in run.notes)
    assert "JPM long straddle" not in run.tables["strategy"].index  # both legs settled
    assert run.tables["type"].loc["LP", "position_count"] == 1  # the AAPL put only
    with session_scope(june_db) as session:
        pa = load_position_analytics(
            session, OfflineSnapshotProvider(), load_engine_params(june_db.params_dir), HF, JUNE_END
        )
        options = option_inputs(
            pa.joined(), load_engine_params(june_db.params_dir).greeks.dividend_yield
        )
    assert list(pa.positions.loc[options.index, "symbol"]) == [AAPL_PUT]


def test_snapshot_counts_options_until_their_expiry(june_db):
    run = run_snapshot(june_db, HF, dt.date(2017, 6, 19), backfill=2)
    counts = run.tables["history"].set_index("as_of")["position_count"]
    # AMD (04-21) and XOM (05-19) are gone; the JPM straddle is held through its expiry
    assert counts.to_dict() == {
        dt.date(2017, 6, 15): 28,
        dt.date(2017, 6, 16): 28,
        dt.date(2017, 6, 19): 26,
    }


def test_every_option_is_settled_at_a_later_as_of(demo_db):
    """2020-02-19: the expiry closes lie outside the loaded window (and, for AAPL's
    2017-07-21 expiry, outside the cache: fetched from the provider)."""
    synced_to(demo_db, LATE)
    t = _by_symbol(run_valuation(demo_db, HF, LATE))
    options = t[t.index.str.len() > 6]
    assert len(options) == 5 and options["expired"].all()
    assert (options["price_source"] == "settled").all() and options["price"].notna().all()
    aapl = max(32.0 - snapshot_close("AAPL", dt.date(2017, 7, 21)), 0.0)
    assert options.loc[AAPL_PUT, "realized_pnl_usd"] == pytest.approx(50 * (aapl - 0.82) * 100)
    assert options.loc[JPM_PUT, "realized_pnl_usd"] == pytest.approx(5448.0, abs=0.01)
    greeks = _by_symbol(run_greeks(demo_db, HF, LATE))
    assert (greeks.loc[options.index, "delta"] == 0.0).all()
    exposures = run_exposures(demo_db, HF, LATE)
    assert exposures.summary["position_count"] == 25
    assert exposures.summary["options_exposure_usd"] == 0.0
    snapshot = run_snapshot(demo_db, HF, LATE)
    assert snapshot.summary["position_count"] == 25


def test_reports_show_the_realized_pnl_of_settled_options(june_db, tmp_path):
    import csv
    import json

    import jsonschema

    from sigmasight_lib.reporting.writers import load_schema, write_reports

    run_valuation(june_db, HF, JUNE_END)
    run_greeks(june_db, HF, JUNE_END)
    run_exposures(june_db, HF, JUNE_END)
    paths = write_reports(june_db, HF, JUNE_END, formats="md,json,csv", output_dir=tmp_path)
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(load_schema()).validate(doc)
    assert doc["valuation"]["expired"] == 4
    # hand: JPM put exercised; JPM call (long), AMD call and XOM put (short) expired worthless
    realized = (
        40 * (max(75.0 - snapshot_close("JPM", EXPIRY), 0.0) - 1.53) * 100
        + 40 * (0.0 - 4.62) * 100
        - 50 * (0.0 - 1.31) * 100
        - 30 * (0.0 - 0.39) * 100
    )
    assert doc["valuation"]["realized_pnl_usd"] == pytest.approx(realized, abs=1e-6)
    rows = {r["symbol"]: r for r in csv.DictReader(paths["csv"].open(encoding="utf-8"))}
    assert float(rows[JPM_PUT]["realized_pnl_usd"]) == pytest.approx(5448.0, abs=0.01)
    assert rows[JPM_PUT]["price_source"] == "settled"
    assert float(rows[JPM_PUT]["market_value_usd"]) == 0.0
    assert "exercised" in rows[JPM_PUT]["notes"]
    assert doc["valuation"]["realized_pnl_usd"] == pytest.approx(
        sum(float(rows[s]["realized_pnl_usd"]) for s in EXPIRED_BY_JUNE_END)
    )
    assert "4 options expired before the as-of" in paths["md"].read_text(encoding="utf-8")
