"""Black-Scholes-Merton Greeks checked against independent oracles.

Oracles, never the code's own output: QuantLib's analytic European engine,
Hull's textbook figures, closed-form identities (put-call parity and its
Greek counterparts) and mibian, option by option. Units are mibian's (see
:mod:`sigmasight_lib.engines.greeks`): theta per calendar day, vega and rho per
1 point (0.01) of vol and rate.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.engines.greeks import (
    BACKENDS,
    GREEK_COLUMNS,
    INVALID_REASONS,
    bsm_greeks,
    greeks_backend,
    mibian_greeks,
)

KIND_REASON = "kind must be 'call' or 'put'"
SPOT_REASON = "spot must be a positive number"
STRIKE_REASON = "strike must be a positive number"
TIME_REASON = "time to expiry must be positive (expired or expiring today)"
RATE_REASON = "rate must be a number"
VOL_REASON = "volatility must be a positive number"
DIVIDEND_REASON = "dividend yield must be a number"

GOOD = {
    "spot": 100.0,
    "strike": 95.0,
    "years": 0.25,
    "rate": 0.04,
    "vol": 0.3,
    "dividend_yield": 0.01,
}
"""One valid option; edge-case tests spoil one input at a time."""


def _random_options(n: int, seed: int, *, dividends: bool) -> dict[str, np.ndarray]:
    """Valid, varied options: ITM to OTM, a day to three years, calls and puts."""
    rng = np.random.default_rng(seed)
    spot = rng.uniform(5.0, 300.0, n)
    return {
        "kind": rng.choice(np.array(["call", "put"]), n),
        "spot": spot,
        "strike": spot * rng.uniform(0.6, 1.4, n),
        "years": rng.integers(1, 3 * 365, n) / 365.0,
        "rate": rng.uniform(-0.01, 0.10, n),
        "vol": rng.uniform(0.05, 1.0, n),
        "dividend_yield": rng.uniform(0.001, 0.08, n) if dividends else np.zeros(n),
    }


# --------------------------------------------------------------------------- QuantLib


QL_STRIKE = 100.0
QL_SPOTS = (80.0, 100.0, 120.0)  # OTM / ATM / ITM for a call, the reverse for a put
QL_DAYS = (7, 30, 182, 730)
QL_DIVIDENDS = (0.0, 0.025)
QL_RATE_VOL = ((0.0, 0.15), (0.045, 0.30), (-0.005, 0.65))


def _quantlib_grid() -> pd.DataFrame:
    """QuantLib's analytic BSM price and Greeks, converted to mibian units, one row per option."""
    ql = pytest.importorskip("QuantLib")
    today = ql.Date(15, ql.January, 2024)
    ql.Settings.instance().evaluationDate = today
    day_count = ql.Actual365Fixed()  # year fraction = calendar days / 365, exactly
    rows = []
    for kind in ("call", "put"):
        for spot in QL_SPOTS:
            for days in QL_DAYS:
                for q in QL_DIVIDENDS:
                    for rate, vol in QL_RATE_VOL:
                        expiry = today + days
                        assert day_count.yearFraction(today, expiry) == days / 365.0
                        process = ql.BlackScholesMertonProcess(
                            ql.QuoteHandle(ql.SimpleQuote(spot)),
                            ql.YieldTermStructureHandle(ql.FlatForward(today, q, day_count)),
                            ql.YieldTermStructureHandle(ql.FlatForward(today, rate, day_count)),
                            ql.BlackVolTermStructureHandle(
                                ql.BlackConstantVol(today, ql.NullCalendar(), vol, day_count)
                            ),
                        )
                        option_type = ql.Option.Call if kind == "call" else ql.Option.Put
                        option = ql.EuropeanOption(
                            ql.PlainVanillaPayoff(option_type, QL_STRIKE),
                            ql.EuropeanExercise(expiry),
                        )
                        option.setPricingEngine(ql.AnalyticEuropeanEngine(process))
                        rows.append(
                            {
                                "kind": kind,
                                "spot": spot,
                                "years": days / 365.0,
                                "rate": rate,
                                "vol": vol,
                                "dividend_yield": q,
                                "price": option.NPV(),
                                "delta": option.delta(),
                                "gamma": option.gamma(),
                                # thetaPerDay() is theta() / 365: calendar days, mibian's unit
                                "theta": option.thetaPerDay(),
                                "vega": option.vega() / 100.0,  # QuantLib: per 1.0 of vol
                                "rho": option.rho() / 100.0,  # QuantLib: per 1.0 of rate
                            }
                        )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def quantlib_grid() -> tuple[pd.DataFrame, pd.DataFrame]:
    expected = _quantlib_grid()
    got = bsm_greeks(
        expected["kind"].to_numpy(),
        expected["spot"].to_numpy(),
        QL_STRIKE,
        expected["years"].to_numpy(),
        expected["rate"].to_numpy(),
        expected["vol"].to_numpy(),
        expected["dividend_yield"].to_numpy(),
    )
    return expected, got


