"""The parts of the FIX 4.4 data dictionary a NewOrderSingle (35=D) export touches.

Transcribed by hand (not copied) from QuickFIX's dictionary ``spec/FIX44.xml``
(https://github.com/quickfix/quickfix, commit 005842d29b5a0eb4bcde583e0a8e273b2490a056):
the ``<header>`` fields with ``required='Y'``, the ``NewOrderSingle`` message
(``msgtype='D'``: ClOrdID, the Instrument component, Side, TransactTime, the
OrderQtyData component and OrdType are required; HandlInst (21) is optional in 4.4,
unlike 4.2), the ``<trailer>`` CheckSum, and the FIX 4.4 field types and enumerations
(FIX 4.4 specification, Volume 6, field dictionary) of every tag the export writes.
"""

from __future__ import annotations

BEGIN_STRING = "FIX.4.4"

HEADER_REQUIRED = (8, 9, 35, 49, 56, 34, 52)
"""BeginString, BodyLength, MsgType, SenderCompID, TargetCompID, MsgSeqNum, SendingTime."""
HEADER_TAGS = frozenset({*HEADER_REQUIRED, 115, 128, 90, 91, 50, 142, 57, 143, 116, 144, 129,
                         145, 43, 97, 122, 212, 213, 347, 369, 627})  # fmt: skip
TRAILER_TAGS = (10,)

NEW_ORDER_SINGLE_REQUIRED = (11, 54, 60, 40, 55, 38)
"""ClOrdID, Side, TransactTime, OrdType; Symbol (55) for the required Instrument
component and OrderQty (38) for the required OrderQtyData component, as this export
identifies instruments by symbol and orders by quantity."""
NEW_ORDER_SINGLE_OPTIONAL = frozenset({21, 44, 59, 77, 167, 200, 541, 201, 202})
"""Optional NewOrderSingle fields (HandlInst, Price, TimeInForce, PositionEffect) and the
Instrument component's SecurityType, MaturityMonthYear, MaturityDate, PutOrCall and
StrikePrice; the validator refuses any other tag (a stricter check than the dictionary)."""

FIELD_TYPES = {
    8: "STRING", 9: "LENGTH", 35: "STRING", 49: "STRING", 56: "STRING", 34: "SEQNUM",
    52: "UTCTIMESTAMP", 11: "STRING", 55: "STRING", 167: "STRING", 200: "MONTHYEAR",
    541: "LOCALMKTDATE", 201: "INT", 202: "PRICE", 54: "CHAR", 60: "UTCTIMESTAMP",
    38: "QTY", 40: "CHAR", 44: "PRICE", 59: "CHAR", 77: "CHAR", 10: "STRING",
}  # fmt: skip

ENUMS = {
    35: {"D"},
    # Side: 1 Buy, 2 Sell, 3 Buy minus, 4 Sell plus, 5 Sell short, 6 Sell short exempt,
    # 7 Undisclosed, 8 Cross, 9 Cross short, A Cross short exempt, B As defined,
    # C Opposite, D Subscribe, E Redeem, F Lend, G Borrow
    54: set("123456789ABCDEFG"),
    # OrdType (the first values of the enumeration): 1 Market, 2 Limit, 3 Stop, 4 Stop limit
    40: {"1", "2", "3", "4"},
    # TimeInForce: 0 Day, 1 GTC, 2 At the opening, 3 IOC, 4 FOK, 5 GTX, 6 GTD, 7 At the close
    59: set("01234567"),
    # PositionEffect: O Open, C Close, R Rolled, F FIFO
    77: {"O", "C", "R", "F"},
    # PutOrCall: 0 Put, 1 Call
    201: {"0", "1"},
    # SecurityType (the two this export could use): CS common stock, OPT option
    167: {"CS", "OPT"},
}
"""Enumerated values of the FIX 4.4 fields the export writes."""

OPTION_TAGS = (167, 200, 201, 202)
"""SecurityType OPT, MaturityMonthYear, PutOrCall and StrikePrice identify a listed option."""
