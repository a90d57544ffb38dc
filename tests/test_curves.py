"""The treasury curve vocabulary."""

from sigmasight_lib.curves import TENOR_YEARS, TENORS


def test_tenors_are_the_maturities_shortest_first():
    assert TENORS == ("1m", "3m", "6m", "1y", "2y", "3y", "5y", "7y", "10y", "20y", "30y")
    years = [TENOR_YEARS[t] for t in TENORS]
    assert years == sorted(years) and years[0] == 1 / 12 and years[-1] == 30.0
