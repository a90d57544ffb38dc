"""Reports from stored results: report.json against its schema, N/A degradation in every
format, the pinned positions.csv columns, markdown sections, HTML escaping, stored values."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import html
import io
import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from sigmasight_lib.config import Settings
from sigmasight_lib.db.models import (
    Portfolio,
    PortfolioFactorExposure,
    PositionValuation,
    RiskMetric,
    StressResult,
    StressScenario,
    Tag,
)
from sigmasight_lib.db.session import dispose_engine, session_scope, upgrade
from sigmasight_lib.exceptions import NotFoundError
from sigmasight_lib.params import BenchmarkParams
from sigmasight_lib.portfolios.service import find_portfolio
from sigmasight_lib.reporting.cli import report_command
from sigmasight_lib.reporting.tables import (
    GROUPS,
    POSITION_CSV_COLUMNS,
    executive_summary,
    item_key,
    load_report_data,
)
from sigmasight_lib.reporting.writers import (
    SECTION_HEADINGS,
    _pct,
    _usd,
    load_schema,
    parse_formats,
    report_json,
    report_markdown,
    write_reports,
)
from sigmasight_lib.runs import ENGINE_RUNNERS
from tests.conftest import _settings_for, seed_demo_database

AS_OF = dt.date(2017, 3, 29)
DEMO_ROWS = {
    "Balanced Individual Investor": 16,
    "Sophisticated High Net Worth": 17,
    "Long/Short Hedge Fund Style": 30,
}
HEDGE_FUND = "Long/Short Hedge Fund Style"

EXPECTED_CSV_COLUMNS = [
    "position_id", "symbol", "underlying", "position_type", "quantity", "multiplier", "strike",
    "expiry", "option_type", "tags", "sector",
    "price", "price_source", "market_value_usd", "exposure_usd", "unrealized_pnl_usd",
    "realized_pnl_usd", "daily_pnl_usd",
    "delta", "gamma", "theta", "vega", "rho", "implied_vol", "delta_adjusted_exposure_usd",
    "beta_market", "beta_value", "beta_growth", "beta_momentum", "beta_quality", "beta_size",
    "beta_low_volatility", "factor_r_squared",
    "ir_beta", "correlation_to_portfolio", "risk_contribution_share", "notes",
]  # fmt: skip


def run_engines(settings: Settings, portfolio: str, skip: tuple[str, ...] = ()) -> None:
    """Every engine of ``ENGINE_RUNNERS`` except ``skip`` (snapshot with 5 backfill days)."""
    for name, runner in ENGINE_RUNNERS.items():
        if name not in skip:
            runner(settings, portfolio, AS_OF, **({"backfill": 5} if name == "snapshot" else {}))


def validator() -> jsonschema.Draft202012Validator:
    schema = load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_valid(doc: dict) -> None:
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


@pytest.fixture(scope="module")
def full_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The ``sqlite_demo_db`` data (same seeding helper), module-scoped, with every engine
    run for the three demo portfolios at 2017-03-29."""
    tmp = tmp_path_factory.mktemp("reports")
    settings = _settings_for(f"sqlite:///{tmp / 'test.db'}", tmp)
    upgrade(settings)
    seed_demo_database(settings)
    for name in DEMO_ROWS:
        run_engines(settings, name)
    yield settings
    dispose_engine(settings)


