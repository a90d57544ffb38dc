"""The batch's notebook scheduling (:class:`JobGraph`, ``_drive``): a job starts only after
every job it depends on succeeded, a failure skips exactly its dependents (with the first
failure as the reason), the report starts after every other job of its portfolio, and a
crashed worker fails its job only. The dependency table is written out here, not read
from the code."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sigmasight_lib.batch.plan import PORTFOLIO_JOBS
from sigmasight_lib.batch.runner import JobGraph, JobOutcome, NotebookTask, _drive, _inline_submit

# what each engine needs (SPEC: the batch's dependency order), written out independently
NEEDS = {
    "valuation": set(),
    "greeks": {"valuation"},
    "exposures": {"valuation", "greeks"},
    "factors": {"exposures"},
    "market_risk": {"factors"},
    "stress": {"factors"},
    "correlations": {"valuation"},
    "risk_metrics": {"factors"},
    "snapshot": {"exposures", "factors"},
}


def tasks_for(portfolios: list[int], jobs=PORTFOLIO_JOBS, market_data: bool = True):  # noqa: ANN001, ANN201
    def task(pid, job):  # noqa: ANN001, ANN202
        return NotebookTask(7, pid, f"P{pid}", f"p{pid}", dt.date(2017, 3, 29), job, "warm",
                            "/nowhere", {})  # fmt: skip

    head = [task(None, "market_data")] if market_data else []
    return head + [task(p, j) for p in portfolios for j in jobs]


class FakeWorkers:
    """Runs tasks on threads, failing or crashing the chosen (portfolio, job)s, and logs
    every start and end."""

    def __init__(self, fail=(), crash=(), seconds: float = 0.01) -> None:  # noqa: ANN001
        self.fail, self.crash, self.seconds = set(fail), set(crash), seconds
        self.events: list[tuple[str, int | None, str]] = []
        self.lock = threading.Lock()

    def run(self, task: NotebookTask) -> JobOutcome:
        key = (task.portfolio_id, task.job)
        with self.lock:
            self.events.append(("start", *key))
        time.sleep(self.seconds)
        with self.lock:
            self.events.append(("end", *key))
        if key in self.crash:
            raise MemoryError("worker out of memory")
        if key in self.fail:
            return JobOutcome(*key, "failed", error={"ename": "ValueError", "evalue": "bad"})
        return JobOutcome(*key, "succeeded")


def drive(tasks, workers: FakeWorkers, threads: int | None, saved=()):  # noqa: ANN001, ANN201
    outcomes: dict[tuple[int | None, str], JobOutcome] = {}
    settled = []

    def settle(task, status, error):  # noqa: ANN001, ANN202
        settled.append((task.portfolio_id, task.job, status))
        return JobOutcome(task.portfolio_id, task.job, status, error=error)

    def on_done(outcome: JobOutcome) -> None:
        assert (outcome.portfolio_id, outcome.job) not in outcomes, "a job ended twice"
        outcomes[outcome.portfolio_id, outcome.job] = outcome

    if threads is None:  # inline: one at a time
        import sigmasight_lib.batch.runner as runner

        real, runner.run_notebook_task = runner.run_notebook_task, workers.run
        try:
            _drive(JobGraph(tasks, saved), _inline_submit, 1, on_done, settle)
        finally:
            runner.run_notebook_task = real
    else:
        with ThreadPoolExecutor(threads) as pool:
            _drive(JobGraph(tasks, saved), functools.partial(pool.submit, workers.run), None,
                   on_done, settle)  # fmt: skip
    return outcomes, settled


def check_order(events, outcomes) -> None:  # noqa: ANN001
    """Every job started after all it needs ended; every report after its portfolio's jobs."""
    ended_at = {(p, j): i for i, (kind, p, j) in enumerate(events) if kind == "end"}
    for i, (kind, p, job) in enumerate(events):
        if kind != "start":
            continue
        needs = (
            {j for (q, j) in outcomes if q == p and j != "report"}
            if job == "report"
            else NEEDS.get(job, set())
        )
        for need in needs:
            if (p, need) in outcomes and outcomes[p, need].status != "skipped":
                assert ended_at[p, need] < i, f"{job} of {p} started before {need} ended"


