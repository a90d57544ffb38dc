"""Grouped, indexed strategy detection (issue 13 item 8) proposes exactly what the former
scan did: the former quadratic search is kept here as the oracle and both run on the demo
portfolios (their strategies cleared) and on fixed-seed random books."""

from __future__ import annotations

import datetime as dt
import random

import pandas as pd
import pytest

from sigmasight_lib.config import Settings
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.portfolios import strategies as st
from sigmasight_lib.portfolios.service import list_portfolios

_Leg = st._Leg
ProposedStrategy = st.ProposedStrategy


def _former_detect_underlying(u: str, legs: list[_Leg]) -> list[tuple[str, tuple[int, ...]]]:
    """The pre-issue-13 search (every lookup rescans and re-sorts the free legs)."""
    used: set[int] = set()

    def free(pred) -> list[_Leg]:  # noqa: ANN001
        return sorted((g for g in legs if g.id not in used and pred(g)), key=_Leg.sort_key)

    def long_stocks() -> list[_Leg]:
        return sorted(
            (g for g in legs if g.id not in used and not g.is_option and g.quantity > 0),
            key=lambda g: g.id,
        )

    def opts(option_type: str, long: bool) -> list[_Leg]:
        return free(
            lambda g: g.is_option and g.option_type == option_type and (g.quantity > 0) == long
        )

    out: list[tuple[str, tuple[int, ...]]] = []
    for stock in long_stocks():
        call = next((c for c in opts("C", False) if c.shares_covered <= stock.quantity), None)
        put = next((p for p in opts("P", True) if p.shares_covered <= stock.quantity), None)
        if call and put:
            used |= {stock.id, call.id, put.id}
            out.append(("collar", (stock.id, put.id, call.id)))
    for kind, option_type, long in (("covered_call", "C", False), ("protective_put", "P", True)):
        for stock in long_stocks():
            leg = next(
                (c for c in opts(option_type, long) if c.shares_covered <= stock.quantity), None
            )
            if leg:
                used |= {stock.id, leg.id}
                out.append((kind, (stock.id, leg.id)))
    for same_strike, kind in ((True, "straddle"), (False, "strangle")):
        for long in (True, False):
            for call in opts("C", long):
                if call.id in used:
                    continue
                put = next(
                    (
                        p
                        for p in opts("P", long)
                        if p.expiry == call.expiry
                        and p.contracts == call.contracts
                        and (p.strike == call.strike) == same_strike
                    ),
                    None,
                )
                if put is not None:
                    used |= {call.id, put.id}
                    out.append((kind, (call.id, put.id)))
    for option_type in ("C", "P"):
        for long_leg in opts(option_type, True):
            if long_leg.id in used:
                continue
            short_leg = next(
                (
                    s
                    for s in opts(option_type, False)
                    if s.expiry == long_leg.expiry
                    and s.strike != long_leg.strike
                    and s.contracts == long_leg.contracts
                ),
                None,
            )
            if short_leg is not None:
                used |= {long_leg.id, short_leg.id}
                out.append(("vertical_spread", (long_leg.id, short_leg.id)))
    return out


def _former(positions: pd.DataFrame) -> list[tuple[str, tuple[int, ...]]]:
    by_underlying: dict[str, list[_Leg]] = {}
    for leg in st._legs(positions):
        by_underlying.setdefault(leg.underlying, []).append(leg)
    return [
        p for u in sorted(by_underlying) for p in _former_detect_underlying(u, by_underlying[u])
    ]


def _proposed(positions: pd.DataFrame) -> list[tuple[str, tuple[int, ...]]]:
    return [(p.strategy_type, p.position_ids) for p in st.detect_strategies(positions)]


def _random_book(seed: int, n: int) -> pd.DataFrame:
    rng = random.Random(seed)
    expiries = [dt.date(2017, 6, 16), dt.date(2017, 7, 21), dt.date(2017, 9, 15)]
    rows = []
    for i in range(1, n + 1):
        u = rng.choice(["AAPL", "MSFT", "XOM"])
        if rng.random() < 0.3:
            qty = rng.choice([-300, 50, 100, 200, 500])
            rows.append({"id": i, "symbol": u, "underlying": u, "quantity": qty, "multiplier": 1,
                         "option_type": None, "strike": None, "expiry": None, "strategy": None})  # fmt: skip
        else:
            kind = rng.choice("CP")
            strike = rng.choice([90.0, 95.0, 100.0, 105.0])
            expiry = rng.choice(expiries)
            rows.append({"id": i, "symbol": f"{u}{expiry:%y%m%d}{kind}{int(strike * 1000):08d}",
                         "underlying": u, "quantity": rng.choice([-2, -1, 1, 2]), "multiplier": 100,
                         "option_type": kind, "strike": strike, "expiry": expiry,
                         "strategy": "kept" if rng.random() < 0.05 else None})  # fmt: skip
    return pd.DataFrame(rows).set_index("id")


@pytest.mark.parametrize(("seed", "n"), [(1, 12), (2, 40), (3, 150), (4, 600)])
def test_same_proposals_as_the_former_search_on_random_books(seed: int, n: int) -> None:
    book = _random_book(seed, n)
    assert _proposed(book) == _former(book)
    assert _proposed(book)  # the books do hold strategies


def test_same_proposals_on_the_demo_portfolios(sqlite_demo_db: Settings) -> None:
    with session_scope(sqlite_demo_db) as session:
        ids = list_portfolios(session)["id"].tolist()
        frames = [st.open_positions_frame(session, int(pid)) for pid in ids]
    for frame in frames:
        for book in (frame, frame.assign(strategy=None)):  # as stored, and every leg free
            assert _proposed(book) == _former(book)
    assert any(_proposed(f.assign(strategy=None)) for f in frames)


def test_unique_names_suffixes_repeats_in_order() -> None:
    proposals = [ProposedStrategy("covered_call", name, (i,), "") for i, name in
                 enumerate(["A", "A", "a (2)", "A", "B", "A"])]  # fmt: skip
    named = [p.name for p in st._unique_names(proposals, {"B"})]
    assert named == ["A", "A (2)", "a (2) (2)", "A (3)", "B (2)", "A (4)"]
