"""``run_validation`` and ``sigmasight validate`` end to end on the seeded SQLite demo database.

One database and one validation run per module (the demo portfolios with
offline data; the run syncs what else it needs): a short backtest
(2016-12-01 .. 2017-03-29, holdings as of 2017-03-28) and two replays — August
2015 (all data present) and COVID 2020 (the offline SPY series ended in 2018:
N/A with the reason, never a substitute).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from sigmasight_lib.config import REPO_DIR, Settings, load_settings
from sigmasight_lib.db.models import MarketPrice
from sigmasight_lib.db.session import dispose_engine, session_scope, upgrade
from sigmasight_lib.engines.validation import var_backtest
from sigmasight_lib.exceptions import ConfigError
from sigmasight_lib.params import EngineParams, load_replays, load_stress_scenarios
from sigmasight_lib.validation import DAILY_COLUMNS, ValidationResult, run_validation
from tests.conftest import cli_runner, seed_demo_database

PORTFOLIO = "Long/Short Hedge Fund Style"
START, END, HOLDINGS = dt.date(2016, 12, 1), dt.date(2017, 3, 29), dt.date(2017, 3, 28)
REPLAYS = ["aug_2015_selloff", "covid_2020"]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    tmp = tmp_path_factory.mktemp("validation")
    s = load_settings({
        "SIGMASIGHT_DATABASE_URL": f"sqlite:///{tmp / 'validation.db'}",
        "SIGMASIGHT_OUTPUTS_DIR": str(tmp / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(REPO_DIR / "params"),
        "SIGMASIGHT_MARKET_DATA": "offline",
    })  # fmt: skip
    upgrade(s)
    seed_demo_database(s)
    yield s
    dispose_engine(s)


@pytest.fixture(scope="module")
def result(settings: Settings) -> ValidationResult:
    return run_validation(settings, PORTFOLIO, START, END, holdings_as_of=HOLDINGS, replays=REPLAYS)


def _prices(settings: Settings, days: list[dt.date]) -> pd.DataFrame:
    """(date, symbol) → close, adj_close, total_return straight from the price table."""
    with session_scope(settings) as session:
        rows = session.execute(
            sa.select(MarketPrice.date, MarketPrice.symbol, MarketPrice.close,
                      MarketPrice.adj_close, MarketPrice.total_return)
            .where(MarketPrice.date.in_(days))
        ).all()  # fmt: skip
    frame = pd.DataFrame(rows, columns=["date", "symbol", "close", "adj_close", "total_return"])
    frame = frame.set_index(["date", "symbol"]).astype(float)
    frame["level"] = frame["close"].fillna(frame["adj_close"])  # the traded price
    return frame


def _positions(settings: Settings) -> pd.DataFrame:
    from sigmasight_lib.db import store
    from sigmasight_lib.portfolios.service import find_portfolio

    with session_scope(settings) as session:
        return store.load_positions(session, find_portfolio(session, PORTFOLIO).id, HOLDINGS)


def _model_price(settings: Settings, options: pd.DataFrame, day: dt.date) -> pd.Series:
    """BSM price per share of ``options`` on ``day`` (the valuation engine's, offline)."""
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.params import load_engine_params
    from sigmasight_lib.runs.inputs import load_market_inputs
    from sigmasight_lib.runs.securities import compute_position_analytics

    with session_scope(settings) as session:
        inputs = load_market_inputs(
            session, get_provider(settings), sorted(set(options["underlying"])),
            day - dt.timedelta(days=150), day,
        )  # fmt: skip
    valuation, greeks, _ = compute_position_analytics(
        options, inputs, day, load_engine_params(settings.params_dir)
    )
    return valuation["price"].where(valuation["price_source"] == "model")


# --------------------------------------------------------------------------- VaR backtest


def test_daily_table_covers_every_forecast_session(result: ValidationResult):
    from sigmasight_lib.marketdata.calendar import trading_sessions

    sessions = trading_sessions(START, END)
    daily = result.daily
    assert tuple(daily.columns) == DAILY_COLUMNS
    assert [d.date() for d in daily.index] == sessions[:-1]
    assert list(daily["realized_date"]) == sessions[1:]
    assert daily[["var_95_usd", "var_99_usd", "sigma_usd", "pnl_usd"]].notna().all().all()
    assert (daily["var_99_usd"] >= daily["var_95_usd"]).all()
    assert (daily["history_days"] == 252).all()


def test_realized_pnl_is_exposure_times_next_return_from_the_price_table(
    result: ValidationResult, settings: Settings
):
    from sigmasight_lib.marketdata import get_provider
    from sigmasight_lib.params import load_engine_params
    from sigmasight_lib.runs.inputs import load_market_inputs
    from sigmasight_lib.runs.securities import compute_position_analytics

    t = result.daily.index[20].date()
    t_next = result.daily["realized_date"].iloc[20]
    positions = _positions(settings)
    prices = _prices(settings, [t, t_next])
    is_option = positions["option_type"].isin(["C", "P"])
    hand = 0.0
    for pid, p in positions.iterrows():
        u = p["underlying"]
        ret = prices.loc[(t_next, u), "adj_close"] / prices.loc[(t, u), "adj_close"] - 1
        if is_option[pid]:
            continue
        exposure = p["quantity"] * prices.loc[(t, u), "level"] * p["multiplier"]
        hand += exposure * ret
    # options: the Greeks engine's delta × the underlying's close, × the same return
    params = load_engine_params(settings.params_dir)
    with session_scope(settings) as session:
        inputs = load_market_inputs(
            session, get_provider(settings), sorted(set(positions["underlying"])),
            t - dt.timedelta(days=150), t,
        )  # fmt: skip
    greeks = compute_position_analytics(positions, inputs, t, params)[1]
    for pid, p in positions.loc[is_option].iterrows():
        u = p["underlying"]
        ret = prices.loc[(t_next, u), "adj_close"] / prices.loc[(t, u), "adj_close"] - 1
        hand += greeks.at[pid, "delta"] * prices.loc[(t, u), "level"] * ret
    assert result.daily["pnl_usd"].iloc[20] == pytest.approx(hand, rel=1e-9)


def test_var_on_the_holdings_date_is_the_risk_metrics_engine_var(
    result: ValidationResult, settings: Settings
):
    from sigmasight_lib.runs import run_risk_metrics

    run = run_risk_metrics(settings, PORTFOLIO, as_of=HOLDINGS)
    last = result.daily.loc[pd.Timestamp(HOLDINGS)]
    assert last["var_95_usd"] == pytest.approx(run.summary["var_95_usd"], rel=1e-9)
    assert last["var_99_usd"] == pytest.approx(run.summary["var_99_usd"], rel=1e-9)
    assert last["gross_exposure_usd"] == pytest.approx(run.summary["gross_exposure_usd"], rel=1e-9)
    sigma = run.summary["annual_volatility"] / math.sqrt(252) * run.summary["gross_exposure_usd"]
    assert last["sigma_usd"] == pytest.approx(sigma, rel=1e-9)


def test_backtests_and_bias_are_the_statistics_of_the_daily_table(result: ValidationResult):
    daily = result.daily
    for level, b in result.backtests.items():
        s = f"{round(level * 100)}"
        assert b.observations == len(daily)
        assert b.exceptions == int((daily["pnl_usd"] < -daily[f"var_{s}_usd"]).sum())
        assert b.exceptions == int(daily[f"exception_{s}"].sum())
        assert b == var_backtest(daily["pnl_usd"], daily[f"var_{s}_usd"], level)
        assert b.zone in ("green", "yellow", "red")
    z = daily["pnl_usd"] / daily["sigma_usd"]
    assert result.bias.statistic == pytest.approx(np.std(z, ddof=1), rel=1e-12)
    assert result.bias.observations == len(daily)


# --------------------------------------------------------------------------- replays


def test_replay_with_data_predicts_from_factor_moves_and_realizes_from_prices(
    result: ValidationResult, settings: Settings
):
    r = next(x for x in result.replays if x.key == "aug_2015_selloff")
    assert r.status == "ok" and r.predicted_reason is None and r.stress_reason is None
    assert (r.start, r.end) == (dt.date(2015, 8, 18), dt.date(2015, 8, 25))
    # Market move = SPY's compounded published total returns over (start, end]
    with session_scope(settings) as session:
        spy = session.execute(
            sa.select(MarketPrice.total_return).where(
                MarketPrice.symbol == "SPY", MarketPrice.date > r.start, MarketPrice.date <= r.end
            )
        ).scalars().all()  # fmt: skip
    assert len(spy) == 5
    assert r.by_factor.at["Market", "move"] == pytest.approx(np.prod(1 + np.array(spy)) - 1)
    assert r.predicted_pnl_usd == pytest.approx(r.by_factor["pnl_usd"].sum(), rel=1e-12)
    # realized: the stock positions' value change straight from the closes
    positions = _positions(settings)
    prices = _prices(settings, [r.start, r.end])
    stocks = positions.loc[~positions["option_type"].isin(["C", "P"])]
    stock_pnl = sum(
        p["quantity"] * p["multiplier"]
        * (prices.loc[(r.end, p["underlying"]), "level"] - prices.loc[(r.start, p["underlying"]), "level"])
        for _, p in stocks.iterrows()
    )  # fmt: skip
    # options: repriced by BSM (the valuation engine's model price) at start and at end
    options = positions.loc[positions["option_type"].isin(["C", "P"])]
    options_pnl = sum(
        p["quantity"] * p["multiplier"] * (_model_price(settings, options, r.end)[pid]
                                           - _model_price(settings, options, r.start)[pid])
        for pid, p in options.iterrows()
    )  # fmt: skip
    assert r.realized_pnl_usd == pytest.approx(stock_pnl + options_pnl, rel=1e-9)
    assert r.predicted_error == pytest.approx(
        (r.predicted_pnl_usd - r.realized_pnl_usd) / r.gross_value_usd
    )
    assert math.isfinite(r.stress_correlated_pnl_usd) and r.scenario == "market_down_10"


def test_factor_moves_compound_across_gaps_and_refuse_ended_series():
    from sigmasight_lib.marketdata.calendar import trading_sessions
    from sigmasight_lib.runs.inputs import MarketInputs
    from sigmasight_lib.validation import _factor_moves

    days = pd.DatetimeIndex(trading_sessions(dt.date(2016, 2, 1), dt.date(2016, 2, 19)))
    start, end = days[8].date(), days[-1].date()  # 2016-02-11 .. 2016-02-19
    returns = pd.DataFrame({"AAA": 0.01, "OIL": -0.02, "OLD": 0.005}, index=days)
    returns.loc[days[11], "OIL"] = np.nan  # a holiday of the series: the next return spans it
    returns.loc[days[12], "OIL"] = (1 - 0.02) ** 2 - 1
    returns.loc[days[-2] :, "OLD"] = np.nan  # the series ended before the window's end
    curves = pd.DataFrame({"10y": 0.02 + 0.0001 * np.arange(len(days))}, index=days)
    inputs = MarketInputs("offline", returns * np.nan, returns, curves)
    proxies = {"Market": ("AAA",), "Oil": ("OIL",), "Old": ("OLD",), "Interest Rate": ("UST:10y",)}
    params = EngineParams()
    moves, reasons, notes = _factor_moves(inputs, proxies, start, end, params)
    n = len(days) - 9  # returns after the start
    assert moves["Market"] == pytest.approx(1.01**n - 1, rel=1e-12)
    assert moves["Oil"] == pytest.approx(0.98**n - 1, rel=1e-12)
    assert moves["Interest Rate"] == pytest.approx(0.0001 * n, rel=1e-9)
    # a series that stops short of the end (within 5 sessions) is used to its last day, noted
    assert moves["Old"] == pytest.approx(1.005 ** (n - 2) - 1, rel=1e-12)
    assert notes == [f"Old: move measured to {days[-3].date()}, the last observation of OLD"]
    # one that stopped before the start has no move
    returns.loc[days[5] :, "OLD"] = np.nan
    moves, reasons, _ = _factor_moves(inputs, proxies, start, end, params)
    assert "Old" not in moves
    behind = len(trading_sessions(days[4].date() + dt.timedelta(days=1), end))
    assert reasons["Old"] == (
        f"proxy OLD: last observation {days[4].date()}, {behind} sessions before as-of"
    )


def test_replay_file_matches_the_stress_library():
    replays = load_replays(REPO_DIR / "params" / "replays.yaml")
    keys = {s.key for s in load_stress_scenarios(REPO_DIR / "params" / "stress_scenarios.yaml")}
    windows = {(r.start.isoformat(), r.end.isoformat()) for r in replays}
    assert {
        ("2015-08-18", "2015-08-25"), ("2018-09-20", "2018-12-24"),
        ("2020-02-19", "2020-03-23"), ("2022-01-03", "2022-10-12"),
    } <= windows  # fmt: skip
    assert all(r.scenario in keys for r in replays)


def test_replay_file_errors_name_the_field(tmp_path: Path):
    bad = tmp_path / "replays.yaml"
    bad.write_text(
        "replays:\n  - {key: x, name: X, start: 2020-03-01, end: 2020-02-01, scenario: s}\n"
    )
    with pytest.raises(ConfigError, match=r"replay #1 \(x\): start 2020-03-01 is not before"):
        load_replays(bad)
    bad.write_text("replays:\n  - {key: x, name: X, start: 2020-01-01, end: 2020-02-01}\n")
    with pytest.raises(ConfigError, match="'scenario' is missing"):
        load_replays(bad)


# --------------------------------------------------------------------------- CLI and files


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    return cli_runner(settings, monkeypatch, capsys)


def _strict(text: str) -> dict:
    def reject(name: str) -> None:
        raise AssertionError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def test_cli_json_shape_and_files(cli, settings: Settings, result: ValidationResult):
    # `result` synced the prices through 2020 into the module's database; --no-sync reads them
    code, out, err = cli(
        "-q", "validate", "--portfolio", PORTFOLIO, "--start", "2017-01-03", "--end",
        "2017-03-29", "--replays", "covid_2020", "--no-sync", "--json",
    )  # fmt: skip
    assert code == 0, err
    doc = _strict(out)
    assert set(doc) == {"metadata", "var_backtest", "volatility_bias", "replays", "notes",
                        "daily", "files"}  # fmt: skip
    assert doc["metadata"]["code_version"] and doc["metadata"]["generated_at"].endswith("+00:00")
    assert (
        doc["metadata"]["start"] == "2017-01-03"
        and doc["metadata"]["holdings_as_of"] == "2017-03-29"
    )
    assert set(doc["var_backtest"]) == {"var_95", "var_99"}
    assert set(doc["var_backtest"]["var_99"]) >= {
        "level", "observations", "exceptions", "expected_exceptions", "exception_rate",
        "kupiec_lr", "kupiec_p_value", "christoffersen_lr", "christoffersen_p_value",
        "conditional_coverage_lr", "conditional_coverage_p_value", "zone",
    }  # fmt: skip
    assert set(doc["volatility_bias"]) == {"statistic", "lower", "upper", "observations", "verdict"}
    (replay,) = doc["replays"]
    # offline the market is the S&P 500 index after SPY ends (params/factors.yaml)
    assert replay["key"] == "covid_2020" and replay["status"] == "ok"
    assert isinstance(replay["predicted_pnl_usd"], float) and replay["predicted_reason"] is None
    assert len(doc["daily"]) == doc["var_backtest"]["var_95"]["observations"]
    assert set(doc["daily"][0]) == {"date", *DAILY_COLUMNS}
    folder = (
        settings.outputs_dir
        / "validation"
        / "long-short-hedge-fund-style"
        / "2017-01-03_2017-03-29"
    )
    for key, name in (("md", "validation.md"), ("json", "validation.json"),
                      ("var_chart", "var_backtest.png"), ("replay_chart", "replays.png")):  # fmt: skip
        assert Path(doc["files"][key]) == folder / name and (folder / name).stat().st_size > 0
    saved = _strict((folder / "validation.json").read_text())
    assert saved["var_backtest"] == doc["var_backtest"]
    md = (folder / "validation.md").read_text()
    for heading in ("## VaR backtest", "## Volatility forecast bias", "## Crash replays"):
        assert heading in md
    assert "covid_2020" in md or replay["name"] in md


def test_cli_text_and_errors(cli):
    code, out, _ = cli(
        "-q", "validate", "--portfolio", "3", "--start", "2017-03-01", "--end", "2017-03-29",
        "--replays", "none", "--no-sync",
    )  # fmt: skip
    assert code == 0
    assert "VaR 0.99:" in out and "volatility bias" in out and "validation.md" in out
    code, out, err = cli(
        "validate", "--portfolio", "3", "--start", "2017-03-29", "--end", "2017-03-01"
    )
    assert code == 1 and err.strip().count("\n") == 0 and "before end" in err
    code, _, err = cli(
        "validate", "--portfolio", "3", "--start", "2017-03-01", "--end", "2017-03-29",
        "--replays", "nope",
    )  # fmt: skip
    assert code == 1 and "unknown replay" in err and "'nope'" in err
    code, _, err = cli(
        "validate", "--portfolio", "nobody", "--start", "2017-03-01", "--end", "2017-03-29"
    )
    assert code == 1 and err.startswith("error:")


# --------------------------------------------------------------------------- notebook


@pytest.mark.slow
def test_validation_notebook_executes(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("SIGMASIGHT_DATABASE_URL", settings.database_url.render_as_string())
    monkeypatch.setenv("SIGMASIGHT_OUTPUTS_DIR", str(settings.outputs_dir))
    monkeypatch.setenv("SIGMASIGHT_PARAMS_DIR", str(settings.params_dir))
    monkeypatch.setenv("SIGMASIGHT_MARKET_DATA", "offline")
    source = REPO_DIR / "notebooks" / "11_validation.ipynb"
    executed = tmp_path / source.name
    papermill.execute_notebook(
        str(source), str(executed), kernel_name="python3", cwd=str(source.parent),
        parameters={"portfolio": "Balanced Individual Investor", "start": "2017-02-01",
                    "end": "2017-03-29", "run_id": None},
        progress_bar=False, log_output=False, execution_timeout=300,
    )  # fmt: skip
    nb = json.loads(executed.read_text(encoding="utf-8"))
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c["outputs"]]
    assert [o for o in outputs if o["output_type"] == "error"] == []
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 2
    assert any("text/html" in o.get("data", {}) for o in outputs)
    folder = settings.outputs_dir / "validation" / "balanced-individual-investor"
    assert (folder / "2017-02-01_2017-03-29" / "validation.json").exists()


# --------------------------------------------------------------------------- both backends


def test_run_validation_on_each_backend(demo_db: Settings):
    short = run_validation(demo_db, PORTFOLIO, dt.date(2017, 3, 1), END, replays="none", sync=False)
    assert len(short.daily) == 20 and short.replays == ()
    assert short.daily[["var_95_usd", "pnl_usd"]].notna().all().all()
    assert short.backtests[0.99].observations == 20
    json.dumps(short.to_dict(), allow_nan=False)


# --------------------------------------------------------------------------- a Market proxy with data in 2020


def _settings_with_market_proxies(
    tmp_path_factory: pytest.TempPathFactory, name: str, proxies: list[str]
) -> Settings:
    """The demo database with the offline Market proxy list replaced by ``proxies``."""
    import shutil

    import yaml

    from sigmasight_lib.portfolios.demo import seed_factor_definitions

    tmp = tmp_path_factory.mktemp(name)
    params = tmp / "params"
    shutil.copytree(REPO_DIR / "params", params)
    doc = yaml.safe_load((params / "factors.yaml").read_text())
    market = next(f for f in doc["factors"] if f["name"] == "Market")
    market["proxies"]["offline"] = proxies
    (params / "factors.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    s = load_settings({
        "SIGMASIGHT_DATABASE_URL": f"sqlite:///{tmp / 'market.db'}",
        "SIGMASIGHT_OUTPUTS_DIR": str(tmp / "outputs"),
        "SIGMASIGHT_PARAMS_DIR": str(params),
        "SIGMASIGHT_MARKET_DATA": "offline",
    })  # fmt: skip
    upgrade(s)
    seed_demo_database(s)
    with session_scope(s) as session:
        seed_factor_definitions(session, params)
    return s