@pytest.mark.parametrize("threads", [None, 2, 4])
def test_every_job_runs_once_after_what_it_needs(threads) -> None:  # noqa: ANN001
    workers = FakeWorkers()
    tasks = tasks_for([1, 2, 3])
    outcomes, settled = drive(tasks, workers, threads)
    assert set(outcomes) == {(t.portfolio_id, t.job) for t in tasks}
    assert {o.status for o in outcomes.values()} == {"succeeded"}
    assert settled == []
    assert sum(1 for e in workers.events if e[0] == "start") == len(tasks)
    check_order(workers.events, outcomes)


def test_inline_runs_each_portfolio_in_chain_order() -> None:
    workers = FakeWorkers(seconds=0)
    drive(tasks_for([1, 2]), workers, None)
    started = [(p, j) for kind, p, j in workers.events if kind == "start"]
    assert started == [(None, "market_data")] + [(p, j) for p in (1, 2) for j in PORTFOLIO_JOBS]


@pytest.mark.parametrize("threads", [None, 2])
def test_a_failure_skips_exactly_its_dependents_with_the_first_failure(threads) -> None:  # noqa: ANN001
    workers = FakeWorkers(fail={(1, "greeks")})
    outcomes, settled = drive(tasks_for([1, 2]), workers, threads)
    # greeks -> exposures -> factors -> market_risk, stress, risk_metrics, snapshot
    blocked = {"exposures", "factors", "market_risk", "stress", "risk_metrics", "snapshot"}
    for job in PORTFOLIO_JOBS:
        status = outcomes[1, job].status
        if job in blocked:
            assert status == "skipped", job
            assert outcomes[1, job].error == {"reason": "skipped: greeks failed (ValueError)"}
        else:
            assert status == ("failed" if job == "greeks" else "succeeded"), job
        assert outcomes[2, job].status == "succeeded"  # the other portfolio is untouched
    assert sorted(j for p, j, s in settled if s == "skipped") == sorted(blocked)
    started = {(p, j) for kind, p, j in workers.events if kind == "start"}
    assert not {(1, j) for j in blocked} & started, "a skipped job ran"
    check_order(workers.events, outcomes)


@pytest.mark.parametrize("threads", [None, 2])
def test_a_crashed_worker_fails_its_job_and_skips_its_dependents(threads) -> None:  # noqa: ANN001
    workers = FakeWorkers(crash={(2, "factors")})
    outcomes, settled = drive(tasks_for([1, 2]), workers, threads)
    assert (2, "factors", "failed") in settled
    assert outcomes[2, "factors"].error["ename"] == "MemoryError"
    for job in ("market_risk", "stress", "risk_metrics", "snapshot"):
        assert outcomes[2, job].error == {"reason": "skipped: factors failed (MemoryError)"}
    assert outcomes[2, "report"].status == "succeeded"  # the report shows what exists
    assert outcomes[2, "correlations"].status == "succeeded"
    assert {o.status for (p, _), o in outcomes.items() if p != 2} == {"succeeded"}


def test_jobs_outside_the_run_do_not_block() -> None:
    """A resumed run holds only the jobs still to do: a dependency not in the run counts
    as done (it succeeded in the earlier attempt)."""
    workers = FakeWorkers()
    outcomes, _ = drive(tasks_for([1], jobs=("factors", "stress", "report"), market_data=False),
                        workers, 2)  # fmt: skip
    assert {o.status for o in outcomes.values()} == {"succeeded"}
    starts = [j for kind, _, j in workers.events if kind == "start"]
    assert starts.index("report") > starts.index("stress") > starts.index("factors")


def test_the_report_waits_only_for_jobs_that_may_still_write_results() -> None:
    """Engines the layers computed and saved need not be rendered before the report
    (it reads the stored results); an engine without saved results (its notebook
    computes live and saves) must end before the report starts."""
    workers = FakeWorkers(seconds=0.05)
    engines = [j for j in PORTFOLIO_JOBS if j != "report"]
    saved = {(1, j) for j in engines if j != "greeks"}
    outcomes, _ = drive(tasks_for([1], market_data=False), workers, 2, saved=saved)
    assert {o.status for o in outcomes.values()} == {"succeeded"}
    at = {(kind, j): i for i, (kind, _, j) in enumerate(workers.events)}
    assert at["start", "report"] > at["end", "greeks"]  # greeks may write results
    assert at["start", "report"] < at["end", "snapshot"]  # saved: not waited for
    everything = {(1, j) for j in engines}
    workers = FakeWorkers(seconds=0.05)
    drive(tasks_for([1], market_data=False), workers, 2, saved=everything)
    starts = [j for kind, _, j in workers.events if kind == "start"]
    assert starts[:2] == ["valuation", "report"]  # released at once, before greeks
