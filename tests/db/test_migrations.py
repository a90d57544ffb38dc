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
        assert "empty" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected DatabaseError")


def test_reset_drops_data_and_keeps_schema(db_settings):
    with session_scope(db_settings) as session:
        session.add(Owner(email="a@example.com"))
    reset(db_settings)
    with session_scope(db_settings) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Owner)) == 0
    assert current_revision(db_settings) == head_revision()