@pytest.mark.parametrize("greek", GREEK_COLUMNS)
def test_matches_quantlib(quantlib_grid: tuple[pd.DataFrame, pd.DataFrame], greek: str) -> None:
    expected, got = quantlib_grid
    assert len(expected) == 2 * len(QL_SPOTS) * len(QL_DAYS) * len(QL_DIVIDENDS) * len(QL_RATE_VOL)
    assert got["reason"].isna().all()
    # relative 1e-8; the 1e-12 absolute floor covers deep-OTM values, where the
    # cancellation in S e^-qT N(d1) - K e^-rT N(d2) leaves ~1e-14 of absolute error
    np.testing.assert_allclose(
        got[greek].to_numpy(), expected[greek].to_numpy(), rtol=1e-8, atol=1e-12, err_msg=greek
    )


# --------------------------------------------------------------------------- textbook values


def test_hull_call_and_put_prices() -> None:
    """Hull, Options, Futures, and Other Derivatives: S=42, K=40, r=10 %, vol=20 %, T=0.5."""
    g = bsm_greeks(["call", "put"], 42.0, 40.0, 0.5, 0.10, 0.20)
    call, put = g["price"]
    assert round(call, 2) == 4.76
    assert round(put, 2) == 0.81
    assert call == pytest.approx(4.7594, abs=5e-5)
    assert put == pytest.approx(0.8086, abs=5e-5)


def test_hull_greeks_example() -> None:
    """Hull's Greeks example: S=49, K=50, r=5 %, vol=20 %, 20 weeks, a call.

    Hull quotes delta 0.522, gamma 0.066, theta -4.31 per year, vega 12.1 and
    rho 8.91 per 1.0 of vol/rate; converted here to mibian's units.
    """
    g = bsm_greeks("call", 49.0, 50.0, 20.0 / 52.0, 0.05, 0.20).iloc[0]
    assert g["price"] == pytest.approx(2.40, abs=5e-3)
    assert g["delta"] == pytest.approx(0.522, abs=5e-4)
    assert g["gamma"] == pytest.approx(0.066, abs=5e-4)
    assert g["theta"] * 365 == pytest.approx(-4.31, abs=5e-3)
    assert g["vega"] * 100 == pytest.approx(12.1, abs=5e-2)
    assert g["rho"] * 100 == pytest.approx(8.91, abs=5e-3)


@pytest.fixture(scope="module")
def call_put_pairs() -> tuple[dict[str, np.ndarray], pd.DataFrame, pd.DataFrame]:
    """The same random inputs priced once as calls and once as puts (with dividends)."""
    x = _random_options(2_000, seed=20240115, dividends=True)
    args = (x["spot"], x["strike"], x["years"], x["rate"], x["vol"], x["dividend_yield"])
    return x, bsm_greeks("call", *args), bsm_greeks("put", *args)


def test_put_call_parity_with_dividends(call_put_pairs) -> None:
    x, call, put = call_put_pairs
    s_q = x["spot"] * np.exp(-x["dividend_yield"] * x["years"])
    k_r = x["strike"] * np.exp(-x["rate"] * x["years"])
    np.testing.assert_allclose(call["price"] - put["price"], s_q - k_r, rtol=0, atol=1e-10)


def test_put_delta_is_call_delta_minus_discount_factor(call_put_pairs) -> None:
    x, call, put = call_put_pairs
    discount_q = np.exp(-x["dividend_yield"] * x["years"])
    np.testing.assert_allclose(put["delta"], call["delta"] - discount_q, rtol=0, atol=1e-12)


def test_gamma_and_vega_equal_for_call_and_put(call_put_pairs) -> None:
    _, call, put = call_put_pairs
    np.testing.assert_allclose(put["gamma"], call["gamma"], rtol=1e-13, atol=0)
    np.testing.assert_allclose(put["vega"], call["vega"], rtol=1e-13, atol=0)


