"""Black-Scholes-Merton prices and Greeks, vectorized over any number of options.

Units follow mibian, the reference backend and test oracle:

======== =====================================================================
column   unit
======== =====================================================================
price    currency per share of underlying (the premium)
delta    d price / d spot (per 1 currency unit of spot)
gamma    d delta / d spot
theta    change in price per calendar day (annual theta / 365)
vega     change in price per 1 volatility point (per 0.01 of vol)
rho      change in price per 1 rate point (per 0.01 of rate)
======== =====================================================================

Inputs are decimals (rate 0.025, vol 0.20, dividend yield 0.01) and time in
years (calendar days / 365, mibian's convention). Invalid rows give NaN and a
reason; they never raise for the whole batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike
from scipy.special import ndtr

from sigmasight_lib.curves import TENOR_YEARS
from sigmasight_lib.engines.valuation import as_of_dates, settlement_value

GREEK_COLUMNS: tuple[str, ...] = ("price", "delta", "gamma", "theta", "vega", "rho")
"""Columns of :func:`bsm_greeks` (besides ``reason``)."""
DAYS_PER_YEAR = 365.0
"""Calendar days per year for time to expiry and theta (mibian's convention)."""
BACKENDS = ("numpy", "mibian")

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

Kind = Literal["call", "put"]


def _equals_word(k: np.ndarray, word: str) -> np.ndarray:
    """``k == word`` for a fixed-width unicode array; 4-character arrays compare as two uint64."""
    if k.dtype == np.dtype("<U4") and k.flags.c_contiguous:
        words = k.view(np.uint64).reshape(-1, 2)
        target = np.frombuffer(word.ljust(4, "\0").encode("utf-32-le"), dtype=np.uint64)
        return (words[:, 0] == target[0]) & (words[:, 1] == target[1])
    return k == word


def _call_mask(kind: ArrayLike, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean call mask and a validity mask from 'call'/'put' (also 'C'/'P', any case)."""
    k = np.asarray(kind)
    if k.ndim == 0:
        k = np.full(n, k.item())
    k = k.astype(str, copy=False)
    # fast path: exact 'call' / 'put'; other spellings are normalized one by one
    is_call = _equals_word(k, "call")
    is_put = _equals_word(k, "put")
    other = ~(is_call | is_put)
    if other.any():
        text = np.char.lower(np.char.strip(k[other]))
        is_call[other] = (text == "call") | (text == "c")
        is_put[other] = (text == "put") | (text == "p")
    return is_call, is_call | is_put


def _broadcast(*arrays: ArrayLike) -> tuple[np.ndarray, ...]:
    arrs = [np.asarray(a, dtype=float) for a in arrays]
    sizes = {a.size for a in arrs if a.ndim > 0}
    if len(sizes) > 1:
        raise ValueError(f"array arguments must have equal lengths, got sizes {sorted(sizes)}")
    n = sizes.pop() if sizes else 1
    return tuple(np.broadcast_to(a.ravel() if a.ndim else a, n) for a in arrs)


INVALID_REASONS: tuple[str, ...] = (
    "kind must be 'call' or 'put'",
    "spot must be a positive number",
    "strike must be a positive number",
    "time to expiry must be positive (expired or expiring today)",
    "rate must be a number",
    "volatility must be a positive number",
    "dividend yield must be a number",
)
"""Every reason :func:`bsm_greeks` can give for a NaN row (categories of ``reason``)."""


def _invalid_rows(
    valid_kind: np.ndarray,
    spot: np.ndarray,
    strike: np.ndarray,
    years: np.ndarray,
    rate: np.ndarray,
    vol: np.ndarray,
    dividend_yield: np.ndarray,
) -> pd.Categorical:
    """Why each row cannot be priced, as a Categorical of :data:`INVALID_REASONS`.

    Missing (NaN) for usable rows; for unusable rows the first failing check.
    The common all-valid case costs a few comparisons.
    """
    positive = (spot > 0) & (strike > 0) & (years > 0) & (vol > 0)  # False for NaN
    finite = np.isfinite(spot + strike + years + rate + vol + dividend_yield)
    codes = np.full(spot.shape, -1, dtype=np.int8)
    bad = ~(positive & finite & valid_kind)
    if bad.any():
        checks = (
            ~valid_kind,
            ~((spot > 0) & np.isfinite(spot)),
            ~((strike > 0) & np.isfinite(strike)),
            ~((years > 0) & np.isfinite(years)),
            ~np.isfinite(rate),
            ~((vol > 0) & np.isfinite(vol)),
            ~np.isfinite(dividend_yield),
        )
        for code in range(len(checks) - 1, -1, -1):  # the first failing check wins
            codes[checks[code]] = code
    return pd.Categorical.from_codes(codes, categories=list(INVALID_REASONS))


def _prepare(
    kind: ArrayLike,
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    dividend_yield: ArrayLike,
) -> tuple:
    """Broadcast the arguments of both backends to one length and check each row.

    Returns ``(is_call, spot, strike, years, rate, vol, dividend_yield, reasons)``.
    """
    arrays = _broadcast(spot, strike, years, rate, vol, dividend_yield)
    n = arrays[0].size
    k = np.asarray(kind)
    if k.ndim > 0 and k.size != n:
        if n != 1:
            raise ValueError(f"kind has {k.size} entries but the other arrays have {n}")
        arrays = tuple(np.broadcast_to(a, k.size) for a in arrays)
        n = k.size
    is_call, valid_kind = _call_mask(k, n)
    return (is_call, *arrays, _invalid_rows(valid_kind, *arrays))


def bsm_greeks(
    kind: Kind | str | Sequence[str] | np.ndarray,
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
) -> pd.DataFrame:
    """Black-Scholes-Merton price and Greeks for European options, one row per option.

    Parameters
    ----------
    kind : {'call', 'put'} or array-like of them
        Also accepts 'C' / 'P' in any case.
    spot, strike : float or array-like of shape (n_options,)
        Underlying price and strike, currency per share.
    years : float or array-like
        Time to expiry in years (calendar days / 365).
    rate : float or array-like
        Continuously compounded risk-free rate, decimal (0.025 = 2.5 %).
    vol : float or array-like
        Annualized volatility, decimal (0.20 = 20 %).
    dividend_yield : float or array-like, default=0.0
        Continuous dividend yield, decimal.

    Returns
    -------
    DataFrame of shape (n_options, 7)
        Columns :data:`GREEK_COLUMNS` in mibian's units (module docstring) and
        ``reason`` (categorical of :data:`INVALID_REASONS`): missing for a
        computed row, else why the row is NaN (non-positive spot, strike, time
        or vol; NaN input; unknown kind).

    Raises
    ------
    ValueError
        Only when array arguments have different lengths.

    Examples
    --------
    >>> g = bsm_greeks("call", 100.0, 100.0, 0.5, 0.05, 0.2)
    >>> round(float(g.loc[0, "price"]), 4)
    6.8887
    """
    is_call, spot_a, strike_a, years_a, rate_a, vol_a, q_a, reasons = _prepare(
        kind, spot, strike, years, rate, vol, dividend_yield
    )
    n = spot_a.size

    out = np.empty((len(GREEK_COLUMNS), n))  # rows: price, delta, gamma, theta, vega, rho
    price, delta, gamma, theta, vega, rho = out
    with np.errstate(all="ignore"):
        sign = np.where(is_call, 1.0, -1.0)  # N(d) for calls, N(-d) for puts
        sqrt_t = np.sqrt(years_a)
        vol_sqrt_t = vol_a * sqrt_t
        d1 = np.log(spot_a / strike_a)
        d1 += (rate_a - q_a + 0.5 * vol_a * vol_a) * years_a
        d1 /= vol_sqrt_t
        d2 = d1 - vol_sqrt_t
        s_q = spot_a * np.exp(-q_a * years_a)  # spot discounted at the dividend yield
        k_r = strike_a * np.exp(-rate_a * years_a)  # strike discounted at the rate
        pdf_d1 = np.exp(-0.5 * d1 * d1)
        pdf_d1 *= _INV_SQRT_2PI
        d1 *= sign
        d2 *= sign
        nd1 = ndtr(d1)
        nd2 = ndtr(d2)
        s_q_nd1 = s_q * nd1
        k_r_nd2 = k_r * nd2
        np.multiply(sign, s_q_nd1 - k_r_nd2, out=price)
        np.divide(s_q_nd1, spot_a, out=delta)
        delta *= sign
        np.divide(pdf_d1, spot_a * vol_sqrt_t, out=gamma)
        gamma *= s_q / spot_a
        s_q_pdf = s_q * pdf_d1
        np.multiply(s_q_pdf, vol_a / (-2.0 * DAYS_PER_YEAR) / sqrt_t, out=theta)
        theta += sign * (q_a * s_q_nd1 - rate_a * k_r_nd2) / DAYS_PER_YEAR
        np.multiply(s_q_pdf, sqrt_t / 100.0, out=vega)
        np.multiply(sign, k_r_nd2 * years_a / 100.0, out=rho)
    bad = reasons.codes >= 0
    if bad.any():
        out[:, bad] = np.nan
    frame = pd.DataFrame(out.T, columns=list(GREEK_COLUMNS), copy=False)
    frame["reason"] = reasons
    return frame


def mibian_greeks(
    kind: Kind | str | Sequence[str] | np.ndarray,
    spot: ArrayLike,
    strike: ArrayLike,
    years: ArrayLike,
    rate: ArrayLike,
    vol: ArrayLike,
    dividend_yield: ArrayLike = 0.0,
) -> pd.DataFrame:
    """The same contract as :func:`bsm_greeks`, computed option by option with mibian.

    The reference backend (``greeks_backend: mibian`` in ``params/engines.yaml``)
    and the test oracle. mibian takes vol and rate in percent and days, raises
    at zero days, returns complex numbers for negative days and None for zero
    vol: every such row is guarded here and comes back as NaN with a reason.
    ``mibian.BS`` prices without dividends, ``mibian.Me`` (Merton) with them.
    """
    import mibian

    is_call, spot_a, strike_a, years_a, rate_a, vol_a, q_a, codes = _prepare(
        kind, spot, strike, years, rate, vol, dividend_yield
    )
    n = spot_a.size
    reasons = np.asarray(codes.astype(object))
    reasons = np.where(pd.isna(reasons), None, reasons)
    rows = np.full((n, len(GREEK_COLUMNS)), np.nan)
    for i in range(n):
        if reasons[i] is not None:
            continue
        days = years_a[i] * DAYS_PER_YEAR
        try:
            if q_a[i] == 0.0:
                m = mibian.BS(
                    [spot_a[i], strike_a[i], rate_a[i] * 100, days], volatility=vol_a[i] * 100
                )
            else:
                m = mibian.Me(
                    [spot_a[i], strike_a[i], rate_a[i] * 100, q_a[i] * spot_a[i], days],
                    volatility=vol_a[i] * 100,
                )
        except (ZeroDivisionError, ValueError, OverflowError) as exc:
            reasons[i] = f"mibian failed: {exc}"
            continue
        if is_call[i]:
            values = (m.callPrice, m.callDelta, m.gamma, m.callTheta, m.vega, m.callRho)
        else:
            values = (m.putPrice, m.putDelta, m.gamma, m.putTheta, m.vega, m.putRho)
        rows[i] = values
    frame = pd.DataFrame(rows, columns=list(GREEK_COLUMNS))
    frame["reason"] = reasons
    return frame


def greeks_backend(name: str):  # noqa: ANN201 (returns one of the two functions above)
    """The Greeks function for a backend name (``numpy`` or ``mibian``).

    Raises
    ------
    ValueError
        For an unknown backend, naming the allowed ones.
    """
    if name == "numpy":
        return bsm_greeks
    if name == "mibian":
        return mibian_greeks
    raise ValueError(f"greeks_backend {name!r} is not one of {', '.join(BACKENDS)}")


# --------------------------------------------------------------------------- positions

TRADING_DAYS_PER_YEAR = 252
"""Annualization of daily return volatility."""
POSITION_GREEK_COLUMNS: tuple[str, ...] = (
    "underlying_price",
    "years_to_expiry",
    "implied_vol",
    "vol_source",
    "risk_free_rate",
    "model_price",
    "delta",
    "gamma",
    "theta",
    "vega",
    "rho",
    "reason",
)
"""Columns of :func:`position_greeks`."""


def realized_volatility(returns: pd.DataFrame, sessions: int) -> pd.Series:
    """Annualized volatility (decimal) of daily simple returns over the last ``sessions`` rows.

    Standard deviation (ddof=1) of daily log returns × sqrt(252); NaN for a
    column with fewer than two returns in the window.
    """
    vol = _log_return_volatility(returns, np.array([len(returns)]), sessions)[0]
    return pd.Series(vol, index=returns.columns)


def realized_volatility_on(
    returns: pd.DataFrame, days: pd.DatetimeIndex, sessions: int
) -> pd.DataFrame:
    """:func:`realized_volatility` at each of ``days``: over the last ``sessions`` rows of
    ``returns`` dated on or before the day.

    Parameters
    ----------
    returns : DataFrame of shape (n_dates, n_symbols)
        Daily simple returns (decimal), indexed by ascending dates.
    days : DatetimeIndex
    sessions : int

    Returns
    -------
    DataFrame of shape (len(days), n_symbols)
        Annualized volatility (decimal), indexed by ``days``.
    """
    ends = returns.index.searchsorted(days, side="right")
    vol = _log_return_volatility(returns, ends, sessions)
    return pd.DataFrame(vol, index=days, columns=returns.columns)


def _log_return_volatility(returns: pd.DataFrame, ends: np.ndarray, sessions: int) -> np.ndarray:
    """Annualized standard deviation (ddof=1, NaN skipped) of the daily log returns in the
    rows ``[end - sessions, end)`` of ``returns``, for each of ``ends``: shape
    (len(ends), n_symbols), NaN for fewer than two returns."""
    logs = np.log1p(returns.to_numpy(dtype=float))
    padded = np.vstack([np.full((sessions, logs.shape[1]), np.nan), logs])
    window = sliding_window_view(padded, sessions, axis=0)[ends]  # (ends, symbols, sessions)
    known = ~np.isnan(window)
    count = known.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(known, window, 0.0).sum(axis=-1) / count
        squares = np.where(known, (window - mean[..., None]) ** 2, 0.0).sum(axis=-1)
        std = np.sqrt(squares / (count - 1))
    return np.where(count >= 2, std * math.sqrt(TRADING_DAYS_PER_YEAR), np.nan)


def interpolate_rates(curve: pd.Series | None, years: np.ndarray, fallback: float) -> np.ndarray:
    """Risk-free rate (decimal) at each maturity, linear on the treasury curve.

    Parameters
    ----------
    curve : Series indexed by tenor ('1m', ..., '30y') of decimal yields, or None
    years : ndarray of maturities in years
    fallback : float
        Used when the curve is empty or missing.

    Maturities outside the curve take the nearest end point (flat extrapolation).
    """
    years = np.asarray(years, dtype=float)
    if curve is None or curve.dropna().empty:
        return np.full(years.shape, fallback)
    points = curve.dropna()
    x = np.array([TENOR_YEARS[t] for t in points.index])
    order = np.argsort(x)
    return np.interp(years, x[order], points.to_numpy(dtype=float)[order])


def position_greeks(
    positions: pd.DataFrame,
    *,
    as_of: pd.Timestamp | str | pd.Series,
    underlying_price: pd.Series,
    realized_vol: pd.Series,
    implied_vol: pd.Series | None = None,
    curve: pd.Series | Sequence[pd.Series | None] | None = None,
    curve_of: np.ndarray | None = None,
    fallback_rate: float = 0.02,
    dividend_yield: float = 0.0,
    backend: str = "numpy",
) -> pd.DataFrame:
    """Position Greeks: contract Greeks × quantity × multiplier; stocks delta = quantity.

    Every market input is given per row, so that the rows may be positions on
    different dates (a position held on several days is one row per day).

    Parameters
    ----------
    positions : DataFrame with a unique index
        Columns ``symbol``, ``underlying``, ``quantity``, ``option_type``
        ('C'/'P'/None), ``strike``, ``expiry`` (date or None), ``multiplier``.
    as_of : date-like, or Series of dates aligned with ``positions``
        Valuation date of every row, or of each row; time to expiry = calendar
        days / 365.
    underlying_price : Series aligned with ``positions``
        Spot of each row's underlying on its valuation date, currency per share.
    realized_vol : Series aligned with ``positions``
        Annualized realized volatility of each row's underlying (decimal): the
        fallback vol.
    implied_vol : Series aligned with ``positions``, optional
        Provider implied vol of each row's contract (decimal); used first when present.
    curve : Series indexed by tenor, or sequence of them, optional
        Treasury yields (decimal) for the rate at each option's maturity: one
        curve for every row, or with ``curve_of`` a list of curves.
    curve_of : ndarray of int aligned with ``positions``, optional
        Each row's curve in the sequence ``curve`` (None in it: ``fallback_rate``).
    fallback_rate : float, default=0.02
        Rate when the curve is missing.
    dividend_yield : float, default=0.0
    backend : {'numpy', 'mibian'}

    Returns
    -------
    DataFrame indexed like ``positions``, columns :data:`POSITION_GREEK_COLUMNS`
        Position Greeks in mibian units scaled by quantity × multiplier:
        ``delta`` in shares of the underlying, ``gamma`` in shares per USD,
        ``theta`` USD per calendar day, ``vega`` USD per vol point, ``rho`` USD
        per rate point. ``vol_source`` is ``implied`` or ``realized``;
        ``model_price`` the BSM premium per share. On its expiry date an option
        is worth its intrinsic value at ``underlying_price`` (the close) and its
        delta is that of exercise or assignment (±quantity × multiplier in the
        money, 0 otherwise; the other Greeks 0). After it the option has been
        settled (see :mod:`sigmasight_lib.engines.valuation`): Greeks 0,
        ``model_price`` NaN, reason ``expired on D: settled, out of the book``.
        Unusable inputs give NaN with a reason.
    """
    n = len(positions)
    when = as_of_dates(as_of, positions.index).to_numpy()
    qty = positions["quantity"].to_numpy(dtype=float)
    spot = underlying_price.to_numpy(dtype=float)
    is_option = positions["option_type"].isin(["C", "P"]).to_numpy()
    text = {c: np.full(n, np.nan, dtype=object) for c in ("vol_source", "reason")}
    names = [c for c in POSITION_GREEK_COLUMNS if c not in text]
    block = np.full((len(names), n), np.nan)  # one row per numeric column (pandas' layout)
    numeric = dict(zip(names, block, strict=True))
    stock = ~is_option
    for col in _GREEKS:
        numeric[col][stock] = 0.0
    numeric["delta"][stock] = qty[stock]
    numeric["underlying_price"][stock] = spot[stock]

    opt = np.flatnonzero(is_option)
    if opt.size:
        o = positions.iloc[opt]
        expiry = pd.to_datetime(o["expiry"]).to_numpy()
        days = (expiry - when[opt]) // np.timedelta64(1, "D")
        days = np.where(np.isnat(expiry), np.nan, days.astype(float))
        years = days / DAYS_PER_YEAR
        iv = (
            implied_vol.to_numpy(dtype=float)[opt]
            if implied_vol is not None
            else np.full(opt.size, np.nan)
        )
        use_iv = np.isfinite(iv) & (iv > 0)
        vol = np.where(use_iv, iv, realized_vol.to_numpy(dtype=float)[opt])
        rate = _rates(curve, curve_of, opt, np.clip(years, 0.0, None), fallback_rate)
        option_type = o["option_type"].to_numpy()
        kind = np.where(option_type == "C", "call", "put")
        strike = o["strike"].to_numpy(dtype=float)
        contract = greeks_backend(backend)(
            kind, spot[opt], strike, years, rate, vol, dividend_yield
        )
        scale = qty[opt] * o["multiplier"].to_numpy(dtype=float)
        for col in _GREEKS:
            numeric[col][opt] = contract[col].to_numpy() * scale
        numeric["model_price"][opt] = contract["price"].to_numpy()
        numeric["underlying_price"][opt] = spot[opt]
        numeric["years_to_expiry"][opt] = years
        numeric["implied_vol"][opt] = vol
        numeric["risk_free_rate"][opt] = rate
        text["vol_source"][opt] = np.where(use_iv, "implied", "realized")
        reasons = contract["reason"]
        text["reason"][opt] = reasons.astype(object).where(reasons.notna(), None).to_numpy()
        expiring = days == 0
        if expiring.any():
            # the expiry close: worth intrinsic; delta is the exercise / assignment (±1 per
            # share in the money, 0 otherwise), the other Greeks have run off
            rows = opt[expiring]
            intrinsic = settlement_value(
                pd.Series(option_type[expiring]), pd.Series(strike[expiring]),
                pd.Series(spot[rows]),
            ).to_numpy()  # fmt: skip
            sign = np.where(option_type[expiring] == "C", 1.0, -1.0) * (intrinsic > 0)
            for col in ("gamma", "theta", "vega", "rho"):
                numeric[col][rows] = 0.0
            numeric["delta"][rows] = sign * scale[expiring]
            numeric["model_price"][rows] = intrinsic
            text["reason"][rows] = np.where(np.isnan(intrinsic), text["reason"][rows], None)
        expired = days < 0
        if expired.any():
            rows = opt[expired]
            for col in _GREEKS:
                numeric[col][rows] = 0.0
            numeric["model_price"][rows] = np.nan
            text["reason"][rows] = [
                f"expired on {pd.Timestamp(e).date()}: settled, out of the book (Greeks 0)"
                for e in expiry[expired]
            ]
    out = pd.DataFrame(block.T, index=positions.index, columns=names, copy=False)
    for c, values in text.items():
        out[c] = pd.Series(values, index=positions.index, dtype=object)
    return out[list(POSITION_GREEK_COLUMNS)]


_GREEKS = ("delta", "gamma", "theta", "vega", "rho")


def _rates(
    curve: pd.Series | Sequence[pd.Series | None] | None,
    curve_of: np.ndarray | None,
    rows: np.ndarray,
    years: np.ndarray,
    fallback: float,
) -> np.ndarray:
    """:func:`interpolate_rates` of ``years`` (the option rows ``rows``) on each row's curve
    (see :func:`position_greeks`)."""
    if curve_of is None:
        return interpolate_rates(curve, years, fallback)  # type: ignore[arg-type]
    which = np.asarray(curve_of)[rows]
    rate = np.empty(len(rows))
    for k in np.unique(which):
        mine = which == k
        rate[mine] = interpolate_rates(curve[k], years[mine], fallback)  # type: ignore[index]
    return rate
