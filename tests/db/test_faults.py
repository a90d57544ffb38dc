"""Issue 12 item 9: database faults are one line naming the file or URL and the fix.

Each case runs the CLI in-process and asserts exit status 1, exactly one line on
stderr, no traceback and nothing written (today most of them print a traceback).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from sigmasight_lib.config import load_settings
from sigmasight_lib.db.session import database_error, upgrade
from tests.conftest import cli_runner

FIX_CORRUPT = (
    "it is corrupt or truncated; restore it from a backup, or move it aside and run "
    "`sigmasight db upgrade` to start an empty one"
)


def _one_line(code: int, out: str, err: str) -> str:
    assert code == 1, (code, out, err)
    assert "Traceback" not in out + err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _settings_at(url: str, tmp_path: Path):  # noqa: ANN202
    return load_settings(
        {
            "SIGMASIGHT_DATABASE_URL": url,
            "SIGMASIGHT_OUTPUTS_DIR": str(tmp_path / "outputs"),
            "SIGMASIGHT_MARKET_DATA": "offline",
        }
    )


@pytest.fixture
def migrated_file(sqlite_settings) -> Path:  # noqa: ANN001
    upgrade(sqlite_settings)
    return Path(sqlite_settings.database_url.database)


@pytest.mark.parametrize(
    ("damage", "detail"),
    [("corrupt", "file is not a database"), ("truncated", "database disk image is malformed")],
)
def test_corrupt_or_truncated_sqlite(tmp_path, migrated_file, monkeypatch, capsys, damage, detail):
    bad = tmp_path / f"{damage}.db"
    if damage == "corrupt":
        bad.write_bytes(b"this is not SQLite" * 300)
    else:
        with sqlite3.connect(migrated_file) as conn:  # move the WAL into the main file
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        bad.write_bytes(migrated_file.read_bytes()[:8192])
    before = bad.read_bytes()
    run = cli_runner(_settings_at(f"sqlite:///{bad}", tmp_path), monkeypatch, capsys)
    for args in (("portfolio", "list"), ("tag", "create", "x", "--owner", "a@b.c")):
        line = _one_line(*run(*args))
        assert line == (
            f"error: database file {bad} is not a usable SQLite database ({detail}): {FIX_CORRUPT}"
        )
    assert bad.read_bytes() == before


def test_missing_file_is_not_created_by_read_only_commands(tmp_path, monkeypatch, capsys):
    missing = tmp_path / "missing.db"
    run = cli_runner(_settings_at(f"sqlite:///{missing}", tmp_path), monkeypatch, capsys)
    for args in (("portfolio", "list"), ("portfolio", "show", "1"), ("report", "1"),
                 ("verify",), ("batch", "status"), ("batch", "history")):  # fmt: skip
        line = _one_line(*run(*args))
        assert line == (
            f"error: database file {missing} does not exist: run `sigmasight db upgrade` to "
            "create it, or set SIGMASIGHT_DATABASE_URL to the existing database"
        )
        assert not missing.exists()


def test_lock_held_past_busy_timeout(sqlite_settings, migrated_file, monkeypatch, capsys):
    monkeypatch.setenv("SIGMASIGHT_DB_BUSY_TIMEOUT", "0.2")
    holder = sqlite3.connect(migrated_file, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        run = cli_runner(sqlite_settings, monkeypatch, capsys)
        line = _one_line(*run("demo", "seed"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert line == (
        f"error: database file {migrated_file} is locked by another process (waited 0.2 s): let "
        "the other batch, notebook or command finish, then retry (SIGMASIGHT_DB_BUSY_TIMEOUT "
        "sets the wait in seconds)"
    )
    with sqlite3.connect(migrated_file) as conn:
        assert conn.execute("select count(*) from owners").fetchone() == (0,)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_file_or_folder(tmp_path, migrated_file, monkeypatch, capsys, what):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "db.sqlite"
    shutil.copy(migrated_file, db)
    (db if what == "file" else folder).chmod(0o444 if what == "file" else 0o555)
    try:
        run = cli_runner(_settings_at(f"sqlite:///{db}", tmp_path), monkeypatch, capsys)
        line = _one_line(*run("demo", "seed"))
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)
    assert f"database file {db} cannot be written" in line
    assert f"make the file and its folder {folder} writable" in line


def test_read_only_message_from_a_real_driver_error(sqlite_settings, migrated_file):
    """The read-only translation on a genuine sqlite3 error (the chmod test skips as root)."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import DBAPIError

    engine = create_engine(f"sqlite:///file:{migrated_file}?mode=ro&uri=true")
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text("insert into owners (email) values ('a@b.c')"))
    engine.dispose()
    message = str(database_error(caught.value, sqlite_settings))
    assert message == (
        f"database file {migrated_file} cannot be written (attempt to write a readonly "
        f"database): make the file and its folder {migrated_file.parent} writable by this user "
        "(SQLite writes -wal and -shm files beside it), or set SIGMASIGHT_DATABASE_URL to a "
        "writable location"
    )


def test_revision_newer_than_the_code(db_settings, monkeypatch, capsys):
    from sigmasight_lib.db.session import get_engine, head_revision

    with get_engine(db_settings).begin() as conn:
        conn.execute(text("update alembic_version set version_num = '0099_future'"))
    run = cli_runner(db_settings, monkeypatch, capsys)
    for args in (("portfolio", "list"), ("-q", "db", "upgrade")):
        line = _one_line(*run(*args))
        assert line == (
            f"error: database {db_settings.database_url_safe} is at revision 0099_future, "
            f"newer than this code (latest {head_revision()}): update SigmaSight (git pull; "
            "pip install -e .) or point SIGMASIGHT_DATABASE_URL at a database of this version"
        )
    with get_engine(db_settings).connect() as conn:
        assert conn.scalar(text("select version_num from alembic_version")) == "0099_future"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_postgresql_unreachable_masks_the_password(tmp_path, monkeypatch, capsys):
    port = _closed_port()
    url = f"postgresql://alice:s3cret@127.0.0.1:{port}/risk"
    run = cli_runner(_settings_at(url, tmp_path), monkeypatch, capsys)
    line = _one_line(*run("portfolio", "list"))
    assert "s3cret" not in line
    assert line.startswith(
        f"error: cannot connect to database postgresql+psycopg://alice:***@127.0.0.1:{port}/risk ("
    )
    assert line.endswith(
        "): start the server, or fix the host, port, user or database name in "
        "SIGMASIGHT_DATABASE_URL"
    )


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ("99999", "error: SIGMASIGHT_DATABASE_URL has port 99999, not in 1-65535: fix the port "
                  "in postgresql://alice:***@127.0.0.1:99999/risk"),
        ("abc", "error: SIGMASIGHT_DATABASE_URL is not a database URL: "
                "'postgresql://alice:***@127.0.0.1:abc/risk' (invalid literal for int() with "
                "base 10: 'abc'); fix it, e.g. postgresql+psycopg://user@host:5432/dbname"),
    ],
)  # fmt: skip
def test_bad_port_in_the_url(sqlite_settings, monkeypatch, capsys, port, expected):
    run = cli_runner(sqlite_settings, monkeypatch, capsys)
    monkeypatch.setenv(
        "SIGMASIGHT_DATABASE_URL", f"postgresql://alice:s3cret@127.0.0.1:{port}/risk"
    )
    assert _one_line(*run("portfolio", "list")) == expected
