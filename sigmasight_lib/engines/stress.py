"""Stress tests: factor shocks applied to dollar factor exposures, directly and correlated.

Units: a shock is the proxy's own move
-----------------------------------------
Every shock is the move of the factor's **own proxy series** (``params/factors.yaml``):
a decimal return for price proxies (Market ``-0.10`` = SPY -10 %; Value ``-0.10`` =
the value ETF -10 %, *not* a spread; Volatility ``+1.5`` = VIX level +150 %) and a
decimal yield change for the rate factor (Interest Rate ``+0.0025`` = +25 bp).
Scenario files, the covariance and the propagation all live in this proxy space.

The exposures, however, come from the factor engine's regression design, where
in ``spread`` mode a style factor's beta is a loading on the *spread* of its proxy
over the market. :func:`design_moves` is the one place that converts proxy moves
into design moves (:class:`MoveModel`)::

    design_move[Market] = move[Market]
    design_move[style]  = move[style] − move[Market]       (spread mode)
    design_move[macro]  = move[macro]                        (own units)

In the direct P&L an unshocked style factor keeps a zero spread (it moves with the
market); a shocked one moves by its shock minus the market's shock (0 when the
market is not shocked).

Two P&L figures per scenario
----------------------------
*Direct*: only the shocked factors move::

    direct_pnl = Σ_positions Σ_f exposure[i, f] × design_move_direct[f]

*Correlated*: the unshocked factors U move by their conditional expectation
given the shocked ones S under a Gaussian model with factor covariance Σ::

    x_U = Σ_US Σ_SS⁻¹ x_S

Return-type factors are propagated in **log-return space** (``x = log(1 + r)``,
back with ``r = exp(x) − 1``), so no propagated move is ever below −100 % (a
propagated VIX move is a fall of the level, never a negative level); additive
factors (yield changes) are propagated as they are. Σ must be estimated in the
same space (:func:`propagation_returns`, then :func:`ewma_covariance`,
RiskMetrics-style decay λ = 0.94).

Loss floor
----------
A linear (stock / ETF) position's move is ``m_i = Σ_f beta[i, f] × design_move[f]``
and is floored at −100 %: a long position never loses more than its value, a
short never gains more than its value (:func:`run_scenario`). Options are
revalued with Black-Scholes-Merton (:func:`~sigmasight_lib.engines.greeks.bsm_greeks`)
at the underlying's floored implied move, not delta-scaled; their linear
exposure rows are left out of the linear sum.

A shocked factor without exposure data is *unmapped*: it is listed, the
scenario is flagged ``partial`` and the shock contributes nothing; it is never
silently dropped. Pure functions: frames in, frames and frozen dataclasses out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sigmasight_lib.engines.greeks import bsm_greeks

CATEGORIES: tuple[str, ...] = (
    "market",
    "rates",
    "commodity",
    "international",
    "factor",
    "volatility",
    "credit",
    "liquidity",
    "historical",
    "custom",
)
"""Allowed :attr:`Scenario.category` values."""
DEFAULT_DECAY = 0.94
"""RiskMetrics decay for daily data (SPEC 6)."""
EIGEN_TOLERANCE = 1e-10
"""Eigenvalues of the shocked factors' correlation block below this fraction of the
largest are treated as zero (pseudo-inverse), so collinear shocked factors do not blow up."""
SPOT_FLOOR_FRACTION = 1e-6
"""A stressed spot is floored at this fraction of the current spot (moves ≤ -100 %)."""
PRICE_MISMATCH_TOLERANCE = 0.01
"""A given option ``price`` further than max(0.01, 1 %) from the BSM price is noted."""
OPTION_COLUMNS: tuple[str, ...] = (
    "underlying",
    "option_type",
    "spot",
    "strike",
    "years",
    "rate",
    "vol",
    "quantity",
    "multiplier",
    "delta",
)
"""Required columns of the ``options`` frame (``dividend_yield`` defaults to 0,
``price`` is optional and only compared with the model price)."""
BY_FACTOR_COLUMNS: tuple[str, ...] = (
    "shock",
    "propagated_shock",
    "design_move_direct",
    "design_move_correlated",
    "exposure_usd",
    "direct_pnl_usd",
    "correlated_pnl_usd",
)
OPTION_RESULT_COLUMNS: tuple[str, ...] = (
    "underlying_move_direct",
    "revaluation_pnl_direct",
    "delta_only_pnl_direct",
    "underlying_move_correlated",
    "revaluation_pnl_correlated",
    "delta_only_pnl_correlated",
)
BY_POSITION_COLUMNS: tuple[str, ...] = (
    "direct_pnl_usd",
    "correlated_pnl_usd",
    "loss_floor_direct",
    "loss_floor_correlated",
    *OPTION_RESULT_COLUMNS,
)
SUMMARY_COLUMNS: tuple[str, ...] = (
    "name",
    "category",
    "direct_pnl_usd",
    "correlated_pnl_usd",
    "partial",
    "unmapped",
    "notes",
)
NO_DATA_NOTE = "no shocked factor has data"


@dataclass(frozen=True)
class MoveModel:
    """How proxy moves map to propagation space and to the exposures' design.

    Attributes
    ----------
    additive : frozenset of str, default=frozenset()
        Factors whose moves are additive changes (yield changes): propagated as
        they are. Every other factor's move is a simple return of a price or a
        level, propagated as a log return and bounded below by −100 %.
    spread_factors : frozenset of str, default=frozenset()
        Factors whose exposures are loadings on the spread of their proxy's
        return over ``market`` (style factors in the factor engine's ``spread``
        mode).
    market : str, default='Market'
    """

    additive: frozenset[str] = frozenset()
    spread_factors: frozenset[str] = frozenset()
    market: str = "Market"


def propagation_returns(factor_returns: pd.DataFrame, model: MoveModel) -> pd.DataFrame:
    """Daily factor moves in propagation space: log returns, yield changes unchanged.

    Parameters
    ----------
    factor_returns : DataFrame of shape (n_days, n_factors)
        Daily proxy moves: simple returns (decimal) or, for ``model.additive``
        factors, changes in the factor's units.
    model : MoveModel

    Returns
    -------
    DataFrame of the same shape: ``log(1 + r)`` for return factors (NaN where
    ``r <= -1``), the input for additive factors.
    """
    out = factor_returns.astype(float).copy()
    for column in out.columns:
        if column not in model.additive:
            values = out[column].to_numpy(dtype=float)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[column] = np.where(values > -1.0, np.log1p(values), np.nan)
    return out


def design_moves(
    moves: pd.Series, model: MoveModel, *, shocked: frozenset[str] | None = None
) -> pd.Series:
    """Proxy moves converted to the exposures' design (the one place it is done).

    Parameters
    ----------
    moves : Series indexed by factor
        Each factor's proxy move (decimal return; yield change for additive factors).
    model : MoveModel
    shocked : frozenset of str, optional
        For the direct P&L: the shocked factors. An unshocked spread factor then
        keeps a zero spread (it moves with the market). None (correlated P&L):
        every factor's move is given.

    Returns
    -------
    Series indexed like ``moves``: ``move[f] − move[market]`` for spread factors
    (``move[market]`` = 0 when the market is not in ``moves``), ``move[f]`` otherwise.
    """
    market_move = float(moves.get(model.market, 0.0))
    out = moves.astype(float).copy()
    for factor in out.index:
        if factor in model.spread_factors and factor != model.market:
            moved = shocked is None or factor in shocked
            out[factor] = out[factor] - market_move if moved else 0.0
    return out


@dataclass(frozen=True)
class Scenario:
    """One stress scenario.

    Attributes
    ----------
    key : str
        Unique slug (``market_down_10``).
    name : str
        Display name.
    category : str
        One of :data:`CATEGORIES`.
    description : str
        What the scenario models, with the shock units.
    shocks : Mapping[str, float]
        Factor name -> shock in the factor's own units (module docstring). Stored
        as a plain ``dict`` copy with float values.

    Raises
    ------
    ValueError
        When a shock is not a finite number.
    """

    key: str
    name: str
    category: str
    description: str
    shocks: Mapping[str, float]

    def __post_init__(self) -> None:
        clean: dict[str, float] = {}
        for factor, value in dict(self.shocks).items():
            if isinstance(value, bool) or not isinstance(value, int | float | np.number):
                raise ValueError(f"scenario {self.key!r}: shock on {factor!r} is not a number")
            if not math.isfinite(float(value)):
                raise ValueError(f"scenario {self.key!r}: shock on {factor!r} is not finite")
            clean[str(factor)] = float(value)
        object.__setattr__(self, "shocks", clean)


# --------------------------------------------------------------------------- covariance


def ewma_covariance(factor_returns: pd.DataFrame, decay: float = DEFAULT_DECAY) -> pd.DataFrame:
    """Exponentially weighted (RiskMetrics-style) covariance of daily factor changes.

    Parameters
    ----------
    factor_returns : DataFrame of shape (n_days, n_factors)
        Daily factor changes in factor units (decimal returns; decimal yield
        changes for the rate factor), indexed by date. Rows are sorted by index
        before weighting. The caller chooses the window (e.g. the last 252 days).
    decay : float, default=0.94
        λ in (0, 1]. ``1`` gives equal weights, i.e. the ordinary sample covariance.

    Returns
    -------
    DataFrame of shape (k, k)
        Daily covariance in factor units squared, index and columns the factors
        that have any data (in input order).

    Notes
    -----
    * Missing data: columns with no value at all are dropped (they would empty
      the sample); then only dates on which **every** remaining factor has a
      value are used (no pairwise estimates, so the matrix is positive
      semi-definite). A factor with a short history therefore shortens the
      sample of all factors: pass a window in which every factor has data.
    * Weights: over the T usable dates, ``w_t ∝ λ^(T-t)`` (newest date weight
      1 before normalization), normalized to sum to 1.
    * Centring: on the **weighted** mean ``μ = Σ w_t r_t``.
    * Scale: ``Σ w_t (r_t - μ)(r_t - μ)ᵀ / (1 - Σ w_t²)`` — the unbiased
      estimator for reliability weights (``numpy.cov(..., aweights=w)``). With
      λ = 1 it equals the equal-weight sample covariance (ddof=1) exactly; with
      λ = 0.94 and 252 days the factor ``1/(1 - Σw²)`` is about 1.03.
    * Fewer than two usable dates: an all-NaN matrix (no propagation downstream).

    Raises
    ------
    ValueError
        When ``decay`` is not in (0, 1].
    """
    if not (0.0 < decay <= 1.0):
        raise ValueError(f"decay must be in (0, 1], got {decay!r}")
    frame = factor_returns.sort_index().astype(float)
    frame = frame.loc[:, frame.notna().any(axis=0)]
    complete = frame.dropna(how="any")
    factors = list(frame.columns)
    n = len(complete)
    if n < 2:
        return pd.DataFrame(np.nan, index=factors, columns=factors)
    x = complete.to_numpy(dtype=float)
    age = np.arange(n - 1, -1, -1, dtype=float)  # 0 for the newest date
    weights = np.exp(age * math.log(decay))
    weights /= weights.sum()
    centred = x - weights @ x
    cov = (centred * weights[:, None]).T @ centred
    cov /= 1.0 - float(weights @ weights)
    cov = 0.5 * (cov + cov.T)
    return pd.DataFrame(cov, index=factors, columns=factors)


def covariance_to_correlation(covariance: pd.DataFrame) -> pd.DataFrame:
    """Correlation matrix from a covariance matrix (same labels).

    ``ρ_ij = Σ_ij / sqrt(Σ_ii Σ_jj)``, clipped to [-1, 1] against rounding, with
    an exact 1 on the diagonal. Rows and columns of a factor with zero or NaN
    variance are NaN.
    """
    cov = covariance.to_numpy(dtype=float)
    var = np.diag(cov).copy()
    sd = np.where(np.isfinite(var) & (var > 0), np.sqrt(np.where(var > 0, var, np.nan)), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    corr = np.clip(corr, -1.0, 1.0)
    ok = np.isfinite(sd)
    corr[np.diag_indices_from(corr)] = np.where(ok, 1.0, np.nan)
    return pd.DataFrame(corr, index=covariance.index, columns=covariance.columns)


def _usable_factors(cov: np.ndarray) -> np.ndarray:
    """Mask of factors with a finite positive variance and finite covariances among them."""
    var = np.diag(cov)
    usable = np.isfinite(var) & (var > 0)
    while usable.any():
        sub = cov[np.ix_(usable, usable)]
        bad_rows = ~np.isfinite(sub).all(axis=1)
        if not bad_rows.any():
            break
        idx = np.flatnonzero(usable)
        usable[idx[bad_rows]] = False
    return usable


def _pinv_symmetric(matrix: np.ndarray, tolerance: float = EIGEN_TOLERANCE) -> np.ndarray:
    """Pseudo-inverse of a symmetric positive semi-definite matrix via its eigenvalues."""
    values, vectors = np.linalg.eigh(matrix)
    cutoff = tolerance * max(float(values.max(initial=0.0)), 0.0)
    inverse = np.zeros_like(values)
    keep = values > cutoff
    inverse[keep] = 1.0 / values[keep]
    return (vectors * inverse) @ vectors.T


def propagate_shocks(
    shocks: Mapping[str, float], covariance: pd.DataFrame, model: MoveModel | None = None
) -> pd.Series:
    """Full factor move vector: given shocks plus the conditional expectation of the rest.

    Parameters
    ----------
    shocks : Mapping[str, float]
        Shocked factor -> shock in proxy units (decimal return; yield change for
        additive factors). Factors not in ``covariance`` are ignored here (the
        caller applies them directly).
    covariance : DataFrame of shape (k, k)
        Factor covariance in propagation space (:func:`propagation_returns`,
        then :func:`ewma_covariance`): daily log returns, daily changes for the
        additive factors.
    model : MoveModel, optional
        Which factors are additive (default ``MoveModel()``: none, every factor
        is a return factor).

    Returns
    -------
    Series of shape (k,), indexed by the covariance's factors
        Shocked factors keep their shock; every unshocked factor U gets
        ``x_U = Σ_US Σ_SS⁻¹ x_S`` (Gaussian conditional mean, zero-mean moves)
        with ``x = log(1 + r)`` for return factors, converted back to a simple
        return ``exp(x_U) − 1`` (so > −100 %).

    Raises
    ------
    ValueError
        When a return factor's shock is −100 % or lower (no log return exists).

    Notes
    -----
    The solve is done on correlations with standardized shocks
    (``z_U = R_US R_SS⁺ z_S``, ``s = σ z``), identical to the formula above but
    independent of the factors' scales (a rate factor's variance is ~1e-7, VIX's
    ~1e-2). ``R_SS⁺`` is an eigenvalue pseudo-inverse (:data:`EIGEN_TOLERANCE`),
    so collinear shocked factors give the least-squares answer instead of noise.
    A factor with NaN or zero variance (no usable data) neither conditions the
    others nor receives a propagated move: it gets 0 unless it is shocked.
    """
    factors = list(covariance.index)
    if list(covariance.columns) != factors:
        covariance = covariance.reindex(columns=factors)
    cov = covariance.to_numpy(dtype=float)
    out = pd.Series(0.0, index=covariance.index, name="shock", dtype=float)
    position = {f: i for i, f in enumerate(factors)}
    given = {f: float(v) for f, v in shocks.items() if f in position}
    for f, v in given.items():
        out.iloc[position[f]] = v
    model = model or MoveModel()
    is_return = np.array([f not in model.additive for f in factors], dtype=bool)
    for f, v in given.items():
        if is_return[position[f]] and v <= -1.0:
            raise ValueError(f"shock on {f!r} is {v!r}: a return cannot be -100 % or lower")
    usable = _usable_factors(cov) if len(factors) else np.zeros(0, dtype=bool)
    s_idx = [position[f] for f in given if usable[position[f]]]
    u_idx = [i for i in range(len(factors)) if usable[i] and factors[i] not in given]
    if not s_idx or not u_idx:
        return out
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    x_s = np.array([given[factors[i]] for i in s_idx])
    x_s = np.where(is_return[s_idx], np.log1p(np.where(is_return[s_idx], x_s, 0.0)), x_s)
    z_s = x_s / sd[s_idx]
    r_ss = corr[np.ix_(s_idx, s_idx)]
    r_us = corr[np.ix_(u_idx, s_idx)]
    z_u = r_us @ (_pinv_symmetric(r_ss) @ z_s)
    x_u = z_u * sd[u_idx]
    out.iloc[u_idx] = np.where(is_return[u_idx], np.expm1(x_u), x_u)
    return out


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class ScenarioResult:
    """Result of :func:`run_scenario`.

    Attributes
    ----------
    key, name, category : str
        From the scenario.
    direct_pnl_usd : float
        Linear P&L of the non-option positions under the shocked factors plus
        the option revaluation P&L under the direct underlying moves; NaN when
        no shocked factor has data.
    correlated_pnl_usd : float
        The same under the full (shocked + propagated) factor vector.
    partial : bool
        True when at least one shocked factor is unmapped.
    unmapped : tuple of str
        Shocked factors without exposure data, in scenario order.
    by_factor : DataFrame indexed by factor, columns :data:`BY_FACTOR_COLUMNS`
        ``shock`` (NaN if not shocked), ``propagated_shock`` (the full-vector
        move used for the correlated P&L), ``exposure_usd`` (Σ of the
        **non-option** dollar exposures), ``direct_pnl_usd`` and
        ``correlated_pnl_usd`` (exposure_usd × move). Unmapped factors are rows
        of NaN after the factors with data. These columns sum to the linear part
        only; options are added through their revaluation (``by_position``).
    by_position : DataFrame indexed by position id, columns :data:`BY_POSITION_COLUMNS`
        ``direct_pnl_usd`` / ``correlated_pnl_usd`` per position (options: their
        revaluation P&L); the option columns are NaN for non-option positions.
        Underlying moves are decimal returns, P&L in USD.
    notes : tuple of str
        Why anything is partial, missing or approximated.
    """

    key: str
    name: str
    category: str
    direct_pnl_usd: float
    correlated_pnl_usd: float
    partial: bool
    unmapped: tuple[str, ...]
    by_factor: pd.DataFrame
    by_position: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)


def _check_inputs(exposures: pd.DataFrame, options: pd.DataFrame | None) -> None:
    if not exposures.index.is_unique:
        raise ValueError("exposures has duplicate position ids")
    if not exposures.columns.is_unique:
        raise ValueError("exposures has duplicate factor columns")
    if options is not None:
        missing = [c for c in OPTION_COLUMNS if c not in options.columns]
        if missing:
            raise ValueError(f"options lacks columns: {', '.join(missing)}")
        if not options.index.is_unique:
            raise ValueError("options has duplicate position ids")


def _data_factors(exposures: pd.DataFrame) -> list[str]:
    """Exposure columns that hold data (any non-NaN value; every column when there are no rows)."""
    if len(exposures) == 0:
        return list(exposures.columns)
    has_data = exposures.notna().any(axis=0)
    return [c for c in exposures.columns if bool(has_data[c])]


def _option_betas(
    options: pd.DataFrame,
    exposures: pd.DataFrame,
    factors: list[str],
    underlying_betas: pd.DataFrame | None,
) -> tuple[np.ndarray, list[str | None]]:
    """Beta of each option's underlying to each factor, shape (n_options, n_factors).

    From ``underlying_betas`` (NaN beta = 0); for an underlying missing there (or
    with no beta at all), derived from the option's exposure row divided by its
    delta-adjusted exposure (delta × spot), which is how the exposure rows are
    built. NaN row when neither is available. Returns the betas and, per
    option, the note saying which fallback was taken (None when none was).
    """
    n = len(options)
    notes: list[str | None] = [None] * n
    if not factors:
        return np.zeros((n, 0)), notes
    betas = np.full((n, len(factors)), np.nan)
    underlyings = options["underlying"]
    if underlying_betas is not None:
        table = underlying_betas.reindex(columns=factors).astype(float)
        table = table.loc[table.notna().any(axis=1)]
        found = underlyings.isin(table.index).to_numpy()
        if found.any():
            betas[found] = table.reindex(underlyings[found]).fillna(0.0).to_numpy(dtype=float)
    dollar_delta = (
        options["delta"].astype(float).to_numpy() * options["spot"].astype(float).to_numpy()
    )
    for row in np.flatnonzero(~np.isfinite(betas).all(axis=1)):
        pid, underlying = options.index[row], underlyings.iloc[row]
        if pid in exposures.index and np.isfinite(dollar_delta[row]) and dollar_delta[row] != 0.0:
            exposure_row = exposures.loc[pid, factors].astype(float).fillna(0.0).to_numpy()
            betas[row] = exposure_row / dollar_delta[row]
            notes[row] = (
                f"option {pid}: no betas for underlying {underlying}; "
                "derived from its exposure row / (delta × spot)"
            )
        else:
            notes[row] = (
                f"option {pid}: no betas for underlying {underlying} and no usable exposure row; "
                "not revalued, left out of the totals"
            )
    return betas, notes


def _floored_linear_pnl(pnl: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear P&L bounded by a −100 % move of the position: ``value × max(pnl / value, −1)``.

    ``value`` is the signed position value (USD), broadcast against ``pnl``: a
    long (value > 0) loses at most its value, a short (value < 0) gains at most
    its absolute value. NaN or zero values are left unfloored. Returns
    ``(pnl, floored mask)``.
    """
    value = np.broadcast_to(value, pnl.shape)
    floored = np.isfinite(value) & (value != 0.0) & np.isfinite(pnl)
    floored[floored] = pnl[floored] / value[floored] < -1.0
    return np.where(floored, -value, pnl), floored


