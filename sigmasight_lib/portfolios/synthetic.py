"""Reproducible synthetic portfolios for scale benchmarks (``sigmasight demo synthetic``).

Generation is pure: a :class:`SyntheticUniverse` (symbols, their daily closes up to
the as-of date, volatilities, a rate) and a seed in, :class:`SyntheticPortfolio`
tuples out. Storing and removing them is :mod:`sigmasight_lib.portfolios.synthetic_store`.

Portfolio ``i`` draws from ``numpy.random.default_rng([seed, i])``, so it is the same
whatever the number of portfolios asked for, and the same seed gives identical
portfolios (names, owners, symbols, quantities, entry prices and dates).

Each portfolio holds, by default:

- about 80 % stocks and ETFs: a symbol of the universe, an entry date among the
  :data:`STOCK_ENTRY_SESSIONS` sessions before the as-of date, entry price = that
  day's close (to 1/100 cent), a quantity worth roughly 10,000-100,000 USD at entry;
- about 20 % listed options on those stocks and ETFs: a standard monthly expiry (the
  third Friday, or the session before it when that is a holiday) within
  :data:`OPTION_EXPIRY_MONTHS` months after the as-of date, a strike on the listed
  grid (:func:`strike_increment`) within a few steps of the underlying's close on the
  as-of date, entered within :data:`OPTION_ENTRY_SESSIONS` sessions before the as-of
  at the Black-Scholes-Merton price (the underlying's close that day, its realized
  volatility over the :data:`VOLATILITY_SESSIONS` sessions to the as-of, the
  universe's rate), 1-20 contracts;
- about 25 % of positions short (negative quantity: SHORT, SC, SP).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sigmasight_lib.portfolios.occ import OccContract
from sigmasight_lib.portfolios.option_symbols import root_underlying
from sigmasight_lib.portfolios.positions import (
    OPTION_MULTIPLIER,
    PositionSpec,
    detect_position_type,
)

OPTION_SHARE = 0.2
"""Default share of option positions in each portfolio."""
SHORT_SHARE = 0.25
"""Default probability that a position is short."""
STOCK_ENTRY_SESSIONS = 250
"""Stocks and ETFs are entered on one of this many sessions before the as-of date."""
OPTION_ENTRY_SESSIONS = 40
"""Options are entered on one of this many sessions before the as-of date."""
OPTION_EXPIRY_MONTHS = 6
"""Options expire on one of the monthly expiries of this many months after the as-of."""
STRIKE_STEPS = 4
"""Strikes lie within this many grid steps of the at-the-money strike."""
NOTIONAL_RANGE_USD = (10_000.0, 100_000.0)
"""Stock and ETF positions are worth between these amounts at entry (log-uniform)."""
MAX_CONTRACTS = 20
"""Option positions hold 1 to this many contracts."""
VOLATILITY_SESSIONS = 63
"""Realized-volatility window (sessions) for the option entry prices."""
NAME_PREFIX = "Synthetic"
"""Portfolio names are ``"Synthetic 0001"``, ``"Synthetic 0002"``, ..."""
OWNER_DOMAIN = "synthetic.sigmasight.com"
"""Owner e-mails are ``synthetic-0001@synthetic.sigmasight.com``, ..."""
TAGS = {"stock": "Stock", "etf": "ETF", "option": "Option"}
"""Tag of each position by kind (the option's own kind, not its underlying's)."""


@dataclass(frozen=True)
class SyntheticUniverse:
    """What synthetic portfolios are drawn from.

    Attributes
    ----------
    as_of : datetime.date
        Valuation date: entries are before it, option expiries after it.
    closes : DataFrame of shape (n_sessions, n_symbols)
        Daily closes in USD per share, index of ``datetime.date`` ascending and ending
        at ``as_of``, one column per symbol, no NaN.
    asset_types : mapping of str to str
        Symbol → ``'stock'`` or ``'etf'``.
    risk_free_rate : float
        Continuously compounded rate for option entry prices, decimal (0.01 = 1 %).
    """

    as_of: dt.date
    closes: pd.DataFrame
    asset_types: Mapping[str, str]
    risk_free_rate: float

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self.closes.columns)


@dataclass(frozen=True)
class SyntheticPortfolio:
    """One generated portfolio: its ``name`` (``"Synthetic 0001"``), owner and positions."""

    name: str
    owner_email: str
    description: str
    positions: tuple[PositionSpec, ...]


def portfolio_name(number: int) -> str:
    """``"Synthetic 0001"`` for ``number=1``."""
    return f"{NAME_PREFIX} {number:04d}"


def owner_email(number: int) -> str:
    """``"synthetic-0001@synthetic.sigmasight.com"`` for ``number=1``."""
    return f"{NAME_PREFIX.lower()}-{number:04d}@{OWNER_DOMAIN}"


def strike_increment(price: float) -> float:
    """Listed strike spacing (USD) near ``price``: 0.5 below 10, 1 below 50, 2.5 below
    100, 5 below 250, else 10 (the common US equity option grid)."""
    for limit, step in ((10.0, 0.5), (50.0, 1.0), (100.0, 2.5), (250.0, 5.0)):
        if price < limit:
            return step
    return 10.0


def monthly_expiries(as_of: dt.date, months: int = OPTION_EXPIRY_MONTHS) -> tuple[dt.date, ...]:
    """The first ``months`` standard monthly expiries strictly after ``as_of``.

    A monthly expiry is the third Friday of the month, or the NYSE session before it
    when that Friday is a holiday (Good Friday).

    Examples
    --------
    >>> monthly_expiries(dt.date(2017, 3, 29), 3)
    (datetime.date(2017, 4, 21), datetime.date(2017, 5, 19), datetime.date(2017, 6, 16))
    """
    from sigmasight_lib.marketdata.calendar import session_on_or_before

    out: list[dt.date] = []
    year, month = as_of.year, as_of.month
    while len(out) < months:
        first = dt.date(year, month, 1)
        friday = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 14)
        expiry = session_on_or_before(friday)
        if expiry > as_of:
            out.append(expiry)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return tuple(out)


def generate_synthetic_portfolios(
    universe: SyntheticUniverse,
    n_portfolios: int,
    n_positions: int,
    seed: int,
    *,
    option_share: float = OPTION_SHARE,
    short_share: float = SHORT_SHARE,
) -> tuple[SyntheticPortfolio, ...]:
    """``n_portfolios`` portfolios of ``n_positions`` positions each (module docstring).

    Parameters
    ----------
    universe : SyntheticUniverse
    n_portfolios, n_positions : int
        At least 1 each.
    seed : int
        Non-negative; the same seed gives the same portfolios.
    option_share : float, default=0.2
        Share of options per portfolio (rounded to whole positions).
    short_share : float, default=0.25
        Probability that a position is short.

    Returns
    -------
    tuple of SyntheticPortfolio
        Numbered 1..n_portfolios; within a portfolio, stocks and ETFs first, no two
        positions with the same (symbol, entry date).

    Raises
    ------
    ValueError
        Quoting the bad count, seed or share, or for a universe too small to fill
        a portfolio.
    """
    if n_portfolios < 1 or n_positions < 1:
        raise ValueError(
            f"portfolios and positions must be at least 1, got {n_portfolios} and {n_positions}"
        )
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    for label, share in (("option_share", option_share), ("short_share", short_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{label} must be between 0 and 1, got {share}")
    sessions = len(universe.closes)
    if sessions < VOLATILITY_SESSIONS + 1 or universe.closes.index[-1] != universe.as_of:
        raise ValueError(
            f"the universe needs at least {VOLATILITY_SESSIONS + 1} sessions of closes ending "
            f"at the as-of date {universe.as_of}, got {sessions}"
        )
    lots = len(universe.symbols) * min(STOCK_ENTRY_SESSIONS, sessions - 1)
    if n_positions > lots:
        raise ValueError(f"{n_positions} positions per portfolio exceed the {lots} possible lots")
    tables = _Tables.of(universe)
    drafts = [
        _draft(tables, number, n_positions, seed, option_share, short_share)
        for number in range(1, n_portfolios + 1)
    ]
    premiums = _option_premiums(tables, drafts)
    return tuple(_finish(tables, d, p, seed) for d, p in zip(drafts, premiums, strict=True))


@dataclass(frozen=True)
class _Tables:
    """Arrays of the universe the generator indexes into."""

    as_of: dt.date
    symbols: np.ndarray  # (n_symbols,) str
    kinds: tuple[str, ...]  # asset type per symbol
    dates: tuple[dt.date, ...]  # (n_sessions,)
    closes: np.ndarray  # (n_sessions, n_symbols)
    vols: np.ndarray  # (n_symbols,) annualized, decimal
    rate: float
    expiries: tuple[dt.date, ...]

    @classmethod
    def of(cls, universe: SyntheticUniverse) -> _Tables:
        closes = universe.closes.to_numpy(dtype=float)
        logs = np.diff(np.log(closes[-VOLATILITY_SESSIONS - 1 :]), axis=0)
        return cls(
            as_of=universe.as_of,
            symbols=np.array(universe.symbols),
            kinds=tuple(universe.asset_types[s] for s in universe.symbols),
            dates=tuple(universe.closes.index),
            closes=closes,
            vols=logs.std(axis=0, ddof=1) * np.sqrt(252.0),
            rate=universe.risk_free_rate,
            expiries=monthly_expiries(universe.as_of),
        )


@dataclass(frozen=True)
class _Draft:
    """One portfolio's draws before the option entry prices (priced for all at once)."""

    number: int
    stocks: list[PositionSpec]
    option_cols: np.ndarray  # (n_options,) symbol column
    option_rows: np.ndarray  # (n_options,) entry session row
    is_call: np.ndarray
    strikes: np.ndarray
    expiries: list[dt.date]
    quantities: np.ndarray  # signed contracts


