"""Validation artifacts: validation.md, validation.json and PNG charts of a :class:`ValidationResult`.

:func:`write_validation` writes them to
``<outputs>/validation/<portfolio-slug>/<start>_<end>/`` (or a given folder);
``sigmasight validate`` and ``notebooks/11_validation.ipynb`` call it. The
markdown uses the report writers' document model (the same escaping and table
layout as report.md); the charts are
:func:`~sigmasight_lib.reporting.plots.plot_var_backtest` and
:func:`~sigmasight_lib.reporting.plots.plot_replays`. Nothing here prints.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmasight_lib.lineage import code_version
from sigmasight_lib.reporting.formats import integer as _int
from sigmasight_lib.reporting.formats import num as _num
from sigmasight_lib.reporting.formats import pct as _pct
from sigmasight_lib.reporting.formats import shock as _shock
from sigmasight_lib.reporting.formats import usd as _usd
from sigmasight_lib.reporting.plots import plot_replays, plot_var_backtest
from sigmasight_lib.reporting.writers import (
    Block,
    Chart,
    Heading,
    Para,
    _kv,
    _markdown,
    _png,
    _table,
)

if TYPE_CHECKING:
    from sigmasight_lib.config import Settings
    from sigmasight_lib.validation import ValidationResult

FILE_NAMES: dict[str, str] = {
    "md": "validation.md",
    "json": "validation.json",
    "var_chart": "var_backtest.png",
    "replay_chart": "replays.png",
}
"""Artifact → file name in the output folder."""

BIAS_MEANING = (
    "std of next-session P&L / forecast σ (σ = the VaR window's daily standard deviation "
    "× gross exposure). About 1 when the volatility forecast is right; above the band the "
    "model under-forecasts risk (realized moves larger than forecast), below it "
    "over-forecasts. Band: 1 ± 1.96 / √(2T)."
)
BASEL_RULE = (
    "Exception: next-session P&L below −VaR. Kupiec POF tests the exception rate against "
    "1 − level, Christoffersen tests that exceptions do not cluster (χ² with 1 degree of "
    "freedom each; conditional coverage = their sum, 2 degrees). Basel zone by the binomial "
    "probability of at most k exceptions: green below 95 %, yellow below 99.99 %, red "
    "above (250 days at 0.99: green 0–4, yellow 5–9, red ≥ 10); Basel defines it for 0.99, "
    "the 0.95 zone applies the same rule and is informational."
)


def output_folder(settings: Settings, result: ValidationResult) -> Path:
    """``<outputs>/validation/<portfolio-slug>/<start>_<end>/``."""
    period = f"{result.start.isoformat()}_{result.end.isoformat()}"
    return settings.outputs_dir / "validation" / result.slug / period


# --------------------------------------------------------------------------- document


def _p(value: Any) -> str:
    """A p-value with 4 decimals."""
    return _num(value, 4)


def _backtest_blocks(result: ValidationResult) -> list[Block]:
    rows = [
        (
            f"{b.level:.2f}", _int(b.observations), _int(b.exceptions),
            _num(b.expected_exceptions, 1), _pct(b.exception_rate), _num(b.kupiec_lr, 3),
            _p(b.kupiec_p_value), _num(b.christoffersen_lr, 3), _p(b.christoffersen_p_value),
            _num(b.conditional_coverage_lr, 3), _p(b.conditional_coverage_p_value),
            f"{b.zone} (green ≤ {b.green_max}, yellow ≤ {b.yellow_max})",
        )
        for b in result.backtests.values()
    ]  # fmt: skip
    headers = ("Level", "Days", "Exceptions", "Expected", "Rate", "Kupiec LR", "Kupiec p",
               "Christoffersen LR", "Christoffersen p", "Cond. cov. LR", "Cond. cov. p",
               "Basel zone")  # fmt: skip
    return [
        Heading(2, "VaR backtest"),
        Para(
            f"1-day historical VaR of the risk-metrics engine ({result.window}-session "
            f"window of constant-holdings returns with day t's exposures) vs the next "
            f"session's constant-holdings P&L, {result.start} to {result.end}."
        ),
        _table(headers, rows, (False, *[True] * 10, False)),
        Para(BASEL_RULE),
    ]


def _bias_blocks(result: ValidationResult) -> list[Block]:
    b = result.bias
    return [
        Heading(2, "Volatility forecast bias"),
        _kv(
            [
                ("Bias statistic", _num(b.statistic, 3)),
                ("95 % band", f"{_num(b.lower, 3)} – {_num(b.upper, 3)}"),
                ("Days (T)", _int(b.observations)),
                ("Verdict", b.verdict),
            ]
        ),  # fmt: skip
        Para(BIAS_MEANING),
    ]


def _replay_blocks(result: ValidationResult) -> list[Block]:
    blocks: list[Block] = [Heading(2, "Crash replays")]
    if not result.replays:
        return [*blocks, Para("No replay was run.", strong="N/A:")]
    rows = [
        (
            r.name, f"{r.start} → {r.end}", r.scenario, _usd(r.gross_value_usd),
            _usd(r.realized_pnl_usd), _usd(r.predicted_pnl_usd), _pct(r.predicted_error),
            _usd(r.stress_direct_pnl_usd), _usd(r.stress_correlated_pnl_usd),
            _pct(r.stress_error) + (" *" if r.stress_partial else ""),
        )
        for r in result.replays
    ]  # fmt: skip
    headers = ("Replay", "Window", "Scenario", "Gross value at start", "Realized P&L",
               "Factor model P&L", "Model error (% gross)", "Stress direct",
               "Stress correlated", "Stress error (% gross)")  # fmt: skip
    blocks += [
        Para(
            "Holdings held constant in quantity. Realized: holdings valued at the window's "
            "start and end (stocks at their closes, options repriced by BSM at the end "
            "date's spot). Factor model: dollar factor exposures at the start × the factors' "
            "realized moves (style factors as spreads over the market). Stress: the "
            "matching scenario run at the start. Error = (model − realized) / gross market "
            "value at the start; * = the scenario shocks factors without data."
        ),
        _table(headers, rows, (False, False, False, *[True] * 7)),
    ]
    for r in result.replays:
        reasons = [
            (label, why)
            for label, why in (
                ("realized", r.realized_reason),
                ("factor model", r.predicted_reason),
                ("stress", r.stress_reason),
            )
            if why
        ]
        if not reasons and r.by_factor.empty and not r.notes:
            continue
        blocks.append(Heading(3, r.name))
        for label, why in reasons:
            blocks.append(Para(f"{label}: {why}.", strong="N/A:"))
        if r.notes:
            blocks.append(Para("; ".join(r.notes) + ".", strong="Notes:"))
        if not r.by_factor.empty:
            factor_rows = [
                (
                    name,
                    row.kind,
                    _usd(row.exposure_usd),
                    _shock(row.move, row.kind),
                    _usd(row.pnl_usd),
                    row.reason or "",
                )  # fmt: skip
                for name, row in r.by_factor.iterrows()
            ]
            blocks.append(
                _table(("Factor", "Move", "Exposure (USD per unit move)", "Realized move", "P&L",
                        "N/A reason"), factor_rows, (False, False, True, True, True, False))
            )  # fmt: skip
    return blocks


def validation_blocks(result: ValidationResult) -> list[Block]:
    """The document: header, VaR backtest, volatility bias, crash replays, notes."""
    header = _kv([
        ("Portfolio", f"{result.portfolio} (id {result.portfolio_id})"),
        ("Backtest period", f"{result.start} to {result.end}"),
        ("Holdings as of", str(result.holdings_as_of)),
        ("Positions", _int(result.positions)),
        ("Market data", result.provider),
        ("VaR window", f"{result.window} sessions"),
        ("Generated at", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ])  # fmt: skip
    blocks: list[Block] = [Heading(1, f"Model validation: {result.portfolio}"), header]
    blocks += _backtest_blocks(result) + _bias_blocks(result) + _replay_blocks(result)
    if result.notes:
        blocks.append(Heading(2, "Notes"))
        blocks += [Para(n) for n in result.notes]
    return blocks


def validation_markdown(result: ValidationResult) -> str:
    """validation.md: the document plus links to the chart files beside it."""
    charts = (
        f"\n## Charts\n\n![VaR backtest]({FILE_NAMES['var_chart']})\n\n"
        f"![Crash replays]({FILE_NAMES['replay_chart']})\n"
    )
    return _markdown(validation_blocks(result)) + charts


def validation_document(result: ValidationResult) -> dict[str, Any]:
    """:meth:`ValidationResult.to_dict` with ``generated_at`` (UTC) and ``code_version``
    added to its metadata: the content of validation.json."""
    doc = result.to_dict()
    doc["metadata"]["generated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    doc["metadata"]["code_version"] = code_version()
    return doc


def validation_json(result: ValidationResult) -> str:
    """validation.json: :func:`validation_document` as strict JSON (NaN → null)."""
    return (
        json.dumps(validation_document(result), indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def validation_charts(result: ValidationResult) -> dict[str, Chart]:
    """The PNG charts: VaR backtest and crash replays."""
    replays = result.replay_table()
    return {
        "var_chart": Chart("VaR backtest", lambda ax: plot_var_backtest(result.daily, ax=ax), (10.0, 4.5)),
        "replay_chart": Chart(
            "Crash replays",
            lambda ax: plot_replays(replays, ax=ax),
            (9.0, max(3.0, 0.8 * len(replays) + 1.5)),
            margins=(2.6, 0.2, 0.35, 0.5),
        ),
    }  # fmt: skip


def write_validation(
    settings: Settings, result: ValidationResult, output_dir: Path | None = None
) -> dict[str, Path]:
    """Write validation.md, validation.json and the charts; return artifact → path.

    Parameters
    ----------
    settings : Settings
    result : ValidationResult
    output_dir : Path, optional
        Default :func:`output_folder` (``<outputs>/validation/<slug>/<start>_<end>/``).
    """
    folder = output_dir or output_folder(settings, result)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for key, text in (("md", validation_markdown(result)), ("json", validation_json(result))):
        written[key] = folder / FILE_NAMES[key]
        written[key].write_text(text, encoding="utf-8")
    charts = validation_charts(result)
    if not result.replays:
        del charts["replay_chart"]
    for key, chart in charts.items():
        written[key] = folder / FILE_NAMES[key]
        written[key].write_bytes(base64.b64decode(_png(chart)))
    return written
