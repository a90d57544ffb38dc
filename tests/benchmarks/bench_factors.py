"""Benchmark: batched ``factor_betas`` against a statsmodels OLS fit per asset.

Run with ``python tests/benchmarks/bench_factors.py`` (``make bench``). One run
measures, on 2,000 assets × 252 days × 7 factors (fixed seed; asset returns
are factor loadings plus noise):

* ``factor_betas(mode='raw')`` for all 2,000 assets, median of 5 runs — betas,
  alpha, R², t-statistics and condition numbers included;
* ``statsmodels.OLS(y, add_constant(X)).fit()`` for the first 200 assets,
  reading ``params``, ``tvalues`` and ``rsquared`` (median of 3 runs), scaled to
  fits per second;
* the ratio (goal: at least 100x) and the largest differences against
  statsmodels on those 200 assets (goal: betas and R² to 1e-10, t-stats to 1e-8
  relative).

Exits non-zero when a goal is missed.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import statsmodels.api as sm

from sigmasight_lib.engines.factors import factor_betas

try:
    from ._harness import environment, max_abs_diff, measure, report, speedup_row, tolerance_row
except ImportError:  # run as a script: the benchmarks folder is sys.path[0]
    from _harness import environment, max_abs_diff, measure, report, speedup_row, tolerance_row

SEED = 20170329
N_ASSETS = 2_000
N_DAYS = 252
N_FACTORS = 7
N_STATSMODELS = 200
GOAL_SPEEDUP = 100.0


def synthetic_returns(seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily factor returns (1 % vol) and asset returns = factors @ loadings + 1.5 % noise."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2016-03-31", periods=N_DAYS)
    names = ["Market", "Value", "Growth", "Momentum", "Quality", "Size", "Low Volatility"]
    factors = pd.DataFrame(rng.normal(0.0, 0.01, (N_DAYS, N_FACTORS)), index=dates, columns=names)
    loadings = rng.normal(0.0, 0.8, (N_FACTORS, N_ASSETS))
    noise = rng.normal(0.0, 0.015, (N_DAYS, N_ASSETS))
    assets = pd.DataFrame(factors.to_numpy() @ loadings + noise, index=dates)
    return assets, factors


def statsmodels_loop(assets: pd.DataFrame, factors: pd.DataFrame, n: int) -> dict[str, np.ndarray]:
    x = sm.add_constant(factors)
    params, tvalues, rsq = [], [], []
    for j in range(n):
        fit = sm.OLS(assets.iloc[:, j], x).fit()
        params.append(fit.params.to_numpy()[1:])
        tvalues.append(fit.tvalues.to_numpy())
        rsq.append(fit.rsquared)
    return {"betas": np.array(params), "t_stats": np.array(tvalues), "r_squared": np.array(rsq)}


def main() -> int:
    assets, factors = synthetic_returns()
    batched = measure(lambda: factor_betas(assets, factors, mode="raw", cap=np.inf), repeats=5)
    reference = measure(lambda: statsmodels_loop(assets, factors, N_STATSMODELS), repeats=3)
    fast, ref = batched.result, reference.result
    sample = assets.columns[:N_STATSMODELS]
    t_rel = np.max(np.abs(fast.t_stats.loc[sample].to_numpy() / ref["t_stats"] - 1.0))
    rows = [
        speedup_row(
            f"fits per second ({N_ASSETS} assets x {N_DAYS} days x {N_FACTORS} factors)",
            N_ASSETS / batched.median,
            N_STATSMODELS / reference.median,
            GOAL_SPEEDUP,
        ),
        tolerance_row(
            "max |beta - statsmodels|", max_abs_diff(fast.betas.loc[sample], ref["betas"]), 1e-10
        ),
        tolerance_row(
            "max |R² - statsmodels|",
            max_abs_diff(fast.r_squared.loc[sample], ref["r_squared"]),
            1e-10,
        ),
        tolerance_row("max relative t-stat difference", float(t_rel), 1e-8),
    ]
    print(environment())
    print(f"batched: median {batched.median * 1e3:.2f} ms for {N_ASSETS} assets; "
          f"statsmodels: median {reference.median * 1e3:.1f} ms for {N_STATSMODELS} fits")  # fmt: skip
    return 0 if report(rows, title="factor betas: batched vs statsmodels OLS loop") else 1


if __name__ == "__main__":
    sys.exit(main())
