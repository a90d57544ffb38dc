"""Issue 12 item 5: an as-of date is an NYSE session inside the calendar and the cache.

Today a Saturday exits 0 and stores zero-value rows that the report then shows
by default; a date past the calendar prints a traceback.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from sigmasight_lib.exceptions import AsOfDateError, SigmaSightError
from sigmasight_lib.marketdata.calendar import require_session
from tests.conftest import cli_runner

SATURDAY = "2017-04-01 is not an NYSE session (Saturday); the previous session is 2017-03-31"
PAST_CALENDAR = (
    "--as-of 2030-01-03 is outside the NYSE calendar (1990-01-02..2027-12-01); "
    "choose a session in that range"
)
PAST_DATA = (
    "as-of date 2017-04-03 is after the newest cached market data (2017-03-29): run "
    "`sigmasight market-data sync --as-of 2017-04-03` if the provider has it, or choose "
    "an earlier date"
)


def test_require_session_names_the_previous_session():
    assert require_session(dt.date(2017, 3, 31)) == dt.date(2017, 3, 31)
    with pytest.raises(AsOfDateError) as err:
        require_session(dt.date(2017, 4, 1))
    assert str(err.value) == SATURDAY
    assert isinstance(err.value, ValueError) and isinstance(err.value, SigmaSightError)
    with pytest.raises(
        AsOfDateError, match=r"\(Friday, Good Friday\); the previous session is 2017-04-13"
    ):
        require_session(dt.date(2017, 4, 14))


def _valuation_rows(settings) -> int:  # noqa: ANN001
    from sigmasight_lib.db.models import PositionValuation
    from sigmasight_lib.db.session import session_scope

    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(PositionValuation))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("engine", "valuation", "--portfolio", "1", "--as-of", "2017-04-01"), SATURDAY),
        (("engine", "valuation", "--portfolio", "1", "--as-of", "2030-01-03"), PAST_CALENDAR),
        (("engine", "valuation", "--portfolio", "1", "--as-of", "2017-04-03"), PAST_DATA),
        (("batch", "run", "--as-of", "2017-04-01", "--jobs", "valuation"), SATURDAY),
        (("batch", "run", "--as-of", "2030-01-03", "--jobs", "valuation"), PAST_CALENDAR),
        (("report", "1", "--as-of", "2017-04-01"), SATURDAY),
        (("whatif", "calculate", "1", "--as-of", "2017-04-01"), SATURDAY),
        (("portfolio", "list", "--as-of", "2017-04-01"), SATURDAY),
        (
            ("validate", "--portfolio", "1", "--start", "2017-01-01", "--end", "2017-03-01"),
            "2017-01-01 is not an NYSE session (Sunday); the previous session is 2016-12-30",
        ),
    ],
)
def test_cli_refuses_bad_as_of_in_one_line(sqlite_demo_db, monkeypatch, capsys, args, message):
    run = cli_runner(sqlite_demo_db, monkeypatch, capsys)
    code, out, err = run(*args)
    assert code == 1
    assert err == f"error: {message}\n"
    assert "Traceback" not in out + err
    assert _valuation_rows(sqlite_demo_db) == 0


def test_library_refuses_non_session(demo_db):
    from sigmasight_lib.runs import run_valuation

    with pytest.raises(ValueError, match="previous session is 2017-03-31"):
        run_valuation(demo_db, "1", dt.date(2017, 4, 1))
    assert _valuation_rows(demo_db) == 0


def test_report_defaults_to_default_as_of_not_a_stray_result(sqlite_demo_db, monkeypatch, capsys):
    """A result stored for a later date (as a Saturday run once did) is not the report's default."""
    from sigmasight_lib.db.models import PositionValuation
    from sigmasight_lib.db.session import session_scope

    run = cli_runner(sqlite_demo_db, monkeypatch, capsys)
    assert run("engine", "valuation", "--portfolio", "1")[0] == 0
    with session_scope(sqlite_demo_db) as session:
        row = session.scalars(select(PositionValuation).limit(1)).one()
        stray = PositionValuation(
            **{
                c.key: getattr(row, c.key)
                for c in PositionValuation.__table__.columns
                if c.key != "id"
            }
        )
        stray.as_of = dt.date(2017, 4, 1)
        session.add(stray)
    code, out, err = run("report", "1", "--format", "json")
    assert code == 0, err
    assert "/2017-03-29/" in out
