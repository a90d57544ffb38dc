"""The notebook display layer: formats against hand-written strings, and the repr scanner
that the batch test runs over every HTML render."""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from sigmasight_lib.reporting.display import (
    format_value,
    label,
    show_header,
    show_notes,
    show_summary,
    show_table,
    unit_of,
)

# --------------------------------------------------------------------------- the scanner

REPR_SNIPPETS = (
    "np.float64(", "np.int64(", "Timestamp(", "datetime.date(", "datetime.datetime(",
    "{'", "('", "<pandas.io.formats", "PosixPath(", "dtype:", "array(",
)  # fmt: skip
"""Text that only a Python repr writes."""
REPR_VALUES = {"None", "NaN", "nan", "NaT", "<NA>", "True", "False", "inf", "-inf"}
"""A table cell or list item that is exactly one of these is a leaked repr."""
SCIENTIFIC = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?e[-+]?\d+\b", re.IGNORECASE)


class _Outputs(HTMLParser):
    """Collects the text of notebook outputs (or of the whole body when the page is not an
    nbconvert render), cell by cell, and the mime types of the outputs."""

    def __init__(self, whole_page: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.whole_page = whole_page
        self.depth = 0  # > 0 inside an output area
        self.skip = 0  # > 0 inside style / script
        self.stack: list[str] = []
        self.cells: list[str] = []  # text of td / th / li elements
        self.text: list[str] = []
        self.mimes: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if tag in ("style", "script"):
            self.skip += 1
        if tag in ("br", "img", "meta", "link", "hr", "input"):
            return
        inside = self.depth > 0 or "jp-OutputArea-output" in (a.get("class") or "")
        self.stack.append(tag)
        if self.depth > 0:
            self.depth += 1
        elif inside:
            self.depth = 1
            self.mimes.append(a.get("data-mime-type") or "")
        if tag in ("td", "th", "li") and (self.depth > 0 or self.whole_page):
            self._cell = []

    def handle_endtag(self, tag):  # noqa: ANN001
        if tag in ("style", "script"):
            self.skip = max(0, self.skip - 1)
        if tag in ("br", "img", "meta", "link", "hr", "input"):
            return
        if tag in ("td", "th", "li") and self._cell is not None:
            self.cells.append("".join(self._cell).strip())
            self._cell = None
        if self.stack:
            self.stack.pop()
        if self.depth > 0:
            self.depth -= 1

    def handle_data(self, data):  # noqa: ANN001
        if self.skip or not (self.depth > 0 or self.whole_page):
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def find_reprs(page: str) -> list[str]:
    """Python reprs in an HTML page: every problem found, empty when the page is clean.

    In an nbconvert render only the outputs are read (markdown cells may say ``None`` on
    purpose); other pages (report.html, index.html) are read whole, without style and
    script. Flags: repr snippets (``np.float64(``, ``{'`` ...), a ``text/plain`` output
    (what a cell shows when it returns a plain Python object), a cell or list item that
    is exactly ``None`` / ``NaN`` / ``True`` ..., and scientific notation.
    """
    parser = _Outputs(whole_page="jp-Notebook" not in page)
    parser.feed(page)
    text = " ".join(parser.text)
    found = [f"repr text {s!r}" for s in REPR_SNIPPETS if s in text]
    found += [f"{m} output" for m in parser.mimes if m == "text/plain"]
    found += [f"cell value {c!r}" for c in parser.cells if c in REPR_VALUES]
    found += [f"scientific notation {m!r}" for m in SCIENTIFIC.findall(text)]
    return found


BAD_RENDER = """<html><body class="jp-Notebook">
<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown"><p><code>as_of</code> (<code>None</code>
= the latest date; <code>save = True</code>)</p></div>
<div class="jp-OutputArea-child"><div class="jp-RenderedText jp-OutputArea-output"
 data-mime-type="text/plain"><pre>{'scenario_set': 'library', 'worst': np.float64(-656231.25),
 'start': Timestamp('2016-03-31 00:00:00')}</pre></div></div>
<div class="jp-OutputArea-child"><div class="jp-RenderedText jp-OutputArea-output"
 data-mime-type="text/plain"><pre>('Long/Short Hedge Fund Style', datetime.date(2017, 3, 29))</pre>
</div></div>
<div class="jp-RenderedHTMLCommon jp-RenderedHTML jp-OutputArea-output" data-mime-type="text/html">
<table><tr><td>AAPL</td><td>NaN</td><td>1.2e-05</td><td>True</td><td>None</td></tr></table></div>
</body></html>"""


def test_the_scanner_finds_every_kind_of_repr_in_a_bad_render():
    found = find_reprs(BAD_RENDER)
    for expected in ("{'", "np.float64(", "Timestamp(", "datetime.date(", "('",
                     "text/plain output", "cell value 'NaN'", "cell value 'True'",
                     "cell value 'None'", "scientific notation '1.2e-05'"):  # fmt: skip
        assert any(expected.strip("'") in f for f in found), (expected, found)
    assert not any("save = True" in f for f in found)  # markdown is not an output


def test_the_scanner_passes_text_that_only_looks_like_a_repr():
    page = BAD_RENDER.split('<div class="jp-OutputArea-child">')[0] + (
        '<div class="jp-RenderedHTMLCommon jp-RenderedHTML jp-OutputArea-output" '
        'data-mime-type="text/html"><p>Valuation (USD) · No notes · Nonetheless 1e5x</p>'
        "<table><tr><td>N/A</td><td>Yes</td><td>-$15,009</td><td>0.48 %</td></tr></table>"
        "</div></body></html>"
    )
    assert find_reprs(page) == []


def test_the_scanner_finds_nothing_in_the_display_layer_output():
    frame = pd.DataFrame({"symbol": ["AAPL", "XOM"], "exposure_usd": [1.5e6, np.nan],
                          "flag": [True, False], "tiny": [1.2e-05, 3.0]})  # fmt: skip
    page = '<body class="jp-Notebook">' + "".join(
        f'<div class="jp-OutputArea-output" data-mime-type="text/html">{d.html}</div>'
        for d in (show_table(frame), show_summary({"x": None, "y": np.float64(2.5e-7)}))
    )
    assert find_reprs(page) == []


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("value", "key", "expected"),
    [
        (1397454.7967, "net_liquidation_value_usd", "$1,397,455"),
        (-15008.64, "daily_pnl_usd", "-$15,009"),
        (np.float64(-656231.25), "worst_correlated_pnl_usd", "-$656,231"),
        (15098.74, "market_up_1pct", "$15,099"),
        (-52397.3, "rates_down_50bp", "-$52,397"),
        (500404760.9, "ex_ante_variance_usd2", "500,404,761"),
        (141.416, "price", "$141.42"),
        (0.004852, "var_95", "0.49 %"),
        (-0.0235, "max_drawdown", "-2.35 %"),
        (0.764, "backtest_hit_rate", "76.40 %"),
        (0.40823, "factor_risk_share", "40.82 %"),
        (0.2239, "market_beta_to_gross", "0.224"),
        (-0.000004, "Market.beta_to_gross", "0.000"),
        (34160.539, "portfolio_delta", "34,160.54"),
        (0.28995, "average_correlation", "0.290"),
        (3.2403, "sharpe", "3.24"),
        (252.0, "history_days", "252"),
        (np.int64(30), "positions", "30"),
        (pd.Timestamp("2016-03-31"), "window_start", "2016-03-31"),
        (dt.date(2017, 3, 29), "as_of", "2017-03-29"),
        (dt.datetime(2017, 3, 29, 16, 5, tzinfo=dt.UTC), "generated_at", "2017-03-29 16:05 UTC"),
        (["Market", "Value"], "factors", "Market, Value"),
        ({"Market": "SPY", "Value": "VLUE"}, "proxies_used", "Market: SPY, Value: VLUE"),
        ({"Market": 1509874.3, "Growth": float("nan")}, "dollar_betas_usd",
         "Market: $1,509,874, Growth: N/A"),
        ({"ok": 29, "warning": 0}, "counts", "Ok: 29, Warning: 0"),
        ({}, "excluded", "—"),
        ([], "capped_betas", "—"),
        (None, "rate_reason", "—"),
        (None, "rates_up_50bp", "N/A"),
        (float("nan"), "anything", "N/A"),
        (pd.NaT, "window_end", "N/A"),
        (True, "ok", "Yes"),
        (np.bool_(False), "partial", "No"),
        (1.2e-05, "unknown_figure", "0.000"),
        (158308.305248, "unknown_figure", "158,308"),
        ("replay_2008", "worst_scenario", "replay_2008"),
    ],
)  # fmt: skip
def test_format_value(value, key, expected):
    assert format_value(value, key) == expected