def _option_arrays(options: pd.DataFrame) -> dict[str, np.ndarray]:
    """The BSM inputs of ``options`` as float arrays (``kind`` as str)."""
    dividend = (
        options["dividend_yield"].astype(float).fillna(0.0).to_numpy()
        if "dividend_yield" in options.columns
        else np.zeros(len(options))
    )
    arrays = {
        c: options[c].astype(float).to_numpy() for c in ("spot", "strike", "years", "rate", "vol")
    }
    return {"kind": options["option_type"].to_numpy(dtype=str), **arrays, "dividend": dividend}


def _bsm_price(a: Mapping[str, np.ndarray], spot: np.ndarray) -> pd.DataFrame:
    """:func:`bsm_greeks` of the contracts ``a`` at ``spot``."""
    return bsm_greeks(a["kind"], spot, a["strike"], a["years"], a["rate"], a["vol"], a["dividend"])


def _revalue(a: Mapping[str, np.ndarray], move: np.ndarray) -> np.ndarray:
    """Stressed BSM price per share, shape (n_options, n_moves), for the underlying ``move``.

    One pricing call for every distinct (contract, move): an option held in many
    portfolios is priced once per move.
    """
    n, k = move.shape
    spot = a["spot"][:, None]
    new_spot = np.maximum(spot * (1.0 + move), spot * SPOT_FLOOR_FRACTION)
    kind = np.unique(a["kind"], return_inverse=True)[1].reshape(-1)
    keys = np.column_stack([
        np.repeat(np.column_stack([kind, *(a[c] for c in ("strike", "years", "rate", "vol", "dividend"))]), k, axis=0),
        new_spot.reshape(-1),
    ])  # fmt: skip
    frame = pd.DataFrame(keys)  # hash the rows (NaN a value like any other)
    inverse = frame.groupby(list(frame.columns), sort=False, dropna=False).ngroup().to_numpy()
    first = np.unique(inverse, return_index=True)[1]
    row = first // k
    priced = bsm_greeks(
        a["kind"][row], keys[first, 6], a["strike"][row], a["years"][row], a["rate"][row],
        a["vol"][row], a["dividend"][row],
    )["price"].to_numpy()  # fmt: skip
    return priced[inverse].reshape(n, k)