@pytest.fixture(scope="module")
def written(full_db: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Portfolio name → format → path, all four artifacts for each demo portfolio."""
    out = tmp_path_factory.mktemp("artifacts")
    return {
        name: write_reports(full_db, name, output_dir=out / item_key(name)) for name in DEMO_ROWS
    }


# --------------------------------------------------------------------------- schema


def test_every_report_json_validates_against_the_schema(written: dict[str, dict]) -> None:
    for name, paths in written.items():
        doc = json.loads(paths["json"].read_text(encoding="utf-8"))
        assert_valid(doc)
        assert list(doc) == ["metadata", *GROUPS]
        assert doc["metadata"]["portfolio"] == name
        assert doc["metadata"]["as_of"] == "2017-03-29"
        assert doc["metadata"]["provider"] == "offline"
        assert doc["metadata"]["missing_groups"] is None
        assert {g: doc[g]["status"] for g in GROUPS} == dict.fromkeys(GROUPS, "ok")


def test_schema_rejects_what_report_json_must_not_contain(written: dict[str, dict]) -> None:
    doc = json.loads(written[HEDGE_FUND]["json"].read_text(encoding="utf-8"))
    v = validator()
    bad_number = json.loads(json.dumps(doc))
    bad_number["risk_metrics"]["var_95_usd"] = "32483.88"
    nested = json.loads(json.dumps(doc))
    nested["stress_tests"]["market_down_10.direct_pnl_usd"] = {"value": 1.0}
    ok_with_reason = json.loads(json.dumps(doc))
    ok_with_reason["valuation"]["reason"] = "something"
    na_without_reason = json.loads(json.dumps(doc))
    na_without_reason["greeks"]["status"] = "n/a"
    bad_date = json.loads(json.dumps(doc))
    bad_date["metadata"]["as_of"] = "29/03/2017"
    extra_group = {**doc, "notes": {"status": "ok", "reason": None}}
    bad_key = json.loads(json.dumps(doc))
    bad_key["factors"]["Market Beta"] = 1.0
    for broken in (bad_number, nested, ok_with_reason, na_without_reason, bad_date, extra_group,
                   bad_key):  # fmt: skip
        assert not v.is_valid(broken)


# --------------------------------------------------------------------------- csv


def test_positions_csv_columns_are_pinned() -> None:
    assert list(POSITION_CSV_COLUMNS) == EXPECTED_CSV_COLUMNS
    assert 30 <= len(POSITION_CSV_COLUMNS) <= 40


def test_positions_csv_has_one_row_per_position(written: dict[str, dict]) -> None:
    for name, rows in DEMO_ROWS.items():
        text = written[name]["csv"].read_text(encoding="utf-8")
        reader = csv.reader(io.StringIO(text))
        header = next(reader)
        body = list(reader)
        assert header == EXPECTED_CSV_COLUMNS
        assert len(body) == rows, name
        ids = [int(r[0]) for r in body]
        assert len(set(ids)) == rows


def test_positions_csv_values(full_db: Settings) -> None:
    with session_scope(full_db) as session:
        pid = find_portfolio(session, HEDGE_FUND).id
        data = load_report_data(session, pid, AS_OF)
        stored = dict(
            session.execute(
                select(PositionValuation.position_id, PositionValuation.market_value_usd).where(
                    PositionValuation.portfolio_id == pid, PositionValuation.as_of == AS_OF
                )
            ).all()
        )
    table = data.position_table.set_index("position_id")
    for position_id, value in stored.items():
        assert table.at[position_id, "market_value_usd"] == value
    corr = table["correlation_to_portfolio"]
    assert corr.notna().all() and (corr.abs() <= 1.0).all()
    assert table["beta_growth"].isna().all()  # no offline Growth proxy: an empty column
    assert table["beta_market"].notna().all()
    assert table["notes"].isna().all()
    options = table[table["option_type"].isin(["C", "P"])]
    assert len(options) == 5 and options["expiry"].notna().all()


def test_reconstructed_history_matches_the_stored_risk_metrics(full_db: Settings) -> None:
    """The constant-holdings series behind correlation_to_portfolio, rebuilt from stored
    prices and exposures, reproduces the risk-metrics engine's volatility and VaR."""
    with session_scope(full_db) as session:
        for name in DEMO_ROWS:
            data = load_report_data(session, find_portfolio(session, name).id, AS_OF)
            returns = data.returns["return"]
            m = data.risk_metrics.metrics
            assert len(returns) == m["history_days"] == 252
            assert returns.std(ddof=1) * math.sqrt(252) == pytest.approx(
                m["annual_volatility"], rel=1e-9
            )
            var_95 = -np.quantile(returns, 0.05, method="inverted_cdf")
            assert var_95 == pytest.approx(m["var_95"], rel=1e-6)


# --------------------------------------------------------------------------- markdown / json


def test_markdown_contains_every_section(written: dict[str, dict]) -> None:
    for name, paths in written.items():
        md = paths["md"].read_text(encoding="utf-8")
        assert md.startswith(f"# SigmaSight report: {name}\n")
        headings = re.findall(r"^## (.+)$", md, flags=re.MULTILINE)
        assert headings == list(SECTION_HEADINGS)
        assert "**N/A:**" not in md
        assert not re.search(r"\bnan\b", md, flags=re.IGNORECASE)
        # pipe tables: header, rule, rows of equal width
        for block in re.findall(r"(?:^\|.*\|\n)+", md, flags=re.MULTILINE):
            lines = block.splitlines()
            assert len({len(line) for line in lines}) == 1
            assert re.fullmatch(r"\|( -+:? \|)+", lines[1])


def test_report_json_numbers_equal_the_stored_rows(full_db: Settings, written: dict) -> None:
    doc = json.loads(written[HEDGE_FUND]["json"].read_text(encoding="utf-8"))
    with session_scope(full_db) as session:
        pid = find_portfolio(session, HEDGE_FUND).id
        var = session.scalar(
            select(RiskMetric.value).where(
                RiskMetric.portfolio_id == pid, RiskMetric.as_of == AS_OF,
                RiskMetric.metric == "var_95_usd",
            )
        )  # fmt: skip
        gross_mv = session.scalar(
            select(func.sum(PositionValuation.market_value_usd)).where(
                PositionValuation.portfolio_id == pid, PositionValuation.as_of == AS_OF
            )
        )
        signed = session.scalars(
            select(PositionValuation.exposure_usd).where(
                PositionValuation.portfolio_id == pid, PositionValuation.as_of == AS_OF
            )
        ).all()
        crash = session.execute(
            select(StressResult.direct_pnl_usd, StressResult.correlated_pnl_usd)
            .join(StressScenario, StressScenario.id == StressResult.scenario_id)
            .where(StressResult.portfolio_id == pid, StressResult.as_of == AS_OF,
                   StressScenario.key == "market_crash_35")
        ).one()  # fmt: skip
        worst = session.execute(
            select(StressScenario.key, StressResult.correlated_pnl_usd)
            .join(StressScenario, StressScenario.id == StressResult.scenario_id)
            .where(StressResult.portfolio_id == pid, StressResult.as_of == AS_OF,
                   StressResult.correlated_pnl_usd.is_not(None))
            .order_by(StressResult.correlated_pnl_usd)
            .limit(1)
        ).one()  # fmt: skip
        market = session.execute(
            select(
                PortfolioFactorExposure.dollar_beta_usd,
                PortfolioFactorExposure.beta_to_gross,
                PortfolioFactorExposure.beta_to_net,
            ).where(
                PortfolioFactorExposure.portfolio_id == pid,
                PortfolioFactorExposure.as_of == AS_OF,
                PortfolioFactorExposure.factor_id == 1,
            )
        ).one()
        summary = executive_summary(load_report_data(session, pid, AS_OF))
    assert isinstance(doc["risk_metrics"]["var_95_usd"], float)
    assert doc["risk_metrics"]["var_95_usd"] == var == summary["var_95_usd"]
    # net liquidation value = long − short market value, by hand from the signed values
    long_mv = sum(x for x in signed if x > 0)
    short_mv = -sum(x for x in signed if x < 0)
    nlv = doc["valuation"]["net_liquidation_value_usd"]
    assert nlv == pytest.approx(long_mv - short_mv, rel=1e-12)
    assert doc["valuation"]["gross_market_value_usd"] == pytest.approx(gross_mv, rel=1e-12)
    assert gross_mv == pytest.approx(long_mv + short_mv, rel=1e-12)
    assert summary["net_liquidation_value_usd"] == nlv
    assert "market_value_usd" not in doc["valuation"]
    assert doc["stress_tests"]["market_crash_35.direct_pnl_usd"] == crash[0]
    assert doc["stress_tests"]["market_crash_35.correlated_pnl_usd"] == crash[1]
    assert doc["stress_tests"]["market_crash_35.partial"] is False
    assert doc["stress_tests"]["worst_scenario"] == worst[0] == summary["worst_scenario"]
    assert doc["stress_tests"]["worst_correlated_pnl_usd"] == worst[1]
    assert doc["stress_tests"]["scenarios"] == 27
    assert doc["stress_tests"]["gold_rally_20.direct_pnl_usd"] is None
    assert doc["stress_tests"]["gold_rally_20.unmapped"] == "Gold"
    assert doc["factors"]["market.dollar_beta_usd"] == market[0]
    assert summary["market_dollar_beta_usd"] == market[0]
    assert doc["factors"]["market.beta_to_gross"] == market[1] == summary["market_beta_to_gross"]
    assert doc["factors"]["market.beta_to_net"] == market[2] == summary["market_beta_to_net"]
    assert market[1] == pytest.approx(0.2239, abs=1e-4)  # the headline the issue quotes
    assert doc["factors"]["growth.beta_to_gross"] is None
    assert doc["factors"]["growth.reason"] == "no offline proxy for Growth"
    assert doc["exposures"]["position_count"] == 30


def test_default_as_of_and_output_folder(full_db: Settings) -> None:
    paths = write_reports(full_db, "balanced-individual-investor", formats="json,md")
    folder = full_db.outputs_dir / "2017-03-29" / "balanced-individual-investor"
    assert paths == {"md": folder / "report.md", "json": folder / "report.json"}
    assert all(p.is_file() for p in paths.values())


def test_unknown_format_is_rejected() -> None:
    assert parse_formats("html, md") == ("md", "html")
    assert parse_formats(None) == ("md", "json", "csv", "html")
    with pytest.raises(ValueError, match="'pdf'"):
        parse_formats("md,pdf")


def test_cli_writes_and_prints_paths(full_db: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        report_command,
        [HEDGE_FUND, "--as-of", "2017-03-29", "--format", "md,csv", "--output", str(tmp_path),
         "--json"],
        obj={"settings": full_db},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "md": str(tmp_path / "report.md"),
        "csv": str(tmp_path / "positions.csv"),
    }
    bad = runner.invoke(report_command, ["3", "--format", "pdf"], obj={"settings": full_db})
    assert bad.exit_code == 2 and "pdf" in bad.output


# --------------------------------------------------------------------------- degradation


def test_missing_engine_is_na_with_reason_in_every_format(
    sqlite_demo_db: Settings, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="no stored engine results"):
        write_reports(sqlite_demo_db, HEDGE_FUND)
    run_engines(sqlite_demo_db, HEDGE_FUND, skip=("stress", "market_risk"))
    paths = write_reports(sqlite_demo_db, HEDGE_FUND, output_dir=tmp_path)
    reason = "not run for 2017-03-29"

    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert_valid(doc)
    for group in ("stress_tests", "market_risk"):
        assert doc[group]["status"] == "n/a"
        assert doc[group]["reason"] == reason
    assert doc["metadata"]["missing_groups"] == "market_risk, stress_tests"
    assert doc["valuation"]["status"] == "ok" and doc["valuation"]["reason"] is None

    md = paths["md"].read_text(encoding="utf-8")
    assert re.findall(r"^## (.+)$", md, flags=re.MULTILINE) == list(SECTION_HEADINGS)
    stress = md.split("## Stress tests", 1)[1].split("\n## ", 1)[0]
    assert f"**N/A:** {reason}." in stress
    assert f"Stress tests ({reason})" in md  # header: which engines are missing
    summary = md.split("## Executive summary", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"\| Worst stress scenario +\| +n/a \({reason}\) \|", summary)

    page = paths["html"].read_text(encoding="utf-8")
    assert f"<strong>N/A:</strong> {reason}." in page
    assert page.count(reason) >= 3

    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text(encoding="utf-8"))))
    assert len(rows) == 30
    assert all(r["ir_beta"] == "" for r in rows)
    assert all(f"market_risk: {reason}" in r["notes"] for r in rows)
    assert all(r["beta_market"] != "" for r in rows)


