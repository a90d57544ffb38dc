"""What-if sessions, impacts and trade export (issue 7).

The impacts are checked against two independent engine runs: the engines run
on the stored base portfolio and on a second real portfolio written with the
pro-forma positions (base plus trades, netted by hand here), and the impacts'
before / after / change must equal those runs' figures and their difference.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from sigmasight_lib.config import Settings
from sigmasight_lib.db import models
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.exceptions import ImportValidationError
from sigmasight_lib.portfolios.csv_import import parse_positions_csv
from sigmasight_lib.portfolios.positions import make_position_spec
from sigmasight_lib.portfolios.service import find_portfolio, positions_frame, write_portfolio
from sigmasight_lib.runs import ENGINE_RUNNERS
from sigmasight_lib.whatif import fix, impacts, sessions
from sigmasight_lib.whatif.cli import export_group, whatif_group

PORTFOLIO = "Long/Short Hedge Fund Style"
AS_OF = dt.date(2017, 3, 29)
SOH = "\x01"

TRADES: list[dict[str, Any]] = [
    {"symbol": "AAPL", "quantity": -2000},  # nets: 10000 -> 8000
    {"symbol": "XOM", "quantity": -5000},  # closes the stock position
    {"symbol": "JPM170616C00075000", "quantity": -40},  # closes an option
    {"symbol": "SPY", "quantity": 500, "price": 235.5},  # new stock
    {"symbol": "MSFT  170616C00065000", "quantity": 10, "price": 1.25},  # new option (padded OCC)
    {"symbol": "AAPL", "quantity": 500},  # second trade in AAPL: 8000 -> 8500
]
ENGINES = ("greeks", "exposures", "factors", "risk_metrics", "stress")
RESULT_TABLES = (
    models.PositionGreeks,
    models.ExposureResult,
    models.PositionFactorExposure,
    models.PortfolioFactorExposure,
    models.RiskMetric,
    models.PositionRiskContribution,
    models.StressResult,
)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None or (isinstance(b, float) and math.isnan(b)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _engine_figures(settings: Settings, portfolio: str | int) -> dict[tuple[str, str], float]:
    """The impact figures as the engines compute (and save) them."""
    runs = {e: ENGINE_RUNNERS[e](settings, portfolio, AS_OF) for e in ENGINES}
    out: dict[tuple[str, str], float] = {}
    for m in impacts.EXPOSURE_METRICS:
        out[("exposures", m)] = runs["exposures"].summary[m]
    for g in impacts.GREEKS:
        out[("greeks", g)] = runs["greeks"].summary[f"portfolio_{g}"]
    for f, row in runs["factors"].tables["portfolio"].iterrows():
        for c in ("dollar_beta_usd", "beta_to_gross", "beta_to_net"):
            out[("factor_betas", f"{f}.{c}")] = row[c]
    out[("var", "var_95_usd")] = runs["risk_metrics"].summary["var_95_usd"]
    for key, row in runs["stress"].tables["scenarios"].iterrows():
        out[("stress", f"{key}.correlated_pnl_usd")] = row["correlated_pnl_usd"]
        out[("stress", f"{key}.direct_pnl_usd")] = row["direct_pnl_usd"]
    return out


def _stored_results(settings: Settings, portfolio_id: int) -> dict[str, list[tuple]]:
    with session_scope(settings) as session:
        out = {}
        for model in RESULT_TABLES:
            cols = list(model.__table__.columns)
            rows = session.execute(
                select(*cols).where(model.portfolio_id == portfolio_id).order_by(model.id)
            ).all()
            out[model.__tablename__] = [tuple(r) for r in rows]
        positions = session.execute(
            select(models.Position.id, models.Position.symbol, models.Position.quantity)
            .where(models.Position.portfolio_id == portfolio_id)
            .order_by(models.Position.id)
        ).all()
        out["positions"] = [tuple(r) for r in positions]
    return out


def _pro_forma_specs(settings: Settings) -> tuple[str, list]:
    """The base positions plus TRADES, netted per symbol (independently of the library)."""
    with session_scope(settings) as session:
        p = find_portfolio(session, PORTFOLIO)
        owner = p.owner.email
        frame = positions_frame(p)
    records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    held = {r["symbol"]: r for r in records}
    quantities = {s: r["quantity"] for s, r in held.items()}
    new: dict[str, dict[str, Any]] = {}
    for t in TRADES:
        symbol = make_position_spec(t["symbol"], t["quantity"]).symbol
        quantities[symbol] = quantities.get(symbol, 0.0) + t["quantity"]
        if symbol not in held:
            new.setdefault(symbol, t)
    specs = []
    for symbol, qty in quantities.items():
        if qty == 0:
            continue
        if symbol in held:
            r = held[symbol]
            specs.append(
                make_position_spec(
                    symbol,
                    qty,
                    entry_price=r["entry_price"],
                    entry_date=r["entry_date"],
                    tags=r["tags"],
                    strategy=r["strategy"],
                )  # fmt: skip
            )
        else:
            specs.append(
                make_position_spec(
                    symbol, qty, entry_price=new[symbol].get("price"), entry_date=AS_OF
                )
            )
    return owner, specs


def _new_session(settings: Settings, name: str, trades: list[dict[str, Any]]) -> int:
    with session_scope(settings) as session:
        sid = sessions.create_session(session, PORTFOLIO, name)["id"]
        for t in trades:
            sessions.add_trade(session, sid, t["symbol"], t["quantity"], t.get("price"))
    return sid


# --------------------------------------------------------------------------- impacts


def test_impacts_equal_difference_of_two_engine_runs(sqlite_demo_db: Settings) -> None:
    settings = sqlite_demo_db
    before_runs = _engine_figures(settings, PORTFOLIO)
    with session_scope(settings) as session:
        base_id = find_portfolio(session, PORTFOLIO).id
    stored_before = _stored_results(settings, base_id)
    assert all(stored_before[m.__tablename__] for m in RESULT_TABLES)

    sid = _new_session(settings, "hedge tweak", TRADES)
    result = impacts.calculate_impacts(settings, sid, AS_OF)

    # the real portfolio and its stored results are untouched
    assert _stored_results(settings, base_id) == stored_before
    with session_scope(settings) as session:
        stored = session.get(models.ModelingSession, sid)
        assert stored.impacts["as_of"] == AS_OF.isoformat()
        assert stored.impacts["rows"] == json.loads(json.dumps(result["rows"]))

    owner, specs = _pro_forma_specs(settings)
    with session_scope(settings) as session:
        write_portfolio(session, name="What-if pro forma", owner_email=owner, positions=specs)
    after_runs = _engine_figures(settings, "What-if pro forma")

    rows = {(r["section"], r["metric"]): r for r in result["rows"]}
    assert set(rows) == set(before_runs) == set(after_runs)
    assert {s for s, _ in rows} == set(impacts.SECTIONS)
    assert len([k for k in rows if k[0] == "stress"]) >= 2 * 10
    mismatches = []
    for key, row in rows.items():
        b, a = before_runs[key], after_runs[key]
        change = None if b is None or a is None or math.isnan(a) or math.isnan(b) else a - b
        for got, want, what in ((row["before"], b, "before"), (row["after"], a, "after"),
                                (row["change"], change, "change")):  # fmt: skip
            if not _close(got, want):
                mismatches.append((key, what, got, want))
    assert not mismatches, mismatches
    # the trades move what they should
    assert rows[("exposures", "gross_exposure_usd")]["change"] != 0
    assert rows[("var", "var_95_usd")]["change"] != 0
    assert result["positions"] == {"before": 30, "after": 30 - 2 + 2}


def test_netting_and_closing(sqlite_demo_db: Settings) -> None:
    settings = sqlite_demo_db
    result = impacts.calculate_trades(
        settings, PORTFOLIO, [{"symbol": "AAPL", "quantity": -10000}], AS_OF
    )
    assert result["positions"] == {"before": 30, "after": 29}
    with session_scope(settings) as session:
        from sigmasight_lib.db import store

        base = store.load_positions(session, find_portfolio(session, PORTFOLIO).id, AS_OF)
        specs = [
            make_position_spec("AAPL", -12000),  # flips the position short
            make_position_spec("PFE", 10000),  # closes a short
            make_position_spec("SPY", 100),
            make_position_spec("SPY", -100),  # cancels: no new position
        ]
        after = impacts.pro_forma_positions(session, base, specs, AS_OF)
    aapl = after[after["symbol"] == "AAPL"]
    assert len(aapl) == 1 and aapl["quantity"].iloc[0] == -2000.0
    assert aapl["position_type"].iloc[0] == "SHORT"
    assert aapl.index[0] == base.index[base["symbol"] == "AAPL"][0]
    assert "PFE" not in set(after["symbol"]) and "SPY" not in set(after["symbol"])
    assert len(after) == len(base) - 1


def test_unknown_symbol_is_rejected_with_reason(sqlite_demo_db: Settings) -> None:
    settings = sqlite_demo_db
    with session_scope(settings) as session:
        sid = sessions.create_session(session, PORTFOLIO, "bad")["id"]
    with pytest.raises(ImportValidationError) as err, session_scope(settings) as session:
        sessions.add_trade(session, sid, "ZZZZ", 100)
    assert "no market data for ZZZZ" in str(err.value)
    assert err.value.issues[0].field == "symbol"
    with pytest.raises(ImportValidationError, match="no market data for NVDA"):
        impacts.calculate_trades(settings, PORTFOLIO, [{"symbol": "NVDA", "quantity": 1}], AS_OF)
    with pytest.raises(ImportValidationError, match="option expired on 2017-03-17"):
        impacts.calculate_trades(
            settings, PORTFOLIO, [{"symbol": "AAPL170317C00140000", "quantity": 1}], AS_OF
        )


@pytest.mark.parametrize(
    ("symbol", "quantity", "price"),
    [
        ("AAPL", "abc", None),
        ("AAPL", "0", None),
        ("AAPL", "1,234.50-", None),
        ("AAPL170632C00140000", "1", None),
        ("AAPL170616C00140000", "1.5", None),
        ("AA PL!", "10", None),
        ("AAPL", "10", "-5"),
        ("AAPL", "10", "x"),
    ],
)
def test_trade_validation_messages_match_csv_import(
    sqlite_demo_db: Settings, symbol: str, quantity: str, price: str | None
) -> None:
    settings = sqlite_demo_db
    with session_scope(settings) as session:
        sid = sessions.create_session(session, PORTFOLIO, "validation")["id"]
    with pytest.raises(ImportValidationError) as err, session_scope(settings) as session:
        sessions.add_trade(session, sid, symbol, quantity, price)
    got = {(i.field, i.value, i.reason) for i in err.value.issues}
    csv_text = (
        f"symbol,quantity,entry_price,entry_date\n{symbol},{quantity},{price or '1'},2017-01-03\n"
    )
    report = parse_positions_csv(csv_text.replace(",1,234.50-,", ',"1,234.50-",'))
    want = {
        (i.field if i.field != "entry_price" else "price", i.value, i.reason) for i in report.issues
    }
    assert got == want and got


# --------------------------------------------------------------------------- sessions


def test_session_lifecycle_and_stable_trade_ids(sqlite_demo_db: Settings) -> None:
    settings = sqlite_demo_db
    sid = _new_session(settings, "ids", TRADES[:3])
    with session_scope(settings) as session:
        removed = sessions.remove_trade(session, "ids", 2)
        assert removed["symbol"] == "XOM"
        added = sessions.add_trade(session, sid, "SPY", "(100)")
        assert added["id"] == 4 and added["quantity"] == -100.0
        shown = sessions.show_session(session, sid)
        assert [t["id"] for t in shown["trades"]] == [1, 3, 4]
        assert shown["portfolio"] == PORTFOLIO and shown["status"] == "open"
        with pytest.raises(ImportValidationError, match="already has"):
            sessions.create_session(session, PORTFOLIO, "IDS")
        listed = sessions.list_sessions(session)
        assert [(r["name"], r["trade_count"]) for r in listed] == [("ids", 3)]

    saved = impacts.save_session(settings, sid)
    assert saved["status"] == "saved" and saved["saved_as_of"] == AS_OF.isoformat()
    assert saved["saved_batch_run_id"] is None
    with session_scope(settings) as session:
        stored = session.get(models.ModelingSession, sid)
        assert stored.saved_as_of == AS_OF and stored.impacts["as_of"] == AS_OF.isoformat()
    with pytest.raises(sessions.SessionFrozenError), session_scope(settings) as session:
        sessions.add_trade(session, sid, "SPY", 1)


# --------------------------------------------------------------------------- export


def _parse_fix(message: str) -> list[tuple[str, str]]:
    assert message.endswith(SOH)
    return [tuple(f.split("=", 1)) for f in message[:-1].split(SOH)]  # type: ignore[misc]


def test_fix_and_csv_export_with_history(sqlite_demo_db: Settings, tmp_path) -> None:
    settings = sqlite_demo_db
    sid = _new_session(settings, "orders", TRADES)
    now = dt.datetime(2017, 3, 30, 14, 30, 5, 123456, tzinfo=dt.UTC)
    out = tmp_path / "orders.fix"
    with session_scope(settings) as session:
        result = fix.export_session(session, sid, "fix", out, sender="FUND", target="BRKR", now=now)
    raw = out.read_bytes()
    assert result["content_sha256"] == hashlib.sha256(raw).hexdigest()
    messages = raw.decode("ascii").splitlines()
    assert len(messages) == len(TRADES) == result["trade_count"]
    for seq, (message, trade) in enumerate(zip(messages, TRADES, strict=True), start=1):
        fields = _parse_fix(message)
        tags = [t for t, _ in fields]
        values = dict(fields)
        assert tags[:3] == ["8", "9", "35"] and tags[-1] == "10"
        assert values["8"] == "FIX.4.4" and values["35"] == "D"
        # BodyLength: from the byte after "9=...<SOH>" through the SOH before "10="
        start = message.index(SOH, message.index("9=")) + 1
        end = message.rindex("10=")
        assert int(values["9"]) == len(message[start:end].encode())
        # CheckSum: every byte before "10=", summed, modulo 256
        total = 0
        for byte in message[:end].encode():
            total += byte
        assert values["10"] == str(total % 256).zfill(3)
        assert values["49"] == "FUND" and values["56"] == "BRKR" and values["34"] == str(seq)
        assert values["52"] == values["60"] == "20170330-14:30:05.123"
        assert values["11"] == f"{sid}-{result['id']}-{seq}"  # session, export, order
        assert values["54"] == ("1" if trade["quantity"] > 0 else "2")  # no short sale here
        assert float(values["38"]) == abs(trade["quantity"])
        assert values["59"] == "0"
        if "price" in trade:
            assert values["40"] == "2" and float(values["44"]) == trade["price"]
        else:
            assert values["40"] == "1" and "44" not in values
        spec = make_position_spec(trade["symbol"], trade["quantity"])
        assert values["55"] == spec.underlying
        if spec.is_option:
            assert values["167"] == "OPT"
            assert values["201"] == ("1" if spec.option_type == "C" else "0")
            assert float(values["202"]) == spec.strike
            assert values["541"] == spec.expiry.strftime("%Y%m%d")
            assert values["200"] == spec.expiry.strftime("%Y%m")
            # JPM calls: 40 held, sold → close; MSFT calls not held, bought → open
            assert values["77"] == ("C" if trade["quantity"] < 0 else "O")
        else:
            assert "167" not in values and "201" not in values and "77" not in values
    assert _parse_fix(messages[2]) and dict(_parse_fix(messages[2]))["55"] == "JPM"

    with session_scope(settings) as session:
        csv_result = fix.export_session(session, "orders", "csv")
    lines = csv_result["content"].splitlines()
    assert lines[0].startswith("trade_id,symbol,underlying,side,quantity")
    assert lines[1].startswith("1,AAPL,AAPL,SELL,2000,-2000,MARKET")
    assert lines[5].startswith(
        "5,MSFT170616C00065000,MSFT,BUY,10,10,LIMIT,1.25,OPT,C,65,2017-06-16"
    )

    with session_scope(settings) as session:
        history = session.scalars(
            select(models.ExportHistory).order_by(models.ExportHistory.id)
        ).all()
        assert [(h.session_id, h.export_format, h.trade_count) for h in history] == [
            (sid, "fix", 6),
            (sid, "csv", 6),
        ]
        assert history[0].path == str(out.resolve()) and history[1].path is None
        assert history[0].content_sha256 == hashlib.sha256(raw).hexdigest()


def test_cli(sqlite_demo_db: Settings, tmp_path) -> None:
    runner = CliRunner()
    obj = {"settings": sqlite_demo_db}

    def run(group, *args: str) -> Any:  # noqa: ANN001
        result = runner.invoke(group, list(args), obj=obj, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    run(whatif_group, "create", "--portfolio", PORTFOLIO, "--name", "cli")
    assert "trade 1: AAPL -2000" in run(whatif_group, "add-trade", "cli", "AAPL", "-2000")
    run(whatif_group, "add-trade", "cli", "SPY", "100", "--price", "235")
    bad = runner.invoke(whatif_group, ["add-trade", "cli", "AAPL", "abc"], obj=obj)
    assert bad.exit_code == 1 and "field quantity, value 'abc': not a number" in bad.output
    shown = json.loads(run(whatif_group, "show", "cli", "--json"))
    assert [t["symbol"] for t in shown["trades"]] == ["AAPL", "SPY"] and shown["impacts"] is None
    assert json.loads(run(whatif_group, "list", "--json"))[0]["trade_count"] == 2
    calculated = json.loads(run(whatif_group, "calculate", "cli", "--json"))
    assert calculated["as_of"] == AS_OF.isoformat() and calculated["session"] == "cli"
    assert "gross_exposure_usd" in run(whatif_group, "show", "cli")
    assert "saved at 2017-03-29" in run(whatif_group, "save", "cli")
    frozen = runner.invoke(whatif_group, ["remove-trade", "cli", "1"], obj=obj)
    assert frozen.exit_code == 1 and "is saved" in frozen.output
    fix_text = run(whatif_group, "export", "cli", "--format", "fix")
    assert fix_text.count("35=D") == 2
    run(whatif_group, "export", "cli", "--format", "csv", "--output", str(tmp_path / "t.csv"))
    assert (tmp_path / "t.csv").read_text().startswith("trade_id,")
    history = json.loads(run(export_group, "history", "--json"))
    assert [h["format"] for h in history] == ["csv", "fix"]
    assert "cli" in run(export_group, "history")