def test_theta_and_rho_parity(call_put_pairs) -> None:
    """Differentiate parity: theta_C - theta_P = (q S e^-qT - r K e^-rT) / 365, rho_C - rho_P = K T e^-rT / 100."""
    x, call, put = call_put_pairs
    s_q = x["spot"] * np.exp(-x["dividend_yield"] * x["years"])
    k_r = x["strike"] * np.exp(-x["rate"] * x["years"])
    theta_gap = (x["dividend_yield"] * s_q - x["rate"] * k_r) / 365.0
    np.testing.assert_allclose(call["theta"] - put["theta"], theta_gap, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        call["rho"] - put["rho"], k_r * x["years"] / 100.0, rtol=0, atol=1e-12
    )


# --------------------------------------------------------------------------- mibian


@pytest.fixture(scope="module")
def mibian():  # noqa: ANN201
    return pytest.importorskip("mibian")


@pytest.mark.parametrize("dividends", [False, True], ids=["mibian.BS", "mibian.Me"])
def test_bsm_matches_mibian_on_random_inputs(mibian, dividends: bool) -> None:
    x = _random_options(1_000, seed=7 + dividends, dividends=dividends)
    args = (x["kind"], x["spot"], x["strike"], x["years"], x["rate"], x["vol"], x["dividend_yield"])
    got, expected = bsm_greeks(*args), mibian_greeks(*args)
    assert got["reason"].isna().all()
    assert expected["reason"].isna().all()
    assert expected[list(GREEK_COLUMNS)].notna().all().all()
    for greek in GREEK_COLUMNS:
        np.testing.assert_allclose(got[greek], expected[greek], rtol=0, atol=1e-10, err_msg=greek)


def test_mibian_backend_passes_dividend_yield_to_merton(mibian) -> None:
    """mibian.Me takes annual dividends in currency; q=3 % on S=80 is 2.4 a year."""
    m = mibian.Me([80.0, 75.0, 4.0, 2.4, 120.0], volatility=35.0)
    g = mibian_greeks(["call", "put"], 80.0, 75.0, 120.0 / 365.0, 0.04, 0.35, 0.03)
    assert g.loc[0, "price"] == pytest.approx(m.callPrice, rel=1e-12)
    assert g.loc[1, "price"] == pytest.approx(m.putPrice, rel=1e-12)
    assert g.loc[0, "theta"] == pytest.approx(m.callTheta, rel=1e-12)


# --------------------------------------------------------------------------- invalid rows


def _one(**changes) -> pd.Series:
    """bsm_greeks on GOOD with some inputs replaced, as a Series."""
    inputs = {"kind": "call", **GOOD, **changes}
    return bsm_greeks(**inputs).iloc[0]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"spot": 0.0}, SPOT_REASON),
        ({"spot": -5.0}, SPOT_REASON),
        ({"spot": np.nan}, SPOT_REASON),
        ({"spot": np.inf}, SPOT_REASON),
        ({"strike": 0.0}, STRIKE_REASON),
        ({"strike": -95.0}, STRIKE_REASON),
        ({"strike": np.nan}, STRIKE_REASON),
        ({"years": 0.0}, TIME_REASON),
        ({"years": -1.0 / 365}, TIME_REASON),
        ({"years": np.nan}, TIME_REASON),
        ({"rate": np.nan}, RATE_REASON),
        ({"rate": np.inf}, RATE_REASON),
        ({"vol": 0.0}, VOL_REASON),
        ({"vol": -0.2}, VOL_REASON),
        ({"vol": np.nan}, VOL_REASON),
        ({"dividend_yield": np.nan}, DIVIDEND_REASON),
        ({"kind": "straddle"}, KIND_REASON),
        ({"kind": ""}, KIND_REASON),
        ({"kind": "calls"}, KIND_REASON),
        # the first failing check wins: kind, spot, strike, time, rate, vol, dividend
        ({"kind": "x", "spot": 0.0}, KIND_REASON),
        ({"spot": 0.0, "strike": 0.0, "years": 0.0}, SPOT_REASON),
        ({"years": 0.0, "vol": 0.0}, TIME_REASON),
        ({"rate": np.nan, "vol": np.nan, "dividend_yield": np.nan}, RATE_REASON),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else "",
)
def test_invalid_input_gives_nan_and_exact_reason(changes: dict, reason: str) -> None:
    row = _one(**changes)
    assert row["reason"] == reason
    assert row[list(GREEK_COLUMNS)].isna().all()


