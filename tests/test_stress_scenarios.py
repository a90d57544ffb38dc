"""The stress scenario library file and its loader's error messages."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.engines.stress import CATEGORIES, NO_DATA_NOTE, Scenario, run_scenarios
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.params import load_factor_params, load_stress_scenarios

LIBRARY = REPO_DIR / "params" / "stress_scenarios.yaml"

# SPEC "Engines" 6, one key per scenario, with the shocks of the planning document
EXPECTED = {
    "market_up_10": {"Market": 0.10},
    "market_down_10": {"Market": -0.10},
    "market_crash_35": {"Market": -0.35},
    "market_rally_25": {"Market": 0.25},
    "rates_up_25bp": {"Interest Rate": 0.0025},
    "rates_down_25bp": {"Interest Rate": -0.0025},
    "rates_up_100bp": {"Interest Rate": 0.01},
    "rates_down_100bp": {"Interest Rate": -0.01},
    "rates_up_300bp": {"Interest Rate": 0.03},
    "oil_up_5": {"Oil": 0.05},
    "oil_down_5": {"Oil": -0.05},
    "oil_crash_65": {"Oil": -0.65},
    "gold_rally_20": {"Gold": 0.20},
    "dax_up_10": {"DAX": 0.10},
    "dax_down_10": {"DAX": -0.10},
    "em_crash_25": {"Emerging Markets": -0.25},
    "china_slowdown_15": {"China": -0.15},
    "value_rotation_20": {"Value": 0.20, "Growth": -0.10},
    "growth_rally_15": {"Growth": 0.15},
    "small_cap_outperformance_10": {"Size": 0.10},
    "quality_flight_12": {"Quality": 0.12},
    "vix_spike_150": {"Volatility": 1.5},
    "credit_spread_600bp": {"Credit Spread": -0.24},  # +600 bp as an HYG return, duration 4
    "replay_2008": {"Market": -0.45, "Credit Spread": -0.24, "Volatility": 1.5, "Value": -0.30},
    "replay_covid_2020": {"Market": -0.35, "Oil": -0.65, "Travel": -0.70, "Tech": 0.15},
    "replay_dotcom": {"Growth": -0.60, "Tech": -0.80, "Market": -0.45, "Value": 0.20},
}


@pytest.fixture(scope="module")
def library() -> list[Scenario]:
    return load_stress_scenarios(LIBRARY)


def test_library_holds_every_spec_scenario(library):
    by_key = {s.key: s for s in library}
    assert len(by_key) == len(library)
    assert set(by_key) == {*EXPECTED, "liquidity_crisis"}
    for key, shocks in EXPECTED.items():
        assert by_key[key].shocks == pytest.approx(shocks), key
    liquidity = by_key["liquidity_crisis"]
    assert liquidity.category == "liquidity"
    assert len(liquidity.shocks) >= 3
    assert liquidity.shocks["Market"] < 0 and liquidity.shocks["Credit Spread"] < 0
    assert liquidity.shocks["Volatility"] > 0


def test_library_entries_are_described_with_units(library):
    for s in library:
        assert s.category in CATEGORIES
        assert s.name.strip()
        assert "decimal" in s.description.lower(), s.key
    credit = next(s for s in library if s.key == "credit_spread_600bp")
    assert "HYG" in credit.description and "600 bp" in credit.description


def test_library_factors_are_known_except_the_documented_unmapped_ones(library):
    known = {f.name for f in load_factor_params(REPO_DIR / "params")}
    unknown = {f for s in library for f in s.shocks if f not in known}
    assert unknown == {"Travel", "Tech"}


def test_library_runs_with_offline_factors(library):
    offline = ["Market", "Value", "Momentum", "Quality", "Size", "Low Volatility"]
    exposures = pd.DataFrame([[1000.0] * len(offline)], columns=offline, index=["P"])
    results = {r.key: r for r in run_scenarios(library, exposures, pd.DataFrame(dtype=float))}
    assert results["market_down_10"].direct_pnl_usd == pytest.approx(-100.0)
    assert not results["market_down_10"].partial
    gold = results["gold_rally_20"]
    assert math.isnan(gold.direct_pnl_usd) and gold.unmapped == ("Gold",)
    assert any(NO_DATA_NOTE in n for n in gold.notes)
    covid = results["replay_covid_2020"]
    assert covid.partial and covid.unmapped == ("Oil", "Travel", "Tech")
    assert covid.direct_pnl_usd == pytest.approx(-350.0)


# --------------------------------------------------------------------------- loader errors


GOOD = """\
  - key: first
    name: First
    category: market
    description: ok
    shocks: {Market: -0.1}
