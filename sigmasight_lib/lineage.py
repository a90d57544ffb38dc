"""Lineage: which code produced a result.

Read by the batch (stored on every run row) and by reporting (the metadata of
reports and ``validation.json``), so that reporting never imports the batch.
"""

from __future__ import annotations

import subprocess

from sigmasight_lib import __version__
from sigmasight_lib.config import REPO_DIR


def code_version() -> str:
    """``git describe --always --dirty`` of the checkout, else the package version."""
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=REPO_DIR, capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        return f"{__version__}+git.{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        return __version__