def test_user_text_is_escaped_in_html(sqlite_demo_db: Settings, tmp_path: Path) -> None:
    nasty = "<b>x</b> & <script>alert(1)</script>"
    with session_scope(sqlite_demo_db) as session:
        portfolio = find_portfolio(session, HEDGE_FUND)
        portfolio.name = nasty
        # written past the tag rules (which forbid it) to prove the report escapes anyway
        hostile = '<img src="http://e.x/a.png">'
        tag = Tag(owner_id=portfolio.owner_id, name=hostile, name_key=hostile.casefold())
        session.add(tag)
        portfolio.positions[0].tags.append(tag)
        portfolio_id = portfolio.id
    run_engines(sqlite_demo_db, portfolio_id, skip=("stress", "correlations", "market_risk"))
    paths = write_reports(sqlite_demo_db, portfolio_id, output_dir=tmp_path)
    page = paths["html"].read_text(encoding="utf-8")
    assert "<script" not in page.lower()
    assert "<b>x" not in page and '<img src="http' not in page
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=&quot;http://e.x/a.png&quot;&gt;" in page
    sources = re.findall(r'\bsrc="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/svg+xml;base64,") for s in sources)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page

    md = paths["md"].read_text(encoding="utf-8")
    assert "<script>" not in md and r"\<script\>" in md
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert doc["metadata"]["portfolio"] == nasty
    assert_valid(doc)
    with session_scope(sqlite_demo_db) as session:
        assert session.get(Portfolio, portfolio_id).name == nasty


def test_report_json_of_loaded_data_matches_the_file(full_db: Settings, written: dict) -> None:
    with session_scope(full_db) as session:
        data = load_report_data(session, find_portfolio(session, HEDGE_FUND).id, AS_OF)
    doc = report_json(data)
    on_disk = json.loads(written[HEDGE_FUND]["json"].read_text(encoding="utf-8"))
    for group in GROUPS:
        assert doc[group] == on_disk[group]


# --------------------------------------------------------------------------- html layout

TILE_RE = re.compile(
    r'<div class="tile"><div class="label">(.*?)</div><div class="value[^"]*">(.*?)</div>'
    r'<div class="note">(.*?)</div></div>'
)


def test_html_tiles_show_the_executive_summary_figures(full_db: Settings, written: dict) -> None:
    for name, paths in written.items():
        page = paths["html"].read_text(encoding="utf-8")
        with session_scope(full_db) as session:
            data = load_report_data(session, find_portfolio(session, name).id, AS_OF)
        s = executive_summary(data)
        tiles = {html.unescape(k): (html.unescape(v), html.unescape(n))
                 for k, v, n in TILE_RE.findall(page)}  # fmt: skip
        assert list(tiles) == [
            "Net liquidation value", "Daily P&L", "VaR 95 %, 1 day", "Worst stress scenario",
            "Market dollar beta",
        ]  # fmt: skip
        assert tiles["Net liquidation value"][0] == _usd(s["net_liquidation_value_usd"])
        assert tiles["Daily P&L"][0] == _usd(s["daily_pnl_usd"])
        assert tiles["VaR 95 %, 1 day"] == (
            _usd(s["var_95_usd"]), f"{_pct(s['var_95'])} of gross exposure (historical)"
        )  # fmt: skip
        assert tiles["Worst stress scenario"] == (
            _usd(s["worst_correlated_pnl_usd"]), f"{s['worst_scenario_name']} (correlated)"
        )  # fmt: skip
        assert tiles["Market dollar beta"][0] == _usd(s["market_dollar_beta_usd"])
        # the same figures are in the markdown's executive summary
        md = paths["md"].read_text(encoding="utf-8")
        for figure in (tiles["Net liquidation value"][0], tiles["VaR 95 %, 1 day"][0]):
            assert figure.replace("$", "\\$") in md or figure in md


def test_html_layout_has_columns_toc_and_stays_offline(written: dict) -> None:
    page = written[HEDGE_FUND]["html"].read_text(encoding="utf-8")
    assert page.count('<div class="row">') >= 2 and '<div class="col">' in page
    assert "grid-template-columns" in page
    sections = re.findall(r'<h2 id="([a-z_]+)">', page)
    assert set(sections) == {"summary", *GROUPS}
    toc = re.search(r'<nav class="toc">(.*?)</nav>', page).group(1)
    assert re.findall(r'href="#([a-z_]+)"', toc) == sections  # in page order
    assert "<script" not in page.lower() and "<link" not in page and "@import" not in page
    assert "url(" not in page and "@font-face" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    # wide tables scroll inside their card instead of widening the page
    assert page.count('<div class="scroll"><table') == page.count("<table")


def test_html_charts_are_inline_svg_images_without_script_or_links(written: dict) -> None:
    page = written[HEDGE_FUND]["html"].read_text(encoding="utf-8")
    images = re.findall(
        r'<img alt="([^"]*)" width="(\d+)" height="(\d+)" src="data:image/svg\+xml;base64,([^"]+)"',
        page,
    )
    assert len(images) >= 10
    assert 'class="na">Chart' not in page  # every chart was drawn (a failure is a note)
    for alt, width, height, data in images:
        svg = base64.b64decode(data).decode("utf-8")
        assert "<svg" in svg and "viewBox" in svg, alt
        assert "<script" not in svg and "http://www.w3.org" in svg  # only the namespaces
        links = re.findall(r'href="([^"#][^"]*)"', svg)
        assert all(link.startswith("data:") for link in links), (alt, links)
        # the figure's size in points is the displayed size in CSS px at 96 px per inch
        w_pt, h_pt = (
            float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups()
        )
        assert abs(w_pt / 72 * 96 - int(width)) <= 1 and abs(h_pt / 72 * 96 - int(height)) <= 1, alt
        assert int(width) <= 1180, alt  # fits a card at 1280 px


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_html_fits_1280_px_without_horizontal_scroll(written: dict, tmp_path: Path) -> None:
    for name, paths in written.items():
        page = paths["html"].read_text(encoding="utf-8")
        probe = page.replace(
            "</body>",
            '<script>document.title = "W" + document.documentElement.scrollWidth</script></body>',
        )
        path = tmp_path / f"{item_key(name)}.html"
        path.write_text(probe, encoding="utf-8")
        out = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", f"--user-data-dir={tmp_path / 'chr'}",
             "--window-size=1280,2000", "--dump-dom", path.as_uri()],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        width = int(re.search(r"<title>W(\d+)</title>", out.stdout).group(1))
        assert width <= 1280, name


