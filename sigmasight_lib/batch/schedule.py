"""The daily batch schedule: ``params/schedule.yaml``, its crontab line and its scheduler.

The schedule fires on a crontab expression read in an IANA time zone (weekdays
after the close). At each firing the as-of date is the firing date in that zone;
a date that is not an NYSE session (weekend or exchange holiday) is skipped with
a logged reason, so the expression need not know the holiday calendar.

Two ways to run it:

- ``sigmasight schedule``: an APScheduler ``BlockingScheduler`` in the
  foreground (:func:`run_forever`); this path applies the trading-day rule.
- ``sigmasight schedule --print-crontab``: the equivalent crontab entry
  (:func:`crontab_line`) for the system cron. The first line is
  ``CRON_TZ=<zone>``: cronie (Fedora, RHEL, Arch, Alpine's cronie package, and
  the ``cronie`` package on Debian/Ubuntu) reads the times that follow in that
  zone. A ``TZ=`` setting would only reach the job's environment; cronie still
  fires on the daemon's local time. Debian's and Ubuntu's default ``cron``
  (Vixie cron) ignores ``CRON_TZ``: there, run the host in the schedule's zone
  or use ``sigmasight schedule``. Cron knows no exchange holidays, so the cron
  entry also fires on NYSE holidays, when the batch reruns the latest complete
  date (a rerun replaces results, never duplicates them).

Day-of-week numbers: in cron 0 and 7 are Sunday and 1-5 is Monday to Friday;
APScheduler 3 numbers Monday 0 (its ``from_crontab`` does not convert), so the
day-of-week field is translated to names before the trigger is built.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import shlex
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from sigmasight_lib.exceptions import ConfigError, SigmaSightError
from sigmasight_lib.params import did_you_mean, read_yaml

log = logging.getLogger(__name__)

SCHEDULE_FILE = "schedule.yaml"
EXECUTORS = ("inline", "processes", "dask")
KERNEL_MODES = ("warm", "fresh")
DEFAULT_TIMEZONE = "America/New_York"

RunBatch = Callable[..., Any]
"""``run_batch(*, portfolios, as_of, jobs, executor, workers, scheduler_address, kernel_mode)``."""


# --------------------------------------------------------------------------- the schedule


@dataclass(frozen=True)
class Schedule:
    """A validated ``params/schedule.yaml``.

    Attributes
    ----------
    cron : str
        Five-field crontab expression, cron semantics (day of week 0/7 = Sunday),
        fields separated by single spaces.
    timezone : str
        IANA zone name in which ``cron`` is read and the as-of date is taken.
        default="America/New_York"
    portfolios : tuple of str or None
        Portfolio names, slugs or ids; ``None`` means every portfolio. default=None
    jobs : tuple of str or None
        Engine job names (python identifiers, dependency order); ``None`` means
        every job. default=None
    executor : str
        ``inline``, ``processes`` or ``dask``. default="processes"
    workers : int
        Parallel notebooks, >= 1. default=2
    scheduler_address : str or None
        Dask scheduler address (``dask`` only); ``None`` for a local cluster. default=None
    kernel_mode : str
        ``warm`` or ``fresh``. default="warm"
    misfire_grace_time : int
        Seconds a firing may start late and still run. default=3600
    source : Path or None
        The file it was read from (not part of equality).
    """

    cron: str
    timezone: str = DEFAULT_TIMEZONE
    portfolios: tuple[str, ...] | None = None
    jobs: tuple[str, ...] | None = None
    executor: str = "processes"
    workers: int = 2
    scheduler_address: str | None = None
    kernel_mode: str = "warm"
    misfire_grace_time: int = 3600
    source: Path | None = field(default=None, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def batch_kwargs(self, as_of: dt.date) -> dict[str, Any]:
        """Keyword arguments of ``run_batch`` for one firing on ``as_of``."""
        return {
            "portfolios": list(self.portfolios) if self.portfolios is not None else None,
            "as_of": as_of,
            "jobs": list(self.jobs) if self.jobs is not None else None,
            "executor": self.executor,
            "workers": self.workers,
            "scheduler_address": self.scheduler_address,
            "kernel_mode": self.kernel_mode,
        }


_KEYS = (
    "cron",
    "timezone",
    "portfolios",
    "jobs",
    "executor",
    "workers",
    "scheduler_address",
    "kernel_mode",
    "misfire_grace_time",
)


def load_schedule(path: Path | str) -> Schedule:
    """Read and validate a schedule file (``params/schedule.yaml``).

    Raises
    ------
    ConfigError
        For a missing or malformed file, an unknown key (with "did you mean"), a bad crontab
        expression, an unknown time zone, executor or kernel mode, ``workers``
        below 1, or a scheduler address without the dask executor. The message
        names the file and the field and quotes the value.
    """
    path = Path(path)
    doc = read_yaml(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of schedule settings, got {doc!r}")
    unknown = [k for k in doc if k not in _KEYS]
    if unknown:
        raise ConfigError(
            f"{path}: {unknown[0]!r} is not a schedule setting"
            f"{did_you_mean(unknown[0], _KEYS)}; allowed: {', '.join(_KEYS)}"
        )

    def bad(key: str, reason: str) -> ConfigError:
        return ConfigError(f"{path}: {key} = {doc.get(key)!r} {reason}")

    if "cron" not in doc:
        raise ConfigError(f"{path}: field 'cron' is missing (e.g. cron: \"30 17 * * 1-5\")")
    raw_cron = doc["cron"]
    if not isinstance(raw_cron, str):
        raise bad("cron", "is not a crontab expression (quote it in YAML)")
    cron = " ".join(raw_cron.split())
    timezone = doc.get("timezone", DEFAULT_TIMEZONE)
    if not isinstance(timezone, str) or not timezone.strip():
        raise bad("timezone", "is not a time zone name (e.g. America/New_York)")
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad("timezone", "is not a known IANA time zone (e.g. America/New_York)") from None
    try:
        from apscheduler.triggers.cron import CronTrigger

        CronTrigger.from_crontab(trigger_expression(cron), timezone=tz)
    except ValueError as exc:
        raise bad("cron", f"is not a crontab expression: {exc}") from None

    portfolios = _names(doc, "portfolios", bad)
    jobs = _names(doc, "jobs", bad)
    if jobs is not None:
        from sigmasight_lib.batch.plan import select_jobs

        try:
            jobs = None if jobs == ("all",) else tuple(select_jobs(jobs))
        except ConfigError as exc:
            raise bad("jobs", f"names an unknown job: {exc}") from None

    executor = doc.get("executor", "processes")
    if executor not in EXECUTORS:
        raise bad("executor", f"is not an executor; choose one of: {', '.join(EXECUTORS)}")
    workers = doc.get("workers", 2)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise bad("workers", "must be a whole number >= 1")
    address = doc.get("scheduler_address")
    if address is not None:
        if not isinstance(address, str) or not address.strip() or any(c.isspace() for c in address):
            raise bad("scheduler_address", "is not an address (e.g. tcp://127.0.0.1:8786)")
        if executor != "dask":
            raise bad("scheduler_address", f"is set but executor is {executor!r}, not 'dask'")
    kernel_mode = doc.get("kernel_mode", "warm")
    if kernel_mode not in KERNEL_MODES:
        raise bad("kernel_mode", f"is not a kernel mode; choose one of: {', '.join(KERNEL_MODES)}")
    grace = doc.get("misfire_grace_time", 3600)
    if not isinstance(grace, int) or isinstance(grace, bool) or grace < 1:
        raise bad("misfire_grace_time", "must be a whole number of seconds >= 1")

    return Schedule(
        cron=cron,
        timezone=timezone,
        portfolios=portfolios,
        jobs=jobs,
        executor=executor,
        workers=workers,
        scheduler_address=address,
        kernel_mode=kernel_mode,
        misfire_grace_time=grace,
        source=path,
    )


def _names(doc: dict, key: str, bad: Callable[[str, str], ConfigError]) -> tuple[str, ...] | None:
    """``all`` (or absent) → None; else a non-empty list of distinct one-line names."""
    value = doc.get(key, "all")
    if value == "all":
        return None
    if not isinstance(value, list) or not value:
        raise bad(key, "must be 'all' or a non-empty list")
    out: list[str] = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, str | int):
            raise bad(key, f"has an entry {item!r} that is not a name or id")
        name = str(item).strip()
        if not name or "\n" in name or "\r" in name:
            raise bad(key, f"has an empty or multi-line entry {item!r}")
        if name in out:
            raise bad(key, f"lists {name!r} twice")
        out.append(name)
    return tuple(out)


# --------------------------------------------------------------------------- cron expressions

_CRON_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_MONTH_NAMES = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")  # cron numbering 0-6
_APS_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # APScheduler 3: 0 = Monday
_ITEM = re.compile(
    r"^(?:(?P<star>\*)|(?P<first>[a-z0-9]+)(?:-(?P<last>[a-z0-9]+))?)(?:/(?P<step>\d+))?$"
)


def _cron_value(token: str, index: int) -> int:
    name, lo, hi = _CRON_FIELDS[index]
    if token.isdigit():
        value = int(token)
    elif index == 3 and token in _MONTH_NAMES:
        value = _MONTH_NAMES.index(token) + 1
    elif index == 4 and token in _CRON_DAY_NAMES:
        value = _CRON_DAY_NAMES.index(token)
    else:
        raise ValueError(f"{name} field: {token!r} is not a number or name")
    if not lo <= value <= hi:
        raise ValueError(f"{name} field: {token} is outside {lo}-{hi}")
    return value


def _cron_field(text: str, index: int) -> set[int]:
    """The values one crontab field selects (cron semantics)."""
    name, lo, hi = _CRON_FIELDS[index]
    values: set[int] = set()
    for item in text.split(","):
        m = _ITEM.match(item)
        if m is None:
            raise ValueError(f"{name} field: {item!r} is not *, N, N-M or a step of those")
        step = int(m["step"]) if m["step"] is not None else 1
        if step < 1 or step > hi:
            raise ValueError(f"{name} field: step {m['step']} is outside 1-{hi}")
        if m["star"]:
            first, last = lo, hi
        else:
            if m["step"] is not None and m["last"] is None:
                raise ValueError(f"{name} field: {item!r}: a step needs * or a range (N-M/S)")
            first = _cron_value(m["first"], index)
            last = _cron_value(m["last"], index) if m["last"] is not None else first
            if last < first:
                raise ValueError(f"{name} field: range {item!r} runs backwards")
        values.update(range(first, last + 1, step))
    return values


def trigger_expression(cron: str) -> str:
    """Check a crontab expression; return the same schedule in APScheduler 3's terms.

    Minute, hour, day-of-month and month are passed through; the day of week
    becomes names (``1-5`` → ``mon-fri``) because APScheduler 3 numbers Monday 0
    where cron numbers Sunday 0.

    Raises
    ------
    ValueError
        Saying what is wrong: not five fields, a value out of range, a
        backwards range, a macro such as ``@daily``, or both day-of-month and
        day-of-week restricted (cron runs on either, APScheduler on both).
    """
    if cron.strip().startswith("@"):
        raise ValueError("macros such as @daily are not supported; write the five fields")
    parts = cron.lower().split()
    if len(parts) != 5:
        raise ValueError(
            f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(parts)}"
        )
    for index, part in enumerate(parts):
        _cron_field(part, index)
    if not parts[2].startswith("*") and not parts[4].startswith("*"):
        raise ValueError(
            "day of month and day of week are both restricted; cron runs on either, "
            "APScheduler on both: restrict only one of them"
        )
    if parts[4] != "*":
        days = {d % 7 for d in _cron_field(parts[4], 4)}  # 7 is Sunday too
        parts[4] = _day_ranges(sorted((d - 1) % 7 for d in days))  # cron Sun 0 → APS Sun 6
    return " ".join(parts)


def _day_ranges(days: list[int]) -> str:
    """APScheduler weekday numbers → ``mon-fri,sun``."""
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(
        _APS_DAY_NAMES[r[0]] if len(r) == 1 else f"{_APS_DAY_NAMES[r[0]]}-{_APS_DAY_NAMES[r[-1]]}"
        for r in runs
    )


def cron_trigger(schedule: Schedule):  # noqa: ANN201 (apscheduler imported lazily)
    """The APScheduler ``CronTrigger`` of ``schedule``, in its time zone."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(trigger_expression(schedule.cron), timezone=schedule.tz)


