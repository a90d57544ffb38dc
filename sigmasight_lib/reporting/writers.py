"""Report writers: report.md, report.json, positions.csv and report.html from :class:`ReportData`.

One document model feeds markdown and HTML, so both show the same sections,
tables and N/A reasons; the HTML adds the charts of
:mod:`sigmasight_lib.reporting.plots` as inline PNG images (``data:`` URIs),
escapes every piece of text with :func:`html.escape`, and has no script and
no external URL: it opens from disk. ``report.json`` follows
``report.schema.json`` (beside this module): ``metadata`` plus one flat group
per :data:`~sigmasight_lib.reporting.tables.GROUPS` entry, each with
``status`` (``"ok"`` / ``"n/a"``) and ``reason``. Nothing here prints.

:func:`write_reports` is what ``sigmasight report`` and the batch call.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import html
import io
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select

from sigmasight_lib.db.models import LIBRARY_SCENARIO_SET, StressScenario
from sigmasight_lib.exceptions import ConfigError, NotFoundError
from sigmasight_lib.reporting.formats import NA
from sigmasight_lib.reporting.formats import finite as _finite
from sigmasight_lib.reporting.formats import integer as _int
from sigmasight_lib.reporting.formats import num as _num
from sigmasight_lib.reporting.formats import pct as _pct
from sigmasight_lib.reporting.formats import price as _price
from sigmasight_lib.reporting.formats import shock as _shock
from sigmasight_lib.reporting.formats import text as _text
from sigmasight_lib.reporting.formats import usd as _usd
from sigmasight_lib.reporting.tables import (
    GROUP_TITLES,
    GROUPS,
    ReportData,
    ReportSection,
    executive_summary,
    latest_result_as_of,
    load_report_data,
    positions_table,
    stamp,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from sigmasight_lib.config import Settings

log = logging.getLogger(__name__)

FORMATS: tuple[str, ...] = ("md", "json", "csv", "html")
"""Artifact formats, in the order they are written."""

FILE_NAMES: dict[str, str] = {
    "md": "report.md",
    "json": "report.json",
    "csv": "positions.csv",
    "html": "report.html",
}
"""Format → file name in the output folder."""

SCHEMA_PATH = Path(__file__).with_name("report.schema.json")
"""JSON Schema (draft 2020-12) of report.json."""

SECTION_HEADINGS: tuple[str, ...] = ("Executive summary", *(GROUP_TITLES[g] for g in GROUPS))
"""Second-level headings of every report, in order."""

CHART_DPI = 96
"""CSS pixels per inch of a chart's figure size: a 6 in chart is displayed 576 px wide."""
CHART_SCALE = 2
"""PNG pixels per CSS pixel: charts are rendered at ``CHART_DPI × CHART_SCALE`` (crisp on
high-density screens) and displayed at their 1× CSS size."""
THIRD_WIDTH = 3.9
"""Chart width (inches) of a three-across chart row in a full-width card."""
HALF_WIDTH = 5.8
"""Chart width (inches) that fits one column of the two-column HTML layout at 1280 px."""
WIDE_WIDTH = 11.8
"""Chart width (inches) of a chart that spans both columns."""


# --------------------------------------------------------------------------- document model


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str | None = None


@dataclass(frozen=True)
class Para:
    text: str
    strong: str | None = None
    """A bold lead-in (``Missing:``)."""
    css: str | None = None


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    """Right-aligned columns."""


@dataclass(frozen=True)
class Chart:
    title: str
    draw: Callable[[Axes], Any]
    size: tuple[float, float]
    """Figure (width, height) in inches."""
    margins: tuple[float, float, float, float] = (0.9, 0.2, 0.35, 0.5)
    """(left, right, top, bottom) in inches: fixed margins instead of ``tight_layout``,
    which costs a second full draw."""


@dataclass(frozen=True)
class Tile:
    label: str
    value: str
    note: str = ""
    tone: str | None = None
    """``"neg"`` / ``"pos"`` colours the value; None leaves it plain."""


@dataclass(frozen=True)
class Tiles:
    """Headline figures: a row of tiles in HTML. Markdown leaves them out: the same
    figures are in the executive summary table right below."""

    tiles: tuple[Tile, ...]


@dataclass(frozen=True)
class Columns:
    """Blocks side by side in HTML (a table beside its chart); markdown writes them in order."""

    left: tuple[Any, ...]
    right: tuple[Any, ...]


Block = Heading | Para | Table | Chart | Tiles | Columns


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[bool]) -> Table:
    return Table(
        tuple(headers),
        tuple(tuple(_text(c) for c in row) for row in rows),
        tuple(numeric),
    )


def _kv(rows: Iterable[tuple[str, str]], header: tuple[str, str] = ("Metric", "Value")) -> Table:
    return _table(header, rows, (False, True))


STATE_LEADS = {"failed": "Failed:", "stale": "Stale:"}
"""Bold lead-in of a section without current figures, by state (else ``N/A:``)."""


def _na_block(section: ReportSection) -> Para:
    return Para(f"{section.reason}.", strong=STATE_LEADS.get(section.state or "", "N/A:"), css="na")


def _provenance(section: ReportSection) -> Para:
    """Which run and when the section's figures come from (or that it has none)."""
    if section.computed_at is None:
        return Para("No stored figures for this date.", strong="Figures:", css="na")
    run = (
        f"{section.run_kind or 'batch'} run {section.run_id}"
        if section.run_id is not None
        else "no run id"
    )
    when = stamp(section.computed_at)
    if not section.ok:
        return Para(f"withheld (stored from {run} at {when}).", strong="Figures:", css="na")
    return Para(f"{run} at {when}.", strong="Figures:")


# --------------------------------------------------------------------------- sections


def _header(data: ReportData) -> list[Block]:
    m = data.metadata
    owner = f"{m.owner_name} ({m.owner})" if m.owner_name else m.owner
    rows = [
        ("Portfolio", f"{m.portfolio} (id {m.portfolio_id}, {m.portfolio_slug})"),
        ("Owner", owner),
        ("As of", m.as_of.isoformat()),
        ("Run id", str(m.run_id) if m.run_id is not None else "none (ad-hoc engine runs)"),
        ("Data provider", m.provider or NA),
        ("Generated at", m.generated_at.strftime("%Y-%m-%d %H:%M:%S UTC")),
        ("Code version", m.code_version),
        ("Positions held", str(m.positions)),
    ]
    blocks: list[Block] = [
        Heading(1, f"SigmaSight report: {m.portfolio}"),
        _table(("Field", "Value"), rows, (False, False)),
    ]
    missing = data.missing
    if missing:
        text = "; ".join(f"{GROUP_TITLES[g]} ({r})" for g, r in missing.items())
        blocks.append(Para(text + ".", strong="Missing:", css="na"))
    else:
        blocks.append(Para(f"Every engine has results for {m.as_of.isoformat()}."))
    return blocks


