"""Loaders for the YAML parameter sets in ``params/`` with validation at the edge.

Errors name the file, the entry and the field.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
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


ENGINES_FILE = "engines.yaml"


@dataclass(frozen=True)
class GreeksParams:
    greeks_backend: str = "numpy"
    realized_vol_sessions: int = 60
    risk_free_rate: float = 0.02
    dividend_yield: float = 0.0


@dataclass(frozen=True)
class FactorsParams:
    mode: str = "spread"
    window: int = 252
    min_obs: int = 60
    cap: float = 3.0
    factor_types: tuple[str, ...] = ("market", "style")


@dataclass(frozen=True)
class EngineParams:
    greeks: GreeksParams = field(default_factory=GreeksParams)
    factors: FactorsParams = field(default_factory=FactorsParams)


def _section(path: Path, doc: dict, name: str, cls: type) -> Any:
    raw = doc.get(name) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: section {name!r} must be a mapping")
    allowed = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"{path}: {name}.{key} is not a parameter (allowed: {', '.join(allowed)})"
            )
        default = getattr(cls(), key)
        try:
            if isinstance(default, tuple):
                value = tuple(str(v) for v in value)
            elif isinstance(default, bool):
                value = bool(value)
            else:
                value = type(default)(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{path}: {name}.{key} = {value!r} is not a {type(default).__name__}"
            ) from None
        values[key] = value
    return cls(**values)


def load_engine_params(params_dir: Path) -> EngineParams:
    """Engine parameters from ``params/engines.yaml`` (defaults for what it omits).

    Raises
    ------
    ConfigError
        For an unknown key or a value of the wrong type, naming both.
    """
    path = params_dir / ENGINES_FILE
    doc = (read_yaml(path) or {}) if path.exists() else {}
    params = EngineParams(
        greeks=_section(path, doc, "greeks", GreeksParams),
        factors=_section(path, doc, "factors", FactorsParams),
    )
    if params.greeks.greeks_backend not in ("numpy", "mibian"):
        raise ConfigError(
            f"{path}: greeks.greeks_backend = {params.greeks.greeks_backend!r}; use numpy or mibian"
        )
    if params.factors.mode not in ("spread", "raw"):
        raise ConfigError(f"{path}: factors.mode = {params.factors.mode!r}; use spread or raw")
    return params
