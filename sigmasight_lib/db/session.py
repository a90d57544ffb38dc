"""Database engines, sessions and schema migrations (Alembic).

One engine per database URL per process. SQLite gets foreign keys, WAL and a
busy timeout so that a notebook and the CLI can share the file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from sigmasight_lib.config import MIGRATIONS_DIR, Settings
from sigmasight_lib.exceptions import DatabaseError

log = logging.getLogger(__name__)


def _set_sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 (DB-API object)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@cache
def _engine_for(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _set_sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for ``settings.database_url``."""
    return _engine_for(settings.database_url)


def dispose_engine(settings: Settings) -> None:
    """Close the pooled connections of ``settings``' engine (tests, before forking workers)."""
    _engine_for(settings.database_url).dispose()


@contextlib.contextmanager
def session_scope(settings: Settings, *, check_schema: bool = True) -> Iterator[Session]:
    """A transactional session: committed on success, rolled back on any exception.

    Parameters
    ----------
    check_schema : bool, default=True
        Fail with a clear :class:`DatabaseError` unless the database is at the
        latest migration.
    """
    engine = get_engine(settings)
    if check_schema:
        ensure_schema_current(settings)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(settings: Settings) -> Config:
    """An Alembic configuration bound to the package's migrations and ``settings``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["sigmasight_settings"] = settings
    return cfg


@cache
def head_revision() -> str:
    """The newest migration revision shipped with the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    if head is None:
        raise DatabaseError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(settings: Settings) -> str | None:
    """The database's migration revision (None for an empty database)."""
    try:
        with get_engine(settings).connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot open database {settings.database_url_safe}: {exc.orig}"
        ) from None


def ensure_schema_current(settings: Settings) -> None:
    """Raise :class:`DatabaseError` unless the database is at the head revision."""
    current = current_revision(settings)
    head = head_revision()
    if current != head:
        state = "empty (no schema)" if current is None else f"at revision {current}"
        raise DatabaseError(
            f"database {settings.database_url_safe} is {state}, expected {head}: "
            "run `sigmasight db upgrade`"
        )


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    log.info("upgrading %s to %s", settings.database_url_safe, revision)
    command.upgrade(alembic_config(settings), revision)


def reset(settings: Settings) -> None:
    """Drop every table (downgrade to base) and migrate back to head: an empty database."""
    log.warning("resetting database %s", settings.database_url_safe)
    cfg = alembic_config(settings)
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")
