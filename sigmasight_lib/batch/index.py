"""``outputs/index.html``: every portfolio and date with its status and per-engine links.

Built from the job rows of the newest run per (as-of, portfolio); every piece
of user text (portfolio names, error messages) is HTML-escaped; links are
relative, so the folder can be copied or opened from disk.
"""

from __future__ import annotations

import datetime as dt
import html
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
"""


def _link(target: str | None, outputs_dir: Path, label: str) -> str:
    if not target:
        return html.escape(label)
    rel = os.path.relpath(target, outputs_dir)
    return f'<a href="{html.escape(rel, quote=True)}">{html.escape(label)}</a>'


def write_index(session: Session, outputs_dir: Path) -> Path:
    """Write ``outputs_dir/index.html`` from the database and return its path."""
    runs = list(
        session.scalars(select(BatchRun).order_by(BatchRun.as_of.desc(), BatchRun.id.desc()))
    )
    portfolios = list(session.scalars(select(Portfolio)))
    names = {p.id: p.name for p in portfolios}
    slugs = {p.id: p.slug for p in portfolios}
    seen: set[tuple[dt.date, int | None]] = set()
    rows: list[str] = []
    for run in runs:
        jobs = list(session.scalars(select(BatchJob).where(BatchJob.batch_run_id == run.id)))
        by_portfolio: dict[int | None, dict[str, BatchJob]] = {}
        for job in jobs:
            by_portfolio.setdefault(job.portfolio_id, {})[job.job_name] = job
        for pid, pjobs in sorted(
            by_portfolio.items(), key=lambda kv: (kv[0] is not None, kv[0] or 0)
        ):
            if (run.as_of, pid) in seen:
                continue  # only the newest run of each (as-of, portfolio)
            seen.add((run.as_of, pid))
            statuses = {j.status for j in pjobs.values()}
            status = (
                "succeeded"
                if statuses <= {"succeeded"}
                else ("failed" if "failed" in statuses else "partial")
            )
            name = "market data" if pid is None else names.get(pid, f"portfolio {pid}")
            cells = []
            for job_name in (MARKET_DATA_JOB,) if pid is None else PORTFOLIO_JOBS:
                job = pjobs.get(job_name)
                if job is None:
                    cells.append("<td></td>")
                    continue
                title = ""
                if job.error:
                    detail = job.error.get("evalue") or job.error.get("reason") or ""
                    title = f' title="{html.escape(str(detail), quote=True)}"'
                cells.append(
                    f'<td class="{html.escape(job.status)}"{title}>'
                    f"{_link(job.artifact_path, outputs_dir, job.status)}</td>"
                )
            if pid is None:
                cells += ["<td></td>"] * len(PORTFOLIO_JOBS)
            else:
                folder = outputs_dir / run.as_of.isoformat() / slugs.get(pid, "")
                links = [
                    _link(str(folder / f), outputs_dir, f)
                    for f in REPORT_FILES
                    if (folder / f).exists()
                ]
                cells.append(f"<td>{' · '.join(links)}</td>")
            rows.append(
                f"<tr><td>{html.escape(run.as_of.isoformat())}</td><td>{html.escape(name)}</td>"
                f'<td class="{status}">{status}</td><td>{run.id}</td>{"".join(cells)}</tr>'
            )
    header = (
        "".join(f"<th>{html.escape(j.replace('_', ' '))}</th>" for j in PORTFOLIO_JOBS)
        + "<th>files</th>"
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SigmaSight runs</title><style>{STYLE}</style></head>
<body><h1>SigmaSight runs</h1>
<p>Newest run per portfolio and as-of date. Each cell links to the engine's HTML render;
"files" links the report and the positions CSV.
Generated {html.escape(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))}.</p>
<table><thead><tr><th>as of</th><th>portfolio</th><th>status</th><th>run</th>{header}</tr></thead>
<tbody>
{chr(10).join(rows) if rows else '<tr><td colspan="16">no runs yet</td></tr>'}
</tbody></table></body></html>
"""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    path = outputs_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