def _draft(
    t: _Tables, number: int, n_positions: int, seed: int, option_share: float, short_share: float
) -> _Draft:
    rng = np.random.default_rng([seed, number])
    n_symbols, last = len(t.symbols), len(t.dates) - 1
    n_options = round(n_positions * option_share)
    n_stocks = n_positions - n_options
    short = rng.random(n_positions) < short_share

    stocks: list[PositionSpec] = []
    seen: set[tuple[int, int]] = set()
    # every symbol once before any repeats; a repeated symbol is another lot (entry date)
    order = np.concatenate([rng.permutation(n_symbols) for _ in range(-(-n_stocks // n_symbols))])
    notional = np.exp(rng.uniform(*np.log(NOTIONAL_RANGE_USD), n_stocks))
    span = min(STOCK_ENTRY_SESSIONS, last)
    for k in range(n_stocks):
        col = int(order[k])
        row = _entry_row(rng, seen, col, last, span)
        price = round(float(t.closes[row, col]), 4)
        shares = max(1, round(notional[k] / price))
        stocks.append(_spec(str(t.symbols[col]), -shares if short[k] else shares, price,
                            t.dates[row], TAGS[t.kinds[col]]))  # fmt: skip

    cols = rng.integers(0, n_symbols, n_options)
    is_call = rng.random(n_options) < 0.5
    expiry_idx = rng.integers(0, len(t.expiries), n_options)
    steps = rng.integers(-STRIKE_STEPS, STRIKE_STEPS + 1, n_options)
    contracts = rng.integers(1, MAX_CONTRACTS + 1, n_options)
    rows = rng.integers(last - min(OPTION_ENTRY_SESSIONS, last), last, n_options)
    spot_now = t.closes[last, cols]
    grid = np.array([strike_increment(s) for s in spot_now])
    strikes = np.maximum(np.round(spot_now / grid) + steps, 1.0) * grid
    return _Draft(
        number=number,
        stocks=stocks,
        option_cols=cols,
        option_rows=rows,
        is_call=is_call,
        strikes=strikes,
        expiries=[t.expiries[i] for i in expiry_idx],
        quantities=np.where(short[n_stocks:], -contracts, contracts),
    )


def _finish(t: _Tables, draft: _Draft, premiums: np.ndarray, seed: int) -> SyntheticPortfolio:
    options = []
    for k, col in enumerate(draft.option_cols):
        contract = OccContract(
            str(t.symbols[col]),
            draft.expiries[k],
            "C" if draft.is_call[k] else "P",
            float(draft.strikes[k]),
        )
        price = max(round(float(premiums[k]), 2), 0.01)
        entry = t.dates[int(draft.option_rows[k])]
        quantity = int(draft.quantities[k])
        options.append(_spec(contract.compact, quantity, price, entry, TAGS["option"], contract))
    n_positions = len(draft.stocks) + len(options)
    description = (
        f"Synthetic benchmark portfolio {draft.number} (seed {seed}, {n_positions} positions, "
        f"as of {t.as_of.isoformat()})"
    )
    return SyntheticPortfolio(
        name=portfolio_name(draft.number),
        owner_email=owner_email(draft.number),
        description=description,
        positions=(*draft.stocks, *options),
    )


def _option_premiums(t: _Tables, drafts: list[_Draft]) -> list[np.ndarray]:
    """Black-Scholes-Merton entry prices of every draft's options, one vectorized call."""
    from sigmasight_lib.engines.greeks import bsm_greeks

    cols = np.concatenate([d.option_cols for d in drafts])
    rows = np.concatenate([d.option_rows for d in drafts])
    if cols.size == 0:
        return [np.empty(0) for _ in drafts]
    entry_ordinal = np.array([d.toordinal() for d in t.dates])[rows]
    expiry_ordinal = np.array([e.toordinal() for d in drafts for e in d.expiries])
    years = (expiry_ordinal - entry_ordinal) / 365.0
    kind = np.where(np.concatenate([d.is_call for d in drafts]), "call", "put")
    strikes = np.concatenate([d.strikes for d in drafts])
    prices = bsm_greeks(kind, t.closes[rows, cols], strikes, years, t.rate, t.vols[cols])
    splits = np.cumsum([d.option_cols.size for d in drafts])[:-1]
    return np.split(prices["price"].to_numpy(), splits)


def _entry_row(
    rng: np.random.Generator, seen: set[tuple[int, int]], col: int, last: int, span: int
) -> int:
    """A session row in ``[last - span, last)`` not yet used for symbol column ``col``."""
    while True:
        row = int(rng.integers(last - span, last))
        if (col, row) not in seen:
            seen.add((col, row))
            return row


def _spec(
    symbol: str,
    quantity: int,
    price: float,
    entry_date: dt.date,
    tag: str,
    contract: OccContract | None = None,
) -> PositionSpec:
    option_type = None if contract is None else contract.option_type
    return PositionSpec(
        symbol=symbol,
        quantity=float(quantity),
        underlying=symbol if contract is None else root_underlying(contract.root),
        position_type=detect_position_type(quantity, option_type),
        entry_price=price,
        entry_date=entry_date,
        option_type=option_type,
        strike=None if contract is None else contract.strike,
        expiry=None if contract is None else contract.expiry,
        multiplier=1 if contract is None else OPTION_MULTIPLIER,
        tags=(tag,),
    )


# --------------------------------------------------------------------------- the snapshot universe


UNIVERSE_SESSIONS = STOCK_ENTRY_SESSIONS + 1
"""Sessions of closes :func:`snapshot_universe` loads (entry window plus the as-of)."""
UNIVERSE_ASSET_TYPES = ("stock", "etf")
RATE_TENOR = "3m"
"""Treasury tenor of the option entry rate."""


def snapshot_universe(as_of: dt.date | None = None) -> SyntheticUniverse:
    """The stocks and ETFs of the offline snapshot that have a price level.

    Parameters
    ----------
    as_of : datetime.date, optional
        Default: the snapshot's latest date with every universe price and the
        10-year treasury point (what ``market-data sync`` chooses: 2017-03-29).

    Returns
    -------
    SyntheticUniverse
        :data:`UNIVERSE_SESSIONS` sessions of closes (``adj_close``, else ``close``)
        ending at ``as_of``; symbols lacking a price on any of them (``SPY``, which the
        snapshot has as total returns only) are left out. The rate is the 3-month
        treasury yield on the as-of date (0 when absent).

    Raises
    ------
    MarketDataError
        When ``as_of`` is not a date of the snapshot, or no symbol qualifies.
    """
    from sigmasight_lib.exceptions import MarketDataError
    from sigmasight_lib.marketdata.cache import resolve_sync_end
    from sigmasight_lib.marketdata.calendar import sessions_window
    from sigmasight_lib.marketdata.offline import OfflineSnapshotProvider, snapshot_symbols

    provider = OfflineSnapshotProvider()
    meta = provider.fetch_metadata(snapshot_symbols())
    candidates = sorted(meta.loc[meta["asset_type"].isin(UNIVERSE_ASSET_TYPES), "symbol"])
    with_levels = [s for s in candidates if s != "SPY"]  # SPY: total returns only
    day = as_of or resolve_sync_end(provider, with_levels)
    window = sessions_window(day, UNIVERSE_SESSIONS * 2)
    prices = provider.fetch_prices(candidates, window[0], day)
    level = prices["adj_close"].fillna(prices["close"])
    closes = (
        prices.assign(level=level)
        .pivot(index="date", columns="symbol", values="level")
        .sort_index()
        .iloc[-UNIVERSE_SESSIONS:]
    )
    closes = closes.loc[:, closes.notna().all()]
    if closes.empty or closes.index[-1] != day:
        raise MarketDataError(
            f"the offline snapshot has no stock or ETF closes on {day.isoformat()}; "
            "choose an as-of date it covers (2014-01-02..2017-03-29 for every series)"
        )
    rates = provider.fetch_rates(day, day)
    rate = rates.loc[rates["tenor"] == RATE_TENOR, "yield_rate"]
    types = dict(zip(meta["symbol"], meta["asset_type"], strict=True))
    return SyntheticUniverse(
        as_of=day,
        closes=closes.rename_axis(index=None, columns=None),
        asset_types={s: types[s] for s in closes.columns},
        risk_free_rate=float(rate.iloc[0]) if len(rate) else 0.0,
    )
