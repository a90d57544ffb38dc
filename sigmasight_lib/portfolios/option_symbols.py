"""Option symbols as brokers write them, option roots, and CUSIP/ISIN identifiers.

One entry point, :func:`parse_option_symbol`, reads every notation below into
the same fields (:class:`ParsedOption`) and the canonical OCC contract:

============ ================================ ======================================
notation     example                          where it comes from
============ ================================ ======================================
``occ``      ``AAPL  170616C00140000``,       OCC padded/compact; IBKR and
             ``AAPL170616C00140000``          tastytrade ``Symbol`` columns
``fidelity`` ``-AAPL170616C140``,             Fidelity positions and statements:
             ``DEF260227P15``,                optional leading ``-`` or space,
             ``-SPY170616P230.5``             ``YYMMDD``, strike as written
``text``     ``AAPL 06/16/2017 140.00 C``     Schwab
             ``AAPL 16JUN17 140 C``           IBKR descriptions
             ``AAPL 6/16/17 Call 140.00``     tastytrade descriptions
             ``AAPL Jun 16 '17 $140 Call``    E*Trade
             ``AAPL $140 Call 6/16/2017``,    Robinhood (``Description``/
             ``AAPL 6/16/2017 Call $140.00``  ``Instrument`` columns)
============ ================================ ======================================

A *text* notation is the root first, then in any order one expiry date
(``MM/DD/YYYY``, ``M/D/YY``, ``DDMMMYY``, ``DDMMMYYYY``, ``Mon DD 'YY``,
``Mon DD YYYY``, ``Mon DD, YYYY``, ``YYYY-MM-DD``), one strike (``140``,
``140.00``, ``$1,250``) and one type (``C``/``P``/``Call``/``Put``), separated
by spaces; anything else is rejected.

Roots map to underlyings with :func:`root_underlying`: weekly and PM-settled
index roots (``SPXW`` -> ``SPX``, ``NDXP`` -> ``NDX``, ``RUTW`` -> ``RUT``,
``VIXW`` -> ``VIX``), class shares (``BRKB`` -> ``BRK.B``) and adjusted roots
with a digit suffix (``USO1`` -> ``USO``, flagged as a non-standard
deliverable).

A CUSIP (9 characters with a valid check digit, ``037833100``) or an ISIN (2
letters, 9 characters, a check digit: ``US0378331005``) is recognized and
raised as :class:`UnsupportedSecurityError` (``code='unsupported_security'``):
bonds and ISIN-only rows are not supported.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal, cast

from sigmasight_lib.exceptions import ImportValidationError
from sigmasight_lib.portfolios.occ import (
    OccContract,
    OccSymbolError,
    OptionType,
    looks_like_occ,
    parse_occ_symbol,
)

STANDARD_MULTIPLIER = 100
"""Shares per standard US equity/index option contract."""

ROOT_UNDERLYINGS: MappingProxyType[str, str] = MappingProxyType(
    {
        "SPXW": "SPX",  # weekly / end-of-month S&P 500 index options
        "SPXPM": "SPX",
        "NDXP": "NDX",  # PM-settled Nasdaq-100 index options
        "RUTW": "RUT",  # weekly Russell 2000 index options
        "VIXW": "VIX",  # weekly VIX options
        "XSPW": "XSP",
        "DJXW": "DJX",
        "BRKB": "BRK.B",  # class shares: OCC roots drop the class separator
        "BRKA": "BRK.A",
        "BFB": "BF.B",
        "BFA": "BF.A",
        "LENB": "LEN.B",
        "HEIA": "HEI.A",
    }
)
"""Option root -> underlying ticker, for roots that are not the ticker itself."""

OptionNotation = Literal["occ", "fidelity", "text"]
"""Which notation a symbol was written in (see the module docstring)."""

INVALID_OPTION_SYMBOL = "invalid_option_symbol"
UNSUPPORTED_SECURITY = "unsupported_security"

_ADJUSTED_ROOT = re.compile(r"(?P<base>[A-Z]+)(?P<suffix>\d+)")
_FIDELITY = re.compile(
    r"-?\s*(?P<root>[A-Z][A-Z0-9]{0,5})(?P<expiry>\d{6})(?P<type>[CP])(?P<strike>\d+(?:\.\d+)?)"
)
_MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
_TEXT_DATES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"(?<![\w/'-]){pattern}(?![\w/-])"), fmt)
    for pattern, fmt in (
        (r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}|\d{2})", "mdy"),
        (r"(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})", "ymd"),
        (rf"(?P<d>\d{{1,2}})(?P<mon>{_MONTHS})(?P<y>\d{{4}}|\d{{2}})", "dmony"),
        (rf"(?P<mon>{_MONTHS})[A-Z]*\.?\s+(?P<d>\d{{1,2}}),?\s+'?(?P<y>\d{{4}}|\d{{2}})", "mondy"),
    )
)
_TEXT_ROOT = re.compile(r"[A-Z][A-Z0-9]{0,5}(?:[./][A-Z])?")
_TEXT_STRIKE = re.compile(r"\$?(?P<value>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")
_TEXT_TYPES = {"C": "C", "CALL": "C", "P": "P", "PUT": "P"}
_CUSIP = re.compile(r"[0-9]{3}[0-9A-Z*@#]{5}[0-9]")
_ISIN = re.compile(r"[A-Z]{2}[0-9A-Z]{9}[0-9]")


class OptionSymbolError(ImportValidationError):
    """A symbol meant as an option (or a security identifier) that cannot be imported.

    Attributes
    ----------
    symbol : str
        The text as given.
    code : str
        Stable issue code: ``'invalid_option_symbol'`` here,
        ``'unsupported_security'`` for :class:`UnsupportedSecurityError`.
    reason : str
        What is wrong, without the symbol (what an import issue shows).
    """

    code: str = INVALID_OPTION_SYMBOL

    def __init__(self, symbol: str, reason: str) -> None:
        self.symbol = symbol
        self.reason = reason
        super().__init__(f"{symbol!r}: {reason}")


class UnsupportedSecurityError(OptionSymbolError):
    """A CUSIP or ISIN: a valid identifier, but of a security the importer does not take.

    Attributes
    ----------
    kind : {'CUSIP', 'ISIN'}
    """

    code = UNSUPPORTED_SECURITY

    def __init__(self, symbol: str, kind: Literal["CUSIP", "ISIN"]) -> None:
        self.kind = kind
        super().__init__(
            symbol,
            f"{kind} {symbol.strip().upper()}: bonds and ISIN-only rows are not supported "
            "(give the ticker or the option symbol instead)",
        )


@dataclass(frozen=True)
class ParsedOption:
    """One option contract read from any notation of :func:`parse_option_symbol`.

    Attributes
    ----------
    root : str
        OCC root as listed (``SPXW``, ``BRKB``, ``USO1``).
    underlying : str
        Ticker of the underlying (``SPX``, ``BRK.B``, ``USO``), see :func:`root_underlying`.
    expiry : datetime.date
    option_type : {'C', 'P'}
    strike : float
        USD per share.
    multiplier : int, default=100
        Shares per contract as listed; an adjusted contract's real deliverable
        is in the OCC memo and may differ (see ``standard_deliverable``).
    standard_deliverable : bool, default=True
        False for adjusted roots (digit suffix, ``USO1``).
    notation : {'occ', 'fidelity', 'text'}
    note : str or None
        Why ``standard_deliverable`` is False, for the import notes.
    """

    root: str
    underlying: str
    expiry: dt.date
    option_type: OptionType
    strike: float
    multiplier: int = STANDARD_MULTIPLIER
    standard_deliverable: bool = True
    notation: OptionNotation = "occ"
    note: str | None = None

    @property
    def contract(self) -> OccContract:
        """The listed contract (what positions store)."""
        return OccContract(self.root, self.expiry, self.option_type, self.strike)

    @property
    def occ_symbol(self) -> str:
        """Canonical compact OCC symbol, e.g. ``AAPL170616C00140000``."""
        return self.contract.compact


@dataclass(frozen=True)
class RootInfo:
    """What an option root says about its underlying (see :func:`root_info`)."""

    underlying: str
    standard_deliverable: bool
    note: str | None


def root_info(root: str) -> RootInfo:
    """Underlying ticker of an option root and whether its deliverable is standard.

    ``ROOT_UNDERLYINGS`` first (``SPXW`` -> ``SPX``, ``BRKB`` -> ``BRK.B``);
    then a root ending in digits is an adjusted contract after a corporate
    action (``USO1`` -> ``USO``, non-standard deliverable, with a note); any
    other root is its own underlying.

    Examples
    --------
    >>> root_info("USO1").underlying, root_info("USO1").standard_deliverable
    ('USO', False)
    """
    root = root.strip().upper()
    if root in ROOT_UNDERLYINGS:
        return RootInfo(ROOT_UNDERLYINGS[root], True, None)
    adjusted = _ADJUSTED_ROOT.fullmatch(root)
    if adjusted is not None:
        base = adjusted["base"]
        underlying = ROOT_UNDERLYINGS.get(base, base)
        note = (
            f"adjusted option root {root}: non-standard deliverable after a corporate action "
            f"on {underlying}; risk assumes {STANDARD_MULTIPLIER} shares, check the OCC memo"
        )
        return RootInfo(underlying, False, note)
    return RootInfo(root, True, None)


def root_underlying(root: str) -> str:
    """Underlying ticker of an option root: ``SPXW`` -> ``SPX``, ``USO1`` -> ``USO``."""
    return root_info(root).underlying


def parse_option_symbol(text: str) -> ParsedOption:
    """Parse an option symbol in any supported notation (see the module docstring).

    Surrounding whitespace and letter case are ignored.

    Parameters
    ----------
    text : str
        ``AAPL170616C00140000``, ``-AAPL170616C140``, ``AAPL 06/16/2017 140.00 C``,
        ``AAPL 16JUN17 140 C``, ``AAPL Jun 16 '17 $140 Call``, ``AAPL $140 Call 6/16/2017``.

    Returns
    -------
    ParsedOption
        The same fields whatever the notation; ``occ_symbol`` is canonical.

    Raises
    ------
    UnsupportedSecurityError
        For a CUSIP or ISIN with a valid check digit (``code='unsupported_security'``).
    OptionSymbolError
        For anything else that is not a valid option symbol
        (``code='invalid_option_symbol'``); ``reason`` names the problem and,
        for OCC-shaped text, starts with ``invalid OCC option symbol:``.

    Examples
    --------
    >>> parse_option_symbol("-AAPL170616C140").occ_symbol
    'AAPL170616C00140000'
    """
    symbol = " ".join(text.strip().upper().split())
    kind = security_id_kind(symbol)
    if kind is not None:
        raise UnsupportedSecurityError(text, kind)
    if not symbol:
        raise OptionSymbolError(text, "symbol is empty")
    fidelity = _FIDELITY.fullmatch(symbol)
    # OCC strikes are 8 zero-padded digits; Fidelity writes the strike as a price
    occ_strike = (
        fidelity is None
        or (fidelity["strike"].startswith("0") and not fidelity["strike"].startswith("0."))
        or len(fidelity["strike"]) == 8
    )
    if looks_like_occ(symbol) and not symbol.startswith("-") and occ_strike:
        try:
            contract = parse_occ_symbol(symbol)
        except OccSymbolError as exc:
            raise OptionSymbolError(text, f"invalid OCC option symbol: {exc.reason}") from exc
        return _parsed(
            text, contract.root, contract.expiry, contract.option_type, contract.strike, "occ"
        )
    if fidelity is not None:
        expiry = _date(
            2000 + int(fidelity["expiry"][:2]), fidelity["expiry"][2:4], fidelity["expiry"][4:]
        )
        if expiry is None:
            raise OptionSymbolError(
                text, f"expiry {fidelity['expiry']!r} is not a valid date YYMMDD"
            )
        return _parsed(
            text, fidelity["root"], expiry, fidelity["type"], float(fidelity["strike"]), "fidelity"
        )
    return _parse_text(text, symbol)


def looks_like_option_symbol(text: str) -> bool:
    """Whether ``text`` is meant as an option symbol or a CUSIP/ISIN rather than a ticker.

    True for OCC-shaped text (even malformed, see
    :func:`~sigmasight_lib.portfolios.occ.looks_like_occ`), the Fidelity
    shape, a root followed by words of which one is ``C``/``P``/``CALL``/``PUT``
    and one has a digit, and CUSIPs/ISINs with a valid check digit. Tickers
    (``AAPL``, ``BRK.B``, ``BRK B``) are not.
    """
    symbol = " ".join(text.strip().upper().split())
    if looks_like_occ(symbol) or _FIDELITY.fullmatch(symbol) or security_id_kind(symbol):
        return True
    words = symbol.split(" ")
    return (
        len(words) >= 3
        and any(w in _TEXT_TYPES for w in words[1:])
        and any(any(ch.isdigit() for ch in w) for w in words[1:])
    )


def security_id_kind(text: str) -> Literal["CUSIP", "ISIN"] | None:
    """``'CUSIP'`` or ``'ISIN'`` when ``text`` is one with a valid check digit, else None.

    Examples
    --------
    >>> security_id_kind("037833100"), security_id_kind("US0378331005"), security_id_kind("AAPL")
    ('CUSIP', 'ISIN', None)
    """
    symbol = text.strip().upper()
    if _CUSIP.fullmatch(symbol) and cusip_check_digit(symbol[:8]) == int(symbol[8]):
        return "CUSIP"
    if _ISIN.fullmatch(symbol) and _luhn_sum(_isin_digits(symbol)) % 10 == 0:
        return "ISIN"
    return None


def cusip_check_digit(base: str) -> int:
    """Check digit of the first 8 CUSIP characters (modulus 10, double-add-double)."""
    total = 0
    for position, char in enumerate(base.upper()):
        if char.isdigit():
            value = int(char)
        elif char.isalpha():
            value = ord(char) - ord("A") + 10
        else:
            value = {"*": 36, "@": 37, "#": 38}[char]
        if position % 2 == 1:
            value *= 2
        total += value // 10 + value % 10
    return (10 - total % 10) % 10


def _isin_digits(isin: str) -> str:
    return "".join(str(int(char, 36)) for char in isin)


def _luhn_sum(digits: str) -> int:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 == 1 else 1)
        total += value // 10 + value % 10
    return total


def _parse_text(text: str, symbol: str) -> ParsedOption:
    """The root-first, space-separated notations of Schwab, IBKR, E*Trade, Robinhood, tastytrade."""
    expected = (
        "an OCC or Fidelity option symbol, or a root followed by an expiry date, a strike "
        "and C/P (e.g. AAPL 06/16/2017 140.00 C)"
    )
    root, _, rest = symbol.partition(" ")
    if not rest or _TEXT_ROOT.fullmatch(root) is None:
        raise OptionSymbolError(text, f"not an option symbol: expected {expected}")
    dates = [(m, fmt) for pattern, fmt in _TEXT_DATES for m in pattern.finditer(rest)]
    if len(dates) != 1:
        found = "no" if not dates else "more than one"
        raise OptionSymbolError(text, f"{found} expiry date found: expected {expected}")
    match, fmt = dates[0]
    expiry = _text_date(match, fmt)
    if expiry is None:
        raise OptionSymbolError(text, f"expiry {match[0]!r} is not a valid date")
    words = (rest[: match.start()] + " " + rest[match.end() :]).split()
    types = [_TEXT_TYPES[w] for w in words if w in _TEXT_TYPES]
    strikes = [m["value"] for w in words if (m := _TEXT_STRIKE.fullmatch(w))]
    others = [w for w in words if w not in _TEXT_TYPES and not _TEXT_STRIKE.fullmatch(w)]
    if len(types) != 1 or len(strikes) != 1 or others:
        raise OptionSymbolError(
            text,
            f"expected one expiry, one strike and one of C/P/CALL/PUT after the root {root}",
        )
    occ_root = root.replace(".", "").replace("/", "")
    parsed = _parsed(text, occ_root, expiry, types[0], float(strikes[0].replace(",", "")), "text")
    if occ_root != root and parsed.underlying == occ_root:
        # BRK.B written out: the ticker as given is the underlying
        return replace(parsed, underlying=root.replace("/", "."))
    return parsed


def _parsed(
    text: str,
    root: str,
    expiry: dt.date,
    option_type: str,
    strike: float,
    notation: OptionNotation,
) -> ParsedOption:
    """A :class:`ParsedOption` whose contract is valid (OCC limits), else OptionSymbolError."""
    info = root_info(root)
    parsed = ParsedOption(
        root=root,
        underlying=info.underlying,
        expiry=expiry,
        option_type=cast(OptionType, option_type),
        strike=strike,
        standard_deliverable=info.standard_deliverable,
        notation=notation,
        note=info.note,
    )
    try:
        parsed.contract  # noqa: B018 - validates root length, strike and expiry year
    except OccSymbolError as exc:
        raise OptionSymbolError(text, f"invalid option contract: {exc.reason}") from exc
    return parsed


def _text_date(match: re.Match[str], fmt: str) -> dt.date | None:
    year = int(match["y"])
    if year < 100:
        year += 2000
    month = match["mon"] if fmt in ("dmony", "mondy") else match["m"]
    if not month.isdigit():
        month = str(_MONTHS.split("|").index(month[:3]) + 1)
    return _date(year, month, match["d"])


def _date(year: int, month: str, day: str) -> dt.date | None:
    try:
        return dt.date(year, int(month), int(day))
    except ValueError:
        return None
