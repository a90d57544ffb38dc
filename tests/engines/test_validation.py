"""Validation statistics against hand computations (scipy.stats for the distributions)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, chi2

from sigmasight_lib.engines.validation import (
    basel_zone,
    basel_zone_bounds,
    christoffersen_independence,
    conditional_coverage,
    cumulative_move,
    exceptions,
    holdings_pnl,
    kupiec_pof,
    transition_counts,
    var_backtest,
    volatility_bias_statistic,
)

REL = 1e-12


# --------------------------------------------------------------------------- Kupiec


def test_kupiec_textbook_250_days_at_99_with_8_exceptions():
    n, x, p = 250, 8, 0.01
    # the binomial coefficients cancel in the ratio: LR = 2 [log L(x/n) − log L(p)]
    lr_hand = 2.0 * (binom.logpmf(x, n, x / n) - binom.logpmf(x, n, p))
    lr, p_value = kupiec_pof(x, n, 0.99)
    assert lr == pytest.approx(lr_hand, rel=REL)
    written = -2 * (242 * math.log(0.99) + 8 * math.log(0.01)) + 2 * (
        242 * math.log(1 - 0.032) + 8 * math.log(0.032)
    )
    assert lr == pytest.approx(written, rel=REL)
    assert lr == pytest.approx(7.7336, abs=1e-4)
    assert p_value == pytest.approx(chi2.sf(lr_hand, df=1), rel=REL)
    assert p_value == pytest.approx(0.00542, abs=1e-5)


def test_kupiec_written_out_and_edges():
    n, x = 20, 3
    hand = -2 * (17 * math.log(0.95) + 3 * math.log(0.05)) + 2 * (
        17 * math.log(17 / 20) + 3 * math.log(3 / 20)
    )
    assert kupiec_pof(x, n, 0.95)[0] == pytest.approx(hand, rel=REL)
    # no exception: LR = −2 n ln(1 − p); exactly the expected rate: LR = 0, p = 1
    assert kupiec_pof(0, 250, 0.99)[0] == pytest.approx(-2 * 250 * math.log(0.99), rel=REL)
    lr, pv = kupiec_pof(5, 100, 0.95)
    assert lr == pytest.approx(0.0, abs=1e-12) and pv == pytest.approx(1.0)
    assert all(math.isnan(v) for v in kupiec_pof(0, 0, 0.99))
    with pytest.raises(ValueError, match="exceptions"):
        kupiec_pof(5, 4, 0.99)
    with pytest.raises(ValueError, match="level"):
        kupiec_pof(1, 4, 1.5)


# --------------------------------------------------------------------------- Christoffersen

HITS = [0, 0, 1, 1, 0, 0, 0, 1, 0, 0]


def test_transition_counts_by_hand():
    # pairs: 00 01 11 10 00 00 01 10 00
    assert transition_counts(HITS) == {"n00": 4, "n01": 2, "n10": 2, "n11": 1}


def test_christoffersen_independence_by_hand():
    n00, n01, n10, n11 = 4, 2, 2, 1
    pi01, pi11, pi = 2 / 6, 1 / 3, 3 / 9
    log_null = (n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)
    log_alt = (
        n00 * math.log(1 - pi01)
        + n01 * math.log(pi01)
        + n10 * math.log(1 - pi11)
        + n11 * math.log(pi11)
    )
    lr_hand = -2 * (log_null - log_alt)
    lr, p_value = christoffersen_independence(HITS)
    assert lr == pytest.approx(lr_hand, abs=1e-12)
    assert p_value == pytest.approx(chi2.sf(lr_hand, 1), abs=1e-12)


def test_christoffersen_clustered_hits_reject_and_edges():
    clustered = [0] * 40 + [1] * 5 + [0] * 40
    n00, n01, n10, n11 = 78, 1, 1, 4  # 84 pairs
    pi01, pi11, pi = 1 / 79, 4 / 5, 5 / 84
    log_null = (n00 + n10) * math.log(1 - pi) + (n01 + n11) * math.log(pi)
    log_alt = (
        n00 * math.log(1 - pi01) + n01 * math.log(pi01)
        + n10 * math.log(1 - pi11) + n11 * math.log(pi11)
    )  # fmt: skip
    lr, p_value = christoffersen_independence(np.array(clustered, dtype=bool))
    assert lr == pytest.approx(-2 * (log_null - log_alt), rel=1e-12)
    assert p_value < 1e-4
    assert christoffersen_independence([0] * 30) == (0.0, 1.0)
    assert all(math.isnan(v) for v in christoffersen_independence([1]))
    # NaN days are dropped
    assert christoffersen_independence([0, np.nan, *HITS])[0] == pytest.approx(
        christoffersen_independence([0, *HITS])[0]
    )


def test_conditional_coverage_is_the_sum_with_two_degrees_of_freedom():
    lr_pof, _ = kupiec_pof(3, 10, 0.95)
    lr_ind, _ = christoffersen_independence(HITS)
    lr, p_value = conditional_coverage(HITS, 0.95)
    assert lr == pytest.approx(lr_pof + lr_ind, rel=REL)
    assert p_value == pytest.approx(chi2.sf(lr_pof + lr_ind, 2), rel=REL)


# --------------------------------------------------------------------------- Basel


@pytest.mark.parametrize(
    ("k", "zone"), [(0, "green"), (4, "green"), (5, "yellow"), (9, "yellow"), (10, "red")]
)
def test_basel_zone_at_250_days_99(k: int, zone: str):
    assert basel_zone(k, 250, 0.99) == zone


def test_basel_bounds_follow_the_binomial_rule_at_other_sizes():
    assert basel_zone_bounds(250, 0.99) == (4, 9)
    for n, level in ((500, 0.99), (100, 0.95)):
        green_max, yellow_max = basel_zone_bounds(n, level)
        p = 1 - level
        assert binom.cdf(green_max, n, p) < 0.95 <= binom.cdf(green_max + 1, n, p)
        assert binom.cdf(yellow_max, n, p) < 0.9999 <= binom.cdf(yellow_max + 1, n, p)
    assert basel_zone(3, 0, 0.99) == "n/a"


# --------------------------------------------------------------------------- backtest


def test_var_backtest_counts_strict_exceptions_and_drops_nan_days():
    pnl = np.array([-5.0, -10.0, -10.1, 3.0, np.nan, -20.0])
    var = np.array([10.0, 10.0, 10.0, 10.0, 10.0, np.nan])
    hits = exceptions(pnl, var)
    np.testing.assert_array_equal(hits[:4], [0, 0, 1, 0])
    assert np.isnan(hits[4:]).all()
    bt = var_backtest(pnl, var, 0.95)
    assert (bt.observations, bt.exceptions) == (4, 1)
    assert bt.expected_exceptions == pytest.approx(0.2)
    assert bt.exception_rate == 0.25
    assert (bt.kupiec_lr, bt.kupiec_p_value) == kupiec_pof(1, 4, 0.95)
    assert bt.to_dict()["zone"] == bt.zone
    empty = var_backtest([np.nan], [1.0], 0.99)
    assert empty.observations == 0 and empty.zone == "n/a" and math.isnan(empty.kupiec_lr)


# --------------------------------------------------------------------------- bias


def test_bias_statistic_near_one_for_a_right_forecast_and_flags_a_wrong_scale():
    rng = np.random.default_rng(11)
    sigma = rng.uniform(1e4, 5e4, size=2000)
    pnl = rng.standard_normal(2000) * sigma
    right = volatility_bias_statistic(pnl, sigma)
    assert right.observations == 2000
    assert right.lower == pytest.approx(1 - 1.959964 / math.sqrt(4000), rel=1e-6)
    assert right.lower <= right.statistic <= right.upper
    assert right.verdict == "in band"
    z = pnl / sigma
    assert right.statistic == pytest.approx(np.std(z, ddof=1), rel=REL)
    under = volatility_bias_statistic(pnl, sigma / 1.5)  # forecasts too small
    assert under.statistic == pytest.approx(1.5 * right.statistic, rel=1e-9)
    assert under.verdict == "under-forecast"
    assert volatility_bias_statistic(pnl, sigma * 2).verdict == "over-forecast"
    few = volatility_bias_statistic([1.0, np.nan], [1.0, 1.0])
    assert math.isnan(few.statistic) and few.verdict == "n/a"


# --------------------------------------------------------------------------- P&L helpers


def test_holdings_pnl_treats_a_missing_return_as_zero_unless_all_are_missing():
    returns = pd.DataFrame(
        {"A": [0.01, np.nan, np.nan], "B": [-0.02, 0.03, np.nan], "C": [1.0, 1.0, 1.0]}
    )
    exposure = pd.Series({"A": 100.0, "B": -50.0})
    pnl = holdings_pnl(returns, exposure)
    assert pnl.iloc[0] == pytest.approx(100 * 0.01 + 50 * 0.02)
    assert pnl.iloc[1] == pytest.approx(-1.5)
    assert math.isnan(pnl.iloc[2])


def test_cumulative_move():
    assert cumulative_move(pd.Series([0.1, -0.1])) == pytest.approx(1.1 * 0.9 - 1)
    assert cumulative_move(pd.Series([0.001, 0.002]), "change") == pytest.approx(0.003)
    assert math.isnan(cumulative_move(pd.Series([0.1, np.nan])))
    assert math.isnan(cumulative_move(pd.Series([], dtype=float)))
    with pytest.raises(ValueError, match="kind"):
        cumulative_move(pd.Series([0.1]), "level")
