"""``outputs/index.html``: every portfolio and date, the report first, then the latest
result of every engine across runs.

Per (as-of, portfolio) each engine shows its newest job over all runs (a partial
rerun such as ``--jobs valuation`` replaces only the valuation cell; the other
engines keep their earlier renders, with the run that made them), the report
files, headline figures read from ``report.json`` and every failure with its
error text. Every piece of user text (portfolio names, error messages) is
HTML-escaped; links are relative, so the folder can be copied or opened from disk.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from sigmasight_lib.batch.plan import MARKET_DATA_JOB, PORTFOLIO_JOBS
from sigmasight_lib.db.models import BatchJob, BatchRun, Portfolio

REPORT_FILES = ("report.html", "report.md", "report.json", "positions.csv")
"""Report artifacts linked per portfolio and date when they exist."""

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin-bottom: 2rem; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; font-size: .9rem; }
th { background: #f3f3f3; }
.succeeded { color: #176f2c; } .failed { color: #b3261e; font-weight: bold; }
.skipped, .pending, .running { color: #8a6d00; } .partial { color: #b35c00; }
.errors ul { margin: 0; padding-left: 1rem; color: #b3261e; }
"""


def _link(target: str | None, outputs_dir: Path, label: str) -> str:
    if not target:
        return html.escape(label)
    rel = os.path.relpath(target, outputs_dir)
    return f'<a href="{html.escape(rel, quote=True)}">{html.escape(label)}</a>'


HEADLINE = (
    ("valuation", "net_liquidation_value_usd", "net value"),
    ("risk_metrics", "var_95_usd", "VaR 95"),
    ("stress_tests", "worst_correlated_pnl_usd", "worst stress"),
)
"""(report.json group, key, label) of the headline figures shown per row (USD)."""


def _usd(value: object) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "N/A"
    return f"{'-' if value < 0 else ''}${abs(value):,.0f}"


def _headline(folder: Path) -> str:
    """Headline figures of the row's ``report.json`` (empty when there is none)."""
    path = folder / "report.json"
    if not path.exists():
        return ""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "report.json unreadable"
    parts = []
    for group, key, label in HEADLINE:
        section = doc.get(group) or {}
        value = section.get(key) if section.get("status") == "ok" else None
        parts.append(f"{label} {_usd(value)}")
    return " · ".join(parts)


def _latest_jobs(
    session: Session,
) -> tuple[dict[tuple[dt.date, int | None], dict[str, BatchJob]], dict[int, str]]:
    """(as-of, portfolio) → job name → the newest job of that engine over every run,
    and run id → run kind (``batch`` or ``manual``)."""
    rows = session.execute(
        select(BatchRun.as_of, BatchRun.kind, BatchJob)
        .join(BatchJob, BatchJob.batch_run_id == BatchRun.id)
        .order_by(BatchJob.batch_run_id, BatchJob.id)
    ).all()
    latest: dict[tuple[dt.date, int | None], dict[str, BatchJob]] = {}
    kinds: dict[int, str] = {}
    for as_of, kind, job in rows:  # in run order: a newer run's job replaces an older one
        latest.setdefault((as_of, job.portfolio_id), {})[job.job_name] = job
        kinds[job.batch_run_id] = kind
    return latest, kinds


def _status(jobs: dict[str, BatchJob]) -> str:
    statuses = {j.status for j in jobs.values()}
    if statuses <= {"succeeded"}:
        return "succeeded"
    return "failed" if "failed" in statuses else "partial"


def _error_text(job: BatchJob) -> str:
    error = job.error or {}
    detail = error.get("evalue") or error.get("reason") or ""
    name = error.get("ename")
    return f"{name}: {detail}" if name and detail else str(detail or name or job.status)


def write_index(session: Session, outputs_dir: Path) -> Path:
    """Write ``outputs_dir/index.html`` from the database and return its path."""
    portfolios = list(session.scalars(select(Portfolio)))
    names = {p.id: p.name for p in portfolios}
    slugs = {p.id: p.slug for p in portfolios}
    rows: list[str] = []
    latest, kinds = _latest_jobs(session)
    # newest date first; per date the market-data row, then portfolios by id
    for as_of, pid in sorted(
        latest, key=lambda k: (-k[0].toordinal(), k[1] is not None, k[1] or 0)
    ):
        pjobs = latest[(as_of, pid)]
        status = _status(pjobs)
        name = "market data" if pid is None else names.get(pid, f"portfolio {pid}")
        runs = sorted({j.batch_run_id for j in pjobs.values()})
        files, headline = "", ""
        if pid is not None:
            folder = outputs_dir / as_of.isoformat() / slugs.get(pid, "")
            links = [
                _link(str(folder / f), outputs_dir, f)
                for f in REPORT_FILES
                if (folder / f).exists()
            ]
            files, headline = " · ".join(links), _headline(folder)
        cells = []
        for job_name in (MARKET_DATA_JOB,) if pid is None else PORTFOLIO_JOBS:
            job = pjobs.get(job_name)
            if job is None:
                cells.append("<td></td>")
                continue
            manual = "manual " if kinds.get(job.batch_run_id) == "manual" else ""
            run_note = f" ({manual}run {job.batch_run_id})" if len(runs) > 1 or manual else ""
            cells.append(
                f'<td class="{html.escape(job.status)}">'
                f"{_link(job.artifact_path, outputs_dir, job.status)}{html.escape(run_note)}</td>"
            )
        if pid is None:
            cells += ["<td></td>"] * (len(PORTFOLIO_JOBS) - 1)
        failures = [
            f"<li>{html.escape(j.job_name.replace('_', ' '))}: {html.escape(_error_text(j))}</li>"
            for j in pjobs.values()
            if j.status == "failed"
        ]
        failure_cell = f"<ul>{''.join(failures)}</ul>" if failures else ""
        rows.append(
            f"<tr><td>{html.escape(as_of.isoformat())}</td><td>{html.escape(name)}</td>"
            f"<td>{files}</td><td>{html.escape(headline)}</td>"
            f'<td class="{status}">{status}</td><td>{", ".join(map(str, runs))}</td>'
            f'{"".join(cells)}<td class="errors">{failure_cell}</td></tr>'
        )
    header = "".join(f"<th>{html.escape(j.replace('_', ' '))}</th>" for j in PORTFOLIO_JOBS)
    columns = 7 + len(PORTFOLIO_JOBS)  # as of, portfolio, files, headline, status, runs, failures
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SigmaSight runs</title><style>{STYLE}</style></head>
<body><h1>SigmaSight runs</h1>
<p>Per portfolio and as-of date: the report first, headline figures from it, then the
latest result of every engine over all runs, linking the engine's HTML render (a cell
names its run when the row mixes runs; a manual <code>sigmasight engine</code> run has no render),
and every failure with its error.
Generated {html.escape(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))}.</p>
<table><thead><tr><th>as of</th><th>portfolio</th><th>report files</th><th>headline</th>
<th>status</th><th>runs</th>{header}<th>failures</th></tr></thead>
<tbody>
{chr(10).join(rows) if rows else f'<tr><td colspan="{columns}">no runs yet</td></tr>'}
</tbody></table></body></html>
"""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    path = outputs_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
