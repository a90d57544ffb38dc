"""OCC option symbols: parse, validate and format listed US equity option contracts.

An OCC (Options Clearing Corporation) symbol has four parts:

====== ============ ================================== ===================
part   width        meaning                            example
====== ============ ================================== ===================
root   1-6          underlying root, letters/digits    ``AAPL``
expiry 6            expiration date ``YYMMDD`` (20YY)  ``170616``
type   1            ``C`` call or ``P`` put            ``C``
strike 8            strike x 1000, zero-padded         ``00140000`` = 140.0
====== ============ ================================== ===================

The *padded* form pads the root with spaces to 6 characters (always 21
characters: ``AAPL  170616C00140000``); the *compact* form drops the padding
(``AAPL170616C00140000``). Roots with digits are adjusted contracts after a
corporate action (``AAPL1``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Literal, cast

from sigmasight_lib.exceptions import SigmaSightError

ROOT_MAX_LENGTH = 6
"""Longest OCC root; the padded form pads the root to this width."""

STRIKE_DIGITS = 8
"""Digits of the strike field: 5 before and 3 after the implied decimal point."""

OptionType = Literal["C", "P"]
"""``'C'`` call or ``'P'`` put."""

_STRIKE_SCALE = 1000
_TAIL_LENGTH = 6 + 1 + STRIKE_DIGITS  # expiry, type, strike
_EXAMPLE = "AAPL170616C00140000"

# Loose shape: any alphanumeric root, optional spaces, the expiry digits, a
# letter, then digits. Field widths are checked afterwards so that each wrong
# part gets its own message.
_PARTS = re.compile(r"(?P<root>[A-Z0-9]*?)\s*(?P<expiry>\d{6})(?P<type>[A-Z])(?P<strike>\d+)")
# Even looser, for telling a (possibly malformed) option symbol from a ticker:
# no ticker ends in five or more digits, a letter and more digits.
_OCC_LIKE = re.compile(r"[A-Z0-9]*\s*\d{5,}[A-Z]\d+")
_ALLOWED_CHARACTERS = re.compile(r"[A-Z0-9\s]+")


class OccSymbolError(SigmaSightError, ValueError):
    """An OCC option symbol (or contract) is malformed.

    Attributes
    ----------
    symbol : str or None
        The symbol as given; None when a contract was built from its parts.
    problems : tuple of str
        One entry per thing that is wrong, e.g. ``"strike is zero"``.
    """

    def __init__(self, symbol: str | None, problems: list[str] | tuple[str, ...]) -> None:
        self.symbol = symbol
        self.problems = tuple(problems)
        subject = "OCC contract" if symbol is None else f"OCC option symbol {symbol!r}"
        super().__init__(f"invalid {subject}: {self.reason}")

    @property
    def reason(self) -> str:
        """What is wrong, without the symbol: the problems joined by ``'; '``."""
        return "; ".join(self.problems)


@dataclass(frozen=True)
class OccContract:
    """One listed option contract.

    Attributes
    ----------
    root : str
        Upper-case root, 1-6 letters/digits (``AAPL``, ``AAPL1``).
    expiry : datetime.date
        Expiration date (year 2000-2099).
    option_type : {'C', 'P'}
    strike : float
        USD per share, a multiple of 0.001 (``140.5``).

    Raises
    ------
    OccSymbolError
        When a field cannot be written as an OCC symbol.

    Examples
    --------
    >>> c = OccContract("AAPL", dt.date(2017, 6, 16), "C", 140.0)
    >>> c.compact, c.padded
    ('AAPL170616C00140000', 'AAPL  170616C00140000')
    """

    root: str
    expiry: dt.date
    option_type: OptionType
    strike: float

    def __post_init__(self) -> None:
        problems = [
            *_root_problems(self.root),
            *_option_type_problems(self.option_type),
            *_strike_value_problems(self.strike),
        ]
        if not 2000 <= self.expiry.year <= 2099:
            problems.append(f"expiry year {self.expiry.year} is outside 2000-2099")
        if problems:
            raise OccSymbolError(None, problems)

    @property
    def compact(self) -> str:
        """Symbol without padding, e.g. ``AAPL170616C00140000``."""
        return f"{self.root}{self._tail}"

    @property
    def padded(self) -> str:
        """21-character symbol with the root space-padded to 6, e.g. ``AAPL  170616C00140000``."""
        return f"{self.root:<{ROOT_MAX_LENGTH}}{self._tail}"

    @property
    def _tail(self) -> str:
        strike = round(self.strike * _STRIKE_SCALE)
        return f"{self.expiry:%y%m%d}{self.option_type}{strike:0{STRIKE_DIGITS}d}"


def parse_occ_symbol(text: str) -> OccContract:
    """Parse a padded or compact OCC option symbol.

    Surrounding whitespace is ignored, letters may be lower case, and any
    number of spaces may separate the root from the expiry.

    Parameters
    ----------
    text : str
        ``AAPL  170616C00140000``, ``AAPL170616C00140000``, ``aapl 170616c00140500``.

    Returns
    -------
    OccContract

    Raises
    ------
    OccSymbolError
        Quoting ``text`` and listing every problem found: wrong length or
        layout, root empty or longer than 6 characters, expiry not a calendar
        date, option type not C/P, strike not 8 digits, strike zero.

    Examples
    --------
    >>> parse_occ_symbol("AAPL  170616P00140500").strike
    140.5
    """
    symbol = text.strip().upper()
    if not symbol:
        raise OccSymbolError(text, ["symbol is empty"])
    if not _ALLOWED_CHARACTERS.fullmatch(symbol):
        raise OccSymbolError(text, ["contains characters other than letters, digits and spaces"])
    parts = _PARTS.fullmatch(symbol)
    if parts is None:
        raise OccSymbolError(text, [_layout_problem(symbol)])

    root, expiry_text = parts["root"], parts["expiry"]
    option_type, strike_text = parts["type"], parts["strike"]
    expiry = _parse_expiry(expiry_text)
    problems = [*_root_problems(root), *_option_type_problems(option_type)]
    if expiry is None:
        problems.append(f"expiry {expiry_text!r} is not a valid date YYMMDD")
    if len(strike_text) != STRIKE_DIGITS:
        problems.append(
            f"strike {strike_text!r} must be {STRIKE_DIGITS} digits (price x 1000, zero-padded)"
        )
    elif int(strike_text) == 0:
        problems.append("strike is zero")
    if expiry is None or problems:
        raise OccSymbolError(text, problems)
    return OccContract(
        root, expiry, cast(OptionType, option_type), int(strike_text) / _STRIKE_SCALE
    )


def looks_like_occ(text: str) -> bool:
    """Whether ``text`` is meant as an OCC option symbol rather than a ticker.

    Deliberately loose: it only looks for the shape *digits (the expiry), a
    letter (the type), digits (the strike)* at the end, which no ticker has
    (``BRK.B``, ``BF-B``, ``GOOGL`` are tickers). Malformed option symbols such
    as ``AAPL170231C00140000`` (Feb 31) or ``ABCDEFG170616C00140000`` still
    count as options, so callers report the OCC problem from
    :func:`parse_occ_symbol` instead of treating them as unknown tickers.

    Examples
    --------
    >>> looks_like_occ("AAPL  170616C00140000"), looks_like_occ("BRK.B")
    (True, False)
    """
    return _OCC_LIKE.fullmatch(text.strip().upper()) is not None


def _parse_expiry(text: str) -> dt.date | None:
    """``YYMMDD`` as a date in 2000-2099, or None when it is not a calendar date."""
    try:
        return dt.date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        return None


def _layout_problem(symbol: str) -> str:
    """Message for a symbol whose parts cannot even be located."""
    length = len("".join(symbol.split()))
    shortest, longest = 1 + _TAIL_LENGTH, ROOT_MAX_LENGTH + _TAIL_LENGTH
    expected = (
        "a 1-6 character root, a 6-digit expiry YYMMDD, C or P and an 8-digit strike"
        f" (e.g. {_EXAMPLE})"
    )
    if not shortest <= length <= longest:
        return (
            f"wrong length: {length} characters without spaces, "
            f"expected {shortest}-{longest}: {expected}"
        )
    return f"wrong layout: expected {expected}"


def _root_problems(root: str) -> list[str]:
    if not root:
        return ["root is empty"]
    if len(root) > ROOT_MAX_LENGTH:
        return [f"root {root!r} is longer than {ROOT_MAX_LENGTH} characters"]
    if not (root.isascii() and root.isalnum() and root == root.upper()):
        return [f"root {root!r} must be upper-case letters and digits"]
    return []


def _option_type_problems(option_type: str) -> list[str]:
    if option_type in ("C", "P"):
        return []
    return [f"option type {option_type!r} must be C (call) or P (put)"]


def _strike_value_problems(strike: float) -> list[str]:
    scaled = strike * _STRIKE_SCALE
    representable = (
        math.isfinite(scaled)
        and 0 < round(scaled) < 10**STRIKE_DIGITS
        and math.isclose(scaled, round(scaled), rel_tol=0, abs_tol=1e-6)
    )
    if not representable:
        return [f"strike {strike!r} must be positive, below 100000 and a multiple of 0.001"]
    return []
