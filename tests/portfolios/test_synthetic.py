"""Synthetic portfolios: reproducible generation, composition, bulk store and removal on
SQLite and PostgreSQL, and the ``demo synthetic`` command."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
import sqlalchemy as sa

from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.models import (
    BatchJob,
    BatchRun,
    ModelingSession,
    Owner,
    Portfolio,
    PortfolioSnapshot,
    Position,
    PositionHistory,
    PositionTag,
    PositionValuation,
    Tag,
)
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.portfolios.demo import seed_demo
from sigmasight_lib.portfolios.occ import parse_occ_symbol
from sigmasight_lib.portfolios.option_symbols import parse_option_symbol
from sigmasight_lib.portfolios.synthetic import (
    STRIKE_STEPS,
    generate_synthetic_portfolios,
    monthly_expiries,
    snapshot_universe,
    strike_increment,
)
from sigmasight_lib.portfolios.synthetic_store import (
    SyntheticPortfoliosExistError,
    count_synthetic,
    remove_synthetic,
    save_synthetic,
)
from tests.conftest import cli_runner

AS_OF = dt.date(2017, 3, 29)


@pytest.fixture(scope="module")
def universe():
    return snapshot_universe()


# --------------------------------------------------------------------------- generation


def test_snapshot_universe_is_the_stocks_and_etfs_with_prices(universe):
    assert universe.as_of == AS_OF  # what market-data sync chooses offline
    assert "AAPL" in universe.symbols and "MTUM" in universe.symbols
    assert "SPY" not in universe.symbols  # total returns only, no price level
    assert "^GSPC" not in universe.symbols and "DCOILWTICO" not in universe.symbols
    assert set(universe.asset_types.values()) == {"stock", "etf"}
    assert universe.closes.index[-1] == AS_OF
    assert not universe.closes.isna().any().any()
    assert 0 < universe.risk_free_rate < 0.05


def test_same_seed_same_portfolios_other_seed_others(universe):
    a = generate_synthetic_portfolios(universe, 5, 20, seed=42)
    b = generate_synthetic_portfolios(universe, 5, 20, seed=42)
    assert a == b
    # portfolio i does not depend on how many are asked for
    assert generate_synthetic_portfolios(universe, 2, 20, seed=42) == a[:2]
    c = generate_synthetic_portfolios(universe, 5, 20, seed=43)
    assert [p.name for p in c] == [p.name for p in a]
    assert [p.positions for p in c] != [p.positions for p in a]
    assert len({p.positions for p in a}) == 5  # the portfolios differ from each other


def test_names_and_owners_are_distinct(universe):
    ps = generate_synthetic_portfolios(universe, 12, 5, seed=1)
    assert ps[0].name == "Synthetic 0001" and ps[11].name == "Synthetic 0012"
    assert len({p.name for p in ps}) == len({p.owner_email for p in ps}) == 12


def test_composition(universe):
    ps = generate_synthetic_portfolios(universe, 40, 50, seed=7)
    positions = [s for p in ps for s in p.positions]
    assert all(len(p.positions) == 50 for p in ps)
    options = [s for s in positions if s.is_option]
    assert len(options) == 40 * 10  # 20 % of 50, per portfolio
    shorts = sum(s.position_type.is_short for s in positions) / len(positions)
    assert 0.20 <= shorts <= 0.30
    assert {s.position_type.value for s in options} == {"LC", "LP", "SC", "SP"}
    stocks = [s for s in positions if not s.is_option]
    assert {universe.asset_types[s.symbol] for s in stocks} == {"stock", "etf"}
    for p in ps:  # one lot per (symbol, entry date)
        lots = [(s.symbol, s.entry_date) for s in p.positions if not s.is_option]
        assert len(lots) == len(set(lots))

    closes = universe.closes
    for s in stocks:
        assert s.entry_date < AS_OF
        assert s.entry_price == pytest.approx(closes.loc[s.entry_date, s.symbol], abs=5e-5)
        assert s.multiplier == 1 and s.quantity == int(s.quantity) != 0
        assert 5_000 <= abs(s.quantity) * s.entry_price <= 110_000
    expiries = set(monthly_expiries(AS_OF))
    for s in options:
        assert s.underlying in universe.symbols
        assert s.expiry in expiries and s.expiry > AS_OF > s.entry_date
        contract = parse_occ_symbol(s.symbol)
        assert (contract.root, contract.expiry, contract.option_type, contract.strike) == (
            s.underlying, s.expiry, s.option_type, s.strike,
        )  # fmt: skip
        assert parse_option_symbol(s.symbol).occ_symbol == s.symbol
        spot = closes.loc[AS_OF, s.underlying]
        step = strike_increment(spot)
        assert s.strike / step == pytest.approx(round(s.strike / step))
        assert abs(s.strike - spot) <= (STRIKE_STEPS + 0.5) * step
        assert s.multiplier == 100 and 1 <= abs(s.quantity) <= 20
        assert s.entry_price >= 0.01
    assert len({s.expiry for s in options}) == len(expiries)


def test_option_entry_prices_are_bsm_prices(universe):
    """An option's entry price is the BSM value at its entry date (independent check:
    a call is worth at least its discounted intrinsic value and less than the spot)."""
    ps = generate_synthetic_portfolios(universe, 10, 30, seed=3)
    for s in (s for p in ps for s in p.positions if s.is_option):
        spot = universe.closes.loc[s.entry_date, s.underlying]
        years = (s.expiry - s.entry_date).days / 365
        k = s.strike * np.exp(-universe.risk_free_rate * years)
        intrinsic = max(spot - k, 0.0) if s.option_type == "C" else max(k - spot, 0.0)
        assert intrinsic - 0.01 <= s.entry_price <= (spot if s.option_type == "C" else k) + 0.01


def test_monthly_expiries_are_third_fridays_or_the_session_before():
    assert monthly_expiries(AS_OF, 3) == (dt.date(2017, 4, 21), dt.date(2017, 5, 19),
                                          dt.date(2017, 6, 16))  # fmt: skip
    # the as-of date itself is not "after"; April 2019's third Friday was Good Friday
    assert monthly_expiries(dt.date(2017, 4, 21), 1) == (dt.date(2017, 5, 19),)
    assert monthly_expiries(dt.date(2019, 4, 1), 1) == (dt.date(2019, 4, 18),)


@pytest.mark.parametrize(
    ("n_portfolios", "n_positions", "seed"), [(0, 5, 1), (1, 0, 1), (1, 5, -1)]
)
def test_bad_arguments_are_quoted(universe, n_portfolios, n_positions, seed):
    with pytest.raises(ValueError, match=r"-1|0"):
        generate_synthetic_portfolios(universe, n_portfolios, n_positions, seed)


# --------------------------------------------------------------------------- database


def _count(session, model, *where) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def _add_results(session, portfolio_id: int, run: BatchRun) -> None:
    """A valuation per position, a snapshot, a job, a history entry and a session."""
    positions = session.scalars(sa.select(Position).where(Position.portfolio_id == portfolio_id))
    for pos in positions:
        session.add(PositionValuation(portfolio_id=portfolio_id, as_of=AS_OF,
                                      position_id=pos.id, batch_run_id=run.id, price=1.0))  # fmt: skip
        session.add(PositionHistory(position_id=pos.id, effective_date=AS_OF, field="quantity",
                                    old_value="1", new_value="2"))  # fmt: skip
    session.add(PortfolioSnapshot(portfolio_id=portfolio_id, as_of=AS_OF, batch_run_id=run.id))
    session.add(BatchJob(batch_run_id=run.id, portfolio_id=portfolio_id, job_name="valuation"))
    session.add(ModelingSession(portfolio_id=portfolio_id, name="what if"))


def test_save_rerun_replace_and_remove(db_settings, universe):
    """Bulk store, idempotent rerun, refusal and --replace, then removal of everything
    hanging off synthetic portfolios, on both backends; demo portfolios untouched."""
    with session_scope(db_settings) as session:
        seed_demo(session, REPO_DIR / "params")
        demo_tags = _count(session, Tag)
    generated = generate_synthetic_portfolios(universe, 4, 12, seed=11)
    with session_scope(db_settings) as session:
        summary = save_synthetic(session, generated)
    assert (summary.portfolios, summary.positions, summary.owners) == (4, 48, 4)
    with session_scope(db_settings) as session:
        stored = session.scalars(
            sa.select(Portfolio).where(Portfolio.synthetic.is_(True)).order_by(Portfolio.id)
        ).all()
        assert [p.name for p in stored] == [g.name for g in generated]
        assert [p.owner.email for p in stored] == [g.owner_email for g in generated]
        assert {p.source for p in stored} == {"synthetic"}
        first = [
            (s.symbol, s.quantity, s.entry_price, s.entry_date, s.position_type, s.expiry,
             s.strike, s.option_type, s.multiplier, tuple(t.name for t in s.tags))
            for s in stored[0].positions
        ]  # fmt: skip
        expected = [
            (g.symbol, g.quantity, g.entry_price, g.entry_date, g.position_type.value, g.expiry,
             g.strike, g.option_type, g.multiplier, g.tags)
            for g in generated[0].positions
        ]  # fmt: skip
        assert first == expected
        assert _count(session, Portfolio, Portfolio.synthetic.is_(False)) == 3
        ids = [p.id for p in stored]

    # the same arguments again: nothing changes (same ids)
    with session_scope(db_settings) as session:
        assert save_synthetic(session, generated).unchanged
        assert (
            session.scalars(
                sa.select(Portfolio.id).where(Portfolio.synthetic.is_(True)).order_by(Portfolio.id)
            ).all()
            == ids
        )
        assert count_synthetic(session) == (4, 48)

    # other arguments: refused, then replaced
    other = generate_synthetic_portfolios(universe, 3, 12, seed=12)
    with session_scope(db_settings) as session, pytest.raises(SyntheticPortfoliosExistError,
                                                               match="--replace"):  # fmt: skip
        save_synthetic(session, other)
    with session_scope(db_settings) as session:
        assert save_synthetic(session, other, replace=True).portfolios == 3
        assert count_synthetic(session) == (3, 36)
        assert _count(session, Owner) == 3 + 3  # the fourth synthetic owner went too

    # results on a demo portfolio and every synthetic one; one run mixes both
    with session_scope(db_settings) as session:
        demo_id = session.scalar(sa.select(Portfolio.id).where(Portfolio.source == "demo"))
        synthetic_ids = session.scalars(
            sa.select(Portfolio.id).where(Portfolio.synthetic.is_(True))
        ).all()
        mixed, only_synthetic = BatchRun(as_of=AS_OF), BatchRun(as_of=AS_OF, kind="manual")
        session.add_all([mixed, only_synthetic])
        session.flush()
        _add_results(session, demo_id, mixed)
        _add_results(session, synthetic_ids[0], mixed)
        for pid in synthetic_ids[1:]:
            _add_results(session, pid, only_synthetic)
        mixed_id, only_id = mixed.id, only_synthetic.id
        demo_positions = _count(session, Position, Position.portfolio_id == demo_id)
        demo_links = _count(session, PositionTag) - 36

    with session_scope(db_settings) as session:
        summary = remove_synthetic(session)
    assert (summary.portfolios, summary.positions, summary.owners) == (3, 36, 3)
    with session_scope(db_settings) as session:
        assert count_synthetic(session) == (0, 0)
        assert _count(session, Portfolio) == 3
        assert _count(session, Owner) == 3
        assert _count(session, Position) == 63
        assert _count(session, PositionTag) == demo_links
        assert _count(session, Tag) == demo_tags
        assert _count(session, PositionValuation) == demo_positions
        assert _count(session, PositionHistory) == demo_positions
        assert _count(session, PortfolioSnapshot) == 1
        assert _count(session, ModelingSession) == 1
        assert session.scalars(sa.select(BatchJob.portfolio_id)).all() == [demo_id]
        assert session.scalars(sa.select(BatchRun.id)).all() == [mixed_id]
        assert only_id != mixed_id
        assert remove_synthetic(session).portfolios == 0  # nothing left: a no-op


def test_bulk_create_and_remove_take_a_constant_number_of_statements(db_settings, universe):
    """Creation and removal are bulk (a handful of executemany statements whatever the
    size), not one round trip per row: the speed itself is measured by ``make bench``."""

    def statements(n_portfolios: int) -> tuple[int, int]:
        generated = generate_synthetic_portfolios(universe, n_portfolios, 20, seed=5)
        counts = []
        for action in (lambda s: save_synthetic(s, generated), remove_synthetic):
            seen: list[str] = []
            with session_scope(db_settings) as session:
                engine = session.get_bind()
                listener = lambda *args, seen=seen: seen.append(args[2])  # noqa: E731
                sa.event.listen(engine, "before_cursor_execute", listener)
                try:
                    action(session)
                    session.flush()
                finally:
                    sa.event.remove(engine, "before_cursor_execute", listener)
            counts.append(len(seen))
        return counts[0], counts[1]

    small, large = statements(5), statements(60)
    assert large == small, (small, large)  # 12x the rows, the same statements


# --------------------------------------------------------------------------- CLI


def test_cli_demo_synthetic(sqlite_demo_db, monkeypatch, capsys):
    run = cli_runner(sqlite_demo_db, monkeypatch, capsys)
    args = ("demo", "synthetic", "--portfolios", "3", "--positions", "10", "--seed", "5")
    code, out, _ = run(*args)
    assert code == 0 and "3 portfolios, 30 positions created" in out
    code, out, _ = run(*args)
    assert code == 0 and "unchanged" in out
    code, _, err = run(*args[:-1], "6")
    assert code == 1 and "--replace" in err
    code, out, _ = run(*args[:-1], "6", "--replace", "--json")
    assert code == 0 and json.loads(out)["portfolios"] == 3

    code, out, _ = run("portfolio", "list", "--synthetic", "--json")
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["Synthetic 0001", "Synthetic 0002", "Synthetic 0003"]
    assert all(r["synthetic"] and r["positions"] == 10 for r in rows)
    code, out, _ = run("portfolio", "list", "--no-synthetic", "--json")
    assert len(json.loads(out)) == 3 and not any(r["synthetic"] for r in json.loads(out))

    # a synthetic portfolio runs through an engine like any other
    code, out, err = run("engine", "valuation", "--portfolio", "Synthetic 0001", "--json")
    assert code == 0, err
    summary = json.loads(out)["summary"]
    assert summary["positions"] == 10 and summary["unpriced"] == 0

    code, out, _ = run("demo", "synthetic", "--remove")
    assert code == 0 and "3 portfolios, 30 positions removed" in out
    code, out, _ = run("portfolio", "list", "--json")
    assert [r["synthetic"] for r in json.loads(out)] == [False, False, False]
