"""Parameter files: typed schemas, one-line errors naming file, key, value and range."""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import replace
from pathlib import Path

import pydantic
import pytest

from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.db.session import upgrade
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.params import (
    BenchmarkParams,
    EngineParams,
    load_benchmark_params,
    load_engine_params,
    load_factor_params,
    load_replays,
    load_stress_scenarios,
)
from sigmasight_lib.portfolios.demo import load_demo_portfolios
from tests.conftest import cli_runner, seed_demo_database

SECTIONS = "data, greeks, factors, market_risk, stress, correlations, risk_metrics, snapshot"


@pytest.fixture
def params_dir(tmp_path: Path) -> Path:
    """A copy of the library's ``params/`` to break."""
    shutil.copytree(REPO_DIR / "params", tmp_path / "params")
    return tmp_path / "params"


def engines_error(params_dir: Path, text: str) -> str:
    path = params_dir / "engines.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_engine_params(params_dir)
    message = str(info.value)
    assert "\n" not in message
    return message.replace(str(path), "engines.yaml")


# --------------------------------------------------------------------------- engines.yaml


def test_library_file_is_the_defaults():
    assert load_engine_params(REPO_DIR / "params") == EngineParams()


def test_missing_file_and_empty_sections_give_the_defaults(tmp_path):
    assert load_engine_params(tmp_path) == EngineParams()
    (tmp_path / "engines.yaml").write_text("factors:\nstress:\n")
    assert load_engine_params(tmp_path) == EngineParams()


def test_an_integer_is_accepted_for_a_number(params_dir):
    (params_dir / "engines.yaml").write_text("stress:\n  decay: 1\nfactors:\n  cap: 2\n")
    params = load_engine_params(params_dir)
    assert params.stress.decay == 1.0 and isinstance(params.stress.decay, float)
    assert params.factors.cap == 2.0 and params.factors.window == 252


def test_params_are_frozen():
    params = EngineParams()
    with pytest.raises(pydantic.ValidationError):
        params.factors.window = 10  # type: ignore[misc]


def test_unknown_section(params_dir):
    assert engines_error(params_dir, "factor:\n  window: 100\n") == (
        f"engines.yaml: unknown section 'factor' (did you mean 'factors'?); allowed: {SECTIONS}"
    )


def test_unknown_section_far_from_every_section(params_dir):
    assert engines_error(params_dir, "plotting: {}\n") == (
        f"engines.yaml: unknown section 'plotting'; allowed: {SECTIONS}"
    )


def test_unknown_key_did_you_mean(params_dir):
    assert engines_error(params_dir, "factors:\n  windw: 100\n") == (
        "engines.yaml: unknown key 'factors.windw' (did you mean 'window'?); "
        "allowed: mode, window, min_obs, cap, factor_types"
    )


def test_fractional_window(params_dir):
    assert engines_error(params_dir, "factors:\n  window: 252.7\n") == (
        "engines.yaml: factors.window = 252.7 is not an integer; expected an integer in [2, 10000]"
    )


def test_boolean_window(params_dir):
    assert engines_error(params_dir, "factors:\n  window: true\n") == (
        "engines.yaml: factors.window = true is not an integer; expected an integer in [2, 10000]"
    )


def test_negative_window(params_dir):
    assert engines_error(params_dir, "correlations:\n  window: -20\n") == (
        "engines.yaml: correlations.window = -20 is out of range; expected an integer in [2, 10000]"
    )


def test_decay_above_one(params_dir):
    assert engines_error(params_dir, "stress:\n  decay: 1.5\n") == (
        "engines.yaml: stress.decay = 1.5 is out of range; expected a number in (0, 1]"
    )


def test_cluster_threshold_above_one(params_dir):
    assert engines_error(params_dir, "correlations:\n  cluster_threshold: 5\n") == (
        "engines.yaml: correlations.cluster_threshold = 5 is out of range; "
        "expected a number in (0, 1]"
    )


