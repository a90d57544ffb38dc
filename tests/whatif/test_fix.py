"""FIX export (issue 13 items 9-12): sell short and position effects against the base
portfolio, ClOrdID unique and MsgSeqNum continued across exports, validated comp ids,
and every exported message checked against the FIX 4.4 NewOrderSingle dictionary."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sigmasight_lib.config import Settings
from sigmasight_lib.db import models
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.whatif import fix
from sigmasight_lib.whatif.cli import export_group, whatif_group

from . import fix44_new_order_single as fix44
from .test_whatif import _new_session

SOH = "\x01"
NOW = dt.datetime(2017, 3, 30, 14, 30, 5, 123456, tzinfo=dt.UTC)

# base (params/demo_portfolios.yaml): AAPL +10000, CVX -4000, AMD170421C00015000 -50,
# AAPL170721P00032000 +50, XOM170519P00057500 -30, JPM170616C00075000 +40
TRADES: list[dict[str, Any]] = [
    {"symbol": "AAPL", "quantity": -12000},  # sell 10000, sell short 2000
    {"symbol": "CVX", "quantity": -1000, "price": 100.5},  # sell short while short
    {"symbol": "CVX", "quantity": 500},  # buy to cover: a plain buy
    {"symbol": "AMD170421C00015000", "quantity": 50},  # buy to close a short call
    {"symbol": "AAPL170721P00032000", "quantity": -80},  # sell 50 to close, 30 to open
    {"symbol": "XOM170519P00057500", "quantity": 40},  # buy 30 to close, 10 to open
    {"symbol": "JPM170616C00075000", "quantity": -10},  # sell part of a long call: close
]
EXPECTED = [  # (symbol 55, side 54, quantity 38, position effect 77)
    ("AAPL", "2", "10000", None),
    ("AAPL", "5", "2000", None),
    ("CVX", "5", "1000", None),
    ("CVX", "1", "500", None),
    ("AMD", "1", "50", "C"),
    ("AAPL", "2", "50", "C"),
    ("AAPL", "2", "30", "O"),
    ("XOM", "1", "30", "C"),
    ("XOM", "1", "10", "O"),
    ("JPM", "2", "10", "C"),
]
_TIMESTAMP = re.compile(r"\d{8}-\d{2}:\d{2}:\d{2}(\.\d{3})?$")
_DECIMAL = re.compile(r"-?\d+(\.\d+)?$")


def validate_fix44(message: str) -> dict[int, str]:
    """Check one NewOrderSingle against :mod:`fix44_new_order_single`; its fields by tag."""
    assert message.endswith(SOH), "a message ends with SOH"
    pairs = [f.split("=", 1) for f in message[:-1].split(SOH)]
    assert all(len(p) == 2 and p[0].isdigit() and p[1] for p in pairs), pairs
    tags = [int(t) for t, _ in pairs]
    values = {int(t): v for t, v in pairs}
    assert len(tags) == len(values), f"repeated tag in {tags}"
    assert tags[:3] == [8, 9, 35] and tags[-1] == 10, "8, 9, 35 first and 10 last"
    header_end = max(i for i, t in enumerate(tags) if t in fix44.HEADER_TAGS)
    assert all(t in fix44.HEADER_TAGS for t in tags[: header_end + 1]), "header fields first"
    assert values[8] == fix44.BEGIN_STRING
    for tag in (*fix44.HEADER_REQUIRED, *fix44.NEW_ORDER_SINGLE_REQUIRED, *fix44.TRAILER_TAGS):
        assert tag in values, f"required tag {tag} missing"
    allowed = {*fix44.HEADER_TAGS, *fix44.NEW_ORDER_SINGLE_REQUIRED,
               *fix44.NEW_ORDER_SINGLE_OPTIONAL, *fix44.TRAILER_TAGS}  # fmt: skip
    assert set(tags) <= allowed, f"tags outside NewOrderSingle: {set(tags) - allowed}"
    raw = message.encode("ascii")
    body_start = raw.index(SOH.encode(), raw.index(b"9=")) + 1
    trailer = raw.rindex(b"10=")
    assert int(values[9]) == trailer - body_start, "BodyLength"
    assert values[10] == f"{sum(raw[:trailer]) % 256:03d}", "CheckSum"
    for tag, value in values.items():
        kind = fix44.FIELD_TYPES[tag]
        if kind in ("LENGTH", "SEQNUM", "INT"):
            assert value.isdigit(), (tag, value)
        elif kind in ("PRICE", "QTY"):
            assert _DECIMAL.match(value), (tag, value)
        elif kind == "UTCTIMESTAMP":
            assert _TIMESTAMP.match(value), (tag, value)
        elif kind == "MONTHYEAR":
            assert re.fullmatch(r"\d{6}", value), (tag, value)
        elif kind == "LOCALMKTDATE":
            dt.datetime.strptime(value, "%Y%m%d")
        elif kind == "CHAR":
            assert len(value) == 1, (tag, value)
        assert all(" " <= c <= "~" for c in value), (tag, value)
        if tag in fix44.ENUMS:
            assert value in fix44.ENUMS[tag], f"{tag}={value} not in {sorted(fix44.ENUMS[tag])}"
    if values.get(167) == "OPT":
        assert all(t in values for t in fix44.OPTION_TAGS), "an option names its contract"
    assert float(values[38]) > 0 and int(values[34]) >= 1
    return values


def _export(settings: Settings, ref: int | str, **kwargs: Any) -> tuple[dict, list[dict[int, str]]]:
    with session_scope(settings) as session:
        result = fix.export_session(session, ref, "fix", now=NOW, **kwargs)
    return result, [validate_fix44(m) for m in result["content"].splitlines()]


# --------------------------------------------------------------------------- pure


def test_order_legs_split_at_zero() -> None:
    legs = fix.order_legs(
        [{"symbol": "AAPL", "quantity": -150}, {"symbol": "AAPL", "quantity": -20},
         {"symbol": "AAPL", "quantity": 300}, {"symbol": "SPY170616P00230000", "quantity": -3},
         {"symbol": "SPY170616P00230000", "quantity": 5}],
        {"AAPL": 100.0},
    )  # fmt: skip
    assert [(o.side, o.quantity, o.position_effect) for o in legs] == [
        ("2", 100, None), ("5", 50, None),  # crosses zero
        ("5", 20, None),  # while short
        ("1", 300, None),  # buying to cover stays one buy
        ("2", 3, "O"),  # selling an option not held opens
        ("1", 3, "C"), ("1", 2, "O"),  # buying back 3, then 2 long
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "shown"),
    [("FUND\x0149=EVIL", "U+0001"), ("A=B", "'='"), ("FÜND", "'Ü'"), ("MY FUND", "U+0020"),
     ("X" * 65, "65 characters"), ("", "must not be empty")],
)  # fmt: skip
def test_comp_ids_are_validated(value: str, shown: str) -> None:
    with pytest.raises(fix.ExportError, match=re.escape(shown)):
        fix.validate_comp_id("--sender", value)
    with pytest.raises(fix.ExportError):
        fix.fix_messages([{"symbol": "AAPL", "quantity": 1}], session_id=1, target=value)
    assert fix.validate_comp_id("--sender", "FUND_1.A-b") == "FUND_1.A-b"


# --------------------------------------------------------------------------- database


def test_short_sale_and_option_close_pass_the_fix44_dictionary(sqlite_demo_db: Settings) -> None:
    settings = sqlite_demo_db
    sid = _new_session(settings, "shorts", TRADES)
    result, messages = _export(settings, sid, sender="FUND", target="BRKR")
    got = [(m[55], m[54], m[38], m.get(77)) for m in messages]
    assert got == EXPECTED
    assert all((77 in m) == (m.get(167) == "OPT") for m in messages)
    assert [int(m[34]) for m in messages] == list(range(1, 11))
    assert [m[11] for m in messages] == [f"{sid}-{result['id']}-{n}" for n in range(1, 11)]
    assert result["order_count"] == 10 and result["trade_count"] == 7
    assert messages[2][40] == "2" and messages[2][44] == "100.5"


def test_clordid_unique_and_seqnum_continues_across_exports(sqlite_demo_db: Settings) -> None:
    settings = sqlite_demo_db
    sid = _new_session(settings, "seq", TRADES[:3])  # 4 orders
    first, m1 = _export(settings, sid, sender="FUND", target="BRKR")
    second, m2 = _export(settings, sid, sender="FUND", target="BRKR")  # the same second
    other, m3 = _export(settings, sid, sender="FUND", target="OTHER")
    forced, m4 = _export(settings, sid, sender="FUND", target="BRKR", start_seq=100)
    after, m5 = _export(settings, sid, sender="FUND", target="BRKR")
    ids = [m[11] for ms in (m1, m2, m3, m4, m5) for m in ms]
    assert len(ids) == len(set(ids)) == 20
    assert [int(m[34]) for m in m1 + m2] == list(range(1, 9))
    assert [int(m[34]) for m in m3] == [1, 2, 3, 4]  # another pair starts at 1
    assert [int(m[34]) for m in m4] == [100, 101, 102, 103]
    assert [int(m[34]) for m in m5] == [104, 105, 106, 107]
    with session_scope(settings) as session:
        rows = session.scalars(select(models.ExportHistory).order_by(models.ExportHistory.id))
        assert [(r.target_comp_id, r.first_seq_num, r.last_seq_num) for r in rows] == [
            ("BRKR", 1, 4), ("BRKR", 5, 8), ("OTHER", 1, 4), ("BRKR", 100, 103),
            ("BRKR", 104, 107),
        ]  # fmt: skip
    with pytest.raises(fix.ExportError, match="at least 1"), session_scope(settings) as session:
        fix.export_session(session, sid, "fix", start_seq=0)


def test_cli_rejects_bad_comp_ids_in_one_line(sqlite_demo_db: Settings) -> None:
    runner = CliRunner()
    obj = {"settings": sqlite_demo_db}
    _new_session(sqlite_demo_db, "cli-fix", TRADES[:1])
    for option, value, shown in (
        ("--sender", "FUND\x0149=EVIL", "U+0001"),
        ("--target", "BRÖKER", "'Ö'"),
        ("--sender", "A=B", "'='"),
    ):
        out = runner.invoke(whatif_group, ["export", "cli-fix", "--format", "fix", option, value],
                            obj=obj)  # fmt: skip
        assert out.exit_code == 1, out.output
        lines = out.output.strip().splitlines()
        assert len(lines) == 1 and option in lines[0] and shown in lines[0], out.output
        assert "Traceback" not in out.output
    ok = runner.invoke(whatif_group, ["export", "cli-fix", "--format", "fix", "--start-seq", "7"],
                       obj=obj)  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert [validate_fix44(m)[34] for m in ok.output.splitlines()] == ["7", "8"]
    bad = runner.invoke(whatif_group, ["export", "cli-fix", "--format", "fix", "--start-seq", "0"],
                        obj=obj)  # fmt: skip
    assert bad.exit_code == 2 and "--start-seq" in bad.output
    history = runner.invoke(export_group, ["history", "--json"], obj=obj)
    assert '"last_seq_num": 8' in history.output
