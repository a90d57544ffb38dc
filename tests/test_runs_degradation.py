"""Engines degrade per position: a position without data is excluded with its reason."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from sigmasight_lib.cli import main
from sigmasight_lib.db.models import Portfolio, Position
from sigmasight_lib.db.session import session_scope
from sigmasight_lib.runs import ENGINE_RUNNERS

BOOK = "Balanced Individual Investor"


@pytest.fixture
def book_with_unknown(demo_db):
    """The balanced demo book plus a position in a ticker the market data does not have."""
    with session_scope(demo_db) as session:
        p = session.scalar(sa.select(Portfolio).where(Portfolio.name == BOOK))
        session.add(Position(portfolio_id=p.id, symbol="ZZZZ", underlying="ZZZZ", position_type="LONG",
                             quantity=100, entry_price=10.0))  # fmt: skip
    return demo_db


@pytest.mark.parametrize("engine", list(ENGINE_RUNNERS))
def test_every_engine_runs_and_names_the_position_without_data(book_with_unknown, engine):
    run = ENGINE_RUNNERS[engine](book_with_unknown, BOOK)
    text = json.dumps(run.to_dict())
    assert "ZZZZ" in text  # listed with a reason, not silently dropped
    if engine in ("valuation", "exposures", "factors", "risk_metrics"):
        assert any("ZZZZ" in note for note in run.notes) or "no price" in text


def test_custom_scenarios_file(demo_db, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(
        "SIGMASIGHT_DATABASE_URL", demo_db.database_url.render_as_string(hide_password=False)
    )
    monkeypatch.setenv("SIGMASIGHT_PARAMS_DIR", str(demo_db.params_dir))
    good = tmp_path / "mine.yaml"
    good.write_text(
        "scenarios:\n  - key: my_oil_shock\n    name: My oil shock\n    category: custom\n"
        "    shocks: {Oil: -0.30, Gold: 0.10}\n",
        encoding="utf-8",
    )
    main(["-q", "engine", "stress", "--portfolio", BOOK, "--scenarios", str(good), "--json"])
    out = json.loads(capsys.readouterr().out)
    (row,) = out["tables"]["scenarios"]
    assert row["key"] == "my_oil_shock" and row["partial"] is True and row["unmapped"] == "Gold"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "scenarios:\n  - key: broken\n    name: Broken\n    shocks: {Market: lots}\n",
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exit_info:
        main(["-q", "engine", "stress", "--portfolio", BOOK, "--scenarios", str(bad)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert "bad.yaml" in err and "broken" in err and "Market" in err and "'lots'" in err
