"""Engine runs: load inputs → per-security fits → per-portfolio aggregation → save.

Modules, along the data flow:

- :mod:`~sigmasight_lib.runs.inputs`: the portfolio and as-of date, market data
  for a set of symbols, factor series chosen from the proxies (staleness).
- :mod:`~sigmasight_lib.runs.securities`: per-security fits on loaded inputs
  (prices and Greeks, factor betas, macro / rate betas).
- :mod:`~sigmasight_lib.runs.portfolio`: a portfolio's positions with their
  analytics, factor exposures and stress inputs.
- :mod:`~sigmasight_lib.runs.runners`: ``run_<engine>`` (load → compute → save)
  and :data:`ENGINE_RUNNERS`.
- :mod:`~sigmasight_lib.runs.result`: :class:`EngineRun`, what a run returns.

This package re-exports the entry points: ``from sigmasight_lib.runs import
run_valuation, ENGINE_RUNNERS, EngineRun``.
"""

from sigmasight_lib.runs.result import EngineRun
from sigmasight_lib.runs.runners import (
    ENGINE_RUNNERS,
    run_correlations,
    run_exposures,
    run_factors,
    run_greeks,
    run_market_risk,
    run_risk_metrics,
    run_snapshot,
    run_stress,
    run_valuation,
)

__all__ = [
    "ENGINE_RUNNERS",
    "EngineRun",
    "run_correlations",
    "run_exposures",
    "run_factors",
    "run_greeks",
    "run_market_risk",
    "run_risk_metrics",
    "run_snapshot",
    "run_stress",
    "run_valuation",
]