def _executive(data: ReportData) -> list[Block]:
    s = executive_summary(data)

    def why(group: str) -> str:
        section = data.sections()[group]
        return f"{NA} ({section.reason})" if not section.ok else NA

    var = (
        f"{_usd(s['var_95_usd'])} ({_pct(s['var_95'])} of gross exposure)"
        if _finite(s["var_95_usd"])
        else why("risk_metrics")
    )
    worst = (
        f"{s['worst_scenario_name']}: {_usd(s['worst_correlated_pnl_usd'])} (correlated)"
        if s["worst_scenario"]
        else why("stress_tests")
    )

    def val(key: str, fmt: Callable[[Any], str], group: str) -> str:
        return fmt(s[key]) if _finite(s[key]) else why(group)

    beta_pair = (
        f"{_num(s['market_beta_to_gross'], 3)} / {_num(s['market_beta_to_net'], 3)}"
        if _finite(s["market_beta_to_gross"])
        else why("factors")
    )

    rows = [
        ("Net liquidation value", val("net_liquidation_value_usd", _usd, "valuation")),
        ("Gross market value", val("gross_market_value_usd", _usd, "valuation")),
        ("Daily P&L", val("daily_pnl_usd", _usd, "valuation")),
        ("Gross exposure", val("gross_exposure_usd", _usd, "exposures")),
        ("Net exposure", val("net_exposure_usd", _usd, "exposures")),
        (
            "Market dollar beta (USD per 1.0 market return)",
            val("market_dollar_beta_usd", _usd, "factors"),
        ),
        ("Market beta to gross / net delta-adjusted exposure", beta_pair),
        ("1-day VaR 95 % (historical)", var),
        ("Worst stress scenario", worst),
        ("Average correlation", val("average_correlation", lambda v: _num(v, 3), "correlations")),
    ]
    return [Heading(2, "Executive summary", "summary"), _kv(rows)]


def _tone(value: Any) -> str | None:
    return ("neg" if value < 0 else "pos") if _finite(value) and value != 0 else None


def _tiles(data: ReportData) -> Tiles:
    """Net liquidation value, daily P&L, VaR 95, worst stress scenario, market dollar beta."""
    s = executive_summary(data)
    sections = data.sections()

    def reason(group: str) -> str:
        return sections[group].reason or "not available"

    def tile(label: str, key: str, group: str, note: str, tone: bool = False) -> Tile:
        if not _finite(s[key]):
            return Tile(label, NA, reason(group))
        return Tile(label, _usd(s[key]), note, _tone(s[key]) if tone else None)

    nlv = s["net_liquidation_value_usd"]
    daily = s["daily_pnl_usd"]
    daily_note = (
        f"{_pct(daily / nlv)} of net liquidation value" if _finite(daily) and _finite(nlv) and nlv
        else f"as of {data.metadata.as_of.isoformat()}"
    )  # fmt: skip
    worst_note = (
        f"{s['worst_scenario_name']} (correlated)"
        if s["worst_scenario"]
        else reason("stress_tests")
    )
    beta_note = (
        f"beta {_num(s['market_beta_to_gross'], 2)} to gross, "
        f"{_num(s['market_beta_to_net'], 2)} to net"
    )
    return Tiles((
        tile("Net liquidation value", "net_liquidation_value_usd", "valuation",
             f"gross market value {_usd(s['gross_market_value_usd'])}"),
        tile("Daily P&L", "daily_pnl_usd", "valuation", daily_note, tone=True),
        tile("VaR 95 %, 1 day", "var_95_usd", "risk_metrics",
             f"{_pct(s['var_95'])} of gross exposure (historical)"),
        tile("Worst stress scenario", "worst_correlated_pnl_usd", "stress_tests", worst_note,
             tone=True),
        tile("Market dollar beta", "market_dollar_beta_usd", "factors", beta_note),
    ))  # fmt: skip


def _valuation(data: ReportData) -> list[Block]:
    sec = data.valuation
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    blocks.append(
        Para(
            f"{m['positions']} positions valued; net liquidation value "
            f"{_usd(m['net_liquidation_value_usd'])} (long {_usd(m['long_market_value_usd'])} "
            f"− short {_usd(m['short_market_value_usd'])}), gross market value "
            f"{_usd(m['gross_market_value_usd'])}, "
            f"unrealized P&L {_usd(m['unrealized_pnl_usd'])}, daily P&L {_usd(m['daily_pnl_usd'])}. "
            f"{m['model_priced']} priced by model (BSM, no quote), {m['unpriced']} without a price."
            + (
                f" {m['expired']} options expired before the as-of, settled at intrinsic value on "
                f"their expiry close and out of the book: realized P&L {_usd(m['realized_pnl_usd'])}."
                if m.get("expired")
                else ""
            )
        )
    )
    t = data.position_table
    rows = [
        (r.symbol, r.position_type, _num(r.quantity, 0), _price(r.price), _text(r.price_source),
         _usd(r.market_value_usd), _usd(r.exposure_usd), _usd(r.unrealized_pnl_usd),
         _usd(r.daily_pnl_usd))
        for r in t.itertuples(index=False)
    ]  # fmt: skip
    blocks.append(
        _table(
            (
                "Symbol",
                "Type",
                "Quantity",
                "Price",
                "Source",
                "Market value",
                "Exposure",
                "Unrealized P&L",
                "Daily P&L",
            ),
            rows,
            (False, False, True, True, False, True, True, True, True),
        )  # fmt: skip
    )
    return blocks


def _breakdown_table(frame: pd.DataFrame, label: str) -> Table:
    rows = [
        (key, _int(r["position_count"]), _usd(r["long_exposure_usd"]),
         _usd(r["short_exposure_usd"]), _usd(r["net_exposure_usd"]), _usd(r["gross_exposure_usd"]),
         _usd(r["delta_adjusted_exposure_usd"]))
        for key, r in frame.iterrows()
    ]  # fmt: skip
    return _table(
        (label, "Positions", "Long", "Short", "Net", "Gross", "Delta-adjusted"),
        rows, (False, True, True, True, True, True, True),
    )  # fmt: skip


def _exposures(data: ReportData) -> list[Block]:
    sec = data.exposures
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    blocks.append(
        Para(f"{m['position_count']} positions: {m['long_count']} long, {m['short_count']} short.")
    )
    rows = [
        ("Gross", _usd(m["gross_exposure_usd"])),
        ("Long", _usd(m["long_exposure_usd"])),
        ("Short", _usd(m["short_exposure_usd"])),
        ("Net", _usd(m["net_exposure_usd"])),
        ("Delta-adjusted", _usd(m["delta_adjusted_exposure_usd"])),
        ("Stock", _usd(m["stock_exposure_usd"])),
        ("Options", _usd(m["options_exposure_usd"])),
        ("Notional", _usd(m["notional_usd"])),
        ("Net liquidation value", _usd(m["net_liquidation_value_usd"])),
        ("Gross market value", _usd(m["gross_market_value_usd"])),
    ]
    blocks.append(_kv(rows, ("Exposure", "USD")))
    from sigmasight_lib.reporting.plots import plot_exposures

    totals = sec.table("portfolio")
    blocks.append(
        Chart("Portfolio exposure", lambda ax: plot_exposures(totals, ax=ax), (HALF_WIDTH, 2.8),
              (0.8, 0.15, 0.35, 0.3))
    )  # fmt: skip
    for by, label in (("sector", "Sector"), ("type", "Position type"), ("tag", "Tag")):
        frame = sec.table(by)
        if not frame.empty:
            blocks += [Heading(3, f"By {label.lower()}"), _breakdown_table(frame, label)]
    return blocks


