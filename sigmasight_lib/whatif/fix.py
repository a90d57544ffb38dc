"""Export a session's trades: CSV, or FIX 4.4 NewOrderSingle (35=D) messages.

FIX: one message per trade, fields separated by SOH (``\\x01``), messages
separated by a newline in the exported file::

    8=FIX.4.4 | 9=<BodyLength> | 35=D | 49=<SenderCompID> | 56=<TargetCompID> |
    34=<MsgSeqNum> | 52=<SendingTime> | 11=<ClOrdID> | 55=<Symbol> |
    [167=OPT | 200=<YYYYMM> | 541=<YYYYMMDD> | 201=<0 put, 1 call> | 202=<strike> |]
    54=<1 buy, 2 sell> | 60=<TransactTime> | 38=<OrderQty> |
    40=<1 market, 2 limit> | [44=<Price> |] 59=<TimeInForce> | 10=<CheckSum> |

* BodyLength (9): bytes after the SOH that ends the BodyLength field, up to and
  including the SOH before ``10=``.
* CheckSum (10): sum of every byte before ``10=`` modulo 256, three digits.
* Symbol (55) is the ticker, or the option's underlying root; options carry
  SecurityType OPT, MaturityMonthYear, MaturityDate, PutOrCall and StrikePrice.
* OrderQty (38) is unsigned (shares or contracts); the sign is the Side.
* Times are UTC ``YYYYMMDD-HH:MM:SS.sss``; ClOrdID is
  ``<session id>-<trade id>-<YYYYMMDDHHMMSS>``.

Every export is recorded in ``export_history`` (format, path, trade count and
the SHA-256 of the content).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sigmasight_lib.db.models import ExportHistory, ModelingSession
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


class ExportError(SigmaSightError, ValueError):
    """The export cannot be produced (unknown format, no trades)."""


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
    trade: Mapping[str, Any],
    *,
    session_id: int,
    seq_num: int,
    sender: str = DEFAULT_SENDER,
    target: str = DEFAULT_TARGET,
    now: dt.datetime | None = None,
    time_in_force: str = TIME_IN_FORCE_DAY,
) -> str:
    """The NewOrderSingle (35=D) of one stored trade."""
    spec = ws.trade_spec(trade)
    now = now or dt.datetime.now(dt.UTC)
    stamp = _fix_time(now)
    fields: list[tuple[int, str]] = [
        (49, sender),
        (56, target),
        (34, str(seq_num)),
        (52, stamp),
        (11, f"{session_id}-{trade['id']}-{now.astimezone(dt.UTC):%Y%m%d%H%M%S}"),
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
        (54, "1" if spec.quantity > 0 else "2"),
        (60, stamp),
        (38, _number(abs(spec.quantity))),
        (40, "2" if price is not None else "1"),
    ]
    if price is not None:
        fields.append((44, _number(price)))
    fields.append((59, time_in_force))
    return fix_message(fields)


def fix_messages(
    trades: Sequence[Mapping[str, Any]],
    *,
    session_id: int,
    sender: str = DEFAULT_SENDER,
    target: str = DEFAULT_TARGET,
    start_seq: int = 1,
    now: dt.datetime | None = None,
) -> list[str]:
    """One NewOrderSingle per trade, sequence numbers from ``start_seq``."""
    now = now or dt.datetime.now(dt.UTC)
    return [
        new_order_single(
            t, session_id=session_id, seq_num=start_seq + i, sender=sender, target=target, now=now
        )  # fmt: skip
        for i, t in enumerate(trades)
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
    start_seq: int = 1,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Export a session's trades as ``csv`` or ``fix``; write ``output`` when given.

    Returns ``{"id", "session_id", "format", "path", "trade_count",
    "content_sha256", "content"}`` and records the export in ``export_history``.
    """
    fmt = export_format.lower()
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {export_format!r} (one of: csv, fix)")
    ms = ws.get_session(session, ref)
    trades = sorted((dict(t) for t in ms.trades or []), key=lambda t: int(t["id"]))
    if not trades:
        raise ExportError(f"modeling session {ms.name!r} (id {ms.id}) has no trades to export")
    if fmt == "csv":
        content = trades_csv(trades)
    else:
        messages = fix_messages(trades, session_id=ms.id, sender=sender, target=target,
                                start_seq=start_seq, now=now)  # fmt: skip
        content = "\n".join(messages) + "\n"
    data = content.encode("utf-8")
    path = None
    if output is not None:
        path = Path(output).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    row = ExportHistory(
        session_id=ms.id,
        export_format=fmt,
        path=str(path) if path else None,
        trade_count=len(trades),
        content_sha256=hashlib.sha256(data).hexdigest(),
    )
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
        }
        for e, name in session.execute(stmt)
    ]
