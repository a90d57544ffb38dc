"""Pairwise correlations of asset returns and the portfolio's diversification metrics.

Correlations are Pearson correlations of daily returns over the last ``window``
rows with pairwise deletion: each pair uses the dates on which both assets have
a return, and a pair with fewer than ``min_overlap`` such dates is NaN — the
semantics of ``pandas.DataFrame.corr(min_periods=min_overlap)``, computed for
all pairs at once from masked matrix products.

Portfolio metrics (:func:`portfolio_correlation_metrics`) take one signed USD
exposure per asset (the caller rolls positions up to their underlying, options
through their delta-adjusted exposure):

- exposure-weighted average pairwise correlation, weights ``|e_i| |e_j|``;
- diversification ratio ``Σ |e_i| σ_i / σ_p`` (Choueifaty & Coignard, 2008);
- effective number of bets: Meucci's entropy of the principal-component risk
  contributions (Meucci, "Managing Diversification", Risk 22(5), 2009);
- most and least correlated pairs;
- hierarchical clusters (average linkage on ``sqrt((1 - ρ) / 2)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_WINDOW = 252
DEFAULT_MIN_OVERLAP = 60
DEFAULT_TOP_N = 10
DEFAULT_CLUSTER_THRESHOLD = 0.5
ZERO_VARIANCE_TOLERANCE = 1e-24
"""A centered sum of squares below this fraction of the raw Σx² counts as zero variance."""
PSD_TOLERANCE = 1e-10
"""Eigenvalues below ``-PSD_TOLERANCE × max |λ|`` mark a covariance as not positive semidefinite."""
PAIR_COLUMNS = ("asset_1", "asset_2", "correlation", "overlap")


@dataclass(frozen=True)
class CorrelationMetrics:
    """Result of :func:`portfolio_correlation_metrics`.

    Attributes
    ----------
    average_correlation : float
        ``Σ_{i<j} |e_i||e_j| ρ_ij / Σ_{i<j} |e_i||e_j|`` over the pairs of
        included assets that have a correlation; NaN with fewer than two
        included assets.
    diversification_ratio : float
        ``Σ |e_i| σ_i / σ_p`` (≥ 1; 1 = no diversification, large for hedged
        long/short books), σ from the daily return covariance and signed ``e``.
    effective_bets : float
        Meucci's effective number of (uncorrelated) bets, between 1 and the
        number of assets used.
    most_correlated, least_correlated : DataFrame
        Columns ``asset_1, asset_2, correlation, overlap``: the ``top_n`` pairs
        with the highest (resp. lowest, i.e. most negative) correlation, in
        that order; ``overlap`` is the number of common return days.
    clusters : Series of int
        Included asset -> cluster id ``1..k``; cluster 1 carries the largest
        gross exposure, then 2, and so on.
    excluded : Series of object
        Asset -> reason, for the assets of ``exposure_usd`` left out of every
        metric.
    correlation : DataFrame of shape (n_included, n_included)
        Pairwise correlations of the included assets (NaN where the pair has
        too little overlap).
    overlap : DataFrame of int, shape (n_included, n_included)
        Common return days per pair (diagonal: the asset's own return days).
    notes : tuple of str
        Why a metric is NaN, which assets the diversification ratio and the
        effective bets leave out, covariance repairs.
    window_start, window_end : Timestamp or None
        First and last row of the window.
    """

    average_correlation: float
    diversification_ratio: float
    effective_bets: float
    most_correlated: pd.DataFrame
    least_correlated: pd.DataFrame
    clusters: pd.Series
    excluded: pd.Series
    correlation: pd.DataFrame
    overlap: pd.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)
    window_start: pd.Timestamp | None = None
    window_end: pd.Timestamp | None = None


def _check_parameters(window: int, min_overlap: int) -> None:
    if window < 1:
        raise ValueError(f"window must be at least 1 row, got {window!r}")
    if min_overlap < 1:
        raise ValueError(f"min_overlap must be at least 1 observation, got {min_overlap!r}")


def _check_unique(labels: pd.Index, what: str) -> None:
    if labels.has_duplicates:
        dupes = sorted({str(label) for label in labels[labels.duplicated()]})
        raise ValueError(f"{what} must be unique, duplicated: {dupes}")


def _last_rows(returns: pd.DataFrame, window: int) -> pd.DataFrame:
    """The last ``window`` rows of ``returns`` in index order."""
    if not returns.index.is_monotonic_increasing:
        returns = returns.sort_index()
    return returns.iloc[-window:]


def _pairwise(x: np.ndarray, min_overlap: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlap counts, correlations and volatilities of the columns of ``x`` (n_rows, k).

    Every pair uses the rows where both columns are finite. Columns are first
    centered on their own mean (which changes no correlation or covariance)
    so that the one-pass sums ``Σxy − Σx Σy / n`` lose little to cancellation.
    Counts, co-moments and both variances of every pair come from four
    masked matrix products (no loop over pairs).

    Returns
    -------
    counts : ndarray of int, shape (k, k)
    correlation : ndarray of shape (k, k)
        NaN where the pair has fewer than ``min_overlap`` common rows or one
        side has zero variance on them; the diagonal is exactly 1.0 otherwise.
    volatility : ndarray of shape (k,)
        Sample standard deviation (ddof=1) of each column's own returns, NaN
        where the diagonal correlation is NaN.
    """
    mask = np.isfinite(x)
    m = mask.astype(float)
    raw = np.where(mask, x, 0.0)
    own = m.sum(axis=0)
    centered = np.where(mask, raw - raw.sum(axis=0) / np.maximum(own, 1.0), 0.0)

    n = m.T @ m
    s = centered.T @ m  # s[i, j] = Σ x_i over the rows where i and j are both observed
    sxx = (centered * centered).T @ m  # same rows, Σ x_i²
    sxy = centered.T @ centered
    raw_sxx = (raw * raw).T @ m
    with np.errstate(divide="ignore", invalid="ignore"):
        cxy = sxy - s * s.T / n
        cxx = sxx - s * s / n  # centered Σ x_i² over the pair's rows
        flat_x = cxx <= ZERO_VARIANCE_TOLERANCE * raw_sxx
        valid = (n >= min_overlap) & ~flat_x & ~flat_x.T
        corr = np.where(valid, cxy / np.sqrt(cxx * cxx.T), np.nan)
    corr = np.clip(corr, -1.0, 1.0)
    upper = np.triu_indices(x.shape[1], 1)
    corr[upper[::-1]] = corr[upper]  # exactly symmetric
    diag = np.diag_indices(x.shape[1])
    corr[diag] = np.where(valid[diag], 1.0, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        volatility = np.where(valid[diag], np.sqrt(np.abs(cxx[diag]) / (n[diag] - 1.0)), np.nan)
    return n.round().astype(int), corr, volatility


def pairwise_statistics(
    returns: np.ndarray, min_overlap: int = DEFAULT_MIN_OVERLAP
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlap counts (int), correlations and volatilities of the columns of ``returns``.

    ``returns`` is an ndarray of shape (n_rows, k) of daily simple returns
    (decimal, NaN where missing); pairwise deletion as in :func:`correlation_matrix`.
    Returns arrays of shape (k, k), (k, k) and (k,); see :func:`metrics_from_pairwise`.
    """
    return _pairwise(np.asarray(returns, dtype=float), min_overlap)


def correlation_matrix(
    returns: pd.DataFrame,
    *,
    window: int = DEFAULT_WINDOW,
    min_overlap: int = DEFAULT_MIN_OVERLAP,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairwise Pearson correlations of daily returns over the last ``window`` rows.

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Daily simple returns (decimal), indexed by date (sorted if it is not),
        one column per asset; NaN (or ±inf) where an asset has no return.
    window : int, default=252
        Rows: the last ``window`` rows of ``returns`` are used.
    min_overlap : int, default=60
        A pair with fewer common return days is NaN.

    Returns
    -------
    correlation : DataFrame of shape (n_assets, n_assets)
        Equal to ``returns.iloc[-window:].corr(min_periods=min_overlap)``:
        each pair over the days where both have a return (pairwise deletion),
        clipped to [-1, 1]. NaN for pairs with fewer than ``min_overlap``
        common days or where either asset is constant on them; the diagonal
        is 1.0, or NaN when the asset has fewer than ``min_overlap`` returns
        (or constant returns).
    overlap : DataFrame of int, shape (n_assets, n_assets)
        Number of common return days per pair; the diagonal is each asset's
        own count. Empty frames when ``returns`` has no columns.

    Raises
    ------
    ValueError
        When ``window`` or ``min_overlap`` is below 1, or columns repeat.
    """
    _check_parameters(window, min_overlap)
    _check_unique(returns.columns, "returns columns")
    frame = _last_rows(returns, window)
    counts, corr, _ = _pairwise(frame.to_numpy(dtype=float), min_overlap)
    assets = returns.columns
    return (
        pd.DataFrame(corr, index=assets, columns=assets),
        pd.DataFrame(counts, index=assets, columns=assets),
    )


def _risk_decomposition(
    covariance: np.ndarray, exposure: np.ndarray
) -> tuple[float, np.ndarray, bool]:
    """Portfolio variance and its split over the principal components.

    Returns ``(σ_p², contributions (λ_k (v_kᵀe)²), repaired)``; negative
    eigenvalues (a covariance built from pairwise correlations need not be
    positive semidefinite) are
    set to zero and ``repaired`` says whether any was materially negative.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    scale = float(np.max(np.abs(eigenvalues))) if eigenvalues.size else 0.0
    repaired = bool(eigenvalues.size and eigenvalues.min() < -PSD_TOLERANCE * scale)
    eigenvalues = np.clip(eigenvalues, 0.0, None)
    contributions = eigenvalues * (eigenvectors.T @ exposure) ** 2
    return float(contributions.sum()), contributions, repaired


def _usable(covariance: np.ndarray, exposure: np.ndarray) -> bool:
    return (
        covariance.size > 0
        and bool(np.isfinite(covariance).all())
        and bool(np.isfinite(exposure).all())
    )


def _diversification_ratio(covariance: np.ndarray, exposure: np.ndarray, variance: float) -> float:
    if variance <= 0.0:
        return float("nan")
    stand_alone = float(np.abs(exposure) @ np.sqrt(np.clip(np.diag(covariance), 0.0, None)))
    return stand_alone / float(np.sqrt(variance))


def _effective_bets(contributions: np.ndarray, variance: float) -> float:
    if variance <= 0.0:
        return float("nan")
    p = contributions / variance
    p = p[p > 0.0]  # 0 ln 0 = 0
    return float(np.exp(-np.sum(p * np.log(p))))


def _aligned(covariance: pd.DataFrame, exposure_usd: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    exposure = exposure_usd.reindex(covariance.index).to_numpy(dtype=float)
    cov = covariance.reindex(columns=covariance.index).to_numpy(dtype=float)
    return cov, exposure


def diversification_ratio(covariance: pd.DataFrame, exposure_usd: pd.Series) -> float:
    """Choueifaty's diversification ratio ``Σ |e_i| σ_i / sqrt(eᵀ Σ e)``.

    Parameters
    ----------
    covariance : DataFrame of shape (n_assets, n_assets)
        Covariance of daily returns (decimal²), indexed and labelled by asset.
    exposure_usd : Series
        Signed USD exposure per asset, aligned on ``covariance``'s index.

    Returns
    -------
    float
        ≥ 1 (1.0 for a single asset); NaN when anything is missing or the
        portfolio variance is zero. Negative eigenvalues of the covariance are
        set to zero first.
    """
    cov, exposure = _aligned(covariance, exposure_usd)
    if not _usable(cov, exposure):
        return float("nan")
    variance, _, _ = _risk_decomposition(cov, exposure)
    return _diversification_ratio(cov, exposure, variance)


def effective_bets(covariance: pd.DataFrame, exposure_usd: pd.Series) -> float:
    """Meucci's effective number of bets from the principal components of ``covariance``.

    With eigenpairs ``(λ_k, v_k)`` of the covariance, ``p_k = λ_k (v_kᵀe)² / σ_p²``
    is the share of the portfolio variance carried by component k and the
    effective number of bets is ``exp(−Σ p_k ln p_k)`` (Meucci, "Managing
    Diversification", Risk 22(5), 2009).

    Parameters
    ----------
    covariance : DataFrame of shape (n_assets, n_assets)
        Covariance of daily returns, indexed and labelled by asset.
    exposure_usd : Series
        Signed USD exposure per asset, aligned on ``covariance``'s index.

    Returns
    -------
    float
        Between 1 and n_assets (1.0 for a single asset or perfectly correlated
        assets); NaN when anything is missing or the portfolio variance is
        zero. When eigenvalues coincide (e.g. uncorrelated assets of identical
        variance) the principal components, hence the result, are not unique;
        sample covariances of real returns do not have this problem.
    """
    cov, exposure = _aligned(covariance, exposure_usd)
    if not _usable(cov, exposure):
        return float("nan")
    variance, contributions, _ = _risk_decomposition(cov, exposure)
    return _effective_bets(contributions, variance)


def _clusters(corr: np.ndarray, gross: np.ndarray, threshold: float) -> np.ndarray:
    """Cluster ids 1..k: average linkage on ``sqrt((1 − ρ)/2)``, missing distances 1."""
    if corr.shape[0] == 1:
        return np.ones(1, dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    distance = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, 1.0))
    distance[~np.isfinite(distance)] = 1.0
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    raw = fcluster(tree, t=threshold, criterion="distance")
    # renumber: largest gross exposure first, ties by first appearance
    labels = list(dict.fromkeys(raw))
    weight = {label: gross[raw == label].sum() for label in labels}
    order = sorted(labels, key=lambda label: (-weight[label], labels.index(label)))
    new_id = {label: i + 1 for i, label in enumerate(order)}
    return np.array([new_id[label] for label in raw], dtype=int)


def _pairs(assets: pd.Index, corr: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """Every pair i<j with a correlation, in asset order."""
    i, j = np.triu_indices(len(assets), 1)
    keep = np.isfinite(corr[i, j])
    i, j = i[keep], j[keep]
    return pd.DataFrame(
        {
            "asset_1": pd.Series(assets[i], dtype=object),
            "asset_2": pd.Series(assets[j], dtype=object),
            "correlation": corr[i, j],
            "overlap": counts[i, j].astype(int),
        },
        columns=list(PAIR_COLUMNS),
    )


def _drop_until_complete(
    corr: np.ndarray, own: np.ndarray, gross: np.ndarray
) -> tuple[np.ndarray, list[tuple[int, list[int]]]]:
    """Assets kept so that every pair has a correlation, and the ones dropped.

    Greedy: drop the asset missing the most pairs (ties: fewer return days,
    then smaller gross exposure, then the later one). Returns the kept
    positions and ``[(dropped position, positions it lacked overlap with)]``.
    """
    keep = np.arange(corr.shape[0])
    dropped: list[tuple[int, list[int]]] = []
    while True:
        missing = ~np.isfinite(corr[np.ix_(keep, keep)])
        per_asset = missing.sum(axis=1)
        if not per_asset.any():
            return keep, dropped
        worst = max(
            range(len(keep)),
            key=lambda k: (per_asset[k], -own[keep[k]], -gross[keep[k]], k),
        )
        dropped.append((int(keep[worst]), [int(p) for p in keep[missing[worst]]]))
        keep = np.delete(keep, worst)


def _series(values: list, index: list, name: str, dtype, index_name) -> pd.Series:
    return pd.Series(values, index=pd.Index(index, name=index_name), name=name, dtype=dtype)


def portfolio_correlation_metrics(
    returns: pd.DataFrame,
    exposure_usd: pd.Series,
    *,
    window: int = DEFAULT_WINDOW,
    min_overlap: int = DEFAULT_MIN_OVERLAP,
    top_n: int = DEFAULT_TOP_N,
    cluster_threshold: float = DEFAULT_CLUSTER_THRESHOLD,
) -> CorrelationMetrics:
    """Correlation and diversification metrics of a portfolio of assets.

    Parameters
    ----------
    returns : DataFrame of shape (n_days, n_assets)
        Daily simple returns (decimal) indexed by date, one column per asset
        (columns not in ``exposure_usd`` are ignored); NaN where missing.
    exposure_usd : Series of shape (n_positions,)
        Signed USD exposure per asset, index matching ``returns``' columns.
        The caller aggregates positions to their underlying, options through
        their delta-adjusted exposure.
    window : int, default=252
        The last ``window`` rows of ``returns`` are used.
    min_overlap : int, default=60
        Minimum common return days for a correlation (and an asset's own
        minimum number of returns).
    top_n : int, default=10
        Rows of ``most_correlated`` and ``least_correlated``.
    cluster_threshold : float, default=0.5
        Cut height of the average-linkage tree on the distance
        ``d_ij = sqrt((1 − ρ_ij) / 2)`` (scipy ``fcluster(criterion='distance')``);
        0.5 groups assets whose average distance is at most 0.5, i.e. roughly
        an average correlation of 0.5 or more.

    Returns
    -------
    CorrelationMetrics

    Notes
    -----
    *Exclusion.* An asset of ``exposure_usd`` is left out, with its reason in
    ``excluded``, when it has no column in ``returns``, a missing or zero
    exposure, no returns or fewer than ``min_overlap`` returns in the window,
    constant returns, or (with two or more other usable assets) fewer than
    ``min_overlap`` common days with every one of them. With fewer than two
    included assets the three metrics are NaN with a note (nothing raises).

    *Average correlation* weights each pair by ``|e_i| |e_j|``: it measures
    how much the book's holdings move together, whatever their side, so a
    long/short pair of correlated stocks counts as correlated (the hedge
    shows in the diversification ratio). Pairs without a correlation are
    left out of both sums.

    *Covariance.* The diversification ratio and the effective bets use
    ``Σ_ij = ρ_ij σ_i σ_j``: the pairwise correlations above (pairwise
    deletion) and each asset's sample volatility (ddof=1) over its own returns
    in the window, with signed exposures: ``σ_p² = eᵀ Σ e``. With complete
    data this is exactly the sample covariance of the window; with gaps it
    keeps every implied correlation within [-1, 1] (a pairwise-complete
    covariance does not) and matches the correlations reported. With three or
    more assets and gaps it can still fail to be positive semidefinite; its
    negative eigenvalues are then set to zero (noted). If some included pairs have no
    correlation, these two metrics are computed without the assets missing
    the most pairs (greedily, noted) so that the covariance is complete.

    *Effective bets* follow Meucci (2009): ``exp(−Σ p_k ln p_k)`` with
    ``p_k = λ_k (v_kᵀ e)² / σ_p²`` over the eigenpairs of the covariance.

    *Clusters.* A pair without a correlation gets the maximum distance 1.
    """
    _check_parameters(window, min_overlap)
    if top_n < 0:
        raise ValueError(f"top_n must be at least 0, got {top_n!r}")
    if not np.isfinite(cluster_threshold) or cluster_threshold < 0:
        raise ValueError(f"cluster_threshold must be a distance >= 0, got {cluster_threshold!r}")
    _check_unique(returns.columns, "returns columns")
    _check_unique(exposure_usd.index, "exposure_usd index")

    frame = _last_rows(returns, window)
    exposure = exposure_usd.astype(float)
    reasons = unusable_exposures(exposure, frame.columns)
    candidates = [a for a in exposure.index if a not in reasons]
    counts, corr, volatility = _pairwise(frame[candidates].to_numpy(dtype=float), min_overlap)
    return metrics_from_pairwise(
        exposure, reasons, candidates, counts, corr, volatility,
        rows=len(frame),
        window_start=frame.index[0] if len(frame) else None,
        window_end=frame.index[-1] if len(frame) else None,
        min_overlap=min_overlap, top_n=top_n, cluster_threshold=cluster_threshold,
    )  # fmt: skip


def unusable_exposures(exposure: pd.Series, columns: pd.Index) -> dict[object, str]:
    """Asset -> why it is left out before any return is looked at (no column, no exposure)."""
    reasons: dict[object, str] = {}
    for asset, value in exposure.items():
        if asset not in columns:
            reasons[asset] = "no returns column for this asset"
        elif not np.isfinite(value):
            reasons[asset] = "exposure is missing"
        elif value == 0.0:
            reasons[asset] = "zero exposure"
    return reasons


def metrics_from_pairwise(
    exposure_usd: pd.Series,
    reasons: dict[object, str],
    candidates: list,
    counts: np.ndarray,
    corr: np.ndarray,
    volatility: np.ndarray,
    *,
    rows: int,
    window_start: pd.Timestamp | None,
    window_end: pd.Timestamp | None,
    min_overlap: int = DEFAULT_MIN_OVERLAP,
    top_n: int = DEFAULT_TOP_N,
    cluster_threshold: float = DEFAULT_CLUSTER_THRESHOLD,
) -> CorrelationMetrics:
    """:func:`portfolio_correlation_metrics` from precomputed pairwise statistics.

    The pairwise statistics of a set of columns are those of any superset restricted
    to them (pairwise deletion), so a universe's statistics, computed once over the
    same window rows, serve every portfolio holding a subset of it.

    Parameters
    ----------
    exposure_usd : Series
        Signed USD exposure per asset (as in :func:`portfolio_correlation_metrics`).
    reasons : dict
        Asset -> reason for the assets already left out (no column, missing or
        zero exposure); completed here. Not modified.
    candidates : list
        The other assets of ``exposure_usd``, in its order.
    counts, corr, volatility : ndarray of shape (n, n), (n, n), (n,)
        :func:`_pairwise` of the candidates' returns over the window rows.
    rows : int
        Rows in the window.
    window_start, window_end : Timestamp or None
        First and last row of the window.
    min_overlap, top_n, cluster_threshold
        As in :func:`portfolio_correlation_metrics`.

    Returns
    -------
    CorrelationMetrics
    """
    exposure = exposure_usd.astype(float)
    index_name = exposure_usd.index.name
    reasons = dict(reasons)
    own = np.diag(counts)
    usable = []
    for k, asset in enumerate(candidates):
        if own[k] == 0:
            reasons[asset] = f"no returns in the {rows}-day window"
        elif own[k] < min_overlap:
            reasons[asset] = (
                f"{own[k]} returns in the {rows}-day window, fewer than min_overlap={min_overlap}"
            )
        elif not np.isfinite(corr[k, k]):
            reasons[asset] = "constant returns in the window (zero variance)"
        else:
            usable.append(k)
    if len(usable) >= 2:
        sub = corr[np.ix_(usable, usable)]
        off = np.isfinite(sub) & ~np.eye(len(usable), dtype=bool)
        for pos in np.flatnonzero(~off.any(axis=1)):
            reasons[candidates[usable[pos]]] = (
                f"fewer than {min_overlap} common return days with every other asset"
            )
        usable = [k for k, lonely in zip(usable, ~off.any(axis=1), strict=True) if not lonely]

    assets = pd.Index([candidates[k] for k in usable], name=index_name)
    counts = counts[np.ix_(usable, usable)]
    corr = corr[np.ix_(usable, usable)]
    volatility = volatility[usable]
    e = exposure.reindex(assets).to_numpy(dtype=float)
    gross = np.abs(e)
    notes: list[str] = []

    excluded_order = [a for a in exposure.index if a in reasons]
    excluded = _series(
        [reasons[a] for a in excluded_order], excluded_order, "reason", object, index_name
    )
    clusters = _series(
        _clusters(corr, gross, cluster_threshold).tolist() if len(assets) else [],
        list(assets),
        "cluster",
        int,
        index_name,
    )
    pairs = _pairs(assets, corr, counts)
    most = pairs.sort_values("correlation", ascending=False, kind="mergesort").head(top_n)
    least = pairs.sort_values("correlation", ascending=True, kind="mergesort").head(top_n)
    average = dr = enb = float("nan")

    if len(assets) < 2:
        notes.append(
            f"fewer than 2 usable assets ({len(assets)}): average correlation, "
            "diversification ratio and effective bets are NaN"
        )
    else:
        i, j = np.triu_indices(len(assets), 1)
        ok = np.isfinite(corr[i, j])
        weights = gross[i[ok]] * gross[j[ok]]
        average = float(weights @ corr[i[ok], j[ok]] / weights.sum())

        keep, dropped = _drop_until_complete(corr, np.diag(counts), gross)
        for k, lacking in dropped:
            notes.append(
                f"diversification ratio and effective bets leave out {assets[k]}: fewer than "
                f"{min_overlap} common return days with {', '.join(map(str, assets[lacking]))}"
            )
        sub_cov = corr[np.ix_(keep, keep)] * np.outer(volatility[keep], volatility[keep])
        variance, contributions, repaired = _risk_decomposition(sub_cov, e[keep])
        if repaired:
            notes.append(
                "the covariance from pairwise correlations is not positive semidefinite; "
                "its negative eigenvalues were set to zero"
            )
        if variance <= 0.0:
            notes.append(
                "portfolio variance is zero: diversification ratio and effective bets are NaN"
            )
        dr = _diversification_ratio(sub_cov, e[keep], variance)
        enb = _effective_bets(contributions, variance)

    return CorrelationMetrics(
        average_correlation=average,
        diversification_ratio=dr,
        effective_bets=enb,
        most_correlated=most.reset_index(drop=True),
        least_correlated=least.reset_index(drop=True),
        clusters=clusters,
        excluded=excluded,
        correlation=pd.DataFrame(corr, index=assets, columns=assets),
        overlap=pd.DataFrame(counts, index=assets, columns=assets),
        notes=tuple(notes),
        window_start=window_start,
        window_end=window_end,
    )
