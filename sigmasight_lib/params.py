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
    proxies: dict[str, tuple[str, ...]]
    """Provider -> proxy symbols in order of preference (the first with current data is used)."""
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
        if not isinstance(proxies, dict):
            raise ConfigError(f"{where} ({name}): field 'proxies' must map provider to symbols")
        ordered: dict[str, tuple[str, ...]] = {}
        for provider, symbols in proxies.items():
            listed = [symbols] if isinstance(symbols, str) else symbols
            if (
                not isinstance(provider, str)
                or not isinstance(listed, list)
                or not listed
                or not all(isinstance(v, str) and v.strip() for v in listed)
            ):
                raise ConfigError(
                    f"{where} ({name}): proxies.{provider} = {symbols!r}; expected a symbol "
                    "or a non-empty list of symbols in order of preference"
                )
            ordered[provider] = tuple(listed)
        out.append(
            FactorParams(
                name=name,
                factor_type=factor_type,
                description=str(entry.get("description") or ""),
                proxies=ordered,
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
class MarketRiskParams:
    market_moves: tuple[float, ...] = (0.01, -0.01)
    rate_moves: tuple[float, ...] = (0.005, -0.005)
    rate_window: int = 252
    rate_min_obs: int = 60
    backtest_days: int = 90


@dataclass(frozen=True)
class StressParams:
    decay: float = 0.94
    lookback: int = 252


@dataclass(frozen=True)
class CorrelationsParams:
    window: int = 252
    min_overlap: int = 60
    top_n: int = 10
    cluster_threshold: float = 0.5


@dataclass(frozen=True)
class RiskMetricsParams:
    window: int = 252
    risk_free: float = 0.0
    gaussian_mean: str = "zero"


@dataclass(frozen=True)
class SnapshotParams:
    retention_days: int = 365


@dataclass(frozen=True)
class DataParams:
    max_staleness_sessions: int = 5


@dataclass(frozen=True)
class EngineParams:
    data: DataParams = field(default_factory=DataParams)
    greeks: GreeksParams = field(default_factory=GreeksParams)
    factors: FactorsParams = field(default_factory=FactorsParams)
    market_risk: MarketRiskParams = field(default_factory=MarketRiskParams)
    stress: StressParams = field(default_factory=StressParams)
    correlations: CorrelationsParams = field(default_factory=CorrelationsParams)
    risk_metrics: RiskMetricsParams = field(default_factory=RiskMetricsParams)
    snapshot: SnapshotParams = field(default_factory=SnapshotParams)


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
                kind = type(default[0]) if default else str
                value = tuple(kind(v) for v in value)
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
        data=_section(path, doc, "data", DataParams),
        greeks=_section(path, doc, "greeks", GreeksParams),
        factors=_section(path, doc, "factors", FactorsParams),
        market_risk=_section(path, doc, "market_risk", MarketRiskParams),
        stress=_section(path, doc, "stress", StressParams),
        correlations=_section(path, doc, "correlations", CorrelationsParams),
        risk_metrics=_section(path, doc, "risk_metrics", RiskMetricsParams),
        snapshot=_section(path, doc, "snapshot", SnapshotParams),
    )
    if params.greeks.greeks_backend not in ("numpy", "mibian"):
        raise ConfigError(
            f"{path}: greeks.greeks_backend = {params.greeks.greeks_backend!r}; use numpy or mibian"
        )
    if params.data.max_staleness_sessions < 0:
        raise ConfigError(
            f"{path}: data.max_staleness_sessions = {params.data.max_staleness_sessions}; "
            "expected 0 or more sessions"
        )
    if params.factors.mode not in ("spread", "raw"):
        raise ConfigError(f"{path}: factors.mode = {params.factors.mode!r}; use spread or raw")
    if params.risk_metrics.gaussian_mean not in ("zero", "sample"):
        raise ConfigError(
            f"{path}: risk_metrics.gaussian_mean = {params.risk_metrics.gaussian_mean!r};"
            " use zero or sample"
        )
    return params


# --------------------------------------------------------------------------- stress scenarios

import math  # noqa: E402

from sigmasight_lib.engines.stress import CATEGORIES as STRESS_CATEGORIES  # noqa: E402
from sigmasight_lib.engines.stress import Scenario  # noqa: E402

STRESS_SCENARIOS_FILE = "stress_scenarios.yaml"
STRESS_SCENARIO_FIELDS = ("key", "name", "category", "description", "shocks")
"""Fields a scenario entry may have; ``category`` defaults to ``custom``, ``description`` to ''."""
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def load_stress_scenarios(path: Path) -> list[Scenario]:
    """Stress scenarios from a YAML file (``params/stress_scenarios.yaml``), in file order.

    The file holds a top-level ``scenarios:`` list; each entry has ``key`` (a
    unique lower-case slug of letters, digits, ``_`` and ``-``), ``name``,
    ``category`` (one of :data:`~sigmasight_lib.engines.stress.CATEGORIES`,
    default ``custom``), ``description`` (optional) and ``shocks`` (a non-empty
    mapping of factor name -> finite number in the factor's units).

    Factor names are not checked against ``params/factors.yaml``: a factor the
    data lacks is reported as unmapped when the scenario runs.

    Raises
    ------
    ConfigError
        Naming the file, the scenario (``scenario #<n> (<key or name>)``) and the
        field: missing or empty key / name / shocks, duplicate key, key not a
        slug, unknown field, category not allowed, empty factor name,
        non-numeric shock (the value is quoted), non-finite shock.
    """
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'scenarios' list")
    extra = [k for k in doc if k != "scenarios"]
    if extra:
        raise ConfigError(
            f"{path}: unknown top-level field(s) {', '.join(map(repr, extra))} (allowed: scenarios)"
        )
    entries = doc.get("scenarios")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty list under 'scenarios'")
    out: list[Scenario] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries, start=1):
        where = f"{path}: scenario #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping, got {entry!r}")
        key, name = entry.get("key"), entry.get("name")
        label = next((v for v in (key, name) if isinstance(v, str) and v.strip()), None)
        if label is not None:
            where = f"{where} ({label})"
        unknown = [k for k in entry if k not in STRESS_SCENARIO_FIELDS]
        if unknown:
            raise ConfigError(
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))} "
                f"(allowed: {', '.join(STRESS_SCENARIO_FIELDS)})"
            )
        if not isinstance(key, str) or not key.strip():
            raise ConfigError(f"{where}: field 'key' is missing or empty")
        if not set(key) <= _SLUG_CHARS:
            raise ConfigError(
                f"{where}: field 'key' is {key!r}; use lower-case letters, digits, '_' or '-'"
            )
        if key in seen:
            raise ConfigError(f"{where}: field 'key' duplicates scenario #{seen[key]}")
        seen[key] = i
        if not isinstance(name, str) or not name.strip():
            raise ConfigError(f"{where}: field 'name' is missing or empty")
        category = entry.get("category", "custom")
        if category not in STRESS_CATEGORIES:
            raise ConfigError(
                f"{where}: field 'category' is {category!r}, "
                f"expected one of {', '.join(STRESS_CATEGORIES)}"
            )
        description = entry.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise ConfigError(f"{where}: field 'description' must be text, got {description!r}")
        shocks = entry.get("shocks")
        if shocks is None:
            raise ConfigError(f"{where}: field 'shocks' is missing")
        if not isinstance(shocks, dict):
            raise ConfigError(
                f"{where}: field 'shocks' must map factor name to shock, got {shocks!r}"
            )
        if not shocks:
            raise ConfigError(f"{where}: field 'shocks' is empty")
        clean: dict[str, float] = {}
        for factor, value in shocks.items():
            if not isinstance(factor, str) or not factor.strip():
                raise ConfigError(
                    f"{where}: field 'shocks' has factor name {factor!r}; expected a non-empty string"
                )
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}: field 'shocks.{factor}' is {value!r}, not a number")
            if not math.isfinite(float(value)):
                raise ConfigError(f"{where}: field 'shocks.{factor}' is {value!r}, not finite")
            clean[factor] = float(value)
        out.append(
            Scenario(key=key, name=name, category=category, description=description, shocks=clean)
        )
    return out


