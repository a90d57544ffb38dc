"""The NYSE trading calendar (exchange-calendars' ``XNYS``): sessions and offsets.

Every "trading day" count in SigmaSight (coverage, lookback windows) is a count
of NYSE sessions, so weekends and exchange holidays never count as missing data.
"""

from __future__ import annotations

import datetime as dt
import warnings
from functools import cache

import exchange_calendars as xcals
import numpy as np
import pandas as pd

from sigmasight_lib.exceptions import AsOfDateError

CALENDAR_START = "1990-01-01"


@cache
def _xnys() -> xcals.ExchangeCalendar:
    # exchange-calendars 4.x reads tz-aware Series.values, deprecated in pandas 3.1;
    # the warning is about its internals, not our data.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        return xcals.get_calendar("XNYS", start=CALENDAR_START)


def trading_sessions(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions with ``start <= session <= end`` (inclusive), oldest first."""
    if end < start:
        return []
    cal = _xnys()
    lo = max(pd.Timestamp(start), cal.first_session)
    hi = min(pd.Timestamp(end), cal.last_session)
    if hi < lo:
        return []
    return [ts.date() for ts in cal.sessions_in_range(lo, hi)]


def is_trading_session(day: dt.date) -> bool:
    """True when ``day`` is an NYSE session.

    The calendar object covers about a year ahead of when it was built; a
    long-running process (the scheduler) that outlives it gets it rebuilt.
    """
    try:
        return _xnys().is_session(pd.Timestamp(day))
    except xcals.errors.DateOutOfBounds:
        _xnys.cache_clear()
        return _xnys().is_session(pd.Timestamp(day))


def holiday_name(day: dt.date) -> str | None:
    """The NYSE regular holiday on ``day`` (e.g. 'Thanksgiving'), else None."""
    names = _xnys().regular_holidays.holidays(
        pd.Timestamp(day), pd.Timestamp(day), return_name=True
    )
    return str(names.iloc[0]) if len(names) else None


def previous_session(day: dt.date) -> dt.date:
    """The last session strictly before ``day``."""
    cal = _xnys()
    ts = pd.Timestamp(day)
    if cal.is_session(ts):
        return cal.previous_session(ts).date()
    return cal.date_to_session(ts, direction="previous").date()


def session_on_or_before(day: dt.date) -> dt.date:
    """``day`` if it is a session, else the previous session."""
    return _xnys().date_to_session(pd.Timestamp(day), direction="previous").date()


def sessions_window(as_of: dt.date, sessions: int) -> list[dt.date]:
    """The last ``sessions`` NYSE sessions ending on or before ``as_of``, oldest first."""
    cal = _xnys()
    end = cal.date_to_session(pd.Timestamp(as_of), direction="previous")
    end_idx = cal.sessions.get_loc(end)
    start_idx = max(0, end_idx - sessions + 1)
    return [ts.date() for ts in cal.sessions[start_idx : end_idx + 1]]


def sessions_after(last: dt.date, as_of: dt.date) -> int:
    """How many NYSE sessions lie after ``last`` up to and including ``as_of`` (0 when
    ``last`` is on or after ``as_of``): the staleness of a series last observed on ``last``."""
    return int(sessions_after_each(pd.DatetimeIndex([last]), pd.DatetimeIndex([as_of]))[0])


def sessions_after_each(last: pd.DatetimeIndex, as_of: pd.DatetimeIndex) -> np.ndarray:
    """:func:`sessions_after` of each pair ``(last[i], as_of[i])`` (int array)."""
    sessions = _xnys().sessions
    behind = sessions.searchsorted(as_of, side="right") - sessions.searchsorted(last, side="right")
    return np.maximum(behind, 0)


def window_starts(days: pd.DatetimeIndex, sessions: int) -> pd.DatetimeIndex:
    """The first session of :func:`sessions_window` ``(day, sessions)`` of each of ``days``
    (dates within the calendar)."""
    calendar = _xnys().sessions
    last = calendar.searchsorted(days, side="right") - 1
    return calendar[np.maximum(last - sessions + 1, 0)]


def require_session(day: dt.date, what: str = "as-of date") -> dt.date:
    """``day`` itself when it is an NYSE session the calendar covers.

    Raises
    ------
    AsOfDateError
        Naming the previous session for a weekend or holiday ("2017-04-01 is not
        an NYSE session (Saturday); the previous session is 2017-03-31"), or the
        calendar's range for a date outside it. ``what`` names the date in the
        message (default "as-of date").
    """
    cal = _xnys()
    first, last = cal.first_session.date(), cal.last_session.date()
    if day > last:
        _xnys.cache_clear()  # a long-running process may hold a calendar built long ago
        cal = _xnys()
        first, last = cal.first_session.date(), cal.last_session.date()
    if day > last or day < first:
        raise AsOfDateError(
            f"{what} {day.isoformat()} is outside the NYSE calendar "
            f"({first.isoformat()}..{last.isoformat()}); choose a session in that range"
        )
    if cal.is_session(pd.Timestamp(day)):
        return day
    reason = day.strftime("%A") if day.weekday() >= 5 else holiday_name(day) or "exchange closed"
    if day.weekday() < 5 and reason != "exchange closed":
        reason = f"{day.strftime('%A')}, {reason}"
    raise AsOfDateError(
        f"{day.isoformat()} is not an NYSE session ({reason}); "
        f"the previous session is {session_on_or_before(day).isoformat()}"
    )
