"""The batch schedule: loader, trading-day rule, crontab line, APScheduler trigger, CLI.

No scheduler loop runs and nothing sleeps: firings are called directly with fixed
instants and a fake ``run_batch``.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
import types
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from sigmasight_lib.batch.schedule import (
    Schedule,
    build_scheduler,
    cron_trigger,
    crontab_line,
    load_schedule,
    schedule_command,
    scheduled_run,
    skip_reason,
    trigger_expression,
)
from sigmasight_lib.config import REPO_DIR
from sigmasight_lib.engines import ENGINE_ORDER
from sigmasight_lib.exceptions import ConfigError

NY = ZoneInfo("America/New_York")
UTC = dt.UTC
LOGGER = "sigmasight_lib.batch.schedule"
DEFAULT_FILE = REPO_DIR / "params" / "schedule.yaml"


class FakeRunBatch:
    """Records the keyword arguments of every call; returns a result-like object."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[dict] = []
        self.error = error

    def __call__(self, **kwargs: object) -> types.SimpleNamespace:
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return types.SimpleNamespace(run_id=7, status="succeeded")


@pytest.fixture
def schedule() -> Schedule:
    return Schedule(cron="30 17 * * 1-5", timezone="America/New_York")


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch):
    # setup_logging() (run by CLI tests) stops propagation at "sigmasight_lib".
    monkeypatch.setattr(logging.getLogger("sigmasight_lib"), "propagate", True)
    caplog.set_level(logging.INFO, logger=LOGGER)
    return caplog


# --------------------------------------------------------------------------- trading-day rule


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (dt.datetime(2017, 7, 8, 17, 30, tzinfo=NY), "2017-07-08 is a Saturday: no NYSE session"),
        (dt.datetime(2017, 7, 9, 17, 30, tzinfo=NY), "2017-07-09 is a Sunday: no NYSE session"),
        (
            dt.datetime(2017, 7, 4, 17, 30, tzinfo=NY),
            "2017-07-04 (Tuesday) is an NYSE holiday (July 4th): no session",
        ),
        (
            dt.datetime(2017, 11, 23, 17, 30, tzinfo=NY),
            "2017-11-23 (Thursday) is an NYSE holiday (Thanksgiving): no session",
        ),
        (
            dt.datetime(2017, 4, 14, 17, 30, tzinfo=NY),
            "2017-04-14 (Friday) is an NYSE holiday (Good Friday): no session",
        ),
        # 02:00 UTC Monday is still Sunday evening in New York
        (dt.datetime(2017, 7, 10, 2, 0, tzinfo=UTC), "2017-07-09 is a Sunday: no NYSE session"),
    ],
)
def test_non_session_day_is_skipped_with_logged_reason(schedule, logs, now, expected):
    fake = FakeRunBatch()
    assert scheduled_run(schedule, now, fake) is None
    assert fake.calls == []
    assert f"scheduled batch skipped: {expected}" in logs.messages


def test_normal_tuesday_runs_once_with_that_date(schedule, logs):
    fake = FakeRunBatch()
    status = scheduled_run(schedule, dt.datetime(2017, 7, 11, 17, 30, tzinfo=NY), fake)
    assert fake.calls == [
        {
            "portfolios": None,
            "as_of": dt.date(2017, 7, 11),
            "jobs": None,
            "executor": "processes",
            "workers": 2,
            "scheduler_address": None,
            "kernel_mode": "warm",
        }
    ]
    assert status == "batch for as-of 2017-07-11 finished (run_id 7, status succeeded)"
    assert status in logs.messages


@pytest.mark.parametrize(
    "now",
    [
        dt.datetime(2017, 7, 7, 23, 30, tzinfo=UTC),  # Friday 19:30 in New York
        dt.datetime(2017, 7, 8, 1, 0, tzinfo=UTC),  # Saturday UTC = Friday 21:00 New York
        dt.datetime(2017, 7, 8, 5, 30, tzinfo=ZoneInfo("Europe/Berlin")),  # Fri 23:30 NY
    ],
)
def test_as_of_is_the_firing_date_in_the_schedule_time_zone(schedule, now):
    fake = FakeRunBatch()
    assert scheduled_run(schedule, now, fake) is not None
    assert [c["as_of"] for c in fake.calls] == [dt.date(2017, 7, 7)]