REPLAYS_FILE = "replays.yaml"
REPLAY_FIELDS = ("key", "name", "start", "end", "scenario", "description")
"""Fields a replay entry may have; ``description`` is optional."""


@dataclass(frozen=True)
class Replay:
    """A historical crash window replayed by ``sigmasight validate``.

    Attributes
    ----------
    key, name : str
    start, end : datetime.date
        The window; holdings are valued at both ends.
    scenario : str
        Key of the matching stress scenario (``params/stress_scenarios.yaml``).
    description : str
    """

    key: str
    name: str
    start: dt.date
    end: dt.date
    scenario: str
    description: str = ""


def load_replays(path: Path) -> list[Replay]:
    """Crash replays from a YAML file (``params/replays.yaml``), in file order.

    The file holds a top-level ``replays:`` list; each entry has ``key`` (a
    unique lower-case slug), ``name``, ``start`` < ``end`` (ISO dates),
    ``scenario`` (a stress scenario key) and an optional ``description``.

    Raises
    ------
    ConfigError
        Naming the file, the replay and the field: missing field, unknown
        field, duplicate or non-slug key, bad date, start not before end.
    """
    doc = read_yaml(path)
    entries = doc.get("replays") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty list under 'replays'")
    out: list[Replay] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=1):
        where = f"{path}: replay #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping, got {entry!r}")
        if isinstance(entry.get("key"), str):
            where = f"{where} ({entry['key']})"
        unknown = [k for k in entry if k not in REPLAY_FIELDS]
        if unknown:
            raise ConfigError(
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))} "
                f"(allowed: {', '.join(REPLAY_FIELDS)})"
            )
        for name in ("key", "name", "scenario"):
            value = entry.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{where}: field {name!r} is missing or empty")
        key = entry["key"]
        if not set(key) <= _SLUG_CHARS:
            raise ConfigError(
                f"{where}: field 'key' is {key!r}; use lower-case letters, digits, '_' or '-'"
            )
        if key in seen:
            raise ConfigError(f"{where}: field 'key' is a duplicate")
        seen.add(key)
        if "start" not in entry or "end" not in entry:
            raise ConfigError(f"{where}: fields 'start' and 'end' are required")
        start = parse_date(entry["start"], f"{where}: field 'start'")
        end = parse_date(entry["end"], f"{where}: field 'end'")
        if not start < end:
            raise ConfigError(f"{where}: start {start} is not before end {end}")
        out.append(
            Replay(key, entry["name"], start, end, entry["scenario"],
                   str(entry.get("description") or "").strip())
        )  # fmt: skip
    return out
