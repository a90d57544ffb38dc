"""Settings and paths. Read from the environment; nothing runs at import.

Environment variables
---------------------
SIGMASIGHT_DATABASE_URL
    SQLAlchemy URL. Default: ``sqlite:///<outputs>/sigmasight.db``. PostgreSQL
    URLs use psycopg 3 (``postgresql+psycopg://user@host/db``); a bare
    ``postgresql://`` URL is upgraded to the psycopg driver.
SIGMASIGHT_OUTPUTS_DIR
    Directory for run artifacts and the embedded database. Default:
    ``outputs/`` at the repository root (the current directory when the package
    is installed elsewhere).
SIGMASIGHT_MARKET_DATA
    Market data provider: ``offline`` (default, the embedded snapshot) or
    ``yfinance`` (live).
SIGMASIGHT_PARAMS_DIR
    Directory of the YAML parameter sets. Default: ``params/`` at the
    repository root.
SIGMASIGHT_NOTEBOOKS_DIR
    Directory of the engine notebooks the batch executes. Default:
    ``notebooks/`` at the repository root.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from sigmasight_lib.exceptions import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
MARKET_DATA_DIR = PACKAGE_DIR / "marketdata" / "data"
MIGRATIONS_DIR = PACKAGE_DIR / "db" / "migrations"

PROVIDERS = ("offline", "yfinance")
SUPPORTED_DIALECTS = ("sqlite", "postgresql")


def _default_root() -> Path:
    """The repository root when running from a checkout, else the working directory."""
    return REPO_DIR if (REPO_DIR / "pyproject.toml").exists() else Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Validated settings of one process.

    Attributes
    ----------
    database_url : sqlalchemy.engine.URL
        Where the database lives (password kept inside the URL object; never
        print it: use :meth:`database_url_safe`).
    outputs_dir : Path
        Run artifacts and the default SQLite file.
    params_dir : Path
        YAML parameter sets (demo portfolios, factors, scenarios, schedule).
    notebooks_dir : Path
        The engine notebooks the batch executes.
    market_data : str
        Provider name, one of :data:`PROVIDERS`.
    """

    database_url: URL
    outputs_dir: Path
    params_dir: Path
    market_data: str
    notebooks_dir: Path = REPO_DIR / "notebooks"

    @property
    def database_url_safe(self) -> str:
        """The database URL with any password masked, for logs and reports."""
        return self.database_url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.database_url.get_backend_name()


def parse_database_url(raw: str) -> URL:
    """Parse and check a database URL; upgrade bare PostgreSQL URLs to psycopg 3.

    Raises
    ------
    ConfigError
        When the URL cannot be parsed or names an unsupported database.
    """
    try:
        url = make_url(raw)
        port = url.port
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"SIGMASIGHT_DATABASE_URL is not a database URL: {_mask(raw)!r} ({exc}); "
            "fix it, e.g. postgresql+psycopg://user@host:5432/dbname"
        ) from None
    if port is not None and not 1 <= port <= 65535:
        raise ConfigError(
            f"SIGMASIGHT_DATABASE_URL has port {port}, not in 1-65535: "
            f"fix the port in {url.render_as_string(hide_password=True)}"
        )
    backend = url.get_backend_name()
    if backend not in SUPPORTED_DIALECTS:
        raise ConfigError(
            f"SIGMASIGHT_DATABASE_URL uses unsupported database {backend!r}; "
            "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/dbname"
        )
    if backend == "postgresql":
        driver = url.drivername.partition("+")[2]
        if driver in ("", "psycopg2", "psycopg"):
            url = url.set(drivername="postgresql+psycopg")
        else:
            raise ConfigError(
                f"SIGMASIGHT_DATABASE_URL uses driver {driver!r}; SigmaSight uses psycopg 3 "
                "(postgresql+psycopg://...)"
            )
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        parent = Path(url.database).expanduser().resolve().parent
        if not parent.exists():
            raise ConfigError(f"SIGMASIGHT_DATABASE_URL points into a missing directory: {parent}")
    return url


def _mask(raw: str) -> str:
    """Hide a password in a URL-like string that SQLAlchemy could not parse."""
    if "://" in raw and "@" in raw:
        scheme, rest = raw.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return raw


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and validate settings from ``environ`` (default: ``os.environ``).

    Raises
    ------
    ConfigError
        On an unparsable or unsupported database URL or an unknown provider.
    """
    env = os.environ if environ is None else environ
    root = _default_root()
    outputs_dir = Path(env.get("SIGMASIGHT_OUTPUTS_DIR") or root / "outputs").expanduser()
    params_dir = Path(env.get("SIGMASIGHT_PARAMS_DIR") or root / "params").expanduser()
    notebooks_dir = Path(env.get("SIGMASIGHT_NOTEBOOKS_DIR") or root / "notebooks").expanduser()
    provider = (env.get("SIGMASIGHT_MARKET_DATA") or "offline").strip().lower()
    if provider not in PROVIDERS:
        raise ConfigError(
            f"SIGMASIGHT_MARKET_DATA={provider!r} is not a provider; choose one of: "
            + ", ".join(PROVIDERS)
        )
    raw_url = env.get("SIGMASIGHT_DATABASE_URL")
    if raw_url:
        url = parse_database_url(raw_url.strip())
    else:
        outputs_dir.mkdir(parents=True, exist_ok=True)
        url = make_url(f"sqlite:///{(outputs_dir / 'sigmasight.db').resolve()}")
    return Settings(
        database_url=url,
        outputs_dir=outputs_dir,
        params_dir=params_dir,
        market_data=provider,
        notebooks_dir=notebooks_dir,
    )
