"""Migrations: upgrade creates every model table on both backends; reset empties them."""

from __future__ import annotations

import sqlalchemy as sa

from sigmasight_lib.db.models import Base, Owner
from sigmasight_lib.db.session import (
    current_revision,
    ensure_schema_current,
    get_engine,
    head_revision,
    reset,
    session_scope,
    upgrade,
)
from sigmasight_lib.exceptions import DatabaseError


def test_upgrade_creates_every_model_table(empty_db_settings):
    assert current_revision(empty_db_settings) is None
    upgrade(empty_db_settings)
    assert current_revision(empty_db_settings) == head_revision()
    inspector = sa.inspect(get_engine(empty_db_settings))
    tables = set(inspector.get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    for name, table in Base.metadata.tables.items():
        columns = {c["name"] for c in inspector.get_columns(name)}
        assert columns == {c.name for c in table.columns}, name


def test_schema_matches_models_no_pending_autogenerate(db_settings):
    """Alembic autogenerate finds nothing to do: migrations and models agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with get_engine(db_settings).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_unmigrated_database_gives_clear_error(empty_db_settings):
    try:
        ensure_schema_current(empty_db_settings)
    except DatabaseError as exc:
        assert "sigmasight db upgrade" in str(exc)
        # a missing SQLite file is named, not created (issue 12 item 9)
        assert "empty" in str(exc) or "does not exist" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected DatabaseError")


def test_reset_drops_data_and_keeps_schema(db_settings):
    with session_scope(db_settings) as session:
        session.add(Owner(email="a@example.com"))
    reset(db_settings)
    with session_scope(db_settings) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Owner)) == 0
    assert current_revision(db_settings) == head_revision()


def _owner_and_portfolio(conn: sa.Connection) -> None:
    """Owner 1 and its portfolio 1, inserted with plain SQL (any schema revision)."""
    conn.execute(sa.text("INSERT INTO owners (id, email) VALUES (1, 'a@example.com')"))
    conn.execute(sa.text(
        "INSERT INTO portfolios (id, owner_id, name, slug, currency, source) "
        "VALUES (1, 1, 'P', 'p', 'USD', 'demo')"
    ))  # fmt: skip


def test_0006_renames_keep_the_stored_values(empty_db_settings):
    """Columns renamed by 0006 keep their rows (they already held what the new name says);
    the added columns start NULL; the downgrade restores the old names and values."""
    import datetime as dt

    from alembic import command

    from sigmasight_lib.db.session import alembic_config

    upgrade(empty_db_settings, "0005")
    engine = get_engine(empty_db_settings)
    now = dt.datetime(2017, 3, 29, 21, tzinfo=dt.UTC)
    with engine.begin() as conn:
        _owner_and_portfolio(conn)
        conn.execute(
            sa.text(
                "INSERT INTO portfolio_snapshots (portfolio_id, as_of, computed_at, "
                "market_value_usd, market_beta) VALUES (1, :d, :t, 6384232.5, 0.224)"
            ),
            {"d": dt.date(2017, 3, 29), "t": now},
        )
    upgrade(empty_db_settings)
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT gross_market_value_usd, market_beta_to_gross, net_liquidation_value_usd, "
            "market_dollar_beta_usd, market_beta_to_net FROM portfolio_snapshots"
        )).one()  # fmt: skip
    assert tuple(row) == (6384232.5, 0.224, None, None, None)
    command.downgrade(alembic_config(empty_db_settings), "0005")
    with engine.connect() as conn:
        old = conn.execute(
            sa.text("SELECT market_value_usd, market_beta FROM portfolio_snapshots")
        ).one()
    assert tuple(old) == (6384232.5, 0.224)


def test_0009_keeps_stress_results_and_files_them_under_the_library(empty_db_settings):
    """0009 rebuilds stress_scenarios on SQLite (unique key → unique (set, key)); the
    results that reference it survive, and existing definitions become the library set."""
    import datetime as dt

    upgrade(empty_db_settings, "0008")
    engine = get_engine(empty_db_settings)
    with engine.begin() as conn:
        _owner_and_portfolio(conn)
        conn.execute(sa.text(
            "INSERT INTO stress_scenarios (id, key, name, category, shocks, source, active) "
            "VALUES (5, 'market_crash_35', 'Crash', 'market', '{}', 'x', true)"
        ))  # fmt: skip
        conn.execute(
            sa.text(
                "INSERT INTO stress_results (portfolio_id, as_of, computed_at, scenario_id, "
                "correlated_pnl_usd, partial) VALUES (1, :d, :t, 5, -123.5, false)"
            ),
            {"d": dt.date(2017, 3, 29), "t": dt.datetime(2017, 3, 29, 21, tzinfo=dt.UTC)},
        )
    upgrade(empty_db_settings)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT scenario_set, key FROM stress_scenarios")).all() == [
            ("library", "market_crash_35")
        ]
        assert conn.execute(
            sa.text("SELECT scenario_id, correlated_pnl_usd FROM stress_results")
        ).all() == [(5, -123.5)]
        assert conn.execute(sa.text("SELECT kind FROM batch_runs")).all() == []
    with engine.begin() as conn:  # the same key in another set is now allowed
        conn.execute(sa.text(
            "INSERT INTO stress_scenarios (scenario_set, key, name, category, shocks, source, "
            "active) VALUES ('custom', 'market_crash_35', 'Mine', 'custom', '{}', 'y', true)"
        ))  # fmt: skip


def test_0010_keeps_export_history_and_stores_fix_sequences(empty_db_settings):
    """0010 adds the comp ids and the MsgSeqNum range to export_history: older rows keep
    their values with NULL sequences, and the next FIX export to a pair starts at 1."""
    from sigmasight_lib.whatif.fix import next_seq_num

    upgrade(empty_db_settings, "0009")
    engine = get_engine(empty_db_settings)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO export_history (id, session_id, export_format, path, trade_count, "
            "content_sha256, created_at) "
            "VALUES (1, NULL, 'fix', NULL, 3, 'abc', CURRENT_TIMESTAMP)"
        ))  # fmt: skip
    upgrade(empty_db_settings)
    assert current_revision(empty_db_settings) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text(
            "SELECT trade_count, content_sha256, sender_comp_id, last_seq_num FROM export_history"
        )).all() == [(3, "abc", None, None)]  # fmt: skip
    with session_scope(empty_db_settings) as session:
        assert next_seq_num(session, "SIGMASIGHT", "BROKER") == 1


def test_0011_marks_existing_portfolios_not_synthetic(empty_db_settings):
    """0011 adds ``portfolios.synthetic`` (false for existing rows) and the position-id
    indexes of the per-position result tables; the downgrade removes both again."""
    upgrade(empty_db_settings, "0010")
    engine = get_engine(empty_db_settings)
    with engine.begin() as conn:
        _owner_and_portfolio(conn)
    upgrade(empty_db_settings, "0011")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id, synthetic FROM portfolios")).all() == [(1, False)]
    indexes = {i["name"] for i in sa.inspect(engine).get_indexes("position_valuations")}
    assert "ix_position_valuations_position_id" in indexes
    assert "ix_position_tags_tag_id" in {
        i["name"] for i in sa.inspect(engine).get_indexes("position_tags")
    }
    from alembic import command

    from sigmasight_lib.db.session import alembic_config

    command.downgrade(alembic_config(empty_db_settings), "0010")
    inspector = sa.inspect(get_engine(empty_db_settings))
    assert "synthetic" not in {c["name"] for c in inspector.get_columns("portfolios")}
    assert "ix_position_valuations_position_id" not in {
        i["name"] for i in inspector.get_indexes("position_valuations")
    }
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM portfolios")).all() == [(1,)]