GREEK_ROWS: tuple[tuple[str, str, str], ...] = (
    ("delta", "Delta", "share equivalents"),
    ("gamma", "Gamma", "delta change per $1 of the underlying"),
    ("theta", "Theta", "USD per calendar day"),
    ("vega", "Vega", "USD per vol point"),
    ("rho", "Rho", "USD per rate point"),
)


def _greeks(data: ReportData) -> list[Block]:
    sec = data.greeks
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    rows = [(label, _num(m[f"portfolio_{k}"], 2), unit) for k, label, unit in GREEK_ROWS]
    blocks.append(_table(("Greek", "Portfolio", "Unit"), rows, (False, True, False)))
    sources = ", ".join(
        f"{k.split('.', 1)[1]} {v}" for k, v in m.items() if k.startswith("vol_sources.")
    )
    blocks.append(
        Para(
            f"{m['options']} option positions; Greeks not computed for {m['not_computed']} "
            f"positions. Volatility sources: {sources or NA}."
        )
    )
    t = data.position_table
    opts = t[t["option_type"].isin(["C", "P"])]
    if len(opts):
        vol_source = sec.table("positions")["vol_source"]
        rows = [
            (r.symbol, _num(r.delta, 1), _num(r.gamma, 2), _num(r.theta, 2), _num(r.vega, 2),
             _num(r.rho, 2), _pct(r.implied_vol, 1), _text(vol_source.get(r.position_id)))
            for r in opts.itertuples(index=False)
        ]  # fmt: skip
        blocks += [
            Heading(3, "Option positions"),
            _table(
                ("Symbol", "Delta", "Gamma", "Theta", "Vega", "Rho", "Implied vol", "Vol source"),
                rows,
                (False, True, True, True, True, True, True, False),
            ),  # fmt: skip
        ]
    return blocks


def _factors(data: ReportData) -> list[Block]:
    sec = data.factors
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    portfolio = sec.table("portfolio")
    rows = [
        (name, _text(r["factor_type"]), _usd(r["dollar_beta_usd"]), _num(r["beta_to_gross"], 3),
         _num(r["beta_to_net"], 3),
         "ok" if pd.notna(r["beta_to_gross"]) else f"N/A: {_text(r['reason']) or 'no data'}")
        for name, r in portfolio.iterrows()
    ]  # fmt: skip
    blocks.append(
        _table(
            ("Factor", "Type", "Dollar beta", "Beta to gross", "Beta to net", "Status"),
            rows,
            (False, False, True, True, True, False),
        )  # fmt: skip
    )
    blocks.append(
        Para(
            "Dollar beta = Σ delta-adjusted exposure × beta (USD P&L per 1.0 factor return); "
            "beta to gross / net = dollar beta ÷ Σ |delta-adjusted exposure| / ÷ Σ "
            "delta-adjusted exposure."
        )
    )
    capped = sec.table("capped")
    if not capped.empty:
        ids = data.position_table.set_index("position_id")["symbol"]
        blocks.append(
            _table(
                ("Position", "Factor", "Beta (capped)", "OLS beta", "t-stat"),
                [
                    (
                        _text(ids.get(r.position_id, r.position_id)),
                        r.factor,
                        _num(r.beta, 3),
                        _num(r.beta_uncapped, 3),
                        _num(r.t_stat, 2),
                    )
                    for r in capped.itertuples(index=False)
                ],
                (False, False, True, True, True),
            )  # fmt: skip
        )
    r2 = (
        f"R² of the position regressions ({m.get('mode') or NA} mode): "
        f"{_num(m.get('r_squared_weighted'), 2)} weighted by absolute delta-adjusted exposure, "
        f"median {_num(m.get('r_squared_median'), 2)}, "
        f"range {_num(m.get('r_squared_min'), 2)} to {_num(m.get('r_squared_max'), 2)}."
    )
    rm = data.risk_metrics
    if rm.ok and _finite(rm.metrics.get("factor_risk_share")):
        r2 += (
            f" Factors explain {_pct(rm.metrics['factor_risk_share'], 1)} of the ex-ante "
            "portfolio variance (risk metrics)."
        )
    blocks.append(Para(r2))
    from sigmasight_lib.reporting.plots import plot_factor_betas

    blocks.append(
        Chart(
            "Portfolio factor betas",
            lambda ax: plot_factor_betas(portfolio, ax=ax),
            (HALF_WIDTH, 2.8),
            (0.7, 0.15, 0.35, 0.85),
        )  # fmt: skip
    )
    return blocks


def _market_risk(data: ReportData) -> list[Block]:
    sec = data.market_risk
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    blocks.append(
        Para(
            f"Market dollar beta {_usd(m['market_dollar_beta_usd'])} per 1.0 market return "
            f"(beta to gross {_num(m['market_beta_to_gross'], 3)}, to net "
            f"{_num(m['market_beta_to_net'], 3)}, delta-adjusted; market proxy "
            f"{m.get('market_proxy') or 'n/a'}); rate exposure "
            f"{_usd(m['rate_exposure_usd'])} per unit change of the 10-year yield"
            + (f" (N/A: {m['rate_reason']})" if m.get("rate_reason") else "")
            + ". Interest-rate betas for "
            f"{m['positions_with_ir_beta']} of "
            f"{m['positions_with_ir_beta'] + m['positions_without_ir_beta']} positions."
        )
    )
    scenarios = sec.table("scenarios")
    rows = [
        (
            str(name).replace("_", " "),
            r["scenario_type"],
            _shock(r["shock"], r["scenario_type"]),
            _usd(r["pnl_usd"]),
        )
        for name, r in scenarios.iterrows()
    ]
    blocks.append(_table(("Scenario", "Type", "Shock", "P&L"), rows, (False, False, True, True)))
    rows = [
        ("Days", _int(m.get("backtest_days"))),
        ("RMSE", _usd(m.get("backtest_rmse_usd"))),
        ("Mean absolute error", _usd(m.get("backtest_mean_abs_error_usd"))),
        ("Correlation predicted vs actual", _num(m.get("backtest_correlation"), 3)),
        ("Sign hit rate", _pct(m.get("backtest_hit_rate"), 1)),
    ]
    blocks += [Heading(3, "P&L backtest (in sample)"), _kv(rows)]
    return blocks


