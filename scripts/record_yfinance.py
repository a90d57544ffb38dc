"""Record the Yahoo Finance responses that the yfinance provider tests replay.

Usage (on a machine that can reach Yahoo Finance)::

    .venv/bin/python scripts/record_yfinance.py [--out-dir DIR]

Runs the :class:`~sigmasight_lib.marketdata.yfinance_provider.YFinanceProvider`
calls of the recording plan (constants in ``tests/marketdata/yf_replay.py``)
through a ``curl_cffi`` session that keeps every request and response, with
yfinance's process-wide state reset and its disk caches off so that the
cookie/crumb handshake is recorded too. Then it rewrites the recording
directory (default ``tests/marketdata/recorded/yfinance/``): ``manifest.json``
and one body file per distinct request; ``README.md`` is kept.

The plan:

* daily charts of AAPL, SPY, ^IRX and ^TNX for PRICE_START..PRICE_END and of
  the unknown ticker (XYZNOTREAL);
* the last five sessions of AAPL, SPY, ^TNX and XYZNOTREAL;
* quote summaries (``info``) of AAPL, SPY and XYZNOTREAL;
* the nearest-expiry AAPL option chain (which expiry that is depends on the
  recording day; the tests read it from the recording).

yfinance asks quoteSummary for a missing timezone only twice per process, so
the unknown ticker is fetched once more afterwards to record the other path.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

import yfinance as yf  # noqa: E402
from curl_cffi import requests as curl_requests  # noqa: E402
from yfinance import base as yf_base  # noqa: E402

from sigmasight_lib.marketdata.yfinance_provider import YFinanceProvider  # noqa: E402
from tests.marketdata.yf_replay import (  # noqa: E402
    OPTION_UNDERLYING,
    PRICE_END,
    PRICE_START,
    PRICE_SYMBOLS,
    RECORDED_DIR,
    UNKNOWN_SYMBOL,
    Exchange,
    HttpRequest,
    isolated_yfinance,
    write_recording,
)

log = logging.getLogger("record_yfinance")


class RecordingSession(curl_requests.Session):
    """A browser-impersonating ``curl_cffi`` session that keeps every exchange."""

    def __init__(self) -> None:
        super().__init__(impersonate="chrome")
        self.exchanges: list[Exchange] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> curl_requests.Response:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        self.exchanges.append(
            Exchange(
                request=HttpRequest.from_call(method, url, kwargs.get("params")),
                status=response.status_code,
                content_type=response.headers.get("Content-Type") or "",
                body=response.content,
            )
        )
        return response


def run_plan(session: curl_requests.Session) -> None:
    """Make every request the tests replay, through ``session``."""
    provider = YFinanceProvider(session=session, retries=3, backoff_seconds=2.0)
    with isolated_yfinance():
        provider.fetch_prices([*PRICE_SYMBOLS, UNKNOWN_SYMBOL], PRICE_START, PRICE_END)
        provider.fetch_rates(PRICE_START, PRICE_END)
        provider.fetch_metadata([*PRICE_SYMBOLS, UNKNOWN_SYMBOL])
        provider.latest_date(PRICE_SYMBOLS)
        provider.latest_rate_date("10y")
        provider.unknown_symbols([*PRICE_SYMBOLS, UNKNOWN_SYMBOL])
        # Past yfinance's two quoteSummary timezone look-ups: the chart-only path.
        yf_base._tz_info_fetch_ctr = 2
        provider.fetch_prices([UNKNOWN_SYMBOL], PRICE_START, PRICE_END)
        provider.unknown_symbols([UNKNOWN_SYMBOL])

        expiry = dt.date.fromisoformat(yf.Ticker(OPTION_UNDERLYING, session=session).options[0])
        # Any contract of the expiry makes the same two chain requests.
        contract = f"{OPTION_UNDERLYING}{expiry:%y%m%d}C00000000"
        provider.fetch_option_quotes([contract], dt.date.today())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", type=Path, default=RECORDED_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    session = RecordingSession()
    run_plan(session)
    recorded_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    written = write_recording(
        args.out_dir,
        session.exchanges,
        source=f"recorded from Yahoo Finance at {recorded_at} with yfinance {yf.__version__}",
    )
    log.info(
        "%d requests made, %d distinct ones written to %s",
        len(session.exchanges),
        written,
        args.out_dir,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