def test_units_of_every_engine_summary_key_family():
    assert unit_of("gross_exposure_usd") == "usd" and unit_of("revaluation_pnl_direct") == "usd"
    assert unit_of("implied_vol") == "pct" and unit_of("underlying_move_direct") == "pct"
    assert unit_of("parametric_var_99") == "pct" and unit_of("parametric_var_99_usd") == "usd"
    assert unit_of("ir_beta") == "beta" and unit_of("beta_uncapped") == "beta"
    assert unit_of("r_squared") == "corr" and unit_of("condition_number") == "ratio"
    assert unit_of("covariance_observations") == "count" and unit_of("Low Volatility") == "number"


def test_labels():
    assert label("net_liquidation_value_usd") == "Net liquidation value"
    assert label("factor_variance_usd2") == "Factor variance (USD²)"
    assert label("var_95_usd") == "VaR 95 %" and label("var_95") == "VaR 95 % (of gross)"
    assert label("market_down_1pct") == "Market down 1 %"
    assert label("stress.market_up_10.correlated_pnl_usd") == (
        "Stress · Market up 10 · Correlated P&L"
    )
    assert label("Market.beta_to_gross") == "Market · Beta to gross"
    assert label("Low Volatility") == "Low Volatility" and label("AAPL") == "AAPL"


