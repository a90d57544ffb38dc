"""All-portfolio stress / correlations / market risk vs the per-portfolio runners.

Needs a database with the synthetic portfolios (``sigmasight demo synthetic
--portfolios 1000 --positions 50 --seed 1``) and offline market data, named by
the usual ``SIGMASIGHT_*`` environment variables. Times each ``*_many`` function
on every portfolio and the per-portfolio runner on a sample, and prints the
per-portfolio speed-up.
"""

from __future__ import annotations

import sys

from sigmasight_lib.config import load_settings
from sigmasight_lib.db.models import Portfolio
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.marketdata import get_provider
from sigmasight_lib.params import STRESS_SCENARIOS_FILE, load_engine_params, load_stress_scenarios
from sigmasight_lib.runs import run_correlations, run_market_risk, run_stress
from sigmasight_lib.runs.inputs import resolve_portfolio
from sigmasight_lib.runs.portfolio_risk import (
    correlations_many,
    market_risk_many,
    stress_many,
)
from sigmasight_lib.runs.security_layer import SecurityLayer
from tests.benchmarks._harness import measure, report, speedup_row

SAMPLE = 25
GOAL = 20.0  # seconds for the three engines on every portfolio


def main() -> int:
    settings = load_settings()
    params = load_engine_params(settings.params_dir)
    provider = get_provider(settings)
    scenarios = load_stress_scenarios(
        settings.params_dir / STRESS_SCENARIOS_FILE, params_dir=settings.params_dir
    )
    with session_scope(settings) as session:
        ids = [p.id for p in session.query(Portfolio).order_by(Portfolio.id)]
        _, as_of = resolve_portfolio(session, ids[0], None)
        build = measure(
            lambda: SecurityLayer.build(session, provider, params, as_of, ids), repeats=1, warmup=0
        )
    layer = build.result
    names = list(layer.portfolio_names.values())
    n = len(names)
    print(
        f"{n} portfolios, {len(layer.positions)} positions; security layer built in {build.median:.1f} s"
    )
    fns = {
        "stress": (lambda: stress_many(layer, scenarios)[0], run_stress),
        "correlations": (lambda: correlations_many(layer), run_correlations),
        "market_risk": (lambda: market_risk_many(layer), run_market_risk),
    }
    rows, total = [], 0.0
    for engine, (many, runner) in fns.items():
        fast = measure(many, repeats=1, warmup=0)
        slow = measure(
            lambda r=runner: [r(settings, name, save=False) for name in names[:SAMPLE]],
            repeats=1,
            warmup=0,
        )
        total += fast.median
        print(
            f"{engine}: all {n} in {fast.median:.2f} s; runner {slow.median / SAMPLE * 1000:.0f} ms/portfolio"
        )
        rows.append(
            speedup_row(f"{engine} (portfolios/s)", n / fast.median, SAMPLE / slow.median, 10)
        )
    print(f"three engines, all portfolios: {total:.2f} s (goal {GOAL:.0f} s)")
    return 0 if report(rows, title="portfolio risk") and total <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