def _stress(data: ReportData) -> list[Block]:
    sec = data.stress_tests
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    text = (
        f"{m['scenarios']} scenarios, {m['partial']} partial (shocks on factors without data "
        f"are listed as unmapped and not applied)."
    )
    if m.get("worst_scenario"):
        text += (
            f" Worst: {m['worst_scenario_name']}, {_usd(m['worst_correlated_pnl_usd'])} "
            "correlated P&L."
        )
    if _finite(m.get("decay")):
        text += f" Correlated P&L uses an EWMA factor covariance (λ = {m['decay']:g}, {m.get('lookback_days')} days)."
    blocks.append(Para(text))
    scenarios = sec.table("scenarios")
    rows = [
        (r["name"], r["category"], _usd(r["direct_pnl_usd"]), _usd(r["correlated_pnl_usd"]),
         "yes" if r["partial"] else "no", r["unmapped"])
        for _, r in scenarios.iterrows()
    ]  # fmt: skip
    table = _table(
        ("Scenario", "Category", "Direct P&L", "Correlated P&L", "Partial", "Unmapped"),
        rows,
        (False, False, True, True, False, False),
    )  # fmt: skip
    from sigmasight_lib.reporting.plots import plot_stress_pnl

    drawn = scenarios[scenarios[["direct_pnl_usd", "correlated_pnl_usd"]].notna().any(axis=1)]
    if len(drawn):
        left = 0.3 + 0.058 * max(len(str(n)) + 2 for n in drawn["name"])
        chart = Chart("Stress scenarios", lambda ax: plot_stress_pnl(drawn, ax=ax),
                      (HALF_WIDTH, 0.22 * len(drawn) + 1.5), (left, 0.3, 0.85, 0.5))  # fmt: skip
        blocks.append(Columns((table,), (chart,)))
    else:
        blocks.append(table)
    if len(drawn) < len(scenarios):
        blocks.append(
            Para(f"{len(scenarios) - len(drawn)} scenarios without any P&L (no shocked factor "
                 "has data) are in the table only.")
        )  # fmt: skip
    return blocks


def _correlations(data: ReportData) -> list[Block]:
    sec = data.correlations
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    rows = [
        ("Average correlation (exposure-weighted)", _num(m["average_correlation"], 3)),
        ("Diversification ratio", _num(m["diversification_ratio"], 2)),
        ("Effective number of bets", _num(m["effective_bets"], 2)),
        ("Assets", _int(m["assets"])),
        ("Clusters", _int(m["clusters"])),
        ("Window (days) / minimum overlap", f"{m['window_days']} / {m['min_overlap']}"),
    ]
    blocks.append(_kv(rows))
    for name, title in (("most_correlated", "Most correlated pairs"),
                        ("least_correlated", "Least correlated pairs")):  # fmt: skip
        pairs = sec.table(name)
        if pairs.empty:
            continue
        rows = [
            (f"{r['asset_1']} / {r['asset_2']}", _num(r["correlation"], 3), _int(r["overlap"]))
            for _, r in pairs.iterrows()
        ]
        blocks += [
            Heading(3, title),
            _table(("Pair", "Correlation", "Overlap days"), rows, (False, True, True)),
        ]
    clusters = sec.table("clusters")
    if not clusters.empty:
        groups = clusters.groupby("cluster").groups
        rows = [
            (str(k), str(len(v)), ", ".join(sorted(map(str, v))))
            for k, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        ]
        blocks += [
            Heading(3, "Clusters"),
            _table(("Cluster", "Assets", "Members"), rows, (True, True, False)),
        ]
    excluded = sec.table("excluded")
    if not excluded.empty:
        rows = [(a, r) for a, r in excluded["reason"].items()]
        blocks += [Heading(3, "Excluded assets"), _table(("Asset", "Reason"), rows, (False, False))]
    return blocks


RISK_ROWS: tuple[tuple[str, str], ...] = (
    ("var_95", "VaR 95 % (historical)"),
    ("cvar_95", "CVaR 95 % (historical)"),
    ("var_99", "VaR 99 % (historical)"),
    ("cvar_99", "CVaR 99 % (historical)"),
    ("parametric_var_95", "VaR 95 % (Gaussian)"),
    ("parametric_var_99", "VaR 99 % (Gaussian)"),
)


def _risk_metrics(data: ReportData) -> list[Block]:
    sec = data.risk_metrics
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    rows = [(label, _pct(m.get(k)), _usd(m.get(f"{k}_usd"))) for k, label in RISK_ROWS]
    blocks.append(
        Para(
            f"1-day figures on the constant-holdings return history ({_int(m.get('history_days'))} "
            f"sessions, today's exposures; return = P&L / gross exposure "
            f"{_usd(m.get('gross_exposure_usd'))}); losses are positive."
        )
    )
    blocks.append(_table(("Measure", "Fraction of gross", "USD"), rows, (False, True, True)))
    rows = [
        ("Annual volatility", _pct(m.get("annual_volatility"))),
        ("Sharpe ratio", _num(m.get("sharpe"), 2)),
        ("Sortino ratio", _num(m.get("sortino"), 2)),
        ("Max drawdown", _pct(m.get("max_drawdown"))),
        ("Ex-ante daily volatility", _usd(m.get("ex_ante_volatility_usd"))),
        ("Factor share of ex-ante variance", _pct(m.get("factor_risk_share"), 1)),
    ]
    blocks.append(_kv(rows))
    reasons = [(k.rsplit(".", 1)[0], v) for k, v in m.items() if k.endswith(".reason")]
    if reasons:
        blocks.append(_table(("Metric", "N/A reason"), reasons, (False, False)))
    contrib = sec.table("contributions")
    vol = m.get("ex_ante_volatility_usd")
    if not contrib.empty:
        rows = [
            (_text(r["symbol"]), _pct(r["share"], 1),
             _usd(r["share"] * vol) if _finite(r["share"]) and _finite(vol) else NA)
            for _, r in contrib.head(10).iterrows()
        ]  # fmt: skip
        blocks += [
            Heading(3, "Largest risk contributors"),
            Para("Euler contributions to the ex-ante daily variance; they sum to 100 % "
                 "(a negative share hedges). USD column: share × ex-ante daily volatility."),
            _table(("Symbol", "Share of variance", "Daily volatility (USD)"), rows,
                   (False, True, True)),
        ]  # fmt: skip
    return blocks


PERFORMANCE_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("total_return", "Total return", _pct),
    ("cagr", "CAGR", _pct),
    ("annual_volatility", "Annual volatility", _pct),
    ("sharpe", "Sharpe ratio", _num),
    ("sortino", "Sortino ratio", _num),
    ("calmar", "Calmar ratio", _num),
    ("max_drawdown", "Max drawdown", _pct),
    ("best_day", "Best day", _pct),
    ("worst_day", "Worst day", _pct),
    ("hit_rate", "Hit rate (share of up days)", lambda v: _pct(v, 1)),
    ("alpha", "Alpha (annualized)", _pct),
    ("beta", "Beta", _num),
    ("correlation", "Correlation", _num),
    ("tracking_error", "Tracking error", _pct),
    ("information_ratio", "Information ratio", _num),
)
"""Rows of the performance statistics table: key, label, format."""


