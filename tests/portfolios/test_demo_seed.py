"""Demo seeding on SQLite and PostgreSQL: counts, contents, idempotence, reconciliation."""

from __future__ import annotations

import sqlalchemy as sa

from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.models import FactorDefinition, Owner, Portfolio, Position, Strategy, Tag
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
from sigmasight_lib.portfolios.demo import load_demo_portfolios, seed_demo

PARAMS = REPO_DIR / "params"
EXPECTED = {
    "Balanced Individual Investor": ("demo_individual@sigmasight.com", 16),
    "Sophisticated High Net Worth": ("demo_hnw@sigmasight.com", 17),
    "Long/Short Hedge Fund Style": ("demo_hedgefundstyle@sigmasight.com", 30),
}


def _counts(session) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (Owner, Portfolio, Position, Tag, Strategy, FactorDefinition)
    }


def test_demo_params_match_spec():
    demos = {d.name: d for d in load_demo_portfolios(PARAMS)}
    assert {n: (d.owner_email, len(d.positions)) for n, d in demos.items()} == EXPECTED
    options = [p for d in demos.values() for p in d.positions if p.is_option]
    assert 6 <= len(options) <= 10
    assert {p.position_type.value for p in options} == {"LC", "LP", "SC", "SP"}
    hf = demos["Long/Short Hedge Fund Style"]
    assert any(p.position_type.value == "SHORT" for p in hf.positions)


def test_demo_uses_only_snapshot_symbols_and_future_expiries():
    provider = OfflineSnapshotProvider()
    positions = [p for d in load_demo_portfolios(PARAMS) for p in d.positions]
    assert provider.unknown_symbols({p.underlying for p in positions}) == set()
    import datetime as dt

    default_as_of = dt.date(2017, 3, 29)
    for p in positions:
        if p.is_option:
            assert p.expiry > default_as_of, p.symbol
            assert p.expiry.weekday() == 4 and 15 <= p.expiry.day <= 21, p.symbol  # third Friday
        assert p.entry_date <= default_as_of


def test_seed_is_idempotent(db_settings):
    with session_scope(db_settings) as session:
        first = seed_demo(session, PARAMS)
    assert {n: s.created for n, s in first.items()} == {n: c for n, (_, c) in EXPECTED.items()}
    with session_scope(db_settings) as session:
        after_first = _counts(session)
        ids_first = sorted(session.scalars(sa.select(Position.id)))
    with session_scope(db_settings) as session:
        second = seed_demo(session, PARAMS)
    assert all(s.created == s.removed == s.updated == 0 for s in second.values())
    with session_scope(db_settings) as session:
        assert _counts(session) == after_first
        assert sorted(session.scalars(sa.select(Position.id))) == ids_first
    assert after_first["positions"] == 63
    assert after_first["owners"] == 3


def test_seed_keeps_tags_and_strategies(db_settings):
    with session_scope(db_settings) as session:
        seed_demo(session, PARAMS)
        call = session.scalar(sa.select(Position).where(Position.symbol == "AAPL170421C00035000"))
        assert call.position_type == "SC"
        assert call.quantity == -4
        assert call.multiplier == 100
        assert call.strike == 35.0
        assert call.strategy.name == "AAPL covered call"
        assert call.strategy.strategy_type == "covered_call"
        assert {t.name for t in call.tags} == {"Options Overlay", "Income"}
        hf = session.scalar(
            sa.select(Portfolio).where(Portfolio.name == "Long/Short Hedge Fund Style")
        )
        assert {s.name for s in hf.strategies} == {
            "AMD covered call",
            "XOM/CVX pair",
            "JPM long straddle",
        }


def test_reseed_restores_a_deleted_position_and_removes_strays(db_settings):
    with session_scope(db_settings) as session:
        seed_demo(session, PARAMS)
    with session_scope(db_settings) as session:
        p = session.scalar(
            sa.select(Portfolio).where(Portfolio.name == "Balanced Individual Investor")
        )
        session.delete(
            session.scalar(
                sa.select(Position).where(Position.portfolio_id == p.id, Position.symbol == "MTUM")
            )
        )
        session.add(
            Position(
                portfolio_id=p.id, symbol="KO", underlying="KO", position_type="LONG", quantity=1
            )
        )
    with session_scope(db_settings) as session:
        summary = seed_demo(session, PARAMS)["Balanced Individual Investor"]
        assert (summary.created, summary.removed) == (1, 1)
        assert session.scalar(sa.select(sa.func.count()).select_from(Position)) == 63


def test_reseed_keeps_edited_position_its_tags_and_history(db_settings):
    """Issue 14: a second seed (a second ``make demo``) keeps a user's edits: the
    position's id, its edited quantity and entry price, its tags and its history."""
    import datetime as dt

    from sigmasight_lib.db.models import PositionHistory
    from sigmasight_lib.portfolios.edits import edit_position
    from sigmasight_lib.portfolios.tags import rename_tag, tag_position

    def rename_tag_of(session, pos, name):
        """Rename the owner's tag ``name`` (a demo tag): a reseed must not recreate it."""
        rename_tag(session, pos.portfolio.owner.email, name, f"{name} renamed")
        session.refresh(pos)
        return [t.name for t in pos.tags]

    with session_scope(db_settings) as session:
        seed_demo(session, PARAMS)
    with session_scope(db_settings) as session:
        pos = session.scalar(sa.select(Position).where(Position.symbol == "AAPL").limit(1))
        pid = pos.id
        edit_position(session, pid, quantity=900, entry_price=31.5, effective=dt.date(2017, 3, 1))
        tag_position(session, pid, add=["Mega Cap"])
        renamed = pos.tags[0].name
        tags = rename_tag_of(session, pos, renamed)
        history = session.scalar(
            sa.select(sa.func.count())
            .select_from(PositionHistory)
            .where(PositionHistory.position_id == pid)
        )
        counts = _counts(session)
    assert history >= 2
    with session_scope(db_settings) as session:
        second = seed_demo(session, PARAMS)
    assert all(s.created == s.removed == s.updated == s.conflicted == 0 for s in second.values())
    with session_scope(db_settings) as session:
        pos = session.get(Position, pid)
        assert (pos.quantity, pos.entry_price) == (900, 31.5)
        assert sorted(t.name for t in pos.tags) == sorted(tags)
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(PositionHistory)
                .where(PositionHistory.position_id == pid)
            )
            == history
        )
        assert _counts(session) == counts
