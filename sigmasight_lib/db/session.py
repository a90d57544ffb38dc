"""Database engines, sessions and schema migrations (Alembic).

One engine per database URL per process. SQLite gets foreign keys, WAL and a
busy timeout so that a notebook and the CLI can share the file.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from sigmasight_lib.config import MIGRATIONS_DIR, Settings
from sigmasight_lib.exceptions import DatabaseError, DatabaseLockedError

log = logging.getLogger(__name__)


BUSY_TIMEOUT_SECONDS = 30.0
"""How long SQLite waits for another process's lock (``SIGMASIGHT_DB_BUSY_TIMEOUT`` overrides)."""


def busy_timeout_seconds() -> float:
    """``SIGMASIGHT_DB_BUSY_TIMEOUT`` in seconds (default :data:`BUSY_TIMEOUT_SECONDS`)."""
    raw = os.environ.get("SIGMASIGHT_DB_BUSY_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else BUSY_TIMEOUT_SECONDS
    except ValueError:
        value = BUSY_TIMEOUT_SECONDS
    return value if value >= 0 else BUSY_TIMEOUT_SECONDS


def _sqlite_pragmas(timeout_s: float):  # noqa: ANN202 (event listener)
    def set_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 (DB-API object)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: no fsync per commit (only at checkpoints); never corrupts, a power
        # loss may drop the last commits. Bulk result writes are several times faster.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return set_pragmas


def get_engine(settings: Settings) -> Engine:
    """The process-wide engine for ``settings.database_url``."""
    return _engine_for(settings.database_url, busy_timeout_seconds())


@cache
def _engine_for(url: URL, timeout_s: float = BUSY_TIMEOUT_SECONDS) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": timeout_s})
        event.listen(engine, "connect", _sqlite_pragmas(timeout_s))
    else:
        engine = create_engine(url, pool_pre_ping=True)
    return engine


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite database file of ``settings`` (None for PostgreSQL or in-memory)."""
    if settings.dialect != "sqlite" or settings.database_url.database in (None, "", ":memory:"):
        return None
    return Path(settings.database_url.database).expanduser()


def database_error(exc: BaseException, settings: Settings) -> DatabaseError:
    """One line for a driver error: what is wrong with which file or URL, and the fix.

    The URL's password is masked; the driver's own message is reduced to its
    first line. Lock timeouts give :class:`DatabaseLockedError` (worth a retry).
    """
    if isinstance(exc, DatabaseError):
        return exc
    orig = getattr(exc, "orig", None) or exc
    detail = (str(orig).strip().splitlines() or [type(orig).__name__])[0].strip()
    lowered = detail.lower()
    path = sqlite_file(settings)
    where = (
        f"database file {path}" if path is not None else f"database {settings.database_url_safe}"
    )
    if "database is locked" in lowered or "database table is locked" in lowered:
        return DatabaseLockedError(
            f"{where} is locked by another process (waited {busy_timeout_seconds():g} s): let the "
            "other batch, notebook or command finish, then retry (SIGMASIGHT_DB_BUSY_TIMEOUT "
            "sets the wait in seconds)"
        )
    if "file is not a database" in lowered or "malformed" in lowered or "not a database" in lowered:
        return DatabaseError(
            f"{where} is not a usable SQLite database ({detail}): it is corrupt or truncated; "
            "restore it from a backup, or move it aside and run `sigmasight db upgrade` to "
            "start an empty one"
        )
    if "readonly" in lowered or "read-only" in lowered or "unable to open database file" in lowered:
        folder = path.parent if path is not None else None
        return DatabaseError(
            f"{where} cannot be written ({detail}): make the file and its folder {folder} "
            "writable by this user (SQLite writes -wal and -shm files beside it), or set "
            "SIGMASIGHT_DATABASE_URL to a writable location"
        )
    if settings.dialect == "postgresql" and (
        "connection" in lowered or "port" in lowered or "could not" in lowered
    ):
        return DatabaseError(
            f"cannot connect to {where} ({detail.removeprefix('connection failed: ')}): start "
            "the server, or fix the host, port, user or database name in SIGMASIGHT_DATABASE_URL"
        )
    return DatabaseError(f"{where}: {type(orig).__name__}: {detail}")


def dispose_engine(settings: Settings) -> None:
    """Close the pooled connections of ``settings``' engine (tests, before forking workers)."""
    get_engine(settings).dispose()


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
    except BaseException as exc:
        with contextlib.suppress(DBAPIError):  # a broken connection cannot roll back
            session.rollback()
        if isinstance(exc, DBAPIError):
            raise database_error(exc, settings) from exc
        raise
    finally:
        with contextlib.suppress(DBAPIError):
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
    except DBAPIError as exc:
        raise database_error(exc, settings) from None


@cache
def _known_revisions() -> frozenset[str]:
    """Every migration revision shipped with the package (read once per process)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return frozenset(s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions())


def _refuse_newer(settings: Settings, current: str | None) -> None:
    if current is not None and current not in _known_revisions():
        raise DatabaseError(
            f"database {settings.database_url_safe} is at revision {current}, newer than this "
            f"code (latest {head_revision()}): update SigmaSight (git pull; pip install -e .) "
            "or point SIGMASIGHT_DATABASE_URL at a database of this version"
        )


def ensure_schema_current(settings: Settings) -> None:
    """Raise :class:`DatabaseError` unless the database is at the head revision.

    A missing SQLite file is reported, never created (a read-only command must
    not leave an empty database behind).
    """
    path = sqlite_file(settings)
    if path is not None and not path.exists():
        raise DatabaseError(
            f"database file {path} does not exist: run `sigmasight db upgrade` to create it, "
            "or set SIGMASIGHT_DATABASE_URL to the existing database"
        )
    current = current_revision(settings)
    head = head_revision()
    _refuse_newer(settings, current)
    if current != head:
        state = "empty (no schema)" if current is None else f"at revision {current}"
        raise DatabaseError(
            f"database {settings.database_url_safe} is {state}, expected {head}: "
            "run `sigmasight db upgrade`"
        )


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    log.info("upgrading %s to %s", settings.database_url_safe, revision)
    _refuse_newer(settings, current_revision(settings))
    try:
        command.upgrade(alembic_config(settings), revision)
    except DBAPIError as exc:
        raise database_error(exc, settings) from exc


def reset(settings: Settings) -> None:
    """Drop every table (downgrade to base) and migrate back to head: an empty database."""
    log.warning("resetting database %s", settings.database_url_safe)
    cfg = alembic_config(settings)
    _refuse_newer(settings, current_revision(settings))
    try:
        command.downgrade(cfg, "base")
        command.upgrade(cfg, "head")
    except DBAPIError as exc:
        raise database_error(exc, settings) from exc