def _monthly_table(monthly: pd.DataFrame) -> Table:
    from sigmasight_lib.reporting.plots import MONTH_LABELS

    rows = []
    for year, r in monthly.iterrows():
        values = r.reindex(range(1, 13)).to_numpy(dtype=float)
        ok = values[~pd.isna(values)]
        year_total = float((1.0 + ok).prod() - 1.0) if ok.size else float("nan")
        cells = (_num(v * 100, 1) if _finite(v) else "" for v in values)  # blank: outside
        rows.append((str(year), *cells, _num(year_total * 100, 1)))
    return _table(("Year", *MONTH_LABELS, "Full year"), rows, (False, *([True] * 13)))


def _performance(data: ReportData) -> list[Block]:
    sec = data.performance
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    bench = f"{m['benchmark_name']} ({m['benchmark']})" if m.get("benchmark") else None
    text = (
        f"{m['label'][:1].upper()}{m['label'][1:]}: {m['window_start']} to {m['window_end']}. "
        "Daily return = constant-holdings P&L / gross exposure (the risk-metrics series). "
    )
    if bench:
        about = f" — {m['benchmark_description']}" if m.get("benchmark_description") else ""
        text += f"Benchmark: {bench}{about}, {m['benchmark_observations']} common sessions"
        text += f"; {m['benchmark_reason']}." if m.get("benchmark_reason") else "."
    else:
        text += f"Benchmark N/A: {m.get('benchmark_reason') or 'none configured'}."
    text += (
        " Annualized figures (×252) on a one-year or shorter window are noisy; the "
        "Observations column gives the sessions behind each."
    )
    blocks.append(Para(text, strong="Not a track record."))
    stats = sec.table("stats")
    rows = []
    for key, label, fmt in PERFORMANCE_ROWS:
        r = stats.loc[key]
        rows.append((
            label, fmt(r["value"]), fmt(r["benchmark"]) if _finite(r["benchmark"]) else "",
            _int(int(r["observations"])) + (" (annualized)" if r["annualized"] else ""),
        ))  # fmt: skip
    left: list[Block] = [
        _table(("Statistic", "Portfolio", bench or "Benchmark", "Observations"), rows,
               (False, True, True, True))
    ]  # fmt: skip
    reasons = [(label, stats.at[k, "reason"]) for k, label, _ in PERFORMANCE_ROWS
               if stats.at[k, "reason"]]  # fmt: skip
    if reasons:
        left.append(_table(("Statistic", "N/A reason"), reasons, (False, False)))
    monthly = sec.table("monthly")
    right: list[Block] = [Heading(3, "Monthly returns (%)"), _monthly_table(monthly)]
    var = data.risk_metrics.metrics if data.risk_metrics.ok else None

    from sigmasight_lib.reporting import plots

    history = sec.table("history")
    name = m.get("benchmark_name") or m.get("benchmark")
    window = m.get("rolling_window") or 63
    size, margins = (THIRD_WIDTH, 2.8), (0.78, 0.15, 0.62, 0.4)
    right.append(
        Chart("Daily return distribution",
              lambda ax: plots.plot_var_histogram(history, var, ax=ax), (HALF_WIDTH, 2.7),
              (0.6, 0.2, 0.75, 0.55))
    )  # fmt: skip
    blocks += [
        Columns(tuple(left), tuple(right)),
        Chart("Cumulative return",
              lambda ax: plots.plot_cumulative_returns(history, ax=ax, benchmark=name), size,
              margins),
        Chart("Drawdown", lambda ax: plots.plot_drawdown(history, ax=ax), size, margins),
        Chart("Rolling Sharpe ratio",
              lambda ax: plots.plot_rolling_sharpe(history, ax=ax, window=window), size, margins),
        Chart("Rolling volatility",
              lambda ax: plots.plot_rolling_volatility(history, ax=ax, window=window,
                                                      benchmark=name), size, margins),
        Chart("Rolling beta",
              lambda ax: plots.plot_rolling_beta(history, ax=ax, window=window, benchmark=name),
              size, margins),
        Chart("Monthly returns", lambda ax: plots.plot_monthly_returns(monthly, ax=ax), size,
              (0.5, 0.15, 0.62, 0.4)),
    ]  # fmt: skip
    return blocks


def _snapshot(data: ReportData) -> list[Block]:
    sec = data.snapshot
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    if not sec.ok:
        return [*blocks, _na_block(sec)]
    m = sec.metrics
    rows = [
        ("Net liquidation value", _usd(m["net_liquidation_value_usd"])),
        ("Gross market value", _usd(m["gross_market_value_usd"])),
        (
            "Gross / net exposure",
            f"{_usd(m['gross_exposure_usd'])} / {_usd(m['net_exposure_usd'])}",
        ),
        ("Daily P&L", _usd(m["daily_pnl_usd"])),
        ("Cumulative P&L", f"{_usd(m['cumulative_pnl_usd'])} since {m['history_start']}"),
        ("Market dollar beta", _usd(m["market_dollar_beta_usd"])),
        (
            "Market beta to gross / net",
            f"{_num(m['market_beta_to_gross'], 3)} / {_num(m['market_beta_to_net'], 3)}",
        ),
        ("Stored history", f"{m['history_days']} trading days from {m['history_start']}"),
    ]
    blocks.append(_kv(rows))
    history = sec.table("history")
    if len(history) > 1:
        from sigmasight_lib.reporting.plots import plot_snapshot_history

        blocks.append(
            Chart(
                "Snapshot history",
                lambda ax: plot_snapshot_history(history, ax=ax),
                (HALF_WIDTH, 3.0),
                (0.85, 0.85, 0.6, 0.45),
            )  # fmt: skip
        )
    return blocks


def _data_quality(data: ReportData) -> list[Block]:
    sec = data.data_quality
    blocks: list[Block] = [Heading(2, sec.title, sec.name)]
    m = sec.metrics
    if not sec.ok:
        blocks.append(_na_block(sec))
    else:
        counts = ", ".join(
            f"{s} {m[f'coverage.{s}']}" for s in ("ok", "warning", "minimal", "insufficient")
        )
        blocks.append(
            Para(
                f"Coverage at {data.metadata.as_of.isoformat()} ({m['provider'] or NA}): "
                f"{m['symbols_checked']} symbols checked: {counts}. The portfolio's "
                f"{m['underlyings']} underlyings: {m['underlyings.ok']} ok."
            )
        )
        cov = sec.table("coverage")
        weak = cov[cov["status"] != "ok"]
        if len(weak):
            rows = [
                (sym, r["status"], _int(r["observations"]), _text(r["message"]))
                for sym, r in weak.iterrows()
            ]
            blocks.append(
                _table(
                    ("Underlying", "Coverage", "Sessions", "Message"),
                    rows,
                    (False, False, True, False),
                )  # fmt: skip
            )
    excluded = sec.table("excluded")
    if excluded.empty:
        blocks.append(Para("No position was left out of any engine that ran."))
    else:
        rows = [(r["symbol"], r["engine"], r["reason"]) for _, r in excluded.iterrows()]
        blocks += [
            Heading(3, "Excluded positions"),
            _table(("Symbol", "Engine", "Reason"), rows, (False, False, False)),
        ]
    missing = data.missing
    missing.pop("data_quality", None)
    if missing:
        text = "; ".join(f"{GROUP_TITLES[g]}: {r}" for g, r in missing.items())
        blocks.append(Para(text + ".", strong="Engines without results:", css="na"))
    return blocks