def test_unknown_factor_type(params_dir):
    assert engines_error(params_dir, "factors:\n  factor_types: [market, bogus]\n") == (
        "engines.yaml: factors.factor_types = ['market', 'bogus']: 'bogus' is not allowed; "
        "expected a non-empty list of market, style"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "factors:\n  factor_types: [market, stlye]\n",
            "factors.factor_types = ['market', 'stlye']: 'stlye' is not allowed "
            "(did you mean 'style'?); expected a non-empty list of market, style",
        ),
        (
            "factors:\n  factor_types: []\n",
            "factors.factor_types = [] is empty; expected a non-empty list of market, style",
        ),
        (
            "factors:\n  min_obs: 300\n",
            "factors.min_obs = 300 is above factors.window = 252; expected at most factors.window",
        ),
        (
            "correlations:\n  window: 50\n",
            "correlations.min_overlap = 60 is above correlations.window = 50; "
            "expected at most correlations.window",
        ),
        (
            "factors: 5\n",
            "factors = 5 is not a mapping; expected a mapping of mode, window, min_obs, cap, "
            "factor_types",
        ),
        ("factors:\n  cap: 0\n", "factors.cap = 0 is out of range; expected a number > 0"),
        ("factors:\n  cap: '3'\n", "factors.cap = '3' is not a number; expected a number > 0"),
        (
            "greeks:\n  greeks_backend: numba\n",
            "greeks.greeks_backend = 'numba' is not allowed (did you mean 'numpy'?); "
            "expected one of numpy, mibian",
        ),
        (
            "risk_metrics:\n  gaussian_mean: median\n",
            "risk_metrics.gaussian_mean = 'median' is not allowed; expected one of zero, sample",
        ),
        (
            "factors:\n  mode: spreads\n",
            "factors.mode = 'spreads' is not allowed (did you mean 'spread'?); "
            "expected one of spread, raw",
        ),
        (
            "market_risk:\n  market_moves: [0.01, .inf]\n",
            "market_risk.market_moves = [0.01, inf]: inf is not finite; "
            "expected a non-empty list of decimal returns > -1",
        ),
        (
            "market_risk:\n  rate_moves: 0.005\n",
            "market_risk.rate_moves = 0.005 is not a list; "
            "expected a non-empty list of finite yield changes",
        ),
        (
            "snapshot:\n  retention_days: 0\n",
            "snapshot.retention_days = 0 is out of range; expected an integer in [1, 36500] (calendar days)",
        ),
        (
            "data:\n  max_staleness_sessions: -1\n",
            "data.max_staleness_sessions = -1 is out of range; "
            "expected an integer in [0, 10000] (NYSE sessions)",
        ),
        (
            "greeks:\n  risk_free_rate: .nan\n",
            "greeks.risk_free_rate = nan is not finite; expected a finite number",
        ),
        (
            "stress:\n  lookback:\n",
            "stress.lookback = null is not an integer; expected an integer in [2, 10000]",
        ),
    ],
)
def test_engines_errors_are_one_line_with_key_value_and_range(params_dir, text, message):
    assert engines_error(params_dir, text) == f"engines.yaml: {message}"


def test_engines_file_not_a_mapping(params_dir):
    assert engines_error(params_dir, "- factors\n") == (
        f"engines.yaml: the file is ['factors']; expected a mapping of sections ({SECTIONS})"
    )


def test_cli_prints_the_error_as_one_line(sqlite_settings, params_dir, monkeypatch, capsys):
    (params_dir / "engines.yaml").write_text("stress:\n  decay: 1.5\n")
    upgrade(sqlite_settings)  # a demo database with market data: the parameter file fails
    seed_demo_database(sqlite_settings, history_sessions=80)
    run = cli_runner(replace(sqlite_settings, params_dir=params_dir), monkeypatch, capsys)
    code, out, err = run("engine", "stress", "--portfolio", "1")
    assert code == 1
    assert err == (
        f"error: {params_dir / 'engines.yaml'}: stress.decay = 1.5 is out of range; "
        "expected a number in (0, 1]\n"
    )
    assert "Traceback" not in out + err


# --------------------------------------------------------------------------- factors.yaml