def test_selected_portfolios_and_jobs_are_passed_as_lists():
    sched = Schedule(
        cron="30 17 * * 1-5",
        portfolios=("Balanced Individual", "3"),
        jobs=("valuation", "greeks"),
        executor="dask",
        workers=4,
        scheduler_address="tcp://10.0.0.5:8786",
        kernel_mode="fresh",
    )
    fake = FakeRunBatch()
    scheduled_run(sched, dt.datetime(2017, 7, 11, 21, 30, tzinfo=UTC), fake)
    assert fake.calls == [
        {
            "portfolios": ["Balanced Individual", "3"],
            "as_of": dt.date(2017, 7, 11),
            "jobs": ["valuation", "greeks"],
            "executor": "dask",
            "workers": 4,
            "scheduler_address": "tcp://10.0.0.5:8786",
            "kernel_mode": "fresh",
        }
    ]


def test_naive_now_is_refused(schedule):
    fake = FakeRunBatch()
    with pytest.raises(ValueError, match="time-zone aware"):
        scheduled_run(schedule, dt.datetime(2017, 7, 11, 17, 30), fake)
    assert fake.calls == []


def test_skip_reason_is_none_on_a_session():
    assert skip_reason(dt.date(2017, 7, 11)) is None


# --------------------------------------------------------------------------- loader


def test_default_file_loads():
    sched = load_schedule(DEFAULT_FILE)
    assert sched == Schedule(
        cron="30 17 * * 1-5",
        timezone="America/New_York",
        portfolios=None,
        jobs=None,
        executor="processes",
        workers=2,
        scheduler_address=None,
        kernel_mode="warm",
        misfire_grace_time=3600,
    )
    assert sched.source == DEFAULT_FILE


def test_lists_load_and_jobs_are_normalized(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    path.write_text(
        'cron: "0  18 * * mon-fri"\n'
        "portfolios: [Balanced Individual, 3]\n"
        "jobs: [market-risk, valuation]\n"
        "executor: dask\n"
        "scheduler_address: tcp://127.0.0.1:8786\n"
        "kernel_mode: fresh\n"
        "workers: 8\n"
    )
    sched = load_schedule(path)
    assert sched.cron == "0 18 * * mon-fri"
    assert sched.timezone == "America/New_York"
    assert sched.portfolios == ("Balanced Individual", "3")
    assert sched.jobs == ("valuation", "market_risk")  # dependency order
    assert (sched.executor, sched.workers, sched.kernel_mode) == ("dask", 8, "fresh")
    assert sched.scheduler_address == "tcp://127.0.0.1:8786"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            'cron: "30 17 * * 1-5"\nworker: 2\n',
            "'worker' is not a schedule setting (did you mean 'workers'?); "
            "allowed: cron, timezone,",
        ),
        ("timezone: UTC\n", "field 'cron' is missing"),
        (
            'cron: "30 17 * *"\n',
            "cron = '30 17 * *' is not a crontab expression: expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 4",
        ),
        (
            'cron: "60 17 * * 1-5"\n',
            "cron = '60 17 * * 1-5' is not a crontab expression: minute field: 60 is outside 0-59",
        ),
        (
            'cron: "30 17 * * 5-1"\n',
            "cron = '30 17 * * 5-1' is not a crontab expression: day of week field: "
            "range '5-1' runs backwards",
        ),
        (
            'cron: "30 17 * * weekdays"\n',
            "cron = '30 17 * * weekdays' is not a crontab expression: day of week field: "
            "'weekdays' is not a number or name",
        ),
        (
            'cron: "30 17 1 * 1-5"\n',
            "cron = '30 17 1 * 1-5' is not a crontab expression: day of month and day of week "
            "are both restricted",
        ),
        (
            'cron: "@daily"\n',
            "cron = '@daily' is not a crontab expression: macros such as @daily are not supported",
        ),
        ("cron: 1730\n", "cron = 1730 is not a crontab expression (quote it in YAML)"),
        (
            'cron: "30 17 * * 1-5"\ntimezone: America/New_Yrok\n',
            "timezone = 'America/New_Yrok' is not a known IANA time zone",
        ),
        (
            'cron: "30 17 * * 1-5"\ntimezone: EST+5\n',
            "timezone = 'EST+5' is not a known IANA time zone",
        ),
        (
            'cron: "30 17 * * 1-5"\nexecutor: threads\n',
            "executor = 'threads' is not an executor; choose one of: inline, processes, dask",
        ),
        ('cron: "30 17 * * 1-5"\nworkers: 0\n', "workers = 0 must be a whole number >= 1"),
        ('cron: "30 17 * * 1-5"\nworkers: -3\n', "workers = -3 must be a whole number >= 1"),
        ('cron: "30 17 * * 1-5"\nworkers: two\n', "workers = 'two' must be a whole number >= 1"),
        ('cron: "30 17 * * 1-5"\nworkers: true\n', "workers = True must be a whole number >= 1"),
        (
            'cron: "30 17 * * 1-5"\nkernel_mode: lukewarm\n',
            "kernel_mode = 'lukewarm' is not a kernel mode; choose one of: warm, fresh",
        ),
        (
            'cron: "30 17 * * 1-5"\nexecutor: processes\nscheduler_address: tcp://h:8786\n',
            "scheduler_address = 'tcp://h:8786' is set but executor is 'processes', not 'dask'",
        ),
        (
            'cron: "30 17 * * 1-5"\njobs: [valuation, greks]\n',
            "jobs = ['valuation', 'greks'] names an unknown job: unknown job(s) greks",
        ),
        (
            'cron: "30 17 * * 1-5"\nportfolios: everything\n',
            "portfolios = 'everything' must be 'all' or a non-empty list",
        ),
        (
            'cron: "30 17 * * 1-5"\nportfolios: [a, b, a]\n',
            "portfolios = ['a', 'b', 'a'] lists 'a' twice",
        ),
        ("- cron\n", "expected a mapping of schedule settings, got ['cron']"),
    ],
)
def test_loader_errors_name_file_field_and_value(tmp_path: Path, body: str, message: str):
    path = tmp_path / "schedule.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as excinfo:
        load_schedule(path)
    text = str(excinfo.value)
    assert text.startswith(f"{path}: ")
    assert message in text


