"""Loaders for the YAML parameter sets in ``params/`` with validation at the edge.

``engines.yaml`` and ``factors.yaml`` (and ``demo_portfolios.yaml``, in
:mod:`sigmasight_lib.portfolios.demo`) are validated by typed pydantic models
(unknown keys forbidden, strict types: ``252.7`` or ``true`` is not an integer,
an integer is accepted where a number is expected; ranges). Scenario and replay
files keep their hand-written checks, with the same "did you mean" for unknown
fields, and scenario factor names are checked against ``factors.yaml`` (see
:func:`load_stress_scenarios`). Every error is a one-line
:class:`~sigmasight_lib.exceptions.ConfigError` naming the file, the key path
(``factors.window``), the value as written and what is allowed; an unknown key
or section adds "did you mean" and the allowed names.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from sigmasight_lib.exceptions import ConfigError

FACTORS_FILE = "factors.yaml"
DEMO_PORTFOLIOS_FILE = "demo_portfolios.yaml"
FACTOR_TYPES = ("market", "style", "macro", "rates")
"""Factor types of ``params/factors.yaml``."""
REGRESSION_FACTOR_TYPES = ("market", "style")
"""Factor types the factor engine regresses on (``factors.factor_types``); macro and
rate factors get [Market, factor] regressions in the market-risk and stress engines."""


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a missing or malformed file is a :class:`ConfigError`."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None


# --------------------------------------------------------------------------- schema errors


def did_you_mean(name: object, candidates: Iterable[str], *, cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for the closest candidate (case-insensitive), else ``""``.

    ``cutoff`` is :func:`difflib.get_close_matches`' similarity floor in [0, 1].
    """
    if not isinstance(name, str):
        return ""
    by_lower = {c.lower(): c for c in candidates}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=cutoff)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


