"""Shared helpers for the ``bench_*.py`` scripts run by ``make bench``.

A benchmark measures, builds :class:`Row` objects and hands them to
:func:`report`, which prints one table and says whether every goal is met::

    fast = measure(lambda: vectorized(big), repeats=5)
    slow = measure(lambda: reference(small), repeats=3)
    rows = [
        speedup_row("throughput (options/s)", N_BIG / fast.median, N_SMALL / slow.median, 3_000),
        tolerance_row("max |price diff|", max_abs_diff(fast_small, slow.result), 1e-10),
    ]
    sys.exit(0 if report(rows, title="greeks") else 1)

Files are named ``bench_*.py`` so that ``pytest`` (``testpaths = ["tests"]``,
default ``python_files``) never collects them; run them as scripts.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of each timed run and the last run's return value."""

    seconds: tuple[float, ...]
    result: Any

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def measure(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> Timing:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed with ``time.perf_counter``."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    for _ in range(warmup):
        fn()
    seconds = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return Timing(tuple(seconds), result)


def median_seconds(fn: Callable[[], Any], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``repeats`` calls of ``fn`` (after ``warmup`` untimed calls)."""
    return measure(fn, repeats, warmup).median


def max_abs_diff(a: Any, b: Any) -> float:
    """Largest ``|a - b|``; ``inf`` when shapes differ or NaN appears on one side only.

    NaN on both sides at the same place counts as equal (both reject the row).
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape:
        return math.inf
    nan_x, nan_y = np.isnan(x), np.isnan(y)
    if (nan_x != nan_y).any():
        return math.inf
    both = ~nan_x
    if not both.any():
        return 0.0
    return float(np.max(np.abs(x[both] - y[both])))


@dataclass(frozen=True)
class Row:
    """One line of the report.

    With a ``reference`` the goal applies to ``measured / reference`` (a
    speed-up); without one, to ``measured`` itself (an error, a time). Without
    a ``goal`` the row is informational.
    """

    name: str
    measured: float
    reference: float | None = None
    goal: float | None = None
    at_least: bool = True
    """The checked value must be ``>= goal`` (True) or ``<= goal`` (False)."""
    unit: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference is None:
            return None
        return self.measured / self.reference if self.reference else math.inf

    @property
    def checked(self) -> float:
        ratio = self.ratio
        return self.measured if ratio is None else ratio

    @property
    def passed(self) -> bool | None:
        if self.goal is None:
            return None
        value = self.checked
        if math.isnan(value):
            return False
        return value >= self.goal if self.at_least else value <= self.goal


def speedup_row(name: str, measured: float, reference: float, goal: float, unit: str = "/s") -> Row:
    """Throughput ``measured`` against a ``reference`` throughput; passes at ``ratio >= goal``."""
    return Row(name, measured, reference, goal, at_least=True, unit=unit)


def tolerance_row(name: str, measured: float, goal: float, unit: str = "") -> Row:
    """An error (e.g. :func:`max_abs_diff`) that passes at ``measured <= goal``."""
    return Row(name, measured, None, goal, at_least=False, unit=unit)


def info_row(name: str, measured: float, unit: str = "") -> Row:
    """A figure shown without a goal."""
    return Row(name, measured, unit=unit)


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    if math.isnan(value) or math.isinf(value):
        text = str(value)
    elif value == 0:
        text = "0"
    elif abs(value) >= 1_000:
        text = f"{value:,.0f}"
    elif abs(value) >= 0.01:
        text = f"{value:.4g}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip() if unit else text


def _goal(row: Row) -> str:
    if row.goal is None:
        return ""
    op = ">=" if row.at_least else "<="
    suffix = "x" if row.reference is not None else ""
    return f"{op} {_number(row.goal)}{suffix}"


def offline_sqlite_settings(folder: Any) -> Any:
    """Settings of a SQLite database ``folder/bench.db`` with offline market data, outputs
    in ``folder/outputs`` and the repository's parameter files (not yet upgraded)."""
    from pathlib import Path

    from sigmasight_lib.config import REPO_DIR, load_settings

    folder = Path(folder)
    return load_settings({
        "SIGMASIGHT_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "SIGMASIGHT_OUTPUTS_DIR": str(folder / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(REPO_DIR / "params"),
        "SIGMASIGHT_MARKET_DATA": "offline",
    })  # fmt: skip


def environment() -> str:
    """One line describing the machine, for the report header."""
    return (
        f"Python {platform.python_version()}, numpy {np.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs"
    )


def report(rows: Iterable[Row], title: str | None = None, file: TextIO | None = None) -> bool:
    """Print the rows as a table (name / measured / reference / ratio / goal / status).

    Returns True when every row with a goal passes.
    """
    out = file or sys.stdout
    rows = list(rows)
    header = ("check", "measured", "reference", "ratio", "goal", "status")
    status = {True: "PASS", False: "FAIL", None: ""}
    table = [
        (
            row.name,
            _number(row.measured, row.unit),
            _number(row.reference, row.unit),
            "" if row.ratio is None else f"{_number(row.ratio)}x",
            _goal(row),
            status[row.passed],
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *table]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first, *rest = cells
        return "  ".join(
            [first.ljust(widths[0])] + [c.rjust(w) for c, w in zip(rest, widths[1:], strict=True)]
        )

    if title:
        print(title, file=out)
    print(line(header), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for cells in table:
        print(line(cells), file=out)
    failed = [row.name for row in rows if row.passed is False]
    print(
        f"FAIL: {len(failed)} goal(s) missed: {', '.join(failed)}"
        if failed
        else "PASS: all goals met",
        file=out,
    )
    return not failed
