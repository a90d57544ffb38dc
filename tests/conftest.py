"""Shared fixtures: settings bound to a fresh SQLite file or a real PostgreSQL database.

PostgreSQL comes from ``SIGMASIGHT_TEST_DATABASE_URL`` when set, else from a
server the suite starts itself with ``pgserver``. With ``CI=true`` the
PostgreSQL tests must run: a server that cannot start fails them instead of
skipping them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sigmasight_lib.config import REPO_DIR, Settings, load_settings, parse_database_url
from sigmasight_lib.db.session import dispose_engine, upgrade

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database (``postgres``)."""
    env_url = os.environ.get("SIGMASIGHT_TEST_DATABASE_URL")
    if env_url:
        yield env_url
        return
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - dev extras missing
        if IN_CI:
            pytest.fail(f"pgserver is not installed but CI requires PostgreSQL tests: {exc}")
        pytest.skip("pgserver not installed; set SIGMASIGHT_TEST_DATABASE_URL to run these")
    data_dir = Path(tempfile.mkdtemp(prefix="sigmasight-pg-"))
    try:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
    except Exception as exc:  # pragma: no cover - depends on the machine
        if IN_CI:
            pytest.fail(f"could not start PostgreSQL with pgserver: {exc}")
        pytest.skip(f"could not start PostgreSQL with pgserver: {exc}")
    yield server.get_uri()
    server.cleanup()


def _settings_for(url: str, tmp_path: Path) -> Settings:
    env = {
        "SIGMASIGHT_DATABASE_URL": url,
        "SIGMASIGHT_OUTPUTS_DIR": str(tmp_path / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(REPO_DIR / "params"),
        "SIGMASIGHT_MARKET_DATA": "offline",
    }
    return load_settings(env)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    """Settings for an empty SQLite file (no schema)."""
    return _settings_for(f"sqlite:///{tmp_path / 'test.db'}", tmp_path)


@pytest.fixture
def postgres_settings(postgres_admin_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Settings for a new, empty PostgreSQL database, dropped afterwards."""
    admin = parse_database_url(postgres_admin_url)
    name = f"sigmasight_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    settings = _settings_for(
        admin.set(database=name).render_as_string(hide_password=False), tmp_path
    )
    yield settings
    dispose_engine(settings)
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_db_settings(request: pytest.FixtureRequest) -> Settings:
    """Each test using it runs twice: on SQLite and on PostgreSQL (no schema yet)."""
    name = "sqlite_settings" if request.param == "sqlite" else "postgres_settings"
    return request.getfixturevalue(name)


@pytest.fixture
def db_settings(empty_db_settings: Settings) -> Settings:
    """A migrated, empty database on each backend."""
    upgrade(empty_db_settings)
    return empty_db_settings


def seed_demo_database(settings: Settings, history_sessions: int = 400) -> Settings:
    """Seed the demo portfolios and offline market data up to 2017-03-29 into ``settings``' db."""
    import datetime as dt

    from sigmasight_lib.db.session import session_scope
    from sigmasight_lib.marketdata.cache import check_coverage, sync_market_data
    from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider
    from sigmasight_lib.portfolios.demo import seed_demo

    as_of = dt.date(2017, 3, 29)
    with session_scope(settings) as session:
        seed_demo(session, REPO_DIR / "params")
        sync_market_data(
            session, OfflineSnapshotProvider(), as_of=as_of, history_sessions=history_sessions
        )
        check_coverage(session, OfflineSnapshotProvider(), as_of=as_of, backfill=False)
    return settings


@pytest.fixture
def demo_db(db_settings: Settings) -> Settings:
    """A migrated database (each backend) with the demo portfolios and 400 sessions of
    offline market data up to the default as-of date, 2017-03-29."""
    return seed_demo_database(db_settings)


@pytest.fixture
def sqlite_demo_db(sqlite_settings: Settings) -> Settings:
    """The demo database on SQLite only (for slow end-to-end tests)."""
    upgrade(sqlite_settings)
    return seed_demo_database(sqlite_settings)


def break_notebook(notebooks_dir: Path, job: str) -> None:
    """Make the job's notebook in ``notebooks_dir`` raise in its last cell."""
    import nbformat

    from sigmasight_lib.batch.plan import NOTEBOOKS

    path = notebooks_dir / NOTEBOOKS[job]
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('raise RuntimeError("forced failure for the test")'))
    nbformat.write(nb, path)


@dataclass(frozen=True)
class DemoBatch:
    """A batch on its own seeded SQLite database: ``run`` (and ``rerun`` when there is one)."""

    settings: Settings
    run: Any
    """The ``BatchResult`` of the batch."""
    rerun: Any = None
    """The ``BatchResult`` of the partial rerun after it, or None."""

    @property
    def portfolio_dir(self) -> Path:
        """``outputs/2017-03-29/balanced-individual-investor``: its artifacts."""
        return self.settings.outputs_dir / "2017-03-29" / "balanced-individual-investor"


def _session_demo_db(tmp_path_factory: pytest.TempPathFactory, name: str) -> Settings:
    tmp = tmp_path_factory.mktemp(name)
    settings = _settings_for(f"sqlite:///{tmp / 'test.db'}", tmp)
    upgrade(settings)
    return seed_demo_database(settings)


@pytest.fixture(scope="session")
def demo_batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBatch]:
    """Every notebook of Balanced Individual Investor and Long/Short Hedge Fund Style at
    2017-03-29 (warm kernel), then a partial rerun of Balanced's valuation notebook only, on
    the demo data (SQLite), once per session.

    Shared by the tests that read its artifacts (``tests/batch/test_batch.py``,
    ``tests/test_browser.py``): read them, never write to its database or outputs.
    """
    from sigmasight_lib.batch.runner import run_batch

    settings = _session_demo_db(tmp_path_factory, "demo-batch")
    name = "Balanced Individual Investor"
    run = run_batch(settings, portfolios=[name, "Long/Short Hedge Fund Style"], kernel_mode="warm")
    rerun = run_batch(settings, portfolios=[name], jobs=["valuation"])
    yield DemoBatch(settings, run, rerun)
    dispose_engine(settings)