def factors_error(params_dir: Path, entries: str) -> str:
    path = params_dir / "factors.yaml"
    path.write_text(entries, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_factor_params(params_dir)
    return str(info.value).replace(str(path), "factors.yaml")


def test_factor_proxies_are_ordered_lists(params_dir):
    factors = {f.name: f for f in load_factor_params(REPO_DIR / "params")}
    assert factors["Market"].proxies["offline"] == ("SPY", "^GSPC")
    assert factors["Value"].proxies == {"offline": ("VLUE",), "yfinance": ("VTV",)}
    assert [f.display_order for f in factors.values()] == list(range(1, len(factors) + 1))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            "factors:\n  - {name: Market, factor_type: market, proxie: {offline: SPY}}\n",
            "factor #1 (Market): unknown key 'proxie' (did you mean 'proxies'?); "
            "allowed: name, factor_type, description, proxies",
        ),
        (
            "factors:\n  - {name: Market, factor_type: markt}\n",
            "factor #1 (Market): factor_type = 'markt' is not allowed (did you mean 'market'?); "
            "expected one of market, style, macro, rates",
        ),
        (
            "factors:\n  - {name: Market, factor_type: market, proxies: {offline: []}}\n",
            "factor #1 (Market): proxies.offline = [] is empty; expected provider: a symbol or "
            "a non-empty list of symbols in order of preference",
        ),
        (
            "factors:\n  - {name: Market, factor_type: market, proxies: {offline: [SPY, 5]}}\n",
            "factor #1 (Market): proxies.offline = ['SPY', 5]: 5 is not text; expected provider: "
            "a symbol or a non-empty list of symbols in order of preference",
        ),
        ("factors:\n  - {factor_type: market}\n", "factor #1: name is missing; expected text"),
        (
            "factors:\n  - {name: M, factor_type: market}\n  - {name: M, factor_type: style}\n",
            "factor #2 (M): name 'M' is a duplicate",
        ),
        (
            "factor:\n  - {name: M, factor_type: market}\n",
            "unknown top-level key 'factor' (did you mean 'factors'?); allowed: factors",
        ),
    ],
)
def test_factors_errors(params_dir, entries, message):
    assert factors_error(params_dir, entries) == f"factors.yaml: {message}"


# --------------------------------------------------------------------------- benchmarks.yaml


def test_benchmark_file_is_the_defaults_and_orders_symbols_per_provider(tmp_path):
    library = load_benchmark_params(REPO_DIR / "params")
    assert library.symbols == BenchmarkParams().symbols
    assert library.candidates("offline") == ("^GSPC", "SPY")
    assert library.candidates("yfinance") == ("SPY", "^GSPC")
    assert library.candidates("nope") == ()
    assert load_benchmark_params(tmp_path) == BenchmarkParams()  # no file: the defaults
    (tmp_path / "benchmarks.yaml").write_text("benchmark:\n  symbols: {offline: SPY}\n")
    assert load_benchmark_params(tmp_path).candidates("offline") == ("SPY",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "benchmark:\n  symbol: {offline: SPY}\n",
            "benchmark: unknown key 'symbol' (did you mean 'symbols'?); "
            "allowed: name, description, symbols",
        ),
        (
            "benchmark:\n  symbols: {offline: []}\n",
            "benchmark: symbols.offline = [] is empty; expected provider: a symbol or a "
            "non-empty list of symbols in order of preference",
        ),
        (
            "benchmarks:\n  name: X\n",
            "unknown top-level key 'benchmarks' (did you mean 'benchmark'?); allowed: benchmark",
        ),
    ],
)
def test_benchmark_errors(params_dir, text, message):
    path = params_dir / "benchmarks.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_benchmark_params(params_dir)
    assert str(info.value).replace(str(path), "benchmarks.yaml") == f"benchmarks.yaml: {message}"


# --------------------------------------------------------------------------- scenario files


def scenario_file(params_dir: Path, shocks: str) -> Path:
    path = params_dir / "custom.yaml"
    path.write_text(f"scenarios:\n  - key: mine\n    name: Mine\n    shocks: {shocks}\n")
    return path


def test_scenario_factor_typo_did_you_mean(params_dir):
    path = scenario_file(params_dir, "{Markt: -0.1}")
    with pytest.raises(ConfigError) as info:
        load_stress_scenarios(path)
    assert str(info.value) == (
        f"{path}: scenario #1 (mine): field 'shocks.Markt' names no factor of "
        f"{params_dir / 'factors.yaml'} (did you mean 'Market'?); expected a factor name "
        "(a name unlike every factor is kept as unmapped)"
    )