def _document(data: ReportData) -> list[Block]:
    blocks = [*_header(data), _tiles(data), *_executive(data)]
    for build in (_valuation, _greeks, _exposures, _factors, _market_risk, _stress,
                  _correlations, _risk_metrics, _performance, _snapshot,
                  _data_quality):  # fmt: skip
        section = build(data)
        name = section[0].anchor if isinstance(section[0], Heading) else None
        if name == "performance" and data.performance.ok:
            section.insert(1, Para("computed for this report from the stored exposures and the "
                                   "cached prices.", strong="Figures:"))  # fmt: skip
        elif name in GROUPS:
            section.insert(1, _provenance(data.sections()[name]))
        blocks += section
    return blocks


# --------------------------------------------------------------------------- markdown

_MD_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*[]<>"})
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def _md(text: str, cell: bool = False) -> str:
    """Escape markdown syntax in text; only a backslash is added, so plain text stays
    readable. Intraword underscores (``demo_user``) cannot start emphasis and stay as
    they are; ``|`` is escaped in table cells only."""
    out = _MD_UNDERSCORE.sub(r"\\_", text.translate(_MD_SPECIAL))
    return out.replace("|", "\\|") if cell else out


def _md_table(table: Table) -> list[str]:
    cells = [[_md(c, cell=True) for c in row] for row in (table.headers, *table.rows)]
    widths = [max(3, *(len(row[i]) for row in cells)) for i in range(len(table.headers))]

    def line(row: list[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(row, widths, table.numeric, strict=True)
        ]
        return "| " + " | ".join(parts) + " |"

    rule = "| " + " | ".join(
        ("-" * (w - 1) + ":") if num else "-" * w
        for w, num in zip(widths, table.numeric, strict=True)
    ) + " |"  # fmt: skip
    return [line(cells[0]), rule, *(line(r) for r in cells[1:])]


def report_markdown(data: ReportData) -> str:
    """report.md: every section of :data:`SECTION_HEADINGS`, tables as pipe tables,
    text escaped for markdown; readable as plain text. Charts are in report.html only."""
    return _markdown(_document(data))


def _flat(blocks: Iterable[Block]) -> list[Block]:
    """``blocks`` with every :class:`Columns` replaced by its left then right blocks."""
    out: list[Block] = []
    for block in blocks:
        out += _flat((*block.left, *block.right)) if isinstance(block, Columns) else [block]
    return out


def _markdown(blocks: list[Block]) -> str:
    out: list[str] = []
    for block in _flat(blocks):
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + _md(block.text), ""]
        elif isinstance(block, Para):
            lead = f"**{_md(block.strong)}** " if block.strong else ""
            out += [lead + _md(block.text), ""]
        elif isinstance(block, Table):
            out += [*_md_table(block), ""]
    return "\n".join(out).rstrip() + "\n"


# --------------------------------------------------------------------------- json


def report_json(data: ReportData) -> dict[str, Any]:
    """report.json as a dict: ``metadata`` and every group of :data:`GROUPS`, each
    ``{"status", "reason", "run_id", "run_kind", "computed_at", **flat metrics}`` (see
    ``report.schema.json``): the run and time of the group's figures, null when none."""
    out: dict[str, Any] = {"metadata": data.metadata.to_dict()}
    for name, section in data.sections().items():
        out[name] = {
            "status": section.status,
            "reason": section.reason,
            "run_id": section.run_id,
            "run_kind": section.run_kind,
            "computed_at": stamp(section.computed_at),
            **section.metrics,
        }
    return out


def load_schema() -> dict[str, Any]:
    """The JSON Schema of report.json."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- csv


def positions_csv(data: ReportData) -> str:
    """positions.csv: :data:`~sigmasight_lib.reporting.tables.POSITION_CSV_COLUMNS`,
    one row per held position; empty cells where a value is N/A (``notes`` says why).
    Numbers keep 12 significant digits (``%.12g``); text cells a spreadsheet would run as
    formulas are prefixed with ``'`` (:func:`~sigmasight_lib.reporting.csv_safety.safe_cell`)."""
    from sigmasight_lib.reporting.csv_safety import safe_frame

    table = safe_frame(positions_table(data))
    return table.to_csv(index=False, lineterminator="\n", float_format="%.12g")


# --------------------------------------------------------------------------- html

STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1248px; padding: 1.2rem 16px 2rem; color: #1f2328; line-height: 1.4;
       background: #f4f5f7; font-size: 14px; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; }
