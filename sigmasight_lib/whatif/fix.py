"""Export a session's trades: CSV, or FIX 4.4 NewOrderSingle (35=D) messages.

FIX: one message per trade, fields separated by SOH (``\\x01``), messages
separated by a newline in the exported file::

    8=FIX.4.4 | 9=<BodyLength> | 35=D | 49=<SenderCompID> | 56=<TargetCompID> |
    34=<MsgSeqNum> | 52=<SendingTime> | 11=<ClOrdID> | 55=<Symbol> |
    [167=OPT | 200=<YYYYMM> | 541=<YYYYMMDD> | 201=<0 put, 1 call> | 202=<strike> |]
    54=<1 buy, 2 sell, 5 sell short> | 60=<TransactTime> | 38=<OrderQty> |
    40=<1 market, 2 limit> | [44=<Price> |] 59=<TimeInForce> | [77=<O open, C close> |]
    10=<CheckSum> |

* BodyLength (9): bytes after the SOH that ends the BodyLength field, up to and
  including the SOH before ``10=``.
* CheckSum (10): sum of every byte before ``10=`` modulo 256, three digits.
* Symbol (55) is the ticker, or the option's underlying root; options carry
  SecurityType OPT, MaturityMonthYear, MaturityDate, PutOrCall and StrikePrice.
* OrderQty (38) is unsigned (shares or contracts); the sign is the Side.
* Side (54) and PositionEffect (77) follow the base portfolio's open position in
  the symbol, updated trade by trade (:func:`order_legs`): a stock sale up to the
  long quantity is a sell (54=2), beyond it or while short a sell short (54=5) —
  a sale that crosses zero is split into the two. Options carry 77: buying back
  a short or selling a long option closes (C), the rest opens (O); an option
  trade that crosses zero is split the same way (selling to open is 54=2, 77=O).
* Times are UTC ``YYYYMMDD-HH:MM:SS.sss``; ClOrdID (11) is
  ``<session id>-<export id>-<order number in the export>``, unique across
  exports (the export id is the ``export_history`` row's).
* MsgSeqNum (34) continues after the last FIX export to the same
  (SenderCompID, TargetCompID) pair (stored on ``export_history``), from 1 for a
  new pair; ``start_seq`` overrides it.
* SenderCompID / TargetCompID are printable ASCII without spaces or ``=``, at
  most :data:`MAX_COMP_ID_LENGTH` characters (:func:`validate_comp_id`).

Every export is recorded in ``export_history`` (format, path, trade count, the
SHA-256 of the content and, for FIX, the comp ids and the MsgSeqNum range).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import ExportHistory, ModelingSession, Position
from sigmasight_lib.exceptions import SigmaSightError
from sigmasight_lib.reporting.csv_safety import csv_text
from sigmasight_lib.whatif import sessions as ws

SOH = "\x01"
FIX_VERSION = "FIX.4.4"
DEFAULT_SENDER = "SIGMASIGHT"
DEFAULT_TARGET = "BROKER"
TIME_IN_FORCE_DAY = "0"
EXPORT_FORMATS = ("csv", "fix")
CSV_COLUMNS = (
    "trade_id", "symbol", "underlying", "side", "quantity", "signed_quantity", "order_type",
    "price", "security_type", "option_type", "strike", "expiry",
)  # fmt: skip


MAX_COMP_ID_LENGTH = 64
"""Longest SenderCompID / TargetCompID accepted (the ``export_history`` column width)."""
SIDE_BUY, SIDE_SELL, SIDE_SELL_SHORT = "1", "2", "5"
OPEN, CLOSE = "O", "C"


class ExportError(SigmaSightError, ValueError):
    """The export cannot be produced (unknown format, no trades, a bad comp id or start)."""


def validate_comp_id(option: str, value: str) -> str:
    """``value`` when it is a valid SenderCompID / TargetCompID, else :class:`ExportError`.

    Allowed: 1 to :data:`MAX_COMP_ID_LENGTH` printable ASCII characters without
    spaces and without ``=`` (a SOH or ``=`` would inject fields into the
    message). ``option`` names the value in the message (``--sender``).
    """
    if not value:
        raise ExportError(f"{option} must not be empty")
    for ch in value:
        if not ("!" <= ch <= "~") or ch == "=":
            shown = repr(ch) if ch.isprintable() and ch != " " else f"U+{ord(ch):04X}"
            raise ExportError(
                f"{option} {value!r}: character {shown} is not allowed "
                "(printable ASCII without spaces or '=')"
            )
    if len(value) > MAX_COMP_ID_LENGTH:
        raise ExportError(
            f"{option} {value!r}: {len(value)} characters, at most {MAX_COMP_ID_LENGTH}"
        )
    return value


@dataclass(frozen=True)
class OrderLeg:
    """One order of a trade: a trade that crosses zero becomes two.

    ``side`` is the FIX Side (54), ``quantity`` unsigned (shares or contracts),
    ``position_effect`` the PositionEffect (77, options only, else None).
    """

    trade: Mapping[str, Any]
    side: str
    quantity: float
    position_effect: str | None


def order_legs(
    trades: Sequence[Mapping[str, Any]], held: Mapping[str, float] | None = None
) -> list[OrderLeg]:
    """The orders of ``trades`` against the positions ``held`` (symbol → signed quantity).

    The position in a symbol starts at ``held`` (0 when absent) and moves with each
    trade. Stocks: a buy is 54=1; a sale is 54=2 up to the long quantity and 54=5
    (sell short) beyond it or while short. Options: the part that reduces the
    position is closing (77=C), the rest opening (77=O); sides are 54=1 / 54=2.
    """
    position = dict(held or {})
    out: list[OrderLeg] = []
    for trade in trades:
        spec = ws.trade_spec(trade)
        qty = float(spec.quantity)
        before = position.get(spec.symbol, 0.0)
        position[spec.symbol] = before + qty
        # the part of the trade that reduces the open position, and the rest
        closing = min(abs(qty), abs(before)) if before * qty < 0 else 0.0
        opening = abs(qty) - closing
        buy = qty > 0
        if buy and not spec.is_option:  # buying to cover is a plain buy: no split
            closing, opening = 0.0, abs(qty)
        parts = [(closing, True), (opening, False)]
        for amount, closes in parts:
            if amount <= 0:
                continue
            if spec.is_option:
                side = SIDE_BUY if buy else SIDE_SELL
                out.append(OrderLeg(trade, side, amount, CLOSE if closes else OPEN))
            else:
                side = SIDE_BUY if buy else (SIDE_SELL if closes else SIDE_SELL_SHORT)
                out.append(OrderLeg(trade, side, amount, None))
    return out


def held_positions(session: Session, portfolio_id: int) -> dict[str, float]:
    """Symbol → summed signed quantity of the portfolio's open positions (no exit date)."""
    stmt = (
        select(Position.symbol, func.sum(Position.quantity))
        .where(Position.portfolio_id == portfolio_id, Position.exit_date.is_(None))
        .group_by(Position.symbol)
    )
    return {symbol: float(qty or 0.0) for symbol, qty in session.execute(stmt)}


