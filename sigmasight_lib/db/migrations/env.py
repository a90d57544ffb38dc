"""Alembic environment: runs migrations on the engine of the active settings."""

from __future__ import annotations

from alembic import context

from sigmasight_lib.config import load_settings
from sigmasight_lib.db.models import Base
from sigmasight_lib.db.session import get_engine

settings = context.config.attributes.get("sigmasight_settings") or load_settings()
engine = get_engine(settings)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
