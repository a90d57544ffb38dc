"""Pure calculation engines: frames in, frames or frozen result dataclasses out.

:data:`ENGINE_ORDER` is the dependency order in which the batch runs them.
"""

ENGINE_ORDER: tuple[str, ...] = (
    "valuation",
    "greeks",
    "exposures",
    "factors",
    "market_risk",
    "stress",
    "correlations",
    "risk_metrics",
    "snapshot",
)
"""Engine names (python identifiers; the CLI spells them with dashes)."""