def test_scenario_factor_case_typo_is_rejected(params_dir):
    with pytest.raises(ConfigError, match=r"'shocks.interest rate'.*did you mean 'Interest Rate'"):
        load_stress_scenarios(scenario_file(params_dir, "{interest rate: 0.01}"))


def test_scenario_unmapped_factors_far_from_every_factor_are_accepted(params_dir):
    scenarios = load_stress_scenarios(scenario_file(params_dir, "{Travel: -0.7, Tech: 0.15}"))
    assert scenarios[0].shocks == {"Travel": -0.7, "Tech": 0.15}


def test_scenario_factor_names_checked_against_the_given_params_dir(params_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    path = scenario_file(elsewhere, "{Markt: -0.1}")
    assert load_stress_scenarios(path)[0].shocks == {"Markt": -0.1}  # no factors.yaml beside it
    with pytest.raises(ConfigError, match="did you mean 'Market'"):
        load_stress_scenarios(path, params_dir=params_dir)


def test_scenario_unknown_field_did_you_mean(params_dir):
    path = params_dir / "custom.yaml"
    path.write_text("scenarios:\n  - {key: mine, name: Mine, shock: {Market: -0.1}}\n")
    with pytest.raises(ConfigError) as info:
        load_stress_scenarios(path)
    assert str(info.value) == (
        f"{path}: scenario #1 (mine): unknown field(s) 'shock' (did you mean 'shocks'?); "
        "allowed: key, name, category, description, shocks"
    )


def test_huge_retention_is_refused_before_it_overflows_a_date(params_dir):
    assert engines_error(params_dir, "snapshot:\n  retention_days: 1000000000000\n") == (
        "engines.yaml: snapshot.retention_days = 1000000000000 is out of range; "
        "expected an integer in [1, 36500] (calendar days)"
    )


# --------------------------------------------------------------------------- replays.yaml


def test_replay_unknown_field_did_you_mean(params_dir):
    path = params_dir / "replays.yaml"
    path.write_text(
        "replays:\n  - {key: x, name: X, start: 2020-01-02, end: 2020-02-03, scenaro: s}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_replays(path)
    assert str(info.value) == (
        f"{path}: replay #1 (x): unknown field(s) 'scenaro' (did you mean 'scenario'?); "
        "allowed: key, name, start, end, scenario, description"
    )


# --------------------------------------------------------------------------- demo_portfolios.yaml


def demo_error(params_dir: Path, old: str, new: str) -> str:
    path = params_dir / "demo_portfolios.yaml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_demo_portfolios(params_dir)
    return str(info.value).replace(str(path), "demo_portfolios.yaml")


FIRST = "demo_portfolios.yaml: portfolio #1 (Balanced Individual Investor)"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "quantity: 500\n",
            "quantity: true\n",
            f"{FIRST}, position #3 (MSFT): quantity = true is not a number; "
            "expected a finite number",
        ),
        (
            "quantity: 500\n",
            "quantity: .inf\n",
            f"{FIRST}, position #3 (MSFT): quantity = inf is not finite; expected a finite number",
        ),
        (
            "quantity: 500\n",
            "quantiy: 500\n",
            f"{FIRST}, position #3 (MSFT): unknown key 'quantiy' (did you mean 'quantity'?); "
            "allowed: symbol, quantity, entry_price, entry_date, tags, strategy",
        ),
        (
            "type: covered_call\n",
            "type: covered_cal\n",
            f"{FIRST}, strategy #1: type = 'covered_cal' is not allowed "
            "(did you mean 'covered_call'?); expected one of covered_call,",
        ),
        (
            "  owner:\n",
            "  ownr:\n",
            f"{FIRST}: unknown key 'ownr' (did you mean 'owner'?); "
            "allowed: name, owner, description, strategies, positions",
        ),
    ],
)
def test_demo_portfolio_errors(params_dir, old, new, message):
    assert demo_error(params_dir, old, new).startswith(message)
