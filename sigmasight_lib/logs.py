"""Logging, set up once per process, and a progress display for long steps.

Every handler installed here redacts credentials in URLs
(``postgresql://user:secret@host`` → ``postgresql://user:***@host``) and
``password=...`` pairs, so secrets never reach logs.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any, TextIO

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/@\s]+:)[^@\s]+(?P<at>@)")
_KV_PASSWORD = re.compile(
    r"(?i)(?P<head>\b(?:password|passwd|pwd|api[_-]?key|token)\s*[=:]\s*)[^\s&;,]+"
)

_configured = False


def redact(text: str) -> str:
    """``text`` with URL passwords and ``password=...`` / ``api_key=...`` values masked."""
    text = _URL_PASSWORD.sub(r"\g<head>***\g<at>", text)
    return _KV_PASSWORD.sub(r"\g<head>***", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def setup_logging(level: int | str = logging.INFO, stream: TextIO | None = None) -> None:
    """Configure the ``sigmasight_lib`` logger once; later calls only change the level."""
    global _configured
    logger = logging.getLogger("sigmasight_lib")
    logger.setLevel(level)
    if _configured:
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    for noisy in ("yfinance", "alembic", "urllib3", "peewee"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _configured = True


class Progress:
    """A progress bar with ETA on a terminal; a log line every 10 % otherwise.

    Call it as ``progress(done, total, label)`` (a ``ProgressCallback``); the label
    names what runs now (``Balanced Individual Investor · greeks``, a symbol). The
    bar (tqdm, on ``stream``, default stderr) shows only when ``stream`` is a
    terminal and progress is logged at all (not with ``-q``); otherwise INFO log
    lines at each tenth, which ``-q`` hides.
    """

    def __init__(self, title: str, stream: TextIO | None = None, unit: str = "it") -> None:
        self.title = title
        self.unit = unit
        self.stream = stream or sys.stderr
        self._log = logging.getLogger("sigmasight_lib.progress")
        isatty = getattr(self.stream, "isatty", None)
        self._tty = bool(isatty and isatty()) and self._log.isEnabledFor(logging.INFO)
        self._bar: Any = None
        self._redirected: list[tuple[logging.StreamHandler, TextIO]] = []
        self._last_decile = -1

    def __call__(self, done: int, total: int, label: str) -> None:
        if self._tty:
            self._draw(done, total, label)
            return
        decile = (10 * done) // max(total, 1)
        if decile != self._last_decile or done == total:
            self._last_decile = decile
            self._log.info("%s: %d/%d %s", self.title, done, total, label)

    def _draw(self, done: int, total: int, label: str) -> None:
        from tqdm import tqdm

        if self._bar is None:
            self._bar = tqdm(total=total, desc=self.title, file=self.stream, unit=self.unit,
                             dynamic_ncols=True, leave=True)  # fmt: skip
            self._redirected = _log_above_bar(self.stream)
        self._bar.total = total
        self._bar.set_postfix_str(label, refresh=False)
        self._bar.update(done - self._bar.n)
        self._bar.refresh()
        if done >= total:
            self._bar.close()
            self._bar = None
            for handler, stream in self._redirected:
                handler.setStream(stream)
            self._redirected = []


class _AboveBar:
    """A stream for a log handler: each record printed above the progress bar."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        from tqdm import tqdm

        if text.strip():
            tqdm.write(text.rstrip("\n"), file=self.stream)

    def flush(self) -> None:
        self.stream.flush()


def _log_above_bar(stream: TextIO) -> list[tuple[logging.StreamHandler, TextIO]]:
    """Point SigmaSight's log handlers that write to ``stream`` above the bar; returns
    ``(handler, previous stream)`` pairs to restore."""
    redirected = []
    for handler in logging.getLogger("sigmasight_lib").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is stream:
            redirected.append((handler, handler.setStream(_AboveBar(stream))))
    return redirected