"""


def write(tmp_path: Path, second: str) -> Path:
    path = tmp_path / "stress_scenarios.yaml"
    path.write_text("scenarios:\n" + GOOD + textwrap.indent(textwrap.dedent(second), "  "))
    return path


@pytest.mark.parametrize(
    ("entry", "fragments"),
    [
        (
            "- name: No Key\n  shocks: {Market: 0.1}\n",
            ["scenario #2 (No Key)", "field 'key' is missing"],
        ),
        ("- key: nameless\n  shocks: {Market: 0.1}\n", ["scenario #2 (nameless)", "field 'name'"]),
        ("- key: bare\n  name: Bare\n", ["scenario #2 (bare)", "field 'shocks' is missing"]),
        (
            "- key: first\n  name: Again\n  shocks: {Market: 0.1}\n",
            ["scenario #2 (first)", "field 'key' duplicates scenario #1"],
        ),
        (
            "- key: pct\n  name: Pct\n  shocks: {Market: -10%}\n",
            ["scenario #2 (pct)", "field 'shocks.Market'", "'-10%'", "not a number"],
        ),
        (
            "- key: flag\n  name: Flag\n  shocks: {Market: true}\n",
            ["scenario #2 (flag)", "field 'shocks.Market'", "True", "not a number"],
        ),
        (
            "- key: inf\n  name: Inf\n  shocks: {Oil: .inf}\n",
            ["scenario #2 (inf)", "field 'shocks.Oil'", "inf", "not finite"],
        ),
        (
            "- key: nan\n  name: NaN\n  shocks: {Oil: .nan}\n",
            ["scenario #2 (nan)", "field 'shocks.Oil'", "not finite"],
        ),
        (
            "- key: empty\n  name: Empty\n  shocks: {}\n",
            ["scenario #2 (empty)", "field 'shocks' is empty"],
        ),
        (
            "- key: extra\n  name: Extra\n  shock: {Market: 0.1}\n  shocks: {Market: 0.1}\n",
            ["scenario #2 (extra)", "unknown field(s) 'shock'"],
        ),
        (
            "- key: cat\n  name: Cat\n  category: equity\n  shocks: {Market: 0.1}\n",
            ["scenario #2 (cat)", "field 'category' is 'equity'", "custom"],
        ),
        (
            "- key: blank\n  name: Blank\n  shocks: {'': 0.1}\n",
            ["scenario #2 (blank)", "field 'shocks' has factor name ''", "non-empty string"],
        ),
        (
            "- key: Bad Key\n  name: Bad\n  shocks: {Market: 0.1}\n",
            ["scenario #2 (Bad Key)", "field 'key' is 'Bad Key'"],
        ),
        (
            "- key: listy\n  name: Listy\n  shocks: [0.1]\n",
            ["scenario #2 (listy)", "field 'shocks' must map factor name to shock"],
        ),
    ],
)
def test_loader_errors_name_file_scenario_and_field(tmp_path, entry, fragments):
    path = write(tmp_path, entry)
    with pytest.raises(ConfigError) as info:
        load_stress_scenarios(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_loader_defaults_and_custom_category(tmp_path):
    path = write(tmp_path, "- key: mine\n  name: Mine\n  shocks: {Unknown Factor: 1}\n")
    scenarios = load_stress_scenarios(path)
    assert scenarios[1] == Scenario(
        key="mine", name="Mine", category="custom", description="", shocks={"Unknown Factor": 1.0}
    )
    assert isinstance(scenarios[1].shocks["Unknown Factor"], float)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("scenarios: []\n", "expected a non-empty list under 'scenarios'"),
        ("- a\n", "expected a mapping with a 'scenarios' list"),
        ("scenarios:\n  - just text\n", "scenario #1: expected a mapping"),
        ("scenario:\n" + GOOD, "unknown top-level field(s) 'scenario'"),
        ("scenarios: [\n", "not valid YAML"),
    ],
)
def test_loader_file_level_errors(tmp_path, text, fragment):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=None) as info:
        load_stress_scenarios(path)
    assert str(info.value).startswith(str(path))
    assert fragment in str(info.value)


def test_loader_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_stress_scenarios(tmp_path / "absent.yaml")
