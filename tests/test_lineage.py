"""Lineage: the code version stored with runs and reports."""

import subprocess

from sigmasight_lib import __version__, lineage


def test_code_version_names_the_package_version_and_the_checkout():
    assert lineage.code_version().startswith(__version__)


def test_code_version_without_git_is_the_package_version(monkeypatch):
    def no_git(*args, **kwargs):
        raise FileNotFoundError("git")

    monkeypatch.setattr(subprocess, "run", no_git)
    assert lineage.code_version() == __version__