# --------------------------------------------------------------------------- displays


def test_summary_is_a_metric_value_table():
    shown = show_summary({"net_liquidation_value_usd": 1397454.8, "as_of": dt.date(2017, 3, 29)})
    assert "<th" in shown.html and "Metric" in shown.html and "$1,397,455" in shown.html
    assert shown.text == "Net liquidation value: $1,397,455\nAs of: 2017-03-29"


def test_notes_are_a_bullet_list_or_no_notes():
    assert show_notes(("a <b>", "c")).html.count("<li>") == 2
    assert "a &lt;b&gt;" in show_notes(["a <b>"]).html
    assert show_notes(()).text == "No notes." and "No notes." in show_notes([]).html


def test_header_is_one_formatted_line():
    shown = show_header(portfolio="Long/Short Hedge Fund Style", as_of=dt.date(2017, 3, 29))
    assert shown.text == "Long/Short Hedge Fund Style · as of 2017-03-29"
    assert "<strong>Long/Short Hedge Fund Style</strong>" in shown.html


def test_table_formats_columns_hides_a_range_index_and_keeps_reasons():
    frame = pd.DataFrame({
        "symbol": ["AAPL", "XOM"], "exposure_usd": [337670.2, np.nan],
        "implied_vol": [0.2512, 0.3], "expired": [False, True], "reason": [None, "no price"],
    })  # fmt: skip
    html = show_table(frame).html
    for text in ("$337,670", "25.12 %", ">No<", ">Yes<", ">N/A<", "no price", "Exposure",
                 "Implied vol"):  # fmt: skip
        assert text in html, text
    assert "None" not in html and "NaN" not in html and "nan" not in html
    assert 'class="row_heading' not in html  # the range index is hidden


def test_long_table_shows_its_first_rows_and_where_the_rest_is():
    frame = pd.DataFrame({"pnl_usd": np.arange(100.0)}, index=pd.RangeIndex(100))
    shown = show_table(frame, max_rows=10, full_table="tables/x.csv")
    assert shown.html.count("<tr") == 11  # header + 10 rows
    assert "Showing the first 10 of 100 rows (90 more). Full table: tables/x.csv." in shown.html


def test_a_named_index_becomes_columns_and_row_keys_format_by_metric():
    frame = pd.DataFrame(
        {"before": [1500.4, 0.25], "after": [1600.6, 0.2]}, index=["gross_exposure_usd", "var_95"]
    )
    html = show_table(frame, row_keys="index").html
    assert "$1,500" in html and "25.00 %" in html and "Gross exposure" not in html
    wide = pd.DataFrame([{f"c{i}_usd": float(i) for i in range(12)}])
    assert "Metric" in show_table(wide).html  # one wide row: Metric | Value
