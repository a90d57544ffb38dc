"""Settings from the environment: defaults, validation, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sigmasight_lib.config import load_settings
from sigmasight_lib.exceptions import ConfigError


def test_defaults_point_into_outputs(tmp_path):
    settings = load_settings({"SIGMASIGHT_OUTPUTS_DIR": str(tmp_path)})
    assert settings.market_data == "offline"
    assert settings.dialect == "sqlite"
    assert settings.database_url.database == str((tmp_path / "sigmasight.db").resolve())


@pytest.mark.parametrize(
    ("raw", "driver"),
    [
        ("postgresql://u:p@localhost/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@localhost/db", "postgresql+psycopg"),
        ("postgresql+psycopg2://u@localhost/db", "postgresql+psycopg"),
    ],
)
def test_postgres_urls_use_psycopg3(raw, driver):
    settings = load_settings({"SIGMASIGHT_DATABASE_URL": raw})
    assert settings.database_url.drivername == driver


def test_password_hidden_in_safe_url():
    settings = load_settings({"SIGMASIGHT_DATABASE_URL": "postgresql://u:s3cret@h/db"})
    assert "s3cret" not in settings.database_url_safe
    assert "***" in settings.database_url_safe


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SIGMASIGHT_DATABASE_URL": "not a url"}, "not a database URL"),
        ({"SIGMASIGHT_DATABASE_URL": "mysql://u@h/db"}, "unsupported database 'mysql'"),
        ({"SIGMASIGHT_DATABASE_URL": "postgresql+asyncpg://u@h/db"}, "psycopg 3"),
        ({"SIGMASIGHT_DATABASE_URL": "sqlite:////no/such/dir/x.db"}, "missing directory"),
        ({"SIGMASIGHT_MARKET_DATA": "bloomberg"}, "'bloomberg' is not a provider"),
    ],
)
def test_bad_settings_raise_config_error(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(env)


def test_bad_url_password_not_echoed():
    with pytest.raises(ConfigError) as info:
        load_settings({"SIGMASIGHT_DATABASE_URL": "oracle://scott:tiger@h/db"})
    assert "tiger" not in str(info.value)


@pytest.mark.parametrize(
    "env",
    [
        {"SIGMASIGHT_DATABASE_URL": "mysql://u:hunter2@h/db"},
        {"SIGMASIGHT_MARKET_DATA": "bloomberg"},
    ],
)
def test_cli_reports_bad_settings_in_one_line(env, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sigmasight_lib", "portfolio", "list"],
        env={"PATH": "/usr/bin:/bin", "SIGMASIGHT_OUTPUTS_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    assert "hunter2" not in proc.stderr
