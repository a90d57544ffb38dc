"""Secrets never reach log output."""

from __future__ import annotations

import io
import logging

import pytest

from sigmasight_lib.logs import RedactingFormatter, redact


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