def show_value(value: Any) -> str:
    """A YAML value as messages quote it: strings quoted, ``true`` / ``null`` as YAML writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


_PROBLEMS = {
    "int_type": "is not an integer",
    "float_type": "is not a number",
    "finite_number": "is not finite",
    "string_type": "is not text",
    "literal_error": "is not allowed",
    "greater_than": "is out of range",
    "greater_than_equal": "is out of range",
    "less_than": "is out of range",
    "less_than_equal": "is out of range",
    "too_short": "is empty",
    "string_too_short": "is empty",
    "string_pattern_mismatch": "is blank",
    "tuple_type": "is not a list",
    "dict_type": "is not a mapping",
    "model_type": "is not a mapping",
}


def _literal_choices(annotation: Any) -> tuple[str, ...]:
    """The strings of the first ``Literal`` inside ``annotation`` (``()`` if none)."""
    if get_origin(annotation) is Literal:
        return tuple(map(str, get_args(annotation)))
    for arg in get_args(annotation):
        found = _literal_choices(arg)
        if found:
            return found
    return ()


def _allowed(model: type[BaseModel], name: str) -> str:
    info = model.model_fields[name]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "allowed" in extra:
        return str(extra["allowed"])
    annotation = info.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping of " + ", ".join(annotation.model_fields)
    choices = _literal_choices(annotation)
    if choices:
        return "one of " + ", ".join(choices)
    return {int: "an integer", float: "a number", str: "text"}.get(annotation, "a value")


def _raw(doc: Any, keys: Sequence[Any]) -> Any:
    for key in keys:
        try:
            doc = doc[key]
        except (KeyError, IndexError, TypeError):
            return None
    return doc


def schema_error(where: str, model: type[BaseModel], exc: ValidationError, doc: Any) -> ConfigError:
    """One-line :class:`ConfigError` for the first error of a validation (an unknown key first).

    Models nest through mappings (sections); validate the entries of a list
    one by one with their own ``where`` (``factor #3 (Value)``), as the loaders do.

    Parameters
    ----------
    where : str
        Message prefix: the file (and the entry, for list files).
    model : type of BaseModel
        The model ``doc`` was validated against.
    exc : ValidationError
    doc : Any
        The raw YAML value that was validated (the value is quoted from it, as written).

    Returns
    -------
    ConfigError
        ``"<where>: <key path> = <value> <problem>; expected <allowed>"``; an item
        of a list adds the item (``factors.factor_types = ['market', 'bogus']:
        'bogus' is not allowed...``); an unknown key reads ``unknown key
        'factors.windw' (did you mean 'window'?); allowed: ...``.
    """
    errors = exc.errors(include_url=False)
    # an unknown key first: it usually explains the missing one ('quantiy' for 'quantity')
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc, kind, ctx = error["loc"], error["type"], error.get("ctx") or {}
    # walk the nested models along the location: `owner` holds the failing field or key
    owner, depth, field = model, 0, None
    while depth < len(loc) and isinstance(loc[depth], str) and loc[depth] in owner.model_fields:
        annotation = owner.model_fields[loc[depth]].annotation
        depth += 1
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            owner = annotation
            continue
        field = str(loc[depth - 1])
        break
    path = [str(k) for k in loc[:depth]]
    if kind == "extra_forbidden":
        name = str(loc[depth])
        shown = ".".join([*path, name])
        what = "section" if owner is EngineParams else "key"
        return ConfigError(
            f"{where}: unknown {what} {shown!r}{did_you_mean(name, owner.model_fields)}; "
            f"allowed: {', '.join(owner.model_fields)}"
        )
    if kind == "at_most":  # a cross-field rule of a section (min_obs <= window)
        section = ".".join(path)
        small, large = f"{section}.{ctx['small']}", f"{section}.{ctx['large']}"
        return ConfigError(
            f"{where}: {small} = {show_value(ctx['value'])} is above {large} = "
            f"{show_value(ctx['limit'])}; expected at most {large}"
        )
    value = _raw(doc, loc[:depth])
    problem = _PROBLEMS.get(kind, str(error["msg"]).lower())
    if field is None:  # a whole section: missing or not a mapping
        allowed = "a mapping of " + ", ".join(owner.model_fields)
        if kind == "missing":
            return ConfigError(f"{where}: {'.'.join(path)} is missing; expected {allowed}")
        return ConfigError(
            f"{where}: {'.'.join(path)} = {show_value(value)} {problem}; expected {allowed}"
        )
    allowed = _allowed(owner, field)
    rest = loc[depth:]
    keys = [str(k) for k in rest if isinstance(k, str)]  # mapping keys below the field
    items = [k for k in rest if isinstance(k, int)]  # list positions below the field
    key = ".".join([*path, *keys])
    if keys:
        value = _raw(doc, loc[: depth + len(keys)])
    if kind == "missing":
        return ConfigError(f"{where}: {key} is missing; expected {allowed}")
    hint = ""
    if kind == "literal_error":
        hint = did_you_mean(error["input"], _literal_choices(owner.model_fields[field].annotation))
    if items:
        return ConfigError(
            f"{where}: {key} = {show_value(value)}: {show_value(error['input'])} "
            f"{problem}{hint}; expected {allowed}"
        )
    return ConfigError(f"{where}: {key} = {show_value(value)} {problem}{hint}; expected {allowed}")


M = TypeVar("M", bound=BaseModel)


def entry_where(prefix: str, raw: Any, label: str = "name") -> str:
    """``prefix`` plus the entry's ``label`` field in parentheses when it is text."""
    value = raw.get(label) if isinstance(raw, dict) else None
    return f"{prefix} ({value})" if isinstance(value, str) else prefix


def validate_entry(model: type[M], raw: Any, where: str) -> M:
    """One mapping of a YAML list validated by ``model``; errors are one line after ``where``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {show_value(raw)}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise schema_error(where, model, exc, raw) from None


class Strict(BaseModel):
    """Frozen, unknown keys forbidden, no coercion (an int is still accepted for a float)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


MAX_SESSIONS = 10_000
"""Upper bound of every window, count and lookback in sessions (about 40 years)."""
MAX_RETENTION_DAYS = 36_500
"""Upper bound of ``snapshot.retention_days`` (100 years; beyond it dates overflow)."""


def _count(default: int, minimum: int = 2, maximum: int = MAX_SESSIONS, what: str = "") -> Any:
    """An integer field in ``[minimum, maximum]``; ``what`` is appended to the allowed range."""
    allowed = f"an integer in [{minimum}, {maximum}]{what}"
    return Field(default, ge=minimum, le=maximum, json_schema_extra={"allowed": allowed})


def _number(default: float, *, gt: float | None = None, le: float | None = None) -> Any:
    """A finite number field, optionally in ``(gt, le]``."""
    if gt is not None and le is not None:
        allowed = f"a number in ({gt:g}, {le:g}]"
    elif gt is not None:
        allowed = f"a number > {gt:g}"
    else:
        allowed = "a finite number"
    return Field(default, gt=gt, le=le, allow_inf_nan=False, json_schema_extra={"allowed": allowed})


def _at_most(model: BaseModel, small: str, large: str) -> None:
    value, limit = getattr(model, small), getattr(model, large)
    if value > limit:
        raise PydanticCustomError(
            "at_most",
            "{small} above {large}",
            {"small": small, "large": large, "value": value, "limit": limit},
        )


Text = Annotated[str, Field(min_length=1, pattern=r"\S")]
"""Non-blank text (names, symbols, e-mail addresses)."""
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
DecimalReturn = Annotated[float, Field(allow_inf_nan=False, gt=-1)]


# --------------------------------------------------------------------------- factors.yaml


def _one_or_list(value: Any) -> Any:
    return (value,) if isinstance(value, str) else _as_tuple(value)


ProxyList = Annotated[tuple[Text, ...], BeforeValidator(_one_or_list), Field(min_length=1)]


class FactorEntry(Strict):
    """One entry of ``params/factors.yaml``."""

    name: Text
    factor_type: Literal[FACTOR_TYPES]  # type: ignore[valid-type]
    description: str | None = None
    proxies: dict[str, ProxyList] = Field(
        default_factory=dict,
        json_schema_extra={
            "allowed": "provider: a symbol or a non-empty list of symbols in order of preference"
        },
    )


@dataclass(frozen=True)
class FactorParams:
    name: str
    factor_type: str
    description: str
    proxies: dict[str, tuple[str, ...]]
    """Provider -> proxy symbols in order of preference (the first with current data is used)."""
    display_order: int


def only_keys(path: Path, doc: Any, allowed: Sequence[str], what: str) -> None:
    """A file's top level must be a mapping of ``allowed`` keys (did you mean for others)."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping with {what}")
    for key in doc:
        if key not in allowed:
            raise ConfigError(
                f"{path}: unknown top-level key {key!r}{did_you_mean(key, allowed)}; "
                f"allowed: {', '.join(allowed)}"
            )


def load_factor_params(params_dir: Path) -> list[FactorParams]:
    """Factor definitions from ``params/factors.yaml``, in file order.

    Each entry: ``name`` (unique), ``factor_type`` (one of :data:`FACTOR_TYPES`),
    ``description`` (optional), ``proxies`` (provider -> a symbol or a non-empty
    list of symbols in order of preference).

    Raises
    ------
    ConfigError
        One line naming the file, the factor (``factor #<n> (<name>)``), the key,
        the value and what is allowed; unknown keys get "did you mean".
    """
    path = params_dir / FACTORS_FILE
    doc = read_yaml(path) or {}
    only_keys(path, doc, ("factors",), "a 'factors' list")
    entries = doc.get("factors")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: expected a non-empty list under 'factors'")
    out: list[FactorParams] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=1):
        where = entry_where(f"{path}: factor #{i}", entry)
        factor = validate_entry(FactorEntry, entry, where)
        if factor.name in seen:
            raise ConfigError(f"{where}: name {factor.name!r} is a duplicate")
        seen.add(factor.name)
        out.append(
            FactorParams(
                name=factor.name,
                factor_type=factor.factor_type,
                description=factor.description or "",
                proxies=dict(factor.proxies),
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


# --------------------------------------------------------------------------- benchmarks.yaml

BENCHMARKS_FILE = "benchmarks.yaml"


class BenchmarkParams(Strict):
    """Validated ``params/benchmarks.yaml`` ``benchmark`` section (defaults when the file is absent).

    ``symbols`` maps a provider to its benchmark symbols in order of preference,
    the shape of a factor's ``proxies`` (:class:`FactorEntry`): the report's
    performance section uses the first symbol with a price on the as-of date.
    """

    name: Text = "S&P 500"
    description: str | None = (
        "US large-cap equity market (offline ^GSPC is the price index, dividends excluded)"
    )
    symbols: dict[str, ProxyList] = Field(
        default_factory=lambda: {"offline": ("^GSPC", "SPY"), "yfinance": ("SPY", "^GSPC")},
        json_schema_extra={
            "allowed": "provider: a symbol or a non-empty list of symbols in order of preference"
        },
    )

    def candidates(self, provider: str | None) -> tuple[str, ...]:
        """The provider's symbols in order of preference (``()`` for an unknown provider)."""
        return tuple(self.symbols.get(provider or "", ()))


def load_benchmark_params(params_dir: Path) -> BenchmarkParams:
    """The benchmark of ``params/benchmarks.yaml`` (the defaults when the file is missing).

    Raises
    ------
    ConfigError
        One line naming the file, the key path (``benchmark.symbols.offline``), the
        value and what is allowed; unknown keys get "did you mean".
    """
    path = params_dir / BENCHMARKS_FILE
    if not path.exists():
        return BenchmarkParams()
    doc = read_yaml(path) or {}
    only_keys(path, doc, ("benchmark",), "a 'benchmark' mapping")
    raw = doc.get("benchmark") or {}
    return validate_entry(BenchmarkParams, raw, f"{path}: benchmark")


# --------------------------------------------------------------------------- engines.yaml

ENGINES_FILE = "engines.yaml"


class DataParams(Strict):
    max_staleness_sessions: int = _count(5, 0, what=" (NYSE sessions)")


class GreeksParams(Strict):
    greeks_backend: Literal["numpy", "mibian"] = "numpy"
    realized_vol_sessions: int = _count(60)
    risk_free_rate: float = _number(0.02)
    dividend_yield: float = _number(0.0)


class FactorsParams(Strict):
    mode: Literal["spread", "raw"] = "spread"
    window: int = _count(252)
    min_obs: int = _count(60, what=" and <= factors.window")
    cap: float = _number(3.0, gt=0)
    factor_types: Annotated[
        tuple[Literal[REGRESSION_FACTOR_TYPES], ...],  # type: ignore[valid-type]
        BeforeValidator(_as_tuple),
        Field(
            min_length=1,
            json_schema_extra={
                "allowed": "a non-empty list of " + ", ".join(REGRESSION_FACTOR_TYPES)
            },
        ),
    ] = REGRESSION_FACTOR_TYPES

    @model_validator(mode="after")
    def _min_obs_in_window(self) -> FactorsParams:
        _at_most(self, "min_obs", "window")
        return self


class MarketRiskParams(Strict):
    market_moves: Annotated[
        tuple[DecimalReturn, ...],
        BeforeValidator(_as_tuple),
        Field(
            min_length=1, json_schema_extra={"allowed": "a non-empty list of decimal returns > -1"}
        ),
    ] = (0.01, -0.01)
    rate_moves: Annotated[
        tuple[FiniteFloat, ...],
        BeforeValidator(_as_tuple),
        Field(
            min_length=1, json_schema_extra={"allowed": "a non-empty list of finite yield changes"}
        ),
    ] = (0.005, -0.005)
    rate_window: int = _count(252)
    rate_min_obs: int = _count(60, what=" and <= market_risk.rate_window")
    backtest_days: int = _count(90)

    @model_validator(mode="after")
    def _min_obs_in_window(self) -> MarketRiskParams:
        _at_most(self, "rate_min_obs", "rate_window")
        return self


class StressParams(Strict):
    decay: float = _number(0.94, gt=0, le=1)
    lookback: int = _count(252)


class CorrelationsParams(Strict):
    window: int = _count(252)
    min_overlap: int = _count(60, what=" and <= correlations.window")
    top_n: int = _count(10, 1)
    cluster_threshold: float = _number(0.5, gt=0, le=1)

    @model_validator(mode="after")
    def _overlap_in_window(self) -> CorrelationsParams:
        _at_most(self, "min_overlap", "window")
        return self


class RiskMetricsParams(Strict):
    window: int = _count(252)
    risk_free: float = _number(0.0)
    gaussian_mean: Literal["zero", "sample"] = "zero"


class SnapshotParams(Strict):
    retention_days: int = _count(365, 1, MAX_RETENTION_DAYS, " (calendar days)")


class EngineParams(Strict):
    """Validated ``params/engines.yaml``: one frozen model per section.

    Ranges: windows, lookbacks, ``min_obs`` / ``min_overlap`` / ``rate_min_obs``
    and ``realized_vol_sessions``, ``backtest_days`` are integers in [2,
    :data:`MAX_SESSIONS`], each minimum at most its window; ``top_n`` >= 1 and
    ``data.max_staleness_sessions`` >= 0 (both at most :data:`MAX_SESSIONS`);
    ``snapshot.retention_days`` in [1, :data:`MAX_RETENTION_DAYS`]; ``stress.decay`` and
    ``correlations.cluster_threshold`` in (0, 1]; ``factors.cap`` > 0; rates, yields
    and moves finite (market moves > -1); ``factors.factor_types`` a non-empty
    subset of :data:`REGRESSION_FACTOR_TYPES`; the choices ``greeks_backend``
    (numpy | mibian), ``factors.mode`` (spread | raw) and
    ``risk_metrics.gaussian_mean`` (zero | sample).
    """

    data: DataParams = Field(default_factory=DataParams)
    greeks: GreeksParams = Field(default_factory=GreeksParams)
    factors: FactorsParams = Field(default_factory=FactorsParams)
    market_risk: MarketRiskParams = Field(default_factory=MarketRiskParams)
    stress: StressParams = Field(default_factory=StressParams)
    correlations: CorrelationsParams = Field(default_factory=CorrelationsParams)
    risk_metrics: RiskMetricsParams = Field(default_factory=RiskMetricsParams)
    snapshot: SnapshotParams = Field(default_factory=SnapshotParams)


def load_engine_params(params_dir: Path) -> EngineParams:
    """Engine parameters from ``params/engines.yaml`` (defaults for what it omits).

    A missing file or an empty section gives the defaults.

    Raises
    ------
    ConfigError
        One line naming the file, the key path, the value and what is allowed
        (see :class:`EngineParams` for the ranges), e.g. ``params/engines.yaml:
        factors.window = 252.7 is not an integer; expected an integer >= 2``; an
        unknown section or key adds "did you mean" and the allowed names.
    """
    path = params_dir / ENGINES_FILE
    doc = (read_yaml(path) or {}) if path.exists() else {}
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{path}: the file is {show_value(doc)}; expected a mapping of sections "
            f"({', '.join(EngineParams.model_fields)})"
        )
    doc = {k: v for k, v in doc.items() if v is not None}  # an empty section keeps its defaults
    try:
        return EngineParams.model_validate(doc)
    except ValidationError as exc:
        raise schema_error(str(path), EngineParams, exc, doc) from None


# --------------------------------------------------------------------------- stress scenarios

import math  # noqa: E402

from sigmasight_lib.engines.stress import CATEGORIES as STRESS_CATEGORIES  # noqa: E402
from sigmasight_lib.engines.stress import Scenario  # noqa: E402

STRESS_SCENARIOS_FILE = "stress_scenarios.yaml"
STRESS_SCENARIO_FIELDS = ("key", "name", "category", "description", "shocks")
"""Fields a scenario entry may have; ``category`` defaults to ``custom``, ``description`` to ''."""
_SLUG_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")
FACTOR_NAME_CUTOFF = 0.8
"""Similarity (difflib ratio, case-insensitive) from which an unknown scenario factor
name is taken for a typo of a known factor and rejected; below it the name is unmapped."""


def load_stress_scenarios(path: Path, *, params_dir: Path | None = None) -> list[Scenario]:
    """Stress scenarios from a YAML file (``params/stress_scenarios.yaml``), in file order.

    The file holds a top-level ``scenarios:`` list; each entry has ``key`` (a
    unique lower-case slug of letters, digits, ``_`` and ``-``), ``name``,
    ``category`` (one of :data:`~sigmasight_lib.engines.stress.CATEGORIES`,
    default ``custom``), ``description`` (optional) and ``shocks`` (a non-empty
    mapping of factor name -> finite number in the factor's units).

    Factor names are checked against the factors of ``factors.yaml`` in
    ``params_dir`` (default: the scenario file's folder; no ``factors.yaml``
    there, no check). The rule: a known factor is used; an unknown name close to
    a known one (case-insensitive similarity >= :data:`FACTOR_NAME_CUTOFF`, e.g.
    ``Markt`` or ``market`` for ``Market``) is taken for a typo and rejected with
    "did you mean"; any other unknown name (the library's ``Travel`` and
    ``Tech``) is accepted on purpose and reported as unmapped when the scenario
    runs, which flags the scenario partial.

    Raises
    ------
    ConfigError
        Naming the file, the scenario (``scenario #<n> (<key or name>)``) and the
        field: missing or empty key / name / shocks, duplicate key, key not a
        slug, unknown field (with "did you mean"), category not allowed, empty
        factor name, a factor name close to a known factor's (with "did you
        mean"), non-numeric shock (the value is quoted), non-finite shock.
    """
    factors_file = (params_dir or path.parent) / FACTORS_FILE
    known = (
        [f.name for f in load_factor_params(factors_file.parent)] if factors_file.exists() else []
    )
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping with a 'scenarios' list")
    extra = [k for k in doc if k != "scenarios"]
    if extra:
        raise ConfigError(
            f"{path}: unknown top-level field(s) {', '.join(map(repr, extra))}"
            f"{did_you_mean(extra[0], ('scenarios',))}; allowed: scenarios"
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
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))}"
                f"{did_you_mean(unknown[0], STRESS_SCENARIO_FIELDS)}; "
                f"allowed: {', '.join(STRESS_SCENARIO_FIELDS)}"
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
            typo = (
                did_you_mean(factor, known, cutoff=FACTOR_NAME_CUTOFF)
                if factor not in known
                else ""
            )
            if typo:
                raise ConfigError(
                    f"{where}: field 'shocks.{factor}' names no factor of {factors_file}{typo}; "
                    "expected a factor name (a name unlike every factor is kept as unmapped)"
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
                f"{where}: unknown field(s) {', '.join(map(repr, unknown))}"
                f"{did_you_mean(unknown[0], REPLAY_FIELDS)}; allowed: {', '.join(REPLAY_FIELDS)}"
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