def test_reason_is_categorical_of_all_reasons_and_missing_when_valid() -> None:
    g = bsm_greeks(["call", "put", "call"], [100.0, 100.0, 0.0], 100.0, 0.5, 0.05, 0.2)
    assert isinstance(g["reason"].dtype, pd.CategoricalDtype)
    assert list(g["reason"].cat.categories) == list(INVALID_REASONS)
    assert g["reason"].isna().tolist() == [True, True, False]
    assert list(g.columns) == [*GREEK_COLUMNS, "reason"]


@pytest.mark.parametrize(
    ("spelling", "canonical"),
    [
        ("C", "call"),
        ("c", "call"),
        (" Call ", "call"),
        ("CALL", "call"),
        ("P", "put"),
        ("p", "put"),
        (" put", "put"),
        ("Put ", "put"),
    ],
)
def test_kind_spellings_accepted(spelling: str, canonical: str) -> None:
    expected = _one(kind=canonical)
    got = _one(kind=spelling)
    assert pd.isna(got["reason"])
    pd.testing.assert_series_equal(got, expected, check_names=False)


def test_kind_spellings_in_arrays() -> None:
    # '<U4' arrays take a fast path; mixed spellings, wider and strided arrays do not
    spellings = np.array(["call", "put", "C", "p", "CALL", "Put ", " Call ", "bad"])
    canonical = np.array(["call", "put", "call", "put", "call", "put", "call", "call"])
    got = bsm_greeks(spellings, 100.0, 90.0, 0.5, 0.03, 0.25)
    expected = bsm_greeks(canonical, 100.0, 90.0, 0.5, 0.03, 0.25)
    pd.testing.assert_frame_equal(got.iloc[:7], expected.iloc[:7])
    assert got.loc[7, "reason"] == KIND_REASON
    four = np.array(["call", "CALL", "put", "Put ", "PUT", "bad!", "cash", "pump", "puts"])
    assert four.dtype == np.dtype("<U4")
    got4 = bsm_greeks(four, 100.0, 90.0, 0.5, 0.03, 0.25)
    assert got4["reason"].isna().tolist() == [True] * 5 + [False] * 4
    np.testing.assert_array_equal(got4["delta"].iloc[:5] > 0, [True, True, False, False, False])
    strided = np.array(["call", "xx", "put", "xx"])[::2]
    pd.testing.assert_frame_equal(
        bsm_greeks(strided, 100.0, 90.0, 0.5, 0.03, 0.25),
        bsm_greeks(["call", "put"], 100.0, 90.0, 0.5, 0.03, 0.25),
    )


def test_one_bad_row_does_not_spoil_the_batch() -> None:
    kind = ["call", "put", "call", "put", "put"]
    spot = [100.0, 100.0, -1.0, 100.0, 100.0]
    strike = [90.0, 110.0, 100.0, 100.0, 100.0]
    years = [0.5, 1.0, 0.5, 0.0, 2.0]
    batch = bsm_greeks(kind, spot, strike, years, 0.05, 0.2, 0.01)
    assert batch["reason"].tolist()[2:4] == [SPOT_REASON, TIME_REASON]
    assert batch.loc[[2, 3], list(GREEK_COLUMNS)].isna().all().all()
    for i in (0, 1, 4):
        alone = bsm_greeks(kind[i], spot[i], strike[i], years[i], 0.05, 0.2, 0.01).iloc[0]
        pd.testing.assert_series_equal(batch.iloc[i], alone, check_names=False)


# --------------------------------------------------------------------------- mibian guards


def test_mibian_backend_guards_zero_days(mibian) -> None:
    with pytest.raises(ZeroDivisionError):
        mibian.BS([100.0, 100.0, 5.0, 0.0], volatility=20.0)
    g = mibian_greeks(["call", "put"], 100.0, 100.0, [0.0, 0.0], 0.05, 0.2)
    assert g["reason"].tolist() == [TIME_REASON, TIME_REASON]
    assert g[list(GREEK_COLUMNS)].isna().all().all()


def test_mibian_backend_guards_negative_days(mibian) -> None:
    assert isinstance(mibian.BS([100.0, 100.0, 5.0, -10.0], volatility=20.0).callPrice, complex)
    g = mibian_greeks(["call", "put"], 100.0, 100.0, -10.0 / 365, 0.05, [0.2, 0.2], [0.0, 0.02])
    assert g["reason"].tolist() == [TIME_REASON, TIME_REASON]
    assert g[list(GREEK_COLUMNS)].isna().all().all()
    assert g[list(GREEK_COLUMNS)].dtypes.eq(float).all()


