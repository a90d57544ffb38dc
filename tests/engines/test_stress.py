"""Stress engine against hand computations and independent oracles (numpy solve, mibian)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.engines.greeks import bsm_greeks, mibian_greeks
from sigmasight_lib.engines.stress import (
    NO_DATA_NOTE,
    MoveModel,
    Scenario,
    covariance_to_correlation,
    ewma_covariance,
    propagate_shocks,
    run_scenario,
    run_scenarios,
    scenario_summary,
)


def scenario(shocks: dict[str, float], key: str = "test") -> Scenario:
    return Scenario(key=key, name=key.title(), category="custom", description="", shocks=shocks)


def two_factor_cov(s1: float, s2: float, rho: float, names=("Market", "Value")) -> pd.DataFrame:
    cov = [[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]]
    return pd.DataFrame(cov, index=list(names), columns=list(names))


EMPTY_COV = pd.DataFrame(dtype=float)


# --------------------------------------------------------------------------- direct / correlated


def test_direct_pnl_single_factor_by_hand():
    exposures = pd.DataFrame(
        {"Market": [1000.0, -500.0, 2000.0], "Value": [300.0, np.nan, -100.0]},
        index=["AAPL", "TSLA-short", "JPM"],
    )
    result = run_scenario(scenario({"Market": -0.10}), exposures, EMPTY_COV)
    # -0.10 × (1000 - 500 + 2000) = -250
    assert result.direct_pnl_usd == pytest.approx(-250.0)
    assert result.by_position["direct_pnl_usd"].tolist() == pytest.approx([-100.0, 50.0, -200.0])
    assert result.by_factor.loc["Market", "exposure_usd"] == pytest.approx(2500.0)
    assert result.by_factor.loc["Market", "direct_pnl_usd"] == pytest.approx(-250.0)
    assert result.by_factor.loc["Value", "direct_pnl_usd"] == 0.0
    assert math.isnan(result.by_factor.loc["Value", "shock"])
    assert not result.partial
    assert result.unmapped == ()
    # no covariance: nothing propagates, correlated = direct, and the note says why
    assert result.correlated_pnl_usd == pytest.approx(-250.0)
    assert any("no covariance" in n and "Value" in n for n in result.notes)


def test_two_factor_correlated_pnl_equals_hand_formula():
    s1, s2, rho = 0.012, 0.007, 0.6
    e1, e2 = 10_000.0, -4_000.0
    shock = -0.10
    exposures = pd.DataFrame({"Market": [e1], "Value": [e2]}, index=["P1"])
    result = run_scenario(scenario({"Market": shock}), exposures, two_factor_cov(s1, s2, rho))
    # returns are propagated in log space: x_V = rho s2/s1 x_M with x = log(1 + r)
    propagated = math.exp(rho * s2 / s1 * math.log(1 + shock)) - 1
    assert result.by_factor.loc["Value", "propagated_shock"] == pytest.approx(propagated)
    assert result.by_factor.loc["Market", "propagated_shock"] == pytest.approx(shock)
    assert result.correlated_pnl_usd == pytest.approx(e1 * shock + e2 * propagated)
    assert result.direct_pnl_usd == pytest.approx(e1 * shock)
    assert result.by_factor["correlated_pnl_usd"].sum() == pytest.approx(result.correlated_pnl_usd)


def test_propagate_three_factors_two_shocked_matches_numpy_solve():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 3)) * np.array([0.01, 0.02, 0.0005])
    cov = a @ a.T + np.diag([1e-5, 2e-5, 1e-8])
    names = ["Market", "Oil", "Interest Rate"]
    covariance = pd.DataFrame(cov, index=names, columns=names)
    shocks = {"Market": -0.2, "Interest Rate": 0.01}
    out = propagate_shocks(shocks, covariance, MoveModel(additive=frozenset(names)))

    s, u = [0, 2], [1]
    expected_oil = cov[np.ix_(u, s)] @ np.linalg.solve(cov[np.ix_(s, s)], np.array([-0.2, 0.01]))
    assert list(out.index) == names
    assert out["Market"] == -0.2
    assert out["Interest Rate"] == 0.01
    assert out["Oil"] == pytest.approx(expected_oil[0], rel=1e-10)


def test_propagate_ignores_shocks_outside_covariance_and_unusable_factors():
    cov = two_factor_cov(0.01, 0.02, 0.5)
    cov.loc["Gold"] = np.nan
    cov["Gold"] = np.nan
    out = propagate_shocks({"Market": 0.1, "Travel": -0.7}, cov)
    assert list(out.index) == ["Market", "Value", "Gold"]
    assert out["Value"] == pytest.approx(math.expm1(0.5 * 2 * math.log1p(0.1)))
    assert out["Gold"] == 0.0  # NaN variance: no propagated move
    assert "Travel" not in out.index
    # nothing shocked inside the covariance: all zeros
    assert (propagate_shocks({"Travel": -0.7}, cov) == 0.0).all()


def test_propagate_collinear_shocked_factors_is_stable():
    # Market and Market2 are the same series: conditioning on both (consistent shocks)
    # must give the single-factor answer, not a blown-up solve of a singular block.
    s_m, s_v, rho = 0.01, 0.02, 0.4
    names = ["Market", "Market2", "Value"]
    cov = np.array(
        [
            [s_m**2, s_m**2, rho * s_m * s_v],
            [s_m**2, s_m**2, rho * s_m * s_v],
            [rho * s_m * s_v, rho * s_m * s_v, s_v**2],
        ]
    )
    out = propagate_shocks(
        {"Market": -0.1, "Market2": -0.1},
        pd.DataFrame(cov, index=names, columns=names),
        MoveModel(additive=frozenset(names)),
    )
    assert out["Value"] == pytest.approx(rho * s_v / s_m * -0.1, rel=1e-8)


# --------------------------------------------------------------------------- EWMA covariance


@pytest.fixture
def returns() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2024-01-01", periods=40)
    data = rng.normal(scale=[0.01, 0.02, 0.0006], size=(40, 3))
    data[:, 1] += 0.8 * data[:, 0]
    return pd.DataFrame(data, index=dates, columns=["Market", "Oil", "Interest Rate"])


def hand_ewma(frame: pd.DataFrame, decay: float) -> np.ndarray:
    rows = [frame.iloc[t].to_numpy() for t in range(len(frame))]
    n = len(rows)
    raw = [decay ** (n - 1 - t) for t in range(n)]  # newest weight 1
    total = sum(raw)
    w = [r / total for r in raw]
    mean = sum(w[t] * rows[t] for t in range(n))
    acc = np.zeros((frame.shape[1], frame.shape[1]))
    for t in range(n):
        d = rows[t] - mean
        acc += w[t] * np.outer(d, d)
    return acc / (1.0 - sum(x * x for x in w))


def test_ewma_covariance_matches_explicit_loop(returns):
    got = ewma_covariance(returns, decay=0.94)
    assert list(got.index) == list(returns.columns) == list(got.columns)
    np.testing.assert_allclose(got.to_numpy(), hand_ewma(returns, 0.94), rtol=1e-12)
    # independent oracle: numpy's weighted covariance with reliability weights
    w = 0.94 ** np.arange(len(returns) - 1, -1, -1)
    np.testing.assert_allclose(got.to_numpy(), np.cov(returns.T, aweights=w), rtol=1e-12)


def test_ewma_newest_dates_weigh_most(returns):
    shocked = returns.copy()
    shocked.iloc[-1, 0] += 0.05  # a large newest Market move
    old = returns.copy()
    old.iloc[0, 0] += 0.05  # the same move on the oldest date
    assert (
        ewma_covariance(shocked).loc["Market", "Market"]
        > 2 * ewma_covariance(old).loc["Market", "Market"]
    )


def test_ewma_decay_one_is_plain_covariance_and_approaches_it(returns):
    plain = returns.cov().to_numpy()
    np.testing.assert_allclose(ewma_covariance(returns, decay=1.0).to_numpy(), plain, rtol=1e-12)
    errors = [
        np.abs(ewma_covariance(returns, decay=d).to_numpy() - plain).max()
        for d in (0.9, 0.99, 0.999, 0.99999)
    ]
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-4 * np.abs(plain).max()


def test_ewma_uses_only_complete_dates_and_drops_empty_columns(returns):
    frame = returns.copy()
    frame.iloc[5, 1] = np.nan
    frame.iloc[9, 2] = np.nan
    frame["Gold"] = np.nan
    got = ewma_covariance(frame)
    assert list(got.index) == ["Market", "Oil", "Interest Rate"]
    expected = hand_ewma(returns.drop(returns.index[[5, 9]]), 0.94)
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)


def test_ewma_too_few_dates_and_bad_decay(returns):
    assert ewma_covariance(returns.iloc[:1]).isna().all().all()
    with pytest.raises(ValueError, match="decay"):
        ewma_covariance(returns, decay=0.0)
    with pytest.raises(ValueError, match="decay"):
        ewma_covariance(returns, decay=1.1)


def test_correlation_from_covariance(returns):
    corr = covariance_to_correlation(ewma_covariance(returns, decay=1.0))
    np.testing.assert_allclose(corr.to_numpy(), returns.corr().to_numpy(), rtol=1e-12)
    assert (np.diag(corr) == 1.0).all()
    zero = pd.DataFrame([[1e-4, 0.0], [0.0, 0.0]], index=["A", "B"], columns=["A", "B"])
    out = covariance_to_correlation(zero)
    assert out.loc["A", "A"] == 1.0
    assert out["B"].isna().all()


# --------------------------------------------------------------------------- options


SPOT, STRIKE, YEARS, RATE, VOL, QTY, MULT = 150.0, 150.0, 0.5, 0.04, 0.30, 3.0, 100.0
BETA = 1.2


def option_inputs(kind: str = "C"):
    g = bsm_greeks(kind, SPOT, STRIKE, YEARS, RATE, VOL, 0.0).iloc[0]
    options = pd.DataFrame(
        {
            "underlying": ["AAPL"],
            "option_type": [kind],
            "spot": [SPOT],
            "strike": [STRIKE],
            "years": [YEARS],
            "rate": [RATE],
            "vol": [VOL],
            "dividend_yield": [0.0],
            "quantity": [QTY],
            "multiplier": [MULT],
            "price": [g["price"]],
            "delta": [g["delta"] * QTY * MULT],
        },
        index=["AAPL_C150"],
    )
    dollar_delta = g["delta"] * QTY * MULT * SPOT
    exposures = pd.DataFrame(
        # the option's exposure row is deliberately huge: it must not enter the linear sum
        {"Market": [10_000.0, 1e9], "Value": [2_000.0, 5e8]},
        index=["AAPL", "AAPL_C150"],
    )
    betas = pd.DataFrame({"Market": [BETA], "Value": [0.0]}, index=["AAPL"])
    return options, exposures, betas, float(g["price"]), dollar_delta


def test_option_revaluation_matches_repricing_and_is_excluded_from_linear_sum():
    options, exposures, betas, price, _ = option_inputs()
    shock = -0.30
    result = run_scenario(
        scenario({"Market": shock}), exposures, EMPTY_COV, options=options, underlying_betas=betas
    )
    move = BETA * shock
    new_spot = SPOT * (1 + move)
    new_price = bsm_greeks("call", new_spot, STRIKE, YEARS, RATE, VOL).loc[0, "price"]
    oracle = mibian_greeks("call", new_spot, STRIKE, YEARS, RATE, VOL).loc[0, "price"]
    assert new_price == pytest.approx(oracle, rel=1e-6)
    expected_option = (new_price - price) * QTY * MULT
    row = result.by_position.loc["AAPL_C150"]
    assert row["underlying_move_direct"] == pytest.approx(move)
    assert row["revaluation_pnl_direct"] == pytest.approx(expected_option, rel=1e-12)
    assert row["direct_pnl_usd"] == pytest.approx(expected_option, rel=1e-12)
    # linear part: only the stock row (10 000 × -0.30); option via revaluation only
    assert result.direct_pnl_usd == pytest.approx(10_000.0 * shock + expected_option)
    assert result.by_factor.loc["Market", "exposure_usd"] == 10_000.0
    # a 36 % fall: convexity makes the loss much smaller than delta-only
    delta_only = row["delta_only_pnl_direct"]
    assert delta_only == pytest.approx(options["delta"].iloc[0] * SPOT * move)
    assert expected_option > delta_only
    assert abs(expected_option - delta_only) > 0.2 * abs(delta_only)
    assert math.isnan(result.by_position.loc["AAPL", "revaluation_pnl_direct"])


def test_option_revaluation_first_order_equals_delta_for_tiny_move():
    options, exposures, betas, _, _ = option_inputs("P")
    result = run_scenario(
        scenario({"Market": 1e-6}), exposures, EMPTY_COV, options=options, underlying_betas=betas
    )
    row = result.by_position.loc["AAPL_C150"]
    assert row["revaluation_pnl_direct"] == pytest.approx(row["delta_only_pnl_direct"], rel=1e-4)
    assert row["revaluation_pnl_direct"] != row["delta_only_pnl_direct"]


def test_option_correlated_move_uses_full_vector():
    options, exposures, _, price, _ = option_inputs()
    betas = pd.DataFrame({"Market": [1.0], "Value": [0.5]}, index=["AAPL"])
    cov = two_factor_cov(0.01, 0.02, 0.5)
    result = run_scenario(
        scenario({"Market": -0.1}), exposures, cov, options=options, underlying_betas=betas
    )
    value_move = 0.5 * 2 * -0.1
    row = result.by_position.loc["AAPL_C150"]
    assert row["underlying_move_direct"] == pytest.approx(-0.1)
    assert row["underlying_move_correlated"] == pytest.approx(-0.1 + 0.5 * value_move)
    new_price = bsm_greeks(
        "C", SPOT * (1 + row["underlying_move_correlated"]), STRIKE, YEARS, RATE, VOL
    )
    expected = (new_price.loc[0, "price"] - price) * QTY * MULT
    assert row["revaluation_pnl_correlated"] == pytest.approx(expected, rel=1e-12)
    linear = 10_000.0 * -0.1 + 2_000.0 * value_move
    assert result.correlated_pnl_usd == pytest.approx(linear + expected)


def test_option_betas_derived_from_exposure_row_when_missing():
    options, _, _, price, dollar_delta = option_inputs()
    exposures = pd.DataFrame(
        {"Market": [10_000.0, 0.8 * dollar_delta], "Value": [0.0, 0.0]},
        index=["AAPL", "AAPL_C150"],
    )
    result = run_scenario(scenario({"Market": -0.2}), exposures, EMPTY_COV, options=options)
    row = result.by_position.loc["AAPL_C150"]
    assert row["underlying_move_direct"] == pytest.approx(0.8 * -0.2)
    new_price = bsm_greeks("C", SPOT * (1 - 0.16), STRIKE, YEARS, RATE, VOL).loc[0, "price"]
    assert row["revaluation_pnl_direct"] == pytest.approx((new_price - price) * QTY * MULT)
    assert any("derived from its exposure row" in n for n in result.notes)


def test_unpriceable_option_is_noted_and_left_out_of_totals():
    options, exposures, betas, _, _ = option_inputs()
    options["years"] = 0.0
    result = run_scenario(
        scenario({"Market": -0.1}), exposures, EMPTY_COV, options=options, underlying_betas=betas
    )
    assert math.isnan(result.by_position.loc["AAPL_C150", "direct_pnl_usd"])
    assert result.direct_pnl_usd == pytest.approx(-1_000.0)
    assert any("AAPL_C150" in n and "cannot be priced" in n for n in result.notes)


def test_option_move_below_minus_100_percent_is_floored():
    options, exposures, betas, price, _ = option_inputs("P")
    result = run_scenario(
        scenario({"Market": -0.9}), exposures, EMPTY_COV, options=options, underlying_betas=betas
    )
    row = result.by_position.loc["AAPL_C150"]
    floor_price = bsm_greeks("P", SPOT * 1e-6, STRIKE, YEARS, RATE, VOL).loc[0, "price"]
    assert row["revaluation_pnl_direct"] == pytest.approx((floor_price - price) * QTY * MULT)
    assert any("floored" in n for n in result.notes)


# --------------------------------------------------------------------------- unmapped


def test_unmapped_factors_are_listed_and_flag_partial():
    exposures = pd.DataFrame(
        {"Market": [1000.0, 500.0], "Oil": [200.0, 0.0], "Gold": [np.nan, np.nan]},
        index=["A", "B"],
    )
    sc = scenario({"Market": -0.35, "Travel": -0.70, "Gold": 0.2, "Oil": -0.65})
    result = run_scenario(sc, exposures, EMPTY_COV)
    assert result.partial
    assert result.unmapped == ("Travel", "Gold")  # Gold: a column without data
    assert result.direct_pnl_usd == pytest.approx(1500.0 * -0.35 + 200.0 * -0.65)
    assert result.by_factor.loc["Travel", "shock"] == -0.70
    assert result.by_factor.loc["Travel", ["exposure_usd", "direct_pnl_usd"]].isna().all()
    assert any("unmapped" in n and "Travel, Gold" in n for n in result.notes)


def test_all_unmapped_gives_nan_with_note():
    exposures = pd.DataFrame({"Market": [1000.0]}, index=["A"])
    cov = two_factor_cov(0.01, 0.02, 0.5, names=("Market", "Tech"))
    result = run_scenario(scenario({"Tech": 0.15, "Travel": -0.7}), exposures, cov)
    assert math.isnan(result.direct_pnl_usd)
    assert math.isnan(result.correlated_pnl_usd)
    assert result.partial
    assert result.unmapped == ("Tech", "Travel")
    assert any(NO_DATA_NOTE in n for n in result.notes)
    assert result.by_position["direct_pnl_usd"].isna().all()


def test_unmapped_shock_does_not_condition_the_propagation():
    # Value is in the covariance but has no exposure column: it contributes nothing
    exposures = pd.DataFrame({"Market": [1000.0]}, index=["A"])
    cov = two_factor_cov(0.01, 0.02, 0.9)
    result = run_scenario(scenario({"Market": -0.1, "Value": -0.5}), exposures, cov)
    assert result.correlated_pnl_usd == pytest.approx(-100.0)
    assert result.unmapped == ("Value",)


# --------------------------------------------------------------------------- batch


def test_run_scenarios_and_summary():
    exposures = pd.DataFrame({"Market": [1000.0]}, index=["A"])
    scenarios = [
        scenario({"Market": -0.1}, "down"),
        scenario({"Market": 0.1, "Travel": 0.2}, "up"),
        scenario({"Gold": 0.2}, "gold"),
    ]
    results = run_scenarios(scenarios, exposures, EMPTY_COV)
    assert [r.key for r in results] == ["down", "up", "gold"]
    summary = scenario_summary(results)
    assert list(summary.index) == ["down", "up", "gold"]
    assert summary.loc["down", "direct_pnl_usd"] == pytest.approx(-100.0)
    assert summary.loc["up", "partial"]
    assert summary.loc["up", "unmapped"] == "Travel"
    assert math.isnan(summary.loc["gold", "correlated_pnl_usd"])


def test_scenario_rejects_non_finite_shock():
    with pytest.raises(ValueError, match="not finite"):
        scenario({"Market": float("nan")})
    with pytest.raises(ValueError, match="not a number"):
        scenario({"Market": "-10%"})  # type: ignore[dict-item]


# --------------------------------------------------------------------------- issue 11: units, bounds, floor

SPREAD = MoveModel(spread_factors=frozenset({"Value"}))


def test_style_shock_is_the_proxy_return_converted_to_the_spread_by_hand():
    # exposures are to [Market, Value - Market]; the scenario says VLUE -12 %, SPY -10 %:
    # the spread moves by -12 % - (-10 %) = -2 %, not -12 %
    e_m, e_v = 10_000.0, 5_000.0
    exposures = pd.DataFrame({"Market": [e_m], "Value": [e_v]}, index=["P1"])
    result = run_scenario(
        scenario({"Market": -0.10, "Value": -0.12}), exposures, EMPTY_COV, model=SPREAD
    )
    assert result.direct_pnl_usd == pytest.approx(e_m * -0.10 + e_v * -0.02)
    assert result.by_factor.loc["Value", "design_move_direct"] == pytest.approx(-0.02)
    assert result.by_factor.loc["Value", "shock"] == -0.12
    # Value alone: the market does not move in the direct P&L, the spread is the shock
    alone = run_scenario(scenario({"Value": -0.10}), exposures, EMPTY_COV, model=SPREAD)
    assert alone.direct_pnl_usd == pytest.approx(e_v * -0.10)
    # Market alone: an unshocked style factor moves with the market (zero spread)
    market = run_scenario(scenario({"Market": -0.10}), exposures, EMPTY_COV, model=SPREAD)
    assert market.direct_pnl_usd == pytest.approx(e_m * -0.10)


def test_correlated_spread_move_uses_the_propagated_proxy_return():
    s_m, s_v, rho = 0.01, 0.011, 0.9
    e_m, e_v = 10_000.0, 5_000.0
    exposures = pd.DataFrame({"Market": [e_m], "Value": [e_v]}, index=["P1"])
    cov = two_factor_cov(s_m, s_v, rho)  # log-return covariance of SPY and VLUE
    result = run_scenario(scenario({"Value": -0.10}), exposures, cov, model=SPREAD)
    market = math.expm1(rho * s_m / s_v * math.log1p(-0.10))  # SPY's conditional move
    assert result.by_factor.loc["Market", "propagated_shock"] == pytest.approx(market)
    expected = e_m * market + e_v * (-0.10 - market)
    assert result.correlated_pnl_usd == pytest.approx(expected)


def test_propagated_move_never_below_minus_100_percent():
    # VIX (daily log-vol 8 %) strongly anti-correlated with the market (1 %): a +25 %
    # market rally in linear space would move VIX by -0.8 x 8 / 1 x 25 % = -160 %
    cov = two_factor_cov(0.01, 0.08, -0.8, names=("Market", "Volatility"))
    out = propagate_shocks({"Market": 0.25}, cov)
    hand = math.expm1(-0.8 * 0.08 / 0.01 * math.log1p(0.25))
    assert out["Volatility"] == pytest.approx(hand)
    assert -1.0 < out["Volatility"] < 0.0
    with pytest.raises(ValueError, match="-100 %"):
        propagate_shocks({"Market": -1.0}, cov)


def test_additive_factor_is_propagated_linearly():
    cov = two_factor_cov(0.01, 0.0006, 0.3, names=("Market", "Interest Rate"))
    model = MoveModel(additive=frozenset({"Interest Rate"}))
    out = propagate_shocks({"Interest Rate": 0.0025}, cov, model)
    assert out["Market"] == pytest.approx(math.expm1(0.3 * 0.01 / 0.0006 * 0.0025))


def test_linear_position_loses_at_most_its_value_and_a_short_gains_at_most_its_value():
    # market beta 3 and a -45 % market: the implied move is -135 %
    exposures = pd.DataFrame({"Market": [3 * 274_200.0, 3 * -50_000.0, 1.0 * 80_000.0]},
                             index=["AMD", "short", "other"])  # fmt: skip
    values = pd.Series({"AMD": 274_200.0, "short": -50_000.0, "other": 80_000.0})
    result = run_scenario(
        scenario({"Market": -0.45}), exposures, EMPTY_COV, position_exposure_usd=values
    )
    pnl = result.by_position["direct_pnl_usd"]
    assert pnl["AMD"] == pytest.approx(-274_200.0)  # not -370,170
    assert pnl["short"] == pytest.approx(50_000.0)  # not +67,500
    assert pnl["other"] == pytest.approx(-36_000.0)  # unfloored
    assert result.direct_pnl_usd == pytest.approx(-274_200.0 + 50_000.0 - 36_000.0)
    assert bool(result.by_position.loc["AMD", "loss_floor_direct"])
    assert not bool(result.by_position.loc["other", "loss_floor_direct"])
    assert any("floored" in n and "AMD" in n for n in result.notes)


# --------------------------------------------------------------------------- many portfolios


def test_evaluate_scenarios_many_portfolios_equal_each_alone():
    """Two portfolios with different factors with data, covariances and options in one
    batch give exactly each portfolio's own run_scenarios (figures, flags, notes)."""
    from sigmasight_lib.engines.stress import evaluate_scenarios

    options, exposures, betas, _, _ = option_inputs()
    options.loc["AAPL_C150", "price"] = 1.0  # far from BSM: a note
    second = pd.DataFrame(
        {"Market": [-4_000.0, 900.0], "Value": [np.nan, np.nan], "Rates": [50.0, -8e9]},
        index=["TLT", "IEF"],
    )
    union = pd.concat([exposures.assign(Rates=np.nan), second])
    cov_a = two_factor_cov(0.01, 0.02, 0.5)
    cov_b = two_factor_cov(0.01, 0.002, -0.3, names=("Market", "Rates"))
    value = pd.Series({"AAPL": 10_000.0, "AAPL_C150": 5e4, "TLT": -4_000.0, "IEF": 900.0})
    scenarios = [
        scenario({"Market": -0.3}, "a"), scenario({"Rates": 2.0, "Value": -0.1}, "b"),
        scenario({"Credit": 0.1}, "c"), scenario({}, "d"),
    ]  # fmt: skip
    batch = evaluate_scenarios(
        scenarios, union, [cov_a, cov_b], options, betas, position_exposure_usd=value,
        portfolio=pd.Series([0, 0, 1, 1], index=union.index),
        columns=[["Market", "Value"], ["Market", "Value", "Rates"]],
    )  # fmt: skip
    alone = [
        run_scenarios(scenarios, exposures, cov_a, options, betas, position_exposure_usd=value),
        run_scenarios(scenarios, second, cov_b, position_exposure_usd=value),
    ]
    for g, expected in enumerate(alone):
        for got, want in zip(batch.results(g), expected, strict=True):
            assert got.notes == want.notes
            assert got.unmapped == want.unmapped and got.partial == want.partial
            np.testing.assert_equal(
                [got.direct_pnl_usd, got.correlated_pnl_usd],
                [want.direct_pnl_usd, want.correlated_pnl_usd],
            )
            pd.testing.assert_frame_equal(got.by_factor, want.by_factor)
            pd.testing.assert_frame_equal(got.by_position, want.by_position)
    assert any("floored" in n for r in batch.results(1) for n in r.notes)