h2 { font-size: 1.1rem; margin: 0 0 .5rem; padding-bottom: .3rem; border-bottom: 2px solid #d8dee4; }
h3 { font-size: .95rem; margin: 1rem 0 .3rem; }
p { margin: .4rem 0; }
table { border-collapse: collapse; margin: .4rem 0 .8rem; font-size: 12px; }
th, td { border: 1px solid #d8dee4; padding: .2rem .4rem; text-align: left; vertical-align: top; }
th { background: #f0f2f4; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.scroll { max-width: 100%; overflow-x: auto; }
.na { color: #8a4b00; }
figure { margin: .4rem 0 .8rem; } img { max-width: 100%; height: auto; display: block; }
header { margin-bottom: 12px; }
table.meta { font-size: 12px; color: #57606a; margin: .2rem 0 .6rem; }
table.meta thead { display: none; } table.meta td { border: none; padding: 0 .8rem 0 0; }
.tiles { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px; margin: 10px 0; }
.tile { background: #fff; border: 1px solid #d8dee4; border-radius: 8px; padding: 10px 12px; }
.tile .label { font-size: 11.5px; text-transform: uppercase; letter-spacing: .04em; color: #57606a; }
.tile .value { font-size: 24px; font-weight: 650; margin: 2px 0; font-variant-numeric: tabular-nums;
               white-space: nowrap; }
.tile .note { font-size: 12px; color: #57606a; overflow-wrap: anywhere; }
.tile .neg { color: #b42318; } .tile .pos { color: #1a7f37; }
nav.toc { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0 4px; font-size: 12.5px; }
nav.toc a { text-decoration: none; color: #0b57d0; background: #fff; border: 1px solid #d8dee4;
            border-radius: 999px; padding: 2px 10px; }
.row { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px;
       align-items: start; margin-bottom: 16px; }
.row.wide { grid-template-columns: minmax(0, 1fr); }
.col { display: grid; gap: 16px; min-width: 0; }
section.card { background: #fff; border: 1px solid #d8dee4; border-radius: 8px; padding: 14px 16px;
               min-width: 0; }
.charts { display: grid; gap: 8px 16px; }
.charts figure { margin: 0; }
.split { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 16px;
         align-items: start; }
"""


CHART_RC: dict[str, Any] = {
    "text.hinting": "no_hinting",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
"""matplotlib settings while drawing report charts (unhinted text draws ~20 % faster)."""

HTML_LAYOUT: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("summary", "greeks"), ("risk_metrics",)),
    (("performance",),),
    (("exposures", "market_risk"), ("factors", "correlations", "snapshot")),
    (("stress_tests",),),
    (("valuation",),),
    (("data_quality",),),
)
"""Rows of the HTML page: one tuple of sections spans the page, two are the columns.
Sections missing here are appended full width."""


@contextlib.contextmanager
def _young_garbage() -> Iterator[None]:
    """Keep the automatic garbage collector off for the block (a chart's drawing).

    A matplotlib figure is a web of reference cycles. Collections during its drawing
    would promote its objects to the oldest generation while it is alive, where, once
    dropped, they wait for a full collection of the whole heap (~0.15 s with the library
    loaded, about every second report). Drawn with the collector off, they stay in
    the youngest generation and the next young collection frees them. Only speed
    depends on this (another thread may switch the collector back on meanwhile).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _chart_bytes(chart: Chart, fmt: str) -> bytes:
    """The chart drawn once on an Agg canvas and saved as ``fmt`` (``svg`` or ``png``,
    a PNG at ``CHART_SCALE`` × its CSS size)."""
    with _young_garbage():
        return _draw_chart(chart, fmt)


def _draw_chart(chart: Chart, fmt: str) -> bytes:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = chart.size
    left, right, top, bottom = chart.margins
    with matplotlib.rc_context({**CHART_RC, "svg.hashsalt": "sigmasight", "svg.fonttype": "path"}):
        fig = Figure(figsize=chart.size, dpi=CHART_DPI)
        FigureCanvasAgg(fig)
        fig.subplots_adjust(
            left=left / width, right=1 - right / width,
            top=1 - top / height, bottom=bottom / height,
        )  # fmt: skip
        chart.draw(fig.add_subplot())
        buf = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(buf, format=fmt, dpi=CHART_DPI * CHART_SCALE, metadata=metadata)
    return buf.getvalue()


def _png(chart: Chart) -> str:
    """The chart as a base64 PNG at ``CHART_SCALE`` × its CSS size (files beside a report)."""
    return base64.b64encode(_chart_bytes(chart, "png")).decode("ascii")


def _html_table(table: Table, css: str | None = None) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{e(c)}</td>' if num else f"<td>{e(c)}</td>"
            for c, num in zip(row, table.numeric, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    cls = f' class="{css}"' if css else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def report_html(data: ReportData, charts: bool = True) -> str:
    """report.html: the markdown's content plus headline tiles and inline SVG charts.

    Layout (:data:`HTML_LAYOUT`): the header (metadata, the five headline tiles, a
    table of contents), then the sections as cards in rows of two columns or one
    full-width card; wide tables scroll inside their card, so the page fits 1280
    px. Charts are inline SVG (vector: sharp at any zoom, and about twice as fast to
    write as a 2× PNG), in ``<img>`` so they cannot run script. Every piece of
    text is escaped with :func:`html.escape`; images are ``data:`` URIs; there is
    no script, no external font or stylesheet and no external URL. A chart that
    cannot be drawn is replaced by a one-line note (logged as a warning).
    ``charts=False`` leaves the charts out.
    """
    return _html(data, _document(data), charts)


def _chart_html(block: Chart) -> str:
    e = html.escape
    try:
        svg = base64.b64encode(_chart_bytes(block, "svg")).decode("ascii")
    except Exception as exc:  # a chart must never cost the report
        log.warning("chart %r not drawn: %s", block.title, exc)
        return f'<p class="na">Chart “{e(block.title)}” unavailable: {e(str(exc))}</p>'
    width, height = (round(v * CHART_DPI) for v in block.size)
    return (
        f'<figure><img alt="{e(block.title, quote=True)}" width="{width}" height="{height}" '
        f'src="data:image/svg+xml;base64,{svg}"></figure>'
    )


def _tiles_html(block: Tiles) -> str:
    e = html.escape
    out = []
    for t in block.tiles:
        tone = f" {t.tone}" if t.tone else ""
        out.append(
            f'<div class="tile"><div class="label">{e(t.label)}</div>'
            f'<div class="value{tone}">{e(t.value)}</div><div class="note">{e(t.note)}</div></div>'
        )
    return f'<div class="tiles">{"".join(out)}</div>'


def _blocks_html(blocks: Sequence[Block], charts: bool, in_header: bool = False) -> list[str]:
    """HTML of a run of blocks; consecutive charts share a two-column ``.charts`` grid."""
    e = html.escape
    parts: list[str] = []
    figures: list[str] = []
    widths: list[int] = []

    def flush() -> None:
        if figures:
            narrowest = min(widths)
            style = f"grid-template-columns: repeat(auto-fill, minmax({narrowest}px, 1fr))"
            parts.append(
                figures[0]
                if len(figures) == 1
                else f'<div class="charts" style="{style}">{"".join(figures)}</div>'
            )
            figures.clear()
            widths.clear()

    for block in blocks:
        if isinstance(block, Chart):
            if charts:
                figures.append(_chart_html(block))
                widths.append(round(block.size[0] * CHART_DPI))
            continue
        flush()
        if isinstance(block, Heading):
            anchor = f' id="{e(block.anchor, quote=True)}"' if block.anchor else ""
            parts.append(f"<h{block.level}{anchor}>{e(block.text)}</h{block.level}>")
        elif isinstance(block, Para):
            css = f' class="{e(block.css, quote=True)}"' if block.css else ""
            lead = f"<strong>{e(block.strong)}</strong> " if block.strong else ""
            parts.append(f"<p{css}>{lead}{e(block.text)}</p>")
        elif isinstance(block, Table):
            parts.append(_html_table(block, "meta" if in_header else None))
        elif isinstance(block, Tiles):
            parts.append(_tiles_html(block))
        elif isinstance(block, Columns):
            parts.append(
                '<div class="split">'
                + "".join(f"<div>{''.join(_blocks_html(side, charts))}</div>"
                          for side in (block.left, block.right))
                + "</div>"
            )  # fmt: skip
    flush()
    return parts


def _html(data: ReportData, blocks: list[Block], charts: bool = True) -> str:
    e = html.escape
    m = data.metadata
    # split: the header (before the first section heading), then one run of blocks per section
    header: list[Block] = []
    sections: dict[str, list[Block]] = {}
    titles: dict[str, str] = {}
    current: list[Block] = header
    for block in blocks:
        if isinstance(block, Heading) and block.level == 2 and block.anchor:
            current = sections.setdefault(block.anchor, [])
            titles[block.anchor] = block.text
        current.append(block)
    placed = {name for row in HTML_LAYOUT for col in row for name in col}
    layout = [
        *(tuple(tuple(n for n in col if n in sections) for col in row) for row in HTML_LAYOUT),
        *(((name,),) for name in sections if name not in placed),
    ]
    layout = [row for row in layout if any(row)]
    order = [name for row in layout for col in row for name in col]
    nav = "".join(f'<a href="#{e(n)}">{e(titles[n])}</a>' for n in order)

    def card(name: str) -> str:
        return (
            '<section class="card">'
            + "\n".join(_blocks_html(sections[name], charts))
            + "</section>"
        )

    head = [b for b in header if not isinstance(b, Tiles)]
    tiles = [b for b in blocks if isinstance(b, Tiles)]
    parts = ["<header>", *_blocks_html(head[:1], charts)]
    parts += _blocks_html(head[1:2], charts, in_header=True)
    parts += _blocks_html(tiles, charts)
    parts.append(f'<nav class="toc">{nav}</nav>')
    parts += _blocks_html(head[2:], charts)
    parts.append("</header>")
    for row in layout:
        cols = [col for col in row if col]
        if len(row) == 1:
            parts.append('<div class="row wide">' + "".join(card(n) for n in cols[0]) + "</div>")
        else:
            parts.append(
                '<div class="row">'
                + "".join(
                    '<div class="col">' + "".join(card(n) for n in col) + "</div>" for col in row
                )
                + "</div>"
            )
    title = f"SigmaSight report: {m.portfolio} ({m.as_of.isoformat()})"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


# --------------------------------------------------------------------------- files


def parse_formats(formats: str | Iterable[str] | None) -> tuple[str, ...]:
    """Formats from ``"md,json"`` or an iterable, in :data:`FORMATS` order (None = all).

    Raises
    ------
    ConfigError
        For an unknown format, quoting it.
    """
    if formats is None:
        return FORMATS
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = {str(f).strip().lower() for f in items if str(f).strip()}
    if "all" in names:
        return FORMATS
    unknown = sorted(names - set(FORMATS))
    if unknown:
        raise ConfigError(
            f"unknown report format(s) {', '.join(map(repr, unknown))}; known: {', '.join(FORMATS)}"
        )
    if not names:
        raise ConfigError("no report format given; choose from: " + ", ".join(FORMATS))
    return tuple(f for f in FORMATS if f in names)


def _json_text(data: ReportData) -> str:
    return json.dumps(report_json(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_reports(
    settings: Settings,
    portfolio: str | int,
    as_of: dt.date | None = None,
    formats: str | Iterable[str] = FORMATS,
    output_dir: Path | None = None,
    scenario_set: str = LIBRARY_SCENARIO_SET,
) -> dict[str, Path]:
    """Write the report artifacts of one portfolio from its stored results.

    Parameters
    ----------
    settings : Settings
    portfolio : str or int
        Name, slug or id.
    as_of : datetime.date, optional
        Default: the latest date on which every needed series is cached
        (:func:`~sigmasight_lib.marketdata.cache.default_as_of`, as for every
        other command); an explicit date must be an NYSE session in the cache.
        Groups without results for the date are N/A with the reason.
    formats : str or iterable of str, default=("md", "json", "csv", "html")
        Any of :data:`FORMATS` (``"md,json"`` is accepted).
    output_dir : Path, optional
        Default ``settings.outputs_dir / <as_of> / <portfolio-slug>`` (with
        ``scenarios-<set>/`` below it for a custom scenario set, so the library
        report is never overwritten).
    scenario_set : str, default="library"
        The stress scenario set shown: the library, or a custom file's set
        (``sigmasight engine stress --scenarios FILE`` stores it under the file's stem).

    Returns
    -------
    dict of str to Path
        Format → written file (:data:`FILE_NAMES`), in :data:`FORMATS` order.

    Raises
    ------
    NotFoundError
        When the portfolio does not exist or has no stored results at all, or the
        scenario set is unknown (the known sets are listed).
    ConfigError
        For an unknown format.
    """
    from sigmasight_lib.db.session import session_scope
    from sigmasight_lib.exceptions import MarketDataError
    from sigmasight_lib.marketdata.cache import check_as_of, default_as_of
    from sigmasight_lib.params import load_benchmark_params, load_engine_params
    from sigmasight_lib.portfolios.service import find_portfolio

    chosen = parse_formats(formats)
    risk_params = load_engine_params(settings.params_dir).risk_metrics
    benchmark = load_benchmark_params(settings.params_dir)
    with session_scope(settings) as session:
        p = find_portfolio(session, portfolio)
        latest = latest_result_as_of(session, p.id)
        if latest is None:
            raise NotFoundError(
                f"portfolio {p.name!r} (id {p.id}) has no stored engine results; run "
                "`sigmasight batch run` or `sigmasight engine ...` first"
            )
        # the same rule as every other command: an explicit session, else the
        # latest date with every needed series cached (never a stray result date)
        day = check_as_of(session, as_of) if as_of is not None else default_as_of(session)
        if day is None:
            raise MarketDataError(
                "no as-of date: the cache has no date with every needed series; "
                "run `sigmasight market-data sync` or pass --as-of"
            )
        if scenario_set != LIBRARY_SCENARIO_SET:
            known = set(session.scalars(select(StressScenario.scenario_set).distinct()))
            if scenario_set not in known:
                raise NotFoundError(
                    f"no stress scenario set {scenario_set!r}; known: "
                    f"{', '.join(sorted(known | {LIBRARY_SCENARIO_SET}))}"
                )
        data = load_report_data(
            session, p.id, day, window=risk_params.window, scenario_set=scenario_set,
            risk_free=risk_params.risk_free, benchmark=benchmark,
        )  # fmt: skip
    folder = output_dir or settings.outputs_dir / day.isoformat() / p.slug
    if output_dir is None and scenario_set != LIBRARY_SCENARIO_SET:
        folder = folder / f"scenarios-{scenario_set}"
    folder.mkdir(parents=True, exist_ok=True)
    blocks = _document(data) if {"md", "html"} & set(chosen) else []
    renderers: dict[str, Callable[[], str]] = {
        "md": lambda: _markdown(blocks),
        "json": lambda: _json_text(data),
        "csv": lambda: positions_csv(data),
        "html": lambda: _html(data, blocks),
    }
    written: dict[str, Path] = {}
    for fmt in chosen:
        path = folder / FILE_NAMES[fmt]
        path.write_text(renderers[fmt](), encoding="utf-8")
        written[fmt] = path
    return written