def _base_prices(
    options: pd.DataFrame, a: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    """BSM price per share at the current inputs and, per option, the note that it
    cannot be priced and the note that its given price is far from the model's."""
    greeks = _bsm_price(a, a["spot"])
    price = greeks["price"].to_numpy()
    cannot: list[str | None] = [None] * len(options)
    mismatch: list[str | None] = [None] * len(options)
    for row in np.flatnonzero(greeks["reason"].notna().to_numpy()):
        cannot[row] = (
            f"option {options.index[row]}: cannot be priced ({greeks['reason'].iloc[row]}); "
            "left out of the totals"
        )
    if "price" in options.columns:
        given = options["price"].astype(float).to_numpy()
        gap = np.abs(given - price)
        far = np.isfinite(gap) & (gap > np.maximum(0.01, PRICE_MISMATCH_TOLERANCE * np.abs(price)))
        for row in np.flatnonzero(far):
            mismatch[row] = (
                f"option {options.index[row]}: given price {given[row]:.4f} differs from the BSM "
                f"price {price[row]:.4f} at the current inputs; P&L is measured from the BSM price"
            )
    return price, cannot, mismatch


@dataclass(frozen=True)
class ScenarioMoves:
    """One scenario's factor moves over one list of factors with data (shared by
    every portfolio with those factors and that covariance).

    Attributes
    ----------
    mapped : dict of str to float
        Shocked factors with data -> shock.
    unmapped : tuple of str
        Shocked factors without data, in scenario order.
    proxy_full : ndarray of shape (n_factors,)
        Shocks plus propagated moves (proxy units).
    direct, full : ndarray of shape (n_factors,)
        Design moves of the direct and correlated P&L (:func:`design_moves`).
    notes : tuple of str
        Notes on the shocks (no shocks, unmapped, not in the covariance).
    no_cov : tuple of int
        Indices of unshocked factors absent from the covariance (no propagated move).
    """

    mapped: dict[str, float]
    unmapped: tuple[str, ...]
    proxy_full: np.ndarray
    direct: np.ndarray
    full: np.ndarray
    notes: tuple[str, ...]
    no_cov: tuple[int, ...]

    @property
    def no_data(self) -> bool:
        """True when no shocked factor has data (both P&L figures NaN)."""
        return not self.mapped


def scenario_moves(
    scenario: Scenario, factors: Sequence[str], covariance: pd.DataFrame, model: MoveModel
) -> ScenarioMoves:
    """The :class:`ScenarioMoves` of ``scenario`` over ``factors`` (see :func:`run_scenario`)."""
    notes: list[str] = []
    shocks = dict(scenario.shocks)
    factors = list(factors)
    mapped = {f: s for f, s in shocks.items() if f in factors}
    unmapped = tuple(f for f in shocks if f not in mapped)
    if not shocks:
        notes.append("scenario has no shocks")
    elif not mapped:
        notes.append(f"{NO_DATA_NOTE} (unmapped: {', '.join(unmapped)})")
    elif unmapped:
        notes.append(f"unmapped (no exposure data, shock not applied): {', '.join(unmapped)}")
    propagated = propagate_shocks(mapped, covariance, model)
    proxy_direct = pd.Series([mapped.get(f, 0.0) for f in factors], index=factors, dtype=float)
    proxy_full = pd.Series(
        [mapped[f] if f in mapped else float(propagated.get(f, 0.0)) for f in factors],
        index=factors,
        dtype=float,
    )
    missing_cov = [f for f in mapped if f not in covariance.index]
    if missing_cov and mapped:
        notes.append(
            "shocked factors not in the covariance (no propagation from them): "
            + ", ".join(missing_cov)
        )
    return ScenarioMoves(
        mapped=mapped,
        unmapped=unmapped,
        proxy_full=proxy_full.to_numpy(),
        direct=design_moves(proxy_direct, model, shocked=frozenset(mapped)).to_numpy(),
        full=design_moves(proxy_full, model).to_numpy(),
        notes=tuple(notes),
        no_cov=tuple(
            i for i, f in enumerate(factors) if f not in mapped and f not in covariance.index
        ),
    )


def _group_sums(values: np.ndarray, group: np.ndarray, n_groups: int) -> np.ndarray:
    """Σ over the rows of each group ``0..n_groups-1`` of ``values`` (NaN skipped), shape
    (n_groups, *values.shape[1:]); rows are added in order, so one group alone gives
    the same figures as many groups together."""
    out = np.zeros((n_groups, *values.shape[1:]))
    if len(values) == 0:
        return out
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    clean = np.where(np.isnan(values), 0.0, values)[order]
    nonempty = counts > 0
    out[nonempty] = np.add.reduceat(clean, starts[nonempty], axis=0)
    return out


@dataclass(frozen=True)
class ScenarioBatch:
    """Scenarios evaluated for the positions of one or many portfolios at once.

    Attributes
    ----------
    scenarios : tuple of Scenario
    factors : list of list of str
        Per portfolio, the factors with data, in exposure-column order.
    moves : list of list of ScenarioMoves
        Per portfolio, per scenario (objects shared between portfolios).
    exposure_usd : list of ndarray
        Per portfolio, Σ of the non-option dollar exposures per factor.
    direct_pnl_usd, correlated_pnl_usd : ndarray of shape (n_portfolios, n_scenarios)
        Totals (NaN where no shocked factor has data).
    notes : list of list of tuple of str
        Per portfolio, per scenario.
    position_ids : Index
        Every position (exposure rows, then options without one).
    portfolio : ndarray of int, shape (n_positions,)
        Portfolio number of each position.
    by_position : dict of str to ndarray of shape (n_positions, n_scenarios)
        :data:`BY_POSITION_COLUMNS`; the loss-floor columns are booleans valid
        where ``linear`` is True.
    linear : ndarray of bool, shape (n_positions,)
        Positions in the linear sum (not options).
    """

    scenarios: tuple[Scenario, ...]
    factors: list[list[str]]
    moves: list[list[ScenarioMoves]]
    exposure_usd: list[np.ndarray]
    direct_pnl_usd: np.ndarray
    correlated_pnl_usd: np.ndarray
    notes: list[list[tuple[str, ...]]]
    position_ids: pd.Index
    portfolio: np.ndarray
    by_position: dict[str, np.ndarray]
    linear: np.ndarray

    def by_factor(self, portfolio: int, scenario: int) -> tuple[list[str], np.ndarray]:
        """Factor labels (with data, then unmapped) and the :data:`BY_FACTOR_COLUMNS`
        values, shape (n_labels, 7), of one portfolio's scenario."""
        m = self.moves[portfolio][scenario]
        factors, exposure = self.factors[portfolio], self.exposure_usd[portfolio]
        shocks = self.scenarios[scenario].shocks
        values = np.full((len(factors) + len(m.unmapped), len(BY_FACTOR_COLUMNS)), np.nan)
        k = len(factors)
        values[:k, 0] = [m.mapped.get(f, np.nan) for f in factors]
        if not m.no_data:
            values[:k, 1], values[:k, 2], values[:k, 3] = m.proxy_full, m.direct, m.full
            values[:k, 5], values[:k, 6] = exposure * m.direct, exposure * m.full
        values[:k, 4] = exposure
        values[k:, 0] = [shocks[f] for f in m.unmapped]
        return [*factors, *m.unmapped], values

    def results(self, portfolio: int = 0) -> list[ScenarioResult]:
        """One portfolio's :class:`ScenarioResult` per scenario, in order."""
        rows = np.flatnonzero(self.portfolio == portfolio)
        ids = self.position_ids[rows]
        linear = self.linear[rows]
        out = []
        for s, scenario in enumerate(self.scenarios):
            labels, values = self.by_factor(portfolio, s)
            by_factor = pd.DataFrame(
                values, index=pd.Index(labels, name="factor"), columns=list(BY_FACTOR_COLUMNS)
            )
            by_position = pd.DataFrame(
                {c: self.by_position[c][rows, s] for c in BY_POSITION_COLUMNS}, index=ids
            )
            for c in ("loss_floor_direct", "loss_floor_correlated"):
                flags = pd.Series(self.by_position[c][rows, s], dtype=object)
                by_position[c] = flags.where(linear & (not self.moves[portfolio][s].no_data)).values
            m = self.moves[portfolio][s]
            out.append(ScenarioResult(
                key=scenario.key, name=scenario.name, category=scenario.category,
                direct_pnl_usd=float(self.direct_pnl_usd[portfolio, s]),
                correlated_pnl_usd=float(self.correlated_pnl_usd[portfolio, s]),
                partial=bool(m.unmapped), unmapped=m.unmapped, by_factor=by_factor,
                by_position=by_position, notes=self.notes[portfolio][s],
            ))  # fmt: skip
        return out


FLOOR_NOTES: dict[str, str] = {
    "l": "implied move ≤ -100 %, P&L floored at the position's value for",
    "o": "underlying move ≤ -100 %, stressed spot floored for options",
}
"""Floor kind (``l`` linear P&L, ``o`` option spot) -> the note's text before the ids."""


def evaluate_scenarios(
    scenarios: Sequence[Scenario],
    exposures: pd.DataFrame,
    covariances: Sequence[pd.DataFrame],
    options: pd.DataFrame | None = None,
    underlying_betas: pd.DataFrame | None = None,
    *,
    model: MoveModel | None = None,
    position_exposure_usd: pd.Series | None = None,
    portfolio: pd.Series | None = None,
    columns: Sequence[Sequence[str]] | None = None,
) -> ScenarioBatch:
    """Every scenario for the positions of one or many portfolios, as array operations.

    Parameters
    ----------
    scenarios, exposures, options, underlying_betas, model, position_exposure_usd
        As for :func:`run_scenario`, with the rows of every portfolio.
    covariances : sequence of DataFrame, one per portfolio
        Each portfolio's factor covariance (the same object for portfolios that
        share it: the moves are computed once per distinct covariance and list
        of factors with data).
    portfolio : Series of int indexed by position id, optional
        Portfolio number ``0..len(covariances)-1`` of every position (exposure
        rows and options). Default: every position in portfolio 0.
    columns : sequence of sequences of str, optional
        Per portfolio, the exposure columns it uses (default: all). A column
        counts as data for a portfolio when any of its rows has a value there.

    Returns
    -------
    ScenarioBatch
        Figures per portfolio equal to :func:`run_scenario` on that portfolio's rows.
    """
    _check_inputs(exposures, options)
    model = model or MoveModel()
    n_groups, n_s = len(covariances), len(scenarios)
    option_ids = options.index if options is not None else pd.Index([])
    position_ids = exposures.index.append(option_ids.difference(exposures.index, sort=False))
    group = (
        np.zeros(len(position_ids), dtype=int)
        if portfolio is None
        else portfolio.reindex(position_ids).to_numpy(dtype=int)
    )
    n_exp = len(exposures)
    ex_group = group[:n_exp]
    is_linear = np.zeros(len(position_ids), dtype=bool)
    is_linear[:n_exp] = ~exposures.index.isin(option_ids)
    x_all = exposures.to_numpy(dtype=float) if n_exp else np.zeros((0, exposures.shape[1]))
    col_of = {c: i for i, c in enumerate(exposures.columns)}
    has_data = _group_sums(np.isfinite(x_all).astype(float), ex_group, n_groups) > 0
    lin_x = np.where(np.isfinite(x_all), x_all, 0.0)
    lin_x[~is_linear[:n_exp]] = 0.0
    nonzero = _group_sums((lin_x != 0).astype(float), ex_group, n_groups) > 0
    exposure_all = _group_sums(lin_x, ex_group, n_groups)
    rows_in = np.bincount(ex_group, minlength=n_groups)

    factors: list[list[str]] = []
    keys: dict[tuple, list[int]] = {}
    for g in range(n_groups):
        cols = list(columns[g]) if columns is not None else list(exposures.columns)
        data = cols if rows_in[g] == 0 else [c for c in cols if has_data[g, col_of[c]]]
        factors.append(data)
        keys.setdefault((id(covariances[g]), tuple(data)), []).append(g)

    value = (
        position_exposure_usd.reindex(position_ids).astype(float).to_numpy()
        if position_exposure_usd is not None
        else np.full(len(position_ids), np.nan)
    )
    by_position = {c: np.full((len(position_ids), n_s), np.nan) for c in BY_POSITION_COLUMNS}
    by_position["loss_floor_direct"] = np.zeros((len(position_ids), n_s), dtype=bool)
    by_position["loss_floor_correlated"] = np.zeros((len(position_ids), n_s), dtype=bool)
    moves: list[list[ScenarioMoves]] = [[] for _ in range(n_groups)]
    option_notes: list[str | None] = [None] * len(option_ids)
    if len(option_ids):
        a = _option_arrays(options)
        base, cannot, mismatch = _base_prices(options, a)
        opt_rows = position_ids.get_indexer(option_ids)
        opt_group = group[opt_rows]
        scale = (
            options["quantity"].astype(float).to_numpy()
            * options["multiplier"].astype(float).to_numpy()
        )
        delta_usd = options["delta"].astype(float).to_numpy() * a["spot"]
    for (_, data), groups in keys.items():
        cov = covariances[groups[0]]
        ms = [scenario_moves(s, data, cov, model) for s in scenarios]
        for g in groups:
            moves[g] = ms
        cols = [col_of[c] for c in data]
        direct = np.column_stack([m.direct for m in ms]) if n_s else np.zeros((len(data), 0))
        full = np.column_stack([m.full for m in ms]) if n_s else np.zeros((len(data), 0))
        in_key = np.isin(group, groups)
        rows = np.flatnonzero(in_key[:n_exp] & is_linear[:n_exp])
        for label, move in (("direct", direct), ("correlated", full)):
            pnl = np.zeros((len(rows), n_s))
            for j, c in enumerate(cols):  # Σ_f x[:, f] × move[f], in factor order
                pnl += lin_x[rows, c][:, None] * move[j][None, :]
            pnl, floored = _floored_linear_pnl(pnl, value[rows][:, None])
            by_position[f"{label}_pnl_usd"][rows] = pnl
            by_position[f"loss_floor_{label}"][rows] = floored
        if not len(option_ids):
            continue
        o = np.flatnonzero(np.isin(opt_group, groups))
        if not len(o):
            continue
        betas, notes_o = _option_betas(options.iloc[o], exposures, data, underlying_betas)
        for i, note in zip(o, notes_o, strict=True):
            option_notes[i] = note
        sub = {c: v[o] for c, v in a.items()}
        for label, move in (("direct", direct), ("correlated", full)):
            um = betas @ move if len(data) else np.zeros((len(o), n_s))
            stressed = _revalue(sub, um)
            revaluation = (stressed - base[o][:, None]) * scale[o][:, None]
            r = opt_rows[o]
            by_position[f"underlying_move_{label}"][r] = um
            by_position[f"revaluation_pnl_{label}"][r] = revaluation
            by_position[f"delta_only_pnl_{label}"][r] = delta_usd[o][:, None] * np.maximum(um, -1.0)
            by_position[f"{label}_pnl_usd"][r] = revaluation

    no_data = np.array([[m.no_data for m in moves[g]] for g in range(n_groups)], dtype=bool)
    no_data = no_data.reshape(n_groups, n_s)
    for c in BY_POSITION_COLUMNS:
        if c.startswith("loss_floor"):
            by_position[c] &= ~no_data[group]
        else:
            by_position[c][no_data[group]] = np.nan
    totals = {}
    for label in ("direct", "correlated"):
        t = _group_sums(by_position[f"{label}_pnl_usd"], group, n_groups)
        totals[label] = np.where(no_data, np.nan, t)

    # notes, in run_scenario's order
    per_group_option: dict[int, list[int]] = {}
    if len(option_ids):
        for i, g in enumerate(opt_group):
            per_group_option.setdefault(int(g), []).append(i)
    floor_ids: dict[tuple[str, int, int], list] = {}
    for label in ("direct", "correlated"):
        for r, s in zip(
            *np.nonzero(by_position[f"loss_floor_{label}"] & is_linear[:, None]), strict=True
        ):
            floor_ids.setdefault((f"l{label}", int(group[r]), int(s)), []).append(position_ids[r])
        if len(option_ids):
            spot_floor = (
                1.0 + by_position[f"underlying_move_{label}"][opt_rows] <= SPOT_FLOOR_FRACTION
            )
            for i, s in zip(*np.nonzero(spot_floor), strict=True):
                floor_ids.setdefault((f"o{label}", int(opt_group[i]), int(s)), []).append(
                    option_ids[i]
                )
    notes: list[list[tuple[str, ...]]] = []
    for g in range(n_groups):
        mine = per_group_option.get(g, [])
        fixed = [cannot[i] for i in mine if cannot[i]] + [mismatch[i] for i in mine if mismatch[i]]
        fixed += [option_notes[i] for i in mine if option_notes[i]]
        row = []
        for s, m in enumerate(moves[g]):
            out = list(m.notes)
            no_cov = [factors[g][i] for i in m.no_cov if nonzero[g, col_of[factors[g][i]]]]
            if no_cov and not m.no_data:
                out.append(
                    "factors with exposure but no covariance (no propagated move): "
                    + ", ".join(no_cov)
                )
            for kind, floored in FLOOR_NOTES.items():
                if kind == "o":
                    out += fixed
                for label in ("direct", "correlated"):
                    ids = floor_ids.get((f"{kind}{label}", g, s))
                    if ids and not m.no_data:
                        out.append(f"{label}: {floored} " + ", ".join(map(str, ids)))
            row.append(tuple(out))
        notes.append(row)
    return ScenarioBatch(
        scenarios=tuple(scenarios),
        factors=factors,
        moves=moves,
        exposure_usd=[exposure_all[g, [col_of[c] for c in factors[g]]] for g in range(n_groups)],
        direct_pnl_usd=totals["direct"],
        correlated_pnl_usd=totals["correlated"],
        notes=notes,
        position_ids=position_ids,
        portfolio=group,
        by_position=by_position,
        linear=is_linear,
    )


def run_scenario(
    scenario: Scenario,
    exposures: pd.DataFrame,
    covariance: pd.DataFrame,
    options: pd.DataFrame | None = None,
    underlying_betas: pd.DataFrame | None = None,
    *,
    model: MoveModel | None = None,
    position_exposure_usd: pd.Series | None = None,
) -> ScenarioResult:
    """Direct and correlated P&L of one scenario, by factor and by position.

    Parameters
    ----------
    scenario : Scenario
    exposures : DataFrame of shape (n_positions, n_factors)
        Indexed by position id, columns the factor names with data; values the
        dollar factor exposure (USD per unit factor move). NaN = no exposure (0
        in sums). A column whose values are all NaN counts as "no data". Pass
        rows for **all** positions, options included: option rows are excluded
        from the linear sum here (see Notes).
    covariance : DataFrame of shape (k, k)
        Daily factor covariance (:func:`ewma_covariance`) for the propagation.
        Factors absent from it (or with NaN variance) get no propagated move.
    options : DataFrame indexed by position id, optional
        One row per option position with columns ``underlying``, ``option_type``
        ('C'/'P'), ``spot``, ``strike``, ``years``, ``rate``, ``vol``,
        ``dividend_yield`` (default 0), ``quantity``, ``multiplier``, ``price``
        (optional, premium per share; only compared with the model price) and
        ``delta`` (position delta, shares).
    underlying_betas : DataFrame indexed by underlying ticker, optional
        Beta of each underlying to each factor (factor units). An underlying
        missing here gets betas derived from its option's exposure row / (delta × spot).
    model : MoveModel, optional
        Additive factors and the spread design of the exposures (default
        ``MoveModel()``: every factor a return factor, no spreads).
    position_exposure_usd : Series indexed by position id, optional
        Signed value (USD) of each linear position (delta-adjusted exposure;
        market value for stocks), for the loss floor: a position's P&L is
        bounded by a −100 % move of its underlying. Without it no floor is applied.

    Returns
    -------
    ScenarioResult

    Notes
    -----
    * Mapping: a shocked factor is *mapped* when ``exposures`` has a column with
      data for it; others are listed in ``unmapped``, ``partial`` is True and
      they contribute nothing — neither directly, nor to the option moves, nor
      as conditioning information in the propagation. If no shocked factor is
      mapped both P&L figures are NaN with the note :data:`NO_DATA_NOTE`.
    * Options are **revalued, not delta-scaled**: the underlying move is
      ``Σ_f beta[underlying, f] × move[f]`` over the mapped factors (direct: the
      shocks only; correlated: the full vector); the new spot
      ``spot × (1 + move)`` (floored at :data:`SPOT_FLOOR_FRACTION` × spot) is
      repriced with :func:`bsm_greeks` at the same vol, rate, years and dividend
      yield; P&L = (stressed − current BSM price) × quantity × multiplier. The
      delta-only P&L (delta × spot × move) is reported beside it for comparison.
      **Every position id in ``options`` is dropped from the linear exposure sum**
      so an option's P&L is counted once, through its revaluation.
    * An option that cannot be revalued (no betas, unpriceable inputs) has NaN
      P&L, is left out of the totals, and a note says so.
    """
    return run_scenarios(
        [scenario], exposures, covariance, options, underlying_betas,
        model=model, position_exposure_usd=position_exposure_usd,
    )[0]  # fmt: skip


def option_inputs(positions: pd.DataFrame, dividend_yield: float = 0.0) -> pd.DataFrame | None:
    """The ``options`` frame of :func:`run_scenario` for the option positions, or None.

    Parameters
    ----------
    positions : DataFrame indexed by position id
        Positions joined with their valuation and Greeks: ``underlying``,
        ``option_type`` ('C'/'P'/None), ``underlying_price``, ``strike``,
        ``years_to_expiry``, ``risk_free_rate``, ``implied_vol``, ``quantity``,
        ``multiplier``, ``price``, ``delta`` and optionally ``expired``.
    dividend_yield : float, default=0.0
        Continuous dividend yield (decimal) of every underlying.

    Returns
    -------
    DataFrame of :data:`OPTION_COLUMNS` plus ``dividend_yield`` and ``price``, or None
        None when no option is left: options flagged ``expired`` (settled before
        the as-of) are out of the book and are not revalued.
    """
    is_option = positions["option_type"].isin(["C", "P"])
    if "expired" in positions:
        is_option &= ~positions["expired"].fillna(False).astype(bool)
    if not is_option.any():
        return None
    opt = positions.loc[is_option]
    return pd.DataFrame({
        "underlying": opt["underlying"], "option_type": opt["option_type"], "spot": opt["underlying_price"],
        "strike": opt["strike"], "years": opt["years_to_expiry"], "rate": opt["risk_free_rate"],
        "vol": opt["implied_vol"], "dividend_yield": dividend_yield,
        "quantity": opt["quantity"], "multiplier": opt["multiplier"], "price": opt["price"], "delta": opt["delta"],
    })  # fmt: skip


def run_scenarios(
    scenarios: Sequence[Scenario],
    exposures: pd.DataFrame,
    covariance: pd.DataFrame,
    options: pd.DataFrame | None = None,
    underlying_betas: pd.DataFrame | None = None,
    *,
    model: MoveModel | None = None,
    position_exposure_usd: pd.Series | None = None,
) -> list[ScenarioResult]:
    """:func:`run_scenario` for each scenario, in order (see it for the arguments).

    One portfolio through :func:`evaluate_scenarios`, the core the all-portfolio
    evaluation uses too.
    """
    batch = evaluate_scenarios(
        scenarios, exposures, [covariance], options, underlying_betas,
        model=model, position_exposure_usd=position_exposure_usd,
    )  # fmt: skip
    return batch.results(0)


def scenario_summary(results: Sequence[ScenarioResult]) -> pd.DataFrame:
    """One row per scenario, indexed by key, columns :data:`SUMMARY_COLUMNS`.

    ``unmapped`` and ``notes`` are joined with ``", "`` and ``"; "``.
    """
    rows = [
        {
            "key": r.key,
            "name": r.name,
            "category": r.category,
            "direct_pnl_usd": r.direct_pnl_usd,
            "correlated_pnl_usd": r.correlated_pnl_usd,
            "partial": r.partial,
            "unmapped": ", ".join(r.unmapped),
            "notes": "; ".join(r.notes),
        }
        for r in results
    ]
    frame = pd.DataFrame(rows, columns=["key", *SUMMARY_COLUMNS])
    return frame.set_index("key")
