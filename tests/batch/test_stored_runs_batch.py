"""The batch stores every engine run; its notebooks render the stored runs.

``run_batch`` (both renders) stores each portfolio's engine runs; ``run_engine`` with
that run id returns the stored run (no recomputation), computes live (with a note)
when none is stored, and without a run id always computes live. A stored run renders
exactly as the live one: the display layer's HTML and a notebook's HTML page.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import delete, func, select, update

from sigmasight_lib.batch.plan import PORTFOLIO_JOBS, REPORT_JOB
from sigmasight_lib.batch.runner import (
    _environment,
    execute_job,
    page_title,
    run_batch,
    scoped_environ,
)
from sigmasight_lib.db.models import StoredEngineRun
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.notebook import result_table, run_engine
from sigmasight_lib.reporting.display import show_header, show_notes, show_summary
from sigmasight_lib.runs import ENGINE_RUNNERS

AS_OF = "2017-03-29"
PORTFOLIO = 3
"""Long/Short Hedge Fund Style: options, factor N/As, stress partial scenarios."""
ENGINES = [j for j in PORTFOLIO_JOBS if j != REPORT_JOB]


@pytest.fixture
def stored_batch(sqlite_demo_db):  # noqa: ANN001, ANN201
    result = run_batch(sqlite_demo_db, portfolios=[PORTFOLIO], render="none", jobs=ENGINES)
    assert result.status == "succeeded", result.failed
    return sqlite_demo_db, result.run_id


def test_the_batch_stores_every_engine_run(stored_batch) -> None:  # noqa: ANN001
    settings, run_id = stored_batch
    with session_scope(settings) as session:
        rows = session.execute(
            select(StoredEngineRun.engine, func.count()).where(
                StoredEngineRun.batch_run_id == run_id
            ).group_by(StoredEngineRun.engine)
        ).all()  # fmt: skip
    assert dict(rows) == dict.fromkeys(ENGINES, 1)


def test_run_engine_with_the_run_id_returns_the_stored_run(stored_batch) -> None:  # noqa: ANN001
    settings, run_id = stored_batch
    with session_scope(settings) as session:
        session.execute(
            update(StoredEngineRun)
            .where(StoredEngineRun.batch_run_id == run_id, StoredEngineRun.engine == "greeks")
            .values(notes=["marker: read from engine_runs"])
        )
    stored = run_engine("greeks", PORTFOLIO, AS_OF, run_id, settings=settings)
    assert stored.notes == ("marker: read from engine_runs",)
    assert stored.batch_run_id == run_id
    live = run_engine("greeks", PORTFOLIO, AS_OF, settings=settings)
    assert "marker: read from engine_runs" not in live.notes
    assert live.batch_run_id is None


def test_without_a_stored_run_the_notebook_computes_live_and_says_so(stored_batch) -> None:  # noqa: ANN001
    settings, run_id = stored_batch
    with session_scope(settings) as session:
        session.execute(delete(StoredEngineRun).where(StoredEngineRun.engine == "valuation"))
    run = run_engine("valuation", PORTFOLIO, AS_OF, run_id, settings=settings)
    assert run.rows_saved > 0
    assert run.notes[-1].startswith(f"computed in the notebook: batch run {run_id} stored no")


_TABLE_ID = re.compile(r"T_ss\d+")
"""Each shown table's element id counts the tables shown in the process."""


def _page(run, settings) -> str:  # noqa: ANN001
    parts = [show_header(run), show_summary(run), show_notes(run)]
    parts += [result_table(run, name, settings=settings) for name in run.tables]
    return _TABLE_ID.sub("T_ss", "\n".join(p._repr_html_() for p in parts))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stored_run_displays_exactly_as_the_live_run(stored_batch, engine: str) -> None:  # noqa: ANN001
    settings, run_id = stored_batch
    stored = run_engine(engine, PORTFOLIO, AS_OF, run_id, settings=settings)
    options = {"backfill": 0} if engine == "snapshot" else {}  # what the render-none batch ran
    live = ENGINE_RUNNERS[engine](settings, PORTFOLIO, stored.as_of, save=False, **options)
    live = dataclasses.replace(live, batch_run_id=run_id)
    assert _page(stored, settings) == _page(live, settings)


_LIVE_NOTE = re.compile(r"<li>computed in the notebook: [^<]*</li>")
_CELL_ID = re.compile(r"cell-id=[0-9a-f-]+")
"""Cell ids: nbformat gives a notebook's cells random ids when it reads it."""


def outcome_html(outcome) -> str:  # noqa: ANN001
    with open(outcome.html, encoding="utf-8") as page:  # noqa: PTH123
        return page.read()


def test_a_notebook_page_from_the_stored_run_equals_the_live_page(stored_batch, tmp_path) -> None:  # noqa: ANN001
    settings, run_id = stored_batch
    pages = {}
    for label in ("stored", "live"):
        if label == "live":
            with session_scope(settings) as session:
                session.execute(delete(StoredEngineRun).where(StoredEngineRun.engine == "factors"))
        with scoped_environ(_environment(settings)):  # the kernel finds the database
            outcome = execute_job(
                "factors", {"portfolio": PORTFOLIO, "as_of": AS_OF, "run_id": run_id},
                tmp_path / label, settings.notebooks_dir, "fresh",
                title=page_title("factors", "Long/Short Hedge Fund Style", AS_OF),
            )  # fmt: skip
        assert outcome.status == "succeeded", outcome.error
        pages[label] = _CELL_ID.sub("cell-id", outcome_html(outcome))
    assert "computed in the notebook" not in pages["stored"]
    assert len(_LIVE_NOTE.findall(pages["live"])) == 1
    assert _LIVE_NOTE.sub("", pages["live"]) == pages["stored"]