# --------------------------------------------------------------------------- crontab


def crontab_line(schedule: Schedule, command: str) -> str:
    """The crontab entry equivalent to ``schedule`` (two lines, no trailing newline).

    Parameters
    ----------
    schedule : Schedule
    command : str
        How to start the ``sigmasight`` program from cron, used verbatim, e.g.
        ``cd /srv/sigmasight && .venv/bin/sigmasight``; ``batch run`` and the
        schedule's options are appended (arguments shell-quoted, ``%`` escaped
        for cron).

    Returns
    -------
    str
        ``CRON_TZ=<zone>`` (honoured by cronie; see the module docstring), then
        ``<cron> <command> batch run --all|--portfolio NAME ... [--jobs a,b]
        --executor E --workers N [--scheduler-address A] --kernel warm|fresh``.
    """
    args = ["batch", "run"]
    if schedule.portfolios is None:
        args.append("--all")
    else:
        for name in schedule.portfolios:
            args += ["--portfolio", name]
    if schedule.jobs is not None:
        args += ["--jobs", ",".join(j.replace("_", "-") for j in schedule.jobs)]
    args += ["--executor", schedule.executor, "--workers", str(schedule.workers)]
    if schedule.scheduler_address is not None:
        args += ["--scheduler-address", schedule.scheduler_address]
    args += ["--kernel", schedule.kernel_mode]
    rendered = " ".join(shlex.quote(a).replace("%", r"\%") for a in args)
    return f"CRON_TZ={schedule.timezone}\n{schedule.cron} {command} {rendered}"


