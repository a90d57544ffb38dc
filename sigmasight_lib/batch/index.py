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
from sigmasight_lib.reporting.formats import usd

REPORT_FILES = ("report.html", "report.md", "report.json", "positions.csv")
"""Report artifacts linked per portfolio and date when they exist."""

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2rem;
       color: #222; max-width: 1200px; }
p.lead { color: #444; line-height: 1.45; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin-bottom: 2rem; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .45rem .6rem; text-align: left;
         font-size: .88rem; vertical-align: top; }
th { background: #f3f4f6; border-bottom: 2px solid #ccc; white-space: nowrap; }
td.date { white-space: nowrap; }
td.portfolio { font-weight: 600; min-width: 9rem; }
a.report { font-weight: 600; } .other-files { font-size: .8rem; color: #555; }
dl.headline { margin: 0; display: grid; grid-template-columns: auto auto; column-gap: .6rem; }
dl.headline dt { color: #555; white-space: nowrap; } dl.headline dd { margin: 0; text-align: right;
         font-variant-numeric: tabular-nums; white-space: nowrap; }
.engines { display: flex; flex-wrap: wrap; gap: .3rem; max-width: 24rem; }
.engine { border-radius: 3px; padding: .1rem .4rem; font-size: .8rem; white-space: nowrap;
          border: 1px solid currentColor; }
.engine a { color: inherit; }
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


def _headline(folder: Path) -> str:
    """Headline figures of the row's ``report.json`` as an HTML definition list
    (empty when there is none)."""
    path = folder / "report.json"
    if not path.exists():
        return ""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "report.json unreadable"
    items = []
    for group, key, label in HEADLINE:
        section = doc.get(group) or {}
        value = section.get(key) if section.get("status") == "ok" else None
        items.append(f"<dt>{html.escape(label)}</dt><dd>{html.escape(usd(value))}</dd>")
    return f'<dl class="headline">{"".join(items)}</dl>'


def _report_links(folder: Path, outputs_dir: Path) -> str:
    """The report link first and prominent, the other report files beneath it."""
    present = [f for f in REPORT_FILES if (folder / f).exists()]
    links = [_link(str(folder / f), outputs_dir, f) for f in present]
    if not links:
        return ""
    if present[0] != "report.html":
        return " · ".join(links)
    head = links[0].replace("<a ", '<a class="report" ', 1)
    return f'{head}<div class="other-files">{" · ".join(links[1:])}</div>'


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
            files = _report_links(folder, outputs_dir)
            headline = _headline(folder)
        chips = []
        for job_name in (MARKET_DATA_JOB,) if pid is None else PORTFOLIO_JOBS:
            job = pjobs.get(job_name)
            if job is None:
                continue
            manual = "manual " if kinds.get(job.batch_run_id) == "manual" else ""
            run_note = f" ({manual}run {job.batch_run_id})" if len(runs) > 1 or manual else ""
            label = job_name.replace("_", " ")
            chips.append(
                f'<span class="engine {html.escape(job.status)}" title="{html.escape(job.status)}">'
                f"{_link(job.artifact_path, outputs_dir, label)}{html.escape(run_note)}</span>"
            )
        failures = [
            f"<li>{html.escape(j.job_name.replace('_', ' '))}: {html.escape(_error_text(j))}</li>"
            for j in pjobs.values()
            if j.status == "failed"
        ]
        failure_cell = f"<ul>{''.join(failures)}</ul>" if failures else ""
        rows.append(
            f'<tr><td class="date">{html.escape(as_of.isoformat())}</td>'
            f'<td class="portfolio">{html.escape(name)}</td>'
            f"<td>{files}</td><td>{headline}</td>"
            f'<td class="{status}">{status}<br><small>run {", ".join(map(str, runs))}</small></td>'
            f'<td><div class="engines">{"".join(chips)}</div></td>'
            f'<td class="errors">{failure_cell}</td></tr>'
        )
    columns = 7  # as of, portfolio, report, headline, status, engines, failures
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SigmaSight runs</title><style>{STYLE}</style></head>
<body><h1>SigmaSight runs</h1>
<p class="lead">Per portfolio and as-of date: the report first, headline figures from it, then the
latest result of every engine over all runs, each linking the engine's HTML render and coloured by
its status (<span class="succeeded">succeeded</span>, <span class="failed">failed</span>,
<span class="skipped">skipped</span>); an engine names its run when the row mixes runs, and a
manual <code>sigmasight engine</code> run has no render. Every failure is listed with its error.
Generated {html.escape(dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))}.</p>
<div class="table-wrap"><table><thead><tr><th>as of</th><th>portfolio</th><th>report</th>
<th>headline</th><th>status</th><th>engines</th><th>failures</th></tr></thead>
<tbody>
{chr(10).join(rows) if rows else f'<tr><td colspan="{columns}">no runs yet</td></tr>'}
</tbody></table></div></body></html>
"""
    outputs_dir.mkdir(parents=True, exist_ok=True)
    path = outputs_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
