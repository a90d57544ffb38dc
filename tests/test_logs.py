"""Secrets never reach log output."""

from __future__ import annotations

import io
import logging

import pytest

from sigmasight_lib.logs import Progress, RedactingFormatter, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connecting to postgresql+psycopg://alice:pa55word@db.internal/risk", "pa55word"),
        ("retry with password=hunter2 now", "hunter2"),
        ("api_key: abc123XYZ", "abc123XYZ"),
    ],
)
def test_redact_masks_secrets(text, secret):
    out = redact(text)
    assert secret not in out
    assert "***" in out


def test_redact_keeps_urls_without_passwords():
    assert redact("sqlite:////tmp/x.db and postgresql://bob@h/db") == (
        "sqlite:////tmp/x.db and postgresql://bob@h/db"
    )


def test_formatter_redacts_arguments():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logger = logging.getLogger("sigmasight_lib.test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("db %s", "postgresql://u:topsecret@h/db")
    assert "topsecret" not in stream.getvalue()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_draws_a_bar_with_eta_on_a_terminal_only():
    logger = logging.getLogger("sigmasight_lib.progress")
    old = logger.level
    try:
        logger.setLevel(logging.INFO)
        terminal = _Terminal()
        progress = Progress("batch 2017-03-29", stream=terminal, unit="job")
        progress(0, 2, "Balanced Individual Investor · valuation")
        progress(2, 2, "1 portfolios x 2 engines")
        drawn = terminal.getvalue()
        assert "batch 2017-03-29:" in drawn and "2/2" in drawn and "<00:00" in drawn  # ETA
        assert "Balanced Individual Investor · valuation" in drawn
        pipe = io.StringIO()
        Progress("batch", stream=pipe)(1, 2, "x")
        assert pipe.getvalue() == ""  # not a terminal: log lines, no bar
        logger.setLevel(logging.WARNING)  # -q
        quiet = _Terminal()
        Progress("batch", stream=quiet)(1, 2, "x")
        assert quiet.getvalue() == ""
    finally:
        logger.setLevel(old)


def test_log_lines_print_above_the_bar_and_the_handler_is_restored():
    logger = logging.getLogger("sigmasight_lib")
    terminal = _Terminal()
    handler = logging.StreamHandler(terminal)
    old_level = logger.level
    logger.addHandler(handler)
    try:
        logger.setLevel(logging.INFO)
        progress = Progress("sync", stream=terminal, unit="symbol")
        progress(0, 2, "AAPL")
        assert handler.stream is not terminal
        logging.getLogger("sigmasight_lib.test").info("a log line")
        progress(2, 2, "MSFT")
        assert handler.stream is terminal
        assert "a log line\n" in terminal.getvalue()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