def test_mibian_backend_guards_zero_vol(mibian) -> None:
    assert mibian.BS([100.0, 100.0, 5.0, 30.0], volatility=0.0).callPrice is None
    g = mibian_greeks(["call", "put"], 100.0, 100.0, 30 / 365, 0.05, [0.0, 0.0])
    assert g["reason"].tolist() == [VOL_REASON, VOL_REASON]
    assert g[list(GREEK_COLUMNS)].isna().all().all()


def test_mibian_backend_guards_exceptions_raised_inside_mibian(mibian) -> None:
    tiny = 5e-324  # a positive vol passes the checks, but mibian's vol * sqrt(T) underflows to 0
    with pytest.raises(ZeroDivisionError):
        mibian.BS([100.0, 100.0, 5.0, 36.5], volatility=tiny * 100)
    g = mibian_greeks(["call", "put"], 100.0, 100.0, 0.1, 0.05, tiny)
    assert all(reason.startswith("mibian failed: ") for reason in g["reason"])
    assert g[list(GREEK_COLUMNS)].isna().all().all()


def test_mibian_backend_batch_with_bad_rows(mibian) -> None:
    kind = ["call", "bad", "put", "call", "put"]
    spot = [100.0, 100.0, 0.0, 100.0, 100.0]
    years = [0.5, 0.5, 0.5, 0.0, 1.0]
    g = mibian_greeks(kind, spot, 100.0, years, 0.05, 0.2)
    reasons = [None if pd.isna(r) else r for r in g["reason"]]
    assert reasons == [None, KIND_REASON, SPOT_REASON, TIME_REASON, None]
    expected = bsm_greeks(kind, spot, 100.0, years, 0.05, 0.2)
    np.testing.assert_allclose(
        g[list(GREEK_COLUMNS)].to_numpy(), expected[list(GREEK_COLUMNS)].to_numpy(), atol=1e-10
    )  # NaN where bsm_greeks has NaN, equal elsewhere


# --------------------------------------------------------------------------- shapes


def test_scalars_broadcast_against_arrays() -> None:
    strikes = np.array([80.0, 100.0, 120.0])
    g = bsm_greeks("call", 100.0, strikes, 0.5, 0.05, 0.2)
    assert len(g) == 3
    for i, k in enumerate(strikes):
        pd.testing.assert_series_equal(
            g.iloc[i], bsm_greeks("call", 100.0, k, 0.5, 0.05, 0.2).iloc[0], check_names=False
        )
    # a kind array against all-scalar numbers
    g2 = bsm_greeks(["call", "put", "call"], 100.0, 100.0, 0.5, 0.05, 0.2)
    assert len(g2) == 3
    pd.testing.assert_series_equal(g2.iloc[0], g2.iloc[2], check_names=False)
    assert g2.loc[0, "delta"] > 0 > g2.loc[1, "delta"]
    # scalars everywhere: one row
    assert len(bsm_greeks("put", 100.0, 100.0, 0.5, 0.05, 0.2)) == 1


def test_mibian_backend_broadcasts_scalar_numbers(mibian) -> None:
    g = mibian_greeks("put", 100.0, np.array([80.0, 100.0, 120.0]), 0.5, 0.05, 0.2)
    expected = bsm_greeks("put", 100.0, np.array([80.0, 100.0, 120.0]), 0.5, 0.05, 0.2)
    assert len(g) == 3
    np.testing.assert_allclose(g[list(GREEK_COLUMNS)], expected[list(GREEK_COLUMNS)], atol=1e-10)


def test_mibian_backend_broadcasts_scalars_against_kind_array(mibian) -> None:
    g = mibian_greeks(["call", "put", "bad"], 100.0, 100.0, 0.5, 0.05, 0.2)
    expected = bsm_greeks(["call", "put", "bad"], 100.0, 100.0, 0.5, 0.05, 0.2)
    assert len(g) == 3
    assert g.loc[2, "reason"] == KIND_REASON
    np.testing.assert_allclose(g[list(GREEK_COLUMNS)], expected[list(GREEK_COLUMNS)], atol=1e-10)