# --------------------------------------------------------------------------- performance


def test_performance_section_in_every_format(written: dict) -> None:
    paths = written[HEDGE_FUND]
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    perf, risk = doc["performance"], doc["risk_metrics"]
    assert perf["status"] == "ok" and perf["basis"] == "constant-holdings back-cast"
    label = (
        "constant-holdings back-cast: today's holdings held fixed over the last 252 sessions "
        "— not the realized track record"
    )
    assert perf["label"] == label
    assert (perf["benchmark"], perf["benchmark_name"], perf["benchmark_reason"]) == (
        "^GSPC", "S&P 500", None
    )  # fmt: skip
    assert perf["observations"] == perf["benchmark_observations"] == 252
    assert (perf["window_start"], perf["window_end"]) == ("2016-03-31", "2017-03-29")
    # the same series as the risk-metrics engine: its figures agree
    for key in ("annual_volatility", "sharpe", "sortino", "max_drawdown"):
        assert perf[key] == pytest.approx(risk[key], rel=1e-9), key
    for key in ("cagr", "alpha", "beta", "tracking_error", "information_ratio", "calmar"):
        assert isinstance(perf[key], float), key
    assert isinstance(perf["benchmark_stats.cagr"], float)
    assert sum(k.startswith("monthly.") for k in perf) == 13  # 2016-03 .. 2017-03
    md = paths["md"].read_text(encoding="utf-8")
    section = md.split("## Performance (constant-holdings back-cast)", 1)[1].split("\n## ", 1)[0]
    assert "not the realized track record" in section
    assert "| CAGR" in section and "(annualized)" in section and "S&P 500 (^GSPC)" in section
    page = paths["html"].read_text(encoding="utf-8")
    block = page.split('<h2 id="performance">', 1)[1].split("</section>", 1)[0]
    assert "not the realized track record" in block
    for alt in ("Cumulative return", "Drawdown", "Rolling Sharpe ratio", "Rolling volatility",
                "Rolling beta", "Monthly returns", "Daily return distribution"):  # fmt: skip
        assert f'<img alt="{alt}"' in block