@pytest.fixture(scope="session")
def failed_render_batch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoBatch]:
    """The valuation and exposures notebooks of Balanced Individual Investor at 2017-03-29,
    the exposures notebook made to raise in its last cell (``break_notebook``), once per
    session on its own demo database: its exposures render is a failed notebook's page.
    Read it, never write to it."""
    from sigmasight_lib.batch.runner import run_batch

    settings = _session_demo_db(tmp_path_factory, "failed-render")
    notebooks = settings.outputs_dir.parent / "notebooks"
    shutil.copytree(REPO_DIR / "notebooks", notebooks)
    break_notebook(notebooks, "exposures")
    settings = replace(settings, notebooks_dir=notebooks)
    run = run_batch(
        settings, portfolios=["Balanced Individual Investor"], jobs=["valuation", "exposures"]
    )
    yield DemoBatch(settings, run)
    dispose_engine(settings)


def cli_runner(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    """``run(*args) -> (exit code, stdout, stderr)``: ``sigmasight ARGS`` in-process against
    ``settings``' database (settings reach the CLI through the environment, as in use)."""
    from sigmasight_lib.cli import main

    monkeypatch.setenv(
        "SIGMASIGHT_DATABASE_URL", settings.database_url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("SIGMASIGHT_OUTPUTS_DIR", str(settings.outputs_dir))
    monkeypatch.setenv("SIGMASIGHT_PARAMS_DIR", str(settings.params_dir))
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA", "offline")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def plots() -> Iterator[Any]:
    """``sigmasight_lib.reporting.plots`` on the Agg backend; figures closed afterwards."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sigmasight_lib.reporting import plots as module

    yield module
    plt.close("all")