def test_missing_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_schedule(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------- crontab


def test_crontab_line_for_the_default_file():
    line = crontab_line(load_schedule(DEFAULT_FILE), "cd /srv/sigmasight && .venv/bin/sigmasight")
    assert line == (
        "CRON_TZ=America/New_York\n"
        "30 17 * * 1-5 cd /srv/sigmasight && .venv/bin/sigmasight batch run --all "
        "--executor processes --workers 2 --kernel warm"
    )


def test_crontab_line_maps_every_option_and_quotes_for_shell_and_cron():
    sched = Schedule(
        cron="0 18 * * mon-fri",
        timezone="Europe/London",
        portfolios=("Balanced Individual", "100% Tech"),
        jobs=("valuation", "market_risk"),
        executor="dask",
        workers=4,
        scheduler_address="tcp://10.0.0.5:8786",
        kernel_mode="fresh",
    )
    assert crontab_line(sched, "cd /srv/s && .venv/bin/sigmasight") == (
        "CRON_TZ=Europe/London\n"
        "0 18 * * mon-fri cd /srv/s && .venv/bin/sigmasight batch run "
        "--portfolio 'Balanced Individual' --portfolio '100\\% Tech' "
        "--jobs valuation,market-risk --executor dask --workers 4 "
        "--scheduler-address tcp://10.0.0.5:8786 --kernel fresh"
    )


# --------------------------------------------------------------------------- trigger


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("30 17 * * 1-5", "30 17 * * mon-fri"),
        ("30 17 * * MON-FRI", "30 17 * * mon-fri"),
        ("0 9 * * 0,6", "0 9 * * sat-sun"),
        ("0 9 * * 7", "0 9 * * sun"),
        ("0 9 * * 1,3,5", "0 9 * * mon,wed,fri"),
        ("*/15 9-16 * jan-mar *", "*/15 9-16 * jan-mar *"),
    ],
)
def test_day_of_week_is_translated_from_cron_numbering(cron, expected):
    # APScheduler 3 numbers Monday 0: from_crontab("... 1-5") would fire Tuesday to Saturday.
    assert trigger_expression(cron) == expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Friday after the firing → next Monday 17:30 New York (skips the weekend)
        (dt.datetime(2017, 7, 7, 18, 0, tzinfo=NY), dt.datetime(2017, 7, 10, 17, 30, tzinfo=NY)),
        # Tuesday morning → the same day
        (dt.datetime(2017, 7, 11, 10, 0, tzinfo=NY), dt.datetime(2017, 7, 11, 17, 30, tzinfo=NY)),
        # given in UTC: Friday 22:00 UTC = 18:00 New York → Monday
        (dt.datetime(2017, 7, 7, 22, 0, tzinfo=UTC), dt.datetime(2017, 7, 10, 17, 30, tzinfo=NY)),
        # across the start of daylight saving (2017-03-12): still 17:30 local, now UTC-4
        (dt.datetime(2017, 3, 10, 18, 0, tzinfo=NY), dt.datetime(2017, 3, 13, 17, 30, tzinfo=NY)),
    ],
)
def test_trigger_next_fire_time(schedule, after, expected):
    fire = cron_trigger(schedule).get_next_fire_time(None, after)
    assert fire == expected
    assert fire.utcoffset() == expected.utcoffset()
    assert fire.strftime("%A %H:%M") == expected.strftime("%A %H:%M")