def test_benchmark_falls_back_in_order_and_is_na_with_reason(full_db: Settings) -> None:
    with session_scope(full_db) as session:
        pid = find_portfolio(session, HEDGE_FUND).id
        fallback = load_report_data(
            session, pid, AS_OF, benchmark=BenchmarkParams(symbols={"offline": ("NOPE", "SPY")})
        )
        none = load_report_data(
            session, pid, AS_OF, benchmark=BenchmarkParams(symbols={"offline": ("NOPE",)})
        )
    m = fallback.performance.metrics
    assert m["benchmark"] == "SPY"
    assert m["benchmark_reason"] == "SPY used (NOPE: no cached prices)"
    assert isinstance(m["beta"], float)
    n = none.performance.metrics
    assert none.performance.ok and n["benchmark"] is None
    for key in ("alpha", "beta", "tracking_error", "information_ratio"):
        assert n[key] is None
        assert (
            n[f"{key}.reason"]
            == "no benchmark with data at the as-of date (NOPE: no cached prices)"
        )
    assert n["benchmark_stats.cagr"] is None
    assert isinstance(n["sharpe"], float)  # the back-cast's own figures stand
    doc = report_json(none)
    assert_valid(doc)
    assert "Benchmark N/A: no benchmark with data" in report_markdown(none)