@pytest.mark.parametrize("greeks", [bsm_greeks, mibian_greeks], ids=["numpy", "mibian"])
def test_mismatched_array_lengths_raise(greeks) -> None:
    if greeks is mibian_greeks:
        pytest.importorskip("mibian")
    with pytest.raises(ValueError, match="equal lengths"):
        greeks("call", [100.0, 101.0], [100.0, 100.0, 100.0], 0.5, 0.05, 0.2)
    with pytest.raises(ValueError, match="equal lengths"):
        greeks("call", 100.0, 100.0, [0.5, 1.0], 0.05, [0.2, 0.3, 0.4])


@pytest.mark.parametrize("greeks", [bsm_greeks, mibian_greeks], ids=["numpy", "mibian"])
def test_kind_array_of_wrong_length_raises(greeks) -> None:
    if greeks is mibian_greeks:
        pytest.importorskip("mibian")
    with pytest.raises(ValueError, match="kind has 3 entries"):
        greeks(["call", "put", "call"], [100.0, 110.0], 100.0, 0.5, 0.05, 0.2)


# --------------------------------------------------------------------------- backends


def test_greeks_backend_by_name() -> None:
    assert greeks_backend("numpy") is bsm_greeks
    assert greeks_backend("mibian") is mibian_greeks
    assert BACKENDS == ("numpy", "mibian")


def test_unknown_backend_raises_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="nope") as info:
        greeks_backend("nope")
    assert all(name in str(info.value) for name in BACKENDS)


def test_docstring_example_value() -> None:
    """The docstring's ATM call, rechecked against the closed form written out by hand."""
    s, k, t, r, v = 100.0, 100.0, 0.5, 0.05, 0.2
    d1 = (math.log(s / k) + (r + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    n = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))  # noqa: E731
    price = s * n(d1) - k * math.exp(-r * t) * n(d2)
    assert bsm_greeks("call", s, k, t, r, v).loc[0, "price"] == pytest.approx(price, rel=1e-13)


# --------------------------------------------------------------------------- position Greeks at expiry


@pytest.fixture
def jpm_book() -> pd.DataFrame:
    """40 long JPM 75 calls, 40 long 75 puts, 10 short 72 calls (expiry 2017-06-16), 100 JPM."""
    import datetime as dt

    expiry = dt.date(2017, 6, 16)
    return pd.DataFrame(
        {
            "symbol": ["JPM170616C00075000", "JPM170616P00075000", "JPM170616C00072000", "JPM"],
            "underlying": ["JPM"] * 4,
            "quantity": [40.0, 40.0, -10.0, 100.0],
            "option_type": ["C", "P", "C", None],
            "strike": [75.0, 75.0, 72.0, None],
            "expiry": [expiry, expiry, expiry, None],
            "multiplier": [100, 100, 100, 1],
        },
        index=pd.Index([1, 2, 3, 4], name="id"),
    )


def _position_greeks(book: pd.DataFrame, as_of: str, spot: float) -> pd.DataFrame:
    from sigmasight_lib.engines.greeks import position_greeks

    return position_greeks(
        book,
        as_of=as_of,
        underlying_price=pd.Series(spot, index=book.index),
        realized_vol=pd.Series(0.17, index=book.index),
    )


def test_on_its_expiry_date_an_option_is_worth_intrinsic_with_the_exercise_delta(jpm_book):
    g = _position_greeks(jpm_book, "2017-06-16", 72.108)
    # model price = intrinsic at the close: call max(72.108 − 75, 0) = 0, put 75 − 72.108,
    # short 72 call 0.108
    np.testing.assert_allclose(g["model_price"].to_numpy()[:3], [0.0, 2.892, 0.108], atol=1e-12)
    # delta of exercise / assignment: ITM put −1 × 40 × 100, ITM short call +1 × −10 × 100
    np.testing.assert_allclose(g["delta"].to_numpy(), [0.0, -4000.0, -1000.0, 100.0])
    for col in ("gamma", "theta", "vega", "rho"):
        assert (g[col] == 0.0).all(), col
    assert g["years_to_expiry"].iloc[:3].tolist() == [0.0, 0.0, 0.0]
    assert g["reason"].isna().all()


def test_after_expiry_greeks_are_zero_without_a_model_price(jpm_book):
    g = _position_greeks(jpm_book, "2017-06-30", 76.475)
    opts = g.iloc[:3]
    for col in ("delta", "gamma", "theta", "vega", "rho"):
        assert (opts[col] == 0.0).all(), col
    assert opts["model_price"].isna().all()  # settled: valuation has the settlement value
    assert (opts["reason"] == "expired on 2017-06-16: settled, out of the book (Greeks 0)").all()
    assert g.at[4, "delta"] == 100.0