def test_trigger_fires_on_holidays_and_scheduled_run_skips_them(schedule):
    fire = cron_trigger(schedule).get_next_fire_time(None, dt.datetime(2017, 7, 3, 18, tzinfo=NY))
    assert fire == dt.datetime(2017, 7, 4, 17, 30, tzinfo=NY)
    fake = FakeRunBatch()
    assert scheduled_run(schedule, fire, fake) is None
    assert fake.calls == []


def test_scheduler_job_options_without_starting(schedule):
    scheduler = build_scheduler(schedule, FakeRunBatch())
    assert not scheduler.running
    (job,) = scheduler.get_jobs()
    assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, 3600)
    assert str(job.trigger) == str(cron_trigger(schedule))
    assert job.trigger.timezone == NY


def test_scheduler_job_runs_the_firing_it_was_due_for(logs):
    # due Tuesday 23:45, started 25 minutes late (after midnight): as-of is still Tuesday
    sched = Schedule(cron="45 23 * * 1-5")
    fake = FakeRunBatch()
    clock = lambda: dt.datetime(2017, 7, 12, 0, 10, tzinfo=NY)  # noqa: E731
    (job,) = build_scheduler(sched, fake, clock=clock).get_jobs()
    assert job.func() == "batch for as-of 2017-07-11 finished (run_id 7, status succeeded)"
    assert [c["as_of"] for c in fake.calls] == [dt.date(2017, 7, 11)]
    assert "next batch firing: 2017-07-12T23:45:00-04:00" in logs.messages


def test_scheduler_job_logs_a_failure_and_keeps_going(schedule, logs):
    fake = FakeRunBatch(error=ConfigError("no portfolio named 'x'"))
    clock = lambda: dt.datetime(2017, 7, 11, 17, 30, 2, tzinfo=NY)  # noqa: E731
    (job,) = build_scheduler(schedule, fake, clock=clock).get_jobs()
    assert job.func() is None
    assert len(fake.calls) == 1
    assert "scheduled batch failed: no portfolio named 'x'" in logs.messages
    assert "next batch firing: 2017-07-12T17:30:00-04:00" in logs.messages


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def params_dir(tmp_path: Path) -> Path:
    (tmp_path / "schedule.yaml").write_text(DEFAULT_FILE.read_text())
    return tmp_path


def test_cli_print_crontab_reads_the_params_dir(params_dir: Path):
    settings = types.SimpleNamespace(params_dir=params_dir)
    result = CliRunner().invoke(schedule_command, ["--print-crontab"], obj={"settings": settings})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "CRON_TZ=America/New_York"
    assert lines[1].startswith("30 17 * * 1-5 cd ")
    assert lines[1].endswith(
        " && .venv/bin/sigmasight batch run --all --executor processes --workers 2 --kernel warm"
    )


def test_cli_once_runs_at_most_one_batch_through_the_settings_adapter(
    params_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    calls: list[tuple] = []

    def run_batch(settings, **kwargs):  # noqa: ANN001, ANN202
        calls.append((settings, kwargs))
        return types.SimpleNamespace(run_id=1, status="succeeded")

    # the real runner is not imported: the command imports it lazily
    fake_runner = types.ModuleType("sigmasight_lib.batch.runner")
    fake_runner.run_batch = run_batch
    monkeypatch.setitem(sys.modules, "sigmasight_lib.batch.runner", fake_runner)
    settings = types.SimpleNamespace(params_dir=params_dir)
    result = CliRunner().invoke(schedule_command, ["--once"], obj={"settings": settings})
    assert result.exit_code == 0, result.output
    today_ny = dt.datetime.now(NY).date()
    if skip_reason(today_ny) is None:
        assert [(s, k["as_of"]) for s, k in calls] == [(settings, today_ny)]
        assert calls[0][1]["jobs"] is None and calls[0][1]["portfolios"] is None
        assert "finished (run_id 1, status succeeded)" in result.output
    else:
        assert calls == []
        assert result.output.startswith("skipped: ")


def test_cli_bad_file_and_conflicting_flags(tmp_path: Path):
    settings = types.SimpleNamespace(params_dir=tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text('cron: "30 17 * * 1-5"\nworkers: 0\n')
    result = CliRunner().invoke(
        schedule_command, ["--print-crontab", "--file", str(bad)], obj={"settings": settings}
    )
    assert isinstance(result.exception, ConfigError)
    assert "workers = 0" in str(result.exception)
    result = CliRunner().invoke(
        schedule_command, ["--print-crontab", "--once"], obj={"settings": settings}
    )
    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_every_engine_is_a_valid_job(tmp_path: Path):
    path = tmp_path / "schedule.yaml"
    path.write_text('cron: "30 17 * * 1-5"\njobs: [' + ", ".join(ENGINE_ORDER) + "]\n")
    assert load_schedule(path).jobs == ENGINE_ORDER