@pytest.fixture(scope="module")
def index_market_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The demo database with the S&P 500 index (^GSPC, to 2022-12-28) as the only
    offline Market proxy."""
    s = _settings_with_market_proxies(tmp_path_factory, "validation_gspc", ["^GSPC"])
    yield s
    dispose_engine(s)


@pytest.fixture(scope="module")
def spy_market_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The demo database with SPY (offline to 2018-04-27) as the only Market proxy."""
    s = _settings_with_market_proxies(tmp_path_factory, "validation_spy", ["SPY"])
    yield s
    dispose_engine(s)


def test_replay_without_market_data_is_na_with_the_reason(spy_market_settings: Settings):
    res = run_validation(
        spy_market_settings, PORTFOLIO, dt.date(2017, 3, 1), END, replays=["covid_2020"]
    )
    (r,) = res.replays
    assert r.status == "n/a"
    assert math.isnan(r.predicted_pnl_usd) and math.isnan(r.stress_correlated_pnl_usd)
    assert "Market" in r.predicted_reason
    assert "proxy SPY: last observation 2018-04-27" in r.predicted_reason
    assert r.stress_reason
    # the holdings still have prices: the realized figure exists
    assert math.isfinite(r.realized_pnl_usd)


def test_covid_replay_with_a_market_proxy_that_has_data(index_market_settings: Settings):
    res = run_validation(
        index_market_settings, PORTFOLIO, dt.date(2017, 3, 1), END, replays=["covid_2020"]
    )
    (r,) = res.replays
    assert r.status == "ok", (r.predicted_reason, r.realized_reason)
    with session_scope(index_market_settings) as session:
        levels = dict(
            session.execute(
                sa.select(
                    MarketPrice.date, sa.func.coalesce(MarketPrice.adj_close, MarketPrice.close)
                ).where(MarketPrice.symbol == "^GSPC", MarketPrice.date.in_([r.start, r.end]))
            ).all()
        )
    assert r.by_factor.at["Market", "move"] == pytest.approx(levels[r.end] / levels[r.start] - 1)
    assert r.by_factor.at["Market", "move"] < -0.3
    # oil and VIX end in 2019 offline: no exposure to them, and a note says why
    assert "Oil" not in r.by_factor.index
    assert any(n.startswith("Oil: no exposure") or "without macro" in n for n in r.notes)
    # the stress scenario: a figure or N/A with its reason
    assert math.isfinite(r.stress_correlated_pnl_usd) or r.stress_reason