def next_seq_num(session: Session, sender: str, target: str) -> int:
    """MsgSeqNum after the last stored FIX export from ``sender`` to ``target`` (1 if none)."""
    last = session.scalar(
        select(func.max(ExportHistory.last_seq_num)).where(
            ExportHistory.sender_comp_id == sender, ExportHistory.target_comp_id == target
        )
    )
    return int(last) + 1 if last is not None else 1


def _number(value: float) -> str:
    """A FIX / CSV decimal without exponent or trailing zeros (``140``, ``57.5``)."""
    text = f"{float(value):.8f}".rstrip("0").rstrip(".")
    return text if text not in ("-0", "") else "0"


def _fix_time(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y%m%d-%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def checksum(text: str) -> str:
    """FIX CheckSum of ``text`` (everything before ``10=``): byte sum mod 256, 3 digits."""
    return f"{sum(text.encode('ascii')) % 256:03d}"


def fix_message(fields: Sequence[tuple[int, str]], msg_type: str = "D") -> str:
    """A complete FIX 4.4 message: header 8/9/35, then ``fields``, then the CheckSum."""
    body = f"35={msg_type}{SOH}" + "".join(f"{tag}={value}{SOH}" for tag, value in fields)
    head = f"8={FIX_VERSION}{SOH}9={len(body.encode('ascii'))}{SOH}"
    return f"{head}{body}10={checksum(head + body)}{SOH}"


def new_order_single(
    order: OrderLeg,
    *,
    cl_ord_id: str,
    seq_num: int,
    sender: str = DEFAULT_SENDER,
    target: str = DEFAULT_TARGET,
    now: dt.datetime | None = None,
    time_in_force: str = TIME_IN_FORCE_DAY,
) -> str:
    """The NewOrderSingle (35=D) of one order (see :func:`order_legs`)."""
    trade = order.trade
    spec = ws.trade_spec(trade)
    now = now or dt.datetime.now(dt.UTC)
    stamp = _fix_time(now)
    fields: list[tuple[int, str]] = [
        (49, validate_comp_id("sender", sender)),
        (56, validate_comp_id("target", target)),
        (34, str(seq_num)),
        (52, stamp),
        (11, cl_ord_id),
        (55, spec.underlying),
    ]
    if spec.is_option:
        assert spec.expiry is not None and spec.strike is not None
        fields += [
            (167, "OPT"),
            (200, spec.expiry.strftime("%Y%m")),
            (541, spec.expiry.strftime("%Y%m%d")),
            (201, "1" if spec.option_type == "C" else "0"),
            (202, _number(spec.strike)),
        ]
    price = trade.get("price")
    fields += [
        (54, order.side),
        (60, stamp),
        (38, _number(order.quantity)),
        (40, "2" if price is not None else "1"),
    ]
    if price is not None:
        fields.append((44, _number(price)))
    fields.append((59, time_in_force))
    if order.position_effect is not None:
        fields.append((77, order.position_effect))
    return fix_message(fields)


def fix_messages(
    trades: Sequence[Mapping[str, Any]],
    *,
    session_id: int,
    held: Mapping[str, float] | None = None,
    export_id: int | None = None,
    sender: str = DEFAULT_SENDER,
    target: str = DEFAULT_TARGET,
    start_seq: int = 1,
    now: dt.datetime | None = None,
) -> list[str]:
    """One NewOrderSingle per order of ``trades`` (:func:`order_legs` against ``held``),
    MsgSeqNum from ``start_seq``; ClOrdID ``<session_id>-<export_id>-<n>`` (without an
    ``export_id``, 12 hex digits of a random UUID stand in for it)."""
    validate_comp_id("sender", sender)
    validate_comp_id("target", target)
    if start_seq < 1:
        raise ExportError(f"start sequence number {start_seq}: must be at least 1")
    now = now or dt.datetime.now(dt.UTC)
    batch = str(export_id) if export_id is not None else uuid.uuid4().hex[:12]
    return [
        new_order_single(
            order,
            cl_ord_id=f"{session_id}-{batch}-{n}",
            seq_num=start_seq + n - 1,
            sender=sender,
            target=target,
            now=now,
        )  # fmt: skip
        for n, order in enumerate(order_legs(trades, held), start=1)
    ]


def trades_csv(trades: Sequence[Mapping[str, Any]]) -> str:
    """The trades as CSV (:data:`CSV_COLUMNS`), one row per trade in id order; cells pass
    through :func:`~sigmasight_lib.reporting.csv_safety.safe_cell` (no spreadsheet formulas)."""
    rows = []
    for t in trades:
        spec = ws.trade_spec(t)
        price = t.get("price")
        rows.append([
            t["id"], spec.symbol, spec.underlying, "BUY" if spec.quantity > 0 else "SELL",
            _number(abs(spec.quantity)), _number(spec.quantity),
            "LIMIT" if price is not None else "MARKET", "" if price is None else _number(price),
            "OPT" if spec.is_option else "CS", spec.option_type or "",
            "" if spec.strike is None else _number(spec.strike),
            spec.expiry.isoformat() if spec.expiry else "",
        ])  # fmt: skip
    return csv_text(CSV_COLUMNS, rows)


def export_session(
    session: Session,
    ref: str | int,
    export_format: str,
    output: str | Path | None = None,
    *,
    sender: str = DEFAULT_SENDER,
    target: str = DEFAULT_TARGET,
    start_seq: int | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Export a session's trades as ``csv`` or ``fix``; write ``output`` when given.

    FIX: sides and position effects against the session's base portfolio
    (:func:`order_legs`); MsgSeqNum from ``start_seq``, by default after the last
    FIX export from ``sender`` to ``target`` (:func:`next_seq_num`).

    Returns ``{"id", "session_id", "format", "path", "trade_count",
    "content_sha256", "content"}`` (for FIX also ``"order_count"``, ``"sender"``,
    ``"target"``, ``"first_seq_num"``, ``"last_seq_num"``) and records the export in
    ``export_history``.
    """
    fmt = export_format.lower()
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {export_format!r} (one of: csv, fix)")
    if fmt == "fix":
        validate_comp_id("sender", sender)
        validate_comp_id("target", target)
        if start_seq is not None and start_seq < 1:
            raise ExportError(f"start sequence number {start_seq}: must be at least 1")
    ms = ws.get_session(session, ref)
    trades = sorted((dict(t) for t in ms.trades or []), key=lambda t: int(t["id"]))
    if not trades:
        raise ExportError(f"modeling session {ms.name!r} (id {ms.id}) has no trades to export")
    row = ExportHistory(
        session_id=ms.id, export_format=fmt, trade_count=len(trades), content_sha256=""
    )
    fix_info: dict[str, Any] = {}
    if fmt == "csv":
        content = trades_csv(trades)
    else:
        first = start_seq if start_seq is not None else next_seq_num(session, sender, target)
        session.add(row)
        session.flush()  # the export id goes into every ClOrdID
        messages = fix_messages(
            trades, session_id=ms.id, held=held_positions(session, ms.portfolio_id),
            export_id=row.id, sender=sender, target=target, start_seq=first, now=now,
        )  # fmt: skip
        content = "\n".join(messages) + "\n"
        row.sender_comp_id, row.target_comp_id = sender, target
        row.first_seq_num, row.last_seq_num = first, first + len(messages) - 1
        fix_info = {
            "order_count": len(messages),
            "sender": sender,
            "target": target,
            "first_seq_num": row.first_seq_num,
            "last_seq_num": row.last_seq_num,
        }
    data = content.encode("utf-8")
    if output is not None:
        path = Path(output).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        row.path = str(path)
    row.content_sha256 = hashlib.sha256(data).hexdigest()
    session.add(row)
    session.flush()
    return {
        "id": row.id,
        "session_id": ms.id,
        "session": ms.name,
        "format": fmt,
        "path": row.path,
        "trade_count": row.trade_count,
        "content_sha256": row.content_sha256,
        **fix_info,
        "content": content,
    }


def export_history(session: Session, limit: int | None = None) -> list[dict[str, Any]]:
    """Recorded exports, newest first (``session`` is the session's name when it still exists)."""
    stmt = (
        select(ExportHistory, ModelingSession.name)
        .outerjoin(ModelingSession, ModelingSession.id == ExportHistory.session_id)
        .order_by(ExportHistory.id.desc())
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        {
            "id": e.id,
            "created_at": e.created_at.isoformat() if e.created_at else None,
            "session_id": e.session_id,
            "session": name,
            "format": e.export_format,
            "trade_count": e.trade_count,
            "path": e.path,
            "content_sha256": e.content_sha256,
            "sender": e.sender_comp_id,
            "target": e.target_comp_id,
            "first_seq_num": e.first_seq_num,
            "last_seq_num": e.last_seq_num,
        }
        for e, name in session.execute(stmt)
    ]