def default_command(repo: Path | None = None) -> str:
    """``cd <repo> && .venv/bin/sigmasight`` for the checkout (``%`` escaped for cron)."""
    from sigmasight_lib.config import REPO_DIR

    where = shlex.quote(str(repo or REPO_DIR)).replace("%", r"\%")
    return f"cd {where} && .venv/bin/sigmasight"


# --------------------------------------------------------------------------- firing


def _is_session(day: dt.date) -> bool:
    from sigmasight_lib.marketdata.calendar import is_trading_session

    return is_trading_session(day)


def _holiday_name(day: dt.date) -> str | None:
    from sigmasight_lib.marketdata.calendar import holiday_name

    return holiday_name(day)


def skip_reason(as_of: dt.date) -> str | None:
    """Why no batch runs for ``as_of`` (weekend or NYSE holiday), or None on a session."""
    if _is_session(as_of):
        return None
    weekday = as_of.strftime("%A")
    if as_of.weekday() >= 5:
        return f"{as_of.isoformat()} is a {weekday}: no NYSE session"
    name = _holiday_name(as_of)
    holiday = f"an NYSE holiday ({name})" if name else "an NYSE holiday"
    return f"{as_of.isoformat()} ({weekday}) is {holiday}: no session"


def firing_date(schedule: Schedule, now: dt.datetime) -> dt.date:
    """The calendar date of ``now`` in the schedule's time zone.

    Raises
    ------
    ValueError
        If ``now`` is naive (its zone would be a guess).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be time-zone aware, got naive {now.isoformat()}")
    return now.astimezone(schedule.tz).date()


def scheduled_run(schedule: Schedule, now: dt.datetime, run_batch: RunBatch) -> str | None:
    """One firing: run the batch for the firing date if it is an NYSE session.

    Parameters
    ----------
    schedule : Schedule
    now : datetime
        The firing instant, time-zone aware; its date in ``schedule.timezone``
        is the as-of date (23:30 UTC on a Friday is still Friday in New York).
    run_batch : callable
        Called once with ``portfolios``, ``as_of``, ``jobs``, ``executor``,
        ``workers``, ``scheduler_address`` and ``kernel_mode`` keywords;
        exceptions propagate.

    Returns
    -------
    str or None
        A short status line, or None when the date is a weekend or an exchange
        holiday (the reason is logged and ``run_batch`` is not called).
    """
    as_of = firing_date(schedule, now)
    reason = skip_reason(as_of)
    if reason is not None:
        log.info("scheduled batch skipped: %s", reason)
        return None
    log.info("scheduled batch for as-of %s starting", as_of.isoformat())
    result = run_batch(**schedule.batch_kwargs(as_of))
    status = f"batch for as-of {as_of.isoformat()} finished{_describe(result)}"
    log.info("%s", status)
    return status


def _describe(result: Any) -> str:
    if result is None:
        return ""
    parts = [
        f"{attr} {getattr(result, attr)}"
        for attr in ("run_id", "status")
        if getattr(result, attr, None) is not None
    ]
    return f" ({', '.join(parts)})" if parts else ""


def settings_adapter(settings: Any, run_batch: Callable[..., Any]) -> RunBatch:
    """``run_batch(settings, **kw)`` as the ``run_batch(**kw)`` that :func:`scheduled_run` calls."""
    return functools.partial(run_batch, settings)


# --------------------------------------------------------------------------- scheduler


def _last_fire_time(trigger: Any, now: dt.datetime, grace_s: int) -> dt.datetime:
    """The latest fire time of ``trigger`` at or before ``now`` (within the grace window),
    else ``now``: the as-of date of a late run is still the date it was due."""
    last = None
    candidate = trigger.get_next_fire_time(None, now - dt.timedelta(seconds=grace_s + 1))
    while candidate is not None and candidate <= now:
        last = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + dt.timedelta(seconds=1))
    return last or now


def build_scheduler(
    schedule: Schedule,
    run_batch: RunBatch,
    clock: Callable[[], dt.datetime] | None = None,
):  # noqa: ANN201 (apscheduler imported lazily)
    """A ``BlockingScheduler`` (not started) with the schedule's one job.

    The job runs :func:`scheduled_run` at each firing: coalesced (missed
    firings run once), one instance at a time, ``misfire_grace_time`` seconds
    of lateness allowed; a late run keeps the as-of date it was due for.
    Errors are logged and the scheduler keeps going.

    Parameters
    ----------
    clock : callable, optional
        Returns the current aware datetime (tests); default=``datetime.now(tz)``.
    """
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.schedulers.blocking import BlockingScheduler

    trigger = cron_trigger(schedule)
    now_fn = clock or (lambda: dt.datetime.now(schedule.tz))

    def fire() -> str | None:
        now = now_fn()
        due = _last_fire_time(trigger, now, schedule.misfire_grace_time)
        try:
            return scheduled_run(schedule, due, run_batch)
        except SigmaSightError as exc:
            log.error("scheduled batch failed: %s", exc)
        except Exception:
            log.exception("scheduled batch failed")
        finally:
            upcoming = trigger.get_next_fire_time(due, max(now, due))
            log.info("next batch firing: %s", upcoming.isoformat() if upcoming else "never")
        return None

    scheduler = BlockingScheduler(
        timezone=schedule.tz, executors={"default": ThreadPoolExecutor(max_workers=1)}
    )
    scheduler.add_job(
        fire,
        trigger,
        id="sigmasight-batch",
        name="sigmasight batch",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=schedule.misfire_grace_time,
    )
    return scheduler


def run_forever(schedule: Schedule, run_batch: RunBatch) -> None:
    """Run the schedule in the foreground until Ctrl-C or SIGTERM.

    Logs the next fire time at start and after every firing. On SIGTERM or
    KeyboardInterrupt no new firing starts; a batch already running finishes
    before the process exits.
    """
    scheduler = build_scheduler(schedule, run_batch)
    trigger = cron_trigger(schedule)
    first = trigger.get_next_fire_time(None, dt.datetime.now(schedule.tz))
    log.info(
        "schedule %r (%s) started; next batch firing: %s",
        schedule.cron,
        schedule.timezone,
        first.isoformat() if first else "never",
    )

    def on_sigterm(signum: int, _frame: Any) -> None:
        log.info("received signal %d: stopping the schedule", signum)
        if scheduler.running:
            scheduler.shutdown(wait=False)

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: Ctrl-C / shutdown() only
        previous = None
    try:
        scheduler.start()
    except KeyboardInterrupt:
        log.info("interrupted: stopping the schedule")
        if scheduler.running:
            scheduler.shutdown(wait=False)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    log.info("schedule stopped")


# --------------------------------------------------------------------------- CLI


@click.command("schedule")
@click.option(
    "--file",
    "schedule_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Schedule file (default: schedule.yaml in the params directory).",
)
@click.option("--print-crontab", is_flag=True, help="Print the equivalent crontab entry and exit.")
@click.option(
    "--once", is_flag=True, help="Run one scheduled firing now (skipped on a non-session day)."
)
def schedule_command(schedule_file: Path | None, print_crontab: bool, once: bool) -> None:
    """Run the batch on the schedule of params/schedule.yaml (foreground, Ctrl-C stops).

    With --once, exit status 1 when any job of the firing failed.

    Fires on the cron expression in the file's time zone; the as-of date is the
    firing date, and weekends and NYSE holidays are skipped.
    """
    if print_crontab and once:
        raise click.UsageError("--print-crontab and --once exclude each other")
    obj = click.get_current_context().ensure_object(dict)
    settings = obj.get("settings")
    if settings is None:
        from sigmasight_lib.config import load_settings

        settings = obj["settings"] = load_settings()
    schedule = load_schedule(schedule_file or Path(settings.params_dir) / SCHEDULE_FILE)

    if print_crontab:
        click.echo(crontab_line(schedule, default_command()))
        return

    from sigmasight_lib.batch.runner import run_batch

    batch = settings_adapter(settings, run_batch)
    if once:
        now = dt.datetime.now(schedule.tz)
        results: list[Any] = []

        def run_and_keep(**kwargs: Any) -> Any:
            results.append(batch(**kwargs))
            return results[-1]

        status = scheduled_run(schedule, now, run_and_keep)
        click.echo(status or f"skipped: {skip_reason(firing_date(schedule, now))}")
        failed = [o for r in results for o in getattr(r, "failed", [])]
        if failed:
            click.echo(
                f"error: {len(failed)} job(s) failed; see `sigmasight batch status`", err=True
            )
            sys.exit(1)
        return
    run_forever(schedule, batch)
