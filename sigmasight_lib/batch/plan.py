"""What a batch runs: the notebooks, their order and their dependencies.

``market_data`` runs once per as-of date (sync and coverage) and every
portfolio job depends on it; the engine notebooks run per portfolio in
:data:`PORTFOLIO_JOBS` order. A failed job skips its dependents for that
portfolio only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sigmasight_lib.engines import ENGINE_ORDER
from sigmasight_lib.exceptions import ConfigError

MARKET_DATA_JOB = "market_data"
REPORT_JOB = "report"
PORTFOLIO_JOBS: tuple[str, ...] = (*ENGINE_ORDER, REPORT_JOB)
"""The engines in dependency order, then the report (md / json / csv / html)."""
NOTEBOOKS: dict[str, str] = {
    MARKET_DATA_JOB: "00_market_data.ipynb",
    **{job: f"{i:02d}_{job}.ipynb" for i, job in enumerate(PORTFOLIO_JOBS, start=1)},
}
"""Job name → notebook file in ``notebooks/``."""

DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "valuation": (),
    "greeks": ("valuation",),
    "exposures": ("valuation", "greeks"),
    "factors": ("exposures",),
    "market_risk": ("factors",),
    "stress": ("factors",),
    "correlations": ("valuation",),
    "risk_metrics": ("factors",),
    "snapshot": ("exposures", "factors"),
    REPORT_JOB: (),
}
"""Per-portfolio dependencies (all of them also depend on ``market_data``). The report
depends on no engine: it runs last and shows a missing engine as N/A with the reason."""

NOTEBOOK_PARAMETERS: dict[str, type] = {"portfolio": int, "as_of": str, "run_id": int}
"""The only parameters the batch passes to a notebook (no secrets, ever). ``portfolio``
is the portfolio's id: names are for display and two owners may share one."""


def select_jobs(requested: Iterable[str] | None) -> list[str]:
    """Portfolio jobs to run, in dependency order, from names (``market-risk`` or
    ``market_risk``); ``None`` or ``all`` selects every job.

    Raises
    ------
    ConfigError
        For an unknown job name, listing the known ones.
    """
    if requested is None:
        return list(PORTFOLIO_JOBS)
    names = {r.strip().replace("-", "_") for r in requested if r.strip()}
    if names == {"all"}:
        return list(PORTFOLIO_JOBS)
    unknown = sorted(names - set(PORTFOLIO_JOBS))
    if unknown:
        raise ConfigError(
            f"unknown job(s) {', '.join(unknown)}; known: {', '.join(PORTFOLIO_JOBS)}"
        )
    return [j for j in PORTFOLIO_JOBS if j in names]


def dependents(failed: str, jobs: Sequence[str]) -> list[str]:
    """Jobs of ``jobs`` that depend, directly or not, on ``failed``."""
    out: list[str] = []
    blocked = {failed}
    for job in jobs:
        if set(DEPENDS_ON.get(job, ())) & blocked:
            out.append(job)
            blocked.add(job)
    return out
