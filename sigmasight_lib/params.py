"""Loaders for the YAML parameter sets in ``params/`` with validation at the edge.

Errors name the file, the entry and the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sigmasight_lib.exceptions import ConfigError

FACTORS_FILE = "factors.yaml"
DEMO_PORTFOLIOS_FILE = "demo_portfolios.yaml"
FACTOR_TYPES = ("market", "style", "macro", "rates")


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing or malformed file is a :class:`ConfigError`."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None


@dataclass(frozen=True)
class FactorParams:
    name: str
    factor_type: str
    description: str
    proxies: dict[str, str]
    display_order: int


def load_factor_params(params_dir: Path) -> list[FactorParams]:
    """Factor definitions from ``params/factors.yaml``, in file order."""
    path = params_dir / FACTORS_FILE
    doc = read_yaml(path) or {}
    entries = doc.get("factors")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty list under 'factors'")
    out: list[FactorParams] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=1):
        where = f"{path}: factor #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping, got {entry!r}")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: field 'name' is missing or empty")
        if name in seen:
            raise ConfigError(f"{where} ({name}): duplicate factor name")
        seen.add(name)
        factor_type = entry.get("factor_type")
        if factor_type not in FACTOR_TYPES:
            raise ConfigError(
                f"{where} ({name}): field 'factor_type' is {factor_type!r}, "
                f"expected one of {', '.join(FACTOR_TYPES)}"
            )
        proxies = entry.get("proxies") or {}
        if not isinstance(proxies, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in proxies.items()
        ):
            raise ConfigError(f"{where} ({name}): field 'proxies' must map provider to symbol")
        out.append(
            FactorParams(
                name=name,
                factor_type=factor_type,
                description=str(entry.get("description") or ""),
                proxies=dict(proxies),
                display_order=i,
            )
        )
    return out


def parse_date(value: Any, where: str) -> dt.date:
    """A date from a YAML scalar (date object or ISO string)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where}: {value!r} is not an ISO date (YYYY-MM-DD)") from None
